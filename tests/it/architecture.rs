//! The house's shape, checked from the source: no two modules import each other (directly or
//! round a longer circle), and nothing on the ground floor (rules, engine, sources, the scanner,
//! findings, the issuer-call language) imports verification, revocation, the store, the server
//! or the CLI. ARCHITECTURE.md draws the same map; this keeps it true as files are added.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`verify::engine`) → its file's text, without comments and unit tests.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(parts.join("::"), code);
        }
    }
    out
}

/// The module a `crate::…` or `super::…` path in `from` names: the longest prefix that is one.
fn resolve(from: &str, path: &str, mods: &BTreeMap<String, String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = from.split("::").collect();
    let abs: Vec<&str> = match segs[0] {
        "crate" => segs[1..].to_vec(),
        "super" => {
            base.pop();
            segs.remove(0);
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
            base.into_iter().chain(segs).collect()
        }
        _ => return None,
    };
    (1..=abs.len())
        .rev()
        .map(|n| abs[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let path = regex::Regex::new(r"\b(?:crate|super)(?:::\w+)+").unwrap();
    let mut g = BTreeMap::new();
    for (m, code) in &mods {
        let mut deps = BTreeSet::new();
        for p in path.find_iter(code) {
            if let Some(t) = resolve(m, p.as_str(), &mods) {
                let nested = m.starts_with(&format!("{t}::")) || t.starts_with(&format!("{m}::"));
                if t != *m && !nested {
                    deps.insert(t);
                }
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap()
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let g = graph();
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for (m, deps) in &g {
        for d in deps {
            if top(m) != top(d) {
                edges.insert((top(m).to_string(), top(d).to_string()));
            }
        }
    }
    // Reachability over the top-level graph: a module that reaches itself is on a circle.
    let nodes: BTreeSet<String> = edges.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
    for n in &nodes {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = edges
            .iter()
            .filter(|(a, _)| a == n)
            .map(|(_, b)| b.clone())
            .collect();
        while let Some(x) = todo.pop() {
            if x == *n {
                panic!("`{n}` imports itself through other modules: {edges:?}");
            }
            if seen.insert(x.clone()) {
                todo.extend(edges.iter().filter(|(a, _)| *a == x).map(|(_, b)| b.clone()));
            }
        }
    }
}

#[test]
fn the_ground_floor_imports_nothing_above_it() {
    let ground = [
        "rules", "engine", "source", "scan", "finding", "verdict", "reach", "issuer", "config", "suppress",
    ];
    let above = [
        "access", "verify", "revoke", "store", "server", "sweep", "pipeline", "cli", "notify", "simulate",
        "report",
    ];
    let mut bad = Vec::new();
    for (m, deps) in graph() {
        if ground.contains(&top(&m)) {
            bad.extend(
                deps.iter()
                    .filter(|d| above.contains(&top(d)))
                    .map(|d| format!("{m} -> {d}")),
            );
        }
    }
    assert!(bad.is_empty(), "ground-floor modules import upward: {bad:?}");
}
