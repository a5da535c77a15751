//! A progress display on stderr for long scans: drawn in place on a terminal, or (with
//! `--progress` when stderr is not one) written as plain lines a CI log keeps. When the source
//! knows its total (files once a counting walk ends, commits once the history is planned) it is
//! a bar with the count, percentage and an ETA; before that, counts and rate.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::human::human_bytes;
use crate::scan::Collector;

/// What one frame shows: read from the collector, so the rendering is a pure function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub files: u64,
    pub bytes: u64,
    pub findings: usize,
    /// (unit, done, total) when the source knows its total.
    pub work: Option<(&'static str, u64, u64)>,
    pub elapsed: Duration,
}

impl Frame {
    fn of(collector: &Collector, elapsed: Duration) -> Frame {
        Frame {
            files: collector.files.load(Ordering::Relaxed),
            bytes: collector.bytes.load(Ordering::Relaxed),
            findings: collector.finding_count(),
            work: collector.work.known(),
            elapsed,
        }
    }
}

/// Width of the bar between its brackets.
const BAR: usize = 24;

/// One line of progress, without control characters. With a known total:
/// `[=========>              ] 412/1000 files 41% · 3.2 MiB · 2 findings · ETA 0:14`; without:
/// `412 files, 3.2 MiB, 2 findings, 1.1 MiB/s`.
pub fn render(f: &Frame) -> String {
    let secs = f.elapsed.as_secs_f64().max(1e-3);
    let Some((unit, done, total)) = f.work.filter(|&(_, _, t)| t > 0) else {
        return format!(
            "{} files, {}, {} findings, {}/s",
            f.files,
            human_bytes(f.bytes),
            f.findings,
            human_bytes((f.bytes as f64 / secs) as u64)
        );
    };
    let done = done.min(total);
    let fraction = done as f64 / total as f64;
    let filled = ((fraction * BAR as f64) as usize).min(BAR);
    let mut bar = "=".repeat(filled);
    if filled < BAR {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR - filled - 1));
    }
    let eta = if done == total {
        "done".to_string()
    } else if done == 0 {
        "ETA --:--".to_string()
    } else {
        let left = secs * (total - done) as f64 / done as f64;
        format!("ETA {}", clock(left))
    };
    format!(
        "[{bar}] {done}/{total} {unit} {:.0}% · {} · {} findings · {eta}",
        fraction * 100.0,
        human_bytes(f.bytes),
        f.findings
    )
}

/// `m:ss`, or `h:mm:ss` past an hour.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// How often a frame is drawn in place on a terminal, and how often a plain line is written to a
/// log (a CI log should not get one every 150 ms).
const TTY_EVERY: Duration = Duration::from_millis(150);
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    /// Starts drawing if `enabled` (a terminal, or `--progress`); the first frame waits a moment
    /// so quick scans draw nothing on a terminal. Written to a log instead, it ends with one
    /// final line, so the total and time are always on record.
    pub fn start(enabled: bool, collector: Arc<Collector>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let tty = std::io::stderr().is_terminal();
        let handle = enabled.then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let mut drew = false;
                let mut last_line = t0;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    let now = Instant::now();
                    if tty {
                        if t0.elapsed() < Duration::from_millis(500) || now - last_line < TTY_EVERY {
                            continue;
                        }
                        eprint!("\r\x1b[2K{}", render(&Frame::of(&collector, t0.elapsed())));
                        let _ = std::io::stderr().flush();
                        drew = true;
                    } else if now - last_line >= LOG_EVERY {
                        eprintln!(
                            "quench: progress: {}",
                            render(&Frame::of(&collector, t0.elapsed()))
                        );
                    } else {
                        continue;
                    }
                    last_line = now;
                }
                if tty && drew {
                    eprint!("\r\x1b[2K");
                } else if !tty {
                    eprintln!(
                        "quench: progress: {}",
                        render(&Frame::of(&collector, t0.elapsed()))
                    );
                }
            })
        });
        Progress { stop, handle }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(work: Option<(&'static str, u64, u64)>, secs: u64) -> Frame {
        Frame {
            files: 412,
            bytes: 3 << 20,
            findings: 2,
            work,
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_known_total_draws_a_bar_with_count_percentage_and_eta() {
        // 250 of 1000 commits in 10 s: 750 left at the same pace is 30 s.
        let line = render(&frame(Some(("commits", 250, 1000)), 10));
        assert!(
            line.starts_with("[======>                 ] 250/1000 commits 25% · "),
            "{line}"
        );
        assert!(line.ends_with(" · 2 findings · ETA 0:30"), "{line}");
        assert!(line.contains(&human_bytes(3 << 20)), "{line}");
        // Past an hour the ETA has hours.
        let slow = render(&frame(Some(("files", 1, 1000)), 10));
        assert!(slow.ends_with("ETA 2:46:30"), "{slow}");
    }

    #[test]
    fn the_ends_of_the_bar() {
        let start = render(&frame(Some(("files", 0, 10)), 1));
        assert!(
            start.starts_with("[>                       ] 0/10 files 0%"),
            "{start}"
        );
        assert!(start.ends_with("ETA --:--"), "{start}");
        let end = render(&frame(Some(("files", 10, 10)), 1));
        assert!(
            end.starts_with(&format!("[{}] 10/10 files 100%", "=".repeat(BAR))),
            "{end}"
        );
        assert!(end.ends_with("done"), "{end}");
        // A count past the total (files added during the walk) is shown at the total.
        assert!(render(&frame(Some(("files", 12, 10)), 1)).contains("10/10 files 100%"));
    }

    #[test]
    fn without_a_total_it_shows_counts_and_rate() {
        for work in [None, Some(("files", 5, 0))] {
            let line = render(&frame(work, 3));
            assert_eq!(
                line,
                format!(
                    "412 files, {}, 2 findings, {}/s",
                    human_bytes(3 << 20),
                    human_bytes(1 << 20)
                )
            );
        }
        assert!(!render(&frame(None, 3)).contains('\x1b'));
    }
}
