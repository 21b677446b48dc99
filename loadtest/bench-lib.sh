# shellcheck shell=bash
# Shared by the loadtest/bench-*.sh scripts: free ports, one wrk measurement, the machine line.
# Source it after `cd` to the repository root; it defines functions only.

# shellcheck source=deploy/lib/packages
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib/packages"  # free_port

# require_tools TOOL...: installs the Debian package of each missing TOOL (deploy/lib/packages),
# then fails with the tool's name if it is still missing.
require_tools() {
    local tool package
    local -a packages=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null && continue
        case $tool in
        nginx) package=nginx-light ;;
        h2load | nghttp) package=nghttp2-client ;;
        redis-benchmark | redis-cli) package=redis-tools ;;
        pgbench) package=postgresql-client-15 ;;
        *) package=$tool ;;
        esac
        packages+=("$package")
    done
    ((${#packages[@]} == 0)) || ensure_packages "${packages[@]}" || return 1
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { printf '%s: %s is missing\n' "$(basename "$0")" "$tool" >&2; return 1; }
    done
}

# machine_line: cores, CPU model, memory, OS, kernel and load average, for the results.
machine_line() {
    printf 'machine: %s cores (%s), %s, %s, %s; load average %s\n' "$(nproc)" \
        "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
        "$(grep -oP '^PRETTY_NAME="\K[^"]*' /etc/os-release)" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# placement_line LOGFILE: how our server placed its loops, from the line it logged at start
# ("pinned ..., connections steered by CPU" or "floating, connections spread by hash"), and
# how nginx's workers are placed. AFFINITY=off runs our servers with floating loops.
placement_line() {
    local ours
    ours=$(grep -o -m1 -E '(pinned|floating)[^)]*' "$1" || echo "unknown")
    printf 'placement: ours %s (AFFINITY=%s); nginx workers %s\n' "$ours" "${AFFINITY:-auto}" \
        "$([[ -n ${NGINX_CPU_AFFINITY:-} ]] && echo "pinned (worker_cpu_affinity $NGINX_CPU_AFFINITY)" || echo floating)"
}

# wrk_measure URL CONNECTIONS SECONDS OUTFILE: one `wrk -t$WRK_THREADS` run (2 threads unless
# WRK_THREADS says otherwise: with 1, wrk takes one core and the servers share the other, a
# stricter test of their CPU per request); prints "requests_per_second p99_ms non2xx".
wrk_measure() {
    wrk -t"${WRK_THREADS:-2}" -c"$2" -d"${3}s" --latency "$1" >"$4"
    local rps p99 errors
    rps=$(awk '/Requests\/sec/ {print $2}' "$4")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}' "$4")
    errors=$(awk '/Non-2xx/ {print $NF}' "$4")
    echo "$rps $p99 ${errors:-0}"
}

# measure_alternating ROUND URL_A URL_B: measures both targets with the caller's `measure`
# (which prints "req/s p99 non2xx"), A first in odd rounds and B first in even ones, so that
# neither always follows the other's run; prints A's three figures, then B's, on one line.
measure_alternating() {
    local a b
    if (( $1 % 2 == 1 )); then
        a=$(measure "$2"); b=$(measure "$3")
    else
        b=$(measure "$3"); a=$(measure "$2")
    fi
    echo "$a $b"
}

# system_under_test NAME: sets $gateway (GATEWAY_URL, default http://127.0.0.1:8080) and
# $loadtest (built when missing), and stops unless the running system is healthy there.
system_under_test() {
    gateway=${GATEWAY_URL:-http://127.0.0.1:8080}
    loadtest=.build/release/loadtest
    [[ -x "$loadtest" ]] || swift build -c release --static-swift-stdlib --product loadtest >/dev/null
    curl -fsS -m 2 "$gateway/api/health/movies" >/dev/null || {
        echo "$1: nothing healthy at $gateway; run 'RATE_LIMIT_RPS=0 deploy/dev up' first" >&2
        exit 1
    }
}

# warm_up URL...: a short discarded wrk run against each target, so that no target's first
# measured round pays for cold caches, connection set-up or a CPU still clocking up.
warm_up() {
    local url
    for url in "$@"; do wrk -t2 -c"${connections:-64}" -d2s "$url" >/dev/null; done
}

# bench_workspace NAME: a scratch directory in $work and a $pids list; on exit every pid in
# the list is stopped and the directory removed. Append each background process's $! to pids.
bench_workspace() {
    work=$(mktemp -d "/tmp/marquee-bench-$1.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

# start_nginx <<CONF ... CONF: runs nginx (2 workers, no access log, keep-alive without a
# request cap, config in $work/nginx) with the lines on stdin inside its `http { }`; adds its
# pid to pids. NGINX_CPU_AFFINITY=auto pins its workers one per CPU (`worker_cpu_affinity
# auto`), for comparing with our pinned loops; by default they float, as nginx ships.
# NGINX_WORKER_CONNECTIONS: each worker's connection limit (4096; the idle benchmark raises it).
start_nginx() {
    local block
    block=$(cat)
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 2;
${NGINX_CPU_AFFINITY:+worker_cpu_affinity $NGINX_CPU_AFFINITY;}
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log crit;
worker_rlimit_nofile $(( ${NGINX_WORKER_CONNECTIONS:-4096} + 1024 ));
events { worker_connections ${NGINX_WORKER_CONNECTIONS:-4096}; }
http {
    access_log off;
    keepalive_requests 1000000;
$block
}
CONF
    nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
    pids+=($!)
}

# round_summary RATIOS P99_WINS: the per-round view of an alternating comparison, which a
# drifting machine disturbs less than the means do: the median of the rounds' ratios
# (ours/anchor), in how many rounds ours was at least as fast, and in how many its p99 was
# no higher. RATIOS is a space-separated list; P99_WINS a count.
round_summary() {
    local values median ahead
    read -r -a values <<<"$1"
    median=$(printf '%s\n' "${values[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
    ahead=$(printf '%s\n' "${values[@]}" | awk '$1 >= 1 {n++} END {print n + 0}')
    printf 'per round: median ratio %.2f, at least as fast in %d of %d, p99 no higher in %d of %d' \
        "$median" "$ahead" "${#values[@]}" "$2" "${#values[@]}"
}

# wait_port PORT: waits (5 s at most) until something listens on 127.0.0.1:PORT, else exits.
wait_port() {
    for _ in $(seq 1 50); do
        python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: nothing listens on $1" >&2
    exit 1
}

# start_proxied_upstream: the release builds of bench-server and the gateway, a self-signed certificate for localhost in $work/cert.pem and
# key.pem, bench-server (2 loops) on $upstream_port, and our gateway (LOOPS=2) in front of it
# on $gateway_port and, with TLS, $gateway_tls_port, with the features nginx has off switched
# off too (access log, rate limit, health probes); $gateway_pid is the gateway's. Both are
# added to pids. AFFINITY=off floats their loops.
start_proxied_upstream() {
    swift build -c release --static-swift-stdlib --product bench-server >/dev/null
    swift build -c release --static-swift-stdlib --product gateway >/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    upstream_port=$(free_port)
    .build/release/bench-server --port "$upstream_port" --loops 2 --affinity "${AFFINITY:-auto}" >"$work/upstream.log" 2>&1 &
    pids+=($!)
    wait_port "$upstream_port"
    gateway_port=$(free_port)
    gateway_tls_port=$(free_port)
    env PORT="$gateway_port" TLS_PORT="$gateway_tls_port" LOOPS=2 LOOP_AFFINITY="${AFFINITY:-auto}" \
        MOVIE_SERVICE_URL="http://127.0.0.1:$upstream_port" \
        TLS_CERT="$work/cert.pem" TLS_KEY="$work/key.pem" \
        ACCESS_LOG=false RATE_LIMIT_RPS=0 HEALTH_CHECK_INTERVAL=0 \
        .build/release/gateway >"$work/gateway.log" 2>&1 &
    pids+=($!)
    gateway_pid=$!
    wait_port "$gateway_port"
}

# nginx_movie_upstream: the `upstream` block of that nginx, a keep-alive pool to bench-server.
nginx_movie_upstream() {
    cat <<CONF
    upstream movie_service {
        server 127.0.0.1:$upstream_port;
        keepalive 128;
        keepalive_requests 1000000;
    }
CONF
}

# nginx_proxy_location: the `location` block of the nginx that stands where our gateway does,
# configured as well as it can be: the upstream pool `movie_service`, HTTP/1.1 keep-alive to
# it, the same forwarded fields, no buffering of small bodies beyond nginx's default.
nginx_proxy_location() {
    cat <<CONF
        location /api/movies {
            proxy_pass http://movie_service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering on;
        }
CONF
}

# gateway_rss_line: the gateway's RSS now and at its peak (VmHWM).
gateway_rss_line() {
    echo "gateway RSS: now $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$gateway_pid/status"), peak $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$gateway_pid/status")"
}
