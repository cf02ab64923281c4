#!/usr/bin/env bash
# Bench/run.sh — what `make bench` runs. See Bench/README.md for what each
# figure means. Run from anywhere; everything lands in Bench/out/ (git-ignored)
# and the report is also written to Bench/out/report.txt.
#
# Environment knobs (defaults in brackets):
#   ATTEMPTS [1000000]   attempts in the benchmark capture (mode mix)
#   SEED [1]  RATE [20000]  generator seed and attempts per second of packet time
#   RUNS [5]             timed runs of the baseline and of tcpeek (best is kept)
#   OPEN_ATTEMPTS [1000000]  attempts held open at once for the memory test
#   ALLOC_SMALL [200000] ALLOC_LARGE [400000]  attempts of the allocation test files
#   SCRATCH [.build]     SwiftPM build directory
#   HISTORY_SESSIONS [10000000]  sessions of the 30-day database the query is timed on
#   SKIP_TCPEEK [0]      1: only build, generate and time the baseline (while
#                        tcpeek is not usable yet)
#   SKIP_SHIP [0]        1: leave out shipping to ClickHouse (a private
#                        clickhouse-server on 127.0.0.1, started and stopped here)
set -euo pipefail

# tcpeek's command line. {pcap} is replaced by the capture to read. Flags that
# keep the run to decoding and tracking (no database, no socket, machine-
# readable summary) are appended when `tcpeek record --help` lists them; see
# OPTIONAL_FLAGS.
SCRATCH=${SCRATCH:-.build}
TCPEEK_CMD=("$SCRATCH/release/tcpeek" record -r '{pcap}' -q)
OPTIONAL_FLAGS=(--no-db --no-socket --json-summary)

ATTEMPTS=${ATTEMPTS:-1000000}
SEED=${SEED:-1}
RATE=${RATE:-20000}
RUNS=${RUNS:-5}
OPEN_ATTEMPTS=${OPEN_ATTEMPTS:-1000000}
ALLOC_SMALL=${ALLOC_SMALL:-200000}
ALLOC_LARGE=${ALLOC_LARGE:-400000}
SKIP_TCPEEK=${SKIP_TCPEEK:-0}
SKIP_SHIP=${SKIP_SHIP:-0}
HISTORY_SESSIONS=${HISTORY_SESSIONS:-10000000}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=Bench/out
SYNTH=$SCRATCH/release/tcpeek-synth
mkdir -p "$OUT"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------

ensure_packages() {
    local missing=() p
    local packages=(libpcap-dev libsqlite3-dev time gcc sqlite3)
    [[ $SKIP_SHIP == 1 ]] || packages+=(clickhouse-server clickhouse-client curl)
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get install -y "${missing[@]}" >&2
}

build() {
    log "building release binaries"
    # One product per invocation: SwiftPM keeps only the last --product.
    swift build -c release --scratch-path "$SCRATCH" --product tcpeek-synth >&2
    if [[ $SKIP_TCPEEK != 1 ]]; then
        swift build -c release --scratch-path "$SCRATCH" --product tcpeek >&2
    fi
    cc -O2 -Wall -o "$OUT/pcap-count" Bench/pcap-count.c -lpcap
    cc -O2 -Wall -shared -fPIC -o "$OUT/malloc-count.so" Bench/malloc-count.c -ldl
    cc -O2 -Wall -o "$OUT/sqlite-insert" Bench/sqlite-insert.c -lsqlite3
}

# --- captures --------------------------------------------------------------

# generate NAME ARGS...: writes $OUT/NAME.pcap and its expected counts to
# $OUT/NAME.json, unless both exist for the same arguments and the same
# generator sources (the output is a pure function of those).
generate() {
    local name=$1; shift
    local pcap=$OUT/$name.pcap json=$OUT/$name.json key=$OUT/$name.key
    local want
    want="$* $(cat Bench/Sources/tcpeek-synth/*.swift | sha256sum | cut -c1-16)"
    if [[ -s $pcap && -s $json && -f $key && $(cat "$key") == "$want" ]]; then
        log "reusing $pcap"
        return
    fi
    log "generating $pcap ($*)"
    rm -f "$key"
    "$SYNTH" "$@" --output "$pcap" >"$json"
    printf '%s' "$want" >"$key"
}

# field FILE KEY: a number from the generator's one-line JSON.
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }

# --- running ---------------------------------------------------------------

now_ns() { date +%s%N; }

# tcpeek_args PCAP: the tcpeek command line for PCAP, in array TCPEEK_RUN.
tcpeek_args() {
    TCPEEK_RUN=("${TCPEEK_CMD[@]//\{pcap\}/$1}")
    TCPEEK_RUN+=("${EXTRA_FLAGS[@]}")
}

detect_flags() {
    EXTRA_FLAGS=()
    local help flag
    help=$("${TCPEEK_CMD[0]}" record --help 2>&1 || true)
    for flag in "${OPTIONAL_FLAGS[@]}"; do
        if grep -q -- "$flag\b" <<<"$help"; then EXTRA_FLAGS+=("$flag"); fi
    done
    log "tcpeek command: ${TCPEEK_CMD[*]} ${EXTRA_FLAGS[*]}"
}

# timed LOG CMD...: runs CMD with stdout+stderr to LOG; sets ELAPSED (seconds)
# and RSS (peak resident set, KiB, from GNU time).
timed() {
    local log=$1; shift
    local rssfile=$OUT/.rss start end
    start=$(now_ns)
    if ! /usr/bin/time -f %M -o "$rssfile" "$@" >"$log" 2>&1; then
        die "failed: $* (see $log)"
    fi
    end=$(now_ns)
    ELAPSED=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
    RSS=$(tail -n 1 "$rssfile")
}

min() { printf '%s\n' "$@" | sort -g | head -n 1; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b == 0) print "n/a"; else printf f, a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
grouped() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }  # 1234567 -> 1,234,567

# summary_value LOG LABEL: the number after "LABEL" in the first filter block
# of tcpeek's text summary (SPEC §4), or nothing.
summary_value() {
    sed -n "s|^ *$2[^0-9]*\([0-9][0-9]*\).*|\1|p" "$1" | head -n 1
}

# check_counts LOG JSON: compares tcpeek's summary with the expected counts.
check_counts() {
    local log=$1 json=$2 verdict=OK label key got want
    local -a pairs=(
        "Success:success" "Connection Timed Out:timeout" "Connection Rejected:reject"
        "ICMP Unreachable:unreach" "Connection Aborted:abort"
        "SYN Segment Duplicate:dupsyn" "S/A Segment Duplicate:dupsynack"
    )
    for pair in "${pairs[@]}"; do
        label=${pair%%:*} key=${pair##*:}
        got=$(summary_value "$log" "$label")
        want=$(field "$json" "$key")
        if [[ -z $got ]]; then echo "n/a (no text summary found)"; return; fi
        [[ $got == "$want" ]] || verdict="MISMATCH ($label: got $got, expected $want)"
    done
    echo "$verdict"
}

# --- a private ClickHouse ----------------------------------------------------

# start_clickhouse: a clickhouse-server of its own in $OUT/clickhouse (as
# Tests/TCPeekStoreTests/ClickHouseTestServer.swift starts one): 127.0.0.1,
# free ports, one user `tcpeek` whose password is in $CH_PASSWORD_FILE.
# Sets CH_URL, CH_TCP_PORT and CH_PID.
start_clickhouse() {
    local folder=$PWD/$OUT/clickhouse
    stop_clickhouse
    rm -rf "$folder"
    mkdir -p "$folder/log" "$folder/data/user_files" "$folder/tmp" "$folder/format_schemas"
    chmod 700 "$folder"
    CH_PASSWORD_FILE=$folder/password
    head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CH_PASSWORD_FILE"
    chmod 600 "$CH_PASSWORD_FILE"
    local http tcp
    read -r http tcp < <(python3 -c 'import socket
ports = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s); 
print(*[s.getsockname()[1] for s in ports])')
    cat >"$folder/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$folder/log/server.log</log><errorlog>$folder/log/error.log</errorlog><size>100M</size><count>1</count></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <path>$folder/data/</path>
    <tmp_path>$folder/tmp/</tmp_path>
    <user_files_path>$folder/data/user_files/</user_files_path>
    <format_schema_path>$folder/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709120</mark_cache_size>
    <timezone>UTC</timezone>
</yandex>
XML
    cat >"$folder/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users><tcpeek><password>$(cat "$CH_PASSWORD_FILE")</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></tcpeek></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
    /usr/sbin/clickhouse-server --config-file="$folder/config.xml" >"$folder/log/stdout.log" 2>&1 &
    CH_PID=$!
    CH_URL=http://127.0.0.1:$http/
    CH_TCP_PORT=$tcp
    local i
    for ((i = 0; i < 200; i++)); do
        [[ $(curl -s "$CH_URL"ping 2>/dev/null) == Ok. ]] && return
        kill -0 "$CH_PID" 2>/dev/null || break
        sleep 0.1
    done
    die "clickhouse-server did not start (see $folder/log/)"
}

stop_clickhouse() {
    [[ -n ${CH_PID:-} ]] || return 0
    kill "$CH_PID" 2>/dev/null || true
    wait "$CH_PID" 2>/dev/null || true
    CH_PID=
}

# ch SQL: runs SQL through clickhouse-client, the native protocol.
ch() {
    clickhouse-client --host 127.0.0.1 --port "$CH_TCP_PORT" --user tcpeek --password "$(cat "$CH_PASSWORD_FILE")" --query "$1"
}

# --- main ------------------------------------------------------------------

ensure_packages
build
[[ $SKIP_TCPEEK == 1 ]] || detect_flags

MIX=$OUT/mix.pcap
generate mix --mode mix --attempts "$ATTEMPTS" --seed "$SEED" --rate "$RATE"
PACKETS=$(field "$OUT/mix.json" packets)
TOTAL_ATTEMPTS=$(field "$OUT/mix.json" attempts)
BYTES=$(field "$OUT/mix.json" bytes)

# Every contestant reads from the page cache, not the disk: the file is read
# again before each timed run, since the kernel may reclaim idle cache in
# between (this VM runs DAMON-based reclaim).
warm() { cat "$@" >/dev/null; }

log "baseline: pcap-count x$RUNS (plain and --in-place)"
base_times=() inplace_times=()
for ((i = 1; i <= RUNS; i++)); do
    warm "$MIX"
    timed "$OUT/pcap-count.log" "$OUT/pcap-count" "$MIX"
    base_times+=("$ELAPSED")
    grep -q "packets=$PACKETS " "$OUT/pcap-count.log" || die "pcap-count read a different packet count"
    warm "$MIX"
    timed "$OUT/pcap-count-in-place.log" "$OUT/pcap-count" --in-place "$MIX"
    inplace_times+=("$ELAPSED")
    grep -q "packets=$PACKETS " "$OUT/pcap-count-in-place.log" || die "pcap-count --in-place read a different packet count"
done
BASE_BEST=$(min "${base_times[@]}")
INPLACE_BEST=$(min "${inplace_times[@]}")
BASE_PPS=$(div "$PACKETS" "$BASE_BEST" %.0f)

report() {
    echo "tcpeek benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host        : $(nproc) CPU, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
    echo "source      : $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
    echo "capture     : $MIX: $(grouped "$TOTAL_ATTEMPTS") attempts, $(grouped "$PACKETS") packets, $(div "$BYTES" 1048576 %.0f) MiB (seed $SEED, $RATE attempts/s)"
    echo "expected    : $(cat "$OUT/mix.json")"
    echo
    echo "baseline    : pcap-count, best of $RUNS: ${BASE_BEST} s = $(div "$PACKETS" "$BASE_BEST" %.0f) packets/s   (runs: ${base_times[*]})"
    [[ $SKIP_TCPEEK == 1 ]] && { echo "tcpeek      : skipped (SKIP_TCPEEK=1)"; return; }
    echo "tcpeek      : best of $RUNS: ${TCPEEK_BEST} s = $(div "$PACKETS" "$TCPEEK_BEST" %.0f) packets/s, $(div "$TOTAL_ATTEMPTS" "$TCPEEK_BEST" %.0f) attempts/s   (runs: ${tcpeek_times[*]})"
    echo "RATIO       : tcpeek/baseline = $(div "$BASE_BEST" "$TCPEEK_BEST" %.3f)   (packets/s over packets/s; 1 = as fast as merely reading the file)"
    echo "in place    : pcap-count --in-place (records read in place, as tcpeek reads a pcap file), best of $RUNS: ${INPLACE_BEST} s   (runs: ${inplace_times[*]})"
    echo "              tcpeek/in-place baseline = $(div "$INPLACE_BEST" "$TCPEEK_BEST" %.3f)   (the share of reading alone, with tcpeek's own reader)"
    echo "peak RSS    : tcpeek on the mix: $(mib "$TCPEEK_RSS")"
    echo "recorded    : into a new database (--db, default batches), best of $RUNS: ${RECORD_TIME} s = $(div "$TOTAL_ATTEMPTS" "$RECORD_TIME" %.0f) attempts/s," \
        "$(grouped "$RECORD_ROWS") rows; without a database: $(div "$TOTAL_ATTEMPTS" "$TCPEEK_BEST" %.0f) attempts/s   (runs: ${record_times[*]})"
    echo "SQLite alone: the same rows by Bench/sqlite-insert.c (SQLite $SQLITE_VERSION, 5000 a transaction, 32 a statement), best of $RUNS:" \
        "${SQLITE_TIME} s = $(div "$RECORD_ROWS" "$SQLITE_TIME" %.0f) rows/s   (runs: ${sqlite_times[*]})"
    echo "              recorder/SQLite = $(div "$RECORD_TIME" "$SQLITE_TIME" %.3f)   (the recorder's time over SQLite's own limit for these rows; target <= 1.15)"
    echo "query       : tcpeek query --since 30d --by hour over $(grouped "$HISTORY_SESSIONS") sessions (30 days): best of $RUNS ${QUERY_BEST_MS} ms   (runs: ${query_times[*]})"
    echo "counts      : $COUNT_CHECK"
    if [[ $SKIP_SHIP != 1 ]]; then
        echo "shipped     : the recorded database to ClickHouse $CH_VERSION (tcpeek ship --once, HTTP, batches of 100,000), best of $RUNS:" \
            "${SHIP_TIME} s = $(div "$RECORD_ROWS" "$SHIP_TIME" %.0f) sessions/s   (runs: ${ship_times[*]})"
        echo "ClickHouse  : the same rows by clickhouse-client from a TSV file (native protocol, one INSERT), best of $RUNS:" \
            "${CH_CLIENT_TIME} s = $(div "$RECORD_ROWS" "$CH_CLIENT_TIME" %.0f) rows/s   (runs: ${ch_client_times[*]})"
        echo "              ship/clickhouse-client = $(div "$CH_CLIENT_TIME" "$SHIP_TIME" %.3f)   (rows/s over rows/s; 1 = as fast as ClickHouse's own client; shipping must keep up with recording, >= 300k sessions/s)"
        echo "record+ship : record --ship into a new database, CPU (user+sys), best of $RUNS: ${SHIP_RECORD_CPU} s against ${PLAIN_RECORD_CPU} s without --ship" \
            "= +$(awk -v a="$SHIP_RECORD_CPU" -v b="$PLAIN_RECORD_CPU" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }') %   (target < 10 %; ClickHouse's own CPU not counted)"
        echo "              (runs with --ship: ${ship_cpu[*]}; without: ${plain_cpu[*]})"
    fi
    echo
    echo "open        : $(grouped "$OPEN_ATTEMPTS") attempts open at once: peak RSS $(mib "$OPEN_RSS");" \
        "1,000-attempt file: $(mib "$OPEN_SMALL_RSS"); => $(div "$(((OPEN_RSS - OPEN_SMALL_RSS) * 1024))" "$((OPEN_ATTEMPTS - 1000))" %.0f) bytes per open attempt"
    echo "allocations : $(grouped "$ALLOC_SMALL") attempts: $(grouped "$ALLOCS_SMALL") allocs / $(grouped "$PACKETS_SMALL") packets;" \
        "$(grouped "$ALLOC_LARGE") attempts: $(grouped "$ALLOCS_LARGE") allocs / $(grouped "$PACKETS_LARGE") packets"
    echo "              => $(div "$((ALLOCS_LARGE - ALLOCS_SMALL))" "$((PACKETS_LARGE - PACKETS_SMALL))" %.4f) allocations per packet" \
        "($(div "$((ALLOCS_LARGE - ALLOCS_SMALL))" "$(($(field "$OUT/alloc-large.json" attempts) - $(field "$OUT/alloc-small.json" attempts)))" %.3f) per attempt)"
}

if [[ $SKIP_TCPEEK != 1 ]]; then
    log "tcpeek x$RUNS"
    tcpeek_args "$MIX"
    tcpeek_times=() rss=()
    for ((i = 1; i <= RUNS; i++)); do
        warm "$MIX"
        timed "$OUT/tcpeek-mix.log" "${TCPEEK_RUN[@]}"
        tcpeek_times+=("$ELAPSED") rss+=("$RSS")
    done
    TCPEEK_BEST=$(min "${tcpeek_times[@]}")
    TCPEEK_RSS=$(max "${rss[@]}")
    COUNT_CHECK=$(check_counts "$OUT/tcpeek-mix.log" "$OUT/mix.json")

    # History: the mix recorded into a new database, every session a row.
    log "recording into a new database x$RUNS"
    record_times=()
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$OUT/record.db" "$OUT/record.db-wal" "$OUT/record.db-shm"
        warm "$MIX"
        timed "$OUT/tcpeek-record.log" "$SCRATCH/release/tcpeek" record -r "$MIX" -q --db "$OUT/record.db" --no-socket
        record_times+=("$ELAPSED")
        RECORD_ROWS=$(sqlite3 "$OUT/record.db" "SELECT count(*) FROM sessions")
        [[ $RECORD_ROWS == "$TOTAL_ATTEMPTS" ]] || die "recorded $RECORD_ROWS rows for $TOTAL_ATTEMPTS attempts"
    done
    RECORD_TIME=$(min "${record_times[@]}")

    # SQLite's own limit for these rows: the rows just recorded inserted
    # again by a plain C program (Bench/sqlite-insert.c) into the same
    # table, through the same system SQLite, in tcpeek's default batches
    # and statements (5000 rows a transaction, 32 rows a statement).
    log "the same rows through SQLite alone x$RUNS"
    sqlite_times=()
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$OUT/sqlite-limit.db" "$OUT/sqlite-limit.db-wal" "$OUT/sqlite-limit.db-shm"
        "$OUT/sqlite-insert" --batch 5000 --rows-per-statement 32 "$OUT/record.db" "$OUT/sqlite-limit.db" \
            >"$OUT/sqlite-insert.log" 2>&1 || die "sqlite-insert failed (see $OUT/sqlite-insert.log)"
        grep -q "^rows=$TOTAL_ATTEMPTS " "$OUT/sqlite-insert.log" || die "sqlite-insert wrote other rows (see $OUT/sqlite-insert.log)"
        sqlite_times+=("$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$OUT/sqlite-insert.log")")
    done
    SQLITE_TIME=$(min "${sqlite_times[@]}")
    SQLITE_VERSION=$(sed -n 's/.* sqlite=\([0-9.]*\).*/\1/p' "$OUT/sqlite-insert.log")
    rm -f "$OUT/sqlite-limit.db" "$OUT/sqlite-limit.db-wal" "$OUT/sqlite-limit.db-shm"

    # Shipping: the recorded database to a private ClickHouse, then the rows
    # ClickHouse ended up with exported as TSV and inserted again by
    # clickhouse-client (the floor), each into emptied tables.
    if [[ $SKIP_SHIP != 1 ]]; then
        log "shipping to ClickHouse x$RUNS"
        start_clickhouse
        trap stop_clickhouse EXIT
        CH_VERSION=$(ch "SELECT version()")
        # An array, not a function: `timed` runs it through /usr/bin/time.
        ship=("$SCRATCH/release/tcpeek" ship --clickhouse-password-file "$CH_PASSWORD_FILE" --host bench)
        export TCPEEK_CLICKHOUSE_USER=tcpeek
        "${ship[@]}" --init "$CH_URL" >"$OUT/ship-init.log" 2>&1 || die "tcpeek ship --init failed (see $OUT/ship-init.log)"
        empty_clickhouse() { ch "TRUNCATE TABLE tcpeek.sessions"; ch "TRUNCATE TABLE tcpeek.sessions_minute"; }
        ship_times=()
        for ((i = 1; i <= RUNS; i++)); do
            empty_clickhouse
            cp "$OUT/record.db" "$OUT/ship.db"
            rm -f "$OUT/ship.db-wal" "$OUT/ship.db-shm"
            warm "$OUT/ship.db"
            timed "$OUT/tcpeek-ship.log" "${ship[@]}" --once --db "$OUT/ship.db" "$CH_URL"
            ship_times+=("$ELAPSED")
            shipped=$(ch "SELECT count() FROM tcpeek.sessions")
            [[ $shipped == "$RECORD_ROWS" ]] || die "ClickHouse holds $shipped rows after shipping $RECORD_ROWS (see $OUT/tcpeek-ship.log)"
        done
        SHIP_TIME=$(min "${ship_times[@]}")
        columns=$(ch "SELECT arrayStringConcat(groupArray(name), ', ') FROM system.columns WHERE database = 'tcpeek' AND table = 'sessions' AND default_kind = ''")
        ch "SELECT $columns FROM tcpeek.sessions FORMAT TabSeparated" >"$OUT/ship-rows.tsv"
        ch_client_times=()
        for ((i = 1; i <= RUNS; i++)); do
            empty_clickhouse
            warm "$OUT/ship-rows.tsv"
            start=$(now_ns)
            ch "INSERT INTO tcpeek.sessions ($columns) FORMAT TabSeparated" <"$OUT/ship-rows.tsv"
            ch_client_times+=("$(awk -v a="$start" -v b="$(now_ns)" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')")
        done
        CH_CLIENT_TIME=$(min "${ch_client_times[@]}")

        # The recorder's CPU with the shipper inside it, against without.
        log "record with and without --ship x$RUNS"
        cpu() { awk '{ printf "%.2f", $1 + $2 }' "$OUT/.cpu"; }
        plain_cpu=() ship_cpu=()
        for ((i = 1; i <= RUNS; i++)); do
            for mode in plain ship; do
                empty_clickhouse
                rm -f "$OUT/record-ship.db" "$OUT/record-ship.db-wal" "$OUT/record-ship.db-shm"
                flags=()
                [[ $mode == ship ]] && flags=(--ship "$CH_URL" --clickhouse-password-file "$CH_PASSWORD_FILE" --host-label bench)
                warm "$MIX"
                /usr/bin/time -f "%U %S" -o "$OUT/.cpu" "$SCRATCH/release/tcpeek" record -r "$MIX" -q --db "$OUT/record-ship.db" --no-socket "${flags[@]}" \
                    >"$OUT/tcpeek-record-$mode.log" 2>&1 || die "record ($mode) failed (see $OUT/tcpeek-record-$mode.log)"
                if [[ $mode == ship ]]; then
                    ship_cpu+=("$(cpu)")
                    shipped=$(ch "SELECT count() FROM tcpeek.sessions")
                    [[ $shipped == "$TOTAL_ATTEMPTS" ]] || die "record --ship left ClickHouse with $shipped rows of $TOTAL_ATTEMPTS"
                else
                    plain_cpu+=("$(cpu)")
                fi
            done
        done
        PLAIN_RECORD_CPU=$(min "${plain_cpu[@]}")
        SHIP_RECORD_CPU=$(min "${ship_cpu[@]}")
        stop_clickhouse
        rm -f "$OUT/ship.db" "$OUT/record-ship.db"* "$OUT/ship-rows.tsv"
    fi

    # A 30-day history of HISTORY_SESSIONS sessions (Bench/make-history.sql,
    # on the schema of Schema/), remade when older than a day, of another
    # size, or made by another schema or script.
    HISTORY=$OUT/history.db
    history_key="$HISTORY_SESSIONS $(cat Schema/*.sql Bench/make-history.sql | sha256sum | cut -c1-16)"
    if [[ ! -s $HISTORY || $(cat "$OUT/history.key" 2>/dev/null) != "$history_key" ]] \
        || [[ -n $(find "$HISTORY" -mmin +1440) ]]; then
        log "making a 30-day history of $HISTORY_SESSIONS sessions"
        rm -f "$HISTORY" "$HISTORY-wal" "$HISTORY-shm"
        # make-history.sql writes the tables of schema version 4; the later
        # migrations then bring the file up to date, as a recorder would.
        version=0
        for file in Schema/[0-9][0-9][0-9][0-9]_*.sql; do
            version=$((10#$(basename "$file" | cut -d_ -f1)))
            if ((version == 5)); then  # the first file after the layout the script writes
                sqlite3 -cmd ".parameter set :sessions $HISTORY_SESSIONS" "$HISTORY" <Bench/make-history.sql >/dev/null
            fi
            sqlite3 "$HISTORY" <"$file"
            sqlite3 "$HISTORY" "PRAGMA user_version = $version"
        done
        echo "$history_key" >"$OUT/history.key"
    fi
    log "query over the history x$RUNS"
    query_times=()
    for ((i = 1; i <= RUNS; i++)); do
        warm "$HISTORY"
        timed "$OUT/tcpeek-query.json" "$SCRATCH/release/tcpeek" query --db "$HISTORY" --since 30d --by hour --format json
        query_times+=("$(div "$ELAPSED" 0.001 %.0f)")
    done
    QUERY_BEST_MS=$(min "${query_times[@]}")

    # Memory with every attempt open at once: the generator packs them into
    # 10 s of packet time, well inside the 60 s timeout. The small file gives
    # the fixed cost (binary, runtime, buffers) to subtract.
    generate open --mode open --attempts "$OPEN_ATTEMPTS" --seed "$SEED"
    generate open-small --mode open --attempts 1000 --seed "$SEED"
    log "open-attempt memory"
    tcpeek_args "$OUT/open.pcap"
    timed "$OUT/tcpeek-open.log" "${TCPEEK_RUN[@]}"
    OPEN_RSS=$RSS
    tcpeek_args "$OUT/open-small.pcap"
    timed "$OUT/tcpeek-open-small.log" "${TCPEEK_RUN[@]}"
    OPEN_SMALL_RSS=$RSS

    # Allocations per packet: same mix, two sizes; the difference cancels
    # start-up and end-of-file costs.
    generate alloc-small --mode mix --attempts "$ALLOC_SMALL" --seed "$SEED" --rate "$RATE"
    generate alloc-large --mode mix --attempts "$ALLOC_LARGE" --seed "$SEED" --rate "$RATE"
    log "allocation count"
    count_allocs() { # PCAP -> total allocations of the process that made the most
        local countfile=$OUT/.allocs
        rm -f "$countfile"
        tcpeek_args "$1"
        MALLOC_COUNT_OUT=$PWD/$countfile LD_PRELOAD=$PWD/$OUT/malloc-count.so \
            "${TCPEEK_RUN[@]}" >"$OUT/tcpeek-alloc.log" 2>&1 || die "tcpeek failed under malloc-count (see $OUT/tcpeek-alloc.log)"
        sed -n 's/.* total=\([0-9]*\) .*/\1/p' "$countfile" | sort -n | tail -n 1
    }
    ALLOCS_SMALL=$(count_allocs "$OUT/alloc-small.pcap")
    ALLOCS_LARGE=$(count_allocs "$OUT/alloc-large.pcap")
    PACKETS_SMALL=$(field "$OUT/alloc-small.json" packets)
    PACKETS_LARGE=$(field "$OUT/alloc-large.json" packets)
fi

report | tee "$OUT/report.txt"
