#!/usr/bin/env bash
# End-to-end test: the real executables (release build), a throw-away PostgreSQL cluster and
# Redis on free ports, and curl through the gateway. It runs the seed's "Complete Example
# Workflow", every endpoint of API.md, HTTPS, a movie-service outage and recovery, then stops
# everything and checks that nothing it started is left. Ends with "N passed, N failed".
#
# Usage: tests/e2e.sh        (SKIP_BUILD=1 to use an existing .build/release)
# `A && pass || fail` is safe here: pass always succeeds.
# shellcheck disable=SC2015
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=$ROOT/deploy/lib
export MARQUEE_LOG_TAG=e2e

# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/common
source "$LIB/common"
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/packages
source "$LIB/packages"
# shellcheck source-path=SCRIPTDIR source=lib/stack
source "$ROOT/tests/lib/stack"
# shellcheck source-path=SCRIPTDIR source=lib/checks
source "$ROOT/tests/lib/checks"

# promtool (Debian's prometheus package) checks every service's /metrics below.
ensure_packages prometheus || die "could not install prometheus (promtool)"
build_release
trap stop_stack EXIT
# A header timeout far beyond the drain bound (SHUTDOWN_TIMEOUT, 10 s): the shutdown check
# below holds silent connections open, which only the drain may end in time.
STACK_ENV=(HEADER_TIMEOUT=120s)
start_stack

# ---------------------------------------------------------------------------- the seed's workflow

printf '\n== the seed'"'"'s Complete Example Workflow\n'
call GET /
expect "GET / names the gateway" 200 '.service == "api-gateway" and .status == "ok" and (.routes | length > 0)'
for path in users movies watchlist; do
    call GET "/api/health/$path"
    expect "health of $path" 200 '.status == "healthy" and .checks.database == "ok"'
done
call GET /api/health/movies
expect "movie health reports the cache" 200 '.checks.cache == "ok"'

call POST /api/users '{"name": "Alice", "email": "alice@example.com", "password": "pass123"}'
expect "1. create a user" 201 '.id == 1 and .name == "Alice" and .email == "alice@example.com" and (has("password") | not) and (has("password_hash") | not) and (.created_at | test("Z$"))'
[[ "$(header Location)" == "/api/users/1" ]] && pass "Location header of the new user" || fail "Location header: '$(header Location)'"

call POST /api/movies '{"title": "Inception", "director": "Christopher Nolan", "year": 2010, "genre": "Sci-Fi", "rating": 8.8}'
expect "2. create Inception" 201 '.id == 1 and .title == "Inception" and .rating == 8.8 and .year == 2010'
call POST /api/movies '{"title": "The Dark Knight", "director": "Christopher Nolan", "year": 2008, "genre": "Action", "rating": 9.0}'
expect "2. create The Dark Knight" 201 '.id == 2 and .genre == "Action"'
call POST /api/movies '{"title": "Interstellar", "director": "Christopher Nolan", "year": 2014, "genre": "Sci-Fi", "rating": 8.6}'
expect "2. create Interstellar" 201 '.id == 3'

for movie in 1 2 3; do
    call POST /api/watchlist "{\"user_id\": 1, \"movie_id\": $movie}"
    expect "3. add movie $movie to the watchlist" 201 ".user_id == 1 and .movie_id == $movie and (.added_at | test(\"Z$\"))"
done

call GET /api/watchlist/user/1
expect "4. the watchlist with movie info, newest first" 200 'length == 3 and .[0].movie_id == 3 and .[2].movie_id == 1 and .[0].movie.title == "Interstellar" and (.[0].movie | has("director"))'
call GET /api/watchlist/user/1/export
expect "5. the export with full movie objects" 200 '.user_id == 1 and .count == 3 and (.movies | length == 3) and (.movies[0] | has("created_at") and has("added_at")) and (.exported_at | test("Z$"))'
call POST /api/movies/batch '{"movie_ids": [1, 2, 3]}'
expect "6. batch retrieval in the order asked" 200 '[.[].id] == [1, 2, 3]'

# ---------------------------------------------------------------------------- users

printf '\n== users\n'
call POST /api/users '{"name": "Bob", "email": "BOB@Example.com", "password": "secret12"}'
expect "create Bob (email stored lower-case)" 201 '.id == 2 and .email == "bob@example.com"'
call POST /api/users '{"name": "Bobby", "email": "bob@example.com", "password": "secret12"}'
expect "same email in another case is a conflict" 409 '.detail | type == "string"'
call POST /api/users '{"name": "", "email": "not-an-email", "password": "123"}'
expect "validation errors in FastAPI's list form" 422 '[.detail[].loc[1]] | contains(["name", "email", "password"])'
call POST /api/users '{"name": "x", "email": ' 
expect "malformed JSON" 400 '.detail | type == "string"'
CONTENT_TYPE=application/x-www-form-urlencoded call POST /api/users 'name=x'
expect "a body that is not JSON" 415 '.detail | type == "string"'
call GET /api/users
expect "list users" 200 'length == 2 and .[0].id == 1'
[[ "$(header X-Total-Count)" == "2" ]] && pass "X-Total-Count on the user list" || fail "X-Total-Count: '$(header X-Total-Count)'"
call GET '/api/users?limit=1&offset=1'
expect "pagination" 200 'length == 1 and .[0].id == 2'
call GET '/api/users?limit=0'
expect "limit out of range" 422 '.detail[0].loc == ["query", "limit"]'
call GET /api/users/1
expect "get a user" 200 '.id == 1 and .name == "Alice"'
call GET /api/users/999
expect "unknown user" 404 '.detail == "User not found"'
call GET /api/users/abc
expect "non-integer user id" 422 '.detail[0].loc == ["path", "user_id"] or .detail[0].loc[0] == "path"'
call PUT /api/users/2 '{"name": "Robert"}'
expect "update a user (subset of fields)" 200 '.name == "Robert" and .email == "bob@example.com"'
call PATCH /api/users/2 '{"email": "robert@example.com"}'
expect "an email change needs the current password" 422 '.detail[0].loc == ["body", "current_password"]'
call PATCH /api/users/2 '{"email": "robert@example.com", "current_password": "wrong-one"}'
expect "a wrong current password" 403 '.detail == "Current password is incorrect"'
call PATCH /api/users/2 '{"email": "robert@example.com", "current_password": "secret12"}'
expect "PATCH behaves like PUT" 200 '.email == "robert@example.com" and .role == "user"'
call PUT /api/users/2 '{"email": "ALICE@example.com", "current_password": "secret12"}'
expect "update to a taken email" 409
call DELETE /api/users
expect "wrong method on a known path" 405
[[ -n "$(header Allow)" ]] && pass "405 carries Allow ($(header Allow))" || fail "405 without Allow"

printf '\n== authentication\n'
call POST /api/auth/login '{"email": "alice@example.com", "password": "pass123"}'
expect "login" 200 '.token_type == "bearer" and (.access_token | length > 20) and .user.id == 1 and .expires_in > 0'
TOKEN=$(jq -r .access_token <<<"$BODY")
call GET /api/auth/me "" -H "Authorization: Bearer $TOKEN"
expect "me with the token" 200 '.id == 1'
call GET /api/auth/me
expect "me without a token" 401
call POST /api/auth/login '{"email": "alice@example.com", "password": "wrong-one"}'
expect "wrong password" 401 '.detail == "Invalid email or password"'
call POST /api/auth/login '{"email": "nobody@example.com", "password": "wrong-one"}'
expect "unknown email gets the same answer" 401 '.detail == "Invalid email or password"'
call GET /api/users/1 "" -H "X-Request-ID: e2e-request-42"
[[ "$(header X-Request-ID)" == "e2e-request-42" ]] && pass "X-Request-ID is passed back" || fail "X-Request-ID: '$(header X-Request-ID)'"
call GET /api/users/1
[[ -n "$(header X-Request-ID)" ]] && pass "X-Request-ID is generated" || fail "no X-Request-ID"
[[ "$(header X-Content-Type-Options)" == "nosniff" && "$(header Server)" == "marquee" ]] \
    && pass "nosniff and a Server without a version" \
    || fail "X-Content-Type-Options '$(header X-Content-Type-Options)', Server '$(header Server)'"

# ---------------------------------------------------------------------------- movies and the cache

printf '\n== movies\n'
call GET /api/movies
expect "list movies" 200 'length == 3'
call GET '/api/movies?genre=sci-fi'
expect "genre filter is case-insensitive" 200 'length == 2 and all(.[]; .genre == "Sci-Fi")'
call GET /api/movies/2
expect "get a movie" 200 '.id == 2 and .title == "The Dark Knight"'
call GET /api/movies/2
expect "get it again" 200 '.id == 2'
[[ "$(header X-Cache)" == "HIT" ]] && pass "second read is a cache HIT" || fail "X-Cache on the second read: '$(header X-Cache)'"
ETAG=$(header ETag)
call GET /api/movies/2 "" -H "If-None-Match: $ETAG"
[[ "$STATUS" == 304 ]] && pass "If-None-Match with the ETag gives 304" || fail "If-None-Match: status $STATUS"
call PUT /api/movies/2 '{"rating": 9.1}'
expect "update a movie" 200 '.rating == 9.1 and .title == "The Dark Knight"'
call GET /api/movies/2
expect "a read after the write sees the new movie" 200 '.rating == 9.1'
call POST /api/movies '{"title": "Bad", "year": 1700, "genre": "X", "rating": 11}'
expect "movie validation" 422 '[.detail[].loc[1]] | contains(["year", "rating"])'
call POST /api/movies/batch '{"movie_ids": [3, 999, 1, 3]}'
expect "batch: unknown left out, duplicates once, order kept" 200 '[.[].id] == [3, 1]'
call POST /api/movies/batch '{"movie_ids": []}'
expect "batch of zero ids" 422
call POST /api/movies '{"title": "Doomed", "year": 2000, "genre": "Drama"}'
DOOMED=$(jq -r .id <<<"$BODY")
call GET "/api/movies/$DOOMED"
call DELETE "/api/movies/$DOOMED"
[[ "$STATUS" == 204 ]] && pass "delete a movie" || fail "delete a movie: $STATUS"
call GET "/api/movies/$DOOMED"
expect "a deleted movie is gone (cache too)" 404 '.detail == "Movie not found"'
redis_value=$(timeout 10 redis-cli -p "$REDIS_PORT" GET movie:1 || true)
[[ -n "$redis_value" ]] && pass "the cache-aside key movie:1 is in Redis" || fail "movie:1 not in Redis"

# ---------------------------------------------------------------------------- watchlist

printf '\n== watchlist\n'
call POST /api/watchlist '{"user_id": 1, "movie_id": 1}'
expect "the same movie twice" 409
call POST /api/watchlist '{"user_id": 999, "movie_id": 1}'
expect "unknown user" 404 '.detail == "User not found"'
call POST /api/watchlist '{"user_id": 1, "movie_id": 999}'
expect "unknown movie" 404 '.detail == "Movie not found"'
call GET /api/watchlist/movie/1
expect "users who added a movie" 200 'length == 1 and .[0].user_id == 1'
call GET /api/watchlist/user/1/movie/2
expect "check: in the watchlist" 200 '.in_watchlist == true and (.entry_id | type == "number")'
call GET /api/watchlist/user/2/movie/2
expect "check: not in the watchlist" 200 '.in_watchlist == false and .entry_id == null'
call POST /api/watchlist '{"user_id": 2, "movie_id": 3}'
ENTRY=$(jq -r .id <<<"$BODY")
call DELETE "/api/watchlist/$ENTRY"
[[ "$STATUS" == 204 ]] && pass "remove by entry id" || fail "remove by entry id: $STATUS"
call DELETE "/api/watchlist/$ENTRY"
expect "remove it again" 404 '.detail == "Watchlist entry not found"'
call DELETE /api/watchlist/user/1/movie/2
[[ "$STATUS" == 204 ]] && pass "remove a movie from a user's list" || fail "remove user/movie: $STATUS"
call GET /api/watchlist/user/1
expect "the list after removing one" 200 'length == 2'

call POST /api/watchlist '{"user_id": 2, "movie_id": 1}'
call DELETE /api/users/2
[[ "$STATUS" == 204 ]] && pass "delete a user" || fail "delete a user: $STATUS"
deadline=$((SECONDS + 15))
while :; do
    call GET /api/watchlist/user/2
    if [[ "$STATUS" == 200 && "$BODY" == "[]" ]]; then pass "a deleted user's watchlist entries are removed"; break; fi
    if ((SECONDS >= deadline)); then fail "entries of a deleted user still served" "$BODY"; break; fi
    sleep 0.3
done

# ---------------------------------------------------------------------------- HTTPS

printf '\n== HTTPS\n'
tls_body=$(curl -sS -m 5 --cacert "$WORK/cert.pem" "https://localhost:$TLS_PORT/api/movies/1" || true)
jq -e '.id == 1' >/dev/null 2>&1 <<<"$tls_body" && pass "GET over HTTPS with the certificate verified" || fail "HTTPS" "$tls_body"
# TLS 1.1 refused: a client that really offers it (SECLEVEL=0: at the default level this
# OpenSSL will not send a TLS 1.1 hello at all) gets the server's protocol_version alert, and
# the same client, on the same port, completes a TLS 1.2 handshake (so the refusal is the
# gateway's, not a closed port).
tls_probe() { timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost "$@" </dev/null 2>&1; }
tls12_out=$(tls_probe -tls1_2) && tls12_ok=1 || tls12_ok=0
tls11_out=$(tls_probe -tls1_1 -cipher 'DEFAULT@SECLEVEL=0') && tls11_ok=1 || tls11_ok=0
if ((tls12_ok)) && grep -q 'Protocol *: *TLSv1.2' <<<"$tls12_out"; then
    pass "the same probe completes a TLS 1.2 handshake"
else
    fail "TLS 1.2 handshake on the TLS port" "$(tail -n 5 <<<"$tls12_out")"
fi
if ((!tls11_ok)) && grep -q 'alert protocol version' <<<"$tls11_out"; then
    pass "TLS 1.1 is refused with a protocol_version alert"
else
    fail "TLS 1.1 must be refused with a protocol_version alert" "$(tail -n 5 <<<"$tls11_out")"
fi

# ---------------------------------------------------------------------------- HTTP/2

printf '\n== HTTP/2\n'
# curl offers h2 by ALPN on the TLS port; the gateway takes it. On the plain port, h2c with
# prior knowledge. %{http_version} is what curl actually spoke.
h2_out=$(curl -sS -m 5 --http2 --cacert "$WORK/cert.pem" -w '\n%{http_code} %{http_version}' \
    "https://localhost:$TLS_PORT/api/movies/1" 2>&1 || true)
[[ "$(tail -n 1 <<<"$h2_out")" == "200 2" ]] && jq -e '.id == 1' >/dev/null 2>&1 <<<"$(head -n 1 <<<"$h2_out")" &&
    pass "curl --http2 on the TLS port speaks HTTP/2 (ALPN h2)" || fail "HTTP/2 over TLS" "$h2_out"
h11_out=$(curl -sS -m 5 --http1.1 --cacert "$WORK/cert.pem" -o /dev/null -w '%{http_code} %{http_version}' \
    "https://localhost:$TLS_PORT/api/movies/1" 2>&1 || true)
[[ "$h11_out" == "200 1.1" ]] && pass "a client offering only http/1.1 still gets HTTP/1.1 there" ||
    fail "HTTP/1.1 over TLS next to h2" "$h11_out"
h2c_out=$(curl -sS -m 5 --http2-prior-knowledge -D "$WORK/h2c.head" -w '\n%{http_code} %{http_version}' \
    "$BASE/api/movies/1" 2>&1 || true)
[[ "$(tail -n 1 <<<"$h2c_out")" == "200 2" ]] && grep -qi '^x-request-id: ' "$WORK/h2c.head" &&
    grep -qi '^x-content-type-options: nosniff' "$WORK/h2c.head" &&
    pass "curl --http2-prior-knowledge on the plain port: HTTP/2, with the gateway's own fields" ||
    fail "h2c with prior knowledge" "$h2c_out $(cat "$WORK/h2c.head" 2>/dev/null)"
h2_post=$(curl -sS -m 5 --http2-prior-knowledge -H 'Content-Type: application/json' -w '\n%{http_code}' \
    -d '{"movie_ids": [1, 2]}' "$BASE/api/movies/batch" 2>&1 || true)
[[ "$(tail -n 1 <<<"$h2_post")" == 200 ]] && jq -e 'length == 2' >/dev/null 2>&1 <<<"$(head -n 1 <<<"$h2_post")" &&
    pass "a POST with a body over HTTP/2 reaches the movie service" || fail "POST over HTTP/2" "$h2_post"
h2_404=$(curl -sS -m 5 --http2-prior-knowledge -w '\n%{http_code}' "$BASE/api/nowhere" 2>&1 || true)
[[ "$(tail -n 1 <<<"$h2_404")" == 404 ]] && jq -e '.detail == "Not Found"' >/dev/null 2>&1 <<<"$(head -n 1 <<<"$h2_404")" &&
    pass "errors over HTTP/2 keep FastAPI's shape" || fail "404 over HTTP/2" "$h2_404"

# Before the HTTP/1.1 smoke run below, whose load empties the rate limit's bucket for a while.
if timeout 60 "$BIN/loadtest" run --http2 --url "$BASE" --scenario reads --movies 3 --requests 400 --connections 16 \
    --loops 1 --quiet --json "$WORK/loadtest-h2.json" >"$WORK/loadtest-h2.out" 2>&1 &&
    jq -e '.settings.http2Connections == 1 and .total.requests == 400 and .total.errors == 0 and .hitRates.xCache.hitRate > 0.9' \
        "$WORK/loadtest-h2.json" >/dev/null 2>&1; then
    pass "loadtest run --http2: 400 reads as 16 streams of one connection, no error, X-Cache hits counted"
else
    fail "loadtest run --http2" "$(tail -n 5 "$WORK/loadtest-h2.out") $(jq -c '.total | {requests, errors}' "$WORK/loadtest-h2.json" 2>&1)"
fi

# ---------------------------------------------------------------------------- loadtest smoke

printf '\n== loadtest smoke run\n'
if [[ ! -x "$BIN/loadtest" ]]; then
    fail "loadtest smoke run: no executable $BIN/loadtest (build it: swift build -c release --product loadtest)"
elif timeout 60 "$BIN/loadtest" run --url "$BASE" --scenario reads --movies 3 --duration 3s --warmup 1s --connections 8 \
    --metrics-url "http://127.0.0.1:$MOVIE_PORT/metrics" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
    --json "$WORK/loadtest.json" >"$WORK/loadtest.out" 2>&1; then
    pass "loadtest run completes"
    # Three movies read over and over: nearly every read is a hit, and the service's own
    # counters (/metrics) must tell the same story as the responses' X-Cache headers.
    jq -e '.hitRates.xCache.hitRate > 0.9 and .hitRates.metrics.hitRate != null
           and ((.hitRates.metrics.hitRate - .hitRates.xCache.hitRate) | fabs) < 0.02
           and .hitRates.redis.hitRate != null' \
        "$WORK/loadtest.json" >/dev/null 2>&1 &&
        pass "loadtest's hit rate agrees with /metrics and Redis reports one too" ||
        fail "loadtest hit rates" "$(jq -c .hitRates "$WORK/loadtest.json" 2>&1)"
else
    fail "loadtest run" "$(tail -n 5 "$WORK/loadtest.out")"
fi

# ---------------------------------------------------------------------------- /metrics

printf '\n== /metrics: promtool and the runtime figures\n'
call GET /api/watchlist/user/1
expect "a watchlist read (its connection to the movie service then waits idle in the pool)" 200
declare -A METRICS_PORTS=([user-service]=$USER_PORT [movie-service]=$MOVIE_PORT [watchlist-service]=$WATCHLIST_PORT)
for name in user-service movie-service watchlist-service; do
    file=$WORK/$name.metrics
    if ! curl -fsS -m 5 -o "$file" "http://127.0.0.1:${METRICS_PORTS[$name]}/metrics"; then
        fail "$name's /metrics does not answer"
        continue
    fi
    if lint=$(promtool check metrics <"$file" 2>&1); then
        pass "$name's /metrics passes promtool check metrics"
    else
        fail "$name's /metrics: promtool check metrics" "$lint"
    fi
    absent=""
    for series in marquee_http_requests_total marquee_http_request_duration_seconds_bucket \
        'marquee_event_loop_lag_seconds{loop="1"}' 'marquee_http_connections_open{loop="0"}' \
        marquee_blocking_pool_queued_jobs 'marquee_db_pool_connections{loop="0",state="ready"}' marquee_db_pool_waiters; do
        grep -qF "$series" "$file" || absent+=" $series"
    done
    [[ -z "$absent" ]] && pass "$name's /metrics has the request and runtime series" || fail "$name's /metrics lacks:$absent"
done
grep -qF 'marquee_redis_connected{loop="0"} 1.0' "$WORK/movie-service.metrics" &&
    grep -qF 'marquee_redis_pending_commands{loop="0"}' "$WORK/movie-service.metrics" &&
    pass "movie-service's /metrics shows its Redis connections up" ||
    fail "movie-service's Redis series" "$(grep marquee_redis "$WORK/movie-service.metrics")"
grep -qE '^marquee_upstream_pool_connections\{upstream="movie-service",loop="[01]",state="idle"\} [1-9]' \
    "$WORK/watchlist-service.metrics" &&
    pass "watchlist-service's /metrics shows its idle keep-alive connections to the movie service" ||
    fail "watchlist-service's upstream pool series" "$(grep marquee_upstream_pool "$WORK/watchlist-service.metrics")"
# The gateway's /metrics: on its own listener (METRICS_PORT, loopback), never on the public port.
file=$WORK/gateway.metrics
if curl -fsS -m 5 -o "$file" "http://127.0.0.1:$GATEWAY_METRICS_PORT/metrics"; then
    if lint=$(promtool check metrics <"$file" 2>&1); then
        pass "gateway's /metrics passes promtool check metrics"
    else
        fail "gateway's /metrics: promtool check metrics" "$lint"
    fi
    absent=""
    for series in 'marquee_gateway_requests_total{route="upstream",status="2xx"}' \
        'marquee_gateway_requests_total{route="gateway",status="2xx"}' 'marquee_event_loop_lag_seconds{loop="1"}' \
        'marquee_http_connections_open{loop="0"}' 'marquee_upstream_pool_waiters{upstream="movie-service"' \
        "marquee_upstream_instance_admitted{upstream=\"watchlist-service\",instance=\"127.0.0.1:$WATCHLIST_PORT\"} 1.0" \
        'marquee_gateway_retries_total{reason="connect"}' marquee_gateway_busy_rejections_total; do
        grep -qF "$series" "$file" || absent+=" $series"
    done
    [[ -z "$absent" ]] && pass "gateway's /metrics has its request, loop, connection and upstream series" ||
        fail "gateway's /metrics lacks:$absent"
    grep -qE "^marquee_upstream_pool_connections\{upstream=\"watchlist-service\",instance=\"127.0.0.1:$WATCHLIST_PORT\",loop=\"[01]\",state=\"idle\"\} [1-9]" "$file" &&
        pass "gateway's /metrics shows its idle keep-alive connections to the watchlist service" ||
        fail "gateway's upstream pool series" "$(grep marquee_upstream_pool_connections "$file")"
else
    fail "gateway's /metrics does not answer on METRICS_PORT"
fi
call GET /metrics
expect "the gateway's public port does not serve /metrics" 404

# ---------------------------------------------------------------------------- an outage

printf '\n== the movie service goes down and comes back\n'
stop_pid "${PIDS[movie-service]}" movie-service 5 >/dev/null
unset 'PIDS[movie-service]'
start_ms=$(date +%s%3N)
call GET /api/movies/1
elapsed=$(($(date +%s%3N) - start_ms))
expect "the gateway answers 502 for movies" 502 '.detail | test("(?i)movie")'
((elapsed < 2000)) && pass "... at once (${elapsed} ms)" || fail "502 took ${elapsed} ms"
call POST /api/watchlist '{"user_id": 1, "movie_id": 2}'
expect "adding to a watchlist answers 503" 503 '.detail | test("(?i)movie")'
call GET /api/health/movies
expect "health of movies through the gateway" 502
call GET /api/users/1
expect "the user service is unaffected" 200
start_service movie-service
if wait_http "http://127.0.0.1:$GATEWAY_PORT/api/health/movies"; then pass "the movie service is back"; else fail "the movie service did not come back"; fi
call GET /api/movies/1
expect "movies recover" 200 '.id == 1'
call POST /api/watchlist '{"user_id": 1, "movie_id": 2}'
expect "watchlist adds recover" 201

# ---------------------------------------------------------------------------- one trace, four processes

printf '\n== one grep of a trace id follows a request across the processes (W3C traceparent)\n'
# traced_services TRACE_ID: the processes whose log has a line of that trace, from one grep.
traced_services() {
    grep -h "\"trace_id\":\"$1\"" "$WORK"/logs/*.log | jq -r .service 2>/dev/null | sort -u | tr '\n' ' '
}
all_four="gateway movie-service user-service watchlist-service "
call POST /api/movies '{"title": "Tenet", "director": "Christopher Nolan", "year": 2020, "genre": "Sci-Fi", "rating": 7.3}'
expect "a movie to trace" 201
traced_movie=$(jq -r .id <<<"$BODY")
# A client's valid traceparent is continued: the gateway, the watchlist service and the two
# services it checks with all log that trace id.
trace_id=$(openssl rand -hex 16)
call POST /api/watchlist "{\"user_id\": 1, \"movie_id\": $traced_movie}" -H "traceparent: 00-$trace_id-$(openssl rand -hex 8)-01"
expect "add to a watchlist with a traceparent" 201
traced=$(traced_services "$trace_id")
[[ "$traced" == "$all_four" ]] && pass "the client's trace id is in the logs of: $traced" ||
    fail "trace $trace_id logged by '$traced', expected '$all_four'"
# An invalid one is not trusted: the gateway starts a trace of its own, which the services continue.
call GET "/api/watchlist/user/1/movie/$traced_movie" '' -H "traceparent: 00-$trace_id-zz-01" -H "X-Request-ID: e2e-bad-trace"
expect "a watchlist check with an invalid traceparent" 200 '.in_watchlist == true'
started=$(grep -h '"request_id":"e2e-bad-trace"' "$WORK/logs/gateway.log" | jq -r .trace_id | head -n 1)
[[ "$started" =~ ^[0-9a-f]{32}$ && "$started" != "$trace_id" ]] &&
    pass "an invalid traceparent is replaced by a new trace ($started)" ||
    fail "the gateway's trace for an invalid traceparent: '$started'"
[[ "$(traced_services "$started")" == "gateway watchlist-service " ]] &&
    pass "... which the watchlist service continues" || fail "trace $started logged by '$(traced_services "$started")'"
# The user service's deletion relay continues the deleting request's trace, however late.
call POST /api/users '{"name": "Traced", "email": "traced@example.com", "password": "pass123"}'
expect "a user to delete" 201
traced_user=$(jq -r .id <<<"$BODY")
call POST /api/watchlist "{\"user_id\": $traced_user, \"movie_id\": $traced_movie}"
expect "... with a watchlist entry" 201
delete_trace=$(openssl rand -hex 16)
call DELETE "/api/users/$traced_user" '' -H "traceparent: 00-$delete_trace-$(openssl rand -hex 8)-00"
expect "delete that user with a traceparent" 204
deadline=$((SECONDS + 20))
until grep -q "\"trace_id\":\"$delete_trace\".*/internal/users/$traced_user/watchlist" "$WORK/logs/watchlist-service.log" ||
    ((SECONDS >= deadline)); do sleep 0.2; done
traced=$(traced_services "$delete_trace")
[[ "$traced" == "gateway user-service watchlist-service " ]] &&
    pass "the deletion relay's call to the watchlist service carries the deleting request's trace" ||
    fail "trace $delete_trace logged by '$traced', expected gateway, user-service and watchlist-service"

# ---------------------------------------------------------------------------- a second signal

printf '\n== a second SIGTERM/SIGINT stops the gateway without waiting for its drain\n'
# A gateway of its own (60 s drain) whose movie service accepts requests and never answers:
# with a request held there, the first SIGTERM starts a drain that only the second signal ends.
hold_port=$(free_port)
second_port=$(free_port)
python3 - "$hold_port" "$WORK/held" <<'PY' &
import socket, sys, time
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
server.settimeout(60)
open(sys.argv[2] + ".listening", "w").close()
held = []
try:
    while True:
        connection, _ = server.accept()
        held.append(connection)
        if connection.recv(4096):
            open(sys.argv[2], "w").close()
except OSError:
    pass
time.sleep(1)
PY
holder=$!
deadline=$((SECONDS + 20))
until [[ -e "$WORK/held.listening" ]] || ((SECONDS >= deadline)); do sleep 0.1; done
env HOST=127.0.0.1 PORT="$second_port" LOOPS=1 SHUTDOWN_TIMEOUT=60s HEALTH_CHECK_INTERVAL=0 \
    UPSTREAM_RESPONSE_TIMEOUT=60s MOVIE_SERVICE_URL="http://127.0.0.1:$hold_port" \
    "$BIN/gateway" </dev/null >"$WORK/logs/gateway-second.log" 2>&1 &
second=$!
wait_http "http://127.0.0.1:$second_port/health" || fail "the second gateway did not start"
curl -s -m 70 -o /dev/null "http://127.0.0.1:$second_port/api/movies" &
held_client=$!
deadline=$((SECONDS + 20))
until [[ -e "$WORK/held" ]] || ((SECONDS >= deadline)); do sleep 0.1; done
[[ -e "$WORK/held" ]] || fail "the request did not reach the upstream that holds it"
kill -TERM "$second"
deadline=$((SECONDS + 20))
until grep -q '"msg":"shutting down"' "$WORK/logs/gateway-second.log" || ((SECONDS >= deadline)); do sleep 0.1; done
pid_alive "$second" && pass "after the first SIGTERM the gateway drains (a request is held upstream)" ||
    fail "the gateway ended on the first SIGTERM" "$(tail -n 5 "$WORK/logs/gateway-second.log")"
kill -INT "$second"
deadline=$((SECONDS + 20))
while pid_alive "$second" && ((SECONDS < deadline)); do sleep 0.1; done
rc=0
if pid_alive "$second"; then
    fail "the gateway still runs 20 s after a second signal (its drain is 60 s)"
    kill -KILL "$second"
fi
wait "$second" || rc=$?
[[ $rc == 130 ]] && pass "a second signal ends the gateway at once with 130" ||
    fail "the gateway exited with $rc after a second signal" "$(tail -n 5 "$WORK/logs/gateway-second.log")"
grep -q 'second signal' "$WORK/logs/gateway-second.log" && pass "... and says so in its log" ||
    fail "no 'second signal' line in the gateway's log"
kill "$holder" "$held_client" 2>/dev/null || true
wait "$holder" "$held_client" 2>/dev/null || true

# ---------------------------------------------------------------------------- shutdown

printf '\n== shutdown\n'
# Clients that connected and sent nothing: one in the h2c preface check, one before its TLS
# handshake. The gateway must still exit within its drain bound (stop_service: 20 s).
exec {silent_plain}<>"/dev/tcp/127.0.0.1/$GATEWAY_PORT" {silent_tls}<>"/dev/tcp/127.0.0.1/$TLS_PORT"
stopping=$SECONDS
stop_service gateway
((SECONDS - stopping <= 15)) && pass "the gateway drains silent connections (h2c preface check, TLS handshake)" ||
    fail "the gateway took $((SECONDS - stopping)) s to exit with silent connections open"
exec {silent_plain}<&- {silent_tls}<&-
for name in watchlist-service movie-service user-service; do stop_service "$name"; done
"$LIB/redis-server" stop "$WORK/redis" >/dev/null
"$LIB/pg-cluster" stop "$WORK/pg" >/dev/null
left=""
for port in "$USER_PORT" "$MOVIE_PORT" "$WATCHLIST_PORT" "$GATEWAY_PORT" "$TLS_PORT" "$PG_PORT" "$REDIS_PORT"; do
    port_is_listening "$port" && left+=" $port"
done
[[ -z "$left" ]] && pass "nothing the test started is left listening" || fail "still listening on:$left"

finish
