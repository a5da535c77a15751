//! Access recipes: how to ask an issuer what a live key can reach, as data (`access.toml`).
//!
//! Enumeration is the third use of the issuer-call language, after verification and revocation:
//! each step is a [`Call`] (GET or HEAD: enumeration never changes anything), read with the same
//! extractors (`json:`, `header:`, `const:`) and JSON-path dialect as a verify recipe. What
//! varies between issuers — the URLs, where the list is, how it pages, what each permission
//! name means — is data here, so adding an issuer is a table, not a module.
//!
//! ```toml
//! [[access]]
//! name = "github-user"
//! issuer = "github"
//! rules = ["github.pat-classic"]
//! headers = { Authorization = "Bearer {secret}" }
//!
//! [[access.step]]                       # one GET, optionally paged
//! url = "{api}/user/repos"
//! items = "json:"                       # the list in each page ("json:" is the root)
//! into = "repo"                         # each item becomes a resource of this kind
//! item = { name = "json:full_name", permission = "json:permissions", detail = "json:default_branch" }
//! permission_order = ["admin", "maintain", "push", "triage", "pull"]  # flags object → name
//! paging = { link = true }              # or { next = "json:…", param = "cursor", more = "json:has_more" }
//!                                       # or { page = "page", current = "json:…", last = "json:…" }
//!
//! [[access.capability]]                 # what the collected reach means
//! name = "push-to-default-branch"
//! kind = "repo"
//! permission = ["admin", "maintain", "push"]
//! ```
//!
//! One narrow exception: some issuers document a pure read as a POST (Google's
//! `getIamPolicy`). A call may be a POST only when it says so and why, in
//! `read_only_post = "…"`; the loader refuses every other method, and a POST without its reason.
//!
//! Capability names are checked against `crate::reach::Capability` where they are read
//! (`src/access/meaning.rs`), so this room needs no type from above it.
//!
//! Recipes are built in only: nothing read from a scanned tree or a config adds one, so no
//! planted file can make quench send a key anywhere (the egress guard checks each URL as well).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::issuer::call::{deserialize_with_call, Call};
use crate::issuer::verify_recipe::{Exchange, Matchers};

const BUILTIN: &str = include_str!("access.toml");

/// Pages read per step unless the step says otherwise: enumeration is bounded by
/// configuration, not by how much an account holds.
pub const DEFAULT_MAX_PAGES: u32 = 10;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "access", default)]
    recipes: Vec<AccessRecipe>,
}

/// How the steps' requests are authenticated beyond their templates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signing {
    #[default]
    None,
    /// AWS Signature V4 with the key's id and secret (IAM's query API).
    AwsSigv4,
    /// A Google service-account key: an OAuth access token is minted from it first (the
    /// verifier's JWT-bearer grant), and the steps send it as `{access_token}`.
    GoogleServiceAccount,
}

/// One issuer's enumeration for the rules it names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRecipe {
    pub name: String,
    pub issuer: String,
    /// The rule ids whose keys this recipe enumerates.
    pub rules: Vec<String>,
    #[serde(default)]
    pub signing: Signing,
    /// AWS: the service signed for (`iam`) and the base the requests go to.
    #[serde(default)]
    pub service: Option<String>,
    /// Headers every step sends (a step's own headers win).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// What the issuer calls the principal when no step says (`user`, `bot`, `app`…).
    #[serde(default)]
    pub principal_kind: Option<String>,
    /// The principal kind when a step captured a value (`bot_id = "bot"`: a Slack token
    /// whose `auth.test` names a bot is a bot's).
    #[serde(default)]
    pub principal_kind_when: BTreeMap<String, String>,
    /// The kind of token this recipe's rules find (`classic`, `fine-grained`, `installation`…).
    #[serde(default)]
    pub token_kind: Option<String>,
    /// M2M: how long a token minted with the key lives, as the issuer documents it.
    #[serde(default)]
    pub token_lifetime: Option<String>,
    /// M2M: whether tokens minted before a revocation keep working until they expire.
    #[serde(default)]
    pub minted_outlive_revoke: Option<bool>,
    /// Where the client id is, for M2M keys (`part:client_id`, or an extractor on the first step).
    #[serde(default)]
    pub client_id: Option<String>,
    /// What the recipe knows it cannot see, always reported (a fine-grained token's own
    /// permission set, which no endpoint returns).
    #[serde(default)]
    pub blind_spots: Vec<String>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    #[serde(default, rename = "probe")]
    pub probes: Vec<Probe>,
    #[serde(default, rename = "capability")]
    pub capabilities: Vec<CapabilityRule>,
}

/// The fields a step reads from a page's item (each an extractor over the item).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    pub name: String,
    #[serde(default)]
    pub permission: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

/// How a step's list continues on the next page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Follow `Link: <…>; rel="next"` (GitHub, GitLab).
    #[serde(default)]
    pub link: bool,
    /// Where the next page's cursor is in an answer (`json:response_metadata.next_cursor`,
    /// `json:last_id`); empty or absent means the last page.
    #[serde(default)]
    pub next: Option<String>,
    /// The query parameter the cursor goes back in (`cursor`, `after`, `after_id`).
    #[serde(default)]
    pub param: Option<String>,
    /// A flag that must be true for another page to exist (`json:has_more`).
    #[serde(default)]
    pub more: Option<String>,
    /// Numbered pages (Cloudflare's `result_info`): the query parameter the next number goes
    /// in (`page`), with `current` and `last` read from each answer
    /// (`json:result_info.page`, `json:result_info.total_pages`).
    #[serde(default)]
    pub page: Option<String>,
    #[serde(default)]
    pub current: Option<String>,
    #[serde(default)]
    pub last: Option<String>,
}

/// One GET of an enumeration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Step {
    #[serde(skip)]
    pub call: Call,
    /// What the step reads, for messages and `unseen` (`repositories`, `orgs`).
    pub name: String,
    /// Who the key acts as (first step that finds one wins).
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub principal_kind: Option<String>,
    /// A scope list (header or JSON), appended to the reach's scopes.
    #[serde(default)]
    pub scopes: Option<String>,
    /// Values kept for later steps as `{capture.NAME}`.
    #[serde(default)]
    pub captures: BTreeMap<String, String>,
    /// Resources read from the answer itself, not a list: `{ org = "json:team" }`.
    #[serde(default)]
    pub resources: BTreeMap<String, String>,
    /// The permission those single resources hold (an extractor).
    #[serde(default)]
    pub resource_permission: Option<String>,
    /// The list in each page (`json:` for a top-level array).
    #[serde(default)]
    pub items: Option<String>,
    /// The resource kind each item becomes.
    #[serde(default)]
    pub into: Option<String>,
    #[serde(default)]
    pub item: Option<ItemSpec>,
    /// When an item's permission is an object of flags (`{"admin": false, "push": true}`),
    /// the first of these names whose flag is true is the permission; when it is several
    /// values (a list, or a `*` path), the first of these names among them.
    #[serde(default)]
    pub permission_order: Vec<String>,
    /// Names for permission values the issuer gives as flags or numbers (`"true" = "member"`,
    /// GitLab's `"40" = "maintainer"`).
    #[serde(default)]
    pub permission_names: BTreeMap<String, String>,
    #[serde(default)]
    pub paging: Option<Paging>,
    #[serde(default)]
    pub max_pages: Option<u32>,
    /// What proves the answer usable (default: status 200).
    #[serde(default)]
    pub ok: Option<Matchers>,
    /// Run only when an earlier step captured this name (an admin-only listing).
    #[serde(default)]
    pub when_captured: Option<String>,
    /// Keep only the items where each extractor finds the templated value: an IAM policy's
    /// bindings that name this service account (`{ "json:members" =
    /// "serviceAccount:{part.client_email}" }`).
    #[serde(default)]
    pub keep_when: BTreeMap<String, String>,
    /// Why this POST only reads (see the module doc); a POST without it is refused.
    #[serde(default)]
    pub read_only_post: Option<String>,
}

deserialize_with_call!(Step);

/// A read-only request whose answer says whether the key holds a permission family (restricted
/// keys that name no scopes: OpenAI answers "Missing scopes" on a route the key may not use).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Probe {
    #[serde(skip)]
    pub call: Call,
    /// The permission family (`models.read`, `files.read`).
    pub name: String,
    pub granted: Option<Matchers>,
    pub denied: Option<Matchers>,
    /// Why this POST only reads; a POST without it is refused.
    #[serde(default)]
    pub read_only_post: Option<String>,
}

deserialize_with_call!(Probe);

/// A capability the reach implies. Every condition given must hold for some resource, scope or
/// probe; a rule with none always holds (the recipe's keys always can).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRule {
    pub name: String,
    /// A resource of this kind…
    #[serde(default)]
    pub kind: Option<String>,
    /// …holding one of these permissions (`*` any).
    #[serde(default)]
    pub permission: Vec<String>,
    /// Any of these scopes (a trailing `*` matches a prefix).
    #[serde(default)]
    pub scope: Vec<String>,
    /// Any of these probes granted.
    #[serde(default)]
    pub probe: Vec<String>,
    /// Any of these values captured by a step (`admin`).
    #[serde(default)]
    pub captured: Vec<String>,
    /// With `kind`: the resource's name is one of these (a leading or trailing `*` matches a
    /// suffix or prefix: Cloudflare's permission groups, `* Write`).
    #[serde(default)]
    pub resource: Vec<String>,
}

impl AccessRecipe {
    /// Structural checks: read-only methods, known capabilities, extractors in the dialect.
    pub fn check(&self) -> Result<(), String> {
        let read_only = |c: &Call, post_reason: &Option<String>, what: &str| -> Result<(), String> {
            c.check().map_err(|e| format!("{what}: {e}"))?;
            let m = c.method_or("GET");
            let reason = post_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
            match (m.as_str(), reason) {
                ("GET" | "HEAD", None) => {}
                ("POST", Some(_)) => {}
                ("POST", None) => {
                    return Err(format!(
                        "{what}: method POST is not read-only (only GET and HEAD enumerate; a POST \
                         the issuer documents as a read says why in `read_only_post`)"
                    ))
                }
                (_, Some(_)) => {
                    return Err(format!(
                        "{what}: `read_only_post` excuses a POST only, and this call is a {m}"
                    ))
                }
                _ => {
                    return Err(format!(
                        "{what}: method {m} is not read-only (only GET and HEAD enumerate)"
                    ))
                }
            }
            if c.url.is_none() {
                return Err(format!("{what}: needs `url`"));
            }
            Ok(())
        };
        for s in &self.steps {
            read_only(&s.call, &s.read_only_post, &format!("step {}", s.name))?;
            if !s.keep_when.is_empty() && s.items.is_none() {
                return Err(format!(
                    "step {}: `keep_when` filters `items`, and there are none",
                    s.name
                ));
            }
            if s.items.is_some() != (s.into.is_some() && s.item.is_some()) {
                return Err(format!(
                    "step {}: `items` needs `into` and `item`, and they need it",
                    s.name
                ));
            }
            let specs = s
                .principal
                .iter()
                .chain(&s.principal_kind)
                .chain(&s.scopes)
                .chain(&s.items)
                .chain(&s.resource_permission)
                .chain(s.captures.values())
                .chain(s.resources.values())
                .chain(s.keep_when.keys())
                .chain(
                    s.item
                        .iter()
                        .flat_map(|i| std::iter::once(&i.name).chain(&i.permission).chain(&i.detail)),
                )
                .chain(
                    s.paging
                        .iter()
                        .flat_map(|p| p.next.iter().chain(&p.more).chain(&p.current).chain(&p.last)),
                );
            for spec in specs {
                if !(spec.starts_with("json:") || spec.starts_with("header:") || spec.starts_with("const:")) {
                    return Err(format!(
                        "step {}: extractor {spec:?} must start with json:, header: or const:",
                        s.name
                    ));
                }
            }
            if let Some(p) = &s.paging {
                if p.next.is_some() != p.param.is_some() {
                    return Err(format!("step {}: paging `next` and `param` go together", s.name));
                }
                if p.page.is_some() != (p.current.is_some() && p.last.is_some()) {
                    return Err(format!(
                        "step {}: paging `page` needs `current` and `last`, and they need it",
                        s.name
                    ));
                }
            }
        }
        for p in &self.probes {
            read_only(&p.call, &p.read_only_post, &format!("probe {}", p.name))?;
            if p.granted.is_none() {
                return Err(format!("probe {}: needs `granted`", p.name));
            }
        }
        if self.signing == Signing::AwsSigv4 && self.service.is_none() {
            return Err("aws-sigv4 signing needs `service`".into());
        }
        Ok(())
    }
}

/// The built-in access recipes, parsed and checked once.
pub fn builtin() -> Result<&'static [AccessRecipe], String> {
    static RECIPES: OnceLock<Result<Vec<AccessRecipe>, String>> = OnceLock::new();
    RECIPES
        .get_or_init(|| {
            let f: File = toml::from_str(BUILTIN).map_err(|e| format!("access.toml: {e}"))?;
            for r in &f.recipes {
                r.check()
                    .map_err(|e| format!("access.toml, recipe {}: {e}", r.name))?;
            }
            Ok(f.recipes)
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// The recipe that enumerates keys of `rule_id`, if any.
pub fn for_rule(rule_id: &str) -> Result<Option<&'static AccessRecipe>, String> {
    Ok(builtin()?.iter().find(|r| r.rules.iter().any(|id| id == rule_id)))
}

/// The `Link` header's `rel="next"` URL (RFC 8288), as GitHub and GitLab page.
pub fn link_next(ex: &Exchange) -> Option<String> {
    let link = ex.header("link")?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_recipes_load_and_are_read_only() {
        let all = builtin().unwrap();
        assert!(all.iter().any(|r| r.issuer == "github"));
        for r in all {
            for s in &r.steps {
                let m = s.call.method_or("GET");
                assert!(
                    m == "GET" || (m == "POST" && s.read_only_post.is_some()),
                    "{}: step {} is a {m}",
                    r.name,
                    s.name
                );
            }
        }
    }

    const POST_STEP: &str = "[[access]]\nname = \"x\"\nissuer = \"x\"\nrules = []\n[[access.step]]\nname = \"policy\"\nurl = \"{api}/p:getIamPolicy\"\n";

    fn checked(extra: &str) -> Result<(), String> {
        let f: File = toml::from_str(&format!("{POST_STEP}{extra}")).unwrap();
        f.recipes[0].check()
    }

    #[test]
    fn a_post_is_refused_unless_it_says_why_it_only_reads() {
        let bare = checked("method = \"POST\"\n").unwrap_err();
        assert!(
            bare.contains("not read-only") && bare.contains("read_only_post"),
            "{bare}"
        );
        let blank = checked("method = \"POST\"\nread_only_post = \"  \"\n").unwrap_err();
        assert!(blank.contains("not read-only"), "{blank}");
        checked("method = \"POST\"\nread_only_post = \"getIamPolicy reads the policy; Google documents it as POST\"\n")
            .unwrap();
        // The reason excuses a POST, never a write.
        let put = checked("method = \"PUT\"\nread_only_post = \"it only reads\"\n").unwrap_err();
        assert!(put.contains("excuses a POST only"), "{put}");
        // A probe is held to the same rule.
        let probe = "[[access]]\nname = \"x\"\nissuer = \"x\"\nrules = []\n[[access.probe]]\nname = \"p\"\nurl = \"{api}/p\"\nmethod = \"POST\"\ngranted = { status = [200] }\n";
        let f: File = toml::from_str(probe).unwrap();
        assert!(f.recipes[0].check().unwrap_err().contains("not read-only"));
    }

    #[test]
    fn a_writing_step_is_refused() {
        let text = "[[access]]\nname = \"x\"\nissuer = \"x\"\nrules = []\n[[access.step]]\nname = \"s\"\nurl = \"{api}/x\"\nmethod = \"DELETE\"\n";
        let f: File = toml::from_str(text).unwrap();
        assert!(f.recipes[0].check().unwrap_err().contains("not read-only"));
    }

    #[test]
    fn link_header_next() {
        let ex = Exchange {
            headers: vec![(
                "link".into(),
                "<https://api.github.com/user/repos?page=2>; rel=\"next\", <https://api.github.com/user/repos?page=5>; rel=\"last\"".into(),
            )],
            ..Default::default()
        };
        assert_eq!(
            link_next(&ex).as_deref(),
            Some("https://api.github.com/user/repos?page=2")
        );
    }
}
