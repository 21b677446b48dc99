#!/usr/bin/env bash
# Runtime benchmark: wrk against bench-server's minimal route (2 loops) and, in the same
# run, against nginx `return 200` (2 workers), on loopback. Prints throughput, p99 and the
# ratio, and bench-server's idle RSS. Usage: loadtest/bench-runtime.sh [seconds] [connections] [rounds]
# AFFINITY=off: bench-server's loops float (no pinning, connections by hash);
# NGINX_CPU_AFFINITY=auto: nginx's workers pinned. See placement_line in bench-lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
rounds=${3:-3}

# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
require_tools wrk nginx
swift build -c release --static-swift-stdlib --product bench-server >/dev/null
bench_workspace runtime

ours_port=$(free_port)
.build/release/bench-server --port "$ours_port" --loops 2 --affinity "${AFFINITY:-auto}" >"$work/ours.log" 2>&1 &
pids+=($!)
ours_pid=$!

nginx_port=$(free_port)
start_nginx <<CONF
    server {
        listen 127.0.0.1:$nginx_port reuseport;
        location / { default_type text/plain; return 200 "Hello, World!"; }
    }
CONF
sleep 1

rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$ours_pid/status")

# Prints "requests_per_second p99_ms non2xx" for one wrk run.
measure() { wrk_measure "$1" "$connections" "$duration" "$work/wrk.out"; }

machine_line
placement_line "$work/ours.log"
echo "wrk -t${WRK_THREADS:-2} -c$connections -d${duration}s, $rounds rounds after a 2 s warm-up each, order alternating; bench-server idle RSS: $((rss_kib / 1024)) MiB"
ours_url="http://127.0.0.1:$ours_port/plaintext"
nginx_url="http://127.0.0.1:$nginx_port/"
warm_up "$ours_url" "$nginx_url"
ours_total=0; nginx_total=0; ratios=""; p99_wins=0; ours_p99_total=0; nginx_p99_total=0
for round in $(seq 1 "$rounds"); do
    read -r ours_rps ours_p99 _ nginx_rps nginx_p99 _ < <(measure_alternating "$round" "$ours_url" "$nginx_url")
    ratio=$(echo "$ours_rps / $nginx_rps" | bc -l)
    printf 'round %d: marquee %10.0f req/s p99 %6.2f ms | nginx %10.0f req/s p99 %6.2f ms | ratio %.2f\n' \
        "$round" "$ours_rps" "$ours_p99" "$nginx_rps" "$nginx_p99" "$ratio"
    ours_total=$(echo "$ours_total + $ours_rps" | bc -l)
    nginx_total=$(echo "$nginx_total + $nginx_rps" | bc -l)
    ratios="$ratios $ratio"
    if (($(echo "$ours_p99 <= $nginx_p99" | bc -l))); then p99_wins=$((p99_wins + 1)); fi
    ours_p99_total=$(echo "$ours_p99_total + $ours_p99" | bc -l)
    nginx_p99_total=$(echo "$nginx_p99_total + $nginx_p99" | bc -l)
done
printf 'mean: marquee %.0f req/s, nginx %.0f req/s, ratio %.2f; %s; p99 mean of rounds: marquee %.2f ms, nginx %.2f ms\n' \
    "$(echo "$ours_total / $rounds" | bc -l)" "$(echo "$nginx_total / $rounds" | bc -l)" "$(echo "$ours_total / $nginx_total" | bc -l)" \
    "$(round_summary "$ratios" "$p99_wins")" "$(echo "$ours_p99_total / $rounds" | bc -l)" "$(echo "$nginx_p99_total / $rounds" | bc -l)"
