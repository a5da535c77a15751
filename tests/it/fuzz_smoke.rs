//! The fuzz targets (`tests/fuzz/`) on the stable toolchain, on every `cargo test`: each target
//! runs on the seed corpus `tests/fuzz/seed.sh` builds from real inputs, on deterministic
//! mutations of it (bit flips, cuts, splices), and on every crash the fuzzer ever found
//! (`tests/fuzz/regressions/<target>/`). A panic anywhere fails the test with the target and
//! the input that did it. This is a short, repeatable run; `tests/fuzz/run.sh` is the real one.

use std::path::{Path, PathBuf};

/// xorshift64*: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0, 0xff, 0x7f, 0x80, b'0', b'"', b'\n'][rng.below(7)];
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            3 if !v.is_empty() => {
                // Repeat a slice: long runs, nested structure.
                let a = rng.below(v.len());
                let b = (a + 1 + rng.below(64)).min(v.len());
                let piece = v[a..b].to_vec();
                let at = rng.below(v.len());
                for _ in 0..1 + rng.below(8) {
                    v.splice(at..at, piece.iter().copied());
                }
            }
            _ => {
                let at = rng.below(v.len() + 1);
                v.insert(at, rng.next() as u8);
            }
        }
    }
    v
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_fuzz_target_survives_its_seeds_mutations_and_past_crashes() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let corpus = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(fuzz.join("seed.sh"))
        .arg(corpus.path())
        .output()
        .expect("run tests/fuzz/seed.sh (needs bash, git, gzip, base64, openssl)");
    assert!(
        out.status.success(),
        "seed.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A panic is caught per input and reported with it; keep the default hook quiet meanwhile.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut runs = 0usize;
    for &(name, target) in quench::fuzzing::TARGETS {
        let seeds: Vec<Vec<u8>> = files_in(&corpus.path().join(name))
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert!(!seeds.is_empty(), "no seeds for {name}");
        let past: Vec<(PathBuf, Vec<u8>)> = files_in(&fuzz.join("regressions").join(name))
            .into_iter()
            .map(|p| {
                let data = std::fs::read(&p).unwrap();
                (p, data)
            })
            .collect();
        // Writing a repository per input is slow: fewer mutations for the pack reader.
        let budget = if name == "git_pack" { 60 } else { 600 };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        let mut inputs: Vec<(String, Vec<u8>)> = past
            .into_iter()
            .map(|(p, d)| (p.display().to_string(), d))
            .chain(
                seeds
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("seed {i}"), s.clone())),
            )
            .collect();
        for m in 0..budget {
            let s = &seeds[rng.below(seeds.len())];
            inputs.push((format!("mutation {m}"), mutate(s, &mut rng)));
        }
        for (what, data) in inputs {
            runs += 1;
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                let keep = std::env::temp_dir().join(format!("quench-fuzz-{name}-{runs}"));
                let _ = std::fs::write(&keep, &data);
                failures.push(format!(
                    "{name}: {what} panicked (input kept at {})",
                    keep.display()
                ));
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} of {runs} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
