//! `--access` against the simulator's GitLab, Hugging Face, Cloudflare, Stripe, Datadog, Vercel
//! and Supabase, in their documented shapes: GitLab's groups by `min_access_level` and projects
//! with `permissions.project_access` / `group_access` paged by `Link`; Hugging Face's
//! `whoami-v2` (token role, organisation roles, fine-grained scopes); Cloudflare's token
//! policies, memberships and accounts (`result_info` pages); Stripe's account and a restricted
//! key's `rak_…` refusals; Datadog's API key with and without its application key; Vercel's
//! teams paged by `until`; Supabase's organisations and projects; AWS IAM signed with SigV4
//! (the user, attached and inline policies, groups, `Marker` pages, refusals reported); Google
//! API keys probed per API (SERVICE_DISABLED naming the project); Google service-account keys'
//! roles from their project's IAM policy (`getIamPolicy`, read with a token minted from the key).

use crate::common;

use common::access::{list, names, reach, Leak};
use common::fake::{self, Gen};

fn grant(kind: &str, name: &str, permission: Option<&str>, extra: &str) -> String {
    let p = permission
        .map(|p| format!("permission = \"{p}\"\n"))
        .unwrap_or_default();
    format!("[[key.grant]]\nkind = \"{kind}\"\nname = \"{name}\"\n{p}{extra}")
}

#[test]
fn gitlab_groups_and_projects_with_their_access_levels() {
    let mut g = Gen::new(1621);
    let admin = fake::gitlab_routable(&mut g);
    let reader = format!("glpat-{}", g.alnum(20));
    let mut keys = format!(
        "[[key]]\nissuer = \"gitlab\"\nsecret = \"{admin}\"\nprincipal = \"ana\"\nscopes = [\"api\", \"read_user\"]\n{}{}{}{}{}{}",
        grant("group", "acme", Some("owner"), ""),
        grant("group", "acme/platform", Some("maintainer"), ""),
        grant("group", "friends", Some("developer"), ""),
        grant("project", "acme/api", Some("maintainer"), "default_branch = \"trunk\"\n"),
        // Through its group only: `project_access` null, `group_access` developer.
        grant("project", "friends/web", None, "group_role = \"developer\"\n"),
        // Both: the higher (the group's maintainer) counts.
        grant("project", "acme/platform/infra", Some("reporter"), "group_role = \"maintainer\"\n"),
    );
    // 130 more: two pages of 100.
    for n in 0..130 {
        keys.push_str(&grant(
            "project",
            &format!("acme/lib-{n:03}"),
            Some("reporter"),
            "",
        ));
    }
    keys.push_str(&format!(
        "[[key]]\nissuer = \"gitlab\"\nsecret = \"{reader}\"\nprincipal = \"bo\"\nscopes = [\"read_api\"]\n{}",
        grant("project", "acme/api", Some("developer"), "")
    ));
    let leak = Leak::start(&keys, &[("GITLAB_TOKEN", &admin), ("GL_READ", &reader)]);
    let report = leak.scan_with_access();

    let a = reach(&report, "gitlab.pat-routable", &admin);
    assert_eq!(a["principal"], "ana", "{a:#}");
    assert_eq!(list(a, "scopes"), ["api", "read_user"]);
    assert_eq!(
        names(a, "group"),
        ["acme owner", "acme/platform maintainer", "friends member"]
    );
    let projects = names(a, "project");
    assert_eq!(projects.len(), 133, "both pages read");
    assert_eq!(
        projects[..3],
        [
            "acme/api maintainer",
            "friends/web developer",
            "acme/platform/infra maintainer"
        ]
    );
    assert_eq!(projects[132], "acme/lib-129 reporter");
    assert_eq!(
        list(a, "capabilities"),
        [
            "org-admin",
            "repo-admin",
            "push-to-default-branch",
            "read-secrets",
            "write",
            "read"
        ]
    );
    assert_eq!(a["risk"], "org-admin");
    assert!(a["whose"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("user-scoped: acts as ana"));

    // read_api: a developer's project, and nothing it can change.
    let r = reach(&report, "gitlab.pat", &reader);
    assert_eq!(names(r, "project"), ["acme/api developer"]);
    assert_eq!(names(r, "group").len(), 0);
    assert_eq!(list(r, "capabilities"), ["read"]);
    assert_eq!(r["risk"], "read-only");

    let calls = leak.calls("gitlab");
    assert!(calls.iter().all(|c| c["method"] == "GET"), "{calls:?}");
    let project_pages = calls
        .iter()
        .filter(|c| c["path"].as_str().unwrap().contains("/api/v4/projects"))
        .count();
    assert_eq!(project_pages, 3, "two pages, then one");
    leak.assert_no_plaintext(&report.to_string(), &[&admin, &reader]);
}

#[test]
fn hugging_face_roles_orgs_and_fine_grained_scopes() {
    let mut g = Gen::new(1622);
    let write = fake::huggingface(&mut g);
    let fine = fake::huggingface(&mut g);
    let read = fake::huggingface(&mut g);
    let keys = format!(
        "[[key]]\nissuer = \"huggingface\"\nsecret = \"{write}\"\nprincipal = \"ana\"\nscopes = [\"write\"]\n{}{}\
         [[key]]\nissuer = \"huggingface\"\nsecret = \"{fine}\"\nprincipal = \"bo\"\nscopes = [\"fineGrained\", \"discussion.write\"]\n{}{}\
         [[key]]\nissuer = \"huggingface\"\nsecret = \"{read}\"\nprincipal = \"cy\"\nscopes = [\"read\"]\n{}",
        grant("org", "acme", Some("admin"), ""),
        grant("org", "friends", Some("read"), ""),
        grant("entity", "bo/model-a", Some("repo.content.read,repo.write"), ""),
        grant("entity", "acme/dataset-b", Some("repo.content.read"), ""),
        grant("org", "acme", Some("admin"), ""),
    );
    let leak = Leak::start(&keys, &[("HF_A", &write), ("HF_B", &fine), ("HF_C", &read)]);
    let report = leak.scan_with_access();
    let rule = "huggingface.access-token";

    let w = reach(&report, rule, &write);
    assert_eq!(w["principal"], "ana", "{w:#}");
    assert_eq!(w["principal_kind"], "user");
    assert_eq!(names(w, "token"), ["sim write"]);
    assert_eq!(names(w, "org"), ["acme admin", "friends read"]);
    assert_eq!(
        list(w, "capabilities"),
        ["org-admin", "push-to-default-branch", "read"]
    );
    assert_eq!(w["risk"], "org-admin");

    let f = reach(&report, rule, &fine);
    assert_eq!(list(f, "scopes"), ["fineGrained", "discussion.write"], "{f:#}");
    assert_eq!(
        names(f, "entity"),
        ["bo/model-a repo.write", "acme/dataset-b repo.content.read"]
    );
    assert_eq!(list(f, "capabilities"), ["push-to-default-branch", "read"]);
    assert_eq!(f["risk"], "privileged");

    // A read token of an organisation's admin cannot act as one.
    let r = reach(&report, rule, &read);
    assert_eq!(names(r, "org"), ["acme admin"]);
    assert_eq!(list(r, "capabilities"), ["read"]);
    assert_eq!(r["risk"], "read-only");
    leak.assert_no_plaintext(&report.to_string(), &[&write, &fine, &read]);
}

#[test]
fn cloudflare_token_policies_memberships_and_every_numbered_page_of_accounts() {
    let mut g = Gen::new(1623);
    let token = |g: &mut Gen| format!("cfut_{}{}", g.alnum(40), g.hex(8));
    let deployer = token(&mut g);
    let zone_reader = token(&mut g);
    let minter = token(&mut g);
    let mut keys =
        format!("[[key]]\nissuer = \"cloudflare\"\nsecret = \"{deployer}\"\nprincipal = \"ana\"\n");
    for p in [
        "API Tokens Read",
        "Memberships Read",
        "Workers Scripts Write",
        "DNS Write",
        "Zone Read",
    ] {
        keys.push_str(&grant("permission-group", p, None, ""));
    }
    keys.push_str(&grant(
        "account",
        "Acme",
        Some("Super Administrator - All Privileges"),
        "",
    ));
    // 60 accounts: two pages of 50.
    for n in 1..60 {
        keys.push_str(&grant("account", &format!("acct-{n:02}"), None, ""));
    }
    keys.push_str(&format!(
        "[[key]]\nissuer = \"cloudflare\"\nsecret = \"{zone_reader}\"\nprincipal = \"bo\"\n{}{}\
         [[key]]\nissuer = \"cloudflare\"\nsecret = \"{minter}\"\nprincipal = \"cy\"\n{}{}",
        grant("permission-group", "Zone Read", None, ""),
        grant("account", "Acme", None, ""),
        grant("permission-group", "API Tokens Write", None, ""),
        grant("account", "Acme", None, ""),
    ));
    let leak = Leak::start(
        &keys,
        &[
            ("CF_DEPLOY", &deployer),
            ("CF_ZONES", &zone_reader),
            ("CF_MINT", &minter),
        ],
    );
    let report = leak.scan_with_access();
    let rule = "cloudflare.user-api-token";

    let d = reach(&report, rule, &deployer);
    assert_eq!(names(d, "token").len(), 1, "{d:#}");
    assert!(names(d, "token")[0].ends_with(" active"));
    assert_eq!(
        names(d, "permission-group"),
        [
            "API Tokens Read -",
            "Memberships Read -",
            "Workers Scripts Write -",
            "DNS Write -",
            "Zone Read -"
        ]
    );
    let accounts = names(d, "account");
    assert_eq!(accounts.len(), 60, "both pages of memberships read");
    assert_eq!(accounts[0], "Acme Super Administrator - All Privileges");
    assert_eq!(
        list(d, "capabilities"),
        ["push-to-default-branch", "write", "read"]
    );
    assert_eq!(d["risk"], "privileged");
    let pages: Vec<String> = leak
        .calls("cloudflare")
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .filter(|p| p.contains("/memberships"))
        .collect();
    assert_eq!(
        pages.len(),
        4,
        "two pages for the deployer, one refused each for the others: {pages:?}"
    );

    // Without "API Tokens Read" or "Memberships Read": the refusals are reported, the
    // accounts still listed.
    let z = reach(&report, rule, &zone_reader);
    assert_eq!(names(z, "permission-group").len(), 0);
    assert_eq!(names(z, "account"), ["Acme -"]);
    let unseen = list(z, "unseen");
    assert!(
        unseen
            .iter()
            .any(|u| u.starts_with("token policies: refused (HTTP 403: Unauthorized")),
        "{unseen:?}"
    );
    assert!(
        unseen.iter().any(|u| u.starts_with("memberships: refused")),
        "{unseen:?}"
    );
    assert_eq!(z["risk"], "read-only");

    let m = reach(&report, rule, &minter);
    assert_eq!(
        list(m, "capabilities"),
        ["create-iam-principals", "write", "read"]
    );
    assert_eq!(m["risk"], "privileged");
    assert!(leak.calls("cloudflare").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&deployer, &zone_reader, &minter]);
}

#[test]
fn stripe_secret_keys_hold_the_account_and_restricted_keys_are_probed() {
    let mut g = Gen::new(1624);
    let live = format!("sk_live_{}", g.alnum(99));
    let test = format!("sk_test_{}", g.alnum(99));
    let restricted = format!("rk_live_{}", g.alnum(99));
    let keys = format!(
        "[[key]]\nissuer = \"stripe\"\nsecret = \"{live}\"\nprincipal = \"billing@acme.test\"\norg = \"acct_1Acme\"\n\
         [[key]]\nissuer = \"stripe\"\nsecret = \"{test}\"\nprincipal = \"billing@acme.test\"\norg = \"acct_1Acme\"\n\
         [[key]]\nissuer = \"stripe\"\nsecret = \"{restricted}\"\nprincipal = \"billing@acme.test\"\norg = \"acct_1Acme\"\n\
         scopes = [\"rak_charge_read\"]\n"
    );
    let leak = Leak::start(
        &keys,
        &[
            ("STRIPE_LIVE", &live),
            ("STRIPE_TEST", &test),
            ("STRIPE_RK", &restricted),
        ],
    );
    let report = leak.scan_with_access();

    let l = reach(&report, "stripe.live-secret-key", &live);
    assert_eq!(l["principal"], "billing@acme.test", "{l:#}");
    assert_eq!(names(l, "account"), ["acct_1Acme every permission (secret key)"]);
    assert_eq!(list(l, "capabilities"), ["org-admin"]);
    assert_eq!(l["risk"], "org-admin");

    let t = reach(&report, "stripe.test-secret-key", &test);
    assert_eq!(t["token_kind"], "test-mode secret");
    assert_eq!(t["risk"], "write");

    let r = reach(&report, "stripe.live-restricted-key", &restricted);
    assert_eq!(list(r, "granted"), ["charges.read"], "{r:#}");
    assert_eq!(list(r, "denied"), ["balance.read", "customers.read"]);
    assert_eq!(r["risk"], "read-only");
    assert!(list(r, "unseen")
        .iter()
        .any(|u| u.contains("write permissions cannot be probed")));
    assert!(leak.calls("stripe").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&live, &test, &restricted]);
}

#[test]
fn datadog_api_key_with_and_without_its_application_key() {
    let mut g = Gen::new(1625);
    let (api_a, app_a) = (g.hex(32), g.hex(40));
    let (api_b, app_b) = (g.hex(32), g.hex(40));
    let api_c = g.hex(32);
    let keys = format!(
        "[[key]]\nissuer = \"datadog\"\nsecret = \"{api_a}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"datadog\"\nsecret = \"{app_a}\"\norg = \"acme\"\nprincipal = \"ana@acme.test\"\nadmin = true\n\
         [[key]]\nissuer = \"datadog\"\nsecret = \"{api_b}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"datadog\"\nsecret = \"{app_b}\"\norg = \"acme\"\nprincipal = \"bo@acme.test\"\nscopes = [\"dashboards_read\"]\n\
         [[key]]\nissuer = \"datadog\"\nsecret = \"{api_c}\"\norg = \"acme\"\n"
    );
    let leak = Leak::start(&keys, &[]);
    for (file, text) in [
        ("a.env", format!("DD_API_KEY={api_a}\nDD_APP_KEY={app_a}\n")),
        ("b.env", format!("DD_API_KEY={api_b}\nDD_APP_KEY={app_b}\n")),
        ("c.env", format!("DD_API_KEY={api_c}\n")),
    ] {
        std::fs::write(leak.path().join(file), text).unwrap();
    }
    let report = leak.scan_with_access();
    let rule = "datadog.api-key";

    // With an admin's application key: it reads the organisation's API keys.
    let a = reach(&report, rule, &api_a);
    assert_eq!(
        list(a, "granted"),
        ["api_keys_read", "user_access_read", "dashboards_read"],
        "{a:#}"
    );
    assert_eq!(list(a, "capabilities"), ["read-secrets", "write", "read"]);
    assert_eq!(a["risk"], "privileged");

    // An application key scoped to dashboards.
    let b = reach(&report, rule, &api_b);
    assert_eq!(list(b, "granted"), ["dashboards_read"], "{b:#}");
    assert_eq!(list(b, "denied"), ["api_keys_read", "user_access_read"]);
    assert_eq!(b["risk"], "write");

    // Alone, the API key only submits data; what it could not ask is said.
    let c = reach(&report, rule, &api_c);
    assert_eq!(list(c, "granted").len(), 0, "{c:#}");
    assert_eq!(list(c, "capabilities"), ["write"]);
    assert!(
        list(c, "unseen")
            .iter()
            .any(|u| u.starts_with("probe api_keys_read: cannot build the request")),
        "{c:#}"
    );
    assert!(leak.calls("datadog").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&api_a, &app_a, &api_b, &app_b, &api_c]);
}

#[test]
fn vercel_teams_with_roles_across_until_pages() {
    let mut g = Gen::new(1626);
    let owner = format!("vcp_{}", g.alnum(56));
    let viewer = format!("vcp_{}", g.alnum(56));
    let mut keys = format!(
        "[[key]]\nissuer = \"vercel\"\nsecret = \"{owner}\"\nprincipal = \"ana\"\n{}",
        grant("team", "acme", Some("OWNER"), "")
    );
    // 120 teams: two pages of 100, the second asked for `until` the first page's last.
    for n in 1..120 {
        keys.push_str(&grant("team", &format!("team-{n:03}"), Some("DEVELOPER"), ""));
    }
    keys.push_str(&format!(
        "[[key]]\nissuer = \"vercel\"\nsecret = \"{viewer}\"\nprincipal = \"bo\"\n{}",
        grant("team", "acme", Some("VIEWER"), "")
    ));
    let leak = Leak::start(&keys, &[("VERCEL_TOKEN", &owner), ("VERCEL_RO", &viewer)]);
    let report = leak.scan_with_access();

    let o = reach(&report, "vercel.personal-token", &owner);
    assert_eq!(o["principal"], "ana", "{o:#}");
    let teams = names(o, "team");
    assert_eq!(teams.len(), 120, "both pages read");
    assert_eq!(teams[0], "acme OWNER");
    assert_eq!(teams[119], "team-119 DEVELOPER");
    assert_eq!(
        list(o, "capabilities"),
        ["org-admin", "push-to-default-branch", "write", "read"]
    );
    assert_eq!(o["risk"], "org-admin");
    let until = leak
        .sim
        .recorded()
        .iter()
        .filter(|c| c["issuer"] == "vercel" && c["path"].as_str().unwrap().contains("/v2/teams"))
        .count();
    assert_eq!(until, 3, "two pages, then one");

    let v = reach(&report, "vercel.personal-token", &viewer);
    assert_eq!(names(v, "team"), ["acme VIEWER"]);
    assert_eq!(
        list(v, "capabilities"),
        ["write", "read"],
        "its own projects deploy"
    );
    assert_eq!(v["risk"], "write");
    leak.assert_no_plaintext(&report.to_string(), &[&owner, &viewer]);
}

#[test]
fn supabase_token_reaches_its_organisations_and_projects() {
    let mut g = Gen::new(1627);
    let pat = format!("sbp_{}", g.hex(40));
    let keys = format!(
        "[[key]]\nissuer = \"supabase\"\nsecret = \"{pat}\"\norg = \"Acme\"\n{}{}{}",
        grant("org", "Side Projects", None, ""),
        grant("project", "Acme/prod-db", None, ""),
        grant("project", "Side Projects/scratch", Some("INACTIVE"), ""),
    );
    let leak = Leak::start(&keys, &[("SUPABASE_ACCESS_TOKEN", &pat)]);
    let report = leak.scan_with_access();
    let s = reach(&report, "supabase.personal-access-token", &pat);
    assert_eq!(names(s, "org"), ["Acme -", "Side Projects -"], "{s:#}");
    assert_eq!(
        names(s, "project"),
        ["prod-db ACTIVE_HEALTHY", "scratch INACTIVE"]
    );
    assert_eq!(list(s, "capabilities"), ["read-secrets", "write", "read"]);
    assert_eq!(s["risk"], "privileged");
    assert!(list(s, "unseen")
        .iter()
        .any(|u| u.contains("org-admin is not claimed")));
    // The verdict now reads the organisation from the documented list shape.
    let f = common::access::finding(&report, "supabase.personal-access-token", &pat);
    assert_eq!(f["verification"]["org"], "Acme", "{f:#}");
    leak.assert_no_plaintext(&report.to_string(), &[&pat]);
}

#[test]
fn aws_user_policies_and_groups_signed_with_the_key_and_what_it_may_not_read() {
    let mut g = Gen::new(1628);
    let (admin_id, admin_secret) = fake::aws(&mut g);
    let (narrow_id, narrow_secret) = fake::aws(&mut g);
    let mut keys = format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{admin_id}\"\nsecret = \"{admin_secret}\"\norg = \"111122223333\"\n\
         principal = \"arn:aws:iam::111122223333:user/ana\"\n{}{}{}",
        grant("policy", "AdministratorAccess", None, ""),
        grant("policy", "deploy-inline", Some("inline"), ""),
        grant("group", "admins", None, ""),
    );
    // 110 customer-managed policies more: two pages of MaxItems=100, continued by `Marker`.
    for n in 0..110 {
        keys.push_str(&grant("policy", &format!("app-{n:03}"), None, ""));
    }
    keys.push_str(&format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{narrow_id}\"\nsecret = \"{narrow_secret}\"\norg = \"111122223333\"\n\
         principal = \"arn:aws:iam::111122223333:user/ci\"\nscopes = [\"iam:GetUser\", \"sts:GetCallerIdentity\"]\n{}",
        grant("policy", "ReadOnlyAccess", None, ""),
    ));
    let leak = Leak::start(&keys, &[]);
    std::fs::write(
        leak.path().join("admin.env"),
        format!("AWS_ACCESS_KEY_ID={admin_id}\nAWS_SECRET_ACCESS_KEY={admin_secret}\n"),
    )
    .unwrap();
    std::fs::write(
        leak.path().join("ci.env"),
        format!("AWS_ACCESS_KEY_ID={narrow_id}\nAWS_SECRET_ACCESS_KEY={narrow_secret}\n"),
    )
    .unwrap();
    let report = leak.scan_with_access();

    let a = reach(&report, "aws.access-key", &admin_id);
    assert_eq!(a["principal"], "arn:aws:iam::111122223333:user/ana", "{a:#}");
    assert_eq!(a["principal_kind"], "iam-user");
    let policies = names(a, "policy");
    assert_eq!(
        policies.len(),
        112,
        "both Marker pages and the inline policy: {policies:?}"
    );
    assert_eq!(policies[0], "AdministratorAccess attached");
    assert!(policies.contains(&"deploy-inline inline".to_string()));
    assert_eq!(names(a, "group"), ["admins -"]);
    assert_eq!(
        list(a, "capabilities"),
        ["org-admin", "create-iam-principals", "read-secrets", "read"]
    );
    assert_eq!(a["risk"], "org-admin");

    // A key allowed GetUser only: the rest is refused, in AWS's words, and nothing is guessed.
    let n = reach(&report, "aws.access-key", &narrow_id);
    assert_eq!(n["principal"], "arn:aws:iam::111122223333:user/ci", "{n:#}");
    assert_eq!(names(n, "policy").len(), 0);
    let unseen = list(n, "unseen");
    assert!(
        unseen.iter().any(|u| u.starts_with("attached policies: refused (HTTP 403: User: arn:aws:iam::111122223333:user/ci is not authorized to perform: iam:ListAttachedUserPolicies")),
        "{unseen:?}"
    );
    assert!(
        unseen.iter().any(|u| u.starts_with("groups: refused")),
        "{unseen:?}"
    );
    assert_eq!(n["risk"], "unknown");

    // Every IAM call a GET (the simulator checked each signature).
    let iam: Vec<serde_json::Value> = leak
        .calls("aws")
        .into_iter()
        .filter(|c| c["path"].as_str().unwrap().starts_with("/aws/iam"))
        .collect();
    assert!(
        !iam.is_empty() && iam.iter().all(|c| c["method"] == "GET"),
        "{:?}",
        leak.calls("aws")
    );
    leak.assert_no_plaintext(&report.to_string(), &[&admin_secret, &narrow_secret]);
}

#[test]
fn google_api_key_reach_is_the_apis_it_may_call() {
    let mut g = Gen::new(1629);
    let open = format!("AIza{}", g.alnum(35));
    let youtube = format!("AIza{}", g.alnum(35));
    let keys = format!(
        "[[key]]\nissuer = \"google\"\nsecret = \"{open}\"\nproject = \"4242\"\n\
         [[key]]\nissuer = \"google\"\nsecret = \"{youtube}\"\nproject = \"777\"\nscopes = [\"youtube.googleapis.com\"]\n"
    );
    let leak = Leak::start(&keys, &[("GOOGLE_API_KEY", &open), ("YT_KEY", &youtube)]);
    let report = leak.scan_with_access();

    // Unrestricted, every API enabled: Gemini's files read, generation billed.
    let o = reach(&report, "google.api-key", &open);
    assert_eq!(
        list(o, "granted"),
        ["generativelanguage", "generativelanguage.files", "youtube"],
        "{o:#}"
    );
    assert_eq!(list(o, "capabilities"), ["read-secrets", "write", "read"]);
    assert_eq!(o["risk"], "privileged");

    // A project that enabled YouTube only: Google's SERVICE_DISABLED names the project.
    let y = reach(&report, "google.api-key", &youtube);
    assert_eq!(names(y, "project"), ["projects/777 -"], "{y:#}");
    assert_eq!(list(y, "granted"), ["youtube"]);
    assert_eq!(
        list(y, "denied"),
        ["generativelanguage", "generativelanguage.files"]
    );
    assert_eq!(y["risk"], "read-only");
    assert!(list(y, "unseen").iter().any(|u| u.contains("billed APIs")));
    assert!(leak.calls("google").iter().all(|c| c["method"] == "GET"));
    leak.assert_no_plaintext(&report.to_string(), &[&open, &youtube]);
}

/// A Google service-account key's roles: a token minted from the key (JWT bearer), then the
/// project's IAM policy (`getIamPolicy`, the one POST enumeration may send, as Google documents
/// it); only the bindings naming `serviceAccount:<client_email>` are the account's. An Owner
/// bound to someone else in the same policy is not the deployer's; an account holding no role
/// on the project is refused the policy, and says so.
#[test]
fn google_service_account_reach_is_the_roles_bound_to_it() {
    let mut g = Gen::new(1631);
    let project = "proj-x";
    let accounts = [
        (
            "deployer",
            1632,
            vec![
                ("roles/editor", None),
                ("roles/storage.admin", None),
                ("roles/owner", Some("user:ana@example.com")),
            ],
        ),
        ("root", 1633, vec![("roles/owner", None)]),
        ("reader", 1634, vec![("roles/viewer", None)]),
        ("stranger", 1635, vec![]),
    ];
    let mut keys = String::new();
    let mut pems = Vec::new();
    let mut files = Vec::new();
    for (name, seed, roles) in &accounts {
        let (_, pem) = common::fake_verify::rsa_pem(*seed);
        let email = format!("{name}@{project}.iam.gserviceaccount.com");
        let key_id = g.hex(40);
        keys.push_str(&format!(
            "[[key]]\nissuer = \"google\"\nprincipal = \"{email}\"\nkey_id = \"{key_id}\"\nproject = \"{project}\"\nsecret = \"\"\"{pem}\"\"\"\n"
        ));
        for (role, member) in roles {
            keys.push_str(&grant("role", role, *member, ""));
        }
        let sa = serde_json::json!({"type": "service_account", "project_id": project, "private_key_id": key_id,
            "private_key": pem, "client_email": email, "token_uri": "https://oauth2.googleapis.com/token"});
        files.push((format!("{name}.json"), serde_json::to_string_pretty(&sa).unwrap()));
        pems.push(pem);
    }
    let leak = Leak::with_files(&keys, &files);
    let report = leak.scan_with_access();
    let rule = "google.service-account-key";
    let sa = |name: &str| {
        let email = format!("{name}@{project}.iam.gserviceaccount.com");
        let f = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == rule && f["verification"]["principal"] == email.as_str())
            .unwrap_or_else(|| panic!("no live finding for {email} in {report:#}"));
        let r = &f["reach"];
        assert!(r.is_object(), "{name}: no reach in {f:#}");
        assert_eq!(r["whose"]["client_id"], email.as_str(), "{r:#}");
        r.clone()
    };

    // Editor and a service's admin: privileged (Editor creates API keys and service accounts),
    // not the Owner the same policy binds to a person.
    let d = sa("deployer");
    assert_eq!(
        names(&d, "role"),
        ["roles/editor -", "roles/storage.admin -"],
        "{d:#}"
    );
    assert_eq!(
        list(&d, "capabilities"),
        ["create-iam-principals", "repo-admin", "write", "read"]
    );
    assert_eq!(d["risk"], "privileged");
    assert_eq!(d["whose"]["token_lifetime"], "1 hour");
    assert!(list(&d, "unseen")
        .iter()
        .any(|u| u.contains("folders and organisation")));

    let o = sa("root");
    assert_eq!(names(&o, "role"), ["roles/owner -"]);
    assert_eq!(o["risk"], "org-admin");
    assert!(list(&o, "capabilities").contains(&"read-secrets"));

    let v = sa("reader");
    assert_eq!(names(&v, "role"), ["roles/viewer -"]);
    assert_eq!(list(&v, "capabilities"), ["read"]);
    assert_eq!(v["risk"], "read-only");

    // No role on the project: Google refuses the policy, and the reach says so.
    let s = sa("stranger");
    assert!(names(&s, "role").is_empty(), "{s:#}");
    assert!(
        list(&s, "unseen")
            .iter()
            .any(|u| u
                .starts_with("project IAM policy: refused (HTTP 403: The caller does not have permission)")),
        "{s:#}"
    );
    assert_eq!(s["risk"], "unknown");

    // Only the token exchange and the policy read were sent, both POSTs.
    let calls = leak.calls("google");
    let policy = format!("/google/cloudresourcemanager/v1/projects/{project}:getIamPolicy");
    assert!(calls.iter().any(|c| c["path"] == policy.as_str()), "{calls:#?}");
    for c in &calls {
        assert_eq!(c["method"], "POST", "{c}");
        assert!(
            c["path"] == "/google/oauth/token" || c["path"] == policy.as_str(),
            "{c}"
        );
    }
    let text = report.to_string();
    assert!(
        !text.contains("ya29."),
        "a minted access token reached the report"
    );
    let secrets: Vec<&str> = pems.iter().map(String::as_str).collect();
    leak.assert_no_plaintext(&text, &secrets);
}

/// The newer enumerators in one `quench findings` listing: the AWS administrator and the live
/// Stripe secret key first, the GitLab maintainer next, the Vercel viewer (who still deploys
/// their own projects), then the restricted Stripe key and the YouTube-only Google key.
#[test]
fn findings_of_the_platforms_are_ranked_by_reach() {
    let mut g = Gen::new(1630);
    let (aws_id, aws_secret) = fake::aws(&mut g);
    let stripe_live = format!("sk_live_{}", g.alnum(40));
    let gitlab = fake::gitlab_routable(&mut g);
    let vercel = format!("vcp_{}", g.alnum(56));
    let stripe_rk = format!("rk_live_{}", g.alnum(40));
    let google = format!("AIza{}", g.alnum(35));
    let keys = format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{aws_id}\"\nsecret = \"{aws_secret}\"\nprincipal = \"arn:aws:iam::111122223333:user/root-ish\"\n{}\
         [[key]]\nissuer = \"stripe\"\nsecret = \"{stripe_live}\"\n\
         [[key]]\nissuer = \"gitlab\"\nsecret = \"{gitlab}\"\nprincipal = \"ana\"\nscopes = [\"api\"]\n{}\
         [[key]]\nissuer = \"vercel\"\nsecret = \"{vercel}\"\nprincipal = \"bo\"\n{}\
         [[key]]\nissuer = \"stripe\"\nsecret = \"{stripe_rk}\"\nscopes = [\"rak_charge_read\"]\n\
         [[key]]\nissuer = \"google\"\nsecret = \"{google}\"\nproject = \"777\"\nscopes = [\"youtube.googleapis.com\"]\n",
        grant("policy", "AdministratorAccess", None, ""),
        grant("project", "acme/api", Some("maintainer"), ""),
        grant("team", "acme", Some("VIEWER"), ""),
    );
    let leak = Leak::start(&keys, &[]);
    for (file, text) in [
        ("aws.env", format!("AWS_ACCESS_KEY_ID={aws_id}\nAWS_SECRET_ACCESS_KEY={aws_secret}\n")),
        (
            "app.env",
            format!("STRIPE={stripe_live}\nGITLAB_TOKEN={gitlab}\nVERCEL_TOKEN={vercel}\nSTRIPE_RK={stripe_rk}\nGOOGLE_API_KEY={google}\n"),
        ),
    ] {
        std::fs::write(leak.path().join(file), text).unwrap();
    }
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
        .filter(|f| f["reach"].is_object())
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["reach"]["risk"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let risks: Vec<&str> = order.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        risks,
        [
            "org-admin",
            "org-admin",
            "privileged",
            "write",
            "read-only",
            "read-only"
        ],
        "{order:?}"
    );
    let at = |rule: &str| {
        order
            .iter()
            .position(|(r, _)| r == rule)
            .unwrap_or_else(|| panic!("{rule}: {order:?}"))
    };
    assert!(at("aws.access-key") < 2 && at("stripe.live-secret-key") < 2);
    assert_eq!(at("gitlab.pat-routable"), 2);
    assert_eq!(at("vercel.personal-token"), 3);
    assert!(at("stripe.live-restricted-key") > 3 && at("google.api-key") > 3);
}
