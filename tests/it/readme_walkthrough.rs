//! The README's newcomer walkthrough runs as written: the commands between its
//! `walkthrough:start` and `walkthrough:end` markers are run, in order and in one shell, in an
//! empty directory, with the `quench` under test first on PATH and a data directory of the
//! test's own. Each must exit with the status its comment gives (`# exit N`, else 0) and print
//! every `quoted` snippet its comment names, so the README cannot drift from what quench does.

use std::path::Path;
use std::process::Command;

/// One command of the walkthrough, as the README gives it.
#[derive(Debug)]
struct Step {
    line: String,
    /// Exit status the comment gives; `None` for a command run in the background.
    exit: Option<i32>,
    /// Text its comment quotes in backquotes, which its output must contain.
    shows: Vec<String>,
}

/// The commands of the fenced block between the markers.
fn walkthrough(readme: &str) -> Vec<Step> {
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("README has no walkthrough:start marker");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("README has no walkthrough:end marker");
    let block = &readme[start..end];
    let body = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(body, _)| body)
        .expect("the walkthrough is one ```sh block");
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (cmd, comment) = match l.find(" # ") {
                Some(i) => (l[..i].trim_end(), l[i + 3..].trim()),
                None => (l, ""),
            };
            let background = cmd.ends_with('&') && !cmd.ends_with("&&");
            let exit = comment
                .strip_prefix("exit ")
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let shows = comment
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s.to_string())
                .collect();
            Step {
                line: cmd.to_string(),
                exit: (!background).then_some(exit),
                shows,
            }
        })
        .collect()
}

/// A shell script that runs the steps in order, each one's output kept in `out/N`, and stops at
/// the first whose exit status is not the README's.
fn script(steps: &[Step], out: &Path) -> String {
    // The simulator started in the background is stopped however the script ends.
    let mut s =
        String::from("trap 'kill $(jobs -p) 2>/dev/null' EXIT\ntrap 'exit 97' TERM\ncd work || exit 98\n");
    for (i, st) in steps.iter().enumerate() {
        let file = out.join(i.to_string());
        match st.exit {
            None => s.push_str(&format!(
                "{} > {:?} 2>&1 &\n",
                st.line.trim_end_matches('&').trim_end(),
                file
            )),
            Some(want) => s.push_str(&format!(
                "{{ {}\n}} > {:?} 2>&1\nrc=$?\nif [ $rc -ne {want} ]; then echo \"step {i}: exit $rc, the README says {want}\"; exit 99; fi\n",
                st.line, file
            )),
        }
    }
    s
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = walkthrough(&readme);
    // What the README promises a newcomer: scan, verify against the simulator, revoke with
    // approval, report. A walkthrough that lost one of them fails here, not silently.
    for needed in [
        "quench scan ",
        "quench simulate ",
        "--verify",
        "mode = \"ask\"",
        "--revoke",
        "quench revoke --approve",
        "quench report --html",
    ] {
        assert!(
            steps.iter().any(|s| s.line.contains(needed)),
            "the walkthrough lacks {needed:?}: {steps:#?}"
        );
    }
    assert!(steps.iter().any(|s| s.exit == Some(1)), "{steps:#?}");

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_quench")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let text = script(&steps, &out);
    let run = Command::new("timeout")
        .args(["300", "bash", "-c", &text])
        .current_dir(tmp.path())
        .env("PATH", path)
        // A newcomer's own data directory, inside the test's directory.
        .env("HOME", tmp.path())
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .env("QUENCH_FINGERPRINT_KEY", common_key())
        .env_remove("QUENCH_DATA_DIR")
        .env_remove("QUENCH_STORE_URL")
        .env_remove("QUENCH_STORE_KEY")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&run.stdout);
    let output_of = |i: usize| std::fs::read_to_string(out.join(i.to_string())).unwrap_or_default();
    if !run.status.success() {
        let failed: Option<usize> = said
            .trim()
            .strip_prefix("step ")
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok());
        panic!(
            "{said}{}\n{}",
            failed.map_or(String::new(), |i| format!(
                "`{}` printed:\n{}",
                steps[i].line,
                output_of(i)
            )),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    for (i, st) in steps.iter().enumerate() {
        let printed = output_of(i);
        for want in &st.shows {
            assert!(
                printed.contains(want.as_str()),
                "`{}` was to print {want:?}; it printed:\n{printed}",
                st.line
            );
        }
    }
    // What the newcomer is left with: the exposure page, and no secret in it.
    let page = std::fs::read_to_string(work.join("exposure.html")).expect("exposure.html written");
    let app = std::fs::read_to_string(work.join("project/app.env")).unwrap();
    let tok = app.trim().strip_prefix("SLACK_BOT_TOKEN=").unwrap();
    assert!(tok.starts_with("xoxb-") && !page.contains(tok));
    assert!(page.contains("revoked"), "{page}");
    // Printed, its findings table repeats its header on every page.
    assert!(page.contains("<table id=\"findings\"><thead><tr>"), "{page}");
}

/// The fingerprint key every test run uses (see `common::quench`).
fn common_key() -> String {
    let c = crate::common::quench();
    c.get_envs()
        .find(|(k, _)| *k == "QUENCH_FINGERPRINT_KEY")
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap()
}
