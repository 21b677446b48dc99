#!/usr/bin/env bash
# Login latency under a sign-up flood, for each scrypt cost: the user service (release build)
# on a throw-away PostgreSQL, and loadtest/login-flood.py against its own port: logins alone,
# then with every sign-up reusing one existing email, then with every sign-up a new account.
#
#   loadtest/bench-login.sh                 # SCRYPT_LOG_N 15 16 17, 40 flooders, 20 s each
#   LOG_NS="15 17" FLOODERS=40 DURATION=20 PROFILES=bounded SKIP_BUILD=1 loadtest/bench-login.sh
#   FLOODS="none new abandoned" LOG_NS=15 PROFILES=bounded loadtest/bench-login.sh   # clients that give up
#   FLOODS="burst none new" LOG_NS=15 PROFILES=bounded loadtest/bench-login.sh   # the issue-18 probe first
#
# "burst" is the issue's probe itself: DURATION rounds, one a second, of FLOODERS duplicate
# sign-ups sent at the same instant as one login (login-flood.py --flood burst).
#
# Profiles: "bounded" is the service's defaults but SCRYPT_LOG_N; "unbounded" lifts the
# hashing queue's bound and the per-client rate limit (HASH_MAX_PENDING=10000,
# AUTH_RATE_LIMIT=0), as the queue was before issue 18. 127.0.0.1 is the service's trusted
# proxy, so each flooder names its own client address (X-Forwarded-For), as the gateway
# would. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source loadtest/bench-lib.sh
LIB=deploy/lib
BIN=${MARQUEE_BIN_DIR:-.build/release}
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    swift build -c release --static-swift-stdlib --product user-service >/dev/null
fi
bench_workspace login
chmod 0755 "$work"  # the postgres user (as root, pg-cluster runs the server as postgres) reads it
cleanup_pg() { "$LIB/pg-cluster" stop "$work/pg" >/dev/null 2>&1 || true; bench_cleanup; }
trap cleanup_pg EXIT

pg_port=$(free_port)
"$LIB/pg-cluster" init "$work/pg" "$pg_port" --throwaway >/dev/null
"$LIB/pg-cluster" start "$work/pg" "$pg_port" --throwaway >/dev/null
"$LIB/pg-cluster" create-service-dbs "$work/pg" "$pg_port" >/dev/null

# hash_computations PORT: the service's scrypt computations so far (started ones).
hash_computations() {
    curl -fs "http://127.0.0.1:$1/metrics" | awk '$1 == "user_password_hash_computations_total" {print int($2)}'
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

machine_line
for log_n in ${LOG_NS:-15 16 17}; do
    for profile in ${PROFILES:-bounded unbounded}; do
        limits=()
        [[ $profile == unbounded ]] && limits=(HASH_MAX_PENDING=10000 AUTH_RATE_LIMIT=0)
        port=$(free_port)
        env PORT="$port" HOST=127.0.0.1 LOOPS=2 LOG_LEVEL=warning SCRYPT_LOG_N="$log_n" AUTH_REQUIRED=true \
            AUTH_SECRET="$(openssl rand -hex 32)" LOGIN_TRUSTED_PROXIES=127.0.0.1 "${limits[@]}" \
            DATABASE_URL="postgresql://user:user_pass@127.0.0.1:$pg_port/userdb" \
            "$BIN/user-service" >"$work/user-service-$log_n-$profile.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        for _ in $(seq 100); do
            curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
            sleep 0.2
        done
        floods=${FLOODS:-none duplicate new}
        [[ $profile == unbounded ]] && floods=${floods//none/}
        for flood in $floods; do
            printf '\nSCRYPT_LOG_N=%s, %s, %s sign-ups (load average %s):\n' "$log_n" "$profile" "$flood" \
                "$(cut -d' ' -f1-3 /proc/loadavg)"
            hashes_before=$(hash_computations "$port")
            cpu_before=$(cpu_ticks "$pid")
            began=$(date +%s.%N)
            python3 loadtest/login-flood.py --url "http://127.0.0.1:$port" --flood "$flood" \
                --flooders "${FLOODERS:-40}" --duration "${DURATION:-20}"
            printf 'user service CPU: %s cores\n' "$(awk -v t="$(( $(cpu_ticks "$pid") - cpu_before ))" \
                -v hz="$(getconf CLK_TCK)" -v b="$began" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", t / hz / (e - b)}')"
            sleep 2  # computations still queued when the run ended
            printf 'scrypt computations: %s\n' "$(( $(hash_computations "$port") - hashes_before ))"
        done
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
done
