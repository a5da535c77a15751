//! Engine throughput with the full built-in catalogue, on realistic text: source code, config
//! and logs with a few planted fake tokens. Also the start-up cost the pre-commit hook pays:
//! parsing the embedded rules and building the keyword automaton. And a file of 200,000 generic
//! assignments, where resolving overlapping matches pair by pair once took 79 s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quench::engine::{Engine, Scratch};
use quench::rules::RuleSet;

/// About 4 MiB of text shaped like a mixed repository.
fn corpus() -> Vec<u8> {
    let chunks: [&str; 4] = [
        "fn parse_token(input: &str) -> Result<Token, Error> {\n    let key = config.get(\"api_key\")?;\n    \
         if key.is_empty() { return Err(Error::Missing(\"password\")); }\n    Ok(Token::new(key))\n}\n",
        "services:\n  web:\n    image: nginx:1.25\n    environment:\n      - DATABASE_URL=${DATABASE_URL}\n      \
         - SECRET_KEY_BASE=${SECRET}\n    ports: [\"8080:80\"]\n",
        "2026-11-28T10:00:00.123Z INFO request id=7f3a9c method=GET path=/api/v1/users status=200 \
         duration_ms=12 user_agent=\"Mozilla/5.0\" token_present=true\n",
        "import os\nimport requests\n\nAPI = os.environ.get(\"OPENAI_API_KEY\")\n\ndef call(prompt):\n    \
         return requests.post(URL, headers={\"Authorization\": f\"Bearer {API}\"}, json={\"q\": prompt})\n",
    ];
    let mut out = Vec::with_capacity(4 << 20);
    let mut i = 0;
    while out.len() < 4 << 20 {
        out.extend_from_slice(chunks[i % chunks.len()].as_bytes());
        if i % 5000 == 0 {
            // A fake token, split so that the source itself holds no match.
            out.extend_from_slice(
                concat!("GITHUB_TOKEN=ghp_", "Qm7TzK2pXv9LwR4nB8cY3hJ6dF1sGa2EEm0A\n").as_bytes(),
            );
        }
        i += 1;
    }
    out
}

/// `n` lines of `api_key = "<24 random alphanumerics>"`, every one a generic-rule match.
fn generic_assignments(n: usize) -> Vec<u8> {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = 0x2545f4914f6cdd1du64;
    let mut out = Vec::with_capacity(n * 36);
    for _ in 0..n {
        out.extend_from_slice(b"api_key = \"");
        for _ in 0..24 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(A[(x % 62) as usize]);
        }
        out.extend_from_slice(b"\"\n");
    }
    out
}

fn bench(c: &mut Criterion) {
    let rules = RuleSet::builtin().expect("built-in rules load");
    let engine = Engine::new(&rules).expect("engine builds");
    let data = corpus();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("scan_mixed_text_full_catalogue", |b| {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            engine.scan(&data, &mut scratch, &mut out);
            out.len()
        })
    });
    g.finish();
    let many = generic_assignments(200_000);
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(many.len() as u64));
    g.bench_function("scan_200k_generic_assignments", |b| {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            engine.scan(&many, &mut scratch, &mut out);
            out.len()
        })
    });
    g.finish();
    c.bench_function("startup_load_rules_and_build_automaton", |b| {
        b.iter(|| {
            let r = RuleSet::builtin().expect("rules");
            Engine::new(&r).expect("engine").rule_count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
