//! Byte offsets to line and column numbers, computed only for the offsets that matter.

/// Converts sorted-or-not offsets into 1-based (line, column) pairs. Columns count characters,
/// not bytes, so that editors land on the right spot in UTF-8 text.
pub struct LineIndex<'a> {
    hay: &'a [u8],
    /// Cursor: offset already counted up to, and the line number there.
    pos: usize,
    line: usize,
    line_start: usize,
}

impl<'a> LineIndex<'a> {
    pub fn new(hay: &'a [u8]) -> Self {
        LineIndex {
            hay,
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// Starts counting from a known line number at offset 0 (for stream chunks).
    pub fn with_base(hay: &'a [u8], line: usize) -> Self {
        LineIndex {
            hay,
            pos: 0,
            line,
            line_start: 0,
        }
    }

    /// Line and column of `offset`. Cheapest when called with non-decreasing offsets.
    pub fn locate(&mut self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.hay.len());
        if offset < self.pos {
            // Restart from the beginning; rare (offsets are sorted by callers).
            let base = self.line - memchr::memchr_iter(b'\n', &self.hay[..self.pos]).count();
            self.pos = 0;
            self.line = base;
            self.line_start = 0;
        }
        for nl in memchr::memchr_iter(b'\n', &self.hay[self.pos..offset]) {
            self.line += 1;
            self.line_start = self.pos + nl + 1;
        }
        self.pos = offset;
        let col = String::from_utf8_lossy(&self.hay[self.line_start..offset])
            .chars()
            .count()
            + 1;
        (self.line, col)
    }
}

/// The bytes of the line containing `offset`, bounded to 4 KiB either side.
pub fn line_around(hay: &[u8], offset: usize) -> &[u8] {
    let offset = offset.min(hay.len());
    let lo_bound = offset.saturating_sub(4096);
    let hi_bound = (offset + 4096).min(hay.len());
    let start = memchr::memrchr(b'\n', &hay[lo_bound..offset]).map_or(lo_bound, |p| lo_bound + p + 1);
    let end = memchr::memchr(b'\n', &hay[offset..hi_bound]).map_or(hi_bound, |p| offset + p);
    &hay[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let t = "ab\ncdé\nfg".as_bytes();
        let mut ix = LineIndex::new(t);
        assert_eq!(ix.locate(0), (1, 1));
        assert_eq!(ix.locate(4), (2, 2));
        assert_eq!(ix.locate(t.len() - 1), (3, 2));
        assert_eq!(ix.locate(1), (1, 2));
        assert_eq!(line_around(t, 4), b"cd\xc3\xa9");
    }
}
