//! AWS session credentials and the inline deny that cuts them off, as AWS documents them:
//! STS `GetSessionToken` (Query API, version 2011-06-15) mints temporary credentials
//! (`ASIA…` id, secret, session token, expiration) from a long-term key; they stay valid when
//! that key is deactivated ("temporary security credentials are valid until they expire, and
//! they cannot be revoked"), so the IAM user's permissions are what cuts them off. IAM
//! `PutUserPolicy` (version 2010-05-08) embeds an inline policy in a user; a `Deny` whose
//! condition is `DateLessThan aws:TokenIssueTime` refuses requests signed by sessions issued
//! before that time. Long-term keys carry no `aws:TokenIssueTime`, so the condition never
//! matches them. `sts:GetCallerIdentity` answers even under an explicit deny (AWS documents
//! that exception), which is why a test shows the cut with another call.
//!
//! A child of `routes`: `aws_api` resolves a signer through [`State::session`], asks
//! [`State::denied`] before acting for a session, and hands these two actions here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{aws_error, reply, Reply, Sim};
use crate::verify::aws;

/// Sessions minted so far and each user's inline policies.
#[derive(Default)]
pub struct State {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: Vec<Session>,
    /// (account, user name) → policy name → policy document.
    policies: HashMap<(String, String), BTreeMap<String, Value>>,
}

/// One set of temporary credentials.
#[derive(Clone)]
pub struct Session {
    pub key_id: String,
    pub secret: String,
    pub token: String,
    /// The long-term key (keys.toml position) that minted it; the session acts as its user.
    pub parent: usize,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl State {
    /// The session whose access key id signed a request.
    pub fn session(&self, key_id: &str) -> Option<Session> {
        self.lock().sessions.iter().find(|s| s.key_id == key_id).cloned()
    }

    /// Whether an inline policy of `user` denies every action to a session issued at `issued`
    /// (`Effect: Deny`, `Action: *`, `DateLessThan` on `aws:TokenIssueTime` later than it).
    pub fn denied(&self, account: &str, user: &str, issued: DateTime<Utc>) -> bool {
        let g = self.lock();
        let Some(docs) = g.policies.get(&(account.to_string(), user.to_string())) else {
            return false;
        };
        docs.values().any(|doc| {
            let statements = match &doc["Statement"] {
                Value::Array(a) => a.clone(),
                s @ Value::Object(_) => vec![s.clone()],
                _ => vec![],
            };
            statements.iter().any(|s| {
                let every = |v: &Value| match v {
                    Value::String(a) => a == "*",
                    Value::Array(a) => a.iter().any(|x| x == "*"),
                    _ => false,
                };
                let before = s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| issued < t);
                s["Effect"] == "Deny" && every(&s["Action"]) && before
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `GetSessionToken`, signed by the long-term key `parent`: new credentials, issued now,
/// valid for `DurationSeconds` (900 to 129,600; default 43,200), in the documented XML
/// (or, asked for JSON, the Query API's JSON) answer.
pub(super) fn get_session_token(
    sim: &Sim,
    parent: usize,
    params: &HashMap<String, String>,
    json_wanted: bool,
) -> Reply {
    let secs = match params.get("DurationSeconds").map(|d| d.parse::<i64>()) {
        None => 43_200,
        Some(Ok(d)) if (900..=129_600).contains(&d) => d,
        Some(_) => {
            return reply(
                400,
                json!("<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>DurationSeconds must be between 900 and 129600</Message></Error></ErrorResponse>"),
                "verify",
            )
            .header("content-type", "text/xml")
        }
    };
    let issued = Utc::now();
    let mut g = sim.aws.lock();
    let n = g.sessions.len();
    let seed = aws::sha256_hex(format!("{}/{n}", sim.keys[parent].secret).as_bytes());
    // An id in the key-id alphabet (A-Z, 2-7), a 40-character secret, a long token.
    let key_id: String = "ASIA"
        .chars()
        .chain(seed.bytes().take(16).map(|b| {
            let d = (b as char).to_digit(16).unwrap_or(0) as usize;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[d * 2 % 32] as char
        }))
        .collect();
    let secret = aws::sha256_hex(format!("secret/{seed}").as_bytes())[..40].to_string();
    let token = (0..4)
        .map(|i| aws::sha256_hex(format!("token/{i}/{seed}").as_bytes()))
        .collect::<String>();
    let s = Session {
        key_id,
        secret,
        token,
        parent,
        issued,
        expires: issued + chrono::Duration::seconds(secs),
    };
    g.sessions.push(s.clone());
    let expiration = s.expires.format("%Y-%m-%dT%H:%M:%SZ");
    if json_wanted {
        return reply(
            200,
            json!({"GetSessionTokenResponse": {"GetSessionTokenResult": {"Credentials": {
                "AccessKeyId": s.key_id, "SecretAccessKey": s.secret, "SessionToken": s.token,
                "Expiration": expiration.to_string()}}, "ResponseMetadata": {"RequestId": "sim"}}}),
            "verify",
        );
    }
    reply(
        200,
        json!(format!(
            "<GetSessionTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetSessionTokenResult><Credentials>\
             <SessionToken>{}</SessionToken><SecretAccessKey>{}</SecretAccessKey><Expiration>{expiration}</Expiration>\
             <AccessKeyId>{}</AccessKeyId></Credentials></GetSessionTokenResult><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></GetSessionTokenResponse>",
            s.token, s.secret, s.key_id
        )),
        "verify",
    )
    .header("content-type", "text/xml")
}

/// `PutUserPolicy`: embeds (or replaces) the named inline policy in a user of the signer's
/// account. The user must exist (`NoSuchEntity`), the document must be a JSON policy
/// (`MalformedPolicyDocument`), and the signer must be an admin or the user itself with
/// `iam:PutUserPolicy` (`AccessDenied`).
pub(super) fn put_user_policy(
    sim: &Sim,
    signer: &super::super::SimKey,
    account: &str,
    params: &HashMap<String, String>,
    json_wanted: bool,
) -> Reply {
    let user = params.get("UserName").cloned().unwrap_or_default();
    let name = params.get("PolicyName").cloned().unwrap_or_default();
    let exists = sim.keys.iter().any(|k| {
        k.issuer == "aws"
            && k.org.as_deref().unwrap_or("123456789012") == account
            && super::aws_user_name(k) == user
    });
    if user.is_empty() || name.is_empty() || !exists {
        return reply(
            404,
            json!("<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name cannot be found.</Message></Error></ErrorResponse>"),
            "revoke",
        )
        .header("content-type", "text/xml");
    }
    let may = signer.admin
        || (super::aws_user_name(signer) == user
            && !signer.no_self_revoke
            && (signer.scopes.is_empty() || signer.scopes.iter().any(|s| s == "iam:PutUserPolicy")));
    if !may {
        return aws_error("AccessDenied", json_wanted, "revoke");
    }
    let doc = params
        .get("PolicyDocument")
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|d| d["Version"].is_string() && !d["Statement"].is_null());
    let Some(doc) = doc else {
        return reply(
            400,
            json!("<ErrorResponse><Error><Type>Sender</Type><Code>MalformedPolicyDocument</Code><Message>The policy document is not valid JSON.</Message></Error></ErrorResponse>"),
            "revoke",
        )
        .header("content-type", "text/xml");
    };
    sim.aws
        .lock()
        .policies
        .entry((account.to_string(), user))
        .or_default()
        .insert(name, doc);
    reply(
        200,
        json!("<PutUserPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></PutUserPolicyResponse>"),
        "revoke",
    )
    .header("content-type", "text/xml")
}
