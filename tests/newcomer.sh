#!/usr/bin/env bash
# A newcomer's first steps, as the README gives them, in a fresh clone of the commit under test:
# the README's `deploy/dev up`; the README's curl workflow, run from the README itself (its
# shell blocks, with the port put in), each answer checked; `deploy/dev status`; a short load
# from loopback with no 429; `deploy/dev down`; then nothing of the stack listens and nothing
# of it runs; last, every target of the package builds in release with up's flags. The stack
# gets a data folder of its own and free ports for every listener, so a running `deploy/dev up`
# is never touched. Prints its own time.
#
# Usage: tests/newcomer.sh
#   NEWCOMER_COMMIT   what to clone (default HEAD); uncommitted changes to tracked files are
#                     applied on top, so that a change can be tried before it is committed
#   NEWCOMER_KEEP=1   keep the clone and its data folder (printed) instead of deleting them
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export MARQUEE_LOG_TAG=newcomer
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/common
source "$ROOT/deploy/lib/common"
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/packages
source "$ROOT/deploy/lib/packages"

START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/marquee-newcomer.XXXXXX")
# The cluster runs as the postgres user when we are root: it must be able to enter.
chmod 0755 "$WORK"
CLONE=$WORK/marquee
export MARQUEE_DATA_DIR=$WORK/data
STACK_UP=0

step() { printf '\n--- %s (%ss)\n' "$*" $((SECONDS - START)); }
fail() {
    printf 'newcomer: FAILED: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local rc=$?
    set +e
    if ((STACK_UP)); then
        if ((rc)); then
            printf '\nnewcomer: the stack'"'"'s logs at the failure:\n' >&2
            (cd "$CLONE" && deploy/dev logs -n) >&2
        fi
        (cd "$CLONE" && deploy/dev down) >/dev/null 2>&1
    fi
    if [[ "${NEWCOMER_KEEP:-0}" == 1 ]]; then
        info "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    printf 'newcomer: %s in %ss\n' "$( ((rc)) && echo FAILED || echo passed)" $((SECONDS - START))
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------ a fresh clone

step "git clone of ${NEWCOMER_COMMIT:-HEAD}"
commit=$(git -C "$ROOT" rev-parse --verify "${NEWCOMER_COMMIT:-HEAD}^{commit}")
git clone --quiet --no-local --no-checkout "$ROOT" "$CLONE"
git -C "$CLONE" checkout --quiet --detach "$commit"
if [[ -z "${NEWCOMER_COMMIT-}" ]] && ! git -C "$ROOT" diff --quiet HEAD; then
    info "applying the working tree's uncommitted changes to tracked files"
    git -C "$ROOT" diff --binary HEAD | git -C "$CLONE" apply --whitespace=nowarn
fi
info "clone of $(git -C "$CLONE" log -1 --format='%h %s' | cut -c1-80)"

# Every listener on a free port (the defaults may be taken by a developer's stack).
declare -A PORT=()
for name in GATEWAY_PORT GATEWAY_TLS_PORT USER_SERVICE_PORT MOVIE_SERVICE_PORT WATCHLIST_SERVICE_PORT PG_PORT REDIS_PORT; do
    PORT[$name]=$(free_port)
    export "$name=${PORT[$name]}"
done
info "ports: $(for name in "${!PORT[@]}"; do printf '%s=%s ' "$name" "${PORT[$name]}"; done)"

# readme_blocks SECTION: the ```bash blocks of the README section whose heading starts with
# SECTION, one block after another, each ended by a line "#--end-of-block--".
readme_blocks() {
    awk -v section="$1" '
        /^## / { inside = index($0, "## " section) == 1; next }
        inside && /^```bash$/ { block = 1; next }
        inside && block && /^```$/ { block = 0; print "#--end-of-block--"; next }
        inside && block { print }
    ' "$CLONE/README.md"
}

# ------------------------------------------------------------------------ the README's first command

step "the README's first command"
up_line=$(readme_blocks "Two commands" | grep -m1 -E '^deploy/dev up( |$)' || true)
[[ -n "$up_line" ]] || fail "the README's \"Two commands\" section no longer tells a newcomer to run deploy/dev up"
up_line=${up_line%%#*}
info "running: $up_line"
STACK_UP=1
(cd "$CLONE" && bash -c "$up_line") || fail "'$up_line' failed in a fresh clone"

# ------------------------------------------------------------------------- the README's workflow

step "the README's curl workflow (section \"The API at a glance\")"
workflow=$(readme_blocks "The API at a glance")
[[ -n "$workflow" ]] || fail "the README's \"The API at a glance\" section has no bash block"
# The README's port, and the host spelt either way, become this stack's gateway.
workflow=$(sed -E "s#(localhost|127\.0\.0\.1):8080#127.0.0.1:${PORT[GATEWAY_PORT]}#g" <<<"$workflow")

# Each command is run with `curl` wrapped to record its answer; a step is the comment "# N. ..."
# before it and is checked by its method: POST 201 (a batch read 200), GET 200, and a JSON body
# without "detail" (the shape of every error).
ANSWER=$WORK/answer.json
curl() { command curl -sS --max-time 10 -o "$ANSWER" -w '%{http_code}' "$@"; }
expected_status() {
    local command=$1
    if [[ "$command" == *"-X POST"* ]]; then
        if [[ "$command" == */batch* ]]; then printf '200'; else printf '201'; fi
    elif [[ "$command" == *"-X "* ]]; then
        fail "the workflow step '$command' uses a method this test has no expectation for: teach tests/newcomer.sh"
    else
        printf '200'
    fi
}

title="" command="" steps=0
run_step() {
    local status want
    [[ -n "$command" ]] || return 0
    steps=$((steps + 1))
    want=$(expected_status "$command")
    status=$(eval "$command") || fail "step '$title': curl failed: $command"
    if [[ "$status" != "$want" ]] || ! jq -e 'type != "object" or (has("detail") | not)' "$ANSWER" >/dev/null 2>&1; then
        fail "step '$title' answered $status (expected $want): $(head -c 400 "$ANSWER")
    command: $command"
    fi
    printf '  ok   %s -> %s %s\n' "$title" "$status" "$(head -c 100 "$ANSWER")"
    command=""
}
while IFS= read -r line; do
    case $line in
    "#--end-of-block--") run_step ;;
    "# "*) run_step; title=${line#\# } ;;
    "") run_step ;;
    *)
        command+="${line%\\}"
        [[ "$line" == *\\ ]] || run_step
        ;;
    esac
done <<<"$workflow"
run_step
((steps >= 6)) || fail "the README's workflow has $steps steps; expected the seed's six"
# What the steps built together: the watchlist of user 1 holds the movie the workflow created.
command curl -fsS "http://127.0.0.1:${PORT[GATEWAY_PORT]}/api/watchlist/user/1" |
    jq -e '.[0].movie.title == "Inception"' >/dev/null ||
    fail "after the workflow, user 1's watchlist does not show Inception"

step "deploy/dev status"
status=$(cd "$CLONE" && deploy/dev status) || fail "deploy/dev status failed"
printf '%s\n' "$status"
for unit in user-service movie-service watchlist-service gateway postgres redis; do
    grep -Eq "^$unit +running" <<<"$status" || fail "deploy/dev status does not show $unit running"
done

# ------------------------------------------------------------------------- a load from loopback

# More than the gateway's default limit lets one client send in the few seconds this takes
# (a bucket of 2000 per loop, refilled at 1000/s): without the loopback exemption, 429s.
LOAD_REQUESTS=20000
step "a short load from loopback: $LOAD_REQUESTS reads, no 429"
"$CLONE/.build/release/loadtest" run --url "http://127.0.0.1:${PORT[GATEWAY_PORT]}" --scenario reads \
    --movies 1 --requests "$LOAD_REQUESTS" --connections 32 --quiet --json "$WORK/load.json" >"$WORK/load.txt" 2>&1 ||
    fail "loadtest failed: $(tail -n 20 "$WORK/load.txt")"
codes=$(jq -c '.total.statusCodes' "$WORK/load.json")
info "status codes: $codes"
jq -e '(.total.statusCodes["429"] // 0) == 0' "$WORK/load.json" >/dev/null ||
    fail "the development gateway throttled its own loopback client: $codes"
jq -e --argjson n "$LOAD_REQUESTS" '(.total.statusCodes["200"] // 0) >= $n' "$WORK/load.json" >/dev/null ||
    fail "fewer than $LOAD_REQUESTS reads answered 200: $codes"

# ------------------------------------------------------------------------------------- down

step "deploy/dev down"
(cd "$CLONE" && deploy/dev down) || fail "deploy/dev down failed"
STACK_UP=0
for name in "${!PORT[@]}"; do
    if port_is_listening "${PORT[$name]}"; then
        fail "after deploy/dev down, something still listens on $name=${PORT[$name]}: $(port_listeners "${PORT[$name]}")"
    fi
done
left=""
for proc in /proc/[0-9]*; do
    exe=$(readlink "$proc/exe" 2>/dev/null || true)
    cmdline=$(pid_cmdline "${proc#/proc/}")
    if [[ "$exe" == "$CLONE"/* || "$cmdline" == *"$MARQUEE_DATA_DIR"* ||
        "$cmdline" == *"redis-server 127.0.0.1:${PORT[REDIS_PORT]} "* ]]; then
        left+=" ${proc#/proc/} ($cmdline)"
    fi
done
[[ -z "$left" ]] || fail "after deploy/dev down, still running:$left"
info "nothing of the stack listens or runs"

# -------------------------------------------------------------------------- every target builds

step "every target builds in release with up's flags (swift build -c release --static-swift-stdlib)"
(cd "$CLONE" && swift build -c release --static-swift-stdlib >"$WORK/build.log" 2>&1) ||
    fail "a target does not build in release with the static standard library: $(grep -m 20 -E 'error:' "$WORK/build.log")"
