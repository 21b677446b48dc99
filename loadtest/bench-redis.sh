#!/usr/bin/env bash
# Redis GET throughput: our driver (redis-bench, release build) against the C tool
# (redis-benchmark -t get) at the same concurrency, on a throw-away Redis.
#
#   loadtest/bench-redis.sh [CONCURRENCY] [DURATION_SECONDS]      defaults: 50 10
#
# CONCURRENCY commands in flight: redis-benchmark -c N (N connections, one command each) vs
# redis-bench with N tasks over 2 loops (one connection per loop, N/2 pipelined on each).
# redis-benchmark -P 16 (16 pipelined per connection) is printed too, for reference only, and
# redis-benchmark -c LOOPS -P CONCURRENCY/LOOPS: the very shape of redis-bench's traffic.
# Environment: LOOPS (2), SKIP_BUILD=1 to use an existing .build/release/redis-bench.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=loadtest/bench-lib.sh
source "$root/loadtest/bench-lib.sh"
concurrency=${1:-50}
duration=${2:-10}
loops=${LOOPS:-2}
value_size=100

require_tools redis-benchmark

if [[ -z "${SKIP_BUILD-}" ]]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --product redis-bench 2>&1 | grep -v "prohibited flag" | tail -n 3)
fi
bench="$root/.build/release/redis-bench"
[[ -x "$bench" ]] || { echo "bench-redis: $bench missing: build it (swift build -c release --static-swift-stdlib --product redis-bench)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-redis.XXXXXX")
port=$(free_port)
cleanup() {
    "$root/deploy/lib/redis-server" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"$root/deploy/lib/redis-server" start "$dir" "$port" >/dev/null

# Requests for about DURATION seconds of redis-benchmark (measured below: a first short run).
probe=$(redis-benchmark -h 127.0.0.1 -p "$port" -t get -c "$concurrency" -n 50000 -d "$value_size" -q 2>/dev/null |
    tr '\r' '\n' | awk '/^GET:/ {print int($2)}' | tail -n 1)
requests=$((probe * duration))
((requests > 0)) || requests=1000000

echo "== machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== redis-server $(redis-server --version | awk '{print $3}'), value $value_size bytes, concurrency $concurrency"

echo "== redis-benchmark -t get -c $concurrency -n $requests -d $value_size -q"
c_line=$(redis-benchmark -h 127.0.0.1 -p "$port" -t get -c "$concurrency" -n "$requests" -d "$value_size" -q 2>/dev/null |
    tr '\r' '\n' | grep '^GET:' | tail -n 1)
echo "$c_line"
c_rate=$(awk '{print $2}' <<<"$c_line")

echo "== redis-benchmark -t get -c $concurrency -n $((requests * 4)) -d $value_size -P 16 -q   (pipelined, reference only)"
redis-benchmark -h 127.0.0.1 -p "$port" -t get -c "$concurrency" -n $((requests * 4)) -d "$value_size" -P 16 -q 2>/dev/null |
    tr '\r' '\n' | grep '^GET:' | tail -n 1

# Our shape exactly: LOOPS connections, CONCURRENCY/LOOPS commands pipelined on each.
per_connection=$(((concurrency + loops - 1) / loops))
echo "== redis-benchmark -t get -c $loops -P $per_connection -n $((requests * 4)) -d $value_size -q   (same shape as redis-bench)"
shape_line=$(redis-benchmark -h 127.0.0.1 -p "$port" -t get -c "$loops" -P "$per_connection" -n $((requests * 4)) \
    -d "$value_size" -q 2>/dev/null | tr '\r' '\n' | grep '^GET:' | tail -n 1)
echo "$shape_line"
shape_rate=$(awk '{print $2}' <<<"$shape_line")

echo "== redis-bench --url redis://127.0.0.1:$port --concurrency $concurrency --loops $loops --duration ${duration}s"
ours=$("$bench" --url "redis://127.0.0.1:$port" --concurrency "$concurrency" --loops "$loops" \
    --duration "${duration}s" --value-size "$value_size")
echo "$ours"
our_rate=$(awk '/^GET:/ {print $2}' <<<"$ours")

awk -v ours="$our_rate" -v c="$c_rate" -v shape="$shape_rate" -v cc="$concurrency" -v l="$loops" -v p="$per_connection" 'BEGIN {
    printf "== ratio redis-bench / redis-benchmark -c %d: %.2f (goal >= 0.80)\n", cc, ours / c
    printf "== ratio redis-bench / redis-benchmark -c %d -P %d (same shape): %.2f\n", l, p, ours / shape
}'
