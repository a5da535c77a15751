//! Structural checks on private keys, and their canonical text.
//!
//! A key's body is random, so the placeholder filter that serves tokens (no run of six equal
//! characters, no `xxxx`) rejects real keys: every OpenSSH key starts `AAAAAAAAAAAB…` after its
//! magic. Keys are instead checked for the structure every real key has and no hand-typed
//! body does — PEM armour around a DER `SEQUENCE` whose length is exactly the body, the
//! `openssh-key-v1` magic, a PuTTY file whose public blob names its own algorithm, an OpenPGP
//! secret-key packet — after undoing however the key was embedded (`\n` escapes, string
//! concatenation, indentation, one folded line).
//!
//! The canonical text (armour lines, headers, the body wrapped as its generator wraps it) is
//! what a finding carries, so one key gets one fingerprint however many ways it was pasted,
//! and verifiers receive a PEM they can parse.

use base64::Engine as _;

/// Validator names (a rule's `checksum`) handled here.
pub const NAMES: &[&str] = &[
    "pem-der",
    "pem-cipher",
    "openssh",
    "openssh-encrypted",
    "putty",
    "putty-encrypted",
    "pgp",
];

/// The canonical text of the key in `secret` when it has the structure `name` asks for.
pub fn canonical(name: &str, secret: &[u8]) -> Option<Vec<u8>> {
    let text = unembed(secret);
    match name {
        "putty" | "putty-encrypted" => putty(&text, name == "putty"),
        _ => {
            let armour = Armour::parse(&text)?;
            let body = armour.decode()?;
            let ok = match name {
                "pem-der" => der_sequence(&body) && !armour.encrypted(),
                "pem-cipher" => armour.encrypted() && body.len() >= 64 && body.len() % 8 == 0,
                "openssh" => !openssh_encrypted(&body)?,
                "openssh-encrypted" => openssh_encrypted(&body)?,
                "pgp" => pgp_secret_packet(&body),
                _ => false,
            };
            ok.then(|| armour.render())
        }
    }
}

/// Undoes the ways a multi-line key is written inside other text: `\n`/`\r\n` escapes (any
/// number of backslashes, for JSON inside JSON), the quotes and operators of concatenated
/// string literals (`"…\n" +` / `'…' .` / adjacent literals / list items), and per-line
/// indentation. Returns trimmed, non-empty lines joined by `\n`.
fn unembed(secret: &[u8]) -> Vec<u8> {
    let mut flat = Vec::with_capacity(secret.len());
    let mut i = 0;
    while i < secret.len() {
        match secret[i] {
            b'\\' => {
                let mut j = i;
                while j < secret.len() && secret[j] == b'\\' {
                    j += 1;
                }
                match secret.get(j) {
                    Some(b'n') => flat.push(b'\n'),
                    Some(b't') => flat.push(b' '),
                    Some(b'r') | None => {}
                    Some(&c) => flat.push(c),
                }
                i = j + 1;
            }
            // A closing quote: what follows up to the next opening quote is the language's
            // concatenation, not key text.
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < secret.len() && secret[i] != q {
                    if secret[i] == b'\n' {
                        flat.push(b'\n');
                    }
                    i += 1;
                }
                i += 1;
            }
            b'\r' => i += 1,
            c => {
                flat.push(c);
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(flat.len());
    for line in flat.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if !line.is_empty() {
            if !out.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(line);
        }
    }
    out
}

/// RFC 7468 armour: `-----BEGIN <label>-----`, optional RFC 1421 headers, base64, the end line.
struct Armour<'a> {
    label: &'a [u8],
    headers: Vec<&'a [u8]>,
    b64: Vec<u8>,
    /// OpenPGP's `=XXXX` CRC-24 line, kept for the canonical text.
    crc: Option<&'a [u8]>,
}

impl<'a> Armour<'a> {
    fn parse(text: &'a [u8]) -> Option<Armour<'a>> {
        let begin = memchr::memmem::find(text, b"-----BEGIN ")?;
        let after = &text[begin + 11..];
        let label_end = memchr::memmem::find(after, b"-----")?;
        let label = &after[..label_end];
        let rest = &after[label_end + 5..];
        let end = memchr::memmem::find(rest, b"-----END ")?;
        let tail = &rest[end + 9..];
        if !tail.starts_with(label) || !tail[label.len()..].starts_with(b"-----") {
            return None;
        }
        let mut headers = Vec::new();
        let mut b64 = Vec::new();
        let mut crc = None;
        for line in rest[..end].split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            if b64.is_empty() && line.contains(&b':') {
                headers.push(line);
            } else if line.len() == 5 && line[0] == b'=' && b64.len() > 4 {
                crc = Some(line);
            } else {
                // A folded (one-line) key has spaces where its newlines were.
                b64.extend(line.iter().copied().filter(|b| !b.is_ascii_whitespace()));
            }
        }
        Some(Armour {
            label,
            headers,
            b64,
            crc,
        })
    }

    fn decode(&self) -> Option<Vec<u8>> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
        STANDARD
            .decode(&self.b64)
            .or_else(|_| STANDARD_NO_PAD.decode(&self.b64))
            .ok()
    }

    fn encrypted(&self) -> bool {
        self.headers
            .iter()
            .any(|h| h.starts_with(b"Proc-Type:") && h.ends_with(b"ENCRYPTED"))
    }

    /// The armour as its generator writes it: OpenSSH wraps at 70 columns, everyone else at 64;
    /// headers are followed by a blank line.
    fn render(&self) -> Vec<u8> {
        let width = if self.label == b"OPENSSH PRIVATE KEY" {
            70
        } else {
            64
        };
        let mut out = Vec::with_capacity(self.b64.len() * 66 / 64 + 80);
        out.extend_from_slice(b"-----BEGIN ");
        out.extend_from_slice(self.label);
        out.extend_from_slice(b"-----\n");
        for h in &self.headers {
            out.extend_from_slice(h);
            out.push(b'\n');
        }
        if !self.headers.is_empty() {
            out.push(b'\n');
        }
        for chunk in self.b64.chunks(width) {
            out.extend_from_slice(chunk);
            out.push(b'\n');
        }
        if let Some(crc) = self.crc {
            out.extend_from_slice(crc);
            out.push(b'\n');
        }
        out.extend_from_slice(b"-----END ");
        out.extend_from_slice(self.label);
        out.extend_from_slice(b"-----");
        out
    }
}

/// A DER `SEQUENCE` whose (definite) length covers the body exactly: PKCS#1, SEC 1, PKCS#8
/// and the DSA structure all are one.
fn der_sequence(der: &[u8]) -> bool {
    if der.len() < 4 || der[0] != 0x30 {
        return false;
    }
    let (len, header) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (der[2] as usize, 3),
        0x82 => (u16::from_be_bytes([der[2], der[3]]) as usize, 4),
        0x83 if der.len() > 4 => (
            (der[2] as usize) << 16 | (der[3] as usize) << 8 | der[4] as usize,
            5,
        ),
        _ => return false,
    };
    header + len == der.len()
}

/// Whether an `openssh-key-v1` body is encrypted, when it has the structure PROTOCOL.key
/// gives it: magic, cipher, KDF and its options, one public key naming its type, and a private
/// section padded to the cipher block, whose two check integers agree when it is in the clear.
fn openssh_encrypted(body: &[u8]) -> Option<bool> {
    let rest = body.strip_prefix(b"openssh-key-v1\0")?;
    let (cipher, rest) = ssh_string(rest)?;
    let (_kdf, rest) = ssh_string(rest)?;
    let (_kdf_options, rest) = ssh_string(rest)?;
    let keys = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let (public, rest) = ssh_string(&rest[4..])?;
    let (key_type, _) = ssh_string(public)?;
    let (private, rest) = ssh_string(rest)?;
    let shaped = keys >= 1
        && !key_type.is_empty()
        && key_type.iter().all(u8::is_ascii_graphic)
        && rest.is_empty()
        && private.len() >= 8
        && private.len() % 8 == 0;
    let encrypted = cipher != b"none";
    (shaped && (encrypted || private[..4] == private[4..8])).then_some(encrypted)
}

/// An SSH wire-format string: a big-endian u32 length, then the bytes.
fn ssh_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let s = b.get(4..4 + len)?;
    Some((s, &b[4 + len..]))
}

/// An OpenPGP secret-key packet (tag 5) first, in old (0x94–0x97) or new (0xC5) format.
fn pgp_secret_packet(body: &[u8]) -> bool {
    matches!(body.first(), Some(0x94..=0x97 | 0xC5))
}

/// A PuTTY `.ppk` (v2 or v3): the header names the algorithm, the public blob decodes and
/// starts with that same name, and a MAC closes the file. `plain` asks for `Encryption: none`.
fn putty(text: &[u8], plain: bool) -> Option<Vec<u8>> {
    let start = memchr::memmem::find(text, b"PuTTY-User-Key-File-")?;
    let text = &text[start..];
    let mut lines = text.split(|&b| b == b'\n');
    let first = lines.next()?;
    let alg = first
        .get(first.iter().position(|&b| b == b':')? + 1..)?
        .trim_ascii();
    let mut encryption = None;
    let mut public = Vec::new();
    let mut mac = false;
    while let Some(line) = lines.next() {
        if let Some(v) = line.strip_prefix(b"Encryption:") {
            encryption = Some(v.trim_ascii());
        } else if let Some(n) = line.strip_prefix(b"Public-Lines:") {
            let n: usize = std::str::from_utf8(n.trim_ascii()).ok()?.parse().ok()?;
            for _ in 0..n.min(64) {
                public.extend_from_slice(lines.next()?.trim_ascii());
            }
        } else if let Some(v) = line.strip_prefix(b"Private-MAC:") {
            let v = v.trim_ascii();
            mac = v.len() >= 40 && v.iter().all(u8::is_ascii_hexdigit);
            break;
        }
    }
    let blob = base64::engine::general_purpose::STANDARD.decode(&public).ok()?;
    let (name, _) = ssh_string(&blob)?;
    let is_plain = encryption? == b"none";
    (mac && name == alg && is_plain == plain).then(|| {
        let end = memchr::memmem::find(text, b"Private-MAC:").unwrap_or(0);
        let line_end = memchr::memchr(b'\n', &text[end..]).map_or(text.len(), |p| end + p);
        text[..line_end].to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert!(der_sequence(&[0x30, 0x02, 0x02, 0x00]));
        assert!(!der_sequence(&[0x30, 0x03, 0x02, 0x00]));
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.resize(4 + 256, 0);
        assert!(der_sequence(&long));
        long.push(0);
        assert!(!der_sequence(&long));
        assert!(!der_sequence(b"\x31\x02\x02\x00"));
    }

    #[test]
    fn embeddings_unwrap_to_the_same_lines() {
        let plain = b"-----BEGIN X-----\nQUJD\nREVG\n-----END X-----";
        let json = b"-----BEGIN X-----\\nQUJD\\nREVG\\n-----END X-----";
        let concat = b"-----BEGIN X-----\\n\" +\n    \"QUJD\\n\" +\n    \"REVG\\n\" +\n  \"-----END X-----";
        let yaml = b"-----BEGIN X-----\n    QUJD\n    REVG\n    -----END X-----";
        for e in [&json[..], &concat[..], &yaml[..]] {
            assert_eq!(unembed(e), unembed(plain), "{}", String::from_utf8_lossy(e));
        }
    }

    #[test]
    fn hand_typed_bodies_fail() {
        let fake = b"-----BEGIN RSA PRIVATE KEY-----\nrTJtptdZJlVlbGnHKuMyyGL+ZyBAVEH/gWJyv8uTs356ltL1UqjRHQtxPByC9eOt\n-----END RSA PRIVATE KEY-----";
        assert!(canonical("pem-der", fake).is_none());
        let fake = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUzz\n-----END OPENSSH PRIVATE KEY-----";
        assert!(canonical("openssh", fake).is_none());
        assert!(canonical("nope", fake).is_none());
    }
}
