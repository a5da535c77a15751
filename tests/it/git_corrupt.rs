//! Random corruption of a real pack index (the file git itself wrote): every outcome is a
//! clear error or a named skip with exit status 0, 1 or 2, never a crash. Before the index
//! was validated, byte flips made libgit2 (the fallback reader) segfault and `git2`'s
//! `Odb::read_header` panic.

use std::os::unix::process::ExitStatusExt;

use crate::common;

use common::fake_git::{quench_in, Repo};

/// A small deterministic generator (xorshift64*): the flips are the same on every run, so a
/// failure names the seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_byte_flips_in_a_pack_index_never_crash() {
    let mut repo = Repo::init(190);
    for i in 0..12 {
        let s = repo.secret();
        repo.write(&format!("dir{}/f{i}.env", i % 3), &format!("T={s}\nline {i}\n"));
        repo.commit(&format!("c{i}"));
    }
    repo.git(&["repack", "-adq"]);
    repo.git(&["prune-packed"]);
    let idx = std::fs::read_dir(repo.git_dir().join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("a pack index");
    let clean = std::fs::read(&idx).unwrap();
    let mut perms = std::fs::metadata(&idx).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&idx, perms).unwrap();
    let mut rng = Rng(0x5eed_1dea_0000_0017);
    let mut outcomes = std::collections::BTreeMap::new();
    // A few dozen by default (the suite stays fast); QUENCH_TEST_FLIPS=N runs more.
    let rounds: u64 = std::env::var("QUENCH_TEST_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    for round in 0..rounds {
        let mut bytes = clean.clone();
        // One to three flips, anywhere in the index: header, fan-out, ids, CRCs, offsets.
        let flips = 1 + rng.next() % 3;
        let mut at = Vec::new();
        for _ in 0..flips {
            let i = (rng.next() % bytes.len() as u64) as usize;
            bytes[i] ^= 1 << (rng.next() % 8);
            at.push(i);
        }
        std::fs::write(&idx, &bytes).unwrap();
        let out = quench_in(repo.path(), &["git", "--format", "json", "--no-progress"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.signal().is_none() && !stderr.contains("panicked"),
            "round {round}, bytes flipped at {at:?}: {} {stderr}",
            out.status
        );
        let code = out.status.code().unwrap();
        assert!(matches!(code, 0..=2), "round {round}: exit {code}: {stderr}");
        if code == 2 {
            // A clear message: an error, or a note naming what was not read.
            assert!(
                !stderr.trim().is_empty() || !out.stdout.is_empty(),
                "round {round}: silent exit 2"
            );
        }
        *outcomes.entry(code).or_insert(0) += 1;
    }
    // The flips landed in places that matter: not every run was a clean full scan.
    assert!(outcomes.get(&1).copied().unwrap_or(0) < rounds, "{outcomes:?}");
    eprintln!("exit statuses over {rounds} corruptions: {outcomes:?}");
}
