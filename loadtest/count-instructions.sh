#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a deterministic measure for
# hot-path changes too small for wrk to see through this machine's noise (runs of the same
# binary differ by 5-10% in req/s; instruction counts repeat to within a few instructions).
# It complements the wrk benchmarks, it does not replace them: it counts user-space
# instructions only (no kernel time, cache misses or branch mispredictions).
#
# Usage: loadtest/count-instructions.sh [MODE] [requests]
#   gateway, gateway-tls  GET /api/movies/1 through the gateway to bench-server (HTTP or HTTPS)
#   gateway-h2            the same over one h2c connection, 10 streams in flight (Python's h2,
#                         Debian's python3-h2; how many responses share a write depends on timing,
#                         so counts repeat less closely than over HTTP/1.1)
#   bench-server          GET /plaintext
#   movie-read            the movie service's cached GET /api/movies/{id} (a Redis hit), on a
#                         throw-away PostgreSQL and Redis, access log on as deployed
#   movie-batch           the movie service's POST /api/movies/batch of 50 cached ids (one
#                         MGET that hits them all), same stores
#   watchlist-read        the watchlist service's GET /api/watchlist/user/{id} of a 20-entry
#                         list (its query and its batch call to a movie service that runs
#                         beside it, not counted), same stores
#   BINARY=path   count another build of the same executable (an A/B against main, say)
#   PROFILE=path  keep the callgrind profile there (for callgrind_annotate --inclusive=yes, say)
# Serves `requests` keep-alive requests (default 3000) from one client over 8 connections,
# one at a time (gateway-h2: one connection, 10 at a time), after 500 not counted; prints
# instructions per request and the functions that execute most of them.
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
gateway | gateway-tls | gateway-h2) product=gateway ;;
bench-server) product=bench-server ;;
movie-read | movie-batch) product=movie-service ;;
watchlist-read) product=watchlist-service ;;
*)
    echo "count-instructions: unknown mode '$mode' (gateway, gateway-tls, gateway-h2, bench-server, movie-read, movie-batch, watchlist-read)" >&2
    exit 2
    ;;
esac
# What runs beside the counted process: bench-server behind the gateway, the movie service
# behind the watchlist service.
case "$product" in
gateway) builds=(bench-server gateway) ;;
watchlist-service) builds=(movie-service watchlist-service) ;;
*) builds=("$product") ;;
esac
for build in "${builds[@]}"; do swift build -c release --static-swift-stdlib --product "$build" >/dev/null; done
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
bench_workspace instructions
LIB=deploy/lib
uses_stores=false
[[ $product == movie-service || $product == watchlist-service ]] && uses_stores=true
if $uses_stores; then
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
body = sys.argv[6].encode() if len(sys.argv) > 6 else None  # a POST's JSON body, else a GET
def connect():
    if scheme == "https":
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ssl._create_unverified_context())
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
connections = [connect() for _ in range(8)]
def send(total, counted):
    for index in range(total):
        connection = connections[index % len(connections)]
        if body is None:
            connection.request("GET", path)
        else:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
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
cat >"$work/client_h2.py" <<'PY'
import socket, sys
import h2.config, h2.connection, h2.events
port, warmup, count, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[5]
in_flight = 10
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
head = [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1")]
def send(total):
    sent, done, open_streams = 0, 0, set()
    while done < total:
        while sent < total and len(open_streams) < in_flight:
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, head, end_stream=True)
            open_streams.add(stream)
            sent += 1
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)
        if not data:
            sys.exit("the gateway closed the connection")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and dict(event.headers).get(b":status") != b"200":
                sys.exit(f"stream {event.stream_id}: {event.headers}")
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                open_streams.discard(event.stream_id)
                done += 1
            elif isinstance(event, h2.events.StreamReset):
                sys.exit(f"stream {event.stream_id} reset")
send(warmup)
print("ready", flush=True)
sys.stdin.readline()
send(count)
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
elif $uses_stores; then
    pg_port=$(free_port)
    "$LIB/pg-cluster" init "$work/pg" "$pg_port" --throwaway >/dev/null
    "$LIB/pg-cluster" start "$work/pg" "$pg_port" --throwaway >/dev/null
    "$LIB/pg-cluster" create-service-dbs "$work/pg" "$pg_port" >/dev/null
    redis_port=$(free_port)
    "$LIB/redis-server" start "$work/redis" "$redis_port" >/dev/null
    movie_env=(AUTH_REQUIRED=false DATABASE_URL="postgresql://movie:movie_pass@127.0.0.1:$pg_port/moviedb"
        REDIS_URL="redis://127.0.0.1:$redis_port")
    # HOST stays unset (its default is 127.0.0.1): valgrind names its control pipes after
    # $HOST, and callgrind_control, which does not see it, would not find them.
    if [[ $product == movie-service ]]; then
        under_callgrind PORT="$port" LOOPS=2 "${movie_env[@]}" "$work/$product"
        movie_port=$port
    else
        movie_port=$(free_port)
        env PORT="$movie_port" LOOPS=2 "${movie_env[@]}" .build/release/movie-service >"$work/movie.log" 2>&1 &
        pids+=($!)
        # The list calls no user service (USER_SERVICE_URL points at a port nobody serves).
        under_callgrind PORT="$port" LOOPS=2 AUTH_REQUIRED=false \
            DATABASE_URL="postgresql://watchlist:watchlist_pass@127.0.0.1:$pg_port/watchlistdb" \
            MOVIE_SERVICE_URL="http://127.0.0.1:$movie_port" USER_SERVICE_URL="http://127.0.0.1:$(free_port)" \
            "$work/$product"
        for _ in $(seq 1 150); do
            curl -fs -o /dev/null "http://127.0.0.1:$movie_port/health" && break
            sleep 0.2
        done
    fi
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
# create_movies N: creates N movies at the movie service, prints their ids (comma-separated).
create_movies() {
    local index location ids=()
    for index in $(seq 1 "$1"); do
        location=$(curl -fsS -o /dev/null -w '%header{location}' -H 'Content-Type: application/json' \
            -d "{\"title\": \"Counted $index\", \"director\": \"Someone\", \"genre\": \"Drama\", \"year\": 2001, \"rating\": 7.5}" \
            "http://127.0.0.1:$movie_port/api/movies")
        [[ $location == /api/movies/* ]] || { echo "count-instructions: could not create movie $index" >&2; return 1; }
        ids+=("${location#/api/movies/}")
    done
    local IFS=,
    echo "${ids[*]}"
}
body=()
case "$mode" in
movie-read)
    # One movie to read; the warm-up's first read fills the cache, the counted ones hit it.
    path=/api/movies/$(create_movies 1)
    ;;
movie-batch)
    # 50 movies, all in every batch; the warm-up's first batch fills the cache.
    path=/api/movies/batch
    body=("{\"movie_ids\": [$(create_movies 50)]}")
    ;;
watchlist-read)
    # One user's list of 20 movies, written straight into the watchlist database (adding
    # through the API would need a user service; the list never calls one).
    movie_ids=$(create_movies 20)
    PGPASSWORD=watchlist_pass psql -X -q -h 127.0.0.1 -p "$pg_port" -U watchlist -d watchlistdb -v ON_ERROR_STOP=1 \
        -c "INSERT INTO watchlist (user_id, movie_id) SELECT 1, unnest('{$movie_ids}'::int8[])" >/dev/null
    path=/api/watchlist/user/1
    count=$(curl -fsS "http://127.0.0.1:$port$path" | python3 -c 'import json, sys; print(sum(1 for e in json.load(sys.stdin) if e["movie"]))')
    [[ $count == 20 ]] || { echo "count-instructions: the list has $count entries with a movie, not 20" >&2; exit 1; }
    ;;
esac
client_script=$work/client.py
python=python3
# Debian's python3-h2 is seen by the system Python (not by a pyenv one first on PATH).
if [[ $mode == gateway-h2 ]]; then client_script=$work/client_h2.py; python=/usr/bin/python3; fi
coproc client { "$python" "$client_script" "$port" 500 "$requests" "$scheme" "$path" "${body[@]}"; }
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
