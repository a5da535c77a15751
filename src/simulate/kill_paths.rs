//! Exact-key kill paths that need more than a key's own answer, in the shapes their issuers
//! document: Twilio (API v2010 account fetch, Verify v2 service list, IAM v1 `Keys` delete;
//! twilio/twilio-oai), Auth0 (client credentials grant, Management API v2 client read and
//! `rotate-secret`), Google Cloud IAM (`projects.serviceAccounts.keys.delete`) and Cloudflare
//! account-owned tokens (`/accounts/{account_id}/tokens/verify` and `…/tokens/{token_id}`). A child of
//! `routes`, so it speaks the same request and reply types; the dispatcher hands it a request
//! when [`serves`] says so.

use axum::http::Method;
use serde_json::{json, Value};

use super::{k, reply, Reply, Req, Sim};

/// Whether this file answers the request (the rest of the issuer's routes stay in `routes`).
pub(super) fn serves(issuer: &str, r: &Req) -> bool {
    match issuer {
        "twilio" | "auth0" => true,
        "google" => r.rest.starts_with("/iam/"),
        "cloudflare" => r.rest.starts_with("/client/v4/accounts/") && r.rest.contains("/tokens/"),
        _ => false,
    }
}

pub(super) fn dispatch(sim: &Sim, issuer: &str, r: &Req) -> Reply {
    match issuer {
        "twilio" => twilio(sim, r),
        "auth0" => auth0(sim, r),
        "cloudflare" => cloudflare_account_tokens(sim, r),
        _ => google_iam(sim, r),
    }
}

/// Twilio's error body (`code`, `message`, `more_info`, `status`).
fn twilio_error(status: u16, code: u32, message: &str, kind: &'static str) -> Reply {
    reply(
        status,
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
        kind,
    )
}

/// Twilio: HTTP Basic with an account SID and auth token (a key whose `key_id` is the `AC…`
/// SID) or an API key SID and secret (`key_id` the `SK…` SID, `org` its account; `admin` a
/// Main key). Standard keys may not use the Accounts or Keys resources (403 here).
fn twilio(sim: &Sim, r: &Req) -> Reply {
    let kind = super::classify(r);
    let caller = r.basic().and_then(|(u, p)| {
        sim.keys.iter().enumerate().position(|(i, key)| {
            key.issuer == "twilio"
                && key.key_id.as_deref() == Some(u.as_str())
                && key.secret == p
                && !sim.is_revoked(i)
        })
    });
    let Some(c) = caller else {
        return twilio_error(401, 20003, "Authenticate", kind);
    };
    let key = k(sim, c);
    let account = key.org.clone().or_else(|| key.key_id.clone()).unwrap_or_default();
    let full = key.admin || key.key_id.as_deref().is_some_and(|id| id.starts_with("AC"));
    if r.is("GET", "/verify/v2/Services") {
        let page = "https://verify.twilio.com/v2/Services?PageSize=50&Page=0";
        return reply(
            200,
            json!({"services": [], "meta": {"page": 0, "page_size": 50, "first_page_url": page, "previous_page_url": null,
                "next_page_url": null, "key": "services", "url": page}}),
            "verify",
        );
    }
    if let Some(sid) = r
        .rest
        .strip_prefix("/2010-04-01/Accounts/")
        .and_then(|s| s.strip_suffix(".json"))
        .filter(|_| r.method == Method::GET)
    {
        if !full {
            return twilio_error(403, 20003, "Permission Denied", "verify");
        }
        if sid != account {
            return twilio_error(404, 20404, "The requested resource was not found", "verify");
        }
        return reply(
            200,
            json!({"sid": sid, "owner_account_sid": sid, "friendly_name": super::principal(key), "status": "active", "type": "Full",
                "date_created": "Thu, 30 Jul 2015 20:00:00 +0000", "date_updated": "Thu, 30 Jul 2015 20:00:00 +0000",
                "uri": format!("/2010-04-01/Accounts/{sid}.json"), "subresource_uris": {}}),
            "verify",
        );
    }
    if let Some(sid) = r
        .rest
        .strip_prefix("/iam/v1/Keys/")
        .filter(|_| r.method == Method::DELETE)
    {
        if !full {
            return twilio_error(403, 20003, "Permission Denied", "revoke");
        }
        return match sim.keys.iter().enumerate().position(|(j, k2)| {
            k2.issuer == "twilio"
                && k2.org.as_deref() == Some(account.as_str())
                && k2.key_id.as_deref() == Some(sid)
                && !sim.is_revoked(j)
        }) {
            Some(j) => {
                sim.revoke(j);
                reply(204, Value::Null, "revoke")
            }
            None => twilio_error(
                404,
                20404,
                &format!("The requested resource /v1/Keys/{sid} was not found"),
                "revoke",
            ),
        };
    }
    twilio_error(404, 20404, "The requested resource was not found", "other")
}

/// Auth0: a client secret is a key whose `key_id` is its client id and `org` its tenant; a
/// Management API token is a key with `admin = true` of the same tenant. Rotating a secret
/// revokes the old value; the client then reports a new one.
fn auth0(sim: &Sim, r: &Req) -> Reply {
    if r.is("POST", "/oauth/token") {
        let f = r.form();
        let id = f.get("client_id").cloned().unwrap_or_default();
        let secret = f.get("client_secret").cloned().unwrap_or_default();
        let live = sim.keys.iter().enumerate().any(|(i, key)| {
            key.issuer == "auth0"
                && !key.admin
                && key.key_id.as_deref() == Some(id.as_str())
                && key.secret == secret
                && !sim.is_revoked(i)
        });
        return if live && f.get("grant_type").map(String::as_str) == Some("client_credentials") {
            reply(
                200,
                json!({"access_token": format!("eyJ.sim.{}", super::num_id(&id)), "scope": "read:users", "expires_in": 86400, "token_type": "Bearer"}),
                "verify",
            )
        } else {
            reply(
                401,
                json!({"error": "access_denied", "error_description": "Unauthorized"}),
                "verify",
            )
        };
    }
    let mgmt_error = |status: u16, error: &str, message: &str, code: &str| json!({"statusCode": status, "error": error, "message": message, "errorCode": code});
    let kind = super::classify(r);
    let Some(admin) = r
        .bearer()
        .and_then(|t| sim.live("auth0", &t))
        .filter(|i| k(sim, *i).admin)
    else {
        return reply(
            401,
            mgmt_error(401, "Unauthorized", "Invalid token", "invalid_token"),
            kind,
        );
    };
    let tenant = k(sim, admin).org.clone();
    let Some(rest) = r.rest.strip_prefix("/api/v2/clients/") else {
        return reply(
            404,
            mgmt_error(404, "Not Found", "Not Found", "not_found"),
            "other",
        );
    };
    let (id, rotate) = match rest.strip_suffix("/rotate-secret") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    // The client's secret: its key while live, or (once rotated) a value no key holds.
    let client = sim
        .keys
        .iter()
        .enumerate()
        .filter(|(_, key)| {
            key.issuer == "auth0" && !key.admin && key.org == tenant && key.key_id.as_deref() == Some(id)
        })
        .map(|(i, key)| (i, key.secret.clone(), sim.is_revoked(i)))
        .next();
    let Some((i, secret, rotated)) = client else {
        return reply(
            404,
            mgmt_error(404, "Not Found", "The client does not exist", "inexistent_client"),
            kind,
        );
    };
    let current = if rotated {
        format!("rotated-{}", super::num_id(&secret))
    } else {
        secret
    };
    let body =
        |secret: &str| json!({"client_id": id, "client_secret": secret, "name": "sim app", "tenant": tenant});
    match (r.method.as_str(), rotate) {
        ("GET", false) => {
            let mut b = body(&current);
            if let Some(fields) = r.query("fields") {
                let keep: Vec<&str> = fields.split(',').collect();
                let include = r.query("include_fields").as_deref() != Some("false");
                if let Some(o) = b.as_object_mut() {
                    o.retain(|name, _| keep.contains(&name.as_str()) == include);
                }
            }
            reply(200, b, "revoke")
        }
        ("POST", true) => {
            sim.revoke(i);
            reply(
                200,
                body(&format!("rotated-{}", super::num_id(&current))),
                "revoke",
            )
        }
        _ => reply(
            404,
            mgmt_error(404, "Not Found", "Not Found", "not_found"),
            "other",
        ),
    }
}

/// Google Cloud IAM: `DELETE /v1/projects/{project}/serviceAccounts/{email}/keys/{keyId}`
/// with an OAuth access token holding `iam.serviceAccountKeys.delete` (a google key with
/// `admin = true`). A service-account key is a google key whose `principal` is the account's
/// email, `key_id` its private_key_id and `project` its project. 200 with `{}` once deleted.
fn google_iam(sim: &Sim, r: &Req) -> Reply {
    let error = |code: u16, status: &str, message: &str| json!({"error": {"code": code, "message": message, "status": status}});
    let kind = super::classify(r);
    let Some(caller) = r.bearer().and_then(|t| sim.live("google", &t)) else {
        return reply(
            401,
            error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."),
            kind,
        );
    };
    let path = r.rest.replace("%40", "@");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["iam", "v1", "projects", project, "serviceAccounts", email, "keys", key_id] = parts[..] else {
        return reply(404, error(404, "NOT_FOUND", "Not Found"), "other");
    };
    if r.method != Method::DELETE {
        return reply(404, error(404, "NOT_FOUND", "Not Found"), "other");
    }
    if !k(sim, caller).admin {
        return reply(
            403,
            error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccountKeys.delete' denied on resource (or it may not exist).",
            ),
            "revoke",
        );
    }
    let found = sim.keys.iter().enumerate().position(|(j, key)| {
        key.issuer == "google"
            && key.principal.as_deref() == Some(email)
            && key.key_id.as_deref() == Some(key_id)
            && (project == "-" || key.project.as_deref() == Some(project))
            && !sim.is_revoked(j)
    });
    match found {
        Some(j) => {
            sim.revoke(j);
            reply(200, json!({}), "revoke")
        }
        None => reply(
            404,
            error(404, "NOT_FOUND", &format!("Service account key projects/{project}/serviceAccounts/{email}/keys/{key_id} does not exist.")),
            "revoke",
        ),
    }
}

/// Cloudflare account-owned tokens: `GET /accounts/{account_id}/tokens/verify` names the
/// bearer token (`result.id`, `status`) on the account that owns it (the key's `org`; its id
/// is the one the accounts listing gives that name) and answers 401 "Invalid API Token" on
/// any other; `DELETE /accounts/{account_id}/tokens/{token_id}` deletes a token of that
/// account, with "Account API Tokens Write" in the bearer's scopes (or no scopes at all).
fn cloudflare_account_tokens(sim: &Sim, r: &Req) -> Reply {
    use super::{cf_delete, cf_error, cf_verify};
    let kind = if r.method == Method::DELETE {
        "revoke"
    } else {
        "verify"
    };
    let account_of =
        |key: &super::super::SimKey| format!("{:032x}", super::num_id(key.org.as_deref().unwrap_or("")));
    let rest = r.rest.trim_start_matches("/client/v4/accounts/");
    let Some((account, tail)) = rest.split_once("/tokens/") else {
        return cf_error(404, 7003, "No route for that URI", "other");
    };
    let Some(i) = r.bearer().and_then(|t| sim.live("cloudflare", &t)) else {
        return cf_error(401, 1000, "Invalid API Token", kind);
    };
    let key = k(sim, i);
    if !key.secret.starts_with("cfat_") || account_of(key) != account {
        return cf_error(401, 1000, "Invalid API Token", kind);
    }
    if tail == "verify" && r.method == Method::GET {
        return cf_verify(key);
    }
    if r.method != Method::DELETE {
        return cf_error(405, 10405, "Method not allowed", "other");
    }
    cf_delete(sim, key, "Account API Tokens Write", tail, |k2| {
        k2.secret.starts_with("cfat_") && account_of(k2) == account
    })
}
