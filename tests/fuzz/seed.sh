#!/usr/bin/env bash
# Builds the seed corpus for every fuzz target in corpus/<target>/ (or OUT/<target>/ with
# `seed.sh OUT`) from real inputs made on
# this machine: a git repository written by git itself (its pack, index and trees), the
# project's own rule files, gzip and base64 output of the README, webhook payloads of the
# documented push shapes and a JWT signed by openssl. Nothing fetched is used or committed;
# corpus/ is ignored by git and rebuilt by this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/corpus}"
rm -rf "$out"
for t in git_pack git_tree git_delta rules gitleaks scan gzip webhook jwt; do mkdir -p "$out/$t"; done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A little-endian u32, for the pack target's "index length" prefix.
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }

# Git: a repository with history, deltas (edits of one file) and nested trees.
repo="$tmp/repo"
git init -q "$repo"
export GIT_AUTHOR_NAME=fuzz GIT_AUTHOR_EMAIL=fuzz@example.invalid GIT_COMMITTER_NAME=fuzz GIT_COMMITTER_EMAIL=fuzz@example.invalid
for i in $(seq 1 12); do
  mkdir -p "$repo/src/deep/er"
  sed -n "1,$((i * 10))p" "$root/README.md" > "$repo/notes.md"
  echo "line $i" >> "$repo/src/deep/er/file.txt"
  git -C "$repo" add -A
  git -C "$repo" -c commit.gpgsign=false commit -q -m "c$i"
done
git -C "$repo" repack -adq --depth=10
for idx in "$repo"/.git/objects/pack/*.idx; do
  pack="${idx%.idx}.pack"
  { le32 "$(stat -c %s "$idx")"; cat "$idx" "$pack"; } > "$out/git_pack/$(basename "$idx" .idx)"
done
for tree in $(git -C "$repo" rev-list --all --objects | awk '{print $1}' | git -C "$repo" cat-file --batch-check='%(objectname) %(objecttype)' | awk '$2 == "tree" {print $1}'); do
  git -C "$repo" cat-file tree "$tree" > "$out/git_tree/$tree"
done
# Deltas: a cut byte, then base and target of one file's consecutive versions (the target
# shows the shape the reader expects after it; libFuzzer mutates from there).
git -C "$repo" show HEAD~1:notes.md > "$tmp/base"
git -C "$repo" show HEAD:notes.md > "$tmp/new"
{ printf '\x80'; cat "$tmp/base" "$tmp/new"; } > "$out/git_delta/notes"

# Rules: the project's own files, and a gitleaks-format file written here.
cp "$root"/rules/*.toml "$out/rules/"
cat > "$out/gitleaks/basic.toml" <<'TOML'
title = "seed"
[extend]
useDefault = true
[allowlist]
paths = ['''vendor/''']
[[rules]]
id = "widget-token"
description = "Widget token"
regex = '''wdg_[A-Z0-9]{16}'''
keywords = ["wdg_"]
entropy = 3.5
secretGroup = 0
[rules.allowlist]
regexes = ['''wdg_TEST.*''']
stopwords = ["example"]
TOML
cp "$out/gitleaks/basic.toml" "$out/rules/gitleaks.toml"

# Decoders: text, its base64, its gzip (whole and cut short).
cp "$root/README.md" "$out/scan/readme"
# (No pipe into head: with pipefail, the writer's SIGPIPE would fail the script at random.)
base64 -w 76 < "$root/README.md" > "$tmp/readme.b64"
sed -n '1,40p' "$tmp/readme.b64" > "$out/scan/readme.b64"
sha256sum "$root/README.md" > "$tmp/sum"
printf 'token: %s\n' "$(printf 'ghp_%s' "$(cut -c1-36 "$tmp/sum")" | base64 -w0)" > "$out/scan/encoded-token"
gzip -c "$root/README.md" > "$out/gzip/readme.gz"
dd if="$out/gzip/readme.gz" of="$out/gzip/truncated.gz" bs=2000 count=1 2>/dev/null

# Webhooks: the push payload shapes GitHub and GitLab document.
zero=0000000000000000000000000000000000000000
after=$(git -C "$repo" rev-parse HEAD)
cat > "$out/webhook/github-push.json" <<JSON
{"ref":"refs/heads/main","before":"$zero","after":"$after","forced":false,"repository":{"full_name":"acme/app","clone_url":"https://github.com/acme/app.git"},"commits":[{"id":"$after","message":"c12"}]}
JSON
cat > "$out/webhook/gitlab-push.json" <<JSON
{"object_kind":"push","ref":"refs/heads/main","before":"$zero","after":"$after","project":{"path_with_namespace":"group/app","git_http_url":"https://gitlab.example/group/app.git"}}
JSON

# JWT: RS256 signed by openssl.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/key.pem" 2>/dev/null
head=$(printf '{"alg":"RS256","typ":"JWT","kid":"k1"}' | b64url)
body=$(printf '{"iss":"https://idp.example","sub":"user-1","exp":4102444800}' | b64url)
sig=$(printf '%s.%s' "$head" "$body" | openssl dgst -sha256 -sign "$tmp/key.pem" | b64url)
printf '%s.%s.%s' "$head" "$body" "$sig" > "$out/jwt/rs256"

# Every crash found so far seeds its target too.
for d in "$here"/regressions/*/; do
  [ -d "$d" ] || continue
  t=$(basename "$d")
  cp "$d"* "$out/$t/" 2>/dev/null || true
done
echo "seed corpus in $out: $(find "$out" -type f | wc -l) files"
