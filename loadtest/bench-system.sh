#!/usr/bin/env bash
# System benchmark (issue: loadtest): the running system of `deploy/dev up`, seeded with
# 10,000 movies, 200 users and 20 watchlist entries each, under loadtest's scenarios through
# our gateway; then the read scenario through nginx (2 workers, keep-alive upstream pools,
# the seed's routes) in front of the same services, as a ratio.
#
# Usage: RATE_LIMIT_RPS=0 deploy/dev up; loadtest/bench-system.sh [seconds] [connections]
# (the gateway's per-client rate limit must be off: every request comes from 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
duration=${1:-15}
connections=${2:-64}
system_under_test bench-system

bench_workspace system

machine_line
"$loadtest" seed --url "$gateway" --movies 10000 --users 200 --per-user 20 2>&1 | tail -n 4

common=(--movies 10000 --users 200 --connections "$connections" --duration "${duration}s" --warmup 5s --quiet
    --metrics-url http://127.0.0.1:8002/metrics --redis-url redis://127.0.0.1:6379)
run() { # NAME URL ARGS...: one scenario, its summary table, JSON kept in $work/NAME.json
    local name=$1 url=$2
    shift 2
    printf '\n### %s\n$ loadtest run --url %s %s\n' "$name" "$url" "$*"
    "$loadtest" run --url "$url" "${common[@]}" --json "$work/$name.json" "$@" 2>&1 | sed -n '/^endpoint/,$p'
}
run reads "$gateway" --scenario reads --zipf 1.0
run watchlist "$gateway" --scenario watchlist --export-share 0.2
run batch "$gateway" --scenario batch --batch-size 50
run writes "$gateway" --scenario writes
run mixed "$gateway" --scenario mixed

# nginx in front of the same services, configured as well as it can be.
port=$(free_port)
start_nginx <<CONF
    upstream users { server 127.0.0.1:8001; keepalive 128; }
    upstream movies { server 127.0.0.1:8002; keepalive 128; }
    upstream watchlist { server 127.0.0.1:8003; keepalive 128; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen 127.0.0.1:$port reuseport;
        location /api/users { proxy_pass http://users; }
        location /api/auth { proxy_pass http://users; }
        location /api/movies { proxy_pass http://movies; }
        location /api/watchlist { proxy_pass http://watchlist; }
    }
CONF
sleep 1
run reads-through-nginx "http://127.0.0.1:$port" --scenario reads --zipf 1.0
run reads-again-gateway "$gateway" --scenario reads --zipf 1.0
ours=$(jq '.total.throughput' "$work/reads-again-gateway.json")
theirs=$(jq '.total.throughput' "$work/reads-through-nginx.json")
printf '\nreads: gateway %.0f req/s, nginx %.0f req/s, ratio %.2f; hit rate (X-Cache) %.4f\n' "$ours" "$theirs" \
    "$(echo "$ours / $theirs" | bc -l)" "$(jq '.hitRates.xCache.hitRate' "$work/reads.json")"
