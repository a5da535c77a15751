//! `quench scan`: files, directories and standard input.

use anyhow::Result;
use clap::Args;

use super::common::{CommonArgs, WalkArgs};
use super::progress::Progress;
use crate::pipeline;

#[derive(Args)]
pub struct ScanCmd {
    /// Files or directories to scan; `-` reads standard input. Default: the current directory.
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
    #[command(flatten)]
    walk: WalkArgs,
    /// For each candidate a filter dropped (a placeholder, a reference, a failed checksum…),
    /// say which filter and why: on stderr, and as `summary.dropped` in JSON.
    #[arg(long)]
    explain: bool,
    /// Draw progress even when stderr is not a terminal (plain lines for a log, ending with
    /// the total and time). On a terminal it is drawn anyway, unless `--no-progress`.
    #[arg(long, conflicts_with = "no_progress")]
    progress: bool,
    #[command(flatten)]
    common: CommonArgs,
}

impl ScanCmd {
    pub fn run(mut self) -> Result<i32> {
        self.common.walk = self.walk.clone();
        self.common.explain = self.explain;
        self.common.force_progress = self.progress;
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
        let opts = self.common.pipeline_options(&prepared, &paths, [])?;
        let scanner = &prepared.scanner;
        let mut ran = pipeline::run(&prepared.config, &opts, |collector| {
            let progress = Progress::start(scanner.opts.progress, collector.clone());
            crate::source::fs::scan_paths(&paths, scanner, collector);
            progress.finish();
            Ok(Vec::new())
        })?;
        super::common::explain_dropped(scanner, &mut ran.outcome);
        for note in &ran.after.notes {
            eprintln!("quench: {note}");
        }
        self.common.output.emit(&mut ran.outcome, "scan", &paths)
    }
}
