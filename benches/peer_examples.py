#!/usr/bin/env python3
"""Scores quench on rule examples we did not write: Kingfisher's rule `examples` (positives) and
gitleaks' hand-written true and false positives (the string literals in the `tps`/`fps` lists
of cmd/generate/config/rules/*.go; generated samples need Go and are left out).

The peers' files are read from fetched mirrors with `git show` and written to a temporary
directory at run time, never into this repository. Each example is scanned alone (its own
file); an example counts as found when quench reports anything in it, and as found by name
when a non-generic rule does. A false positive is any finding in a gitleaks negative.

usage: benches/peer_examples.py QUENCH_BIN KINGFISHER_GIT_DIR GITLEAKS_GIT_DIR [--families]

QUENCH_RULES=DIR adds `--rules DIR` to each scan, so a rule file being written is scored
without rebuilding the binary (rules of the same id replace the embedded ones).
"""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml


def git(gd, *args):
    return subprocess.run(["git", "--git-dir", gd, *args], check=True, capture_output=True).stdout


def kingfisher(gd):
    names = git(gd, "ls-tree", "-r", "--name-only", "HEAD", "data/rules").decode().split()
    for n in names:
        if not n.endswith((".yml", ".yaml")):
            continue
        try:
            doc = yaml.safe_load(git(gd, "show", f"HEAD:{n}"))
        except yaml.YAMLError:
            continue
        for r in (doc or {}).get("rules", []) or []:
            fam = os.path.basename(n).rsplit(".", 1)[0]
            for ex in r.get("examples", []) or []:
                if isinstance(ex, str) and ex.strip():
                    yield fam, ex


GO_STR = r'(?:`[^`]*`|"(?:[^"\\\n]|\\.)*")'
ITEM = re.compile(r"^\s*(" + GO_STR + r")\s*,\s*(?://.*)?$")


def go_unquote(lit):
    if lit.startswith("`"):
        return lit[1:-1]
    return json.loads(lit) if "\\x" not in lit else None


def gitleaks(gd):
    names = git(gd, "ls-tree", "-r", "--name-only", "HEAD", "cmd/generate/config/rules").decode().split()
    for n in names:
        if not n.endswith(".go") or n.endswith("_test.go"):
            continue
        fam = os.path.basename(n)[:-3]
        kind = None
        for line in git(gd, "show", f"HEAD:{n}").decode(errors="replace").splitlines():
            m = re.match(r"\s*(tps|fps|truePositives|falsePositives)\s*:?=\s*(?:append\(\w+,\s*)?\[\]string\{\s*$", line)
            if m:
                kind = "tp" if m.group(1) in ("tps", "truePositives") else "fp"
                continue
            if kind and re.match(r"^\s*\}", line):
                kind = None
                continue
            if kind:
                it = ITEM.match(line)
                if it:
                    try:
                        s = go_unquote(it.group(1))
                    except ValueError:
                        s = None
                    if s and s.strip():
                        yield kind, fam, s


def scan(quench, root):
    extra = ["--rules", os.environ["QUENCH_RULES"]] if os.environ.get("QUENCH_RULES") else []
    out = subprocess.run([quench, "scan", root, "--format", "json", *extra], capture_output=True)
    report = json.loads(out.stdout)
    hits = collections.defaultdict(set)
    for f in report["findings"]:
        for loc in f["locations"]:
            hits[os.path.relpath(loc["path"], root)].add(f["rule_id"])
    return hits


def main():
    quench, kf, gl = sys.argv[1:4]
    families = "--families" in sys.argv
    sets = {"kingfisher": [("tp", f, e) for f, e in kingfisher(kf)]}
    glk = list(gitleaks(gl))
    sets["gitleaks tp"] = [x for x in glk if x[0] == "tp"]
    sets["gitleaks fp"] = [x for x in glk if x[0] == "fp"]
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for name, items in sets.items():
            for i, (kind, fam, text) in enumerate(items):
                p = os.path.join(name.replace(" ", "-"), f"{fam}.{i}.txt")
                os.makedirs(os.path.join(d, os.path.dirname(p)), exist_ok=True)
                with open(os.path.join(d, p), "w") as fh:
                    fh.write(text + "\n")
                paths[p] = (name, fam)
        hits = scan(quench, d)
    per = collections.defaultdict(lambda: [0, 0, 0])  # (set, family) -> total, any, named
    for p, (name, fam) in paths.items():
        rules = hits.get(p, set())
        c = per[(name, fam)]
        c[0] += 1
        c[1] += bool(rules)
        c[2] += any(not r.startswith("generic.") for r in rules)
    print("| set | examples | families | found | found by a named rule |")
    print("|---|---:|---:|---:|---:|")
    for name in sets:
        rows = [v for (n, _), v in per.items() if n == name]
        t, a, nm = (sum(r[i] for r in rows) for i in range(3))
        if name.endswith("fp"):
            print(f"| {name} (negatives) | {t} | {len(rows)} | {a} false positives ({100*a/max(t,1):.1f}%) | {nm} |")
        else:
            print(f"| {name} | {t} | {len(rows)} | {a} ({100*a/max(t,1):.1f}%) | {nm} ({100*nm/max(t,1):.1f}%) |")
    if families:
        print("\nset,family,examples,found,named")
        for (n, fam), (t, a, nm) in sorted(per.items()):
            print(f"{n},{fam},{t},{a},{nm}")


if __name__ == "__main__":
    main()
