//! The one table of addresses a credential may never be sent to when the host came from
//! scanned data: every block of IANA's IPv4 and IPv6 Special-Purpose Address Registries that
//! is not globally reachable (plus multicast, and the deprecated blocks), and IPv6 forms that
//! embed an IPv4 address are judged by that address.
//!
//! Every egress check ([`crate::issuer::guard`], used by verification, JWKS fetches and revocation
//! recipes) asks [`is_public`]; nothing else decides what "public" means, so a block added
//! here is refused everywhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 blocks that are not public: (network, prefix length, what it is).
const V4: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "this network"),
    ([10, 0, 0, 0], 8, "private use"),
    ([100, 64, 0, 0], 10, "shared address space (CGNAT)"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link local (cloud metadata)"),
    ([172, 16, 0, 0], 12, "private use"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (deprecated)"),
    ([192, 168, 0, 0], 16, "private use"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
    ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved (and broadcast)"),
];

/// IPv6 blocks that are not public. The IPv4-mapped and NAT64 blocks are not here: their
/// addresses are judged by the IPv4 address they carry ([`embedded_v4`]).
const V6: &[([u16; 8], u8, &str)] = &[
    (
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "unspecified, loopback and IPv4-compatible (deprecated)",
    ),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use IPv4/IPv6 translation",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (Teredo, ORCHID…)",
    ),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "segment routing (SRv6) SIDs"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site local (deprecated)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

/// Why `ip` is not public (the block it is in), or `None` for a public address.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => special_v4(v4),
            None => {
                let bits = u128::from(v6);
                V6.iter().find_map(|(net, len, what)| {
                    in_block(bits, u128::from(Ipv6Addr::from(*net)), *len, 128).then_some(*what)
                })
            }
        },
    }
}

/// Whether a credential may be sent to `ip`.
pub fn is_public(ip: IpAddr) -> bool {
    special(ip).is_none()
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip) as u128;
    V4.iter().find_map(|(net, len, what)| {
        in_block(bits, u32::from(Ipv4Addr::from(*net)) as u128, *len, 32).then_some(*what)
    })
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`) and the
/// well-known NAT64 prefix (`64:ff9b::a.b.c.d`), which a translator turns into a.b.c.d.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s[..6] {
        [0, 0, 0, 0, 0, 0xffff] | [0x64, 0xff9b, 0, 0, 0, 0] => Some(low),
        _ => None,
    }
}

fn in_block(addr: u128, net: u128, len: u8, width: u32) -> bool {
    let host_bits = width - len as u32;
    let mask = if host_bits >= 128 { 0 } else { !0u128 << host_bits };
    (addr & mask) == (net & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_blocks_and_embedded_forms_are_not_public() {
        for a in [
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.9",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::a9fe:a9fe",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:a9fe:a9fe::1",
            "2002:0808:0808::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a} passed as public");
        }
        for a in [
            "140.82.112.3",
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "198.20.0.1",
            "192.0.3.1",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "64:ff9b::808:808",
            "::ffff:140.82.112.3",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a} refused");
        }
    }
}
