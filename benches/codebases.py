#!/usr/bin/env python3
"""Precision on real code we did not write: scans the HEAD tree of a few large public code bases
and reports findings per MB, per code base and per rule, with a sample to check by hand.

Each code base is a git directory (bring one onto the machine with a mirror of github:curl/curl,
rails/rails, ansible/ansible, hashicorp/terraform, prometheus/prometheus…). Its HEAD is written
with `git archive` to a temporary directory outside this repository and scanned there, so
nothing fetched ever lands in the tree. A finding counts once per location.

With `--kingfisher BIN` the same extracted tree is also scanned by Kingfisher (`--no-validate`;
`pip install kingfisher-bin`, as benches/compare.sh does) and its findings per MB printed beside.

usage: benches/codebases.py QUENCH_BIN GIT_DIR... [--sample N] [--kingfisher BIN]
"""
import collections
import json
import os
import subprocess
import sys
import tempfile


def extract(git_dir, dest):
    """Writes the HEAD tree of `git_dir` under `dest`; returns (bytes written, blobs absent).
    A mirror may list its largest blobs without holding them; those are counted, not guessed."""
    tree = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", "-z", "HEAD"],
                          check=True, capture_output=True).stdout.split(b"\0")
    blobs = []
    for entry in tree:
        if not entry:
            continue
        meta, path = entry.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode != b"120000":
            blobs.append((sha, path.decode(errors="replace")))
    cat = subprocess.Popen(["git", "--git-dir", git_dir, "cat-file", "--batch"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    size = absent = 0
    for sha, path in blobs:
        cat.stdin.write(sha + b"\n")
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            absent += 1
            continue
        body = cat.stdout.read(int(header[2]))
        cat.stdout.read(1)
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(body)
        size += len(body)
    cat.stdin.close()
    cat.wait()
    return size, absent


def masked_line(loc, redacted):
    """The finding's line with the secret replaced by quench's redacted preview, so the sample
    can be judged without printing the value."""
    try:
        with open(loc["path"], encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh, 1):
                if i == loc["line"]:
                    line = line.rstrip("\n")
                    if loc.get("end_line") == loc["line"]:
                        line = line[:loc["column"] - 1] + redacted + line[loc["end_column"] - 1:]
                    else:
                        line = line[:loc["column"] - 1] + redacted
                    return line.strip()[:160]
    except OSError as e:
        return f"(unreadable: {e})"
    return ""


def kingfisher_count(kingfisher, root):
    """Kingfisher's findings (one per location) on the same tree, without validation."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([kingfisher, "scan", root, "--no-validate", "--format", "json",
                        "--output", out.name], capture_output=True)
        with open(out.name) as fh:
            return len(json.load(fh).get("findings", []))


def per_mb(n, mb):
    return "– | –" if n is None else f"{n} | {n / mb:.3f}"


def name_of(git_dir):
    # /work/.mirror/curl+curl/repo -> curl/curl
    parts = os.path.normpath(git_dir).split(os.sep)
    for p in reversed(parts):
        if "+" in p:
            return p.replace("+", "/", 1)
    return os.path.basename(os.path.normpath(git_dir))


def main():
    args = sys.argv[1:]
    sample = 5
    if "--sample" in args:
        i = args.index("--sample")
        sample = int(args[i + 1])
        del args[i:i + 2]
    kingfisher = None
    if "--kingfisher" in args:
        i = args.index("--kingfisher")
        kingfisher = args[i + 1]
        del args[i:i + 2]
    if len(args) < 2:
        raise SystemExit(__doc__)
    quench, dirs = args[0], args[1:]
    rows, per_rule, samples = [], collections.Counter(), []
    for gd in dirs:
        name = name_of(gd)
        with tempfile.TemporaryDirectory(prefix="quench-codebase-") as d:
            size, absent = extract(gd, d)
            out = subprocess.run([quench, "scan", d, "--format", "json"], capture_output=True)
            if out.returncode not in (0, 1):
                raise SystemExit(f"{name}: quench exited {out.returncode}: {out.stderr.decode()[-400:]}")
            report = json.loads(out.stdout)
            n = 0
            for f in report["findings"]:
                for loc in f["locations"]:
                    n += 1
                    per_rule[(name, f["rule_id"])] += 1
                    if len(samples) < sample * len(dirs) and sum(s[0] == name for s in samples) < sample:
                        samples.append((name, f["rule_id"], f"{os.path.relpath(loc['path'], d)}:{loc['line']}",
                                        masked_line(loc, f["secret_redacted"])))
            kf = kingfisher_count(kingfisher, d) if kingfisher else None
            rows.append((name, size / 1e6, n, absent, kf))
    print("| code base | MB scanned | blobs absent from the mirror | quench findings | per MB | Kingfisher findings | per MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, mb, n, absent, kf in rows:
        print(f"| {name} | {mb:.1f} | {absent} | {n} | {n / mb:.3f} | {per_mb(kf, mb)} |")
    tmb, tn = sum(r[1] for r in rows), sum(r[2] for r in rows)
    tkf = None if kingfisher is None else sum(r[4] for r in rows)
    print(f"| all | {tmb:.1f} | {sum(r[3] for r in rows)} | {tn} | {tn / tmb:.3f} | {per_mb(tkf, tmb)} |")
    print("\ncode base,rule,findings")
    for (name, rule), n in sorted(per_rule.items()):
        print(f"{name},{rule},{n}")
    print("\nsample (to check by hand):")
    for s in samples:
        print(" ", *s)


if __name__ == "__main__":
    main()
