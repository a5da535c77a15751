//! The generic assignment rules on what real code is full of and is not a secret: template
//! placeholders, URL login options, CSRF tokens, names that describe a password rather than
//! hold one; and the example values issuers print in their documentation, which are marked
//! `example` (summary.examples) instead of being reported as leaks.

use crate::common::{self, fake::Gen};

#[test]
fn placeholders_url_options_and_password_properties_are_not_findings() {
    let mut g = Gen::new(61);
    // One real-looking value per file, so each file proves its rule still fires there.
    let real_pw = format!("Qx{}9", g.alnum(14));
    let real_key = g.alnum(28);
    let cases: &[(&str, &str)] = &[
        (
            "build.properties",
            "db.password=@DB_PASSWORD@\napi_key=@SERVICE_API_KEY@\n",
        ),
        (
            "values.yaml",
            "password: {{ .Values.dbPassword }}\nsecret_key: {{ secret_key_value }}\n",
        ),
        (
            "deploy.bat",
            "set PASSWORD=%SERVICE_PASSWORD_2%\nset API_TOKEN=%DEPLOY_API_TOKEN%\n",
        ),
        (
            "run.sh",
            "password: ${DB_PASSWORD:-changeit}\ntoken: ${API_TOKEN:-defaultToken123}\n",
        ),
        (
            "README.md",
            "api_key: <your-api-key-here>\npassword = <your-password>\n",
        ),
        (
            "mail.sh",
            "curl imap://user;AUTH=EXTERNAL@imap.corp.net/\ncurl 'pop3://me;AUTH=NTLM@pop.corp.net/'\n",
        ),
        (
            "test_forms.py",
            "csrf_token = \"a8Fk2LmZ0vXy7TnBq9Rw\"\nXSRF_TOKEN=Jk29dLsQpz7XvT3mWn8B\n",
        ),
        (
            "settings.py",
            "PASSWORD_ALGORITHM = \"pbkdf2_sha256\"\npassword_policy = \"StrongPolicy2024\"\n\
             passwordMinLength: 12chars\npassword_reset_url = \"/accounts/reset7\"\n",
        ),
    ];
    let d = tempfile::tempdir().unwrap();
    for (name, text) in cases {
        std::fs::write(
            d.path().join(name),
            format!("{text}db_password = \"{real_pw}\"\nservice_api_key = \"{real_key}\"\n"),
        )
        .unwrap();
    }
    let (code, r) = common::scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    for f in r["findings"].as_array().unwrap() {
        let rule = f["rule_id"].as_str().unwrap();
        assert!(rule.starts_with("generic."), "{f}");
        let lines: Vec<u64> = f["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["line"].as_u64().unwrap())
            .collect();
        // Only the planted real values, on the last two lines of each file.
        for (l, loc) in lines.iter().zip(f["locations"].as_array().unwrap()) {
            let path = loc["path"].as_str().unwrap().trim_start_matches("./");
            let text = cases.iter().find(|c| c.0 == path).unwrap().1;
            assert!(
                *l as usize > text.lines().count(),
                "{path}:{l} is a false positive: {f}"
            );
        }
    }
    let found: usize = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["locations"].as_array().unwrap().len())
        .sum();
    assert_eq!(found, 2 * cases.len(), "every planted value still found: {r}");
}

#[test]
fn documented_examples_are_marked_not_reported() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("tutorial.py"),
        "AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"\n\
         AWS_SECRET_ACCESS_KEY = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n\
         token = \"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\"\n\
         stripe.api_key = \"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"\n",
    )
    .unwrap();
    let (code, r) = common::scan_json(d.path(), &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["findings"].as_array().unwrap().len(), 0, "{r}");
    let ex = r["summary"]["examples"].as_array().expect("examples listed");
    let seen: Vec<(u64, &str)> = ex
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["issuer"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        vec![(1, "aws"), (2, "aws"), (3, "jwt"), (4, "stripe")],
        "{r}"
    );
    assert!(ex
        .iter()
        .all(|e| e["source"].as_str().unwrap().starts_with("https://")));
}
