//! A one-line progress display on stderr for long scans, only when stderr is a terminal.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::human::human_bytes;
use crate::scan::Collector;

pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing if `enabled`; the first draw waits a moment so quick scans print nothing.
    pub fn start(enabled: bool, collector: Arc<Collector>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = enabled.then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let mut drew = false;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(150));
                    if t0.elapsed() < Duration::from_millis(500) {
                        continue;
                    }
                    let files = collector.files.load(Ordering::Relaxed);
                    let bytes = collector.bytes.load(Ordering::Relaxed);
                    let rate = bytes as f64 / t0.elapsed().as_secs_f64();
                    eprint!(
                        "\r\x1b[2K{files} files, {}, {} findings, {}/s",
                        human_bytes(bytes),
                        collector.finding_count(),
                        human_bytes(rate as u64)
                    );
                    let _ = std::io::stderr().flush();
                    drew = true;
                }
                if drew {
                    eprint!("\r\x1b[2K");
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
