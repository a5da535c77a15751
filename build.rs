//! Embeds the rule catalogue (`rules/*.toml`) into the binary.
//!
//! Two forms are embedded: the TOML as written (for `quench rules check`, which needs every
//! rule's examples), and a slim JSON copy without the examples, which is what a scan parses at
//! start-up. Parsing ~700 KB of TOML took ~20 ms, most of a pre-commit hook's budget; the slim
//! JSON takes a fraction of that.
use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let out_dir = env::var("OUT_DIR").unwrap();
    let mut src = String::from(
        "/// Built-in rule files: (file name, TOML as written, slim JSON without examples).\n\
         pub static BUILTIN_RULE_FILES: &[(&str, &str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = fs::read_to_string(f).unwrap();
        // A malformed file is embedded as-is with empty JSON: loading reports the TOML error
        // with its line and column at run time (and `cargo test` fails), which is more useful
        // than a build-script panic.
        let slim = match toml::from_str::<toml::Table>(&text) {
            Ok(mut t) => {
                if let Some(toml::Value::Array(rules)) = t.get_mut("rule") {
                    for r in rules.iter_mut() {
                        if let toml::Value::Table(r) = r {
                            r.remove("examples");
                            r.remove("negative_examples");
                        }
                    }
                }
                serde_json::to_string(&t).unwrap()
            }
            Err(_) => String::new(),
        };
        let json_path = Path::new(&out_dir).join(format!("{name}.json"));
        fs::write(&json_path, slim).unwrap();
        src.push_str(&format!(
            "    ({name:?}, include_str!({:?}), include_str!({:?})),\n",
            f.display().to_string(),
            json_path.display().to_string()
        ));
    }
    src.push_str("];\n");
    fs::write(Path::new(&out_dir).join("builtin_rules.rs"), src).unwrap();
}
