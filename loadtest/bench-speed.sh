#!/usr/bin/env bash
# Issue 20's table in one run: five scenarios with wrk against Marquee's gateway and against
# a peer, side by side, as ratios (idle connections' memory: loadtest/bench-idle.sh).
#
#   S1 GET /api/movies/{id} (cached)          S2 GET /api/watchlist/user/{id} (20 entries)
#   S3 POST /api/movies/batch (50 ids)        S4 POST /api/watchlist (random pairs; the
#   S5 GET /api/movies?genre=Drama               contract's 409 for a repeated pair counts as non-2xx)
#
# The peer is the URL given (the seed's FastAPI stack as reconstructed in loadtest/peer/:
# `loadtest/peer/run.sh up` prints its URL); without one, nginx in front of the same services
# is started as the anchor (2 workers, keep-alive upstream pools, the seed's routes), so the
# ratio is then "our gateway vs nginx on our services". The data set (1,000 movies, 200 users x
# 20 entries) is seeded through the gateway, and through the peer's URL, when missing
# (idempotent); the scenarios pick ids from each target's own lists, so the two need not
# share ids. Each scenario's line ends with the 1-minute load average after its rounds.
#
# Usage: RATE_LIMIT_RPS=0 deploy/dev up   (the gateway's per-client limit off: all is 127.0.0.1)
#        loadtest/bench-speed.sh [seconds] [connections] [rounds] [peer-url]
# Environment: GATEWAY_URL (http://127.0.0.1:8080), USER_SERVICE_PORT, MOVIE_SERVICE_PORT,
# WATCHLIST_SERVICE_PORT (8001-8003: nginx's upstreams), WRK_THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/bench-lib.sh
source loadtest/bench-lib.sh
duration=${1:-8}
connections=${2:-64}
rounds=${3:-3}
peer=${4:-}
system_under_test bench-speed

bench_workspace speed
machine_line
printf 'uptime:%s\n' "$(uptime)"
# seed URL: the data set through URL. Seeding is idempotent: a failure or two (a loaded
# machine) are filled by the next run.
seed() {
    "$loadtest" seed --url "$1" --movies 1000 --users 200 --per-user 20 2>&1 | tail -n 2 || true
}

# pick_ids URL NAME: the ids the scenarios pick from at URL, as Lua tables in $work/NAME.lua,
# and how long the list S2 will read there is. S4 adds entries that stay: after an earlier run
# the lists are longer than 20 (and Marquee serves pages of up to 100, the default limit), so a
# run that is not the 20-entry scenario says so (a fresh data folder restores it).
pick_ids() {
    local movie_ids user_ids sample_user list_length
    movie_ids=$(curl -fsS "$1/api/movies?limit=1000" | jq -r '[.[].id] | join(",")')
    user_ids=$(curl -fsS "$1/api/users?limit=200" | jq -r '[.[].id] | join(",")')
    [[ -n $movie_ids && -n $user_ids ]] || { echo "bench-speed: no movies or users to pick from at $1" >&2; exit 1; }
    sample_user=${user_ids%%,*}
    list_length=$(curl -fsS "$1/api/watchlist/user/$sample_user" | jq length)
    printf 's2 lists (%s): user %s has %s entries%s\n' "$2" "$sample_user" "$list_length" \
        "$([[ $list_length == 20 ]] || echo ' (not the 20 of the scenario: S4 of an earlier run added the rest)')"
    cat >"$work/$2.lua" <<LUA
movies = {$movie_ids}
users = {$user_ids}
-- Each wrk thread draws its own sequence (seeded by time and thread number): with one seed
-- for all, every thread sent the same pairs and half of S4's adds were repeats (409).
threads = 0
function setup(thread) threads = threads + 1; thread:set("thread_number", threads) end
function init(args) math.randomseed(os.time() * 100 + thread_number) end
function pick(list) return list[math.random(#list)] end
LUA
}

seed "$gateway"
pick_ids "$gateway" ours
if [[ -n $peer ]]; then
    seed "$peer"
    pick_ids "$peer" peer
fi
scenario() { # NAME LUA-BODY: the request function of scenario NAME, in $work/NAME.body.lua
    cat >"$work/$1.body.lua"
}
scenario s1 <<'LUA'
request = function() return wrk.format("GET", "/api/movies/" .. pick(movies)) end
LUA
scenario s2 <<'LUA'
request = function() return wrk.format("GET", "/api/watchlist/user/" .. pick(users)) end
LUA
scenario s3 <<'LUA'
request = function()
  local ids = {}
  for i = 1, 50 do ids[i] = pick(movies) end
  return wrk.format("POST", "/api/movies/batch", {["Content-Type"] = "application/json"},
    '{"movie_ids": [' .. table.concat(ids, ",") .. ']}')
end
LUA
scenario s4 <<'LUA'
request = function()
  return wrk.format("POST", "/api/watchlist", {["Content-Type"] = "application/json"},
    '{"user_id": ' .. pick(users) .. ', "movie_id": ' .. pick(movies) .. '}')
end
LUA
scenario s5 <<'LUA'
request = function() return wrk.format("GET", "/api/movies?genre=Drama") end
LUA

anchor=peer
if [[ -z $peer ]]; then
    anchor="nginx in front of the same services"
    port=$(free_port)
    start_nginx <<CONF
    upstream users { server 127.0.0.1:${USER_SERVICE_PORT:-8001}; keepalive 128; }
    upstream movies { server 127.0.0.1:${MOVIE_SERVICE_PORT:-8002}; keepalive 128; }
    upstream watchlist { server 127.0.0.1:${WATCHLIST_SERVICE_PORT:-8003}; keepalive 128; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen 127.0.0.1:$port reuseport;
        location = / { return 200 '{"service": "nginx"}'; }
        location /api/users { proxy_pass http://users; }
        location /api/auth { proxy_pass http://users; }
        location /api/movies { proxy_pass http://movies; }
        location /api/watchlist { proxy_pass http://watchlist; }
    }
CONF
    peer="http://127.0.0.1:$port"
    for _ in $(seq 50); do curl -fsS -m 1 "$peer/" >/dev/null 2>&1 && break; sleep 0.1; done
    cp "$work/ours.lua" "$work/peer.lua"  # the same services, the same ids
fi
# The wrk script of each scenario for each target: that target's ids, then the scenario.
for id in s1 s2 s3 s4 s5; do
    for side in ours peer; do cat "$work/$side.lua" "$work/$id.body.lua" >"$work/$id-$side.lua"; done
done

printf '\nwrk -t%s -c%s -d%ss, %s rounds per scenario, order alternating; anchor: %s (%s)\n' \
    "${WRK_THREADS:-2}" "$connections" "$duration" "$rounds" "$anchor" "$peer"
printf '%-4s %-34s %12s %9s %8s | %12s %9s %8s | %s | %s\n' id scenario "marquee r/s" "p99 ms" non2xx "peer r/s" "p99 ms" \
    non2xx "ratio (median of rounds)" "load after"
declare -A names=([s1]="GET /api/movies/{id}" [s2]="GET /api/watchlist/user/{id}" [s3]="POST /api/movies/batch (50)"
    [s4]="POST /api/watchlist" [s5]="GET /api/movies?genre=Drama")
for id in s1 s2 s3 s4 s5; do
    measure() { # URL: one measured wrk run of scenario $id with that target's script
        local side=ours
        [[ $1 == "$gateway" ]] || side=peer
        wrk -t"${WRK_THREADS:-2}" -c"$connections" -d"${duration}s" --latency -s "$work/$id-$side.lua" "$1" >"$work/wrk.out"
        awk '/Requests\/sec/ {r=$2} $1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; p=v} /Non-2xx/ {e=$NF} END {print r, p, e+0}' "$work/wrk.out"
    }
    wrk -t2 -c"$connections" -d2s -s "$work/$id-ours.lua" "$gateway" >/dev/null
    wrk -t2 -c"$connections" -d2s -s "$work/$id-peer.lua" "$peer" >/dev/null
    ratios=()
    sums=(0 0 0 0 0 0)
    for round in $(seq "$rounds"); do
        read -r -a row <<<"$(measure_alternating "$round" "$gateway" "$peer")"
        ratios+=("$(echo "${row[0]} / ${row[3]}" | bc -l)")
        for i in 0 1 2 3 4 5; do sums[i]=$(echo "${sums[i]} + ${row[i]}" | bc -l); done
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
    printf '%-4s %-34s %12.0f %9.2f %8.0f | %12.0f %9.2f %8.0f | %.2f (%s) | %s\n' "$id" "${names[$id]}" \
        "$(echo "${sums[0]} / $rounds" | bc -l)" "$(echo "${sums[1]} / $rounds" | bc -l)" "$(echo "${sums[2]} / $rounds" | bc -l)" \
        "$(echo "${sums[3]} / $rounds" | bc -l)" "$(echo "${sums[4]} / $rounds" | bc -l)" "$(echo "${sums[5]} / $rounds" | bc -l)" \
        "$median" "$(printf '%.2f ' "${ratios[@]}")" "$(cut -d' ' -f1 /proc/loadavg)"
done

