#!/usr/bin/env bash
# What an idle keep-alive connection costs, in resident memory: N clients each make one request
# and stay connected, silent; the server's RSS before and after, divided by N. Three servers in
# one run, each started fresh: our gateway (its own `GET /`), bench-server (our runtime's HTTP
# server with the smallest route, as a service's server layer) and nginx (2 workers,
# `return 200`; master and workers summed). With the gateway's connections still held, wrk
# against its `GET /` for the p99 of active requests beside them, alternating with a second
# gateway that holds none (P99_ROUNDS rounds, default 3).
#
# Usage: loadtest/bench-idle.sh [connections...]   (default 10000; e.g. 10000 100000)
# Past 25,000 the clients spread over 127.0.0.2, .3, ... (loopback answers on all of 127/8).
# Each process (client, server) needs N + 500 descriptors: the script raises its soft limit to
# the hard limit (inherited by the client and the servers), and the hard limit too when it
# has CAP_SYS_RESOURCE (up to fs.nr_open). A count that does not fit is measured at the
# largest that does (in thousands), and the script says why. Prints what it got.
# IDLE_PROTOCOLS: the gateway's other kinds of idle connection to measure too (default
# "https h2c": TLS with one request each, HTTP/2 with prior knowledge and no request; "" for
# none); with https, nginx over TLS (same certificate) too, as the anchor.
# GATEWAY_BIN, BENCH_SERVER_BIN: other builds to measure (default .build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
counts=("$@")
((${#counts[@]})) || counts=(10000)
largest=$(printf '%s\n' "${counts[@]}" | sort -n | tail -n 1)
soft_before=$(ulimit -Sn)
hard=$(ulimit -Hn)
cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
nr_open=$(cat /proc/sys/fs/nr_open)
has_sys_resource=$(((16#$cap_eff >> 24) & 1)) # CAP_SYS_RESOURCE is capability 24
if ((largest + 500 > hard && has_sys_resource)); then
    want=$((largest + 500 < nr_open ? largest + 500 : nr_open))
    ulimit -Hn "$want" 2>/dev/null && hard=$want
fi
ulimit -Sn "$hard"
fd_limit=$(ulimit -Sn)
fits=$(((fd_limit - 500) / 1000 * 1000))
printf 'descriptors per process: soft limit %s -> %s (hard %s; fs.nr_open %s; CAP_SYS_RESOURCE %s, CapEff %s)\n' \
    "$soft_before" "$fd_limit" "$hard" "$nr_open" "$( ((has_sys_resource)) && echo yes || echo no)" "$cap_eff"
for index in "${!counts[@]}"; do
    if ((counts[index] > fits)); then
        printf 'bench-idle: %s connections need %s descriptors in each process, above the hard limit %s; ' \
            "${counts[index]}" "$((counts[index] + 500))" "$hard"
        if ((has_sys_resource)); then
            printf 'fs.nr_open (%s) caps it\n' "$nr_open"
        else
            printf 'raising it needs CAP_SYS_RESOURCE, which this process lacks\n'
        fi
        printf 'bench-idle: measuring %s instead\n' "$fits"
        counts[index]=$fits
    fi
done
gateway_bin=${GATEWAY_BIN:-.build/release/gateway}
bench_server_bin=${BENCH_SERVER_BIN:-.build/release/bench-server}
[[ -x $gateway_bin && -x $bench_server_bin ]] ||
    { swift build -c release --static-swift-stdlib --product gateway && swift build -c release --static-swift-stdlib --product bench-server; } >/dev/null

bench_workspace idle
IDLE_PROTOCOLS=${IDLE_PROTOCOLS-https h2c}
P99_ROUNDS=${P99_ROUNDS:-3}
if [[ -n $IDLE_PROTOCOLS ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
fi
machine_line
printf 'uptime:%s\n' "$(uptime)"
wait_port() {
    for _ in $(seq 1 100); do
        curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$1/${2:-}" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench-idle: nothing answers on $1" >&2
    exit 1
}
stop() { # PID: stops one server we started, waits for it
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
p99() { # URL: wrk -t2 -c64 for 5 s: its p99 and req/s
    wrk -t2 -c64 -d5s --latency "$1" | awk '/Requests\/sec/ {r=$2} $1 == "99%" {p=$2} END {print "p99 " p ", " r " req/s"}'
}

nginx_idle() { # LABEL SCHEME: a fresh nginx answering `return 200` over SCHEME; its idle cost
    local label=$1 scheme=$2 port listen master
    port=$(free_port)
    listen="listen 127.0.0.1:$port reuseport;"
    [[ $scheme == http ]] ||
        listen="listen 127.0.0.1:$port ssl reuseport; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;"
    NGINX_WORKER_CONNECTIONS=$((count + 1000)) start_nginx <<CONF
    server {
        $listen
        keepalive_timeout 600s;
        location / { return 200 'ok'; }
    }
CONF
    for _ in $(seq 1 100); do
        curl -kfsS -m 1 -o /dev/null "$scheme://127.0.0.1:$port/" 2>/dev/null && break
        sleep 0.1
    done
    master=$(cat "$work/nginx/nginx.pid")
    printf '%s: ' "$label"
    python3 loadtest/idle-rss.py --url "$scheme://127.0.0.1:$port/" --pids "$master,$(pgrep -d, -P "$master")" \
        --clients "$count" || true
    stop "$master"
}

for count in "${counts[@]}"; do
    printf '\n== %s idle connections\n' "$count"

    # Two gateways at once: A takes the idle connections, B none. Active requests go to each in
    # turn, P99_ROUNDS times, while A holds them: B is the same program on the same machine at
    # the same moments, without idle connections (the machine's load moves between rounds).
    start_gateway() { # PORT: a gateway serving GET / on PORT; sets gateway_pid
        env PORT="$1" LOOPS=2 MAX_CONNECTIONS=$((count + 1000)) ACCESS_LOG=false RATE_LIMIT_RPS=0 \
            HEALTH_CHECK_INTERVAL=0 KEEPALIVE_TIMEOUT=600s "$gateway_bin" >"$work/gateway-$1.log" 2>&1 &
        gateway_pid=$!
        pids+=("$gateway_pid")
        wait_port "$1"
    }
    port=$(free_port)
    start_gateway "$port"
    pid=$gateway_pid
    port_b=$(free_port)
    start_gateway "$port_b"
    pid_b=$gateway_pid
    rm -f "$work/idle.out"  # the previous count's
    python3 loadtest/idle-rss.py --url "http://127.0.0.1:$port/" --pids "$pid" --clients "$count" \
        --hold $((P99_ROUNDS * 11 + 2)) >"$work/idle.out" &
    holder=$!
    while [[ ! -s $work/idle.out ]] && kill -0 "$holder" 2>/dev/null; do sleep 0.5; done
    printf 'gateway: %s\n' "$(cat "$work/idle.out")"
    for round in $(seq 1 "$P99_ROUNDS"); do
        beside=$(p99 "http://127.0.0.1:$port/")
        alone=$(p99 "http://127.0.0.1:$port_b/")
        printf 'gateway GET /, wrk -t2 -c64 5 s, round %s: beside the idle connections %s; another gateway without them %s\n' \
            "$round" "$beside" "$alone"
    done
    wait "$holder" || true
    stop "$pid"
    stop "$pid_b"

    # The same at the gateway over TLS (https, ALPN http/1.1; nginx https below is its anchor)
    # and over h2c (no request sent: an HTTP/2 connection does not park).
    for kind in $IDLE_PROTOCOLS; do
        port=$(free_port)
        tls_port=$(free_port)
        env PORT="$port" TLS_PORT="$tls_port" TLS_CERT="$work/cert.pem" TLS_KEY="$work/key.pem" LOOPS=2 \
            MAX_CONNECTIONS=$((count + 1000)) ACCESS_LOG=false RATE_LIMIT_RPS=0 HEALTH_CHECK_INTERVAL=0 \
            KEEPALIVE_TIMEOUT=600s HTTP_MODE=serve "$gateway_bin" >"$work/gateway-$kind.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        wait_port "$port"
        printf 'gateway %s: ' "$kind"
        if [[ $kind == https ]]; then
            python3 loadtest/idle-rss.py --url "https://127.0.0.1:$tls_port/" --pids "$pid" --clients "$count" || true
        else
            python3 loadtest/idle-rss.py --url "http://127.0.0.1:$port/" --h2c --pids "$pid" --clients "$count" || true
        fi
        stop "$pid"
    done

    port=$(free_port)
    "$bench_server_bin" --port "$port" --loops 2 --max-connections $((count + 1000)) >"$work/bench-server.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_port "$port" plaintext
    printf 'bench-server: '
    python3 loadtest/idle-rss.py --url "http://127.0.0.1:$port/plaintext" --pids "$pid" --clients "$count" || true
    stop "$pid"

    nginx_idle nginx http
    [[ $IDLE_PROTOCOLS != *https* ]] || nginx_idle 'nginx https' https
done
