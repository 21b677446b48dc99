#!/usr/bin/env bash
# Honesty check: loadtest must not be the bottleneck. On the same endpoint (bench-server's
# movie-shaped GET /api/movies/1), loadtest's closed-model throughput is compared with wrk's,
# alternating, in one run. Goal: loadtest >= 0.8 of wrk.
# Usage: loadtest/bench-loadtest.sh [seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
duration=${1:-10}
connections=${2:-64}
rounds=${3:-3}
require_tools wrk
swift build -c release --static-swift-stdlib --product bench-server >/dev/null
swift build -c release --static-swift-stdlib --product loadtest >/dev/null

bench_workspace loadtest
port=$(free_port)
.build/release/bench-server --port "$port" --loops 2 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

machine_line; echo "server: bench-server, 2 loops"
echo "each round: wrk -t2 -c$connections -d${duration}s, then loadtest run --scenario reads --movies 1 --connections $connections --duration ${duration}s"
wrk_total=0; ours_total=0
for round in $(seq 1 "$rounds"); do
    wrk_rps=$(wrk -t2 -c"$connections" -d"${duration}s" "http://127.0.0.1:$port/api/movies/1" | awk '/Requests\/sec/ {print $2}')
    .build/release/loadtest run --url "http://127.0.0.1:$port" --scenario reads --movies 1 --zipf 0 \
        --connections "$connections" --loops 2 --duration "${duration}s" --quiet --json "$work/run.json" >/dev/null 2>&1
    ours_rps=$(jq '.total.throughput' "$work/run.json")
    printf 'round %d: wrk %10.0f req/s | loadtest %10.0f req/s | ratio %.2f\n' "$round" "$wrk_rps" "$ours_rps" \
        "$(echo "$ours_rps / $wrk_rps" | bc -l)"
    wrk_total=$(echo "$wrk_total + $wrk_rps" | bc -l)
    ours_total=$(echo "$ours_total + $ours_rps" | bc -l)
done
printf 'mean ratio loadtest/wrk: %.2f\n' "$(echo "$ours_total / $wrk_total" | bc -l)"
