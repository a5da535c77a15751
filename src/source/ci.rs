//! Recognises CI configuration files by path, so findings in them say `context: ci-config`: a
//! secret in a workflow runs with the pipeline's privileges and is read by everyone who can
//! read the repository.

use crate::finding::Context;

/// The context of a path: CI configuration, a log, or an ordinary file.
pub fn classify(path: &str) -> Context {
    if is_ci_config(path) {
        Context::CiConfig
    } else if is_log(path) {
        Context::Log
    } else {
        Context::File
    }
}

pub fn is_ci_config(path: &str) -> bool {
    let p = path.replace('\\', "/");
    let name = p.rsplit('/').next().unwrap_or(&p);
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    (yaml && (p.contains(".github/workflows/") || p.contains(".buildkite/") || p.contains(".circleci/")))
        || (p.contains(".github/actions/") && (name == "action.yml" || name == "action.yaml"))
        || matches!(
            name,
            ".gitlab-ci.yml"
                | ".travis.yml"
                | ".drone.yml"
                | "azure-pipelines.yml"
                | "azure-pipelines.yaml"
                | "bitbucket-pipelines.yml"
                | "Jenkinsfile"
                | ".woodpecker.yml"
                | "cloudbuild.yaml"
                | "cloudbuild.yml"
                | "buildkite.yml"
                | "pipeline.yml"
                | "appveyor.yml"
                | ".appveyor.yml"
                | "codemagic.yaml"
                | "bitrise.yml"
        )
        || (name.starts_with("Jenkinsfile.") || name.ends_with(".jenkinsfile"))
        || (yaml && p.contains(".gitlab/ci/"))
}

/// Line-oriented logs, which are streamed whatever their size.
pub fn is_log(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.ends_with(".log") || name.ends_with(".log.gz") || name.contains(".log.") || name.ends_with(".gz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ci_files() {
        for p in [
            "repo/.github/workflows/ci.yml",
            ".gitlab-ci.yml",
            ".circleci/config.yml",
            "Jenkinsfile",
            "azure-pipelines.yml",
            "bitbucket-pipelines.yml",
            ".buildkite/pipeline.yml",
            ".drone.yml",
            ".travis.yml",
        ] {
            assert_eq!(classify(p), Context::CiConfig, "{p}");
        }
        assert_eq!(classify("src/main.rs"), Context::File);
        assert_eq!(classify("var/app.log"), Context::Log);
        assert_eq!(classify("var/app.log.1"), Context::Log);
    }
}
