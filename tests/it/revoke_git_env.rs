//! `quench git --verify --revoke` verifies during the history walk and revokes live keys; an
//! AWS key id and its secret in a `.env` file (`KEY=value`) make one finding verified live.

use crate::common;

use common::fake::{self, Gen};
use common::fake_git::{git_json, Repo};
use common::fake_verify::{verification, SimProc};

#[test]
fn git_verify_revoke_kills_a_live_key_from_history() {
    let mut g = Gen::new(4301);
    let live = fake::github(&mut g, "ghp");
    let dead = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n"
    ));
    let repo = Repo::init(4302);
    repo.write("config/app.env", &format!("TOKEN={live}\nOLD={dead}\n"));
    repo.commit("add config");
    repo.remove("config/app.env");
    repo.commit("remove config");
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nbackoff_secs = 0.05\n",
    );
    let cfg = sim.config.to_string_lossy().into_owned();
    let pol = policy.to_string_lossy().into_owned();
    let data = repo.path().join("data").to_string_lossy().into_owned();
    let (code, report, err) = git_json(
        repo.path(),
        &[
            "--verify",
            "--revoke",
            "--config",
            &cfg,
            "--config",
            &pol,
            "--data-dir",
            &data,
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        verification(&report, "github.pat-classic", &live)["verdict"],
        "live",
        "{report:#}"
    );
    assert_eq!(
        verification(&report, "github.pat-classic", &dead)["verdict"],
        "dead",
        "{report:#}"
    );
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    let revokes = sim.recorded().iter().filter(|r| r["kind"] == "revoke").count();
    assert_eq!(revokes, 1, "{:#?}", sim.recorded());
    // The simulator now says the key is dead.
    let (code, report, err) = git_json(repo.path(), &["--verify", "--config", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        verification(&report, "github.pat-classic", &live)["verdict"],
        "dead",
        "{report:#}"
    );
}

#[test]
fn aws_key_and_secret_in_a_dotenv_file_verify_live() {
    let mut g = Gen::new(4303);
    let (id, secret) = fake::aws(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{id}\"\nsecret = \"{secret}\"\nprincipal = \"arn:aws:iam::111122223333:user/ci\"\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={secret}\n"),
    )
    .unwrap();
    let cfg = sim.config.to_string_lossy().into_owned();
    let (code, report) = common::scan_json(dir.path(), &["--config", &cfg, "--verify", "."]);
    assert_eq!(code, 1, "{report:#}");
    let v = verification(&report, "aws.access-key", &id);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "arn:aws:iam::111122223333:user/ci");
    assert!(
        !report.to_string().contains(&secret),
        "the report holds the secret"
    );
}
