#!/usr/bin/env bash
# The seed's FastAPI + nginx system, as RECONSTRUCTED in loadtest/peer/ (not the original code:
# see loadtest/peer/README.md), started on free 127.0.0.1 ports beside whatever else runs, as
# the peer of loadtest/bench-speed.sh.
#
#   loadtest/peer/run.sh up      venv, PostgreSQL 15 (userdb, moviedb, watchlistdb), Redis, the
#                                three services (uvicorn, one worker each) and nginx; waits for
#                                the gateway's three health routes; prints the peer's base URL
#   loadtest/peer/run.sh down    stops what `up` started (by the pids it recorded), removes its
#                                data; the venv stays for the next `up`
#   loadtest/peer/run.sh status  the base URL and the pids when up
#
# Environment: PEER_STATE_DIR (where everything lives; default ${TMPDIR:-/tmp}/marquee-peer),
# PEER_ACCESS_LOG (on: uvicorn's and nginx's access logs written, as the seed's containers
# write them; off: none), PEER_HEALTH_TIMEOUT (seconds `up` waits for health, default 60).
set -euo pipefail

MARQUEE_LOG_TAG=peer
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/lib/common
source "$repo/deploy/lib/common"
# shellcheck source=deploy/lib/packages
source "$repo/deploy/lib/packages"

state=${PEER_STATE_DIR:-${TMPDIR:-/tmp}/marquee-peer}
state=$(abs_path "$state")
venv=$state/venv
services=(user movie watchlist)

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# make_venv: $venv with requirements.txt installed; reused while the requirements are unchanged.
make_venv() {
    local stamp=$venv/.requirements
    if [[ -x $venv/bin/uvicorn ]] && cmp -s "$here/requirements.txt" "$stamp"; then
        return 0
    fi
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
        rm -rf "$venv"
        ensure_packages python3-venv
        python3 -m venv "$venv"
    fi
    info "installing the peer's Python packages into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
}

# distinct_ports N: N free ports on 127.0.0.1, no two alike.
distinct_ports() {
    local -a ports=()
    local port
    while ((${#ports[@]} < $1)); do
        port=$(free_port)
        [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
    done
    printf '%s\n' "${ports[@]}"
}

# start_process NAME LOG COMMAND...: COMMAND in the background, its pid in $state/NAME.pid.
start_process() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    write_pidfile "$state/$name.pid" "$!"
}

# stop_process NAME: stops the process of $state/NAME.pid if it is still the one started.
stop_process() {
    local pid
    if pid=$(pidfile_process "$state/$1.pid"); then
        stop_pid "$pid" "$1" 10
        info "stopped $1 (pid $pid)"
    fi
    rm -f "$state/$1.pid"
}

# healthy URL: the gateway's three health routes answer 200.
healthy() {
    local service
    for service in users movies watchlist; do
        curl -fsS -m 2 -o /dev/null "$1/api/health/$service" 2>/dev/null || return 1
    done
}

cmd_up() {
    local url
    if [[ -f $state/url ]] && url=$(<"$state/url") && healthy "$url"; then
        info "already up"
        printf '%s\n' "$url"
        return 0
    fi
    [[ ! -e $state/pg && ! -e $state/nginx ]] ||
        die "$state holds a peer that is not healthy: run '$0 down' first"
    ensure_packages postgresql-15 redis-server redis-tools nginx-light curl
    mkdir -p "$state/logs"
    make_venv
    trap 'warn "up failed: stopping what was started"; cmd_down' EXIT

    local pg_port redis_port gateway_port
    local -A port
    {
        read -r pg_port
        read -r redis_port
        read -r "port[user]"
        read -r "port[movie]"
        read -r "port[watchlist]"
        read -r gateway_port
    } < <(distinct_ports 6)

    # One PostgreSQL 15 cluster holding the seed's three databases and roles (the seed ran one
    # server per database). Not throw-away: fsync on, as in the seed's postgres:15 containers.
    bash "$repo/deploy/lib/pg-cluster" init "$state/pg" "$pg_port"
    bash "$repo/deploy/lib/pg-cluster" start "$state/pg" "$pg_port"
    bash "$repo/deploy/lib/pg-cluster" create-service-dbs "$state/pg" "$pg_port"
    bash "$repo/deploy/lib/redis-server" start "$state/redis" "$redis_port"

    local service driver access_log=()
    [[ ${PEER_ACCESS_LOG:-on} == on ]] || access_log=(--no-access-log)
    for service in "${services[@]}"; do
        # The watchlist service's database driver is asyncpg (README: why).
        driver=postgresql
        [[ $service != watchlist ]] || driver=postgresql+asyncpg
        # As the seed's Dockerfiles run them: `uvicorn main:app`, one worker (no __pycache__
        # left in the source tree).
        start_process "$service-service" "$state/logs/$service-service.log" \
            env PYTHONDONTWRITEBYTECODE=1 DATABASE_URL="$driver://$service:${service}_pass@127.0.0.1:$pg_port/${service}db" \
            REDIS_HOST=127.0.0.1 REDIS_PORT="$redis_port" \
            USER_SERVICE_URL="http://127.0.0.1:${port[user]}" MOVIE_SERVICE_URL="http://127.0.0.1:${port[movie]}" \
            "$venv/bin/uvicorn" --app-dir "$here/$service-service" main:app \
            --host 127.0.0.1 --port "${port[$service]}" "${access_log[@]}"
    done

    mkdir -p "$state/nginx"
    sed -e "s#@STATE@#$state#g" -e "s#@USER_PORT@#${port[user]}#" -e "s#@MOVIE_PORT@#${port[movie]}#" \
        -e "s#@WATCHLIST_PORT@#${port[watchlist]}#" -e "s#@GATEWAY_PORT@#$gateway_port#" \
        "$here/nginx/nginx.conf" >"$state/nginx/nginx.conf"
    [[ ${PEER_ACCESS_LOG:-on} == on ]] || sed -i "s#access_log $state/nginx/access.log;#access_log off;#" "$state/nginx/nginx.conf"
    nginx -t -q -c "$state/nginx/nginx.conf" -p "$state/nginx" 2>"$state/logs/nginx-test.log" ||
        die "nginx refused its config: $(cat "$state/logs/nginx-test.log")"
    start_process nginx "$state/logs/nginx.log" nginx -c "$state/nginx/nginx.conf" -p "$state/nginx"

    url="http://127.0.0.1:$gateway_port"
    local deadline=$((SECONDS + ${PEER_HEALTH_TIMEOUT:-60}))
    until healthy "$url"; do
        for service in "${services[@]/%/-service}" nginx; do
            pidfile_process "$state/$service.pid" >/dev/null ||
                die "$service exited; last lines of its log:
$(tail -n 20 "$state/logs/$service.log")"
        done
        ((SECONDS < deadline)) || die "not healthy at $url within ${PEER_HEALTH_TIMEOUT:-60} s"
        sleep 0.5
    done
    printf '%s\n' "$url" >"$state/url"
    trap - EXIT
    info "up: gateway $url (user ${port[user]}, movie ${port[movie]}, watchlist ${port[watchlist]}, PostgreSQL $pg_port, Redis $redis_port; state $state)"
    printf '%s\n' "$url"
}

cmd_down() {
    local service
    [[ -d $state ]] || { info "nothing to stop ($state does not exist)"; return 0; }
    stop_process nginx
    for service in "${services[@]}"; do stop_process "$service-service"; done
    if [[ -d $state/redis ]]; then bash "$repo/deploy/lib/redis-server" stop "$state/redis"; fi
    if [[ -d $state/pg ]]; then bash "$repo/deploy/lib/pg-cluster" stop "$state/pg"; fi
    rm -rf "$state/pg" "$state/redis" "$state/nginx" "$state/logs" "$state/url"
    info "down (the venv in $venv stays)"
}

cmd_status() {
    local name pid
    [[ -f $state/url ]] || { info "down"; return 3; }
    info "gateway $(<"$state/url")"
    for name in nginx "${services[@]/%/-service}"; do
        pid=$(pidfile_process "$state/$name.pid") || pid="not running"
        info "$name: $pid"
    done
}

case ${1-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
