//! What a live key can reach: its blast radius, typed, from the enumerator (`src/access/`) to
//! the report and the store.
//!
//! A verdict (`verdict.rs`) says a key works and whose it is; a [`Reach`] says what it can
//! touch: the organisations, projects, repositories and channels it sees with the permission it
//! holds on each, the capabilities a security lead acts on first (org admin, push to a default
//! branch, reading secrets, creating IAM principals), and what the enumeration could not see.
//! It lives on the ground floor beside the verdict because findings carry it, as they carry
//! their verification; the calls that fill it are upstairs.

use serde::{Deserialize, Serialize};

use crate::rules::Identity;

/// Something a key can do that changes what to do first. Ordered from the least to the most
/// dangerous; [`Risk`] is derived from the most dangerous one held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Reads what it reaches and nothing more.
    Read,
    /// Writes somewhere (a non-default branch, a channel, a project's data).
    Write,
    /// Posts messages as the principal (chat tokens).
    PostMessages,
    /// Reads stored secrets (CI secrets, a secrets manager).
    ReadSecrets,
    /// Pushes to a repository's default branch: code that ships.
    PushToDefaultBranch,
    /// Administers a repository or project (settings, collaborators, deploy keys).
    RepoAdmin,
    /// Creates identities (IAM users, access keys, service accounts, API keys).
    CreateIamPrincipals,
    /// Administers an organisation, workspace or account.
    OrgAdmin,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::Read,
        Capability::Write,
        Capability::PostMessages,
        Capability::ReadSecrets,
        Capability::PushToDefaultBranch,
        Capability::RepoAdmin,
        Capability::CreateIamPrincipals,
        Capability::OrgAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::Write => "write",
            Capability::PostMessages => "post-messages",
            Capability::ReadSecrets => "read-secrets",
            Capability::PushToDefaultBranch => "push-to-default-branch",
            Capability::RepoAdmin => "repo-admin",
            Capability::CreateIamPrincipals => "create-iam-principals",
            Capability::OrgAdmin => "org-admin",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The rank this capability alone gives.
    pub fn risk(self) -> Risk {
        match self {
            Capability::OrgAdmin => Risk::OrgAdmin,
            Capability::CreateIamPrincipals
            | Capability::RepoAdmin
            | Capability::PushToDefaultBranch
            | Capability::ReadSecrets => Risk::Privileged,
            Capability::PostMessages | Capability::Write => Risk::Write,
            Capability::Read => Risk::ReadOnly,
        }
    }
}

/// How much a key can do, for ordering findings: a person triages an org admin before a key
/// that pushes to a default branch, and that before a read-only key. `Unknown` (nothing was
/// enumerated) ranks below every known reach but is not "harmless".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    #[default]
    Unknown,
    ReadOnly,
    Write,
    /// Pushes to default branches, administers repositories, reads secrets, creates principals.
    Privileged,
    OrgAdmin,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Unknown => "unknown",
            Risk::ReadOnly => "read-only",
            Risk::Write => "write",
            Risk::Privileged => "privileged",
            Risk::OrgAdmin => "org-admin",
        }
    }

    pub fn parse(s: &str) -> Option<Risk> {
        [
            Risk::Unknown,
            Risk::ReadOnly,
            Risk::Write,
            Risk::Privileged,
            Risk::OrgAdmin,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// SARIF's `security-severity` (0.0–10.0; GitHub code scanning reads ≥ 9.0 as critical,
    /// ≥ 7.0 high, ≥ 4.0 medium). A live key of unknown reach is still high.
    pub fn security_severity(self) -> &'static str {
        match self {
            Risk::OrgAdmin => "9.8",
            Risk::Privileged => "9.0",
            Risk::Write => "7.5",
            Risk::Unknown => "7.0",
            Risk::ReadOnly => "5.5",
        }
    }
}

/// One thing the key reaches: an organisation, project, workspace, repository, channel,
/// policy or service, with the permission it holds there as the issuer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `org`, `project`, `workspace`, `repo`, `channel`, `group`, `policy`, `service`…
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// A fact that changes the permission's meaning (a repository's default branch, a
    /// channel's privacy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Whose authority the key carries, in the terms of the three identity models: the person for a
/// user-scoped key (offboarding follows), the workflow and its owner for an org-scoped key (the
/// key names no human), the client and its token lifetime for an M2M credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whose {
    pub model: Option<Identity>,
    /// The human the key acts as (user-scoped keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Who answers for an org-scoped key's workflow: the CODEOWNERS of where it was found, else
    /// the author of the commit that exposed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where the owner was read: `codeowners` or `commit-author`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_source: Option<String>,
    /// The machine client (M2M).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// How long a token it mints lives (M2M), as the issuer documents it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<String>,
    /// Whether tokens minted before a revocation keep working until they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_outlive_revoke: Option<bool>,
    /// One sentence a security lead reads first.
    pub summary: String,
}

/// A live key's reach, as enumerated at `enumerated_at`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    pub issuer: String,
    /// The access recipe that enumerated it (`github-user`, `slack`…).
    pub recipe: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `user`, `bot`, `app`, `service-account`, `iam-user`…, as the issuer says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_kind: Option<String>,
    /// The kind of token (`classic`, `fine-grained`, `installation`, `admin`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Permission families probed and granted (restricted keys), e.g. `models.read`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted: Vec<String>,
    /// Permission families probed and refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    pub risk: Risk,
    /// What the enumeration could not see, each with its reason (a step refused, a page limit
    /// reached, the time budget spent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<String>,
    pub whose: Whose,
    /// RFC 3339.
    pub enumerated_at: String,
}

impl Reach {
    /// The resources of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// Sets the capabilities (sorted, most dangerous first) and the risk they give.
    pub fn set_capabilities(&mut self, mut caps: Vec<Capability>) {
        caps.sort_by(|a, b| b.cmp(a));
        caps.dedup();
        self.risk = caps.first().map_or(
            if self.resources.is_empty() && self.granted.is_empty() {
                Risk::Unknown
            } else {
                Risk::ReadOnly
            },
            |c| c.risk(),
        );
        self.capabilities = caps;
    }

    /// One line: the risk, the capabilities and how much it reaches.
    pub fn summary(&self) -> String {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for r in &self.resources {
            match counts.iter_mut().find(|(k, _)| *k == r.kind) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.kind.clone(), 1)),
            }
        }
        let reach: Vec<String> = counts
            .iter()
            .map(|(k, n)| format!("{n} {k}{}", if *n == 1 { "" } else { "s" }))
            .collect();
        let caps: Vec<&str> = self.capabilities.iter().map(|c| c.as_str()).collect();
        let mut s = format!("risk {}", self.risk.as_str());
        if !caps.is_empty() {
            s.push_str(&format!(" ({})", caps.join(", ")));
        }
        if !reach.is_empty() {
            s.push_str(&format!("; reaches {}", reach.join(", ")));
        }
        if !self.unseen.is_empty() {
            s.push_str(&format!("; {} not seen", self.unseen.len()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_dangerous_capability_sets_the_risk() {
        let mut r = Reach::default();
        r.set_capabilities(vec![
            Capability::Read,
            Capability::PushToDefaultBranch,
            Capability::Read,
        ]);
        assert_eq!(r.risk, Risk::Privileged);
        assert_eq!(
            r.capabilities,
            vec![Capability::PushToDefaultBranch, Capability::Read]
        );
        r.set_capabilities(vec![Capability::OrgAdmin, Capability::Write]);
        assert_eq!(r.risk, Risk::OrgAdmin);
        assert!(Risk::OrgAdmin > Risk::Privileged && Risk::Privileged > Risk::ReadOnly);
        assert!(Risk::ReadOnly > Risk::Unknown);
    }
}
