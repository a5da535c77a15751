//! Streams: standard input, log files of any size, gzip-compressed logs.
//!
//! A stream is scanned in fixed-size chunks that overlap by the engine's furthest reach, so a
//! key that straddles a chunk boundary is still found whole, and memory stays at one chunk
//! however large the input is.

use std::io::{self, Read};

use super::super::scan::{Collector, Origin, Scanner};
use crate::engine::Scratch;
use crate::finding::Context;

/// The path standard input is reported under, by every command: what the user typed for it,
/// and a valid relative reference where a report needs a URI (SARIF).
pub const STDIN_PATH: &str = "-";

/// Bytes read per chunk.
pub const CHUNK: usize = 4 << 20;

/// What a stream read ended with.
pub enum StreamEnd {
    Complete,
    /// The stream failed part-way; findings before the failure are kept.
    Failed(io::Error),
}

/// Scans `reader` chunk by chunk. Returns bytes scanned and how the stream ended.
pub fn scan_reader(
    reader: &mut dyn Read,
    path: &str,
    context: Context,
    scanner: &Scanner,
    collector: &Collector,
    chunk_size: usize,
) -> (u64, StreamEnd) {
    let overlap = scanner.engine.max_reach().max(4096);
    let chunk_size = chunk_size.max(overlap * 2);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk_size + overlap);
    let mut scratch = Scratch::default();
    let mut first_line = 1usize;
    let mut first_offset = 0u64;
    let mut total = 0u64;
    let mut ended = None;
    loop {
        // Fill the buffer up to chunk_size (or EOF).
        let mut eof = false;
        while buf.len() < chunk_size {
            // `take` + `read_to_end` grows the buffer as data arrives instead of zeroing a whole
            // chunk up front, which dominated the cost of many small `.gz` files.
            let want = (chunk_size - buf.len()) as u64;
            let before = buf.len();
            let result = (&mut *reader).take(want).read_to_end(&mut buf);
            total += (buf.len() - before) as u64;
            match result {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    ended = Some(e);
                    eof = true;
                    break;
                }
            }
        }
        // The last chunk owns every match in it; earlier chunks leave the tail to the next.
        let limit = if eof {
            buf.len()
        } else {
            buf.len().saturating_sub(overlap)
        };
        let origin = Origin {
            path,
            context,
            first_line,
            first_offset,
        };
        let mut hits = Vec::new();
        let suppressed = scanner.scan_chunk(&buf, limit, &origin, &mut scratch, &mut hits);
        collector
            .suppressed_inline
            .fetch_add(suppressed as u64, std::sync::atomic::Ordering::Relaxed);
        collector.add_hits(hits);
        if eof {
            break;
        }
        first_line += memchr::memchr_iter(b'\n', &buf[..limit]).count();
        first_offset += limit as u64;
        buf.drain(..limit);
    }
    (total, ended.map_or(StreamEnd::Complete, StreamEnd::Failed))
}
