#!/usr/bin/env bash
# The whole system over HTTP/2 (issue 23): the four release executables, a throw-away
# PostgreSQL and Redis on free ports (tests/lib/stack), seeded with 10,000 movies and 200
# users; then `loadtest run --scenario reads` through our gateway over HTTP/1.1 (one connection
# per virtual user) and over HTTP/2 (`--http2`: the virtual users are streams of one
# connection per loop), and over HTTP/2 through nginx (`http2`, h2c) in front of the same
# services, in one run, each with the hit rates from the responses, /metrics and Redis.
# Usage: loadtest/bench-http2-system.sh [seconds] [virtual-users] [loops]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LIB=$ROOT/deploy/lib
export MARQUEE_LOG_TAG=bench-http2-system
duration=${1:-15}
users=${2:-64}
loops=${3:-1}

# shellcheck source=deploy/lib/common
source "$LIB/common"
# shellcheck source=deploy/lib/packages
source "$LIB/packages"
# shellcheck source=tests/lib/stack
source "$ROOT/tests/lib/stack"
# Every request comes from 127.0.0.1: the per-client rate limit would measure itself.
STACK_ENV=(RATE_LIMIT_RPS=0 ACCESS_LOG=false)
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
require_tools nginx curl jq openssl

build_release
nginx_pid=""
cleanup() {
    [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null
    stop_stack
}
trap cleanup EXIT
start_stack

# nginx with `http2` on a plain listener (h2c with prior knowledge) in front of the services.
nginx_dir="$WORK/nginx"
nginx_port=$(free_port)
mkdir -p "$nginx_dir"
cat >"$nginx_dir/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream users { server 127.0.0.1:$USER_PORT; keepalive 128; }
    upstream movies { server 127.0.0.1:$MOVIE_PORT; keepalive 128; }
    upstream watchlist { server 127.0.0.1:$WATCHLIST_PORT; keepalive 128; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen 127.0.0.1:$nginx_port http2 reuseport;
        location /api/users { proxy_pass http://users; }
        location /api/movies { proxy_pass http://movies; }
        location /api/watchlist { proxy_pass http://watchlist; }
    }
}
CONF
nginx -c "$nginx_dir/nginx.conf" -p "$nginx_dir" &
nginx_pid=$!
wait_port "$nginx_port"

machine_line; nginx -v 2>&1
# A few seeding failures (a busy machine's timeouts) leave a smaller data set, not a failed run.
"$BIN/loadtest" seed --url "$BASE" --movies 10000 --users 200 --per-user 20 2>&1 | tail -n 2 || true
common=(--scenario reads --zipf 1.0 --movies 10000 --users 200 --connections "$users" --loops "$loops"
    --duration "${duration}s" --warmup 5s --quiet
    --metrics-url "http://127.0.0.1:$MOVIE_PORT/metrics" --redis-url "redis://127.0.0.1:$REDIS_PORT")
run() { # NAME URL ARGS...: one run, its summary, JSON kept in $WORK/NAME.json
    local name=$1 url=$2
    shift 2
    printf '\n### %s\n$ loadtest run --url %s %s %s\n' "$name" "$url" "${common[*]}" "$*"
    "$BIN/loadtest" run --url "$url" "${common[@]}" --json "$WORK/$name.json" "$@" 2>&1 | sed -n '/^reads/,$p' || true
}
run gateway-http1.1 "$BASE"
run gateway-http2 "$BASE" --http2
run nginx-http2 "http://127.0.0.1:$nginx_port" --http2
run gateway-http2-again "$BASE" --http2

printf '\n%-20s %10s %9s %9s %8s %8s\n' run "req/s" "p99 ms" "errors" "hit%" "conns"
for name in gateway-http1.1 gateway-http2 nginx-http2 gateway-http2-again; do
    jq -r --arg name "$name" '[$name, (.total.throughput | floor), .total.latency.p99, .total.errors,
        ((.hitRates.xCache.hitRate // 0) * 1000 | floor / 10), (.settings.http2Connections // .settings.connections)]
        | @tsv' "$WORK/$name.json" | awk -F'\t' '{printf "%-20s %10d %9.2f %9d %8.1f %8d\n", $1, $2, $3, $4, $5, $6}'
done
