#!/usr/bin/env bash
# Issue 20's table in one run: five scenarios with wrk against Marquee's gateway and against
# a peer, side by side, as ratios (idle connections' memory: loadtest/bench-idle.sh).
#
#   S1 GET /api/movies/{id} (cached)          S2 GET /api/watchlist/user/{id} (20 entries)
#   S3 POST /api/movies/batch (50 ids)        S4 POST /api/watchlist (random pairs; the
#   S5 GET /api/movies?genre=Drama               contract's 409 for a repeated pair counts as non-2xx)
#
# The peer is the URL given (the seed's FastAPI stack, say, holding the same data set);
# without one, nginx in front of the same services is started as the anchor (2 workers,
# keep-alive upstream pools, the seed's routes), so the ratio is then "our gateway vs nginx
# on our services". The data set (1,000 movies, 200 users x 20 entries) is seeded through
# the gateway when missing (idempotent); a peer URL must hold the same data.
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
# Seeding is idempotent: a failure or two (a loaded machine) are filled by the next run.
"$loadtest" seed --url "$gateway" --movies 1000 --users 200 --per-user 20 2>&1 | tail -n 2 || true

# The ids the scenarios pick from, as Lua tables.
movie_ids=$(curl -fsS "$gateway/api/movies?limit=1000" | jq -r '[.[].id] | join(",")')
user_ids=$(curl -fsS "$gateway/api/users?limit=200" | jq -r '[.[].id] | join(",")')
[[ -n $movie_ids && -n $user_ids ]] || { echo "bench-speed: no movies or users to pick from" >&2; exit 1; }
# S4 adds entries that stay: after an earlier run the lists are longer than 20 and S2 serves
# pages of up to 100 (the default limit). Say what S2 will list, so such a run is not read
# as the 20-entry scenario (a fresh data folder restores it).
sample_user=${user_ids%%,*}
list_length=$(curl -fsS -o /dev/null -w '%header{x-total-count}' "$gateway/api/watchlist/user/$sample_user")
printf 's2 lists: user %s has %s entries%s\n' "$sample_user" "$list_length" \
    "$([[ $list_length == 20 ]] || echo ' (not the 20 of the scenario: S4 of an earlier run added the rest)')"
cat >"$work/common.lua" <<LUA
movies = {$movie_ids}
users = {$user_ids}
math.randomseed(os.time())
function pick(list) return list[math.random(#list)] end
LUA
scenario() { # NAME LUA-BODY: a wrk script (with the common tables) in $work/NAME.lua
    { cat "$work/common.lua"; cat; } >"$work/$1.lua"
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
fi

printf '\nwrk -t%s -c%s -d%ss, %s rounds per scenario, order alternating; anchor: %s (%s)\n' \
    "${WRK_THREADS:-2}" "$connections" "$duration" "$rounds" "$anchor" "$peer"
printf '%-4s %-34s %12s %9s %8s | %12s %9s %8s | %s\n' id scenario "marquee r/s" "p99 ms" non2xx "peer r/s" "p99 ms" \
    non2xx "ratio (median of rounds)"
declare -A names=([s1]="GET /api/movies/{id}" [s2]="GET /api/watchlist/user/{id}" [s3]="POST /api/movies/batch (50)"
    [s4]="POST /api/watchlist" [s5]="GET /api/movies?genre=Drama")
for id in s1 s2 s3 s4 s5; do
    wrk_args=(-s "$work/$id.lua")
    measure() {
        wrk -t"${WRK_THREADS:-2}" -c"$connections" -d"${duration}s" --latency "${wrk_args[@]}" "$1" >"$work/wrk.out"
        awk '/Requests\/sec/ {r=$2} $1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; p=v} /Non-2xx/ {e=$NF} END {print r, p, e+0}' "$work/wrk.out"
    }
    wrk -t2 -c"$connections" -d2s "${wrk_args[@]}" "$gateway" >/dev/null
    wrk -t2 -c"$connections" -d2s "${wrk_args[@]}" "$peer" >/dev/null
    ratios=()
    sums=(0 0 0 0 0 0)
    for round in $(seq "$rounds"); do
        read -r -a row <<<"$(measure_alternating "$round" "$gateway" "$peer")"
        ratios+=("$(echo "${row[0]} / ${row[3]}" | bc -l)")
        for i in 0 1 2 3 4 5; do sums[i]=$(echo "${sums[i]} + ${row[i]}" | bc -l); done
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
    printf '%-4s %-34s %12.0f %9.2f %8.0f | %12.0f %9.2f %8.0f | %.2f (%s)\n' "$id" "${names[$id]}" \
        "$(echo "${sums[0]} / $rounds" | bc -l)" "$(echo "${sums[1]} / $rounds" | bc -l)" "$(echo "${sums[2]} / $rounds" | bc -l)" \
        "$(echo "${sums[3]} / $rounds" | bc -l)" "$(echo "${sums[4]} / $rounds" | bc -l)" "$(echo "${sums[5]} / $rounds" | bc -l)" \
        "$median" "$(printf '%.2f ' "${ratios[@]}")"
done

