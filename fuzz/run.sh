#!/usr/bin/env bash
# Builds the libFuzzer targets (the three HTTP/1.1 parsers, the HTTP/2 frame decoder, HPACK
# and connection state machine, ServiceKit's JSON parser) and runs
# each for a bounded time.
#
# Usage: fuzz/run.sh [seconds-per-target]   (default 20)
# Each target is compiled with swiftc from the parser's sources alone (no SwiftPM, no
# Foundation) and runs on a temporary copy of its seed corpus, so the committed corpus
# never grows. Exits non-zero if any target finds a crash or an input that runs over 10 s
# (libFuzzer's -timeout); the reproducer is kept as fuzz/crash-<target>-*.
set -euo pipefail

seconds="${1:-20}"
# The longest one input may take before libFuzzer reports it as a hang (seconds).
input_timeout=10
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/fuzz/.build-fuzz"
mkdir -p "$build"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
for pair in request:FuzzRequestParser response:FuzzResponseParser chunked:FuzzChunkedBody http2:FuzzHTTP2 \
    json:FuzzJSONParser; do
    target="${pair%%:*}"
    source="${pair#*:}"
    binary="$build/$target"
    if [[ "$target" == json ]]; then
        sources=("$root"/Sources/ServiceKit/JSON/*.swift "$root/Sources/Telemetry/JSONText.swift" "$root/fuzz/$source.swift")
        dict="$root/fuzz/json.dict"
    elif [[ "$target" == http2 ]]; then
        # The HTTP/2 machine words its own answers through the server's error renderer.
        sources=("$root"/Sources/HTTP/Messages/*.swift "$root"/Sources/HTTP/HTTP2/*.swift
            "$root"/Sources/HTTP/Server/{HTTPErrorRenderer,HTTPServerError}.swift
            "$root/Sources/HTTP/Parser/HTTPParseError.swift" "$root/Sources/HTTP/Router/PathParameters.swift"
            "$root/fuzz/$source.swift")
        dict="$root/fuzz/http2.dict"
    else
        sources=("$root"/Sources/HTTP/Messages/*.swift "$root"/Sources/HTTP/Parser/*.swift
            "$root/Sources/HTTP/Serializer/HTTPHeadWriter.swift"
            "$root/fuzz/Support/FuzzDriver.swift" "$root/fuzz/$source.swift")
        dict="$root/fuzz/http.dict"
    fi
    # The linker's warnings about ASan's local symbols are noise: keep them out of sight
    # unless the build fails.
    if ! swiftc -O -wmo -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz_$target" \
        "${sources[@]}" -o "$binary" >"$work/$target.build.log" 2>&1; then
        grep -v 'Cannot export local symbol' "$work/$target.build.log" >&2
        echo "fuzz $target: BUILD FAILED"
        exit 1
    fi

    corpus="$work/$target"
    mkdir -p "$corpus"
    cp "$root/fuzz/corpus/$target/"* "$corpus/"
    log="$work/$target.log"
    # -timeout: an input that takes over $input_timeout s is a finding (libFuzzer's default is
    # 1200 s); the outer timeout bounds the whole target should libFuzzer itself stop answering.
    rc=0
    timeout --kill-after=10 "$((seconds + 120))" \
        "$binary" "$corpus" -dict="$dict" -max_total_time="$seconds" -timeout="$input_timeout" -timeout_exitcode=70 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$root/fuzz/crash-$target-" >"$log" 2>&1 || rc=$?
    if ((rc == 0)); then
        result="ok"
    elif ((rc == 70)); then
        # libFuzzer's exit code for an input that ran over -timeout.
        result="SLOW INPUT (one input ran over ${input_timeout}s)"
        status=1
        tail -n 40 "$log" >&2
    elif ((rc == 124 || rc == 137)); then
        result="HUNG (still running $((seconds + 120))s after a ${seconds}s run; stopped)"
        status=1
        tail -n 40 "$log" >&2
    else
        result="CRASH (exit $rc)"
        status=1
        tail -n 40 "$log" >&2
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    coverage="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)"
    echo "fuzz $target: $result, runs ${runs:-?}, ${speed:-?} execs/s, ${coverage:-cov: ?}, ${seconds}s"
done
exit "$status"
