//! `quench scan`: files, directories and standard input.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use super::common::CommonArgs;
use super::progress::Progress;
use crate::scan::Collector;

#[derive(Args)]
pub struct ScanCmd {
    /// Files or directories to scan; `-` reads standard input. Default: the current directory.
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

impl ScanCmd {
    pub fn run(self) -> Result<i32> {
        let t0 = Instant::now();
        let paths = if self.paths.is_empty() {
            vec![".".to_string()]
        } else {
            self.paths.clone()
        };
        for p in &paths {
            if p != "-" {
                std::fs::symlink_metadata(p).map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
            }
        }
        let prepared = self.common.prepare(&paths)?;
        for w in &prepared.warnings {
            eprintln!("quench: warning: {w}");
        }
        let collector = Arc::new(Collector::new());
        // With verification and a policy that may revoke, each live verdict goes on to its
        // revocation at once instead of after the whole scan.
        let live = crate::revoke::live::Live::start(
            &self.common.store,
            &prepared.config,
            &paths,
            self.common.verify.verify,
        )?;
        let verifying = self.common.verify.begin(
            &prepared.config,
            &collector,
            self.common.skip_set(&prepared)?,
            live.as_ref().map(|l| l.tap()),
        )?;
        let progress = Progress::start(prepared.scanner.opts.progress, collector.clone());
        crate::source::fs::scan_paths(&paths, &prepared.scanner, &collector);
        progress.finish();
        let mut outcome = collector.finish(&prepared.scanner.opts.ignore_fingerprints);
        self.common.apply_baseline(&mut outcome)?;
        if let Some(v) = verifying {
            v.finish(&mut outcome);
        }
        let live = live.map(|l| l.finish()).transpose()?;
        outcome.summary.duration_ms = t0.elapsed().as_millis() as u64;
        for note in crate::revoke::after_scan_with(
            &self.common.store,
            &prepared.config,
            &paths,
            &outcome.findings,
            &[],
            live,
        )?
        .notes
        {
            eprintln!("quench: {note}");
        }
        self.common.output.emit(&mut outcome, "scan")
    }
}
