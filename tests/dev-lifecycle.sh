#!/usr/bin/env bash
# What deploy/dev promises about its own life cycle, each a test, on a stack of its own (a data
# folder and free ports, so a running `deploy/dev up` is never touched): `up` twice; `up` after
# a kill -9 of each kind of process (a service, the gateway, PostgreSQL, Redis); `down` twice;
# `up` after a "reboot" (every process gone, pidfiles naming pids that other processes have
# now); settings passed on, kept and refused; INSTANCES=2 with a rolling restart; the loopback
# rate-limit exemption giving way to a rate limit that is set. Ends with "N passed, N failed".
#
# Usage: tests/dev-lifecycle.sh   (SKIP_BUILD=1 to use the existing .build/release as it is)
# `A && pass || fail` is safe here: pass always succeeds.
# shellcheck disable=SC2015
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export MARQUEE_LOG_TAG=lifecycle
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/common
source "$ROOT/deploy/lib/common"
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/packages
source "$ROOT/deploy/lib/packages"

START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/marquee-lifecycle.XXXXXX")
chmod 0755 "$WORK"
export MARQUEE_DATA_DIR=$WORK/data SKIP_PACKAGES=1 HEALTH_TIMEOUT=60
DATA=$MARQUEE_DATA_DIR
PASSED=0
FAILED=0
DECOY=""

declare -A PORT=()
for name in GATEWAY_PORT GATEWAY_TLS_PORT USER_SERVICE_PORT MOVIE_SERVICE_PORT WATCHLIST_SERVICE_PORT PG_PORT REDIS_PORT; do
    PORT[$name]=$(free_port_except "${PORT[@]}")
    export "$name=${PORT[$name]}"
done
GATEWAY=http://127.0.0.1:${PORT[GATEWAY_PORT]}

cleanup() {
    set +e
    [[ -n "$DECOY" ]] && kill "$DECOY" 2>/dev/null
    "$ROOT/deploy/dev" down >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL %s\n' "$1" >&2; [[ -n "${2-}" ]] && printf '%s\n' "$2" | sed 's/^/       /' >&2; return 0; }

# dev ARGS...: deploy/dev with its output in $WORK/out (shown by a failure).
dev() { "$ROOT/deploy/dev" "$@" >"$WORK/out" 2>&1; }
out() { tail -n 25 "$WORK/out"; }

# healthy: the gateway reports every service healthy.
healthy() {
    local path
    for path in users movies watchlist; do
        curl -fsS -m 5 "$GATEWAY/api/health/$path" >/dev/null 2>&1 || return 1
    done
}

unit_pid() { read_pidfile "$DATA/run/$1.pid"; }
pg_pid() { head -n 1 "$DATA/pg/data/postmaster.pid" 2>/dev/null; }
redis_pid() { read_pidfile "$DATA/redis/redis.pid"; }

# pids: every process of the stack, "name=pid" per line.
pids() {
    local unit
    for unit in user-service movie-service watchlist-service gateway; do printf '%s=%s\n' "$unit" "$(unit_pid "$unit")"; done
    printf 'postgres=%s\nredis=%s\n' "$(pg_pid)" "$(redis_pid)"
}

# wait_dead PID: until PID is gone (bounded).
wait_dead() {
    local i
    for ((i = 0; i < 100; i++)); do
        pid_alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# nothing_listens: no port of the stack has a listener.
nothing_listens() {
    local name
    for name in "${!PORT[@]}"; do
        port_is_listening "${PORT[$name]}" && return 1
    done
    return 0
}

# ------------------------------------------------------------------------------------ up, up

printf 'deploy/dev life cycle (data %s, gateway %s)\n' "$DATA" "$GATEWAY"
if dev up && healthy; then pass "up from nothing: healthy"; else fail "up from nothing" "$(out)"; exit 1; fi
export SKIP_BUILD=1
before=$(pids)
if dev up && healthy && [[ "$(pids)" == "$before" ]] && grep -q 'already running' "$WORK/out"; then
    pass "up again: the same processes, healthy"
else
    fail "up again" "$(out)"
fi

# --------------------------------------------------------------------------- kill -9, then up

for victim in movie-service gateway postgres redis; do
    before=$(pids)
    case $victim in
    postgres) pid=$(pg_pid) ;;
    redis) pid=$(redis_pid) ;;
    *) pid=$(unit_pid "$victim") ;;
    esac
    kill -9 "$pid"
    wait_dead "$pid" || fail "$victim (pid $pid) survived kill -9"
    if ! dev up || ! healthy; then
        fail "up after kill -9 of $victim" "$(out)"
        continue
    fi
    after=$(pids)
    changed=$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep '^>' | cut -c3- | cut -d= -f1 | tr '\n' ' ' || true)
    [[ "$changed" == "$victim " ]] && pass "up after kill -9 of $victim: healthy, only $victim restarted" ||
        fail "up after kill -9 of $victim: restarted '$changed', expected '$victim '" "$(out)"
done

# ---------------------------------------------------------------------------------- down, down

dev down && [[ ! -e "$DATA/run/gateway.pid" ]] && nothing_listens && pass "down: everything stopped, nothing listens" ||
    fail "down" "$(out)"
dev down && grep -q 'not running' "$WORK/out" && pass "down again: nothing to do, no error" || fail "down again" "$(out)"

# ------------------------------------------------------------------------------------ a reboot

if dev up && healthy; then
    # A power cut: every process gone at once, their pidfiles left behind.
    for pid in $(pids | cut -d= -f2); do kill -9 "$pid" 2>/dev/null || true; done
    for pid in $(pids | cut -d= -f2); do wait_dead "$pid" || true; done
    # After the reboot, the recorded pids belong to other processes: one decoy for all of them.
    sleep 600 &
    DECOY=$!
    for unit in user-service movie-service watchlist-service; do
        printf '%s 1\n' "$DECOY" >"$DATA/run/$unit.pid" # a start time the decoy does not have
    done
    printf '%s\n' "$DECOY" >"$DATA/run/gateway.pid" # an older pidfile without a start time
    printf '%s\n' "$DECOY" >"$DATA/redis/redis.pid"
    sed -i "1s/.*/$DECOY/" "$DATA/pg/data/postmaster.pid"
    if dev up && healthy && pid_alive "$DECOY"; then
        pass "up after a reboot (pidfiles and postmaster.pid naming another live process): healthy, the other process untouched"
    else
        fail "up after a reboot" "$(out)"
    fi
    kill "$DECOY" 2>/dev/null || true
    DECOY=""
else
    fail "up before the reboot" "$(out)"
fi

# ------------------------------------------------------------------------------------- settings

if PORT=1 dev up; then
    fail "PORT=1 deploy/dev up was accepted"
else
    grep -q 'GATEWAY_PORT' "$WORK/out" && pass "PORT is refused, naming GATEWAY_PORT and the others" || fail "PORT refused without a hint" "$(out)"
fi
if ADMIN_EMAIL_LIST=a@example.com dev up; then
    fail "a misspelt ADMIN_ setting was accepted"
else
    grep -q 'ADMIN_EMAIL_LIST' "$WORK/out" && pass "an ADMIN_ setting no executable has is refused by name" || fail "misspelt ADMIN_ setting" "$(out)"
fi
if LOG_LEVEL=debug dev up; then
    fail "LOG_LEVEL=debug up on a stack running without it was accepted"
else
    grep -q 'LOG_LEVEL' "$WORK/out" && grep -q 'deploy/dev down' "$WORK/out" &&
        pass "a setting that differs from the running stack's is refused, saying what to do" || fail "changed setting" "$(out)"
fi
grep -qx 'RATE_LIMIT_EXEMPT=127.0.0.0/8,::1' "$DATA/run/stack" && grep -qx 'AUTH_REQUIRED=false' "$DATA/run/stack" &&
    pass "the development profile: AUTH_REQUIRED=false, loopback exempt from the rate limit" ||
    fail "development profile settings" "$(cat "$DATA/run/stack")"
dev down || fail "down" "$(out)"

# ---------------------------------------------------- INSTANCES=2, AUTH_REQUIRED=true, restart

export INSTANCES=2 AUTH_REQUIRED=true RATE_LIMIT_RPS=5 RATE_LIMIT_BURST=100
if dev up && healthy; then
    status=$("$ROOT/deploy/dev" status)
    running=$(grep -cE -- '-service(-2)? +running' <<<"$status" || true)
    ((running == 6)) && grep -qE "^movie-service-2 +running .* port $((PORT[MOVIE_SERVICE_PORT] + 10))\$" <<<"$status" &&
        pass "INSTANCES=2: two of each service, the second on port + 10" || fail "INSTANCES=2 status" "$status"
    # Round robin: 20 reads through the gateway reach both movie instances.
    curl -s -o /dev/null "$GATEWAY/api/movies/1?n=[1-20]"
    served=0
    for port in "${PORT[MOVIE_SERVICE_PORT]}" $((PORT[MOVIE_SERVICE_PORT] + 10)); do
        count=$(curl -fsS "http://127.0.0.1:$port/metrics" |
            awk '/^marquee_http_requests_total\{/ && /method="GET"/ && index($0, "route=\"/api/movies/{movie_id:id}\"") { n += $NF }
                END { print n + 0 }')
        ((count > 0)) && served=$((served + 1))
    done
    ((served == 2)) && pass "the gateway balances over both movie instances" || fail "balancing: $served of 2 movie instances served reads"
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/api/watchlist" -H 'Content-Type: application/json' -d '{"user_id": 1, "movie_id": 1}')
    [[ "$code" == 401 ]] && pass "AUTH_REQUIRED=true is passed on (a write without a token: 401)" || fail "AUTH_REQUIRED=true: got $code"

    before=$(cat "$DATA/run/movie-service.pid" "$DATA/run/movie-service-2.pid")
    others=$(cat "$DATA/run/user-service.pid" "$DATA/run/gateway.pid")
    if dev restart movie-service && healthy; then
        after=$(cat "$DATA/run/movie-service.pid" "$DATA/run/movie-service-2.pid")
        order=$(grep -oE 'stopping movie-service(-2)?|started movie-service(-2)?' "$WORK/out" | tr '\n' ',')
        [[ "$order" == "stopping movie-service,started movie-service,stopping movie-service-2,started movie-service-2," ]] &&
            [[ "$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep -c '^>')" == 2 ]] &&
            [[ "$others" == "$(cat "$DATA/run/user-service.pid" "$DATA/run/gateway.pid")" ]] &&
            pass "restart movie-service: one instance after the other, both new, nothing else touched" ||
            fail "rolling restart" "$order
$(out)"
        codes=$(curl -s -o /dev/null -w '%{http_code} ' -X POST "$GATEWAY/api/movies?n=[1-4]" -H 'Content-Type: application/json' -d '{"title": "T", "year": 2000, "genre": "Drama"}')
        [[ "$codes" == "401 401 401 401 " ]] && pass "restarted instances keep the stack's settings (AUTH_REQUIRED=true)" ||
            fail "settings after restart: $codes"
    else
        fail "restart movie-service" "$(out)"
    fi
    # A rate limit that is set applies to loopback too: 300 reads on one connection, burst 100.
    codes=$(curl -s -o /dev/null -w '%{http_code}\n' "$GATEWAY/api/movies/1?n=[1-300]" | sort | uniq -c | tr -s ' \n' ' ')
    [[ "$codes" == *" 429"* ]] && pass "RATE_LIMIT_RPS given: loopback is rate-limited ($codes)" || fail "no 429 with RATE_LIMIT_RPS=5: $codes"
    if dev down && nothing_listens && ! ls "$DATA"/run/*.pid >/dev/null 2>&1; then
        pass "down stops every instance"
    else
        fail "down with instances" "$(out)"
    fi
else
    fail "INSTANCES=2 AUTH_REQUIRED=true up" "$(out)"
fi
unset INSTANCES AUTH_REQUIRED RATE_LIMIT_RPS RATE_LIMIT_BURST

printf '%s passed, %s failed (%ss)\n' "$PASSED" "$FAILED" $((SECONDS - START))
((FAILED == 0))
