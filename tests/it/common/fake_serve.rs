//! Fixtures for the service and sweep tests: git repositories built with the `git` CLI in temp
//! dirs, a running `quench serve` whose log lines the test can wait for, and a tiny HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use super::fake_git::git_in as git;

/// A work tree and the bare repository it pushes to.
pub struct Remote {
    pub work: PathBuf,
    pub bare: PathBuf,
}

impl Remote {
    pub fn new(root: &Path, name: &str) -> Remote {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        std::fs::create_dir_all(&work).unwrap();
        git(root, &["init", "--bare", "-q", bare.to_str().unwrap()]);
        git(&work, &["init", "-q"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Remote { work, bare }
    }

    /// Writes `files`, commits and pushes `main`; returns the new commit id.
    pub fn commit_push(&self, files: &[(&str, &str)], msg: &str) -> String {
        let id = commit(&self.work, files, msg);
        self.push(&id);
        id
    }

    /// Pushes commit `id` of the work tree (committed earlier, perhaps with more after it) to
    /// the remote's `main`, as a developer's `git push` would.
    pub fn push(&self, id: &str) {
        git(
            &self.work,
            &["push", "-q", "origin", &format!("{id}:refs/heads/main")],
        );
    }
}

/// Starts a `quench serve` that records findings in its store and revokes live keys under an
/// `auto` policy at the issuers `sim_config` points to (a simulator's written config): the setup
/// the push-to-revoke test and bench share. Remotes under `root` may be fetched, the data
/// directory is `root/data`, GitHub deliveries are signed with `secret`; `workers` overrides the
/// service's default pool and `extra` is appended to the policy file (TOML).
pub fn start_revoking(
    root: &Path,
    sim_config: &Path,
    workers: Option<usize>,
    extra: &str,
    secret: &str,
) -> Server {
    start_revoking_with(root, sim_config, workers, extra, secret, &[], &[])
}

/// [`start_revoking`] with more `quench serve` flags and environment (`--data-dir`, `--store`).
pub fn start_revoking_with(
    root: &Path,
    sim_config: &Path,
    workers: Option<usize>,
    extra: &str,
    secret: &str,
    more: &[&str],
    env: &[(&str, &str)],
) -> Server {
    let cfg = root.join("quench.toml");
    let mut serve = format!(
        "[serve]\ndata_dir = {:?}\nallow_remotes = [{:?}]\n",
        root.join("data").to_str().unwrap(),
        format!("{}/**", root.to_str().unwrap())
    );
    if let Some(n) = workers {
        serve.push_str(&format!("workers = {n}\n"));
    }
    std::fs::write(&cfg, serve).unwrap();
    let policy = root.join("policy.toml");
    std::fs::write(
        &policy,
        format!("[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\n{extra}"),
    )
    .unwrap();
    let args = [cfg.as_path(), sim_config, policy.as_path()].map(|p| p.to_str().unwrap().to_string());
    let mut argv = vec!["--config", &args[0], "--config", &args[1], "--config", &args[2]];
    argv.extend_from_slice(more);
    let mut vars = vec![("QUENCH_GITHUB_WEBHOOK_SECRET", secret)];
    vars.extend_from_slice(env);
    Server::start(&argv, &vars)
}

/// Writes `files` in the work tree `dir` and commits them; returns the commit id.
pub fn commit(dir: &Path, files: &[(&str, &str)], msg: &str) -> String {
    for (p, text) in files {
        let path = dir.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}

pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// A GitHub push payload for a repository on disk.
pub fn github_push(remote: &Path, before: &str, after: &str) -> String {
    serde_json::json!({
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "forced": false,
        "repository": { "full_name": "acme/app", "clone_url": remote.to_str().unwrap() },
    })
    .to_string()
}

/// A running `quench serve`, killed on drop, with its log lines collected as they arrive.
pub struct Server {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `quench serve --listen 127.0.0.1:0 ARGS…` with `env`, and waits for its address.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut c = super::quench();
        c.arg("serve").args(["--listen", "127.0.0.1:0"]).args(args);
        c.env_remove("QUENCH_GITHUB_WEBHOOK_SECRET")
            .env_remove("QUENCH_GITLAB_WEBHOOK_TOKEN");
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn quench serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut s = Server {
            child,
            addr: String::new(),
            log,
        };
        let line = s.wait_for("listening on ");
        s.addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_string();
        s
    }

    /// Waits (up to a generous bound, so a broken build fails instead of hanging) for a log line
    /// containing `needle`, and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(l) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "quench serve exited ({status}) before logging {needle:?}:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no log line {needle:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        http(&self.addr, "POST", path, headers, body)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(&self.addr, "GET", path, &[], b"")
    }

    /// Delivers a GitHub event signed with `secret`.
    pub fn github(&self, secret: &str, event: &str, delivery: &str, body: &str) -> (u16, String) {
        let sig = quench::server::auth::github_sign(secret.as_bytes(), body.as_bytes());
        self.post(
            "/hooks/github",
            &[
                ("X-GitHub-Event", event),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", &sig),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    /// The value of a metric line (`name{labels}` exactly as rendered).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request over loopback; returns (status, body).
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to quench serve");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (413) before reading all of a large body and close the connection.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
