#!/bin/sh
# Issue 15's comparison: push → revoked at a sustained 4 pushes a second for 5 minutes (1,200
# pushes), against one `quench serve` on SQLite and 1, 2 and 4 `quench serve` processes on one
# PostgreSQL, in one run (same machine, same load). Each line of output is one configuration's
# `push_to_revoke` summary: throughput ("deliveries took …, all revoked after …") and the
# webhook-sent → issuer-revoked p50/p99. Release build; takes about half an hour.
#
#   benches/push_to_revoke_scaling.sh [PUSHES] [RATE]
#
# PostgreSQL: QUENCH_TEST_PG_URL, else postgres://postgres@127.0.0.1:5432/test.
set -eu
pushes=${1:-1200}
rate=${2:-4}
cd "$(dirname "$0")/.."
for config in "servers=1" "servers=1 store=postgres" "servers=2 store=postgres" "servers=4 store=postgres"; do
    echo "== $config"
    # shellcheck disable=SC2086 # the configuration is several arguments
    cargo bench --bench push_to_revoke -- "$pushes" "rate=$rate" $config
done
