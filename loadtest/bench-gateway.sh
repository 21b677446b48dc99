#!/usr/bin/env bash
# Gateway benchmark: wrk against one movie-shaped route (bench-server's GET /api/movies/{id},
# a 173-byte JSON body) in one run, three ways, alternating rounds:
#   direct  - bench-server itself (2 loops), the ceiling;
#   nginx   - nginx in front of it, configured as well as it can be (2 workers, upstream
#             keep-alive pool, HTTP/1.1 upstream, no access log, no buffering of small bodies);
#   gateway - our gateway (LOOPS=2) in front of it, with the same features switched off
#             (access log, rate limit, health probes), since nginx has them off too.
# Then the same through TLS (gateway on TLS_PORT vs nginx `ssl` with the same self-signed
# certificate). Prints req/s, p99, the ratios and the gateway's peak RSS (VmHWM).
# Usage: loadtest/bench-gateway.sh [seconds] [connections] [rounds]
# AFFINITY=off: the gateway's and bench-server's loops float; NGINX_CPU_AFFINITY=auto: nginx's
# workers pinned (see placement_line in bench-lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
rounds=${3:-3}

# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
require_tools wrk nginx openssl python3 bc
bench_workspace gateway
start_proxied_upstream

nginx_port=$(free_port)
nginx_tls_port=$(free_port)
start_nginx <<CONF
$(nginx_movie_upstream)
    server {
        listen 127.0.0.1:$nginx_port reuseport;
        listen 127.0.0.1:$nginx_tls_port ssl reuseport;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
$(nginx_proxy_location)
    }
CONF
wait_port "$nginx_port"

path=/api/movies/1
for url in "http://127.0.0.1:$upstream_port$path" "http://127.0.0.1:$gateway_port$path" \
    "http://127.0.0.1:$nginx_port$path"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url")
    [[ $code == 200 ]] || { echo "bench-gateway: $url answered $code" >&2; exit 1; }
done

# Prints "requests_per_second p99_ms non2xx" for one wrk run.
measure() { wrk_measure "$1" "$connections" "$duration" "$work/wrk.out"; }

machine_line; nginx -v
placement_line "$work/gateway.log"
echo "wrk -t${WRK_THREADS:-2} -c$connections -d${duration}s GET $path, $rounds rounds after a 2 s warm-up each, proxy order alternating; everything on one machine"
warm_up "http://127.0.0.1:$upstream_port$path" "http://127.0.0.1:$gateway_port$path" \
    "http://127.0.0.1:$nginx_port$path" "https://127.0.0.1:$gateway_tls_port$path" \
    "https://127.0.0.1:$nginx_tls_port$path"
for scheme in http https; do
    if [[ $scheme == http ]]; then
        gateway_url="http://127.0.0.1:$gateway_port$path"; nginx_url="http://127.0.0.1:$nginx_port$path"
    else
        gateway_url="https://127.0.0.1:$gateway_tls_port$path"; nginx_url="https://127.0.0.1:$nginx_tls_port$path"
    fi
    g_total=0; n_total=0; ratios=""; p99_wins=0; g_p99_total=0; n_p99_total=0
    for round in $(seq 1 "$rounds"); do
        # The upstream alone, plain HTTP only: the ceiling.
        direct=$(printf "%35s" "")
        if [[ $scheme == http ]]; then
            read -r d_rps d_p99 _ < <(measure "http://127.0.0.1:$upstream_port$path")
            direct=$(printf 'direct %8.0f req/s p99 %6.2f ms' "$d_rps" "$d_p99")
        fi
        read -r g_rps g_p99 g_err n_rps n_p99 n_err < <(measure_alternating "$round" "$gateway_url" "$nginx_url")
        ratio=$(echo "$g_rps / $n_rps" | bc -l)
        printf '%-5s round %d: %s | gateway %8.0f req/s p99 %6.2f ms | nginx %8.0f req/s p99 %6.2f ms | gateway/nginx %.2f\n' \
            "$scheme" "$round" "$direct" "$g_rps" "$g_p99" "$n_rps" "$n_p99" "$ratio"
        ratios="$ratios $ratio"
        if (($(echo "$g_p99 <= $n_p99" | bc -l))); then p99_wins=$((p99_wins + 1)); fi
        [[ $g_err == 0 && $n_err == 0 ]] || echo "  non-2xx answers: gateway $g_err, nginx $n_err"
        g_total=$(echo "$g_total + $g_rps" | bc -l)
        n_total=$(echo "$n_total + $n_rps" | bc -l)
        g_p99_total=$(echo "$g_p99_total + $g_p99" | bc -l)
        n_p99_total=$(echo "$n_p99_total + $n_p99" | bc -l)
    done
    printf '%s mean: gateway %.0f req/s, nginx %.0f req/s, ratio %.2f; %s; p99 mean of rounds: gateway %.2f ms, nginx %.2f ms\n' "$scheme" \
        "$(echo "$g_total / $rounds" | bc -l)" "$(echo "$n_total / $rounds" | bc -l)" "$(echo "$g_total / $n_total" | bc -l)" \
        "$(round_summary "$ratios" "$p99_wins")" "$(echo "$g_p99_total / $rounds" | bc -l)" "$(echo "$n_p99_total / $rounds" | bc -l)"
done
gateway_rss_line
