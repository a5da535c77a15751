//! Verifiers that need code: a signature to compute, a token to mint or decode. Each builds on
//! the HTTP recipe runner with a built-in default recipe that a rule's `[rule.verify]` fields
//! may override (a different base, extra identity paths).

use std::collections::BTreeMap;

use url::Url;

use super::aws;
use super::context::{Context, Job};
use super::http;
use super::jwt;
use super::verdict::{Revealed, Verdict, Verification};
use crate::issuer::guard;
use crate::issuer::verify_recipe::{Exchange, Kind, Matcher, Matchers, Recipe};
use crate::issuer::{render, Call, Prepared, Vars};
use crate::rules::Identity;

/// Starts from `preset` and lets the rule's recipe override what it sets.
fn overlay(mut preset: Recipe, rule: &Recipe) -> Recipe {
    preset.kind = rule.kind;
    let (p, r) = (&mut preset.call, &rule.call);
    if r.url.is_some() {
        p.url = r.url.clone();
    }
    if r.method.is_some() {
        p.method = r.method.clone();
    }
    p.headers.extend(r.headers.clone());
    p.query.extend(r.query.clone());
    if !r.form.is_empty() {
        p.form.extend(r.form.clone());
    }
    if rule.token_url.is_some() {
        preset.token_url = rule.token_url.clone();
    }
    if rule.live.is_some() {
        preset.live = rule.live.clone();
    }
    if rule.dead.is_some() {
        preset.dead = rule.dead.clone();
    }
    if rule.indeterminate.is_some() {
        preset.indeterminate = rule.indeterminate.clone();
    }
    let (p, r) = (&mut preset.identity, &rule.identity);
    for (dst, src) in [
        (&mut p.principal, &r.principal),
        (&mut p.org, &r.org),
        (&mut p.project, &r.project),
        (&mut p.scopes, &r.scopes),
        (&mut p.expires, &r.expires),
        (&mut p.key_id, &r.key_id),
        (&mut p.model, &r.model),
    ] {
        if src.is_some() {
            *dst = src.clone();
        }
    }
    preset.captures.extend(rule.captures.clone());
    preset.scope = rule.scope.clone().or(preset.scope);
    preset.client_id = rule.client_id.clone().or(preset.client_id);
    preset.client_auth_basic |= rule.client_auth_basic;
    preset.region = rule.region.clone().or(preset.region);
    preset
}

fn body_has(status: u16, needle: &str) -> Matcher {
    Matcher {
        status: vec![status],
        body: Some(needle.to_string()),
        ..Default::default()
    }
}

fn ind(job: &Job, kind: Kind, reason: impl Into<String>) -> Verification {
    let s = &job.rule.spec;
    Verification::indeterminate(reason, s.identity, &s.issuer, kind.as_str())
}

/// AWS: STS GetCallerIdentity signed with the key id and secret found together.
pub async fn aws(ctx: &Context, job: &Job, rule: &Recipe) -> Verification {
    let secret = job.secret_str();
    let mut values: Vec<(String, String)> = vec![("secret".into(), secret)];
    values.extend(
        job.parts
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned())),
    );
    let key_id = values
        .iter()
        .find(|(_, v)| aws::is_key_id(v))
        .map(|(_, v)| v.clone());
    let secret_key = values
        .iter()
        .find(|(n, v)| {
            v.len() == 40
                && !n.contains("session")
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/+=".contains(&b))
        })
        .map(|(_, v)| v.clone());
    let session = values
        .iter()
        .find(|(n, v)| n.contains("session") && v.len() > 40)
        .map(|(_, v)| v.clone());
    let (Some(key_id), Some(secret_key)) = (key_id, secret_key) else {
        return ind(
            job,
            Kind::AwsSigv4,
            "an AWS key id needs its secret access key nearby to be checked",
        );
    };
    let preset = Recipe {
        kind: Kind::AwsSigv4,
        call: Call {
            url: Some("{sts}/?Action=GetCallerIdentity&Version=2011-06-15".into()),
            headers: BTreeMap::from([("Accept".to_string(), "application/json".to_string())]),
            ..Default::default()
        },
        live: Some(Matchers::status(&[200])),
        // AWS knows the key id but not with this secret: the key may be live with another one
        // (the secret found beside it belongs to a different key, or was mangled).
        indeterminate: Some(Matchers::One(body_has(403, "SignatureDoesNotMatch"))),
        dead: Some(Matchers::Many(vec![
            body_has(403, "InvalidClientTokenId"),
            body_has(403, "ExpiredToken"),
            body_has(400, "ExpiredToken"),
        ])),
        identity: crate::issuer::verify_recipe::IdentitySpec {
            principal: Some("json:GetCallerIdentityResponse.GetCallerIdentityResult.Arn".into()),
            org: Some("json:GetCallerIdentityResponse.GetCallerIdentityResult.Account".into()),
            key_id: Some("json:GetCallerIdentityResponse.GetCallerIdentityResult.UserId".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let recipe = overlay(preset, rule);
    let region = recipe.region.clone().unwrap_or_else(|| "us-east-1".into());
    let signer = |region: String| {
        let (key_id, secret_key, session) = (key_id.clone(), secret_key.clone(), session.clone());
        move |req: &mut Prepared| {
            let body = req.body.as_ref().map(|(b, _)| b.clone()).unwrap_or_default();
            let creds = aws::Credentials {
                key_id: &key_id,
                secret: &secret_key,
                session_token: session.as_deref(),
            };
            let h = aws::sign(
                req.method.as_str(),
                &req.url,
                &body,
                &creds,
                &region,
                "sts",
                chrono::Utc::now(),
            );
            req.headers.extend(h);
        }
    };
    let (mut v, ex) = ctx
        .run_http(job, &recipe, Vars::default(), Some(&signer(region)))
        .await;
    let unknown = |ex: &Option<crate::issuer::verify_recipe::Exchange>| {
        ex.as_ref()
            .is_some_and(|e| String::from_utf8_lossy(&e.body).contains("InvalidClientTokenId"))
    };
    if v.verdict == Verdict::Dead && unknown(&ex) {
        // A key of another partition (GovCloud, China) is unknown to this one's STS, which
        // answers it exactly like a deleted key: ask each other partition's STS before
        // calling the key dead.
        let bases = ctx
            .registry
            .get(&job.rule.spec.issuer)
            .map(|e| e.bases.clone())
            .unwrap_or_default();
        let mut unsure = None;
        for (base, region, label) in OTHER_PARTITIONS {
            let Some(url) = bases.get(*base).map(|b| b.url.clone()).filter(|u| !u.is_empty()) else {
                unsure.get_or_insert_with(|| {
                    format!("the {label} partition is not configured ([issuers.aws] {base})")
                });
                continue;
            };
            let mut extra = Vars::default();
            extra.set("sts", url);
            let (pv, pex) = ctx
                .run_http(job, &recipe, extra, Some(&signer(region.to_string())))
                .await;
            match pv.verdict {
                Verdict::Live => {
                    v = pv;
                    v.revealed.site = Some(label.to_string());
                    break;
                }
                Verdict::Dead if unknown(&pex) => {}
                _ => {
                    unsure.get_or_insert_with(|| {
                        format!(
                            "the {label} partition gave no conclusive answer ({})",
                            pv.reason.as_deref().unwrap_or("unknown")
                        )
                    });
                }
            }
        }
        if v.verdict == Verdict::Dead {
            v.reason = Some(match &unsure {
                None => "no AWS partition knows the key id (InvalidClientTokenId)".into(),
                Some(why) => format!("the commercial partition does not know the key id, but {why}"),
            });
            if unsure.is_some() {
                v.verdict = Verdict::Indeterminate;
            }
        }
    } else if v.verdict == Verdict::Dead {
        v.reason = Some("the session token has expired (ExpiredToken)".into());
    } else if v.verdict == Verdict::Indeterminate
        && ex
            .as_ref()
            .is_some_and(|e| String::from_utf8_lossy(&e.body).contains("SignatureDoesNotMatch"))
    {
        v.reason = Some(
            "AWS knows the key id, but the secret found beside it does not match it (SignatureDoesNotMatch)"
                .into(),
        );
    }
    if v.verdict == Verdict::Live {
        if let Some(arn) = v.revealed.principal.clone() {
            v.identity_model = if arn.contains(":assumed-role/") {
                Identity::M2m
            } else if arn.ends_with(":root") {
                v.revealed
                    .extra
                    .insert("warning".into(), "account root key".into());
                Identity::User
            } else {
                job.rule.spec.identity
            };
        }
        if let Some(acct) = v.revealed.org.take() {
            v.revealed.org = Some(format!("AWS account {acct}"));
        }
    }
    v
}

/// The AWS partitions other than the commercial one: the registry base of each one's STS,
/// the region a request to it is signed for, and its name (the verdict's `site`).
const OTHER_PARTITIONS: &[(&str, &str, &str)] = &[
    ("sts_us_gov", "us-gov-west-1", "aws-us-gov"),
    ("sts_cn", "cn-north-1", "aws-cn"),
];

/// For a key verified live in another partition (its verdict's `site`): the registry base of
/// that partition's IAM and the region IAM calls there are signed for.
pub fn aws_partition_iam(site: &str) -> Option<(&'static str, &'static str)> {
    match site {
        "aws-us-gov" => Some(("iam_us_gov", "us-gov-west-1")),
        "aws-cn" => Some(("iam_cn", "cn-north-1")),
        _ => None,
    }
}

/// JWT: decode, expiry, and (for RS256 issuers that publish a JWKS on their own host) the
/// signature. Nothing is fetched from a host the egress rules refuse.
pub async fn jwt(ctx: &Context, job: &Job) -> Verification {
    let spec = &job.rule.spec;
    let k = Kind::Jwt;
    let token = job.secret_str();
    let t = match jwt::decode(&token) {
        Ok(t) => t,
        Err(e) => return ind(job, k, e),
    };
    let (model, revealed) = jwt::reveal(&t);
    let make = |verdict, reason: Option<String>| {
        Verification::new(verdict, reason, model, revealed.clone(), &spec.issuer, k.as_str())
    };
    let now = chrono::Utc::now().timestamp();
    if let Some(exp) = t.exp() {
        if exp + 60 < now {
            let when = revealed.expires_at.clone().unwrap_or_default();
            return make(Verdict::Dead, Some(format!("expired at {when}")));
        }
    }
    if let Some(nbf) = t.claims["nbf"].as_i64() {
        if nbf - 60 > now {
            return make(
                Verdict::Indeterminate,
                Some("not valid yet (nbf in the future)".into()),
            );
        }
    }
    let alg = t.alg().to_string();
    if alg.starts_with("HS") {
        return make(
            Verdict::Indeterminate,
            Some(format!(
                "{alg} is signed with a shared secret: claims decoded, signature uncheckable"
            )),
        );
    }
    if alg != "RS256" {
        return make(
            Verdict::Indeterminate,
            Some(format!("signature algorithm {alg:?} is not checked")),
        );
    }
    let Some(iss) = t.claim_str("iss") else {
        return make(
            Verdict::Indeterminate,
            Some("no `iss` claim: no issuer to fetch keys from".into()),
        );
    };
    let Ok(iss_url) = Url::parse(&iss) else {
        return make(
            Verdict::Indeterminate,
            Some("the `iss` claim is not a URL".into()),
        );
    };
    // An attacker signs a token with their own key, names their own server as `iss` and
    // publishes the key there: its signature proves nothing unless the issuer is trusted.
    if !ctx.opts.trusts_jwt_issuer(&iss) {
        return make(
            Verdict::Indeterminate,
            Some(format!(
                "issuer {} is not trusted to sign tokens: its signature was not checked (add it to [verify] jwt_issuers)",
                iss_url.host_str().unwrap_or("?")
            )),
        );
    }
    let target = match guard::check_derived(&iss_url, &ctx.registry).await {
        Ok(t) => t,
        Err(e) => return make(Verdict::Indeterminate, Some(format!("issuer URL refused: {e}"))),
    };
    let gate = format!("jwt:{}", iss_url.host_str().unwrap_or(""));
    let get = |url: Url| Prepared {
        method: reqwest::Method::GET,
        url,
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        basic: None,
    };
    let disc_url = match Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        iss.trim_end_matches('/')
    )) {
        Ok(u) => u,
        Err(_) => {
            return make(
                Verdict::Indeterminate,
                Some("the `iss` claim is not a URL".into()),
            )
        }
    };
    let disc = match ctx.exchange(&gate, target.clone(), get(disc_url)).await {
        Ok(ex) if ex.status == 200 => ex,
        Ok(ex) => {
            return make(
                Verdict::Indeterminate,
                Some(format!("issuer discovery answered HTTP {}", ex.status)),
            )
        }
        Err(f) => return make(Verdict::Indeterminate, Some(f.reason())),
    };
    let jwks_uri = disc
        .json
        .as_ref()
        .and_then(|j| j["jwks_uri"].as_str().map(String::from));
    let Some(jwks_url) = jwks_uri.and_then(|u| Url::parse(&u).ok()) else {
        return make(
            Verdict::Indeterminate,
            Some("issuer discovery has no jwks_uri".into()),
        );
    };
    if jwks_url.scheme() != iss_url.scheme()
        || jwks_url.host_str() != iss_url.host_str()
        || jwks_url.port_or_known_default() != iss_url.port_or_known_default()
    {
        return make(
            Verdict::Indeterminate,
            Some(format!(
                "JWKS on another host ({}) than the issuer: not fetched",
                jwks_url.host_str().unwrap_or("")
            )),
        );
    }
    let jwks = match ctx.exchange(&gate, target, get(jwks_url)).await {
        Ok(ex) if ex.status == 200 && ex.json.is_some() => ex.json.unwrap_or_default(),
        Ok(ex) => {
            return make(
                Verdict::Indeterminate,
                Some(format!("JWKS answered HTTP {}", ex.status)),
            )
        }
        Err(f) => return make(Verdict::Indeterminate, Some(f.reason())),
    };
    let kid = t.header["kid"].as_str();
    let keys: Vec<&serde_json::Value> = jwks["keys"]
        .as_array()
        .map(|a| a.iter().filter(|k| k["kty"] == "RSA").collect())
        .unwrap_or_default();
    let candidates: Vec<&serde_json::Value> = match kid {
        Some(kid) => keys
            .into_iter()
            .filter(|k| k["kid"].as_str() == Some(kid))
            .collect(),
        None => keys,
    };
    if candidates.is_empty() {
        return make(
            Verdict::Dead,
            Some("the signing key is not in the issuer's JWKS (rotated out, or never the issuer's)".into()),
        );
    }
    if candidates
        .iter()
        .filter_map(|j| jwt::jwk_to_key(j))
        .any(|key| jwt::verify_rs256(&key, &t))
    {
        make(Verdict::Live, None)
    } else {
        make(
            Verdict::Dead,
            Some("the signature does not verify against the issuer's JWKS".into()),
        )
    }
}

/// GitHub App private key: sign an app JWT (iss = app id), `GET /app`.
pub async fn github_app(ctx: &Context, job: &Job, rule: &Recipe) -> Verification {
    let k = Kind::GithubApp;
    let Some(app_id) = job.part("app_id") else {
        return ind(
            job,
            k,
            "a GitHub App key needs its app id or client id nearby to be checked",
        );
    };
    let key = match jwt::private_key_from_pem(&job.secret_str()) {
        Ok(key) => key,
        Err(e) => return ind(job, k, e),
    };
    let now = chrono::Utc::now().timestamp();
    let iss = match app_id.parse::<u64>() {
        Ok(n) => serde_json::json!(n),
        Err(_) => serde_json::json!(app_id),
    };
    let token = jwt::sign_rs256(
        &key,
        &serde_json::json!({"iat": now - 60, "exp": now + 540, "iss": iss}),
        None,
    );
    let preset = Recipe {
        kind: k,
        call: Call {
            url: Some("{api}/app".into()),
            headers: BTreeMap::from([
                ("Authorization".to_string(), "Bearer {app_jwt}".to_string()),
                ("Accept".to_string(), "application/vnd.github+json".to_string()),
                ("X-GitHub-Api-Version".to_string(), "2022-11-28".to_string()),
            ]),
            ..Default::default()
        },
        identity: crate::issuer::verify_recipe::IdentitySpec {
            principal: Some("json:slug".into()),
            org: Some("json:owner.login".into()),
            key_id: Some("json:id".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let recipe = overlay(preset, rule);
    let mut vars = Vars::default();
    vars.set("app_jwt", token);
    let (mut v, ex) = ctx.run_http(job, &recipe, vars, None).await;
    if v.verdict == Verdict::Live {
        if let Some(perms) = ex
            .as_ref()
            .and_then(|e| e.json.as_ref())
            .and_then(|j| j["permissions"].as_object())
        {
            v.revealed.scopes = perms
                .iter()
                .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or("?")))
                .collect();
        }
    }
    v
}

/// Google service-account key: sign a JWT-bearer assertion and exchange it at the token
/// endpoint (the registry's, never the `token_uri` written in the scanned file).
pub async fn google_service_account(ctx: &Context, job: &Job, rule: &Recipe) -> Verification {
    let (mut v, _) = google_token_exchange(ctx, job, rule).await;
    if v.verdict == Verdict::Live {
        let email = job.part("client_email").unwrap_or_default();
        if let Some(project) = email
            .split('@')
            .nth(1)
            .and_then(|d| d.strip_suffix(".iam.gserviceaccount.com"))
        {
            v.revealed.project = Some(project.to_string());
        }
        v.revealed.principal = Some(email);
        v.revealed.key_id = job.part("private_key_id");
        v.identity_model = Identity::M2m;
    }
    v
}

/// An OAuth access token minted from the service-account key in `job` (the same JWT-bearer
/// grant verification makes, with the rule's `[rule.verify]` overrides), for the read-only
/// calls enumeration makes as the account. The error says why none was minted.
pub async fn google_access_token(ctx: &Context, job: &Job) -> Result<String, String> {
    let rule = job.rule.spec.verify.clone().unwrap_or(Recipe {
        kind: Kind::GoogleServiceAccount,
        ..Default::default()
    });
    let (v, ex) = google_token_exchange(ctx, job, &rule).await;
    let token = ex
        .as_ref()
        .and_then(|e| e.json.as_ref())
        .and_then(|j| j["access_token"].as_str())
        .filter(|t| !t.is_empty());
    match (v.verdict, token) {
        (Verdict::Live, Some(t)) => Ok(t.to_string()),
        _ => Err(v
            .reason
            .unwrap_or_else(|| format!("the token endpoint's answer was {}", v.verdict.as_str()))),
    }
}

/// The JWT-bearer exchange itself: the verdict on the key and the token endpoint's answer.
async fn google_token_exchange(ctx: &Context, job: &Job, rule: &Recipe) -> (Verification, Option<Exchange>) {
    let k = Kind::GoogleServiceAccount;
    let Some(email) = job.part("client_email") else {
        return (
            ind(
                job,
                k,
                "a service-account key needs its client_email nearby to be checked",
            ),
            None,
        );
    };
    let key = match jwt::private_key_from_pem(&job.secret_str()) {
        Ok(key) => key,
        Err(e) => return (ind(job, k, e), None),
    };
    let preset = Recipe {
        kind: k,
        call: Call {
            method: Some("POST".into()),
            form: BTreeMap::from([
                (
                    "grant_type".to_string(),
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
                ),
                ("assertion".to_string(), "{assertion}".to_string()),
            ]),
            ..Default::default()
        },
        token_url: Some("{oauth}/token".into()),
        scope: Some("https://www.googleapis.com/auth/cloud-platform".into()),
        live: Some(Matchers::One(Matcher {
            status: vec![200],
            json_present: vec!["access_token".into()],
            ..Default::default()
        })),
        dead: Some(Matchers::Many(vec![
            body_has(400, "invalid_grant"),
            body_has(401, "invalid_client"),
        ])),
        ..Default::default()
    };
    let recipe = overlay(preset, rule);
    let issuer = ctx.registry.get(&job.rule.spec.issuer);
    let vars = ctx.vars(job, issuer);
    let aud = match render(recipe.token_url.as_deref().unwrap_or(""), &vars) {
        Ok(a) => a,
        Err(e) => return (ind(job, k, format!("cannot build the token URL: {e}")), None),
    };
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": email, "sub": email, "aud": aud, "iat": now, "exp": now + 600,
        "scope": recipe.scope.clone().unwrap_or_default(),
    });
    let assertion = jwt::sign_rs256(&key, &claims, job.part("private_key_id").as_deref());
    let mut extra = Vars::default();
    extra.set("assertion", assertion);
    ctx.run_http(job, &recipe, extra, None).await
}

/// OAuth client credentials: client id + secret at a token endpoint. The minted token's
/// claims (when it is a JWT) name the app, tenant and roles.
pub async fn oauth_client_credentials(ctx: &Context, job: &Job, rule: &Recipe) -> Verification {
    let k = Kind::OauthClientCredentials;
    let client_id_t = rule
        .client_id
        .clone()
        .unwrap_or_else(|| "{part.client_id}".into());
    let mut form = BTreeMap::from([("grant_type".to_string(), "client_credentials".to_string())]);
    let basic = if rule.client_auth_basic {
        Some([client_id_t.clone(), "{secret}".to_string()])
    } else {
        form.insert("client_id".into(), client_id_t.clone());
        form.insert("client_secret".into(), "{secret}".into());
        None
    };
    if let Some(s) = &rule.scope {
        form.insert("scope".into(), s.clone());
    }
    let preset = Recipe {
        kind: k,
        call: Call {
            method: Some("POST".into()),
            form,
            basic,
            ..Default::default()
        },
        live: Some(Matchers::One(Matcher {
            status: vec![200],
            json_present: vec!["access_token".into()],
            ..Default::default()
        })),
        dead: Some(Matchers::Many(vec![
            Matcher {
                json: BTreeMap::from([("error".to_string(), toml::Value::String("invalid_client".into()))]),
                ..Default::default()
            },
            Matcher {
                status: vec![401],
                ..Default::default()
            },
        ])),
        ..Default::default()
    };
    let mut recipe = overlay(preset, rule);
    recipe.call.basic = recipe.call.basic.or(rule.call.basic.clone());
    let (mut v, ex) = ctx.run_http(job, &recipe, Vars::default(), None).await;
    if v.verdict == Verdict::Live {
        let j = ex.as_ref().and_then(|e| e.json.clone()).unwrap_or_default();
        let token = j["access_token"].as_str().unwrap_or("");
        let mut r = match jwt::decode(token) {
            Ok(t) => {
                let (_, mut r) = jwt::reveal(&t);
                // The minted token's `exp` is its own hour, not the client secret's expiry
                // (Entra's passwordCredential `endDateTime`, months away): never report one
                // as the other.
                if let Some(exp) = r.expires_at.take() {
                    r.extra.insert("token_expires_at".into(), exp);
                }
                r.principal = t
                    .claim_str("appid")
                    .or(t.claim_str("azp"))
                    .or(t.claim_str("client_id"))
                    .or(r.principal);
                r
            }
            Err(_) => Revealed::default(),
        };
        if r.principal.is_none() {
            r.principal = render(&client_id_t, &ctx.vars(job, None)).ok();
        }
        if r.scopes.is_empty() {
            if let Some(s) = j["scope"].as_str() {
                r.scopes = s.split_whitespace().map(String::from).collect();
            }
        }
        if r.expires_at.is_none() {
            if let Some(n) = j["expires_in"].as_i64() {
                r.extra
                    .insert("token_lifetime".into(), format!("{n}s per minted token"));
            }
        }
        r.org = r.org.or(v.revealed.org.take());
        if let Some(lookup) = &rule.secret_expiry {
            match secret_expiry(ctx, job, lookup, token).await {
                Ok(end) => r.expires_at = Some(end),
                Err(why) => {
                    r.extra.insert("secret_expiry".into(), format!("unknown: {why}"));
                }
            }
        }
        v.revealed = r;
        v.identity_model = Identity::M2m;
    }
    v
}

/// The client secret's own expiry, read with the token it just minted (see
/// [`crate::issuer::verify_recipe::SecretExpiry`]); the reason it is unknown otherwise.
async fn secret_expiry(
    ctx: &Context,
    job: &Job,
    lookup: &crate::issuer::verify_recipe::SecretExpiry,
    token: &str,
) -> Result<String, String> {
    let recipe = Recipe {
        call: Call {
            url: Some(lookup.url.clone()),
            headers: BTreeMap::from([("Authorization".to_string(), "Bearer {token}".to_string())]),
            query: lookup.query.clone(),
            ..Default::default()
        },
        live: Some(Matchers::status(&[200])),
        dead: Some(Matchers::status(&[])),
        ..Default::default()
    };
    let mut extra = Vars::default();
    extra.set("token", token);
    let (v, ex) = ctx.run_http(job, &recipe, extra, None).await;
    let ex = ex.ok_or_else(|| v.reason.clone().unwrap_or_else(|| "no answer".into()))?;
    if ex.status != 200 {
        return Err(format!(
            "the app may not read its registration (HTTP {})",
            ex.status
        ));
    }
    let secret = job.secret_str();
    let json = ex.json.unwrap_or_default();
    let ends: Vec<String> = crate::issuer::verify_recipe::json_path(&json, &lookup.items)
        .into_iter()
        .filter_map(|v| v.as_array())
        .flatten()
        .filter(|c| {
            c[lookup.hint.as_str()]
                .as_str()
                .is_some_and(|h| !h.is_empty() && secret.starts_with(h))
        })
        .filter_map(|c| c[lookup.take.as_str()].as_str().map(String::from))
        .collect();
    match ends.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no secret of the app registration has this one's hint".into()),
        _ => Err("several secrets of the app registration share this one's hint".into()),
    }
}

#[allow(dead_code)]
fn _assert_send(ctx: &Context, job: &Job, r: &Recipe) {
    fn is_send<T: Send>(_: T) {}
    is_send(aws(ctx, job, r));
    is_send(jwt(ctx, job));
    is_send(http::judge(r, &Default::default()));
}
