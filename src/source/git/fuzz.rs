//! Entry points for the fuzz targets (`tests/fuzz/`) and their stable-toolchain driver
//! (`tests/it/fuzz_smoke.rs`): the git readers on arbitrary bytes. Each must end in an error
//! or a result, never a panic, whatever it is given; they are not part of the API.

use super::pack::{apply, entry_kind, tree_entries, Packs, Read, Reader};

/// A pack index and pack given as one input: a little-endian `u32` length of the index, the
/// index, then the pack. Both are written to a temporary repository layout (the reader maps
/// files), validated, and every object the index lists is read.
pub fn pack(data: &[u8]) {
    let Some(len) = data
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    else {
        return;
    };
    let rest = &data[4..];
    let (idx, pack) = rest.split_at(len.min(rest.len()));
    static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("quench-fuzz-pack-{}-{n}", std::process::id()));
    let packs_dir = dir.join("objects/pack");
    if std::fs::create_dir_all(&packs_dir).is_ok()
        && std::fs::write(packs_dir.join("p.idx"), idx).is_ok()
        && std::fs::write(packs_dir.join("p.pack"), pack).is_ok()
    {
        let packs = Packs::open(&dir);
        let mut reader = Reader::new(&packs, 1 << 20);
        for id in packs.ids() {
            // Each object at most 16 MiB: a corrupt size must not become a huge allocation.
            if let Ok((_, Read::Found(data))) = reader.read(&id, 16 << 20) {
                let _ = data.len();
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A raw tree object: every entry parsed, and its mode classified, until the end or the first
/// malformed entry (after which the parser yields nothing more).
pub fn tree(data: &[u8]) {
    for entry in tree_entries(data) {
        match entry {
            Ok((mode, _, _)) => {
                let _ = entry_kind(mode);
            }
            Err(_) => break,
        }
    }
}

/// A git delta applied to a base: one byte gives the base's length share, the rest splits.
pub fn delta(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let at = (cut as usize * rest.len()) / 256;
    let (base, delta) = rest.split_at(at);
    let _ = apply(base, delta);
}
