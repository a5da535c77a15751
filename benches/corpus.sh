#!/usr/bin/env bash
# Builds a scan corpus from real source trees on this machine (crate sources, the Python
# standard library, C headers, Perl modules…), copied until it reaches SIZE_MB, then plants
# generated fake credentials (right prefix, length and checksum; owned by no one).
#
#   benches/corpus.sh OUT_DIR [SIZE_MB]      default 1024
set -euo pipefail
out=${1:?usage: corpus.sh OUT_DIR [SIZE_MB]}
size_mb=${2:-1024}
mkdir -p "$out"
sources=()
for d in "$HOME/.cargo/registry/src" /usr/lib/python3 /usr/lib/python3.11 /usr/include /usr/share/perl /usr/share/perl5 \
         /usr/lib/node_modules /usr/share/doc /usr/share/javascript /usr/local/lib/python3.11; do
  [ -d "$d" ] && sources+=("$d")
done
[ ${#sources[@]} -gt 0 ] || { echo "no source trees found to copy" >&2; exit 2; }
round=0
current() { du -sm "$out" | cut -f1; }
while [ "$(current)" -lt "$size_mb" ]; do
  for s in "${sources[@]}"; do
    [ "$(current)" -ge "$size_mb" ] && break
    dest="$out/r$round/$(echo "$s" | tr '/' '_')"
    mkdir -p "$dest"
    cp -r --no-preserve=mode "$s/." "$dest/" 2>/dev/null || true
  done
  round=$((round + 1))
done
python3 - "$out" <<'PY'
import os, random, sys, zlib
root = sys.argv[1]
rng = random.Random(7)
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(n):
    s = ""
    while n: s, n = B62[n % 62] + s, n // 62
    return s.rjust(6, "0")
def gh():
    body = "".join(rng.choice(B62) for _ in range(30))
    return "ghp_" + body + b62(zlib.crc32(body.encode()))
files = []
for d, _, fs in os.walk(root):
    files += [os.path.join(d, f) for f in fs if f.endswith((".py", ".rs", ".h", ".txt", ".md"))]
rng.shuffle(files)
for f in files[:100]:
    with open(f, "a") as fh:
        fh.write(f"\nGITHUB_TOKEN = \"{gh()}\"\n")
print(f"planted 100 fake tokens in {root}", file=sys.stderr)
PY
echo "$(find "$out" -type f | wc -l) files, $(current) MB in $out"
