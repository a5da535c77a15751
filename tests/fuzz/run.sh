#!/usr/bin/env bash
# One command to build and run every fuzz target: `tests/fuzz/run.sh [SECONDS] [TARGET…]`
# (default 30 seconds each, every target). Needs a nightly toolchain (`rustup toolchain
# install nightly`) and cargo-fuzz, which it installs with `cargo install` if missing. The
# corpus is rebuilt from real inputs by seed.sh; a crash is left in artifacts/<target>/ and
# copied to regressions/<target>/, which tests/it/fuzz_smoke.rs replays on every `cargo test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(git_pack git_tree git_delta rules gitleaks scan gzip webhook jwt)
cargo +nightly --version >/dev/null 2>&1 || { echo "run.sh: a nightly toolchain is needed: rustup toolchain install nightly" >&2; exit 2; }
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
"$here/seed.sh"
cd "$here/../.."
cargo +nightly fuzz build --fuzz-dir "$here" -O
status=0
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  mkdir -p "$here/artifacts/$t"
  if ! cargo +nightly fuzz run --fuzz-dir "$here" -O "$t" "$here/corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$here/artifacts/$t/"; then
    status=1
    mkdir -p "$here/regressions/$t"
    for a in "$here/artifacts/$t"/*; do
      [ -f "$a" ] && cp "$a" "$here/regressions/$t/" && echo "crash kept as regressions/$t/$(basename "$a")"
    done
  fi
done
exit $status
