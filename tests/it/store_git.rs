//! `quench git --store`: findings from history carry their commit author (attribution) and
//! their commit time as first exposure, so the exposure window starts when the secret was
//! pushed, not when quench happened to look.

use crate::common;

use common::backends::Backend;
use common::fake_git::{quench_in, Repo};

crate::on_both_backends!(history_findings_record_author_and_commit_time_as_first_exposure);

fn history_findings_record_author_and_commit_time_as_first_exposure(store: Backend) {
    let mut repo = Repo::init(91);
    let token = repo.secret();
    repo.write("config/app.env", &format!("GITHUB_TOKEN={token}\n"));
    repo.git(&["add", "-A"]);
    let env_date = "2026-03-04T05:06:07Z";
    let out = {
        let mut c = common::fake_git::git_cmd(repo.path());
        c.args(["commit", "-q", "-m", "leak"])
            .env("GIT_AUTHOR_DATE", env_date)
            .env("GIT_COMMITTER_DATE", env_date);
        c.output().unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let record = store.record();
    let read = store.read();
    let args: Vec<&str> = ["git", "--data-dir", &data_dir]
        .into_iter()
        .chain(record.iter().map(String::as_str))
        .collect();
    let out = quench_in(repo.path(), &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let args: Vec<&str> = ["findings", "--json", "--data-dir", &data_dir]
        .into_iter()
        .chain(read.iter().map(String::as_str))
        .collect();
    let out = quench_in(repo.path(), &args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fp = common::fingerprint("github.pat-classic", token.as_bytes());
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .unwrap_or_else(|| panic!("token not stored: {v:#}"));
    assert_eq!(f["author"], "Ada Tester <ada@example.com>");
    assert!(
        f["timeline"]["first_exposed"]
            .as_str()
            .unwrap()
            .starts_with("2026-03-04T05:06:07"),
        "{f:#}"
    );
    assert!(
        f.get("principal").is_none(),
        "attribution is not authorization: {f:#}"
    );
}
