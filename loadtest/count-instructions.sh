#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a deterministic measure for
# hot-path changes too small for wrk to see through this machine's noise (runs of the same
# binary differ by 5-10% in req/s; instruction counts repeat to within a few instructions).
# It complements the wrk benchmarks, it does not replace them: it counts user-space
# instructions only (no kernel time, cache misses or branch mispredictions).
#
# Usage: loadtest/count-instructions.sh [gateway|gateway-tls|bench-server|movie-read] [requests]
#   gateway, gateway-tls  GET /api/movies/1 through the gateway to bench-server (HTTP or HTTPS)
#   bench-server          GET /plaintext
#   movie-read            the movie service's cached GET /api/movies/{id} (a Redis hit), on a
#                         throw-away PostgreSQL and Redis, access log on as deployed
#   BINARY=path   count another build of the same executable (an A/B against main, say)
#   PROFILE=path  keep the callgrind profile there (for callgrind_annotate --inclusive=yes, say)
# Serves `requests` keep-alive requests (default 3000) from one client over 8 connections,
# one at a time, after 500 not counted; prints instructions per request and the functions
# that execute most of them.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-gateway}
requests=${2:-3000}
for tool in valgrind callgrind_control callgrind_annotate objcopy python3 curl; do
    command -v "$tool" >/dev/null || {
        echo "count-instructions: '$tool' is missing (apt-get install valgrind binutils python3 curl)" >&2
        exit 1
    }
done
case "$mode" in
gateway | gateway-tls) product=gateway ;;
bench-server) product=bench-server ;;
movie-read) product=movie-service ;;
*) echo "count-instructions: unknown mode '$mode' (gateway, gateway-tls, bench-server, movie-read)" >&2; exit 2 ;;
esac
[[ $product == movie-service ]] || swift build -c release --static-swift-stdlib --product bench-server >/dev/null
[[ $product == bench-server ]] || swift build -c release --static-swift-stdlib --product "$product" >/dev/null
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
bench_workspace instructions
LIB=deploy/lib
if [[ $product == movie-service ]]; then
    chmod 0755 "$work"  # the postgres user (as root, pg-cluster runs the server as postgres) reads it
    stop_stores() {
        "$LIB/pg-cluster" stop "$work/pg" >/dev/null 2>&1 || true
        "$LIB/redis-server" stop "$work/redis" >/dev/null 2>&1 || true
        bench_cleanup
    }
    trap stop_stores EXIT
fi
# Valgrind 3.19 (Debian 12) cannot read the DWARF 5 debug info Swift emits: count a copy
# without it (the symbol table stays, so functions keep their names).
objcopy --strip-debug "${BINARY:-.build/release/$product}" "$work/$product"

# The client opens its 8 connections and warms up on them, says "ready", waits for a line on
# stdin, then sends the counted requests on the same connections: so no TLS handshake (some
# 2.7 million instructions each) falls in the counted window.
cat >"$work/client.py" <<'PY'
import http.client, ssl, sys
port, warmup, count, scheme, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def connect():
    if scheme == "https":
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ssl._create_unverified_context())
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
connections = [connect() for _ in range(8)]
def send(total, counted):
    for index in range(total):
        connection = connections[index % len(connections)]
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"request {index}: status {response.status}")
        if counted and response.getheader("X-Cache") == "MISS":
            sys.exit(f"request {index}: a cache miss among the counted requests")
send(warmup, False)
print("ready", flush=True)
sys.stdin.readline()
send(count, True)
PY

# under_callgrind [NAME=VALUE...] BINARY [ARGUMENT...]: starts BINARY under callgrind, with
# those environment variables (env goes first: valgrind does not follow an exec).
under_callgrind() {
    local assignments=()
    while [[ $1 == *=* ]]; do assignments+=("$1"); shift; done
    env "${assignments[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" "$@" \
        >"$work/target.log" 2>&1 &
    target_pid=$!
    pids+=("$target_pid")
}
port=$(free_port)
scheme=http
if [[ $product == gateway ]]; then
    upstream_port=$(free_port)
    .build/release/bench-server --port "$upstream_port" --loops 2 >"$work/upstream.log" 2>&1 &
    pids+=($!)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    tls_port=$(free_port)
    under_callgrind PORT="$port" TLS_PORT="$tls_port" TLS_CERT="$work/cert.pem" TLS_KEY="$work/key.pem" LOOPS=2 \
        MOVIE_SERVICE_URL="http://127.0.0.1:$upstream_port" ACCESS_LOG=false RATE_LIMIT_RPS=0 HEALTH_CHECK_INTERVAL=0 \
        "$work/$product"
    ready_url="http://127.0.0.1:$port/health"
    path=/api/movies/1
    if [[ $mode == gateway-tls ]]; then port=$tls_port; scheme=https; fi
elif [[ $product == movie-service ]]; then
    pg_port=$(free_port)
    "$LIB/pg-cluster" init "$work/pg" "$pg_port" --throwaway >/dev/null
    "$LIB/pg-cluster" start "$work/pg" "$pg_port" --throwaway >/dev/null
    "$LIB/pg-cluster" create-service-dbs "$work/pg" "$pg_port" >/dev/null
    redis_port=$(free_port)
    "$LIB/redis-server" start "$work/redis" "$redis_port" >/dev/null
    # HOST stays unset (its default is 127.0.0.1): valgrind names its control pipes after
    # $HOST, and callgrind_control, which does not see it, would not find them.
    under_callgrind PORT="$port" LOOPS=2 AUTH_REQUIRED=false \
        DATABASE_URL="postgresql://movie:movie_pass@127.0.0.1:$pg_port/moviedb" REDIS_URL="redis://127.0.0.1:$redis_port" \
        "$work/$product"
    ready_url="http://127.0.0.1:$port/health"
else
    under_callgrind "$work/$product" --port "$port" --loops 2
    ready_url="http://127.0.0.1:$port/plaintext"
    path=/plaintext
fi
for _ in $(seq 1 150); do
    curl -fs -o /dev/null "$ready_url" && break
    sleep 0.2
done
if [[ $product == movie-service ]]; then
    # One movie to read; the warm-up's first read fills the cache, the counted ones hit it.
    path=$(curl -fsS -o /dev/null -w '%header{location}' -H 'Content-Type: application/json' \
        -d '{"title": "Counted", "director": "Someone", "genre": "Drama", "year": 2001}' \
        "http://127.0.0.1:$port/api/movies")
    [[ $path == /api/movies/* ]] || { echo "count-instructions: could not create the movie to read" >&2; exit 1; }
fi
coproc client { python3 "$work/client.py" "$port" 500 "$requests" "$scheme" "$path"; }
read -r ready <&"${client[0]}"
[[ $ready == ready ]] || { echo "count-instructions: the client did not warm up" >&2; exit 1; }
callgrind_control --zero "$target_pid" >/dev/null 2>&1
echo go >&"${client[1]}"
# shellcheck disable=SC2154  # client_PID is set by coproc
wait "$client_PID"
callgrind_control --dump "$target_pid" >/dev/null 2>&1
profile=$(ls "$work"/callgrind.out.*.1)
if [[ -n ${PROFILE:-} ]]; then cp "$profile" "$PROFILE"; fi
total=$(callgrind_annotate "$profile" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$mode ($(basename "${BINARY:-.build/release/$product}")): $((total / requests)) instructions per request ($requests requests)"
echo "most executed (instructions per request, own code of each function):"
callgrind_annotate --inclusive=no --threshold=100 --auto=no "$profile" | awk -v n="$requests" '
    /PROGRAM TOTALS/ {started = 1; next}
    started && shown < 15 && /^ *[0-9,]+ \(/ && !/clone|start_thread|EventLoopGroup/ {
        count = $1; gsub(",", "", count); name = $0; sub(/^.*%\)  +/, "", name); sub(/ \[.*$/, "", name)
        printf "%8d  %s\n", count / n, substr(name, 1, 110); shown++
    }'
