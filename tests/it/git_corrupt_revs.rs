//! A corrupt pack index met before the history scan: `--since`, `--range`, `--branch` look
//! revisions up and `--staged` diffs the index against `HEAD`, all through libgit2, which trusts
//! the index's offsets. Each must refuse the repository with the validator's clear error (exit
//! 2), not let libgit2 read through a bad offset (a segfault, or a misleading error of its own).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use crate::common;

use common::fake_git::{quench_in, Repo};

const IDX_HEADER: usize = 8 + 256 * 4;

fn pack_index(repo: &Repo) -> PathBuf {
    let idx = std::fs::read_dir(repo.git_dir().join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("a pack index");
    let mut perms = std::fs::metadata(&idx).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&idx, perms).unwrap();
    idx
}

/// A packed repository with a few commits and a staged change, and its index file.
fn packed_repo(seed: u64) -> (Repo, PathBuf) {
    let mut repo = Repo::init(seed);
    for i in 0..4 {
        let s = repo.secret();
        repo.write(&format!("f{i}.env"), &format!("T={s}\n"));
        repo.commit(&format!("c{i}"));
    }
    repo.git(&["repack", "-adq"]);
    repo.git(&["prune-packed"]);
    repo.write("staged.txt", "staged\n");
    repo.git(&["add", "staged.txt"]);
    let idx = pack_index(&repo);
    (repo, idx)
}

/// Points the index entry of object `id` at an offset past the end of the pack.
fn corrupt_offset_of(idx: &Path, id: &str) {
    let mut bytes = std::fs::read(idx).unwrap();
    let count = u32::from_be_bytes(bytes[IDX_HEADER - 4..IDX_HEADER].try_into().unwrap()) as usize;
    let want = hex::decode(id).unwrap();
    let i = (0..count)
        .find(|&i| bytes[IDX_HEADER + i * 20..IDX_HEADER + i * 20 + 20] == want[..])
        .expect("the object is in the pack");
    let at = IDX_HEADER + count * 24 + i * 4;
    bytes[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    std::fs::write(idx, bytes).unwrap();
}

const MODES: &[&[&str]] = &[
    &["git", "--since", "HEAD~2"],
    &["git", "--range", "HEAD~3..HEAD"],
    &["git", "--branch", "HEAD"],
    &["git", "--staged"],
];

#[test]
fn revision_lookups_and_staged_refuse_a_corrupt_index_before_libgit2_reads_it() {
    let (repo, idx) = packed_repo(201);
    // The commit every mode reads first through libgit2: HEAD's.
    corrupt_offset_of(&idx, &repo.head());
    for mode in MODES {
        let mut args = mode.to_vec();
        args.extend(["--no-progress", "--format", "json"]);
        let out = quench_in(repo.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.signal().is_none(), "{mode:?}: {} {stderr}", out.status);
        assert_eq!(out.status.code(), Some(2), "{mode:?}: {stderr}");
        assert!(
            stderr.contains("the pack index is corrupt") && stderr.contains(".idx"),
            "{mode:?}: the error names the index and the cause: {stderr}"
        );
    }
}

#[test]
fn random_index_flips_never_crash_revision_lookups_or_staged() {
    let (repo, idx) = packed_repo(202);
    let clean = std::fs::read(&idx).unwrap();
    // xorshift64*, seeded: a failure names the round that reproduces it.
    let mut state = 0x5eed_0f_5eed_0018u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for round in 0..24 {
        let mut bytes = clean.clone();
        let i = (next() % bytes.len() as u64) as usize;
        bytes[i] ^= 1 << (next() % 8);
        std::fs::write(&idx, &bytes).unwrap();
        let mode = MODES[round % MODES.len()];
        let mut args = mode.to_vec();
        args.push("--no-progress");
        let out = quench_in(repo.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.signal().is_none() && !stderr.contains("panicked"),
            "round {round} ({mode:?}), byte {i} flipped: {} {stderr}",
            out.status
        );
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "round {round} ({mode:?}): {stderr}"
        );
    }
}
