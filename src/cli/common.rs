//! Flags shared by every command that scans (`scan`, `git`, `sweep`, `baseline`), and their
//! translation into the library's plain options: the pipeline's [`pipeline::Options`], the
//! store's [`StoreOptions`], the scanner's [`ScanOptions`].

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::config::{AllowlistSection, Config, ScanSection};
use crate::pipeline::{self, VerifyOptions};
use crate::report::{self, Format, ReportOptions};
use crate::revoke::Request;
use crate::rules::{Confidence, RuleSet};
use crate::scan::{ScanOptions, ScanOutcome, Scanner};
use crate::store::StoreOptions;
use crate::suppress::Baseline;

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Extra rules: a TOML file or a directory of them (our format or gitleaks'). Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Operator configuration file; repeatable, later files override earlier ones.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Skip files larger than this many bytes (default: no cap; big files are streamed).
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Scan binary files too.
    #[arg(long)]
    pub scan_binary: bool,
    /// How a directory walk chooses files: set by `scan` only (`git` reads objects, not a
    /// walk, so it does not offer these flags).
    #[arg(skip)]
    pub walk: WalkArgs,
    /// Say why each dropped candidate was dropped: set by `scan` and `git` only (`--explain`).
    #[arg(skip)]
    pub explain: bool,
    /// Draw progress even when stderr is not a terminal: set by `scan` and `git` only
    /// (`--progress`).
    #[arg(skip)]
    pub force_progress: bool,
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
    pub store: StoreFlags,
    #[command(flatten)]
    pub verify: VerifyArgs,
}

/// Flags for walking directories, which only `quench scan` does.
#[derive(Args, Debug, Clone, Default)]
pub struct WalkArgs {
    /// Honour .gitignore and .ignore files (off by default: secrets hide in ignored .env files).
    #[arg(long)]
    pub respect_gitignore: bool,
    /// Walk build outputs and dependency directories too (target, node_modules, .venv, venv,
    /// __pycache__, .tox, .mypy_cache, .pytest_cache, .gradle, .next, dist), skipped by default
    /// and counted as `build-output` in the summary.
    #[arg(long)]
    pub include_build_dirs: bool,
    /// Follow symbolic links.
    #[arg(long)]
    pub follow: bool,
}

/// Flags that choose and enable the store.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreFlags {
    /// Record findings, verdicts and timelines in the store (also `[store] enabled = true`);
    /// `--store postgres://…` or `--store sqlite:PATH` records into that database instead of the
    /// data directory's SQLite file (also `QUENCH_STORE_URL`, `[store] url`).
    #[arg(
        long,
        value_name = "URL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub store: Option<String>,
    /// Revoke live findings under the `[revoke]` policy, as if it said `mode = "auto"` where it
    /// says nothing (implies --store). Without it a policy only says what it would revoke.
    #[arg(long)]
    pub revoke: bool,
    /// The store's data directory (default: `$XDG_DATA_HOME/quench`); implies --store.
    #[arg(long, value_name = "DIR", env = "QUENCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl StoreFlags {
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            record: self.store.is_some() || self.revoke || self.data_dir.is_some(),
            data_dir: self.data_dir.clone(),
            url: store_url(self.store.as_deref()),
        }
    }

    /// What `--revoke` asks of the policy; without it a policy only previews.
    pub fn request(&self) -> Request {
        if self.revoke {
            Request::Asked
        } else {
            Request::Preview
        }
    }
}

/// Environment variable naming the store's URL when no `--store URL` does.
pub const STORE_URL_ENV: &str = "QUENCH_STORE_URL";

/// The store URL a command was given: `--store URL`, else `QUENCH_STORE_URL`; `None` leaves
/// the choice to `[store] url` and then the data directory.
pub fn store_url(flag: Option<&str>) -> Option<String> {
    flag.filter(|u| !u.is_empty())
        .map(String::from)
        .or_else(|| std::env::var(STORE_URL_ENV).ok().filter(|u| !u.is_empty()))
}

/// Whether `arg` is a store URL, as written after `--store`.
fn is_store_url(arg: &std::ffi::OsStr) -> bool {
    let a = arg.to_string_lossy();
    ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|p| a.starts_with(p))
}

/// Joins `--store URL` into `--store=URL`. On the scanning commands `--store` alone means
/// "record", so the flag takes its value only with `=` (else `quench scan --store .` would read
/// the path as a URL); a following argument that is plainly a store URL is the flag's value.
pub fn join_store_urls(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(a) = args.next() {
        if a == "--" {
            out.push(a);
            out.extend(args);
            break;
        }
        if a == "--store" && args.peek().is_some_and(|n| is_store_url(n)) {
            let mut joined = std::ffi::OsString::from("--store=");
            joined.push(args.next().expect("peeked"));
            out.push(joined);
        } else {
            out.push(a);
        }
    }
    out
}

/// `--verify` and its tuning.
#[derive(Args, Debug, Clone, Default)]
pub struct VerifyArgs {
    /// Ask each finding's issuer whether the secret is live (only ever its own configured hosts;
    /// see `quench issuers`).
    #[arg(long)]
    pub verify: bool,
    /// Seconds to wait for one issuer answer (default 10, or [verify] timeout_secs).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub verify_timeout: Option<std::time::Duration>,
    #[command(flatten)]
    pub access: AccessArgs,
}

impl VerifyArgs {
    pub fn options(&self) -> Option<VerifyOptions> {
        (self.verify || self.access.access).then_some(VerifyOptions {
            timeout: self.verify_timeout,
        })
    }
}

/// `--access`: enumerate what each live key can reach (implies `--verify`).
#[derive(Args, Debug, Clone, Default)]
pub struct AccessArgs {
    /// Ask each live key's issuer, with read-only calls, what it can reach (orgs, projects,
    /// repositories, channels, capabilities); implies --verify.
    #[arg(long)]
    pub access: bool,
    /// Most pages read per listing with --access.
    #[arg(long, value_name = "N")]
    pub access_max_pages: Option<u32>,
    /// Seconds one key's enumeration may take with --access (default 60).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub access_timeout: Option<std::time::Duration>,
}

impl AccessArgs {
    pub fn limits(&self) -> Option<crate::access::Limits> {
        let d = crate::access::Limits::default();
        self.access.then(|| crate::access::Limits {
            max_pages: self.access_max_pages.unwrap_or(d.max_pages).max(1),
            budget: self.access_timeout.unwrap_or(d.budget),
            ..d
        })
    }
}

/// A positive, finite number of seconds.
pub fn parse_seconds(s: &str) -> std::result::Result<std::time::Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v > 0.0 && v.is_finite() && v <= 86_400.0) {
        return Err(format!(
            "{s:?}: expected a positive number of seconds, at most 86400"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

/// The report formats by name, for clap (the library's [`Format`] knows nothing of clap).
pub fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Format::ALL.iter().map(|f| f.name()))
        .map(|s| s.parse::<Format>().expect("only listed names reach here"))
}

/// `--fail-on` levels by name, for clap.
pub fn fail_on_parser() -> impl clap::builder::TypedValueParser<Value = crate::report::FailOn> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(crate::report::FailOn::ALL.iter().map(|f| f.as_str()))
        .map(|s| crate::report::FailOn::parse(&s).expect("only listed names reach here"))
}

/// Finding statuses by name, for clap.
pub fn status_parser() -> impl clap::builder::TypedValueParser<Value = crate::store::Status> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(crate::store::Status::ALL.iter().map(|s| s.as_str()))
        .map(|s| crate::store::Status::parse(&s).expect("only listed names reach here"))
}

/// Built-in rules, then those named in `[scan] rules`, then `--rules` paths.
pub fn load_rules(config: &Config, extra: &[PathBuf]) -> Result<RuleSet> {
    let mut set = RuleSet::builtin().context("loading built-in rules")?;
    let section: ScanSection = config.section("scan")?;
    for p in section.rules.iter().chain(extra) {
        set.add_path(p)?;
    }
    Ok(set)
}

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, short = 'f', value_parser = format_parser(), default_value = "human")]
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
    /// Which findings make the exit status 1: any (every finding), live (all but those the
    /// issuer confirmed dead), verified (only those it confirmed live). live and verified need
    /// --verify. Every finding is reported whatever this says.
    #[arg(long, value_parser = fail_on_parser(), value_name = "WHICH", default_value = "any")]
    pub fail_on: crate::report::FailOn,
}

/// Everything a scanning command needs, built from flags and config.
pub struct Prepared {
    pub scanner: Arc<Scanner>,
    pub config: Config,
    pub warnings: Vec<String>,
}

/// `--explain`: moves what the scanner dropped into the report's summary (`summary.dropped`)
/// and prints it on stderr, one line per candidate: place, rule, redacted preview, filter and
/// reason. Does nothing when the scanner was not explaining.
pub fn explain_dropped(scanner: &Scanner, outcome: &mut ScanOutcome) {
    if !scanner.opts.explain {
        return;
    }
    let (dropped, more) = scanner.take_explained();
    if dropped.is_empty() {
        eprintln!("quench: explain: no candidate was dropped by a filter");
    }
    for d in &dropped {
        eprintln!(
            "quench: explain: {}:{}:{}: {} {} dropped by the {} filter: {}",
            d.path, d.line, d.column, d.rule_id, d.preview, d.filter, d.reason
        );
    }
    if more > 0 {
        let note = format!(
            "explain: {more} more dropped candidate(s) not listed (the first {} are)",
            crate::scan::MAX_EXPLAINED
        );
        eprintln!("quench: {note}");
        outcome.summary.notes.push(note);
    }
    outcome.summary.dropped = dropped;
}

impl CommonArgs {
    pub fn load_rules(&self, config: &Config) -> Result<RuleSet> {
        load_rules(config, &self.rules)
    }

    /// Loads config and rules and builds the scanner. `roots` are where `.quenchignore` files
    /// are looked for.
    pub fn prepare(&self, roots: &[String]) -> Result<Prepared> {
        Ok(self.prepare_alongside(|| Ok(((), roots.to_vec())))?.1)
    }

    /// [`CommonArgs::prepare`], with `open` — which finds the roots whose ignore files apply, a
    /// repository opening for instance — run on this thread while the rules load and the engine
    /// is built on another. Those two are most of a pre-commit hook's start-up, and libgit2's
    /// start (its TLS set-up) most of the rest; side by side they cost the longer of the two.
    pub fn prepare_alongside<T>(
        &self,
        open: impl FnOnce() -> Result<(T, Vec<String>)>,
    ) -> Result<(T, Prepared)> {
        if self.output.format == Format::Html && self.output.show_secrets {
            anyhow::bail!("-f html never shows secrets (a page is mailed and printed): drop --show-secrets");
        }
        if self.output.fail_on != report::FailOn::Any && !self.verify.verify {
            anyhow::bail!(
                "--fail-on {} grades findings by their verification verdict: add --verify",
                self.output.fail_on.as_str()
            );
        }
        let config = Config::load(&self.config)?;
        let scan: ScanSection = config.section("scan")?;
        let allow: AllowlistSection = config.section("allowlist")?;
        let mut opts = ScanOptions::default();
        opts.max_file_size = self
            .max_file_size
            .or(scan.max_file_size)
            .unwrap_or(opts.max_file_size);
        opts.respect_gitignore = self.walk.respect_gitignore || scan.respect_gitignore.unwrap_or(false);
        opts.scan_binary = self.scan_binary || scan.scan_binary.unwrap_or(false);
        opts.scan_build_dirs = self.walk.include_build_dirs;
        opts.follow_symlinks = self.walk.follow || scan.follow_symlinks.unwrap_or(false);
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
        opts.progress = !self.no_progress && (self.force_progress || std::io::stderr().is_terminal());
        opts.explain = self.explain;
        let (opened, built) = std::thread::scope(|s| {
            let config = &config;
            let opts = opts.clone();
            let built = s.spawn(move || -> Result<(Scanner, Vec<String>)> {
                let rules = self.load_rules(config)?;
                let warnings = rules.warnings.clone();
                Ok((Scanner::new(rules, opts).map_err(anyhow::Error::msg)?, warnings))
            });
            let opened = open();
            let built = built
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("building the scanner failed (a panic)")));
            (opened, built)
        });
        let (opened, roots) = opened?;
        let (mut scanner, warnings) = built?;
        let mut globs = globset::GlobSetBuilder::new();
        for g in &allow.paths {
            globs.add(globset::Glob::new(g).with_context(|| format!("[allowlist] path glob {g:?}"))?);
        }
        let ignores = crate::suppress::ignores_for_roots(&roots)?;
        for g in &ignores.path_globs {
            globs.add(globset::Glob::new(g).with_context(|| format!(".quenchignore path glob {g:?}"))?);
        }
        scanner.opts.allow_paths = globs.build()?;
        let mut ignore: HashSet<String> = allow.fingerprints.iter().cloned().collect();
        ignore.extend(ignores.fingerprints);
        scanner.opts.ignore_fingerprints = ignore;
        Ok((
            opened,
            Prepared {
                scanner: Arc::new(scanner),
                config,
                warnings,
            },
        ))
    }

    /// The pipeline's options for a scan of `roots`. `ignored`: fingerprints the source itself
    /// ignores (a repository's committed `.quenchignore`), besides the config's and the roots'.
    pub fn pipeline_options(
        &self,
        prepared: &Prepared,
        roots: &[String],
        ignored: impl IntoIterator<Item = String>,
    ) -> Result<pipeline::Options> {
        let mut ignore = prepared.scanner.opts.ignore_fingerprints.clone();
        ignore.extend(ignored);
        let baseline = match &self.baseline {
            Some(path) => Baseline::read(path)?.fingerprints().into_iter().collect(),
            None => HashSet::new(),
        };
        Ok(pipeline::Options {
            roots: roots.to_vec(),
            store: Some(self.store.options()),
            revoke: self.store.request(),
            verify: self.verify.options(),
            access: self.verify.access.limits(),
            ignore,
            baseline,
            // Cheap: the engine's own Arcs, no second load of the rules.
            service_rules: (0..prepared.scanner.engine.rule_count())
                .map(|i| prepared.scanner.engine.rule(i).clone())
                .collect(),
        })
    }
}

impl OutputArgs {
    /// Writes the report and returns the exit status it implies. `roots`: what was scanned.
    pub fn emit(&self, outcome: &mut ScanOutcome, command: &str, roots: &[String]) -> Result<i32> {
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
            roots: roots.to_vec(),
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
        let failing = outcome.findings.iter().filter(|f| self.fail_on.fails(f)).count();
        if failing < outcome.findings.len() {
            eprintln!(
                "quench: {failing} of {} finding(s) fail the run (--fail-on {})",
                outcome.findings.len(),
                self.fail_on.as_str()
            );
        }
        Ok(if failing > 0 {
            super::EXIT_FINDINGS
        } else if not_scanned > 0 {
            super::EXIT_ERROR
        } else {
            super::EXIT_CLEAN
        })
    }
}

#[cfg(test)]
mod store_url_tests {
    use super::join_store_urls;

    fn join(args: &[&str]) -> Vec<String> {
        join_store_urls(args.iter().map(std::ffi::OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn a_url_after_store_is_its_value_and_a_path_is_not() {
        assert_eq!(
            join(&["quench", "scan", "--store", "postgres://h/db", "."]),
            ["quench", "scan", "--store=postgres://h/db", "."]
        );
        assert_eq!(
            join(&["quench", "scan", "--store", "sqlite:x.db"]),
            ["quench", "scan", "--store=sqlite:x.db"]
        );
        assert_eq!(
            join(&["quench", "scan", "--store", "."]),
            ["quench", "scan", "--store", "."]
        );
        assert_eq!(
            join(&["quench", "scan", "--", "--store", "postgres://h/db"]),
            ["quench", "scan", "--", "--store", "postgres://h/db"]
        );
    }
}
