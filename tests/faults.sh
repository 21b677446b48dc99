#!/usr/bin/env bash
# Fault suite: deploy/dev's stack (release build) on a data folder and free ports of its own,
# with INSTANCES=2 (two instances of each service behind the gateway), and a write load
# (tests/fault-load.py: create a movie, add it to a watchlist; plus cached reads) through
# the gateway while, one phase at a time:
#   PostgreSQL kill -9 and restart   503 naming the database, writes back within 1 s of it accepting
#   PostgreSQL SIGSTOP 5 s           every request answered (201, or 503/504) within 3 s;
#                                    a service's SIGTERM drain ends within its bound meanwhile
#   Redis kill -9 and restart        nothing fails
#   Redis SIGSTOP 5 s                nothing fails, health says "cache": "down", reads from
#                                    PostgreSQL at >= 25% of the no-cache throughput, recovery
#   each service kill -9             one instance of two: nothing fails (requests in flight on the
#                                    killed instance go to the other: reads and PUT/DELETE as
#                                    idempotent, the creating POSTs by their Idempotency-Key)
#   each service SIGSTOP 5 s         nothing fails but 503/504 naming a service or the database,
#                                    nothing waits past the stop + 2 s
#   a 10,000-connection burst        every client answered 2xx, or 503 past the queue's bound;
#                                    no 502 (loadtest/burst.py)
#   deploy/dev restart of each service (one instance at a time) under load: nothing fails
# The bounds are generous (a loaded 2-core machine must not fail them); the figures each
# phase prints (recovery time, slowest answer, throughput ratio) go to loadtest/RESULTS.md
# beside the issue's goals.
# Afterwards every acknowledged write is read back through the API (paging through the lists).
# A check that fails prints why and the suite goes on; it exits 1 if any failed. Bounded: each
# phase stops by itself, the whole run takes a few minutes.
#
# Usage: tests/faults.sh     (SKIP_BUILD=1 to use an existing .build/release)
# shellcheck disable=SC2015
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=$ROOT/deploy/lib
export MARQUEE_LOG_TAG=faults
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/common
source "$LIB/common"
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/packages
source "$LIB/packages"

command -v python3 >/dev/null || die "python3 is needed (Debian: python3)"
command -v wrk >/dev/null || die "wrk is needed (Debian: wrk)"
BIN=${MARQUEE_BIN_DIR:-$ROOT/.build/release}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
LOAD=(python3 "$ROOT/tests/fault-load.py")
if [[ -z "${SKIP_BUILD-}" ]]; then
    info "building the release executables"
    for product in gateway user-service movie-service watchlist-service; do
        (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") >/dev/null
    done
fi

# The burst holds 10,000 connections in the client and in the gateway (which inherits this).
HARD=$(ulimit -Hn)
if [[ "$HARD" == unlimited ]] || ((HARD >= 20000)); then ulimit -n 20000; else ulimit -n "$HARD"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/marquee-faults.XXXXXX")
chmod 0755 "$WORK"
DATA=$WORK/data
declare -a STOPPED_PIDS=()
PASSED=0
FAILED=0
RESULTS=()

# base_port: a free port whose instance-2 port (+10, deploy/dev's step) is free too.
base_port() {
    local port i
    for ((i = 0; i < 50; i++)); do
        port=$(free_port)
        if ((port + 10 <= 65535)) && ! port_is_listening $((port + 10)); then
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "no free pair of ports (PORT, PORT+10)"
}

# The stack is deploy/dev's, on a data folder and ports of its own, two instances of each
# service (instance 1 is deploy/dev's NAME, instance 2 NAME-2, on the service's port + 10).
# Its PostgreSQL is a development cluster: durable commits (a --throwaway cluster's
# synchronous_commit=off acknowledges commits that a kill -9 then loses, and the suite counts
# acknowledged writes).
GATEWAY_PORT=$(free_port)
declare -A PORT=()
DEV_ENV=(
    "MARQUEE_DATA_DIR=$DATA" "MARQUEE_BIN_DIR=$BIN" "SKIP_BUILD=1" "SKIP_PACKAGES=1" "INSTANCES=2"
    "GATEWAY_PORT=$GATEWAY_PORT" "GATEWAY_TLS_PORT=$(free_port)" "PG_PORT=$(free_port)" "REDIS_PORT=$(free_port)"
    "RATE_LIMIT_RPS=0" "MAX_CONNECTIONS=15000" "ACCESS_LOG=false" "HEALTH_CHECK_INTERVAL=1s" "LOG_LEVEL=warning"
)
for service in user-service movie-service watchlist-service; do
    base=$(base_port)
    PORT[$service-1]=$base
    PORT[$service-2]=$((base + 10))
    variable=${service%-service}
    DEV_ENV+=("${variable^^}_SERVICE_PORT=$base")
done
PG_PORT=$(printf '%s\n' "${DEV_ENV[@]}" | sed -n 's/^PG_PORT=//p')
REDIS_PORT=$(printf '%s\n' "${DEV_ENV[@]}" | sed -n 's/^REDIS_PORT=//p')
INSTANCES="1 2"

# dev ARGS...: deploy/dev on the suite's stack (its output in the work folder's dev.log).
dev() {
    printf '\n$ deploy/dev %s\n' "$*" >>"$WORK/dev.log"
    env "${DEV_ENV[@]}" "$ROOT/deploy/dev" "$@" >>"$WORK/dev.log" 2>&1
}

# unit NAME: deploy/dev's name of instance NAME (movie-service-1 → movie-service).
unit() { printf '%s\n' "${1%-1}"; }
# pid_of NAME: the pid deploy/dev recorded for instance NAME.
pid_of() { read_pidfile "$DATA/run/$(unit "$1").pid"; }

cleanup() {
    set +e
    for pid in "${STOPPED_PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null; done
    [[ -f "$WORK/stop" ]] || touch "$WORK/stop"
    dev down
    if [[ -n "${KEEP_WORK-}" ]]; then info "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); RESULTS+=("ok   $1"); printf '  ok   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); RESULTS+=("FAIL $1"); printf '  FAIL %s\n' "$1" >&2; [[ -n "${2-}" ]] && printf '       %s\n' "$2" >&2; return 0; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

# wait_healthy NAME [SECONDS]: its /health answers 200.
wait_healthy() {
    local name=$1 port
    port=${PORT[$name]-$GATEWAY_PORT}
    "${LOAD[@]}" wait-health --port "$port" --path "$([[ $name == gateway ]] && echo / || echo /health)" --timeout "${2:-30}" >/dev/null
}

# ---------------------------------------------------------------------------- the system

if ! dev up; then
    tail -n 40 "$WORK/dev.log" >&2
    die "deploy/dev up failed"
fi
BASE=http://127.0.0.1:$GATEWAY_PORT
info "system up: gateway $BASE, 2 instances of each service, PostgreSQL :$PG_PORT, Redis :$REDIS_PORT"

# Three users for the watchlist adds, 200 movies for the readers, read once so they are cached.
USERS=()
for n in 1 2 3; do
    id=$(curl -fsS -m 10 -H 'Content-Type: application/json' \
        -d "{\"name\": \"Fault $n\", \"email\": \"fault$n@example.com\", \"password\": \"pass123\"}" "$BASE/api/users" | jq -r .id)
    USERS+=("$id")
done
USER_LIST=$(IFS=,; echo "${USERS[*]}")
FIRST_SEED=""
for n in $(seq 1 200); do
    id=$(curl -fsS -m 10 -H 'Content-Type: application/json' \
        -d "{\"title\": \"Seed $n\", \"year\": 2001, \"genre\": \"Seed\"}" "$BASE/api/movies" | jq -r .id)
    [[ -n "$FIRST_SEED" ]] || FIRST_SEED=$id
    LAST_SEED=$id
done
READ_IDS=$FIRST_SEED-$LAST_SEED
for id in $(seq "$FIRST_SEED" "$LAST_SEED"); do curl -fsS -m 10 -o /dev/null "$BASE/api/movies/$id"; done
cat >"$WORK/reads.lua" <<EOF
math.randomseed(os.time())
request = function() return wrk.format("GET", "/api/movies/" .. math.random($FIRST_SEED, $LAST_SEED)) end
EOF
info "seeded users ${USER_LIST} and movies $READ_IDS"

# ---------------------------------------------------------------------------- load and faults

LOGS=()
LOAD_PID=""
PHASE=""

# load_start PHASE: the write + read load, in the background, until load_stop.
load_start() {
    PHASE=$1
    rm -f "$WORK/stop"
    LOGS+=("$WORK/load-$PHASE.jsonl")
    "${LOAD[@]}" load --port "$GATEWAY_PORT" --phase "$PHASE" --log "$WORK/load-$PHASE.jsonl" --stop "$WORK/stop" \
        --writers 4 --readers 1 --read-pause 0.002 --users "$USER_LIST" --read-ids "$READ_IDS" --max-seconds 90 &
    LOAD_PID=$!
    sleep 1.5
}

load_stop() {
    touch "$WORK/stop"
    wait "$LOAD_PID" || true
}

# check DESCRIPTION ARGS...: fault-load.py check on the current phase's log.
check() {
    local what=$1
    shift
    printf '  %s\n' "$what"
    if "${LOAD[@]}" check --name "$PHASE" --log "$WORK/load-$PHASE.jsonl" "$@"; then pass "$what"; else fail "$what"; fi
}

pg_pids() {
    local postmaster
    postmaster=$(head -n 1 "$DATA/pg/data/postmaster.pid")
    printf '%s\n' "$postmaster"
    ps -o pid= --ppid "$postmaster" | tr -d ' '
}

# wait_accepting SECONDS: prints the time PostgreSQL first accepted connections.
wait_accepting() {
    local deadline=$((SECONDS + $1))
    until "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.01
    done
    now
}

phase() { printf '\n== %s\n' "$1"; }

phase "PostgreSQL kill -9, restarted after 5 s, under writes"
load_start pg-kill
T_FAULT=$(now)
mapfile -t PG_PIDS < <(pg_pids)
kill -KILL "${PG_PIDS[@]}"
sleep 5
dev up &
START_PID=$!
T_ACCEPT=$(wait_accepting 60) || die "PostgreSQL did not come back"
wait "$START_PID" || true
sleep 3
load_stop
T_BACK=$(python3 -c "import sys; print(float(sys.argv[1]) + 1.0)" "$T_ACCEPT")
check "writes answered 503/504 naming the database while it was down, 201 within 1 s of PostgreSQL accepting" \
    --fault-from "$T_FAULT" --fault-to "$T_BACK" --allowed 503,504 --dependency database \
    --recover-after "$T_ACCEPT" --recover-bound 1.0 --max-latency 3

phase "PostgreSQL SIGSTOP for 5 s, under writes; a movie instance's SIGTERM drain meanwhile"
load_start pg-stop
T_FAULT=$(now)
mapfile -t PG_PIDS < <(pg_pids)
STOPPED_PIDS=("${PG_PIDS[@]}")
kill -STOP "${PG_PIDS[@]}"
sleep 1
T_TERM=$(now)
DRAIN_PID=$(pid_of movie-service-2)
kill -TERM "$DRAIN_PID"
DRAINED=""
for ((i = 0; i < 150; i++)); do
    if ! pid_alive "$DRAIN_PID"; then DRAINED=$(now); break; fi
    sleep 0.1
done
REMAINING=$(python3 -c "import sys,time; print(max(0.0, 5 - (time.time() - float(sys.argv[1]))))" "$T_FAULT")
sleep "$REMAINING"
for ((i = ${#PG_PIDS[@]} - 1; i >= 0; i--)); do kill -CONT "${PG_PIDS[i]}"; done
STOPPED_PIDS=()
T_CONT=$(now)
if [[ -n "$DRAINED" ]]; then
    DRAIN_TIME=$(elapsed "$T_TERM" "$DRAINED")
    # The drain bound is the HTTP server's drain timeout (10 s); with every query bounded by
    # DB_QUERY_TIMEOUT it should end within a few seconds.
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 10 else 1)" "$DRAIN_TIME" &&
        pass "movie-service SIGTERM while PostgreSQL hangs: exited after ${DRAIN_TIME}s (bound 10 s)" ||
        fail "movie-service SIGTERM while PostgreSQL hangs: exited after ${DRAIN_TIME}s (bound 10 s)"
else
    fail "movie-service SIGTERM while PostgreSQL hangs: still running 15 s later"
    kill -KILL "$DRAIN_PID" 2>/dev/null || true
fi
dev up || fail "deploy/dev up did not bring movie-service-2 back after its drain"
sleep 2
load_stop
# After SIGCONT the pools reconnect (their connections to the frozen server were closed):
# up to 3 s for that on a loaded machine. The watchlist service names the user or movie
# service, whose database it is.
T_BACK=$(python3 -c "import sys; print(float(sys.argv[1]) + 3.0)" "$T_CONT")
check "every request answered within 3 s: 201, or 503/504 naming the database (or a service waiting on it)" \
    --fault-from "$T_FAULT" --fault-to "$T_BACK" --allowed 503,504 --dependency database,service --max-latency 3 \
    --in-flight-502-at "$T_TERM"

phase "Redis kill -9, restarted after 5 s, under writes"
load_start redis-kill
kill -KILL "$(cat "$DATA/redis/redis.pid")"
sleep 5
dev up || fail "deploy/dev up did not bring Redis back"
sleep 2
load_stop
check "nothing failed, nothing waited more than 3 s" --max-latency 3

# cache_is VALUE SECONDS: both movie instances' health says "cache": VALUE within SECONDS.
cache_is() {
    local i status=0
    for i in $INSTANCES; do
        "${LOAD[@]}" wait-health --port "${PORT[movie-service-$i]}" --field cache --value "$1" --timeout "$2" >/dev/null || status=1
    done
    return "$status"
}

phase "Redis SIGSTOP: throughput from PostgreSQL with the breaker open, against no cache at all"
# wrk_rps SECONDS: cached-id reads through the gateway; prints requests/s, fails on a non-2xx.
wrk_rps() {
    local out
    out=$(wrk -t2 -c16 -d"$1"s -s "$WORK/reads.lua" "$BASE" 2>&1)
    if grep -q "Non-2xx" <<<"$out"; then
        printf 'wrk saw errors: %s\n' "$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
    fi
    awk '/Requests\/sec/ { print $2 }' <<<"$out"
}
"$LIB/redis-server" stop "$DATA/redis" >/dev/null
cache_is down 10 || true
NO_CACHE_RPS=$(wrk_rps 4)
dev up || fail "deploy/dev up did not start Redis again"
cache_is ok 20 || fail "a movie instance's cache is not ok 20 s after Redis started"
wrk_rps 2 >/dev/null # fills the cache again
CACHED_RPS=$(wrk_rps 3)
REDIS_PID=$(cat "$DATA/redis/redis.pid")
STOPPED_PIDS=("$REDIS_PID")
kill -STOP "$REDIS_PID"
sleep 1
HUNG_RPS=$(wrk_rps 4)
kill -CONT "$REDIS_PID"
STOPPED_PIDS=()
cache_is ok 10 || true
RATIO=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[2] or 0) / max(float(sys.argv[1] or 0), 1)))" "$NO_CACHE_RPS" "$HUNG_RPS")
printf '    reads/s through the gateway: cache %s, no cache (Redis stopped) %s, Redis hung %s: %s of no-cache\n' \
    "$CACHED_RPS" "$NO_CACHE_RPS" "$HUNG_RPS" "$RATIO"
# A condition, not a benchmark (short rounds on a shared machine, whose other work changes
# between them): with every read waiting on the hung Redis the ratio was ~0.01.
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.25 else 1)" "$RATIO" &&
    pass "reads with Redis hung at ${RATIO} of the no-cache throughput (>= 0.25)" ||
    fail "reads with Redis hung at ${RATIO} of the no-cache throughput (< 0.25)"

phase "Redis SIGSTOP for 5 s under writes: health, recovery"
load_start redis-stop
STOPPED_PIDS=("$REDIS_PID")
T_FAULT=$(now)
kill -STOP "$REDIS_PID"
cache_is down 3 && pass "health says \"cache\": \"down\" on both movie instances within 3 s of the hang" ||
    fail "health does not say \"cache\": \"down\" within 3 s of the hang"
REMAINING=$(python3 -c "import sys,time; print(max(0.0, 5 - (time.time() - float(sys.argv[1]))))" "$T_FAULT")
sleep "$REMAINING"
kill -CONT "$REDIS_PID"
STOPPED_PIDS=()
cache_is ok 10 && pass "the cache is back (\"ok\") on both instances by itself after SIGCONT" ||
    fail "the cache did not come back by itself within 10 s of SIGCONT"
load_stop
check "no write failed while Redis hung, none waited more than 3 s" --max-latency 3

for service in movie-service watchlist-service user-service; do
    phase "$service-1 kill -9 under writes (instance 2 stays), restarted after 5 s"
    load_start "$service-kill"
    T_KILL=$(now)
    kill -KILL "$(pid_of "$service-1")"
    sleep 5
    dev up || fail "deploy/dev up did not bring $service-1 back"
    sleep 1
    load_stop
    check "no request failed, not even a POST in flight on the killed instance (resent with its Idempotency-Key)" \
        --max-latency 3 --fault-from "$T_KILL" --fault-to "$T_KILL"

    phase "$service-1 SIGSTOP for 5 s under writes"
    load_start "$service-stop"
    STOPPED_PIDS=("$(pid_of "$service-1")")
    T_FAULT=$(now)
    kill -STOP "${STOPPED_PIDS[0]}"
    sleep 5
    kill -CONT "${STOPPED_PIDS[0]}"
    T_CONT=$(now)
    STOPPED_PIDS=()
    sleep 2
    load_stop
    # A caller with a shorter timeout than the stop (the watchlist service gives the others
    # 2 s) answers 504 naming the service: bounded, and said. A request the stopped
    # instance had in flight may find its own deadline past when it runs again (504 naming
    # the database).
    check "nothing failed but 503/504 naming a service, nothing waited past the stop + 2 s" --max-latency 7 \
        --fault-from "$T_FAULT" --fault-to "$T_CONT" --allowed 503,504 --dependency service,database
done

phase "a burst of 10,000 connections, one request each, through the gateway"
# Every client gets an answer: 2xx, or past the gateway's queue bound or deadline (a loaded
# machine) its 503 + Retry-After; never a 502, a reset or no answer.
python3 "$ROOT/loadtest/burst.py" --url "$BASE/api/movies/$FIRST_SEED" --clients 10000 --timeout 60 >"$WORK/burst.txt" 2>&1 || true
BURST_OK=$(python3 -c '
import re, sys
text = open(sys.argv[1]).read()
line = re.search(r"^statuses: (.*)$", text, re.M)
counts = {int(code): int(count) for code, count in re.findall(r"(\d+): (\d+)", line.group(1))} if line else {}
answered = sum(n for code, n in counts.items() if 200 <= code < 300 or code == 503)
print(1 if answered == 10000 and "failures:" not in text else 0)' "$WORK/burst.txt")
if ((BURST_OK)); then
    pass "10,000 concurrent clients all answered: 2xx (or 503 + Retry-After past the queue's bound), no 502"
else
    fail "10,000 concurrent clients: not all answered 2xx/503" "$(tr '\n' ' ' <"$WORK/burst.txt" | cut -c1-400)"
fi
sed 's/^/    /' "$WORK/burst.txt" | head -n 12

phase "deploy/dev restart of every service under writes (one instance at a time: SIGTERM, drain, start, ready)"
load_start rolling
T_FAULT=$(now)
for service in user-service movie-service watchlist-service; do
    T0=$(now)
    dev restart "$service" || fail "deploy/dev restart $service failed"
    printf '    %s: both instances restarted in %ss\n' "$service" "$(elapsed "$T0" "$(now)")"
done
load_stop
check "no request failed during the rolling restart" --fault-from "$T_FAULT"

phase "every acknowledged write, read back through the API"
wait_healthy gateway 30 || true
if "${LOAD[@]}" verify --port "$GATEWAY_PORT" "${LOGS[@]}"; then
    pass "no acknowledged write lost"
else
    fail "acknowledged writes lost (or the lists could not be read)"
fi

printf '\n== summary\n'
for line in "${RESULTS[@]}"; do printf '  %s\n' "$line"; done
printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
((FAILED == 0))
