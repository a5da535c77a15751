//! Where a credential may be sent when the host came from scanned data (a JWT's `iss`): never
//! to an address in IANA's special-purpose registries, including the IPv6 forms that carry
//! the cloud metadata address (NAT64, IPv4-compatible, 6to4) and the IPv4 blocks the check
//! once let through.

use crate::common;

use common::fake_verify::{self as fv, verification, SimProc};
use common::scan_json;
use serde_json::json;

#[test]
fn token_derived_hosts_in_special_purpose_blocks_are_refused() {
    let (idp_pem, _) = fv::rsa_pem(7);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"idp\"\nkey_id = \"k1\"\nsecret = \"\"\"{idp_pem}\"\"\"\n"
    ));
    let now = chrono::Utc::now().timestamp();
    let hosts = [
        "[64:ff9b::a9fe:a9fe]",
        "[::a9fe:a9fe]",
        "[2002:a9fe:a9fe::1]",
        "[fec0::1]",
        "198.18.0.1",
        "240.0.0.1",
        "192.0.0.170",
    ];
    let tokens: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            fv::jwt_rs256(
                &idp_pem,
                json!({"iss": format!("https://{h}/"), "sub": format!("s{i}"), "exp": now + 3600}),
                None,
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let body: String = tokens
        .iter()
        .map(|t| format!("Authorization: Bearer {t}\n"))
        .collect();
    std::fs::write(dir.path().join("tokens.txt"), body).unwrap();
    let cfg = sim.config.to_string_lossy().into_owned();
    // Trusted as JWT issuers, so that what refuses them is the address check, not the trust list.
    let trusted: Vec<String> = hosts.iter().map(|h| format!("\"https://{h}/\"")).collect();
    let trust = dir.path().join("trust.toml");
    std::fs::write(
        &trust,
        format!("[verify]\njwt_issuers = [{}]\n", trusted.join(", ")),
    )
    .unwrap();
    let trust = trust.to_string_lossy().into_owned();
    let (code, report) = scan_json(
        dir.path(),
        &["--config", &cfg, "--config", &trust, "--verify", "."],
    );
    assert_eq!(code, 1, "{report:#}");
    for (h, t) in hosts.iter().zip(&tokens) {
        let v = verification(&report, "jwt.token", t);
        assert_eq!(v["verdict"], "indeterminate", "{h}: {v:#}");
        let reason = v["reason"].as_str().unwrap();
        assert!(
            reason.contains("refused") && reason.contains("non-public"),
            "{h}: {v:#}"
        );
    }
}
