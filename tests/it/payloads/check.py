#!/usr/bin/env python3
"""Checks the webhook payloads under tests/it/payloads/ against the forges' own examples.

The payloads are ours (our values, a subset of the fields), written in the shape GitHub and
GitLab document. This script proves that shape against the published examples, which are not
committed here: every key path in one of our payloads must occur in the documented example(s)
for that event, with a value of the same JSON type (a documented `null` or ours matches any
type, as both forges send `null` for fields that are otherwise strings or objects).

  tests/it/payloads/check.py --octokit MIRROR --gitlab-doc DOC

MIRROR is a clone (bare or not) of octokit/webhooks: its payload-examples/api.github.com/
holds GitHub's examples. DOC is GitLab's webhook_events.md, as a file or as a clone of the
GitLab repository (doc/user/project/integrations/webhook_events.md is read from HEAD); its
"Push Hook" and "Tag Push Hook" sections hold the examples. Either may be omitted; exit status 1
when a payload strays from the documented shape, 2 when a source cannot be read.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Our payload -> the documented examples it must fit (paths in octokit/webhooks).
GITHUB = {
    "github/push.json": ["push/"],
    "github/pull_request.json": ["pull_request/synchronize.", "pull_request/opened."],
}
# Our payload -> the X-Gitlab-Event header whose section documents it.
GITLAB = {
    "gitlab/push.json": "Push Hook",
    "gitlab/tag_push.json": "Tag Push Hook",
}
GITLAB_DOC = "doc/user/project/integrations/webhook_events.md"


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def paths(doc, prefix="", out=None):
    """Every key path in doc (array elements as `[]`) with the set of types seen there."""
    out = {} if out is None else out
    out.setdefault(prefix or "$", set()).add(kind(doc))
    if isinstance(doc, dict):
        for k, v in doc.items():
            paths(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(doc, list):
        for v in doc:
            paths(v, f"{prefix}[]", out)
    return out


def git_files(repo, prefix):
    names = subprocess.run(
        ["git", "-C", repo, "ls-tree", "-r", "--name-only", "HEAD", prefix],
        check=True, capture_output=True, text=True).stdout.split()
    return names


def git_show(repo, path):
    return subprocess.run(["git", "-C", repo, "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def compare(name, ours, documented):
    """Problems of our payload against the union of documented shapes."""
    want = {}
    for d in documented:
        for p, t in paths(d).items():
            want.setdefault(p, set()).update(t)
    problems = []
    for p, types in sorted(paths(ours).items()):
        if p not in want:
            # Elements of an array every example leaves empty (`removed: []`) are not
            # documented by example; the array itself is.
            arr = p[:p.rfind("[]")] if "[]" in p else None
            if arr and "array" in want.get(arr, ()) and not any(
                    q.startswith(arr + "[]") for q in want):
                continue
            problems.append(f"{name}: {p} is not in the documented payload")
            continue
        t = next(iter(types))
        if t != "null" and "null" not in want[p] and t not in want[p]:
            problems.append(f"{name}: {p} is {t}, documented as {'/'.join(sorted(want[p]))}")
    return problems


def load(rel):
    with open(os.path.join(HERE, rel)) as f:
        return json.load(f)


def gitlab_examples(text):
    """The JSON example after each `X-Gitlab-Event: NAME` header block."""
    found = {}
    for m in re.finditer(r"X-Gitlab-Event: ([^\n]+)\n```.*?```json\n(.*?)\n```", text, re.S):
        found.setdefault(m.group(1).strip(), json.loads(m.group(2)))
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--octokit", help="clone of octokit/webhooks")
    ap.add_argument("--gitlab-doc", help="webhook_events.md, or a clone of GitLab")
    a = ap.parse_args()
    if not a.octokit and not a.gitlab_doc:
        ap.error("give --octokit and/or --gitlab-doc")
    problems, checked = [], 0
    try:
        if a.octokit:
            base = "payload-examples/api.github.com/"
            files = git_files(a.octokit, base)
            for ours, prefixes in GITHUB.items():
                docs = [json.loads(git_show(a.octokit, f)) for f in files
                        if any(f[len(base):].startswith(p) for p in prefixes)]
                if not docs:
                    print(f"{a.octokit}: no examples for {ours} ({prefixes})", file=sys.stderr)
                    return 2
                problems += compare(ours, load(ours), docs)
                checked += 1
                print(f"{ours}: against {len(docs)} documented example(s)")
        if a.gitlab_doc:
            if os.path.isdir(a.gitlab_doc):
                text = git_show(a.gitlab_doc, GITLAB_DOC)
            else:
                with open(a.gitlab_doc) as f:
                    text = f.read()
            examples = gitlab_examples(text)
            for ours, header in GITLAB.items():
                if header not in examples:
                    print(f"{a.gitlab_doc}: no example under X-Gitlab-Event: {header}", file=sys.stderr)
                    return 2
                problems += compare(ours, load(ours), [examples[header]])
                checked += 1
                print(f"{ours}: against the documented {header!r} example")
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as e:
        print(f"cannot read a documented example: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    print(f"{checked} payload(s) checked, {len(problems)} difference(s) from the documented shape")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
