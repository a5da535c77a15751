//! Running an access recipe against a key's own issuer: each step's read, page by page, within
//! the page and time bounds, through verification's context (the egress guard, the issuer's
//! rate and concurrency gates, `Retry-After`), then the probes, then what the reach means.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use url::Url;

use crate::issuer::access_recipe::{link_next, AccessRecipe, Signing, Step, DEFAULT_MAX_PAGES};
use crate::issuer::verify_recipe::{extract, extract_list, extract_one, json_path, Exchange, Matchers};
use crate::issuer::{Call, Prepared, Vars};
use crate::reach::{Reach, Resource};
use crate::rules::Identity;
use crate::verify::{Context, Job};

/// Bounds on one key's enumeration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Pages read per step at most (a step may ask for fewer).
    pub max_pages: u32,
    /// Items kept per step at most.
    pub max_items: usize,
    /// The whole enumeration of one key.
    pub budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pages: DEFAULT_MAX_PAGES,
            max_items: 1000,
            budget: Duration::from_secs(60),
        }
    }
}

/// What the steps gathered before the capabilities are read from it.
struct Run<'a> {
    ctx: &'a Context,
    recipe: &'a AccessRecipe,
    vars: Vars,
    deadline: Instant,
    limits: &'a Limits,
    reach: Reach,
    captured: BTreeMap<String, String>,
    /// An access token minted from the key for the steps (Google service accounts): as secret
    /// as the key, cleared from the reach with it.
    minted: Option<String>,
}

/// Enumerates what the key in `job` reaches, with `recipe`. Never fails: what could not be
/// read is in the reach's `unseen`, with its reason.
pub async fn enumerate(
    ctx: &Context,
    recipe: &AccessRecipe,
    job: &Job,
    model: Identity,
    limits: &Limits,
) -> Reach {
    let mut reach = Reach {
        issuer: recipe.issuer.clone(),
        recipe: recipe.name.clone(),
        token_kind: recipe.token_kind.clone(),
        enumerated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ..Default::default()
    };
    let Some(issuer) = ctx.registry.get(&recipe.issuer) else {
        reach.unseen.push(format!(
            "issuer {:?} is not in the registry: nothing was asked",
            recipe.issuer
        ));
        reach.whose = super::whose::from_issuer(model, recipe, &reach, job, &BTreeMap::new());
        return reach;
    };
    let vars = ctx.vars(job, Some(issuer));
    let mut run = Run {
        ctx,
        recipe,
        vars,
        deadline: Instant::now() + limits.budget,
        limits,
        reach,
        captured: BTreeMap::new(),
        minted: None,
    };
    let mut steps = recipe.steps.as_slice();
    if recipe.signing == Signing::GoogleServiceAccount {
        match crate::verify::special::google_access_token(ctx, job).await {
            Ok(token) => {
                run.vars.set("access_token", token.clone());
                run.minted = Some(token);
            }
            Err(e) => {
                run.reach.unseen.push(format!(
                    "no access token was minted from the service-account key, so nothing was asked: {e}"
                ));
                steps = &[];
            }
        }
    }
    for step in steps {
        if let Some(need) = &step.when_captured {
            if !run.captured.contains_key(need) {
                continue;
            }
        }
        run.step(step).await;
    }
    for probe in &recipe.probes {
        let outcome = match run.prepare(&probe.call) {
            Ok(req) => run.send(req).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(ex) if probe.granted.as_ref().is_some_and(|m| m.any(&ex)) => {
                run.reach.granted.push(probe.name.clone())
            }
            Ok(ex) if probe.denied.as_ref().is_some_and(|m| m.any(&ex)) => {
                run.reach.denied.push(probe.name.clone())
            }
            Ok(ex) => run.reach.unseen.push(format!(
                "probe {}: HTTP {} says neither granted nor denied",
                probe.name, ex.status
            )),
            Err(e) => run.reach.unseen.push(format!("probe {}: {e}", probe.name)),
        }
    }
    let Run {
        mut reach,
        captured,
        minted,
        ..
    } = run;
    reach.principal_kind = reach
        .principal_kind
        .take()
        .or_else(|| {
            recipe
                .principal_kind_when
                .iter()
                .find(|(k, _)| captured.contains_key(*k))
                .map(|(_, v)| v.clone())
        })
        .or_else(|| recipe.principal_kind.clone());
    reach.unseen.extend(recipe.blind_spots.iter().cloned());
    let caps = super::meaning::capabilities(recipe, &reach, &captured);
    reach.set_capabilities(caps);
    reach.whose = super::whose::from_issuer(model, recipe, &reach, job, &captured);
    let mut secrets = job.sensitive();
    secrets.extend(minted);
    super::meaning::clear_echoes(&mut reach, &secrets);
    reach
}

impl Run<'_> {
    /// The step's request with the recipe's shared headers (the step's own win).
    fn prepare(&self, call: &Call) -> Result<Prepared, String> {
        let mut call = call.clone();
        for (k, v) in &self.recipe.headers {
            call.headers.entry(k.clone()).or_insert_with(|| v.clone());
        }
        call.prepare(call.url.as_deref().unwrap_or(""), "GET", &self.vars)
            .map_err(|e| format!("cannot build the request: {e}"))
    }

    /// One request within the time budget, signed when the recipe says how (AWS SigV4 with
    /// the key's id and the secret access key found beside it).
    async fn send(&self, mut req: Prepared) -> Result<Exchange, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the enumeration's time budget was spent before this request".into());
        }
        if self.recipe.signing == Signing::AwsSigv4 {
            self.sign_aws(&mut req)?;
        }
        let Some(issuer) = self.ctx.registry.get(&self.recipe.issuer) else {
            return Err("issuer not in the registry".into());
        };
        match tokio::time::timeout(left, self.ctx.send(issuer, req)).await {
            Ok(Ok(ex)) => Ok(ex),
            Ok(Err(f)) => Err(f.reason()),
            Err(_) => Err("the enumeration's time budget ran out waiting for the issuer".into()),
        }
    }

    fn sign_aws(&self, req: &mut Prepared) -> Result<(), String> {
        let get = |k: &str| self.vars.values.get(k).filter(|v| !v.is_empty());
        let (Some(key_id), Some(secret)) = (get("secret"), get("part.secret_access_key")) else {
            return Err("cannot sign: no secret access key was found beside the key id".into());
        };
        let creds = crate::verify::aws::Credentials {
            key_id,
            secret,
            session_token: get("part.session_token").map(String::as_str),
        };
        let body = req.body.as_ref().map(|(b, _)| b.clone()).unwrap_or_default();
        let service = self.recipe.service.as_deref().unwrap_or("iam");
        // IAM is global: its requests are signed for us-east-1.
        let headers = crate::verify::aws::sign(
            req.method.as_str(),
            &req.url,
            &body,
            &creds,
            "us-east-1",
            service,
            chrono::Utc::now(),
        );
        req.headers.extend(headers);
        Ok(())
    }

    async fn step(&mut self, step: &Step) {
        let first = match self.prepare(&step.call) {
            Ok(r) => r,
            Err(e) => {
                self.reach.unseen.push(format!("{}: {e}", step.name));
                return;
            }
        };
        let max_pages = step
            .max_pages
            .unwrap_or(DEFAULT_MAX_PAGES)
            .min(self.limits.max_pages)
            .max(1);
        let ok = step.ok.clone().unwrap_or_else(|| Matchers::status(&[200]));
        let mut req = first.clone();
        let mut kept = 0usize;
        for page in 1..=max_pages {
            let ex = match self.send(req.clone()).await {
                Ok(ex) => ex,
                Err(e) => {
                    self.reach.unseen.push(format!("{}: {e}", step.name));
                    return;
                }
            };
            if !ok.any(&ex) || ex.is_html() {
                self.reach.unseen.push(format!("{}: {}", step.name, refusal(&ex)));
                return;
            }
            if page == 1 {
                self.read_once(step, &ex);
            }
            kept += self.read_items(step, &ex, kept);
            let Some(next) = next_page(step, &first, &ex) else {
                return;
            };
            if page == max_pages {
                self.reach.unseen.push(format!(
                    "{}: stopped after {max_pages} pages; more exist",
                    step.name
                ));
                return;
            }
            req = next;
        }
    }

    /// What a step reads from its first answer only: principal, scopes, captures, single
    /// resources.
    fn read_once(&mut self, step: &Step, ex: &Exchange) {
        if self.reach.principal.is_none() {
            self.reach.principal = extract_one(step.principal.as_ref(), ex);
        }
        if self.reach.principal_kind.is_none() {
            self.reach.principal_kind = extract_one(step.principal_kind.as_ref(), ex);
        }
        for s in extract_list(step.scopes.as_ref(), ex) {
            if !self.reach.scopes.contains(&s) {
                self.reach.scopes.push(s);
            }
        }
        for (name, spec) in &step.captures {
            if let Some(v) = extract(spec, ex).into_iter().find(|v| !v.is_empty()) {
                // Later steps' templates read it as `{capture.NAME}` (Cloudflare's token id).
                self.vars.set(format!("capture.{name}"), v.clone());
                self.captured.insert(name.clone(), v);
            }
        }
        let permission = extract_one(step.resource_permission.as_ref(), ex);
        for (kind, spec) in &step.resources {
            for name in extract(spec, ex).into_iter().filter(|n| !n.is_empty()) {
                self.push(Resource {
                    kind: kind.clone(),
                    name,
                    permission: permission.clone(),
                    detail: None,
                });
            }
        }
    }

    /// The page's items as resources; returns how many were kept.
    fn read_items(&mut self, step: &Step, ex: &Exchange, already: usize) -> usize {
        let (Some(items), Some(into), Some(spec)) = (&step.items, &step.into, &step.item) else {
            return 0;
        };
        let Some(json) = &ex.json else { return 0 };
        let path = items.strip_prefix("json:").unwrap_or(items);
        let mut list = Vec::new();
        for v in json_path(json, path) {
            match v {
                serde_json::Value::Array(a) => list.extend(a.iter()),
                v => list.push(v),
            }
        }
        // The values an item must hold to be kept, rendered once (`{part.client_email}`).
        let mut keep = Vec::with_capacity(step.keep_when.len());
        for (spec, template) in &step.keep_when {
            match crate::issuer::render(template, &self.vars) {
                Ok(want) => keep.push((spec, want)),
                Err(e) => {
                    self.reach.unseen.push(format!(
                        "{}: cannot tell which items are this key's: {e}",
                        step.name
                    ));
                    return 0;
                }
            }
        }
        let mut kept = 0;
        for item in list {
            if already + kept >= self.limits.max_items {
                self.reach.unseen.push(format!(
                    "{}: kept the first {} items; more exist",
                    step.name, self.limits.max_items
                ));
                break;
            }
            let one = Exchange {
                status: 200,
                json: Some(item.clone()),
                ..Default::default()
            };
            if !keep.iter().all(|(spec, want)| extract(spec, &one).contains(want)) {
                continue;
            }
            let Some(name) = extract_one(Some(&spec.name), &one) else {
                continue;
            };
            let permission = spec
                .permission
                .as_deref()
                .and_then(|p| permission_of(item, p, &step.permission_order, &step.permission_names));
            let detail = extract_one(spec.detail.as_ref(), &one);
            self.push(Resource {
                kind: into.clone(),
                name,
                permission,
                detail,
            });
            kept += 1;
        }
        kept
    }

    /// Keeps the first naming of a resource: steps that list the same resources filtered by
    /// level (GitLab's groups by `min_access_level`) go from the highest level down.
    fn push(&mut self, r: Resource) {
        if !self
            .reach
            .resources
            .iter()
            .any(|have| have.kind == r.kind && have.name == r.name)
        {
            self.reach.resources.push(r);
        }
    }
}

/// A permission read from an item. An object of flags (GitHub's `permissions`) gives the first
/// of `order` whose flag is true. Otherwise every value the extractor finds counts (a `*` path
/// or a list: GitLab's project and group access levels, Hugging Face's permission list), each
/// renamed by `names`; with an `order`, the one ranked first wins, else the first found.
/// `const:` names the permission outright (a listing filtered by access level).
fn permission_of(
    item: &serde_json::Value,
    spec: &str,
    order: &[String],
    names: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(c) = spec.strip_prefix("const:") {
        return Some(c.to_string());
    }
    let path = spec.strip_prefix("json:")?;
    let found = json_path(item, path);
    if let [serde_json::Value::Object(flags)] = found.as_slice() {
        if !order.is_empty() {
            return order
                .iter()
                .find(|name| flags.get(name.as_str()).and_then(|f| f.as_bool()) == Some(true))
                .cloned();
        }
    }
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let values: Vec<String> = found
        .iter()
        .flat_map(|v| match v {
            serde_json::Value::Array(a) => a.iter().filter_map(scalar).collect::<Vec<_>>(),
            v => scalar(v).into_iter().collect(),
        })
        .map(|v| names.get(&v).cloned().unwrap_or(v))
        .collect();
    order
        .iter()
        .find(|o| values.contains(o))
        .cloned()
        .or_else(|| values.into_iter().next())
}

/// The request for the page after `ex`, if the step pages and the answer says one exists.
fn next_page(step: &Step, first: &Prepared, ex: &Exchange) -> Option<Prepared> {
    let paging = step.paging.as_ref()?;
    if paging.link {
        let url = Url::parse(&link_next(ex)?).ok()?;
        let mut req = first.clone();
        req.url = url;
        return Some(req);
    }
    if let Some(param) = &paging.page {
        let number =
            |spec: &Option<String>| extract_one(spec.as_ref(), ex).and_then(|v| v.parse::<u64>().ok());
        let (current, last) = (number(&paging.current)?, number(&paging.last)?);
        if current >= last {
            return None;
        }
        return Some(with_query(first, param, &(current + 1).to_string()));
    }
    if let Some(more) = &paging.more {
        if extract_one(Some(more), ex).as_deref() != Some("true") {
            return None;
        }
    }
    let cursor = extract_one(paging.next.as_ref(), ex)?;
    let param = paging.param.as_deref()?;
    Some(with_query(first, param, &cursor))
}

/// `first` with the query parameter `param` set to `value`.
fn with_query(first: &Prepared, param: &str, value: &str) -> Prepared {
    let mut req = first.clone();
    let kept: Vec<(String, String)> = req
        .url
        .query_pairs()
        .filter(|(k, _)| k != param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    req.url
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(param, value);
    req
}

/// Why an answer was not usable, in the issuer's words when it gave some.
fn refusal(ex: &Exchange) -> String {
    let msg = ex.json.as_ref().and_then(|j| {
        [
            "message",
            "error.message",
            "errors.0.message",
            "Error.Message",
            "error",
        ]
        .iter()
        .find_map(|p| {
            json_path(j, p)
                .into_iter()
                .find_map(|v| v.as_str().map(String::from))
        })
    });
    match msg {
        Some(m) => format!("refused (HTTP {}: {})", ex.status, truncate(&m, 120)),
        None => format!("refused (HTTP {})", ex.status),
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The access recipe for a rule, as a command's error.
pub fn recipe_for(rule_id: &str) -> anyhow::Result<Option<&'static AccessRecipe>> {
    let r = crate::issuer::access_recipe::for_rule(rule_id).map_err(anyhow::Error::msg)?;
    if let Some(r) = r {
        super::meaning::check(r).map_err(anyhow::Error::msg)?;
    }
    Ok(r)
}
