//! `--access` against the simulator's Slack, OpenAI and Anthropic, in their documented shapes:
//! a Slack bot's workspace, scopes and every cursor page of `conversations.list`, a user token
//! refused the listing (`missing_scope`); an OpenAI restricted project key's permission
//! families probed ("Missing scopes"), a service-account key, an admin key's projects paged by
//! `after`; an Anthropic standard key and an Admin API key's organisation, workspaces and users
//! paged by `after_id`.

use crate::common;

use common::access::{list, names, reach, Leak};
use common::fake::{self, Gen};

fn grant(kind: &str, name: &str, permission: Option<&str>) -> String {
    let p = permission
        .map(|p| format!("permission = \"{p}\"\n"))
        .unwrap_or_default();
    format!("[[key.grant]]\nkind = \"{kind}\"\nname = \"{name}\"\n{p}")
}

fn slack_user(g: &mut Gen) -> String {
    let d = |g: &mut Gen| g.string(b"0123456789", 12);
    format!("xoxp-{}-{}-{}-{}", d(g), d(g), d(g), g.alnum(32))
}

#[test]
fn slack_bot_reach_reads_every_channel_page_and_means_posting() {
    let mut g = Gen::new(1601);
    let bot = fake::slack_bot(&mut g);
    let user = slack_user(&mut g);
    let mut keys = format!(
        "[[key]]\nissuer = \"slack\"\nsecret = \"{bot}\"\nprincipal = \"deploybot\"\norg = \"acme\"\n\
         scopes = [\"chat:write\", \"channels:read\", \"channels:history\"]\n"
    );
    // 250 channels: two pages of `limit=200`, the second asked for by its cursor.
    for n in 0..250 {
        keys.push_str(&grant(
            "channel",
            &format!("chan-{n:03}"),
            (n < 3).then_some("member"),
        ));
    }
    // A user token without `channels:read`: Slack refuses the listing with `missing_scope`.
    keys.push_str(&format!(
        "[[key]]\nissuer = \"slack\"\nsecret = \"{user}\"\nprincipal = \"ana\"\norg = \"acme\"\nscopes = [\"users:read\"]\n"
    ));
    let leak = Leak::start(&keys, &[("SLACK_BOT", &bot), ("SLACK_USER", &user)]);
    let report = leak.scan_with_access();

    let r = reach(&report, "slack.bot-token", &bot);
    assert_eq!(r["principal"], "deploybot", "{r:#}");
    assert_eq!(r["principal_kind"], "bot");
    assert_eq!(names(r, "workspace"), ["acme -"]);
    assert_eq!(
        list(r, "scopes"),
        ["chat:write", "channels:read", "channels:history"]
    );
    let channels = names(r, "channel");
    assert_eq!(channels.len(), 250, "both cursor pages read");
    assert_eq!(channels[0], "chan-000 member");
    assert_eq!(channels[249], "chan-249 visible");
    assert_eq!(list(r, "capabilities"), ["post-messages", "read"]);
    assert_eq!(r["risk"], "write");
    let pages: Vec<String> = leak
        .calls("slack")
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .filter(|p| p.contains("conversations.list"))
        .collect();
    assert_eq!(
        pages.len(),
        3,
        "two pages for the bot, one refused for the user: {pages:?}"
    );

    let u = reach(&report, "slack.user-token", &user);
    assert_eq!(u["principal_kind"], "user");
    assert_eq!(names(u, "channel").len(), 0);
    assert!(
        list(u, "unseen")
            .iter()
            .any(|s| s.starts_with("channels: refused") && s.contains("missing_scope")),
        "{u:#}"
    );
    assert_eq!(u["risk"], "read-only", "a workspace seen, nothing more");
    assert!(u["whose"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("user-scoped: acts as ana"));
    assert!(leak
        .calls("slack")
        .iter()
        .all(|c| c["method"] == "GET" || c["path"].as_str().unwrap().ends_with("auth.test")));
    leak.assert_no_plaintext(&report.to_string(), &[&bot, &user]);
}

fn openai_key(g: &mut Gen, prefix: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    format!("{prefix}{}T3BlbkFJ{}", g.string(A, 40), g.string(A, 40))
}

#[test]
fn openai_restricted_service_account_and_admin_keys_each_show_their_reach() {
    let mut g = Gen::new(1602);
    let restricted = fake::openai_project(&mut g);
    let svc = openai_key(&mut g, "sk-svcacct-");
    let admin = openai_key(&mut g, "sk-admin-");
    let keys = format!(
        "[[key]]\nissuer = \"openai\"\nsecret = \"{restricted}\"\nprincipal = \"ana@acme.test\"\norg = \"acme\"\nproject = \"proj_Alpha1\"\n\
         scopes = [\"api.model.read\"]\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{svc}\"\norg = \"acme\"\nproject = \"proj_Beta22\"\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{admin}\"\nprincipal = \"Root Owner\"\norg = \"acme\"\nadmin = true\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{}\"\norg = \"acme\"\nproject = \"proj_Gamma3\"\n",
        fake::openai_project(&mut g)
    );
    let leak = Leak::start(
        &keys,
        &[
            ("OPENAI_RESTRICTED", &restricted),
            ("OPENAI_SVC", &svc),
            ("OPENAI_ADMIN", &admin),
        ],
    );
    let report = leak.scan_with_access();

    // A restricted key: /v1/me names its user, organisation and projects; the probes say
    // which permission families it holds.
    let r = reach(&report, "openai.project-key", &restricted);
    assert_eq!(r["principal"], "ana@acme.test", "{r:#}");
    assert_eq!(names(r, "org"), ["acme owner"]);
    assert_eq!(names(r, "project").len(), 3, "{r:#}");
    assert_eq!(list(r, "granted"), ["models.read"]);
    assert_eq!(
        list(r, "denied"),
        ["files.read", "fine_tuning.read", "batches.read"]
    );
    assert_eq!(list(r, "capabilities"), ["read"]);
    assert_eq!(r["risk"], "read-only");

    // A service-account key holds every family: its files make it privileged (listing batches
    // is a read, not a write).
    let s = reach(&report, "openai.service-account-key", &svc);
    assert_eq!(s["principal_kind"], "service-account");
    assert_eq!(list(s, "granted"), ["models.read", "files.read", "batches.read"]);
    assert_eq!(list(s, "capabilities"), ["read-secrets", "read"]);
    assert_eq!(s["risk"], "privileged");
    assert!(list(s, "unseen")
        .iter()
        .any(|u| u.contains("service-account key cannot read")));
    assert_eq!(s["whose"]["model"], "org");

    // The admin key: its owner and every project of the organisation.
    let a = reach(&report, "openai.admin-key", &admin);
    assert_eq!(a["principal"], "Root Owner", "{a:#}");
    assert_eq!(a["token_kind"], "admin");
    let projects = names(a, "project");
    assert_eq!(projects.len(), 3, "{projects:?}");
    assert!(projects.iter().all(|p| p.starts_with("Project ")));
    assert_eq!(list(a, "capabilities"), ["org-admin", "create-iam-principals"]);
    assert_eq!(a["risk"], "org-admin");

    assert!(leak.calls("openai").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&restricted, &svc, &admin]);
}

/// Granted read families rate a key read-only: a restricted project key that may list models,
/// fine-tuning jobs and batches, and a service-account key that may list batches, write nothing
/// the probes saw, and the reach says writes were not probed.
#[test]
fn openai_read_grants_are_read_only() {
    let mut g = Gen::new(1640);
    let reader = fake::openai_project(&mut g);
    let svc = openai_key(&mut g, "sk-svcacct-");
    let keys = format!(
        "[[key]]\nissuer = \"openai\"\nsecret = \"{reader}\"\nprincipal = \"ana@acme.test\"\norg = \"acme\"\nproject = \"proj_Alpha1\"\n\
         scopes = [\"api.model.read\", \"api.fine_tuning.jobs.read\", \"api.batch.read\"]\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{svc}\"\norg = \"acme\"\nproject = \"proj_Beta22\"\n\
         scopes = [\"api.batch.read\"]\n"
    );
    let leak = Leak::start(&keys, &[("OPENAI_READER", &reader), ("OPENAI_SVC", &svc)]);
    let report = leak.scan_with_access();

    let r = reach(&report, "openai.project-key", &reader);
    assert_eq!(
        list(r, "granted"),
        ["models.read", "fine_tuning.read", "batches.read"],
        "{r:#}"
    );
    assert_eq!(list(r, "denied"), ["files.read"]);
    assert_eq!(list(r, "capabilities"), ["read"]);
    assert_eq!(r["risk"], "read-only");
    assert!(list(r, "unseen")
        .iter()
        .any(|u| u.starts_with("write permissions")));

    let s = reach(&report, "openai.service-account-key", &svc);
    assert_eq!(list(s, "granted"), ["batches.read"], "{s:#}");
    assert_eq!(list(s, "capabilities"), ["read"]);
    assert_eq!(s["risk"], "read-only");
    assert!(list(s, "unseen")
        .iter()
        .any(|u| u.starts_with("write permissions")));

    assert!(leak.calls("openai").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&reader, &svc]);
}

fn anthropic_admin(g: &mut Gen) -> String {
    format!(
        "sk-ant-admin01-{}AA",
        g.string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            93
        )
    )
}

#[test]
fn anthropic_admin_key_pages_workspaces_and_users_and_a_standard_key_reads_models() {
    let mut g = Gen::new(1603);
    let api = fake::anthropic(&mut g);
    let admin = anthropic_admin(&mut g);
    let mut keys = format!(
        "[[key]]\nissuer = \"anthropic\"\nsecret = \"{api}\"\n\
         [[key]]\nissuer = \"anthropic\"\nsecret = \"{admin}\"\norg = \"Acme Labs\"\nadmin = true\n"
    );
    // 120 workspaces: two pages of `limit=100`, continued with `after_id`.
    for n in 0..120 {
        keys.push_str(&grant("workspace", &format!("ws-{n:03}"), None));
    }
    keys.push_str(&grant("user", "ana@acme.test", Some("admin")));
    keys.push_str(&grant("user", "bo@acme.test", Some("developer")));
    let leak = Leak::start(&keys, &[("ANTHROPIC_API_KEY", &api), ("ANTHROPIC_ADMIN", &admin)]);
    let report = leak.scan_with_access();

    let s = reach(&report, "anthropic.api-key", &api);
    assert_eq!(list(s, "granted"), ["models.read"], "{s:#}");
    assert_eq!(s["risk"], "read-only");
    assert!(list(s, "unseen")
        .iter()
        .any(|u| u.contains("cannot read its workspace")));

    let a = reach(&report, "anthropic.admin-key", &admin);
    assert_eq!(a["principal"], "Acme Labs", "{a:#}");
    assert_eq!(names(a, "org"), ["Acme Labs admin"]);
    let ws = names(a, "workspace");
    assert_eq!(ws.len(), 120, "both pages read");
    assert_eq!(ws[119], "ws-119 -");
    assert_eq!(
        names(a, "user"),
        ["ana@acme.test admin", "bo@acme.test developer"]
    );
    assert_eq!(list(a, "capabilities"), ["org-admin", "create-iam-principals"]);
    assert_eq!(a["risk"], "org-admin");
    let after: Vec<String> = leak
        .calls("anthropic")
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .filter(|p| p.contains("/organizations/workspaces"))
        .collect();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(leak.calls("anthropic").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&api, &admin]);
}

/// Seven live keys of five issuers, scanned with `--access`, then listed by `quench findings`:
/// the org admin first, then what pushes to a default branch or reads stored files, then what
/// posts messages, then the read-only keys, and last the live key nobody enumerated (no
/// recipe: unknown reach, not harmless, but nothing shows it dangerous).
#[test]
fn findings_of_mixed_issuers_are_ordered_as_a_person_triages_them() {
    let mut g = Gen::new(1604);
    let gh_admin = fake::github(&mut g, "ghp");
    let gh_install = fake::github(&mut g, "ghs");
    let svc = openai_key(&mut g, "sk-svcacct-");
    let bot = fake::slack_bot(&mut g);
    let restricted = fake::openai_project(&mut g);
    let claude = fake::anthropic(&mut g);
    let npm = fake::npm(&mut g);
    let keys = format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{gh_admin}\"\nprincipal = \"octocat\"\nscopes = [\"repo\", \"admin:org\"]\n{}{}\
         [[key]]\nissuer = \"github\"\nsecret = \"{gh_install}\"\norg = \"acme\"\n{}\
         [[key]]\nissuer = \"openai\"\nsecret = \"{svc}\"\norg = \"acme\"\nproject = \"proj_Beta22\"\n\
         [[key]]\nissuer = \"slack\"\nsecret = \"{bot}\"\norg = \"acme\"\nscopes = [\"chat:write\", \"channels:read\"]\n{}\
         [[key]]\nissuer = \"openai\"\nsecret = \"{restricted}\"\norg = \"acme\"\nproject = \"proj_Alpha1\"\nscopes = [\"api.model.read\"]\n\
         [[key]]\nissuer = \"anthropic\"\nsecret = \"{claude}\"\n\
         [[key]]\nissuer = \"npm\"\nsecret = \"{npm}\"\nprincipal = \"publisher\"\n",
        grant("org", "acme", Some("admin")),
        grant("repo", "acme/api", Some("pull")),
        grant("repo", "acme/deploy", Some("push")),
        grant("channel", "general", Some("member")),
    );
    let leak = Leak::start(
        &keys,
        &[
            ("A", &npm),
            ("B", &claude),
            ("C", &restricted),
            ("D", &bot),
            ("E", &svc),
            ("F", &gh_install),
            ("G", &gh_admin),
        ],
    );
    leak.scan_with_access();
    let out = common::run_in(leak.path(), &["findings", "--json", "--data-dir", "data"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let order: Vec<(String, String)> = listed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["reach"]["risk"].as_str().unwrap_or("none").to_string(),
            )
        })
        .collect();
    let risks: Vec<&str> = order.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        risks,
        [
            "org-admin",
            "privileged",
            "privileged",
            "write",
            "read-only",
            "read-only",
            "none"
        ],
        "{order:?}"
    );
    let at = |rule: &str| order.iter().position(|(r, _)| r == rule).unwrap();
    assert_eq!(at("github.pat-classic"), 0, "{order:?}");
    assert!(at("github.app-installation-token") < 3 && at("openai.service-account-key") < 3);
    assert_eq!(at("slack.bot-token"), 3);
    assert!(at("openai.project-key") > 3 && at("anthropic.api-key") > 3);
    assert_eq!(order[6].0, "npm.access-token", "{order:?}");

    // The human listing shows the same order and each reach's one line.
    let out = common::run_in(leak.path(), &["findings", "--data-dir", "data"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |rule: &str| {
        text.lines()
            .position(|l| l.contains(&format!(" {rule} ")))
            .unwrap_or_else(|| panic!("{rule} not listed: {text}"))
    };
    assert!(line("github.pat-classic") < line("slack.bot-token"), "{text}");
    assert!(line("slack.bot-token") < line("anthropic.api-key"), "{text}");
    assert!(line("anthropic.api-key") < line("npm.access-token"), "{text}");
    assert!(text.contains("risk write (post-messages, read)"), "{text}");
}
