#!/usr/bin/env bash
# Conformance: the running system against its own OpenAPI document (GET /openapi.json), on a
# throw-away stack (tests/lib/stack: the release executables, PostgreSQL and Redis on free ports).
#
#  1. schemathesis (PyPI, pinned, in a cached venv), stateful only, following the links the
#     document declares without a token: zero failures, and the chains sign-up -> that user and
#     new movie -> a watchlist answered 2xx through their links (tests/conformance_links.py
#     reads the run's report).
#  2. schemathesis again, with a signed-up user's token: every check (server errors, status
#     codes, content types, response schemas and headers, negative data rejected, positive data
#     accepted, undocumented methods answered 405 with Allow, ...), on positive and negative
#     data, through the examples, coverage, fuzzing and stateful (declared and inferred links)
#     phases, with a fixed seed and a bounded number of examples per operation. Zero failures.
#  3. /docs in a real browser: headless Chromium (Debian's) loads the page, Swagger UI renders
#     it from the gateway's own files, and every operation of the document must be listed in
#     the rendered DOM; the page must load without a Content-Security-Policy violation. A
#     screenshot is kept.
#
# Usage: tests/conformance.sh   (SKIP_BUILD=1 to use an existing .build/release)
# Settings: CONFORMANCE_SEED, CONFORMANCE_MAX_EXAMPLES (per operation),
# CONFORMANCE_STATEFUL_MAX_EXAMPLES (scenarios of the links run), CONFORMANCE_ARTIFACTS
# (default .artifacts/conformance: the logs and reports, the rendered DOM, the screenshot),
# MARQUEE_CACHE_DIR (default ~/.cache/marquee: the schemathesis venv, Swagger UI's files).
# Ends with "N passed, N failed".
# `A && pass || fail` is safe here: pass always succeeds.
# shellcheck disable=SC2015
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=$ROOT/deploy/lib
export MARQUEE_LOG_TAG=conformance
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/common
source "$LIB/common"
# shellcheck source-path=SCRIPTDIR/.. source=deploy/lib/packages
source "$LIB/packages"
# shellcheck source-path=SCRIPTDIR source=lib/stack
source "$ROOT/tests/lib/stack"
# shellcheck source-path=SCRIPTDIR source=lib/checks
source "$ROOT/tests/lib/checks"

SCHEMATHESIS_VERSION=4.32.5
SEED=${CONFORMANCE_SEED:-20261207}
MAX_EXAMPLES=${CONFORMANCE_MAX_EXAMPLES:-25}
STATEFUL_MAX_EXAMPLES=${CONFORMANCE_STATEFUL_MAX_EXAMPLES:-100}
CACHE=$(abs_path "${MARQUEE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/marquee}")
ARTIFACTS=$(abs_path "${CONFORMANCE_ARTIFACTS:-$ROOT/.artifacts/conformance}")

# ---------------------------------------------------------------------------- tools

ensure_packages chromium python3-venv python3-pip || die "could not install chromium and python3's venv and pip"
SCHEMATHESIS_VENV=$CACHE/schemathesis-$SCHEMATHESIS_VERSION
if [[ ! -x "$SCHEMATHESIS_VENV/bin/schemathesis" ]]; then
    info "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV"
    rm -rf "$SCHEMATHESIS_VENV"
    python3 -m venv "$SCHEMATHESIS_VENV"
    "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
        die "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
fi
DOCS_ASSETS=$CACHE/swagger-ui
"$LIB/swagger-ui" install "$DOCS_ASSETS" >/dev/null
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"

# ---------------------------------------------------------------------------- the system

build_release
# No rate limit: one client sends thousands of requests (429 is documented, but would hide
# every other answer).
STACK_ENV=("RATE_LIMIT_RPS=0" "DOCS_ASSETS_DIR=$DOCS_ASSETS")
trap stop_stack EXIT
start_stack

# The README's workflow, so that ids 1 exist for the links and examples.
post() { curl -fsS -m 10 -o /dev/null -X POST -H 'Content-Type: application/json' -d "$2" "$BASE$1"; }
post /api/users '{"name": "Alice", "email": "alice@example.com", "password": "pass123"}'
post /api/movies '{"title": "Inception", "director": "Christopher Nolan", "year": 2010, "genre": "Sci-Fi", "rating": 8.8}'
post /api/watchlist '{"user_id": 1, "movie_id": 1}'

# ---------------------------------------------------------------------------- the document's links

# First, while the README's user 1 and movie 1 (which two links name) exist: the run after this
# one deletes them. That run signs up and sends that user's token everywhere, so a chain through
# another user's data (a user created by a step, then a watchlist entry for them) ends in 403.
# This one follows only the links the document declares (no inferred ones), without a token
# (the stack runs AUTH_REQUIRED=false, as deploy/dev up does), so each chain can work; the
# chains the issue names (sign-up → that user, new movie → a watchlist) must be answered 2xx at
# least once. Not checked here: ensure_resource_availability, which reads the cascade of a
# user's deletion (their watchlist entries go with them, docs/API.md) as a created entry gone
# missing; the next run keeps it.
printf '\n== schemathesis: the document'"'"'s links, stateful, without a token (seed %s, %s scenarios at most)\n' \
    "$SEED" "$STATEFUL_MAX_EXAMPLES"
cat >"$WORK/links.toml" <<'EOF'
[auth]
auto-signup = false

[phases.stateful]
max-steps = 10
inference.algorithms = []
EOF
rc=0
(cd "$WORK" && SCHEMATHESIS_HOOKS="$ROOT/tests/conformance_hooks.py" timeout 600 "$SCHEMATHESIS_VENV/bin/schemathesis" --config-file "$WORK/links.toml" run \
    "$BASE/openapi.json" --url "$BASE" \
    --checks all --exclude-checks ensure_resource_availability --mode all --phases stateful \
    --seed "$SEED" --max-examples "$STATEFUL_MAX_EXAMPLES" --workers 1 --generation-database none \
    --request-timeout 10 --no-color --report ndjson --report-dir "$ARTIFACTS/links") \
    >"$ARTIFACTS/schemathesis-links.log" 2>&1 || rc=$?
grep -E '^ *(Scenarios|API Links):| generated' "$ARTIFACTS/schemathesis-links.log" || true
if ((rc == 0)); then
    pass "schemathesis, the document's links: every check passed"
else
    sed -n '/^=* *FAILURES/,/^=* *SUMMARY/p' "$ARTIFACTS/schemathesis-links.log" | head -n 150 >&2
    fail "schemathesis (links) exited $rc (log: $ARTIFACTS/schemathesis-links.log)"
fi
report=$(find "$ARTIFACTS/links" -name '*.ndjson' -print -quit 2>/dev/null || true)
if [[ -n "$report" ]] && "$SCHEMATHESIS_VENV/bin/python" "$ROOT/tests/conformance_links.py" "$report" \
    --require "POST /api/users -> GetUser" --require "POST /api/movies -> AddToWatchlist"; then
    pass "the declared chains work: sign-up -> that user, new movie -> a watchlist (2xx through the links)"
else
    fail "a declared link was never answered 2xx (report: ${report:-none})"
fi

# ---------------------------------------------------------------------------- schemathesis

printf '\n== schemathesis %s against %s/openapi.json (seed %s, at most %s examples per operation)\n' \
    "$SCHEMATHESIS_VERSION" "$BASE" "$SEED" "$MAX_EXAMPLES"
rc=0
(cd "$WORK" && SCHEMATHESIS_HOOKS="$ROOT/tests/conformance_hooks.py" timeout 900 "$SCHEMATHESIS_VENV/bin/schemathesis" run "$BASE/openapi.json" --url "$BASE" \
    --checks all --mode all --phases examples,coverage,fuzzing,stateful \
    --seed "$SEED" --max-examples "$MAX_EXAMPLES" --workers 1 --generation-database none \
    --request-timeout 10 --no-color \
    --report junit --report-junit-path "$ARTIFACTS/schemathesis-junit.xml") >"$ARTIFACTS/schemathesis.log" 2>&1 || rc=$?
# The summary (the whole log is an artifact).
sed -n '/^=* *SUMMARY/,$p' "$ARTIFACTS/schemathesis.log" | head -n 60
if ((rc == 0)); then
    pass "schemathesis: every check passed on every operation"
else
    sed -n '/^=* *FAILURES/,/^=* *SUMMARY/p' "$ARTIFACTS/schemathesis.log" | head -n 150 >&2
    fail "schemathesis exited $rc (log: $ARTIFACTS/schemathesis.log)"
fi

# ---------------------------------------------------------------------------- /docs

printf '\n== /docs and its files\n'
headers() { curl -sS -m 10 -o /dev/null -D - "$@" | tr -d '\r'; }
page=$(headers "$BASE/docs")
grep -qi "^content-type: text/html" <<<"$page" && pass "/docs is text/html" || fail "/docs content type" "$page"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" <<<"$page" &&
    pass "/docs carries a Content-Security-Policy that allows only the gateway's scripts" || fail "/docs CSP" "$page"
etag=$(awk 'tolower($1) == "etag:" { print $2 }' <<<"$page")
code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$BASE/docs")
[[ "$code" == 304 ]] && pass "/docs revalidates with its ETag (304)" || fail "/docs If-None-Match: $code"
bundle=$(headers "$BASE/docs/swagger-ui-bundle.js")
grep -qi "^content-type: text/javascript" <<<"$bundle" && grep -qi "^cache-control: public, max-age=" <<<"$bundle" &&
    pass "Swagger UI's bundle is text/javascript with Cache-Control" || fail "/docs/swagger-ui-bundle.js headers" "$bundle"
grep -q 'src="http\|href="http' <(curl -sS -m 10 "$BASE/docs") && fail "/docs loads something from another origin" ||
    pass "/docs loads nothing from another origin"

printf '\n== /docs in headless Chromium\n'
browser() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$WORK/chromium" --enable-logging=stderr --v=0 --virtual-time-budget=30000 "$@"
}
browser --dump-dom "$BASE/docs" >"$ARTIFACTS/docs-dom.html" 2>"$ARTIFACTS/chromium.log" || true
browser --screenshot="$ARTIFACTS/docs.png" --window-size=1280,3000 --hide-scrollbars "$BASE/docs" \
    >/dev/null 2>>"$ARTIFACTS/chromium.log" || true
# Swagger UI renders each operation as an element with id operations-<tag>-<operationId>.
curl -fsS -m 10 "$BASE/openapi.json" | jq -r '.paths | to_entries[] | .value | to_entries[]
    | select(.key | IN("get", "put", "post", "delete", "patch", "head", "options", "trace"))
    | "operations-\(.value.tags[0])-\(.value.operationId)"' >"$WORK/operations"
missing=()
while read -r id; do
    grep -q "id=\"$id\"" "$ARTIFACTS/docs-dom.html" || missing+=("$id")
done <"$WORK/operations"
total=$(wc -l <"$WORK/operations")
if ((${#missing[@]} == 0 && total > 0)); then
    pass "the rendered page lists all $total operations of the document"
else
    fail "the rendered page lacks ${#missing[@]} of $total operations: ${missing[*]}" \
        "DOM: $ARTIFACTS/docs-dom.html ($(wc -c <"$ARTIFACTS/docs-dom.html") bytes)"
fi
if grep -i "Content Security Policy\|Refused to" "$ARTIFACTS/chromium.log" >&2; then
    fail "the page violated its Content-Security-Policy (see $ARTIFACTS/chromium.log)"
else
    pass "no Content-Security-Policy violation while rendering"
fi
[[ -s "$ARTIFACTS/docs.png" ]] && pass "screenshot of /docs: $ARTIFACTS/docs.png" || fail "no screenshot"

printf '\nartifacts: %s (schemathesis.log, schemathesis-junit.xml, schemathesis-links.log, links/,\n  docs-dom.html, docs.png, chromium.log)\n' "$ARTIFACTS"
finish
