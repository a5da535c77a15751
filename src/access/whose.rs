//! The identity verdict: whose authority a key carries, in the terms of its identity model.
//! A user-scoped key names a person (offboarding with `quench revoke --principal` follows);
//! an org-scoped key names no human, so the workflow's owner is read from where it leaked
//! (CODEOWNERS, else the commit author); an M2M credential names its client and how long the
//! tokens it mints live.

use std::collections::BTreeMap;

use crate::issuer::access_recipe::AccessRecipe;
use crate::reach::{Reach, Whose};
use crate::rules::Identity;
use crate::verify::Job;

/// The verdict the issuer's answers support, before attribution.
pub fn from_issuer(
    model: Identity,
    recipe: &AccessRecipe,
    reach: &Reach,
    job: &Job,
    captured: &BTreeMap<String, String>,
) -> Whose {
    let mut w = Whose {
        model: Some(model),
        ..Default::default()
    };
    match model {
        Identity::User => {
            let named = captured.get("name").or(captured.get("email"));
            w.person = match (named, &reach.principal) {
                (Some(n), Some(p)) if n != p => Some(format!("{n} ({p})")),
                (_, Some(p)) => Some(p.clone()),
                (Some(n), None) => Some(n.clone()),
                (None, None) => None,
            };
        }
        Identity::M2m => {
            w.client_id = recipe
                .client_id
                .as_deref()
                .and_then(|spec| match spec.split_once(':') {
                    Some(("part", name)) => job.part(name),
                    Some(("capture", name)) => captured.get(name).cloned(),
                    _ => None,
                })
                .or_else(|| reach.principal.clone());
            w.token_lifetime = recipe.token_lifetime.clone();
            w.minted_outlive_revoke = recipe.minted_outlive_revoke;
        }
        Identity::Org | Identity::Unknown => {}
    }
    w.summary = summary(&w, reach);
    w
}

/// Adds who answers for the key from where it leaked: CODEOWNERS of its first location, else
/// the author of the commit that exposed it. Only org-scoped keys need it (a user key names its
/// person); the others keep it as a second name to ask.
pub fn attribute(reach: &mut Reach, author: Option<&str>, owners: &[String]) {
    let mut w = reach.whose.clone();
    if !owners.is_empty() {
        w.owner = Some(owners.join(", "));
        w.owner_source = Some("codeowners".into());
    } else if let Some(a) = author.filter(|a| !a.is_empty()) {
        w.owner = Some(a.to_string());
        w.owner_source = Some("commit-author".into());
    }
    w.summary = summary(&w, reach);
    reach.whose = w;
}

fn summary(w: &Whose, reach: &Reach) -> String {
    let org = reach
        .of_kind("org")
        .chain(reach.of_kind("workspace"))
        .next()
        .map(|r| r.name.clone());
    match w.model {
        Some(Identity::User) => {
            let who = w.person.as_deref().unwrap_or("an unnamed user");
            format!(
                "user-scoped: acts as {who}; offboarding that user revokes it (quench revoke --principal)"
            )
        }
        Some(Identity::Org) => {
            let whom = org
                .or_else(|| reach.principal.clone())
                .unwrap_or_else(|| "an organisation".into());
            let kind = reach
                .principal_kind
                .as_deref()
                .map(|k| format!(" as a {k}"))
                .unwrap_or_default();
            match (&w.owner, &w.owner_source) {
                (Some(o), Some(src)) => format!(
                    "org-scoped: acts for {whom}{kind}, names no human; workflow owner {o} (from {})",
                    if src == "codeowners" {
                        "CODEOWNERS"
                    } else {
                        "the commit author"
                    }
                ),
                _ => format!(
                    "org-scoped: acts for {whom}{kind}, names no human; no owner found where it leaked"
                ),
            }
        }
        Some(Identity::M2m) => {
            let client = w.client_id.as_deref().unwrap_or("an unnamed client");
            let mut s = format!("m2m: client {client} mints tokens");
            if let Some(l) = &w.token_lifetime {
                s.push_str(&format!(" that live {l}"));
            }
            match w.minted_outlive_revoke {
                Some(true) => s.push_str("; tokens minted before a revoke keep working until they expire"),
                Some(false) => s.push_str("; a revoke also ends the tokens it minted"),
                None => {}
            }
            if let Some(o) = &w.owner {
                s.push_str(&format!("; owner {o}"));
            }
            s
        }
        _ => "identity model unknown".into(),
    }
}
