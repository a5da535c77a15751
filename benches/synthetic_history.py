#!/usr/bin/env python3
"""A long synthetic git history as a `git fast-import` stream, for benches/git_history.sh.

Usage: synthetic_history.py COMMITS | git fast-import

Shaped like a busy project: a few thousand source files in nested directories, each commit
editing one to three of them by a few lines (so packs delta well, as real ones do), feature
branches merged back, tags, and every few thousand commits a fake GitHub token (right prefix,
length and CRC-32 check, random body: nobody's key) added and later removed, so there is
something to find. Deterministic for a given COMMITS.
"""
import random
import sys
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WORDS = ("let fn return match self value config error result buffer index count node tree "
         "path user client request response handler parse render update delete insert").split()


def fake_github_token(rng):
    body = "".join(rng.choice(BASE62) for _ in range(30))
    crc = zlib.crc32(body.encode())
    check = ""
    for _ in range(6):
        check = BASE62[crc % 62] + check
        crc //= 62
    return "ghp_" + body + check


def code_line(rng):
    n = rng.randint(3, 10)
    return "    " + " ".join(rng.choice(WORDS) for _ in range(n)) + ";"


def main():
    commits = int(sys.argv[1]) if len(sys.argv) > 1 else 40000
    rng = random.Random(commits)
    out = sys.stdout.buffer
    paths = [f"src/m{d:02}/s{s:02}/f{f:03}.rs" for d in range(30) for s in range(10) for f in range(10)]
    files = {}
    planted = {}  # path -> commit number to remove the token at
    mark = 0
    when = 1_500_000_000
    branch_tip = None

    def blob(data):
        nonlocal mark
        mark += 1
        out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
        out.write(data)
        out.write(b"\n")
        return mark

    def commit(ref, msg, changes, parent=None, merge=None):
        nonlocal mark, when
        mark += 1
        when += rng.randint(60, 7200)
        out.write(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
        out.write(b"author Dev %d <dev%d@example.com> %d +0000\n" % (mark % 17, mark % 17, when))
        out.write(b"committer Dev %d <dev%d@example.com> %d +0000\n" % (mark % 17, mark % 17, when))
        m = msg.encode()
        out.write(b"data %d\n%s\n" % (len(m), m))
        if parent is not None:
            out.write(b"from :%d\n" % parent)
        if merge is not None:
            out.write(b"merge :%d\n" % merge)
        for path, bmark in changes:
            out.write(b"M 100644 :%d %s\n" % (bmark, path.encode()))
        out.write(b"\n")
        return mark

    def edit(path, token=None):
        lines = files.setdefault(path, [code_line(rng) for _ in range(rng.randint(20, 120))])
        for _ in range(rng.randint(1, 4)):
            lines[rng.randrange(len(lines))] = code_line(rng)
        if rng.random() < 0.3:
            lines.insert(rng.randrange(len(lines) + 1), code_line(rng))
        if token:
            lines.insert(rng.randrange(len(lines) + 1), f'    const TOKEN: &str = "{token}";')
        return blob(("\n".join(lines) + "\n").encode())

    main_tip = None
    for n in range(commits):
        on_branch = (n // 200) % 5 == 4  # every fifth stretch of 200 commits is a feature branch
        ref = "refs/heads/feature" if on_branch else "refs/heads/main"
        changes = []
        for _ in range(rng.randint(1, 3)):
            p = rng.choice(paths)
            token = None
            if n % 2500 == 1000:
                token = fake_github_token(rng)
                planted[p] = n + 300
            changes.append((p, edit(p, token)))
        for p, until in list(planted.items()):
            if until == n:
                files[p] = [l for l in files[p] if "TOKEN" not in l]
                changes.append((p, blob(("\n".join(files[p]) + "\n").encode())))
                del planted[p]
        if on_branch:
            parent = branch_tip if (n % 200) else main_tip
            branch_tip = commit(ref, f"feature work {n}", changes, parent=parent)
        else:
            merge = branch_tip if (n % 1000 == 0 and branch_tip) else None
            main_tip = commit(ref, f"change {n}", changes, parent=main_tip, merge=merge)
            if merge:
                branch_tip = None
        if n % 5000 == 4999 and main_tip:
            out.write(b"reset refs/tags/v%d\nfrom :%d\n\n" % (n // 5000, main_tip))


if __name__ == "__main__":
    main()
