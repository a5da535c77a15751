//! Files and directories: a parallel walk (the `ignore` crate's walker, ripgrep's), reading
//! each regular file once and handing its bytes to the scanner on the walker's own thread.
//!
//! `.gitignore` is honoured only when asked: secrets hide precisely in ignored `.env` files.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use ignore::{WalkBuilder, WalkState};

use super::{ci, stream, transcode};
use crate::engine::Scratch;
use crate::finding::Context;
use crate::scan::{Collector, Origin, Scanner};

/// Files at least this large are memory-mapped instead of read into a buffer.
const MMAP_THRESHOLD: u64 = 8 << 20;
/// Files larger than this are streamed in overlapping chunks rather than scanned whole, so a
/// database dump or a HAR capture of any size is scanned in bounded memory.
const STREAM_THRESHOLD: u64 = 32 << 20;
/// How much of a file's start is checked for NUL bytes to call it binary.
const BINARY_PROBE: usize = 8192;

/// Scans every path: `-` is standard input, a file is scanned even if ignore rules would skip
/// it (the user named it), a directory is walked.
pub fn scan_paths(paths: &[String], scanner: &Arc<Scanner>, collector: &Arc<Collector>) {
    let mut walk_roots = Vec::new();

    for p in paths {
        if p == "-" {
            scan_stdin(scanner, collector);
            continue;
        }
        let path = Path::new(p);
        match std::fs::symlink_metadata(path) {
            Err(e) => collector.skip(p.clone(), "unreadable", format!("{p}: {e}")),
            Ok(md) if md.is_dir() => walk_roots.push(p.clone()),
            Ok(md) if md.file_type().is_symlink() && !scanner.opts.follow_symlinks && path.is_dir() => {
                walk_roots.push(p.clone())
            }
            Ok(_) => {
                let mut scratch = Scratch::default();
                let mut buf = Vec::new();
                scan_file(path, false, scanner, collector, &mut scratch, &mut buf);
            }
        }
    }
    if walk_roots.is_empty() {
        return;
    }
    if !scanner.opts.progress {
        walk(&walk_roots, scanner, collector);
        return;
    }
    // With a progress bar, a second walk that only counts gives the bar its total while the
    // scan runs; it stops early if the scan is done first.
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(n) = count_files(&walk_roots, &scanner.opts, &done) {
                collector.work.set_total("files", n);
            }
        });
        walk(&walk_roots, scanner, collector);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // The walk is over before the count was: what it walked is the total.
    if collector.work.known().is_none() {
        let walked = collector.work.done.load(std::sync::atomic::Ordering::Relaxed);
        collector.work.set_total("files", walked);
    }
}

/// The walker both the scan and the counting walk use: one place for which files a walk sees.
fn walker(roots: &[String], opts: &crate::scan::ScanOptions) -> WalkBuilder {
    let mut builder = WalkBuilder::new(&roots[0]);
    for r in &roots[1..] {
        builder.add(r);
    }
    let respect = opts.respect_gitignore;
    builder
        .hidden(false)
        .parents(respect)
        .ignore(respect)
        .git_ignore(respect)
        .git_global(respect)
        .git_exclude(respect)
        .require_git(false)
        .follow_links(opts.follow_symlinks)
        .threads(opts.threads);
    builder
}

/// Whether the walk enters `e`: not `.git` (objects, which `quench git` reads properly), and
/// not a build directory below a root unless asked.
fn enters(e: &ignore::DirEntry, build_dirs: bool) -> bool {
    e.file_name() != ".git" && (build_dirs || !build_dir(e))
}

/// A build output or dependency directory below a root (a root itself is always walked).
fn build_dir(e: &ignore::DirEntry) -> bool {
    e.depth() > 0
        && e.file_type().is_some_and(|t| t.is_dir())
        && crate::scan::BUILD_DIRS.iter().any(|d| e.file_name() == *d)
}

/// How many regular files the scan's walk will read (the progress bar's total), or `None` if
/// `stop` was set first.
fn count_files(
    roots: &[String],
    opts: &crate::scan::ScanOptions,
    stop: &std::sync::atomic::AtomicBool,
) -> Option<u64> {
    let build_dirs = opts.scan_build_dirs;
    let mut b = walker(roots, opts);
    b.filter_entry(move |e| enters(e, build_dirs));
    let mut n = 0u64;
    for entry in b.build().flatten() {
        if n.is_multiple_of(1024) && stop.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        if entry.file_type().is_some_and(|t| t.is_file()) {
            n += 1;
        }
    }
    Some(n)
}

fn walk(roots: &[String], scanner: &Arc<Scanner>, collector: &Arc<Collector>) {
    let opts = &scanner.opts;
    let mut builder = walker(roots, opts);
    builder
        // `.git` internals are objects, not files: `quench git` reads them properly.
        .filter_entry({
            let (collector, build) = (collector.clone(), !opts.scan_build_dirs);
            move |e| e.file_name() != ".git" && !(build && is_build_dir(e, &collector))
        });
    builder.build_parallel().run(|| {
        let scanner = scanner.clone();
        let collector = collector.clone();
        let mut scratch = Scratch::default();
        let mut buf = Vec::new();
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    record_walk_error(&collector, &err);
                    return WalkState::Continue;
                }
            };
            let Some(ft) = entry.file_type() else {
                return WalkState::Continue;
            };
            if ft.is_dir() {
                return WalkState::Continue;
            }
            let path = entry.path();
            if ft.is_symlink() {
                // Not followed (see --follow): a link may point anywhere, even outside the tree.
                collector.skip(
                    path.display().to_string(),
                    "symlink",
                    format!("{}: symbolic link not followed (use --follow)", path.display()),
                );
                return WalkState::Continue;
            }
            if !ft.is_file() {
                collector.skip(
                    path.display().to_string(),
                    "not-a-file",
                    format!("{}: not a regular file (FIFO, socket or device)", path.display()),
                );
                return WalkState::Continue;
            }
            scan_file(path, true, &scanner, &collector, &mut scratch, &mut buf);
            collector
                .work
                .done
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            WalkState::Continue
        })
    });
}

/// A build directory ([`build_dir`]), recorded as skipped.
fn is_build_dir(e: &ignore::DirEntry, collector: &Collector) -> bool {
    let hit = build_dir(e);
    if hit {
        let p = e.path().display().to_string();
        collector.skip(
            p.clone(),
            "build-output",
            format!("{p}: build output or dependencies, not walked (--include-build-dirs walks it)"),
        );
    }
    hit
}

fn record_walk_error(collector: &Collector, err: &ignore::Error) {
    let text = err.to_string();
    let kind = if text.contains("File system loop") {
        "symlink-loop"
    } else if text.contains("File name too long") {
        // Deeper than the system's path limit: what lies below was not scanned.
        "path-too-long"
    } else if text.contains("ermission denied") {
        "unreadable"
    } else if text.contains("No such file") {
        "broken-symlink"
    } else {
        "walk-error"
    };
    let path = match err {
        ignore::Error::WithPath { path, .. } => path.display().to_string(),
        ignore::Error::WithDepth { err, .. } => match err.as_ref() {
            ignore::Error::WithPath { path, .. } => path.display().to_string(),
            _ => String::new(),
        },
        ignore::Error::Loop { child, .. } => child.display().to_string(),
        _ => String::new(),
    };
    collector.skip(path, kind, text);
}

/// Reads and scans one file, recording why when it cannot. `regular` says the walker already
/// knows it is a regular file, which saves a `stat` by path: opening first is then safe (a FIFO
/// would block `open`), and one `fstat` of the open file gives the size.
pub fn scan_file(
    path: &Path,
    regular: bool,
    scanner: &Scanner,
    collector: &Collector,
    scratch: &mut Scratch,
    buf: &mut Vec<u8>,
) {
    let display = path.display().to_string();
    let opts = &scanner.opts;
    if opts.allow_paths.is_match(path) {
        collector.skip(
            display,
            "allowlisted",
            format!("{}: path is allow-listed in the config", path.display()),
        );
        return;
    }
    let unreadable = |e: std::io::Error| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            "broken-symlink"
        } else {
            "unreadable"
        };
        collector.skip(display.clone(), kind, format!("{display}: {e}"));
    };
    if !regular {
        match std::fs::metadata(path) {
            Ok(md) if md.is_file() => {}
            Ok(_) => {
                collector.skip(
                    display.clone(),
                    "not-a-file",
                    format!("{display}: not a regular file (FIFO, socket or device)"),
                );
                return;
            }
            Err(e) => return unreadable(e),
        }
    }
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return unreadable(e),
    };
    let md = match file.metadata() {
        Ok(m) => m,
        Err(e) => return unreadable(e),
    };
    if md.len() > opts.max_file_size {
        collector.skip(
            display.clone(),
            "too-large",
            format!(
                "{display}: {} bytes is over --max-file-size ({} bytes)",
                md.len(),
                opts.max_file_size
            ),
        );
        return;
    }
    let is_gz = display.ends_with(".gz");
    let context = ci::classify(&display);
    if is_gz {
        scan_gz_file(file, &display, scanner, collector);
        return;
    }
    if md.len() > STREAM_THRESHOLD {
        scan_large_file(file, &display, context, scanner, collector);
        return;
    }
    let mmap;
    let bytes: &[u8] = if md.len() >= MMAP_THRESHOLD {
        // SAFETY: the map is read-only and dropped before we return; a file truncated under us
        // can raise SIGBUS, the same trade-off ripgrep makes for large files.
        match unsafe { memmap2::Mmap::map(&file) } {
            Ok(m) => {
                mmap = m;
                &mmap
            }
            Err(e) => {
                collector.skip(
                    display.clone(),
                    "unreadable",
                    format!("{display}: cannot map: {e}"),
                );
                return;
            }
        }
    } else {
        match read_sized(&mut file, buf, md.len() as usize) {
            Ok(n) => &buf[..n],
            Err(e) => {
                let kind = if e.kind() == std::io::ErrorKind::InvalidData {
                    "read-error"
                } else {
                    "unreadable"
                };
                collector.skip(display.clone(), kind, format!("{display}: {e}"));
                return;
            }
        }
    };
    let head = &bytes[..bytes.len().min(BINARY_PROBE)];
    match wide_text(head) {
        Ok(Some((enc, mark))) => {
            let mut reader = transcode::WideReader::new(&bytes[mark..], enc);
            scan_wide(&mut reader, enc, &display, &display, context, scanner, collector);
            collector.scanned(bytes.len() as u64);
            return;
        }
        Ok(None) => {}
        Err(why) if !opts.scan_binary => {
            collector.skip(display.clone(), "binary", format!("{display}: {why}"));
            return;
        }
        Err(_) => {}
    }
    if !opts.scan_binary && memchr::memchr(0, head).is_some() {
        collector.skip(
            display.clone(),
            "binary",
            format!("{display}: binary file (use --scan-binary)"),
        );
        return;
    }
    let origin = Origin::file(&display, context);
    let mut hits = Vec::new();
    let suppressed = scanner.scan_buffer(bytes, &origin, scratch, &mut hits);
    collector
        .suppressed_inline
        .fetch_add(suppressed as u64, std::sync::atomic::Ordering::Relaxed);
    collector.scanned(bytes.len() as u64);
    collector.add_hits(hits);
}

/// Whether a file whose first bytes are `head` is UTF-16 or UTF-32 text: the encoding and the
/// length of its byte-order mark; an error when it has a mark but is binary.
fn wide_text(head: &[u8]) -> Result<Option<(transcode::Wide, usize)>, String> {
    let Some((enc, mark)) = transcode::detect(head) else {
        return Ok(None);
    };
    // Keep the sample to whole units so a cut in the middle of one is not held against it.
    let sample = &head[mark..];
    let sample = &sample[..sample.len() / 4 * 4];
    if mark > 0 && !transcode::looks_like_text(enc, sample) {
        // Eight-bit text behind bytes that happen to look like a mark is scanned as it is;
        // anything else is binary, and the report says what the mark claimed.
        if !head.contains(&0) {
            return Ok(None);
        }
        return Err(format!(
            "starts with a {} byte-order mark but is not {} text: binary file (use --scan-binary)",
            enc.name(),
            enc.name()
        ));
    }
    Ok(Some((enc, mark)))
}

/// Scans wide text through its UTF-8 transcoding, a chunk at a time; says so when some of it
/// did not decode.
fn scan_wide(
    reader: &mut dyn Read,
    enc: transcode::Wide,
    display: &str,
    what: &str,
    context: Context,
    scanner: &Scanner,
    collector: &Collector,
) {
    let mut counting = Counting {
        inner: reader,
        invalid: 0,
    };
    let (_, end) = stream::scan_reader(&mut counting, display, context, scanner, collector, stream::CHUNK);
    if let stream::StreamEnd::Failed(e) = end {
        collector.skip(
            display.to_string(),
            "read-error",
            format!("{what}: read failed part-way: {e} (findings before that point are reported)"),
        );
    }
    if counting.invalid > 0 {
        collector.note(format!(
            "{what}: read as {}; {} character(s) that did not decode (an unpaired surrogate or a trailing odd byte) were replaced by U+FFFD",
            enc.name(),
            counting.invalid
        ));
    }
}

/// Counts the U+FFFD characters a transcoding reader produced (its own counters are out of
/// reach behind `dyn Read`).
struct Counting<'a> {
    inner: &'a mut dyn Read,
    invalid: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.invalid += memchr::memmem::find_iter(&buf[..n], "\u{FFFD}".as_bytes()).count() as u64;
        Ok(n)
    }
}

/// What a stream is, for the checks made on its first bytes.
#[derive(Clone, Copy)]
enum StreamKind {
    /// A file too big to hold whole; its size is known, and binary content is skipped as it is
    /// for any file.
    LargeFile,
    /// Standard input: whatever it is, the user piped it to us, so it is scanned even with NUL
    /// bytes (as it always was); only wide text is transcoded first.
    Stdin,
}

/// A file too big to hold whole: streamed in overlapping chunks (memory stays at one chunk),
/// after the same binary and encoding checks a small file gets, made on its first bytes.
fn scan_large_file(
    mut file: File,
    display: &str,
    context: Context,
    scanner: &Scanner,
    collector: &Collector,
) {
    scan_stream(
        &mut file,
        StreamKind::LargeFile,
        display,
        context,
        scanner,
        collector,
    );
}

/// Standard input, through the same encoding detection and transcoding as a file: a UTF-16
/// PowerShell transcript piped in is found like the same text saved to disk.
fn scan_stdin(scanner: &Scanner, collector: &Collector) {
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    scan_stream(
        &mut lock,
        StreamKind::Stdin,
        stream::STDIN_PATH,
        Context::Stdin,
        scanner,
        collector,
    );
}

/// Scans `input` in overlapping chunks after looking at its first bytes: wide text is
/// transcoded (with the line and column of the original), binary files are skipped.
fn scan_stream(
    input: &mut dyn Read,
    kind: StreamKind,
    display: &str,
    context: Context,
    scanner: &Scanner,
    collector: &Collector,
) {
    let what = match kind {
        StreamKind::LargeFile => display.to_string(),
        StreamKind::Stdin => "standard input".to_string(),
    };
    let mut head = vec![0u8; BINARY_PROBE];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                collector.skip(display.to_string(), "unreadable", format!("{what}: {e}"));
                return;
            }
        }
    }
    head.truncate(n);
    let skip_binary = matches!(kind, StreamKind::LargeFile) && !scanner.opts.scan_binary;
    match wide_text(&head) {
        Ok(Some((enc, mark))) => {
            let mut raw = Tally {
                inner: std::io::Cursor::new(head[mark..].to_vec()).chain(input),
                bytes: mark as u64,
            };
            let mut reader = transcode::WideReader::new(&mut raw, enc);
            scan_wide(&mut reader, enc, display, &what, context, scanner, collector);
            drop(reader);
            collector.scanned(raw.bytes);
            return;
        }
        Ok(None) => {}
        Err(why) if skip_binary => {
            collector.skip(display.to_string(), "binary", format!("{what}: {why}"));
            return;
        }
        Err(_) => {}
    }
    if skip_binary && memchr::memchr(0, &head).is_some() {
        collector.skip(
            display.to_string(),
            "binary",
            format!("{what}: binary file (use --scan-binary)"),
        );
        return;
    }
    let mut reader = std::io::Cursor::new(head).chain(input);
    let (n, end) = stream::scan_reader(&mut reader, display, context, scanner, collector, stream::CHUNK);
    collector.scanned(n);
    if let stream::StreamEnd::Failed(e) = end {
        collector.skip(
            display.to_string(),
            "read-error",
            format!("{what}: read failed after {n} bytes: {e} (findings before that point are reported)"),
        );
    }
}

/// Counts the raw bytes read through it: a stream's size is known only once it has been read.
struct Tally<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads `file`, whose `fstat` said `len` bytes, into the front of `buf` and returns how many
/// bytes it read. `buf` is reused from file to file and only ever grows, so neither an
/// allocation nor zero-filling nor `read_to_end`'s extra `fstat`/`lseek` is paid per file. A
/// file that grows while being read is read as far as its size at `fstat` (plus one byte).
fn read_sized(file: &mut File, buf: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
    if buf.len() < len + 1 {
        buf.resize(len + 1, 0);
    }
    let mut n = 0;
    while n <= len {
        match file.read(&mut buf[n..=len]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// How far a `.gz` may inflate relative to its compressed size before the rest is skipped:
/// text compresses 5-20 times, a gzip bomb a thousand.
const GZ_RATIO: u64 = 100;
/// Small archives may always inflate this far, whatever their ratio.
const GZ_FLOOR: u64 = 64 << 20;

fn gz_cap(compressed: u64) -> u64 {
    compressed.saturating_mul(GZ_RATIO).max(GZ_FLOOR)
}

/// A gzip-compressed log, decompressed as it streams, up to [`gz_cap`].
fn scan_gz_file(file: File, display: &str, scanner: &Scanner, collector: &Collector) {
    let context = if ci::is_ci_config(display) {
        Context::CiConfig
    } else {
        Context::Log
    };
    let gz = true;
    let compressed = file.metadata().map(|m| m.len()).unwrap_or(0);
    let cap = gz_cap(compressed);
    // Capped: a gzip bomb (a few MB inflating to many GB) would cost unbounded time.
    let mut reader = Read::take(
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file)),
        cap + 1,
    );
    let (n, end) = stream::scan_reader(&mut reader, display, context, scanner, collector, stream::CHUNK);
    collector.scanned(n.min(cap));
    if gz && n > cap {
        collector.skip(
            display.to_string(),
            "expansion-cap",
            format!(
                "{display}: inflates past {cap} bytes ({GZ_RATIO}x its {compressed} compressed bytes, \
                 a gzip bomb?); the rest is not scanned (findings before that point are reported)"
            ),
        );
    }
    if let stream::StreamEnd::Failed(e) = end {
        let what = if gz {
            "truncated or corrupt gzip"
        } else {
            "read failed"
        };
        collector.skip(
            display.to_string(),
            "read-error",
            format!("{display}: {what} after {n} bytes: {e} (findings before that point are reported)"),
        );
    }
}
