//! `--access` and `quench access` against the simulator's GitHub: a classic token's
//! organisation roles and every repository (two `Link`-paged pages) with its permission flags,
//! an installation token's repositories (M2M), a read-only fine-grained token, and the risk
//! rank that orders them in `quench findings`.

use crate::common;

use common::access::{list, names, reach, Leak};
use common::fake::{self, Gen};
use common::run_in;

struct Keys {
    classic: String,
    install: String,
    fine: String,
}

fn setup(seed: u64) -> (Leak, Keys) {
    let mut g = Gen::new(seed);
    let keys = Keys {
        classic: fake::github(&mut g, "ghp"),
        install: fake::github(&mut g, "ghs"),
        fine: format!("github_pat_{}_{}", g.alnum(22), g.alnum(59)),
    };
    let mut toml = format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{}\"\nprincipal = \"octocat\"\nscopes = [\"repo\", \"workflow\", \"admin:org\"]\n\
         [[key.grant]]\nkind = \"org\"\nname = \"acme\"\npermission = \"admin\"\n\
         [[key.grant]]\nkind = \"org\"\nname = \"friends\"\npermission = \"member\"\n",
        keys.classic
    );
    // 130 repositories: more than one page of 100.
    for n in 0..130 {
        let perm = match n {
            0 => "admin",
            1..=9 => "push",
            _ => "pull",
        };
        toml.push_str(&format!(
            "[[key.grant]]\nkind = \"repo\"\nname = \"acme/repo-{n:03}\"\npermission = \"{perm}\"\n"
        ));
    }
    toml.push_str(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{}\"\norg = \"acme\"\n\
         [[key.grant]]\nkind = \"repo\"\nname = \"acme/deploy\"\npermission = \"push\"\ndefault_branch = \"trunk\"\n\
         [[key.grant]]\nkind = \"repo\"\nname = \"acme/docs\"\npermission = \"pull\"\n",
        keys.install
    ));
    toml.push_str(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{}\"\nprincipal = \"reader\"\n\
         [[key.grant]]\nkind = \"repo\"\nname = \"acme/handbook\"\npermission = \"pull\"\n",
        keys.fine
    ));
    let leak = Leak::start(
        &toml,
        &[
            ("GH_TOKEN", &keys.classic),
            ("INSTALL_TOKEN", &keys.install),
            ("READER_TOKEN", &keys.fine),
        ],
    );
    (leak, keys)
}

#[test]
fn scan_access_enumerates_orgs_roles_and_every_page_of_repositories() {
    let (leak, keys) = setup(161);
    let report = leak.scan_with_access();

    let classic = reach(&report, "github.pat-classic", &keys.classic);
    assert_eq!(classic["principal"], "octocat", "{classic:#}");
    assert_eq!(names(classic, "org"), ["acme admin", "friends member"]);
    let repos = names(classic, "repo");
    assert_eq!(repos.len(), 130, "both pages read: {repos:?}");
    assert!(repos.contains(&"acme/repo-000 admin".to_string()));
    assert!(repos.contains(&"acme/repo-005 push".to_string()));
    assert!(repos.contains(&"acme/repo-129 pull".to_string()));
    assert_eq!(classic["risk"], "org-admin");
    assert_eq!(
        list(classic, "capabilities"),
        [
            "org-admin",
            "repo-admin",
            "push-to-default-branch",
            "read-secrets",
            "read"
        ]
    );
    assert!(classic["whose"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("user-scoped: acts as octocat"));
    // Every call a GET; the classic token's second page was asked for by its `Link`, once.
    let calls = leak.calls("github");
    assert!(calls.iter().all(|r| r["method"] == "GET"), "{calls:?}");
    let repo_pages: Vec<&str> = calls
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .filter(|p| p.contains("/user/repos"))
        .collect();
    // Two pages for the classic token, one for the fine-grained one.
    assert_eq!(repo_pages.len(), 3, "{repo_pages:?}");

    let install = reach(&report, "github.app-installation-token", &keys.install);
    assert_eq!(names(install, "repo"), ["acme/deploy push", "acme/docs pull"]);
    assert_eq!(install["risk"], "privileged");
    assert_eq!(install["whose"]["model"], "m2m");
    assert_eq!(install["whose"]["token_lifetime"], "1 hour");
    assert_eq!(install["principal_kind"], "app");

    let fine = reach(&report, "github.pat-fine-grained", &keys.fine);
    assert_eq!(names(fine, "repo"), ["acme/handbook pull"]);
    assert_eq!(fine["risk"], "read-only");
    assert!(list(fine, "unseen").iter().any(|u| u.contains("fine-grained")));

    // Nothing of any key reached the report or the store in plaintext.
    leak.assert_no_plaintext(&report.to_string(), &[&keys.classic, &keys.install, &keys.fine]);
}

#[test]
fn findings_are_ranked_by_what_their_keys_reach() {
    let (leak, _keys) = setup(162);
    leak.scan_with_access();
    let out = run_in(leak.path(), &["findings", "--data-dir", "data"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = |rule: &str| {
        text.find(&format!(" {rule} "))
            .or_else(|| text.find(rule))
            .unwrap_or_else(|| panic!("{rule} not listed: {text}"))
    };
    // org admin, then push to a default branch (the installation), then read-only.
    assert!(
        at("github.pat-classic") < at("github.app-installation-token"),
        "{text}"
    );
    assert!(
        at("github.app-installation-token") < at("github.pat-fine-grained"),
        "{text}"
    );
    assert!(text.contains("risk org-admin"), "{text}");
}

#[test]
fn quench_access_reads_the_stored_finding_and_honours_the_page_bound() {
    let (leak, keys) = setup(163);
    let config = leak.config();
    let dir = &leak.dir;
    // A plain verified scan stores the findings; `quench access` enumerates one later.
    let out = leak.scan_raw(&["--verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fp = common::fingerprint("github.pat-classic", keys.classic.as_bytes());
    let out = run_in(
        dir.path(),
        &[
            "access",
            &fp[..12],
            "--data-dir",
            "data",
            "--config",
            config,
            "--max-pages",
            "1",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("whose: user-scoped: acts as octocat"), "{text}");
    assert!(text.contains("risk:  org-admin"), "{text}");
    assert!(text.contains("acme/repo-000"), "{text}");
    assert!(
        text.contains("repositories: stopped after 1 pages; more exist"),
        "{text}"
    );
    assert!(!text.contains(&keys.classic));
    // Stored with the finding and audited.
    let stored = common::fake_store::stored_findings(dir.path());
    let f = stored.iter().find(|f| f["fingerprint"] == fp.as_str()).unwrap();
    assert!(
        f["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "enumerated"),
        "{f:#}"
    );
    // An unknown fingerprint is an error naming it.
    let out = run_in(
        dir.path(),
        &["access", "ffffffffffff", "--data-dir", "data"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ffffffffffff"));
}
