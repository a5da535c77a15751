//! What a collected reach means: the recipe's capability rules applied to the resources,
//! scopes, probes and captures the steps gathered, and the last pass that keeps any echo of
//! the key out of what is stored and printed.

use std::collections::BTreeMap;

use crate::issuer::access_recipe::{AccessRecipe, CapabilityRule};
use crate::reach::{Capability, Reach};

/// Every capability whose rule holds.
pub fn capabilities(
    recipe: &AccessRecipe,
    reach: &Reach,
    captured: &BTreeMap<String, String>,
) -> Vec<Capability> {
    recipe
        .capabilities
        .iter()
        .filter(|rule| holds(rule, reach, captured))
        .filter_map(|rule| Capability::parse(&rule.name))
        .collect()
}

/// Every capability a recipe names must be one quench knows; an unknown one is a recipe defect.
/// So is a granted read family (a probe named `….read` or `…_read`) rated as anything but a
/// read: a listing that answered proves the key may read, never that it may write.
pub fn check(recipe: &AccessRecipe) -> Result<(), String> {
    for c in &recipe.capabilities {
        let Some(cap) = Capability::parse(&c.name) else {
            let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            return Err(format!(
                "access recipe {}: capability {:?} is unknown (known: {})",
                recipe.name,
                c.name,
                known.join(", ")
            ));
        };
        let reads_only = matches!(cap, Capability::Read | Capability::ReadSecrets);
        if let Some(p) = c.probe.iter().find(|p| is_read_family(p)).filter(|_| !reads_only) {
            return Err(format!(
                "access recipe {}: probe {p:?} is a read, so it cannot mean {:?} (only read or read-secrets)",
                recipe.name, c.name
            ));
        }
    }
    Ok(())
}

/// A probe that names a read permission family (`batches.read`, `dashboards_read`).
fn is_read_family(probe: &str) -> bool {
    probe.ends_with(".read") || probe.ends_with("_read")
}

/// Every condition the rule gives holds (a rule with none always holds).
fn holds(rule: &CapabilityRule, reach: &Reach, captured: &BTreeMap<String, String>) -> bool {
    if let Some(kind) = &rule.kind {
        let any = rule.permission.iter().any(|p| p == "*");
        let found = reach.of_kind(kind).any(|r| {
            (rule.permission.is_empty()
                || any
                || r.permission.as_ref().is_some_and(|p| rule.permission.contains(p)))
                && (rule.resource.is_empty() || rule.resource.iter().any(|n| name_matches(n, &r.name)))
        });
        if !found {
            return false;
        }
    }
    if !rule.scope.is_empty()
        && !reach
            .scopes
            .iter()
            .any(|s| rule.scope.iter().any(|want| scope_matches(want, s)))
    {
        return false;
    }
    if !rule.probe.is_empty() && !reach.granted.iter().any(|g| rule.probe.contains(g)) {
        return false;
    }
    if !rule.captured.is_empty() && !rule.captured.iter().any(|c| captured.contains_key(c)) {
        return false;
    }
    true
}

/// A scope pattern: exact, or a prefix when it ends in `*` (`chat:write.*`).
fn scope_matches(want: &str, have: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => have.starts_with(prefix),
        None => want == have,
    }
}

/// A resource-name pattern: exact, a suffix after a leading `*`, or a prefix before a trailing
/// `*`.
fn name_matches(want: &str, have: &str) -> bool {
    if let Some(suffix) = want.strip_prefix('*') {
        have.ends_with(suffix)
    } else if let Some(prefix) = want.strip_suffix('*') {
        have.starts_with(prefix)
    } else {
        want == have
    }
}

/// Replaces the key (and its parts) wherever an issuer echoed it into a name, so the reach
/// never carries a secret to the store or a report. Values under 8 bytes are left alone.
pub fn clear_echoes(reach: &mut Reach, secrets: &[String]) {
    let secrets: Vec<(&str, String)> = secrets
        .iter()
        .filter(|s| s.len() >= 8)
        .map(|s| (s.as_str(), crate::secret::redact(s.as_bytes())))
        .collect();
    let clean = |v: &mut String| {
        for (s, shown) in &secrets {
            if v.contains(s) {
                *v = v.replace(s, shown);
            }
        }
    };
    for v in [&mut reach.principal, &mut reach.principal_kind]
        .into_iter()
        .flatten()
    {
        clean(v);
    }
    for r in &mut reach.resources {
        clean(&mut r.name);
        r.permission.iter_mut().for_each(clean);
        r.detail.iter_mut().for_each(clean);
    }
    reach.scopes.iter_mut().for_each(clean);
    reach.unseen.iter_mut().for_each(clean);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_capability_is_known() {
        for r in crate::issuer::access_recipe::builtin().unwrap() {
            check(r).unwrap();
        }
    }

    #[test]
    fn a_read_probe_is_never_rated_as_a_write() {
        let recipe = |cap: &str| -> AccessRecipe {
            toml::from_str::<toml::Value>(&format!(
                "name = \"x\"\nissuer = \"x\"\nrules = []\n[[capability]]\nname = \"{cap}\"\nprobe = [\"batches.read\"]\n"
            ))
            .unwrap()
            .try_into()
            .unwrap()
        };
        let err = check(&recipe("write")).unwrap_err();
        assert!(err.contains("\"batches.read\" is a read"), "{err}");
        assert!(check(&recipe("org-admin")).is_err());
        check(&recipe("read")).unwrap();
        check(&recipe("read-secrets")).unwrap();
    }

    #[test]
    fn scope_patterns() {
        assert!(scope_matches("chat:write.*", "chat:write.public"));
        assert!(scope_matches("chat:write", "chat:write"));
        assert!(!scope_matches("chat:write", "chat:write.public"));
        assert!(name_matches("* Write", "DNS Write"));
        assert!(!name_matches("* Write", "DNS Read"));
        assert!(name_matches("Workers*", "Workers Scripts Write"));
        assert!(name_matches("API Tokens Write", "API Tokens Write"));
    }
}
