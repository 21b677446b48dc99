#!/usr/bin/env bash
# HTTP/2 benchmark: h2load (Debian's nghttp2-client) against our gateway and against nginx
# (`http2` on its listeners) in front of the same upstream (bench-server's GET /api/movies/{id},
# a 173-byte JSON body), in one run, rounds alternating which goes first; both speak HTTP/1.1
# keep-alive to the upstream. Two shapes: 1 connection × 10 streams, and 64 connections × 10
# streams; over h2c (prior knowledge) and over TLS (ALPN h2, the same self-signed certificate).
# Prints req/s, p99 (from h2load's per-request log: h2load itself reports no percentiles),
# failures, the ratios and the gateway's peak RSS.
# Usage: loadtest/bench-http2.sh [seconds] [rounds] [streams-per-connection]
# AFFINITY=off: the gateway's and bench-server's loops float (see bench-gateway.sh).
# SHAPES="1 64": the connection counts to measure; SCHEMES="h2c h2": which of the two.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-8}
rounds=${2:-3}
streams=${3:-10}

# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
require_tools h2load nginx openssl python3 bc curl
bench_workspace http2
start_proxied_upstream

# nginx 1.22 spells HTTP/2 as a `listen` parameter (`http2 on` is 1.25's); a plain listener
# with `http2` speaks h2c with prior knowledge, as the gateway's does. Its HTTP/2 limits are
# its defaults (128 streams, like the gateway's), keep-alive without a request cap.
nginx_port=$(free_port)
nginx_tls_port=$(free_port)
start_nginx <<CONF
$(nginx_movie_upstream)
    server {
        listen 127.0.0.1:$nginx_port http2 reuseport;
        listen 127.0.0.1:$nginx_tls_port ssl http2 reuseport;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
$(nginx_proxy_location)
    }
CONF
wait_port "$nginx_port"

path=/api/movies/1
for url in "http://127.0.0.1:$gateway_port$path" "http://127.0.0.1:$nginx_port$path"; do
    answer=$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version}' "$url")
    [[ $answer == "200 2" ]] || { echo "bench-http2: $url answered '$answer' (expected 200 over HTTP/2)" >&2; exit 1; }
done
for url in "https://127.0.0.1:$gateway_tls_port$path" "https://127.0.0.1:$nginx_tls_port$path"; do
    answer=$(curl -s --http2 --cacert "$work/cert.pem" -o /dev/null -w '%{http_code} %{http_version}' "$url")
    [[ $answer == "200 2" ]] || { echo "bench-http2: $url answered '$answer' (expected 200 over HTTP/2)" >&2; exit 1; }
done

# h2_run URL CLIENTS SECONDS: one h2load run; output in $work/h2.out, per-request log in $work/h2.log.
h2_run() {
    local threads=2
    (($2 < 2)) && threads=1
    rm -f "$work/h2.log"
    h2load -c"$2" -t"$threads" -m"$streams" -D"$3" --log-file="$work/h2.log" "$1" >"$work/h2.out" 2>&1 || true
}

# Prints "requests_per_second p99_ms not_ok" for one h2load run of $duration seconds, where
# not_ok counts failed requests and answers other than 2xx.
measure() {
    h2_run "$1" "$clients" "$duration"
    local rps p99 not_ok
    rps=$(awk '/^finished in/ {print $4}' "$work/h2.out")
    [[ -n $rps ]] || { echo "bench-http2: h2load did not finish against $1:" >&2; cat "$work/h2.out" >&2; exit 1; }
    # The log's third column is each request's time to its whole response, in microseconds.
    p99=$(cut -f3 "$work/h2.log" | sort -n | awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1; printf "%.3f", v[i] / 1000}')
    not_ok=$(awk '/^requests:/ {failed = $10} /^status codes:/ {other = $5 + $7 + $9} END {print failed + other}' "$work/h2.out")
    echo "$rps $p99 $not_ok"
}

machine_line; nginx -v 2>&1; h2load --version | head -1
placement_line "$work/gateway.log"
echo "h2load -m$streams -D$duration GET $path (-t1 for one connection, -t2 otherwise), $rounds rounds per shape after a 2 s warm-up of each target, order alternating; everything on one machine"
for url in "http://127.0.0.1:$gateway_port$path" "http://127.0.0.1:$nginx_port$path" \
    "https://127.0.0.1:$gateway_tls_port$path" "https://127.0.0.1:$nginx_tls_port$path"; do
    h2_run "$url" 64 2
done
for scheme in ${SCHEMES:-h2c h2}; do
    if [[ $scheme == h2c ]]; then
        gateway_url="http://127.0.0.1:$gateway_port$path"; nginx_url="http://127.0.0.1:$nginx_port$path"
    else
        gateway_url="https://127.0.0.1:$gateway_tls_port$path"; nginx_url="https://127.0.0.1:$nginx_tls_port$path"
    fi
    for clients in ${SHAPES:-1 64}; do
        g_total=0; n_total=0; ratios=""; p99_wins=0; g_p99_total=0; n_p99_total=0
        for round in $(seq 1 "$rounds"); do
            read -r g_rps g_p99 g_bad n_rps n_p99 n_bad < <(measure_alternating "$round" "$gateway_url" "$nginx_url")
            ratio=$(echo "$g_rps / $n_rps" | bc -l)
            printf '%-3s %2d×%d round %d: gateway %8.0f req/s p99 %7.3f ms | nginx %8.0f req/s p99 %7.3f ms | gateway/nginx %.2f\n' \
                "$scheme" "$clients" "$streams" "$round" "$g_rps" "$g_p99" "$n_rps" "$n_p99" "$ratio"
            ratios="$ratios $ratio"
            if (($(echo "$g_p99 <= $n_p99" | bc -l))); then p99_wins=$((p99_wins + 1)); fi
            [[ $g_bad == 0 && $n_bad == 0 ]] || echo "  failed or non-2xx: gateway $g_bad, nginx $n_bad"
            g_total=$(echo "$g_total + $g_rps" | bc -l)
            n_total=$(echo "$n_total + $n_rps" | bc -l)
            g_p99_total=$(echo "$g_p99_total + $g_p99" | bc -l)
            n_p99_total=$(echo "$n_p99_total + $n_p99" | bc -l)
        done
        printf '%s %d×%d mean: gateway %.0f req/s, nginx %.0f req/s, ratio %.2f; %s; p99 mean of rounds: gateway %.3f ms, nginx %.3f ms\n' \
            "$scheme" "$clients" "$streams" \
            "$(echo "$g_total / $rounds" | bc -l)" "$(echo "$n_total / $rounds" | bc -l)" "$(echo "$g_total / $n_total" | bc -l)" \
            "$(round_summary "$ratios" "$p99_wins")" "$(echo "$g_p99_total / $rounds" | bc -l)" "$(echo "$n_p99_total / $rounds" | bc -l)"
    done
done
gateway_rss_line
