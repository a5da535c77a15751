//! The process's HTTP clients.
//!
//! Loading the system certificate store is the most expensive thing quench does outside
//! scanning: parsing the whole CA bundle, tens of milliseconds of CPU per TLS client. A scan
//! that verified and revoked used to build a client per component (verification, the revocation path's fresh
//! verification and its calls, webhooks, repository discovery), and `quench serve` built them all
//! again for every push. Here the TLS configuration is built once per process ([`tls`]) and one
//! `reqwest::Client` per configuration is shared by everything ([`issuers`], [`discovery`]);
//! what differs per call (the timeout, the user agent) is set on each request.
//!
//! A pooled connection belongs to the tokio runtime that opened it, and quench's runtimes are
//! short-lived (a verification service per scan, a current-thread runtime per revocation run):
//! a shared client whose pool held a connection of a runtime since dropped would hand it to the
//! next request, which then hangs until its timeout (reqwest issues #1148, #2501). So requests on
//! the shared clients are sent and read by [`fetch`] on one runtime that lives as long as the
//! process, whichever runtime awaits them; keep-alive connections then also serve later scans
//! and pushes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// What quench sends as its user agent (verification adds why it calls).
pub const USER_AGENT: &str = concat!("quench/", env!("CARGO_PKG_VERSION"));

/// Why no shared client could be built (the TLS library could not be set up).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot set up HTTPS: {0}")]
pub struct ClientError(String);

/// The TLS configuration every client uses, built once: the system certificate store is read
/// here and nowhere else. rustls with the ring provider, over the roots the system trusts
/// (read where OpenSSL would look, `SSL_CERT_FILE` and `SSL_CERT_DIR` included), so building
/// quench needs no OpenSSL headers and a static binary carries its TLS with it. A certificate the
/// store holds but rustls cannot parse is skipped; no usable root at all is an error naming why.
pub fn tls() -> Result<rustls::ClientConfig, ClientError> {
    static TLS: OnceLock<Result<rustls::ClientConfig, ClientError>> = OnceLock::new();
    TLS.get_or_init(build_tls).clone()
}

fn build_tls() -> Result<rustls::ClientConfig, ClientError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ClientError(format!(
            "no trusted root certificates found in the system store (install ca-certificates, or set SSL_CERT_FILE){}",
            if why.is_empty() { String::new() } else { format!(": {why}") }
        )));
    }
    config_over(roots)
}

/// The client configuration over `roots`: ring's TLS 1.2 and 1.3, no client certificate.
fn config_over(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, ClientError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 is what the clients speak (reqwest is built without HTTP/2).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client builder over the shared TLS configuration.
fn builder() -> Result<reqwest::ClientBuilder, ClientError> {
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls()?))
}

fn shared(
    cell: &'static OnceLock<Result<reqwest::Client, ClientError>>,
    configure: fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<&'static reqwest::Client, ClientError> {
    cell.get_or_init(|| {
        configure(builder()?)
            .build()
            .map_err(|e| ClientError(e.to_string()))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The client for anything that may carry a secret (verification, revocation) or goes to an
/// operator's webhook: redirects are never followed, so a `Location` cannot take the secret to
/// another host. Set the timeout on each request.
pub fn issuers() -> Result<&'static reqwest::Client, ClientError> {
    static CLIENT: OnceLock<Result<reqwest::Client, ClientError>> = OnceLock::new();
    shared(&CLIENT, |b| b.redirect(reqwest::redirect::Policy::none()))
}

/// The client for repository discovery (GitHub and GitLab listing APIs), which follows
/// redirects as reqwest does by default (it drops the token when one leaves the host).
pub fn discovery() -> Result<&'static reqwest::Client, ClientError> {
    static CLIENT: OnceLock<Result<reqwest::Client, ClientError>> = OnceLock::new();
    shared(&CLIENT, |b| b)
}

/// A client that connects to `host` only at `addrs` (addresses the egress guard checked), for
/// one request to a host taken from scanned data. Built per request, cheaply: it shares the
/// TLS configuration. No redirects, like [`issuers`].
pub fn pinned(host: &str, addrs: &[SocketAddr]) -> Result<reqwest::Client, ClientError> {
    builder()?
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(host, addrs)
        .build()
        .map_err(|e| ClientError(e.to_string()))
}

/// An answer read to its end (or to the body cap).
#[derive(Debug)]
pub struct Response {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// Why the body ended early (a timeout, a dropped connection), if it did: `body` holds what
    /// arrived. Whether a status without its whole body is an answer is the caller's call.
    pub body_error: Option<reqwest::Error>,
}

impl Response {
    /// A header's value as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `req` with a `timeout` covering connecting, sending and reading, and reads at most
/// `max_body` bytes of the answer's body, on the process's HTTP runtime (see the module
/// documentation). An error means no answer arrived; errors are reqwest's: classify them, and
/// never show their text, which names the URL, without `without_url`.
pub async fn fetch(
    req: reqwest::RequestBuilder,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, reqwest::Error> {
    run(async move {
        let mut resp = req.timeout(timeout).send().await?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        let mut body = Vec::new();
        let mut body_error = None;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
            if body.len() > max_body {
                body.truncate(max_body);
                break;
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            body_error,
        })
    })
    .await
}

/// The runtime HTTP exchanges run on, started on first use. `None` if no thread could be
/// started: requests then run on the caller's runtime, as they did before it existed.
fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("quench-http")
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `f` to completion on the HTTP runtime and returns its output. Dropping the returned
/// future (a caller's timeout, a cancelled job) aborts `f`.
async fn run<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    let Some(rt) = runtime() else { return f.await };
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(rt.spawn(f));
    match (&mut task.0).await {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => unreachable!("only dropping the task cancels it; the runtime is never shut down"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared TLS configuration is one reqwest accepts (a rustls version reqwest does not
    /// share would make every build fail), and each shared client is built once.
    #[test]
    fn shared_clients_build_once_over_one_tls_configuration() {
        let a = issuers().unwrap() as *const reqwest::Client;
        assert_eq!(a, issuers().unwrap() as *const _);
        assert_ne!(a, discovery().unwrap() as *const _);
        pinned("example.com", &["127.0.0.1:443".parse().unwrap()]).unwrap();
    }

    /// The TLS stack against a server we did not write: `openssl s_server` with a certificate
    /// `openssl req` made. Over roots holding that certificate the request is answered; over
    /// the system's roots, which do not, the handshake is refused.
    #[test]
    fn tls_talks_to_openssl_and_refuses_a_certificate_it_does_not_trust() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let at = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
        let (ca, cert, key) = (at("ca.pem"), at("cert.pem"), at("key.pem"));
        std::fs::write(
            at("leaf.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        // A test CA, and a certificate for localhost that it signs.
        for args in [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=quench test CA",
                "-keyout",
                &at("ca.key"),
                "-out",
                &ca,
            ][..],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &key,
                "-out",
                &at("leaf.csr"),
            ],
            &[
                "x509",
                "-req",
                "-in",
                &at("leaf.csr"),
                "-CA",
                &ca,
                "-CAkey",
                &at("ca.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &at("leaf.ext"),
                "-out",
                &cert,
            ],
        ] {
            let made = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl is needed by this test (.ci/run installs it)");
            assert!(
                made.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let _server = Kill(
            Command::new("openssl")
                .args(["s_server", "-quiet", "-www", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(&cert)
                .arg("-key")
                .arg(&key)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert!(up, "openssl s_server did not start");
        let get = |config: rustls::ClientConfig| {
            let client = reqwest::Client::builder()
                .use_preconfigured_tls(config)
                .resolve("localhost", addr)
                .build()
                .unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let r = client
                    .get(format!("https://localhost:{port}/"))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await?;
                let status = r.status();
                r.text().await.map(|body| (status, body))
            })
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&ca).unwrap()).unwrap();
        let (status, body) = get(config_over(roots).unwrap()).expect("a trusted certificate");
        assert_eq!(status, 200);
        // s_server -www answers with its session's description: the protocol rustls chose.
        assert!(body.contains("TLSv1.3") || body.contains("TLSv1.2"), "{body}");
        let refused = get(tls().unwrap()).expect_err("a certificate no system root signed");
        let chain = format!("{:?}", refused);
        assert!(
            chain.contains("UnknownIssuer") || chain.contains("certificate"),
            "{chain}"
        );
    }

    /// A connection a dropped runtime opened is not handed to a request of the next runtime:
    /// the second request, on a new runtime, gets its answer instead of hanging.
    #[test]
    fn requests_outlive_the_runtime_that_awaited_them() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            // One keep-alive connection answering every request on it.
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
        });
        let url = format!("http://{addr}/");
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let r = rt
                .block_on(fetch(
                    issuers().unwrap().get(&url),
                    Duration::from_secs(5),
                    1 << 10,
                ))
                .unwrap();
            assert_eq!((r.status.as_u16(), r.body.as_slice()), (200, &b"ok"[..]));
            drop(rt);
        }
    }
}
