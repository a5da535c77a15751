//! Hash sets keyed by object ids. An object id is already a uniformly distributed hash, so its
//! first eight bytes make a perfect hash key; SipHash over all twenty would be most of the cost
//! of the millions of lookups a long history needs.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Takes the first eight bytes written as the hash; later writes (a path id or hash) are mixed in.
#[derive(Default)]
pub struct OidHasher(u64);

impl Hasher for OidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `Oid` hashes its 20 bytes as one slice (after a length prefix for slices).
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }

    fn write_u32(&mut self, n: u32) {
        self.0 ^= (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, _len: usize) {
        // Slice length prefixes carry no information for fixed-size ids.
    }
}

pub type OidBuild = BuildHasherDefault<OidHasher>;
pub type OidSet<K> = HashSet<K, OidBuild>;
pub type OidMap<K, V> = HashMap<K, V, OidBuild>;
