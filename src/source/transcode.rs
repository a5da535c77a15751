//! Text in UTF-16 and UTF-32: PowerShell scripts, `.reg` exports and .NET configs saved by
//! Windows tools. Scanned as bytes, every ASCII character is followed (or preceded) by a NUL, so
//! no rule matches and the file looked binary; they are transcoded to UTF-8 instead, a chunk at
//! a time, so memory stays bounded however large the file.
//!
//! Lines and columns stay those of the original file: newlines survive transcoding one for one
//! and columns count characters.

use std::io::{self, Read};

/// A wide text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wide {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Wide {
    pub fn name(self) -> &'static str {
        match self {
            Wide::Utf16Le => "UTF-16LE",
            Wide::Utf16Be => "UTF-16BE",
            Wide::Utf32Le => "UTF-32LE",
            Wide::Utf32Be => "UTF-32BE",
        }
    }
    fn unit(self) -> usize {
        match self {
            Wide::Utf16Le | Wide::Utf16Be => 2,
            Wide::Utf32Le | Wide::Utf32Be => 4,
        }
    }
}

/// What the first bytes of a file say about its encoding: a byte-order mark (and its length),
/// or for text without one, the NUL pattern of mostly-ASCII wide text.
pub fn detect(head: &[u8]) -> Option<(Wide, usize)> {
    if head.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Some((Wide::Utf32Le, 4));
    }
    if head.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Some((Wide::Utf32Be, 4));
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return Some((Wide::Utf16Le, 2));
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Some((Wide::Utf16Be, 2));
    }
    // Every file passes here: text without a NUL (nearly all of it) costs one memchr.
    memchr::memchr(0, head)?;
    // Without a mark: at least 16 characters, nearly all of them with the zero bytes of ASCII
    // in their wide form (and the other byte not zero).
    let zeros = |width: usize, at: &[usize]| -> (usize, usize) {
        let units = head.len() / width;
        let z = head
            .chunks_exact(width)
            .filter(|u| at.iter().all(|&i| u[i] == 0) && u.iter().any(|&b| b != 0))
            .count();
        (z, units)
    };
    let mostly = |(z, n): (usize, usize)| n >= 16 && z * 10 >= n * 9;
    if mostly(zeros(4, &[1, 2, 3])) {
        return Some((Wide::Utf32Le, 0));
    }
    if mostly(zeros(4, &[0, 1, 2])) {
        return Some((Wide::Utf32Be, 0));
    }
    if mostly(zeros(2, &[1])) {
        return Some((Wide::Utf16Le, 0));
    }
    if mostly(zeros(2, &[0])) {
        return Some((Wide::Utf16Be, 0));
    }
    None
}

/// Whether text that claims (by its mark) to be `enc` reads as text: few invalid units or
/// control characters, and some ASCII. Binary files can start with `FF FE` by chance.
pub fn looks_like_text(enc: Wide, sample: &[u8]) -> bool {
    // Wide text of any script carries NULs or bytes past ASCII; eight-bit ASCII text that
    // happens to start with `FF FE` has neither.
    let printable = sample
        .iter()
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    if sample.len() >= 16 && !sample.contains(&0) && printable * 10 >= sample.len() * 9 {
        return false;
    }
    let mut r = WideReader::new(sample, enc);
    let mut text = String::new();
    if r.read_to_string(&mut text).is_err() {
        return false;
    }
    let total = text.chars().count();
    let bad = text
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && !matches!(c, '\n' | '\r' | '\t')))
        .count();
    // Any language's text has some ASCII (newlines, spaces, digits, markup); random 16-bit
    // units land there one time in 500.
    let ascii = text.chars().filter(char::is_ascii).count();
    bad * 10 <= total && (total < 64 || ascii * 100 >= total)
}

/// Reads wide text from `inner` as UTF-8. Invalid units (unpaired surrogates, values past
/// U+10FFFF, a trailing partial unit) become U+FFFD and are counted.
pub struct WideReader<R> {
    inner: R,
    enc: Wide,
    raw: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    /// Invalid units seen so far.
    pub invalid: u64,
    /// Bytes left over at the end that did not make a whole unit.
    pub trailing: usize,
}

const RAW_CHUNK: usize = 64 << 10;

impl<R: Read> WideReader<R> {
    pub fn new(inner: R, enc: Wide) -> Self {
        WideReader {
            inner,
            enc,
            raw: Vec::with_capacity(RAW_CHUNK + 4),
            out: Vec::with_capacity(RAW_CHUNK * 2),
            out_pos: 0,
            eof: false,
            invalid: 0,
            trailing: 0,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        while self.out.is_empty() && !self.eof {
            let have = self.raw.len();
            self.raw.resize(have + RAW_CHUNK, 0);
            let n = loop {
                match self.inner.read(&mut self.raw[have..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.raw.truncate(have);
                        return Err(e);
                    }
                }
            };
            self.raw.truncate(have + n);
            self.eof = n == 0;
            self.decode();
        }
        Ok(())
    }

    /// Decodes every whole unit in `raw` (keeping a high surrogate whose pair may still come).
    fn decode(&mut self) {
        let w = self.enc.unit();
        let mut whole = self.raw.len() / w * w;
        let mut buf = [0u8; 4];
        match self.enc {
            Wide::Utf16Le | Wide::Utf16Be => {
                let unit = |b: &[u8]| match self.enc {
                    Wide::Utf16Le => u16::from_le_bytes([b[0], b[1]]),
                    _ => u16::from_be_bytes([b[0], b[1]]),
                };
                if !self.eof && whole >= 2 && (0xD800..0xDC00).contains(&unit(&self.raw[whole - 2..whole])) {
                    whole -= 2;
                }
                let units = self.raw[..whole].chunks_exact(2).map(unit);
                for c in char::decode_utf16(units) {
                    let c = c.unwrap_or_else(|_| {
                        self.invalid += 1;
                        char::REPLACEMENT_CHARACTER
                    });
                    self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            Wide::Utf32Le | Wide::Utf32Be => {
                for b in self.raw[..whole].chunks_exact(4) {
                    let v = match self.enc {
                        Wide::Utf32Le => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                        _ => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    };
                    let c = char::from_u32(v).unwrap_or_else(|| {
                        self.invalid += 1;
                        char::REPLACEMENT_CHARACTER
                    });
                    self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        self.raw.drain(..whole);
        if self.eof && !self.raw.is_empty() {
            self.trailing = self.raw.len();
            self.raw.clear();
            self.out
                .extend_from_slice(char::REPLACEMENT_CHARACTER.encode_utf8(&mut buf).as_bytes());
        }
    }
}

impl<R: Read> Read for WideReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if self.out_pos == self.out.len() {
            self.fill()?;
        }
        let n = dst.len().min(self.out.len() - self.out_pos);
        dst[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn detects_marks_and_zero_patterns() {
        let text = "Set-Variable -Name token -Value abc\r\n";
        assert_eq!(
            detect(&[&[0xFF, 0xFE][..], &utf16le(text)].concat()),
            Some((Wide::Utf16Le, 2))
        );
        assert_eq!(detect(&utf16le(text)), Some((Wide::Utf16Le, 0)));
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(detect(&be), Some((Wide::Utf16Be, 0)));
        let le32: Vec<u8> = text.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        assert_eq!(detect(&le32), Some((Wide::Utf32Le, 0)));
        assert_eq!(detect(b"plain ascii text that is long enough"), None);
        assert_eq!(detect(&[0u8; 64]), None, "all zeros is binary, not wide text");
    }

    #[test]
    fn transcodes_across_chunks_and_marks_bad_units() {
        // A surrogate pair split across the 64 KiB read boundary decodes whole.
        let mut s = "a".repeat(RAW_CHUNK / 2 - 1);
        s.push('😀');
        s.push_str("end");
        let mut out = String::new();
        WideReader::new(&utf16le(&s)[..], Wide::Utf16Le)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, s);
        // An unpaired surrogate and an odd trailing byte become U+FFFD, counted.
        let mut bytes = utf16le("ab");
        bytes.extend_from_slice(&[0x00, 0xD8, b'c', 0, 0x41]);
        let mut r = WideReader::new(&bytes[..], Wide::Utf16Le);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "ab\u{FFFD}c\u{FFFD}");
        assert_eq!((r.invalid, r.trailing), (1, 1));
    }

    #[test]
    fn a_mark_on_binary_is_not_text() {
        let mut bin = vec![0xFF, 0xFE];
        bin.extend((0..400u32).map(|i| (i * 7 % 256) as u8));
        assert!(!looks_like_text(Wide::Utf16Le, &bin[2..]));
        assert!(looks_like_text(Wide::Utf16Le, &utf16le("hello world\r\n")));
        assert!(!looks_like_text(
            Wide::Utf16Le,
            b"\xc3(latin-1 text after a stray mark"
        ));
    }
}
