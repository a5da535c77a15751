//! The human view of a key's reach (`quench access`, and `--access` under each live finding):
//! whose it is, the risk and capabilities first, then what it reaches, then what was not seen.

use std::io::{self, Write};

use crate::reach::Reach;

/// Resources shown per kind before the rest are counted.
const SHOWN_PER_KIND: usize = 20;

pub fn write(out: &mut dyn Write, reach: &Reach, indent: &str) -> io::Result<()> {
    writeln!(out, "{indent}whose: {}", reach.whose.summary)?;
    let caps: Vec<&str> = reach.capabilities.iter().map(|c| c.as_str()).collect();
    writeln!(
        out,
        "{indent}risk:  {}{}",
        reach.risk.as_str(),
        if caps.is_empty() {
            String::new()
        } else {
            format!(" ({})", caps.join(", "))
        }
    )?;
    let mut who = vec![];
    if let Some(p) = &reach.principal {
        who.push(match &reach.principal_kind {
            Some(k) => format!("{p} ({k})"),
            None => p.clone(),
        });
    }
    if let Some(t) = &reach.token_kind {
        who.push(format!("{t} token"));
    }
    if let Some(l) = &reach.whose.token_lifetime {
        who.push(format!("tokens live {l}"));
    }
    if !who.is_empty() {
        writeln!(out, "{indent}principal: {}", who.join(", "))?;
    }
    if !reach.scopes.is_empty() {
        writeln!(out, "{indent}scopes: {}", reach.scopes.join(", "))?;
    }
    if !reach.granted.is_empty() || !reach.denied.is_empty() {
        writeln!(
            out,
            "{indent}permissions: granted {}; denied {}",
            list_or_none(&reach.granted),
            list_or_none(&reach.denied)
        )?;
    }
    let mut kinds: Vec<&str> = vec![];
    for r in &reach.resources {
        if !kinds.contains(&r.kind.as_str()) {
            kinds.push(&r.kind);
        }
    }
    for kind in kinds {
        let all: Vec<_> = reach.of_kind(kind).collect();
        for r in all.iter().take(SHOWN_PER_KIND) {
            let detail = r.detail.as_ref().map(|d| format!("  ({d})")).unwrap_or_default();
            writeln!(
                out,
                "{indent}  {:<10} {:<32} {}{detail}",
                r.kind,
                r.name,
                r.permission.as_deref().unwrap_or("-")
            )?;
        }
        if all.len() > SHOWN_PER_KIND {
            writeln!(
                out,
                "{indent}  {:<10} … and {} more",
                kind,
                all.len() - SHOWN_PER_KIND
            )?;
        }
    }
    if !reach.unseen.is_empty() {
        writeln!(out, "{indent}not seen:")?;
        for u in &reach.unseen {
            writeln!(out, "{indent}  - {u}")?;
        }
    }
    Ok(())
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
