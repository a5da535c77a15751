//! Arguments and plumbing shared by every command that scans (`scan`, `git`).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::config::{AllowlistSection, Config, ScanSection};
use crate::report::{self, Format, ReportOptions};
use crate::rules::{Confidence, RuleSet};
use crate::scan::{ScanOptions, ScanOutcome, Scanner};
use crate::suppress::Baseline;

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Extra rules: a TOML file or a directory of them (our format or gitleaks'). Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Operator configuration file; repeatable, later files override earlier ones.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Skip files larger than this many bytes (logs and .gz are streamed whatever their size).
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Honour .gitignore and .ignore files (off by default: secrets hide in ignored .env files).
    #[arg(long)]
    pub respect_gitignore: bool,
    /// Scan binary files too.
    #[arg(long)]
    pub scan_binary: bool,
    /// Follow symbolic links.
    #[arg(long)]
    pub follow: bool,
    /// Report only findings at or above this confidence: low, medium or high.
    #[arg(long, value_name = "LEVEL")]
    pub min_confidence: Option<Confidence>,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// Report only findings whose fingerprint is not in this baseline file.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub store: crate::store::StoreArgs,
    #[command(flatten)]
    pub verify: super::verify::VerifyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "human")]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print secrets in full instead of redacted (they then reach the terminal or the file).
    #[arg(long)]
    pub show_secrets: bool,
    /// Colour: auto (terminal only), always or never.
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    pub color: String,
}

/// Everything a scanning command needs, built from flags and config.
pub struct Prepared {
    pub scanner: Arc<Scanner>,
    pub config: Config,
    pub warnings: Vec<String>,
}

impl CommonArgs {
    pub fn load_rules(&self, config: &Config) -> Result<RuleSet> {
        let mut set = RuleSet::builtin().context("loading built-in rules")?;
        let section: ScanSection = config.section("scan")?;
        for p in section.rules.iter().chain(&self.rules) {
            set.add_path(p)?;
        }
        Ok(set)
    }

    /// Loads config and rules and builds the scanner. `roots` are where `.quenchignore` files
    /// are looked for.
    pub fn prepare(&self, roots: &[String]) -> Result<Prepared> {
        let config = Config::load(&self.config)?;
        let rules = self.load_rules(&config)?;
        let scan: ScanSection = config.section("scan")?;
        let allow: AllowlistSection = config.section("allowlist")?;
        let mut opts = ScanOptions::default();
        opts.max_file_size = self
            .max_file_size
            .or(scan.max_file_size)
            .unwrap_or(opts.max_file_size);
        opts.respect_gitignore = self.respect_gitignore || scan.respect_gitignore.unwrap_or(false);
        opts.scan_binary = self.scan_binary || scan.scan_binary.unwrap_or(false);
        opts.follow_symlinks = self.follow || scan.follow_symlinks.unwrap_or(false);
        opts.threads = self.threads.or(scan.threads).unwrap_or(opts.threads).max(1);
        opts.decode_depth = scan.decode_depth.unwrap_or(opts.decode_depth);
        opts.min_confidence = match (self.min_confidence, &scan.min_confidence) {
            (Some(c), _) => c,
            (None, Some(s)) => s
                .parse()
                .map_err(anyhow::Error::msg)
                .context("[scan] min_confidence")?,
            (None, None) => Confidence::Low,
        };
        let mut globs = globset::GlobSetBuilder::new();
        for g in &allow.paths {
            globs.add(globset::Glob::new(g).with_context(|| format!("[allowlist] path glob {g:?}"))?);
        }
        opts.allow_paths = globs.build()?;
        let mut ignore: HashSet<String> = allow.fingerprints.iter().cloned().collect();
        ignore.extend(crate::suppress::ignores_for_roots(roots)?);
        opts.ignore_fingerprints = ignore;
        opts.progress = !self.no_progress && std::io::stderr().is_terminal();
        let warnings = rules.warnings.clone();
        let scanner = Scanner::new(rules, opts).map_err(anyhow::Error::msg)?;
        Ok(Prepared {
            scanner: Arc::new(scanner),
            config,
            warnings,
        })
    }

    /// Fingerprints never to verify: ignored ones and those in the baseline.
    pub fn skip_set(&self, prepared: &Prepared) -> Result<HashSet<String>> {
        let mut skip = prepared.scanner.opts.ignore_fingerprints.clone();
        if let Some(path) = &self.baseline {
            skip.extend(Baseline::read(path)?.fingerprints());
        }
        Ok(skip)
    }

    /// Applies the baseline (if any) to an outcome.
    pub fn apply_baseline(&self, outcome: &mut ScanOutcome) -> Result<()> {
        if let Some(path) = &self.baseline {
            let known = Baseline::read(path)?.fingerprints();
            let before = outcome.findings.len();
            outcome.findings.retain(|f| !known.contains(&f.fingerprint));
            outcome.summary.suppressed_baseline = (before - outcome.findings.len()) as u64;
            outcome.summary.findings = outcome.findings.len();
            outcome.summary.locations = outcome.findings.iter().map(|f| f.locations.len()).sum();
        }
        Ok(())
    }
}

impl OutputArgs {
    /// Writes the report and returns the exit status it implies.
    pub fn emit(&self, outcome: &mut ScanOutcome, command: &str) -> Result<i32> {
        let not_scanned = outcome.summary.not_scanned();
        if not_scanned > 0 && outcome.findings.is_empty() {
            outcome.summary.notes.push(format!(
                "{not_scanned} item(s) asked for could not be read (see the skipped list): \
                 nothing found in what was read, exit status 2"
            ));
        }
        let to_terminal = self.output.is_none() && std::io::stdout().is_terminal();
        let color = match self.color.as_str() {
            "always" => true,
            "never" => false,
            _ => to_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        let opts = ReportOptions {
            format: self.format,
            show_secrets: self.show_secrets,
            color,
            command: command.into(),
        };
        match &self.output {
            Some(path) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating report {}", path.display()))?,
                );
                report::write(&mut f, outcome, &opts)
                    .with_context(|| format!("writing report {}", path.display()))?;
                f.flush()?;
            }
            None => {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                if let Err(e) = report::write(&mut lock, outcome, &opts) {
                    // A closed pipe (`quench scan | head`) is not an error worth a message.
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        return Err(e).context("writing report to standard output");
                    }
                }
            }
        }
        Ok(if !outcome.findings.is_empty() {
            super::EXIT_FINDINGS
        } else if not_scanned > 0 {
            super::EXIT_ERROR
        } else {
            super::EXIT_CLEAN
        })
    }
}
