#!/usr/bin/env bash
# Marquee's Postgres driver against pgbench, on one throw-away cluster.
#
#   loadtest/bench-postgres.sh [CONNECTIONS] [SECONDS]     (defaults: 8 connections, 10 s)
#
# Starts a throw-away PostgreSQL 15 cluster (deploy/lib/pg-cluster, fsync off) on a free port,
# fills it with `pgbench -i -s 10`, then runs, one after the other, on the same data:
#   pgbench -S -c N -j 2 -T SECONDS -M prepared     (the C tool, prepared statements)
#   pgbench -S -c N -j 2 -T SECONDS -M simple       (the C tool, simple protocol)
#   pg-bench --connections N --duration SECONDS      (ours: the pool, pipeline mode, release build)
# and prints the rates and ours as a ratio of each. The cluster is removed at the end.
# SKIP_BUILD=1 uses the existing .build/release/pg-bench.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB=$ROOT/deploy/lib
export MARQUEE_LOG_TAG=bench-postgres
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/common
source "$LIB/common"

CONNECTIONS=${1:-8}
SECONDS_PER_RUN=${2:-10}
is_number "$CONNECTIONS" || die "CONNECTIONS must be a number"
is_number "$SECONDS_PER_RUN" || die "SECONDS must be a number"
PGBENCH=$(command -v pgbench || true)
[[ -n "$PGBENCH" ]] || PGBENCH=/usr/lib/postgresql/15/bin/pgbench
[[ -x "$PGBENCH" ]] || die "pgbench not found: apt-get install postgresql-contrib-15 (or postgresql-15)"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    info "building pg-bench (release)"
    (cd "$ROOT" && swift build -c release --static-swift-stdlib --product pg-bench >/dev/null)
fi
BENCH=$ROOT/.build/release/pg-bench
[[ -x "$BENCH" ]] || die "$BENCH missing: build it with swift build -c release --static-swift-stdlib --product pg-bench"

CLUSTER=$(mktemp -d /tmp/marquee-bench-pg.XXXXXX)
cleanup() {
    "$LIB/pg-cluster" stop "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$CLUSTER"
}
trap cleanup EXIT

PORT=
for _ in $(seq 20); do
    candidate=$((20000 + RANDOM % 40000))
    if ! port_is_listening "$candidate"; then PORT=$candidate; break; fi
done
[[ -n "$PORT" ]] || die "no free port found"
"$LIB/pg-cluster" init "$CLUSTER" "$PORT" --throwaway >/dev/null
"$LIB/pg-cluster" start "$CLUSTER" "$PORT" --throwaway >/dev/null
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
info "cluster on port $PORT; pgbench -i -s 10"
"$PGBENCH" -i -s 10 -q "$URL" >/dev/null 2>&1

# tps_of OUTPUT: the rate from pgbench's or pg-bench's "tps = N" line.
tps_of() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$1" | head -1 | cut -d. -f1; }

info "pgbench -S -c $CONNECTIONS -j 2 -T $SECONDS_PER_RUN -M prepared"
prepared=$(tps_of "$("$PGBENCH" -S -c "$CONNECTIONS" -j 2 -T "$SECONDS_PER_RUN" -M prepared "$URL" 2>/dev/null)")
info "pgbench -S -c $CONNECTIONS -j 2 -T $SECONDS_PER_RUN -M simple"
simple=$(tps_of "$("$PGBENCH" -S -c "$CONNECTIONS" -j 2 -T "$SECONDS_PER_RUN" -M simple "$URL" 2>/dev/null)")
info "pg-bench --connections $CONNECTIONS --duration ${SECONDS_PER_RUN}s"
ours_output=$("$BENCH" --url "$URL" --connections "$CONNECTIONS" --duration "${SECONDS_PER_RUN}s")
echo "$ours_output" | head -1
ours=$(tps_of "$ours_output")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
printf '%-42s %10s\n' "client ($CONNECTIONS connections, ${SECONDS_PER_RUN} s)" "queries/s"
printf '%-42s %10s\n' "pgbench -S -M prepared" "$prepared"
printf '%-42s %10s\n' "pgbench -S -M simple" "$simple"
printf '%-42s %10s\n' "pg-bench (Marquee pool, pipeline mode)" "$ours"
echo "ratio vs prepared: $(ratio "$ours" "$prepared")   ratio vs simple: $(ratio "$ours" "$simple")"
