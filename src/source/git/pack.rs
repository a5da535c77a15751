//! Objects read straight from pack files, without libgit2.
//!
//! A full-history scan reads every tree and every blob once. Through libgit2 each read takes the
//! pack's mutex and the global window lock, looks the id up, and inflates with the system zlib;
//! with the tree walk and every scanning worker reading the same pack, the lock traffic alone
//! cost more than the matching did. Here each pack and its index are mapped once and read by all
//! threads without locks, each thread with its own inflater (zlib-rs) and delta-base cache.
//!
//! Only what this reader is sure of is read here: version 2 pack indexes with SHA-1 ids, and
//! objects whose whole delta chain lies in mapped packs. Everything else (loose objects, other
//! index versions, a base outside every pack, a corrupt entry) is left to libgit2 by
//! [`Objects`], which also names the error when an object really is unreadable.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::{Decompress, FlushDecompress, Status};
use git2::{ObjectType, Odb, Oid};
use memmap2::{Mmap, UncheckedAdvice};

use super::oidset::OidBuild;

/// What an object is, as far as a scan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Commit,
    Tree,
    Blob,
    Tag,
}

impl Kind {
    fn from_pack(code: u8) -> Option<Kind> {
        Some(match code {
            1 => Kind::Commit,
            2 => Kind::Tree,
            3 => Kind::Blob,
            4 => Kind::Tag,
            _ => return None,
        })
    }

    fn from_git2(t: ObjectType) -> Option<Kind> {
        Some(match t {
            ObjectType::Commit => Kind::Commit,
            ObjectType::Tree => Kind::Tree,
            ObjectType::Blob => Kind::Blob,
            ObjectType::Tag => Kind::Tag,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }
}

/// The result of a read that did not fail.
pub enum Read {
    Found(Rc<Vec<u8>>),
    /// The object is larger than the caller's limit: its size, and nothing was inflated.
    TooLarge(u64),
}

const OFS_DELTA: u8 = 6;
const REF_DELTA: u8 = 7;
/// Longer chains than git ever writes (its default depth is 50) mean a loop in a corrupt pack.
const MAX_CHAIN: usize = 10_000;
/// Size of the `.idx` header: magic, version, and the 256-entry fan-out table.
const IDX_HEADER: usize = 8 + 256 * 4;
const IDX_MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
/// Compressed bytes read between two releases of a pack's mapped pages.
const RELEASE_EVERY: u64 = 8 << 20;

/// The packs of one repository, mapped, shared by every reading thread.
#[derive(Default)]
pub struct Packs {
    packs: Vec<Pack>,
    /// Pack indexes that failed validation, each with the reason.
    pub corrupt: Vec<String>,
}

struct Pack {
    idx: Mmap,
    data: Mmap,
    count: usize,
    /// Compressed bytes inflated from this pack so far, by every thread.
    inflated: AtomicU64,
}

impl Packs {
    /// Maps every usable pack under `objects/pack` of `git_dir`. A pack this reader does not
    /// support (an old index version) is passed over; its objects are then read through
    /// libgit2. A pack whose index is inconsistent is named in [`Packs::corrupt`]: libgit2
    /// trusts its index's offsets and crashes on bad ones, so nothing may read that pack.
    pub fn open(git_dir: &Path) -> Packs {
        let dir = git_dir.join("objects").join("pack");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Packs::default();
        };
        let mut names: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        names.sort();
        let mut packs = Packs::default();
        for idx in &names {
            match Pack::open(idx) {
                Ok(Some(p)) => packs.packs.push(p),
                Ok(None) => {}
                Err(reason) => packs.corrupt.push(format!("{}: {reason}", idx.display())),
            }
        }
        packs
    }

    /// Every object id the mapped indexes list (for the fuzz targets).
    pub fn ids(&self) -> Vec<Oid> {
        self.packs
            .iter()
            .flat_map(|p| {
                (0..p.count).filter_map(move |i| {
                    Oid::from_bytes(&p.idx[IDX_HEADER + i * 20..IDX_HEADER + i * 20 + 20]).ok()
                })
            })
            .collect()
    }

    /// Where `id` is stored: (pack, offset).
    fn find(&self, id: &[u8]) -> Option<(u32, u64)> {
        self.packs
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.find(id).map(|off| (i as u32, off)))
    }
}

impl Pack {
    /// `Ok(None)`: a pack this reader does not support (or that vanished); `Err`: an index
    /// that contradicts itself or its pack.
    fn open(idx_path: &Path) -> Result<Option<Pack>, String> {
        let map = |p: &Path| File::open(p).ok().and_then(|f| unsafe { Mmap::map(&f) }.ok());
        // Safety (both maps): pack files are immutable once written; git replaces, never edits.
        let Some(idx) = map(idx_path) else {
            return Ok(None);
        };
        let Some(data) = map(&idx_path.with_extension("pack")) else {
            return Ok(None);
        };
        // Version 1 has no magic (it starts with the fan-out); later versions are not ours.
        if idx.len() < 8 || idx[..4] != IDX_MAGIC || be32(&idx, 4) != 2 {
            return Ok(None);
        }
        let count = validate(&idx, &data)?;
        Ok(Some(Pack {
            idx,
            data,
            count,
            inflated: AtomicU64::new(0),
        }))
    }

    fn find(&self, id: &[u8]) -> Option<u64> {
        let first = id[0] as usize;
        let mut lo = if first == 0 {
            0
        } else {
            be32(&self.idx, 8 + (first - 1) * 4) as usize
        };
        let mut hi = be32(&self.idx, 8 + first * 4) as usize;
        if hi > self.count || lo > hi {
            return None;
        }
        let ids = &self.idx[IDX_HEADER..IDX_HEADER + self.count * 20];
        while lo < hi {
            let mid = (lo + hi) / 2;
            match ids[mid * 20..mid * 20 + 20].cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.offset(mid),
            }
        }
        None
    }

    fn offset(&self, i: usize) -> Option<u64> {
        let offsets = IDX_HEADER + self.count * 24;
        let small = be32(&self.idx, offsets + i * 4);
        if small & 0x8000_0000 == 0 {
            return Some(small as u64);
        }
        let at = offsets + self.count * 4 + (small & 0x7fff_ffff) as usize * 8;
        let bytes = self.idx.get(at..at + 8)?;
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// Counts `n` more compressed bytes read, and every [`RELEASE_EVERY`] bytes gives the
    /// mapped pages back. A full-history scan touches the whole pack once; without this every
    /// page it touched would stay resident, so memory would grow with the size of history.
    fn note_inflated(&self, n: u64) {
        let before = self.inflated.fetch_add(n, Ordering::Relaxed);
        if (before + n) / RELEASE_EVERY != before / RELEASE_EVERY {
            // Safety: both maps are private, read-only and of files git never rewrites, so the
            // kernel only drops its page references: any thread that reads a dropped page
            // again faults in the same bytes from the file.
            unsafe {
                let _ = self.data.unchecked_advise(UncheckedAdvice::DontNeed);
                let _ = self.idx.unchecked_advise(UncheckedAdvice::DontNeed);
            }
        }
    }

    /// Parses the entry header at `off`.
    fn entry(&self, off: u64) -> Result<Entry, String> {
        // The pack ends in a 20-byte checksum that no entry overlaps.
        let end = self.data.len() - 20;
        let bytes = &self.data[..end];
        let mut at = usize::try_from(off).map_err(|_| "offset out of range")?;
        let mut next = || -> Result<u8, String> {
            let b = *bytes
                .get(at)
                .ok_or_else(|| format!("entry at {off} runs past the pack"))?;
            at += 1;
            Ok(b)
        };
        let mut c = next()?;
        let code = (c >> 4) & 7;
        let mut size = (c & 0x0f) as u64;
        let mut shift = 4;
        while c & 0x80 != 0 {
            c = next()?;
            if shift > 57 {
                return Err(format!("entry at {off}: size does not fit 64 bits"));
            }
            size |= ((c & 0x7f) as u64) << shift;
            shift += 7;
        }
        let base = match code {
            OFS_DELTA => {
                c = next()?;
                let mut back = (c & 0x7f) as u64;
                while c & 0x80 != 0 {
                    c = next()?;
                    back = back
                        .checked_add(1)
                        .and_then(|b| b.checked_mul(128))
                        .ok_or_else(|| format!("entry at {off}: base offset overflows"))?
                        | (c & 0x7f) as u64;
                }
                if back == 0 || back > off {
                    return Err(format!("entry at {off}: base offset {back} is outside the pack"));
                }
                Base::Offset(off - back)
            }
            REF_DELTA => {
                let id = bytes
                    .get(at..at + 20)
                    .ok_or_else(|| format!("entry at {off} runs past the pack"))?;
                at += 20;
                Base::Id(id.try_into().expect("20 bytes"))
            }
            _ => Base::None(Kind::from_pack(code).ok_or_else(|| format!("entry at {off}: type {code}"))?),
        };
        Ok(Entry {
            size,
            start: at,
            base,
        })
    }
}

struct Entry {
    /// Inflated size: the object's, or for a delta the delta's.
    size: u64,
    /// Where the zlib stream starts in the pack.
    start: usize,
    base: Base,
}

#[derive(Clone, Copy)]
enum Base {
    /// A whole object.
    None(Kind),
    /// A delta against the entry at this offset in the same pack.
    Offset(u64),
    /// A delta against the object with this id.
    Id([u8; 20]),
}

type Cached = (Kind, Rc<Vec<u8>>, u64);

/// Recently built objects by (pack, offset): deltas are mostly against the next version of the
/// same file, so the walk's order keeps hitting the chain it just built.
struct Cache {
    /// (pack, offset) to (kind, contents, tick of last use).
    map: HashMap<(u32, u64), Cached, OidBuild>,
    bytes: usize,
    budget: usize,
    tick: u64,
}

impl Cache {
    fn new(budget: usize) -> Cache {
        Cache {
            map: HashMap::default(),
            bytes: 0,
            budget,
            tick: 0,
        }
    }

    fn get(&mut self, key: (u32, u64)) -> Option<(Kind, Rc<Vec<u8>>)> {
        self.tick += 1;
        let e = self.map.get_mut(&key)?;
        e.2 = self.tick;
        Some((e.0, e.1.clone()))
    }

    fn put(&mut self, key: (u32, u64), kind: Kind, data: &Rc<Vec<u8>>) {
        if data.len() > self.budget / 8 || self.map.contains_key(&key) {
            return;
        }
        self.tick += 1;
        self.bytes += data.len() + 64;
        self.map.insert(key, (kind, data.clone(), self.tick));
        if self.bytes > self.budget {
            // Evicting a quarter at a time keeps the sort off the common path.
            let mut ages: Vec<(u64, (u32, u64))> = self.map.iter().map(|(k, v)| (v.2, *k)).collect();
            ages.sort_unstable();
            for (_, k) in ages {
                if self.bytes <= self.budget * 3 / 4 {
                    break;
                }
                if let Some((_, d, _)) = self.map.remove(&k) {
                    self.bytes -= d.len() + 64;
                }
            }
        }
    }
}

/// Why the pack reader did not return an object.
#[derive(Debug)]
pub enum Miss {
    /// Not in a mapped pack (a loose object, an alternate, a delta base elsewhere): libgit2
    /// may have it.
    Elsewhere,
    /// In a mapped pack but unreadable there. libgit2 would read the same bytes through the
    /// same index, and it does not survive every corruption this reader reports, so it is
    /// not asked.
    Broken(String),
}

impl From<String> for Miss {
    fn from(reason: String) -> Miss {
        Miss::Broken(reason)
    }
}

/// One thread's reader over the shared [`Packs`].
pub struct Reader<'p> {
    packs: &'p Packs,
    zlib: Decompress,
    cache: Cache,
}

impl<'p> Reader<'p> {
    /// `cache` bytes of built objects are kept for later deltas.
    pub fn new(packs: &'p Packs, cache: usize) -> Self {
        Reader {
            packs,
            zlib: Decompress::new(true),
            cache: Cache::new(cache),
        }
    }

    /// Reads `id` if it is in a mapped pack: its kind and contents, or its size when over
    /// `limit`.
    pub fn read(&mut self, id: &Oid, limit: u64) -> Result<(Kind, Read), Miss> {
        let (pack, off) = self.packs.find(id.as_bytes()).ok_or(Miss::Elsewhere)?;
        self.resolve(pack, off, limit)
    }

    fn resolve(&mut self, pack: u32, off: u64, limit: u64) -> Result<(Kind, Read), Miss> {
        if let Some((kind, data)) = self.cache.get((pack, off)) {
            if data.len() as u64 > limit {
                return Ok((kind, Read::TooLarge(data.len() as u64)));
            }
            return Ok((kind, Read::Found(data)));
        }
        let top = self.packs.packs[pack as usize].entry(off)?;
        // The delta on top says how big the object will be: read it first, so a blob over the
        // limit costs one small inflate and no chain.
        let top_delta = match top.base {
            Base::None(kind) => {
                if top.size > limit {
                    return Ok((kind, Read::TooLarge(top.size)));
                }
                let data = Rc::new(self.inflate(pack, &top)?);
                self.cache.put((pack, off), kind, &data);
                return Ok((kind, Read::Found(data)));
            }
            _ => self.inflate(pack, &top)?,
        };
        let (_, after) = varint(&top_delta, 0)?;
        let (target, _) = varint(&top_delta, after)?;
        let mut chain = vec![(pack, off, top.base)];
        let (kind, mut data) = loop {
            let (p, _, base) = *chain.last().expect("chain starts with the top");
            let (p, o) = match base {
                Base::Offset(b) => (p, b),
                Base::Id(id) => self.packs.find(&id).ok_or(Miss::Elsewhere)?,
                Base::None(_) => unreachable!("whole objects end the chain"),
            };
            if let Some(hit) = self.cache.get((p, o)) {
                break hit;
            }
            let e = self.packs.packs[p as usize].entry(o)?;
            if let Base::None(kind) = e.base {
                let data = Rc::new(self.inflate(p, &e)?);
                self.cache.put((p, o), kind, &data);
                break (kind, data);
            }
            if chain.len() >= MAX_CHAIN {
                return Err(format!("delta chain at {o} is longer than {MAX_CHAIN}").into());
            }
            chain.push((p, o, e.base));
        };
        if target > limit {
            return Ok((kind, Read::TooLarge(target)));
        }
        // Build back up: each delta applies to the object below it.
        while let Some((p, o, _)) = chain.pop() {
            let delta = if chain.is_empty() {
                apply(&data, &top_delta)?
            } else {
                let e = self.packs.packs[p as usize].entry(o)?;
                apply(&data, &self.inflate(p, &e)?)?
            };
            data = Rc::new(delta);
            self.cache.put((p, o), kind, &data);
        }
        Ok((kind, Read::Found(data)))
    }

    /// Inflates an entry's zlib stream, which must hold exactly `entry.size` bytes.
    fn inflate(&mut self, pack: u32, entry: &Entry) -> Result<Vec<u8>, String> {
        let pack = &self.packs.packs[pack as usize];
        let input = &pack.data[entry.start..pack.data.len() - 20];
        // Deflate cannot expand more than 1032:1, so a bigger claim is a corrupt header, and
        // must not become an allocation.
        if entry.size > (input.len() as u64).saturating_mul(1032).saturating_add(64) {
            return Err(format!(
                "entry at {}: implausible size {}",
                entry.start, entry.size
            ));
        }
        let size = usize::try_from(entry.size).map_err(|_| "object too large for memory")?;
        // One byte of room past the declared size shows a stream that is longer than declared.
        let mut out = Vec::with_capacity(size + 1);
        self.zlib.reset(true);
        let status = self
            .zlib
            .decompress_vec(input, &mut out, FlushDecompress::Finish)
            .map_err(|e| format!("inflate at {}: {e}", entry.start))?;
        pack.note_inflated(self.zlib.total_in());
        if status != Status::StreamEnd || out.len() != size {
            return Err(format!(
                "entry at {}: inflated {} bytes, header says {size}",
                entry.start,
                out.len()
            ));
        }
        Ok(out)
    }
}

/// Builds an object from its base and a git delta (copy and insert instructions).
pub fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, String> {
    let (source, mut at) = varint(delta, 0)?;
    if source != base.len() as u64 {
        return Err(format!(
            "delta expects a {source}-byte base, found {}",
            base.len()
        ));
    }
    let (target, next) = varint(delta, at)?;
    at = next;
    let target = usize::try_from(target).map_err(|_| "delta target too large")?;
    // A corrupt header must not become a huge allocation: the output still grows to `target`.
    let mut out = Vec::with_capacity(target.min(base.len() + delta.len()));
    let truncated = || "delta instructions are truncated".to_string();
    while at < delta.len() {
        let op = delta[at];
        at += 1;
        if op & 0x80 != 0 {
            let mut fields = [0u64; 2];
            for (bit, field) in (0..7).map(|b| (b, if b < 4 { 0 } else { 1 })) {
                if op & (1 << bit) != 0 {
                    let byte = *delta.get(at).ok_or_else(truncated)? as u64;
                    at += 1;
                    let shift = if bit < 4 { bit } else { bit - 4 };
                    fields[field] |= byte << (8 * shift);
                }
            }
            let (start, len) = (
                fields[0] as usize,
                if fields[1] == 0 {
                    0x10000
                } else {
                    fields[1] as usize
                },
            );
            let piece = base
                .get(start..start.saturating_add(len))
                .ok_or("delta copies past the end of its base")?;
            out.extend_from_slice(piece);
        } else if op != 0 {
            let piece = delta.get(at..at + op as usize).ok_or_else(truncated)?;
            at += op as usize;
            out.extend_from_slice(piece);
        } else {
            return Err("delta uses the reserved instruction 0".into());
        }
        if out.len() > target {
            return Err(format!("delta builds more than its declared {target} bytes"));
        }
    }
    if out.len() != target {
        return Err(format!("delta built {} bytes, declared {target}", out.len()));
    }
    Ok(out)
}

/// A delta header's size: 7 bits a byte, least significant first.
fn varint(bytes: &[u8], mut at: usize) -> Result<(u64, usize), String> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(at).ok_or("delta header is truncated")?;
        at += 1;
        if shift > 63 {
            return Err("delta header size does not fit 64 bits".into());
        }
        value |= ((b & 0x7f) as u64) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok((value, at));
        }
    }
}

/// Checks a version-2 index against itself and its pack, returning its object count: the
/// fan-out only grows and ends at the count, ids are sorted and each sits where the fan-out
/// says, every offset lies inside the pack, and the index names the pack's own checksum.
/// Reading through an index that fails any of these (ours or libgit2's) would read outside
/// the pack or at random places in it.
fn validate(idx: &[u8], data: &[u8]) -> Result<usize, String> {
    if idx.len() < IDX_HEADER + 40 {
        return Err(format!("index of {} bytes is too short", idx.len()));
    }
    let count = be32(idx, IDX_HEADER - 4) as usize;
    // Ids, CRCs, offsets, then the two trailing checksums: SHA-1 indexes only.
    let small_end = count
        .checked_mul(28)
        .and_then(|n| n.checked_add(IDX_HEADER))
        .filter(|&n| n + 40 <= idx.len())
        .ok_or_else(|| format!("index claims {count} objects but has {} bytes", idx.len()))?;
    let large = (idx.len() - 40 - small_end) / 8;
    if !(idx.len() - 40 - small_end).is_multiple_of(8) {
        return Err("index has a partial 64-bit offset table".into());
    }
    if data.len() < 32 || &data[..4] != b"PACK" {
        return Err("the pack has no PACK header".into());
    }
    if be32(data, 8) as usize != count {
        return Err(format!(
            "index lists {count} objects, the pack header {}",
            be32(data, 8)
        ));
    }
    if idx[idx.len() - 40..idx.len() - 20] != data[data.len() - 20..] {
        return Err("index names another pack's checksum".into());
    }
    let mut prev = 0usize;
    for b in 0..256 {
        let n = be32(idx, 8 + b * 4) as usize;
        if n < prev {
            return Err(format!("fan-out decreases at byte {b:#04x}"));
        }
        prev = n;
    }
    // Ids strictly ascending, compared as big-endian words: this loop runs once per object
    // (half a million in a large repository) before every `--staged`, so it is kept tight.
    let ids = &idx[IDX_HEADER..IDX_HEADER + count * 20];
    let mut prev: Option<(u64, u64, u32)> = None;
    for (i, e) in ids.chunks_exact(20).enumerate() {
        let k = (
            u64::from_be_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]),
            u64::from_be_bytes([e[8], e[9], e[10], e[11], e[12], e[13], e[14], e[15]]),
            u32::from_be_bytes([e[16], e[17], e[18], e[19]]),
        );
        if prev.is_some_and(|p| k <= p) {
            return Err(format!("object ids out of order at entry {i}"));
        }
        prev = Some(k);
    }
    // With the ids sorted, each fan-out bucket holds only ids of its first byte exactly when
    // its first and last entries do.
    let mut start = 0usize;
    for b in 0..256 {
        let end = be32(idx, 8 + b * 4) as usize;
        if end > start && (ids[start * 20] as usize != b || ids[(end - 1) * 20] as usize != b) {
            let i = if ids[start * 20] as usize != b {
                start
            } else {
                end - 1
            };
            return Err(format!("entry {i} is not where the fan-out puts it"));
        }
        start = end;
    }
    let offsets = IDX_HEADER + count * 24;
    let end = (data.len() - 20) as u64;
    for (i, w) in idx[offsets..offsets + count * 4].chunks_exact(4).enumerate() {
        let small = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
        let off = if small & 0x8000_0000 == 0 {
            small as u64
        } else {
            let k = (small & 0x7fff_ffff) as usize;
            if k >= large {
                return Err(format!("entry {i} names 64-bit offset {k} of {large}"));
            }
            let at = small_end + k * 8;
            u64::from_be_bytes(idx[at..at + 8].try_into().expect("8 bytes"))
        };
        if !(12..end).contains(&off) {
            return Err(format!("entry {i}: offset {off} is outside the pack"));
        }
    }
    Ok(count)
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Objects of one repository for one thread: from the packs when it can, else from libgit2.
pub struct Objects<'a> {
    packed: Reader<'a>,
    odb: Odb<'a>,
}

impl<'a> Objects<'a> {
    pub fn new(packs: &'a Packs, odb: Odb<'a>, cache: usize) -> Self {
        Objects {
            packed: Reader::new(packs, cache),
            odb,
        }
    }

    /// Reads `id`, which must be a `want`; `Err` names why it cannot be read.
    pub fn read(&mut self, id: Oid, want: Kind, limit: u64) -> Result<Read, String> {
        let (kind, read) = match self.packed.read(&id, limit) {
            Ok(found) => found,
            Err(Miss::Elsewhere) => self.read_libgit2(id, limit)?,
            Err(Miss::Broken(reason)) => return Err(reason),
        };
        if kind != want {
            return Err(format!("expected a {}, found a {}", want.name(), kind.name()));
        }
        Ok(read)
    }

    /// A commit's tree and parents.
    pub fn commit(&mut self, id: Oid) -> Result<(Oid, Vec<Oid>), String> {
        match self.read(id, Kind::Commit, u64::MAX)? {
            Read::Found(data) => commit_links(&data).ok_or_else(|| "malformed commit".to_string()),
            Read::TooLarge(_) => unreachable!("commits are read without a limit"),
        }
    }

    fn read_libgit2(&self, id: Oid, limit: u64) -> Result<(Kind, Read), String> {
        let (size, t) = self.odb.read_header(id).map_err(|e| e.message().to_string())?;
        let kind = Kind::from_git2(t).ok_or_else(|| format!("object of type {t}"))?;
        if size as u64 > limit {
            return Ok((kind, Read::TooLarge(size as u64)));
        }
        let object = self.odb.read(id).map_err(|e| e.message().to_string())?;
        Ok((kind, Read::Found(Rc::new(object.data().to_vec()))))
    }
}

/// The `tree` and `parent` headers of a raw commit, which git always writes first.
fn commit_links(commit: &[u8]) -> Option<(Oid, Vec<Oid>)> {
    let mut lines = commit.split(|&b| b == b'\n');
    let hex = |line: &[u8], key: &[u8]| {
        let id = line.strip_prefix(key)?;
        Oid::from_str(std::str::from_utf8(id).ok()?).ok()
    };
    let tree = hex(lines.next()?, b"tree ")?;
    let parents = lines.map_while(|l| hex(l, b"parent ")).collect();
    Some((tree, parents))
}

/// Entries of a raw tree object, in order: (mode, name, id). Stops at the first malformed
/// entry, reported as `Err`.
pub fn tree_entries(tree: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8], Oid), String>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || match tree_entry_at(tree, at)? {
        Ok((mode, name, id, next)) => {
            at = next;
            Some(Ok((mode, &tree[name], id)))
        }
        Err(reason) => {
            at = tree.len();
            Some(Err(reason))
        }
    })
}

/// A tree entry by position: (mode, where its name lies, id, where the next entry starts).
pub type EntryAt = (u32, std::ops::Range<usize>, Oid, usize);

/// The entry of a raw tree that starts at byte `at`: (mode, where its name lies, id, where
/// the next entry starts); `None` at the end. Positions rather than slices let a walker keep
/// its place in many trees at once without borrowing them.
pub fn tree_entry_at(tree: &[u8], at: usize) -> Option<Result<EntryAt, String>> {
    let rest = tree.get(at..).filter(|r| !r.is_empty())?;
    let parsed = (|| {
        let space = memchr::memchr(b' ', rest)?;
        let mode = rest[..space].iter().try_fold(0u32, |m, &d| {
            // Checked: a corrupt tree may hold a mode longer than any u32.
            m.checked_mul(8)?
                .checked_add((d as u32).checked_sub(b'0' as u32).filter(|&v| v < 8)?)
        })?;
        let nul = space + 1 + memchr::memchr(0, &rest[space + 1..])?;
        let id = Oid::from_bytes(rest.get(nul + 1..nul + 21)?).ok()?;
        Some((mode, at + space + 1..at + nul, id, at + nul + 21))
    })();
    Some(parsed.ok_or_else(|| "malformed tree entry".to_string()))
}

/// What a tree entry's mode names: a subtree, a blob (file or symlink), or a commit (submodule).
pub fn entry_kind(mode: u32) -> Option<Kind> {
    match mode & 0o170000 {
        0o040000 => Some(Kind::Tree),
        0o100000 | 0o120000 => Some(Kind::Blob),
        0o160000 => Some(Kind::Commit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "A")
            .env("GIT_COMMITTER_EMAIL", "a@example.com")
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A repository whose files change a little in every commit, so that packing it makes long
    /// delta chains of blobs and trees; `config` is given to git for the repack.
    fn packed_repo(config: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        git(p, &["init", "-q", "-b", "main"]);
        // Each version differs from the one before by one line, so each is the best base of
        // the next and the chains grow long.
        let mut lines: Vec<String> = (0..120)
            .map(|i| format!("line {i} of the notes, unchanged"))
            .collect();
        std::fs::create_dir_all(p.join("src/deep")).unwrap();
        for i in 0..40 {
            lines[i * 3] = format!("line {} changed in commit {i}", i * 3);
            let text = lines.join("\n");
            std::fs::write(p.join("notes.txt"), &text).unwrap();
            std::fs::write(p.join("src/deep/copy.txt"), text.replace("line", "row")).unwrap();
            std::fs::write(p.join(format!("src/f{}.txt", i % 5)), format!("{i}\n")).unwrap();
            git(p, &["add", "-A"]);
            git(p, &["commit", "-q", "-m", &format!("c{i}")]);
        }
        let mut args: Vec<&str> = config.iter().flat_map(|c| ["-c", *c]).collect();
        args.extend(["repack", "-adfq", "--depth=50", "--window=50"]);
        git(p, &args);
        dir
    }

    /// How many entries of each kind of delta the repository's pack holds: (offset, id).
    fn delta_kinds(dir: &Path) -> (usize, usize) {
        let packs = Packs::open(&dir.join(".git"));
        let pack = &packs.packs[0];
        (0..pack.count)
            .map(|i| pack.entry(pack.offset(i).unwrap()).unwrap().base)
            .fold((0, 0), |(o, r), b| match b {
                Base::Offset(_) => (o + 1, r),
                Base::Id(_) => (o, r + 1),
                Base::None(_) => (o, r),
            })
    }

    /// Every object in the pack, read by us, is what libgit2 reads; and the pack has deltas.
    fn same_as_libgit2(dir: &Path) {
        let verify = git(dir, &["verify-pack", "-v", &pack_idx(dir)]);
        assert!(
            verify.contains("chain length = 20"),
            "the pack has long delta chains: {verify}"
        );
        let repo = git2::Repository::open(dir).unwrap();
        let odb = repo.odb().unwrap();
        let mut ids = Vec::new();
        odb.foreach(|id| {
            ids.push(*id);
            true
        })
        .unwrap();
        assert!(ids.len() > 100, "{} objects", ids.len());
        let packs = Packs::open(&dir.join(".git"));
        // A small cache: chains are rebuilt from the pack as well as taken from the cache.
        let mut reader = Reader::new(&packs, 4096);
        for id in ids {
            let want = odb.read(id).unwrap();
            let (kind, read) = reader.read(&id, u64::MAX).expect("in the pack");
            assert_eq!(Some(kind), Kind::from_git2(want.kind()), "{id}");
            match read {
                Read::Found(data) => assert_eq!(&data[..], want.data(), "{id}"),
                Read::TooLarge(_) => panic!("no limit"),
            }
        }
    }

    fn pack_idx(dir: &Path) -> String {
        let packs = dir.join(".git/objects/pack");
        let idx = std::fs::read_dir(&packs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .expect("a pack index");
        idx.display().to_string()
    }

    #[test]
    fn offset_deltas_read_as_libgit2_reads_them() {
        let dir = packed_repo(&[]);
        assert!(matches!(delta_kinds(dir.path()), (o, 0) if o > 50));
        same_as_libgit2(dir.path());
    }

    #[test]
    fn ref_deltas_read_as_libgit2_reads_them() {
        let dir = packed_repo(&["repack.useDeltaBaseOffset=false"]);
        assert!(matches!(delta_kinds(dir.path()), (0, r) if r > 50));
        same_as_libgit2(dir.path());
    }

    #[test]
    fn a_limit_reports_the_size_without_building_the_object() {
        let dir = packed_repo(&[]);
        let repo = git2::Repository::open(dir.path()).unwrap();
        let id = repo.revparse_single("HEAD~30:notes.txt").unwrap().id();
        let size = repo.find_blob(id).unwrap().size() as u64;
        let packs = Packs::open(&dir.path().join(".git"));
        let mut reader = Reader::new(&packs, 1 << 20);
        match reader.read(&id, size - 1).unwrap() {
            (Kind::Blob, Read::TooLarge(n)) => assert_eq!(n, size),
            _ => panic!("over the limit"),
        }
        assert!(
            matches!(reader.read(&id, size).unwrap(), (Kind::Blob, Read::Found(d)) if d.len() as u64 == size)
        );
    }

    #[test]
    fn a_corrupt_pack_gives_errors_not_panics() {
        let dir = packed_repo(&[]);
        let idx = PathBuf::from(pack_idx(dir.path()));
        let pack = idx.with_extension("pack");
        let clean = std::fs::read(&pack).unwrap();
        let repo = git2::Repository::open(dir.path()).unwrap();
        let mut ids = Vec::new();
        repo.odb()
            .unwrap()
            .foreach(|id| {
                ids.push(*id);
                true
            })
            .unwrap();
        let copy = tempfile::tempdir().unwrap();
        let git_dir = copy.path();
        std::fs::create_dir_all(git_dir.join("objects/pack")).unwrap();
        std::fs::copy(&idx, git_dir.join("objects/pack/p.idx")).unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut errors = 0;
        for _ in 0..60 {
            // Three bytes changed anywhere after the header: entry headers, deltas, streams.
            let mut bytes = clean.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = 12 + (state as usize) % (bytes.len() - 32);
                bytes[at] = (state >> 32) as u8;
            }
            std::fs::write(git_dir.join("objects/pack/p.pack"), &bytes).unwrap();
            let packs = Packs::open(git_dir);
            let mut reader = Reader::new(&packs, 1 << 16);
            for id in &ids {
                errors += reader.read(id, u64::MAX).is_err() as usize;
            }
        }
        assert!(errors > 0, "corruption is noticed");
    }

    #[test]
    fn bad_deltas_are_errors_not_panics() {
        let base = b"hello world";
        // Source size, target size, then instructions.
        let ok = [11, 5, 0x91, 6, 5];
        assert_eq!(apply(base, &ok).unwrap(), b"world");
        let cases: [(&[u8], &str); 5] = [
            (&[10, 5, 0x91, 6, 5], "expects a 10-byte base"),
            (&[11, 5, 0x91, 9, 5], "past the end"),
            (&[11, 5, 0x91], "truncated"),
            (&[11, 5, 0], "reserved"),
            (&[11, 2, 3, b'a', b'b', b'c'], "more than its declared"),
        ];
        for (delta, why) in cases {
            let err = apply(base, delta).unwrap_err();
            assert!(err.contains(why), "{delta:?}: {err}");
        }
        assert!(varint(&[0x80, 0x80], 0).is_err());
    }

    #[test]
    fn malformed_trees_end_in_an_error() {
        let id = [7u8; 20];
        let mut tree = b"100644 a.txt\0".to_vec();
        tree.extend_from_slice(&id);
        tree.extend_from_slice(b"40000 dir\0");
        tree.extend_from_slice(&id);
        let entries: Vec<_> = tree_entries(&tree).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entry_kind(entries[0].0), entries[0].1),
            (Some(Kind::Blob), &b"a.txt"[..])
        );
        assert_eq!(entry_kind(entries[1].0), Some(Kind::Tree));
        for bad in [&b"100644 a.txt\0short"[..], b"10x644 a\0", b"no space"] {
            let last = tree_entries(bad).last().unwrap();
            assert!(last.is_err(), "{bad:?}");
        }
        assert_eq!(
            commit_links(b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor x\n"),
            Some((
                Oid::from_str("4b825dc642cb6eb9a060e54bf8d69288fbee4904").unwrap(),
                vec![Oid::from_str("4b825dc642cb6eb9a060e54bf8d69288fbee4904").unwrap()]
            ))
        );
        assert_eq!(commit_links(b"author x\n"), None);
    }
}
