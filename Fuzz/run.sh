#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for FUZZ_SECONDS (default 60).
# Fails (exit 1) on any crash, leak, sanitizer report or fuzz invariant.
#
#   FUZZ_SECONDS=60       time per target
#   FUZZ_TARGETS="decoder filter socket"
#   FUZZ_DIR=.build-fuzz/fuzz   binaries, grown corpora, crash artifacts
#   TCPEEK_CORPUS=../shared/corpus   captures the decoder seeds come from
#
# The targets are compiled with swiftc directly over the sources they test
# (Sources/TCPeekCore/*.swift; for `socket`, SocketRequest.swift and what it
# uses of the store) and one Fuzz/*Fuzzer.swift entry point
# (LLVMFuzzerTestOneInput), so the package needs no fuzzing target.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
TARGETS="${FUZZ_TARGETS:-decoder filter socket}"
DIR="${FUZZ_DIR:-.build-fuzz/fuzz}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
CAPTURES="${TCPEEK_CORPUS:-../shared/corpus}"
mkdir -p "$DIR/artifacts"

# The sources of each target: one module, its entry point last.
# QUERY's object is read by TCPeekWire's QueryRequest: those files, and what they use.
WIRE_SOURCES="Sources/TCPeekWire/QueryRequest.swift Sources/TCPeekWire/WireJSON.swift Sources/TCPeekWire/WireEncoder.swift Sources/TCPeekWire/HelpAnswer.swift"
SOCKET_SOURCES="Sources/TCPeekServer/SocketRequest.swift Sources/TCPeekStore/TimeExpression.swift Sources/TCPeekStore/HistoryQuery.swift Sources/TCPeekCore/DurationText.swift $WIRE_SOURCES"
sources_of() {
    case "$1" in
        decoder) echo Sources/TCPeekCore/*.swift Fuzz/DecoderTrackerFuzzer.swift ;;
        filter) echo Sources/TCPeekCore/*.swift Fuzz/FilterParserFuzzer.swift ;;
        socket) echo $SOCKET_SOURCES Fuzz/SocketRequestFuzzer.swift ;;
        *) echo "fuzz: unknown target '$1' (known: decoder filter socket)" >&2; exit 2 ;;
    esac
}

build() {
    local target=$1 binary root=$PWD
    binary="$DIR/fuzz-$target"
    # Rebuild only when a source is newer than the binary.
    # shellcheck disable=SC2046
    if [ -x "$binary" ] && [ -z "$(find $(sources_of "$target") Sources/CPrefetch -newer "$binary" | head -1)" ]; then
        return
    fi
    echo "fuzz: building $binary"
    local flags=(-sanitize=fuzzer,address -parse-as-library -O -g -wmo -use-ld=lld)
    # From inside $DIR: with -g, swiftc leaves <module>-1.swiftmodule and
    # friends in the working directory.
    case "$target" in
        decoder | filter)
            # shellcheck disable=SC2046
            (cd "$DIR" && swiftc "${flags[@]}" -module-name TCPeekCore -I "$root/Sources/CPrefetch/include" $(sources_of "$target" | sed "s|[^ ]*|$root/&|g") -o "$binary")
            ;;
        socket)
            # SocketRequest.swift with what it uses of the store (TimeExpression,
            # and the TimeBucketing enum cut out of HistoryQuery.swift), of the
            # core (DurationText) and of TCPeekWire (QueryRequest), in one module;
            # empty stub modules answer its imports of TCPeekCore, TCPeekStore
            # and TCPeekWire, so GRDB and NIO stay out.
            local work="$DIR/socket-build"
            rm -rf "$work" && mkdir -p "$work/stub"
            awk '/^public enum TimeBucketing/,/^}/' Sources/TCPeekStore/HistoryQuery.swift >"$work/TimeBucketing.swift"
            : >"$work/stub/Empty.swift"
            for module in TCPeekCore TCPeekStore TCPeekWire; do
                (cd "$work" && swiftc -emit-module -parse-as-library -module-name $module stub/Empty.swift \
                    -emit-module-path stub/$module.swiftmodule)
            done
            # shellcheck disable=SC2046
            (cd "$work" && swiftc "${flags[@]}" -module-name TCPeekServer -I stub \
                "$root/Sources/TCPeekServer/SocketRequest.swift" "$root/Sources/TCPeekStore/TimeExpression.swift" \
                "$root/Sources/TCPeekCore/DurationText.swift" $(echo $WIRE_SOURCES | sed "s|[^ ]*|$root/&|g") \
                TimeBucketing.swift "$root/Fuzz/SocketRequestFuzzer.swift" -o "$binary")
            ;;
    esac
}

seeds_of() {
    local target=$1 seeds
    case "$target" in
        decoder)
            # Seeds from the real captures, written at each run (not committed),
            # plus the few small ones of Fuzz/seeds/decoder.
            seeds=$(mktemp -d "${TMPDIR:-/tmp}/tcpeek-fuzz-seeds.XXXXXX")
            if [ -d "$CAPTURES" ]; then
                python3 Fuzz/make-seeds.py "$CAPTURES" "$seeds" >&2
            else
                echo "fuzz: warning: no capture corpus at $CAPTURES; starting from Fuzz/seeds/decoder only" >&2
            fi
            cp Fuzz/seeds/decoder/* "$seeds"/ 2>/dev/null || true
            echo "$seeds"
            ;;
        filter) echo Fuzz/seeds/filter ;;
        socket) echo Fuzz/seeds/socket ;;
    esac
}

status=0
for target in $TARGETS; do
    build "$target"
done
for target in $TARGETS; do
    corpus="$DIR/corpus-$target"
    mkdir -p "$corpus"
    seeds=$(seeds_of "$target")
    log="$DIR/fuzz-$target.log"
    options=(-max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1
             -print_final_stats=1 -artifact_prefix="$DIR/artifacts/$target-")
    [ -f "Fuzz/$target.dict" ] && options+=(-dict="Fuzz/$target.dict")
    echo "fuzz: $target for ${SECONDS_PER_TARGET} s (log: $log)"
    # halt_on_error and abort_on_error make any sanitizer report fatal.
    if ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:${ASAN_OPTIONS:-}" \
        "$DIR/fuzz-$target" "${options[@]}" "$corpus" "$seeds" >"$log" 2>&1; then
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added))' "$log" | sed "s/^/fuzz: $target: /"
    else
        status=1
        echo "fuzz: $target FAILED; the end of its log:" >&2
        tail -n 60 "$log" >&2
        echo "fuzz: reproduce with: $DIR/fuzz-$target $DIR/artifacts/$target-<crash file>" >&2
    fi
    case "$seeds" in "${TMPDIR:-/tmp}"/tcpeek-fuzz-seeds.*) rm -rf "$seeds" ;; esac
done
exit $status
