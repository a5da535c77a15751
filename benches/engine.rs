//! Engine throughput with the full built-in catalogue, on realistic text: source code, config
//! and logs with a few planted fake tokens. Also the start-up cost the pre-commit hook pays:
//! parsing the embedded rules and building the keyword automaton.

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
            out.extend_from_slice(b"GITHUB_TOKEN=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\n");
        }
        i += 1;
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
    c.bench_function("startup_load_rules_and_build_automaton", |b| {
        b.iter(|| {
            let r = RuleSet::builtin().expect("rules");
            Engine::new(&r).expect("engine").rule_count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
