//! Fixtures for verification tests: a `quench simulate` child process, fake RSA keys, JWTs and
//! the token shapes the scanner's fakes do not cover. Every credential is generated here and
//! belongs to no one.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;

use super::fake::Gen;

/// A running `quench simulate`, killed on drop.
pub struct SimProc {
    child: Child,
    pub dir: tempfile::TempDir,
    /// The written `sim.toml`.
    pub config: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub record: PathBuf,
}

impl SimProc {
    pub fn start(keys_toml: &str) -> SimProc {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.toml");
        std::fs::write(&keys, keys_toml).unwrap();
        let config = dir.path().join("sim.toml");
        let record = dir.path().join("requests.jsonl");
        let child = super::quench()
            .args(["simulate", "--listen", "127.0.0.1:0", "--keys"])
            .arg(&keys)
            .arg("--write-config")
            .arg(&config)
            .arg("--record")
            .arg(&record)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn quench simulate");
        let mut sim = SimProc {
            child,
            dir,
            config: config.clone(),
            url: String::new(),
            record,
        };
        let t0 = Instant::now();
        while !config.exists() {
            if let Ok(Some(status)) = sim.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = sim.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("quench simulate exited ({status}): {err}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "simulator did not write its config"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&config).unwrap();
        let start = text.find("http://").unwrap();
        let rest = &text[start..];
        let end = rest[7..].find('/').unwrap() + 7;
        sim.url = rest[..end].to_string();
        sim
    }

    /// Sends a raw HTTP request to the simulator; returns (status, body).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        http(&self.url, method, path, headers, body)
    }

    /// The recorded requests.
    pub fn recorded(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Writes a second config file (e.g. `[verify]` settings) and returns its path.
    pub fn extra_config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A simulator on a thread of this process, for benches that need the moment the issuer revoked
/// each key (its state is shared memory here; a [`SimProc`]'s record names no key). Stopped on
/// drop.
pub struct SimThread {
    pub handle: quench::simulate::Handle,
    pub dir: tempfile::TempDir,
    /// The written config pointing every issuer at this simulator.
    pub config: PathBuf,
}

impl SimThread {
    pub fn start(keys_toml: &str) -> SimThread {
        let keys: quench::simulate::KeysFile = toml::from_str(keys_toml).expect("keys TOML");
        let sim = quench::simulate::Sim::new(keys, None, None).expect("simulator state");
        let handle = quench::simulate::start("127.0.0.1:0", sim).expect("start simulator");
        let registry = quench::verify::Registry::load(&quench::config::Config::load(&[]).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sim.toml");
        std::fs::write(&config, quench::simulate::config_for(handle.addr, &registry)).unwrap();
        SimThread { handle, dir, config }
    }
}

/// A minimal HTTP/1.1 client over a TcpStream (the tests need nothing more).
pub fn http(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let (status, resp) = exchange(base, method, path, headers, body);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// [`http`] without headers, returning the whole response (status line and headers too).
pub fn http_raw(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    exchange(base, method, path, &[], body)
}

fn exchange(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

/// A loopback listener that counts connections (to prove nothing was sent to it).
pub struct Trap {
    pub addr: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Trap {
    pub fn start() -> Trap {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(c);
            }
        });
        Trap { addr, hits }
    }
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A fresh RSA private key as PKCS#1 PEM (`RSA PRIVATE KEY`) and PKCS#8 PEM (`PRIVATE KEY`).
/// 1024 bits keeps the tests quick; the simulator does not care.
pub fn rsa_pem(seed: u64) -> (String, String) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let p1 = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap().to_string();
    let p8 = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
    (p1, p8)
}

/// An RS256 JWT signed with `pem`.
pub fn jwt_rs256(pem: &str, claims: serde_json::Value, kid: Option<&str>) -> String {
    let key = quench::verify::jwt::private_key_from_pem(pem).unwrap();
    quench::verify::jwt::sign_rs256(&key, &claims, kid)
}

/// An HS256-shaped JWT (signature bytes are random: nobody can check them without the secret).
pub fn jwt_hs256(g: &mut Gen, claims: serde_json::Value) -> String {
    use base64::Engine as _;
    let e = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        e(&serde_json::json!({"alg": "HS256", "typ": "JWT"})),
        e(&claims),
        g.alnum(43)
    )
}

pub fn doppler_personal(g: &mut Gen) -> String {
    format!("dp.pt.{}", g.alnum(43))
}

pub fn vault_service(g: &mut Gen) -> String {
    format!("hvs.{}", g.alnum(95))
}

pub fn google_access_token(g: &mut Gen) -> String {
    format!("ya29.{}", g.alnum(60))
}

pub fn uuid(g: &mut Gen) -> String {
    let h = g.hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An Entra client secret: three characters, a digit, `Q~`, 34 more.
pub fn entra_secret(g: &mut Gen) -> String {
    format!("{}7Q~{}", g.alnum(3), g.alnum(34))
}

/// The verification object of the finding for `secret` under `rule` in a JSON report.
pub fn verification<'a>(report: &'a serde_json::Value, rule: &str, secret: &str) -> &'a serde_json::Value {
    let fp = super::fingerprint(rule, secret.as_bytes());
    let f = report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["fingerprint"] == fp.as_str()))
        .unwrap_or_else(|| panic!("no finding for rule {rule} in report: {report:#}"));
    &f["verification"]
}
