#!/usr/bin/env bash
# Soak/run.sh — what `make soak` runs (issue 6, item 7).
#
# Replays generated captures into a private two-namespace network for
# SOAK_SECONDS while a live `tcpeek record` captures them, socket clients
# poll and history queries run (Soak/monitor.py); then stops tcpeek with
# SIGINT and checks that nothing was lost or leaked:
#
#   ns tcpeek-soak-a-PID                    ns tcpeek-soak-b-PID
#   tcpreplay -i soak-a  ---- veth ---->    soak-b: tcpeek record -i soak-b
#
# The veth pair is created inside namespace A with its peer placed straight
# into namespace B, and the namespaces carry no addresses and no IPv6, so
# the root namespace's interfaces, routes and firewall are never touched
# and the replayed packets (documentation addresses only) exist only on
# that veth. Both namespaces are removed on every exit (trap).
#
# Writes Soak/out/report.txt (and logs beside it); exits 1 when a session
# was not recorded, database rows differ from counted sessions, a client or
# query failed, tcpeek failed, or RSS grew more than allowed after warm-up.
#
# Environment knobs (defaults in brackets):
#   SOAK_SECONDS [600]   replay time; 10 ... 86400
#   RATE [2000]          connection attempts per second in the generated
#                        captures (about 8 packets each: ~16,000 packets/s),
#                        replayed at the captures' mean packet rate
#   CHUNK_SECONDS [150]  packet-time span of one generated capture
#   CHUNKS [3]           distinct captures (seeds 1..CHUNKS), replayed in turn
#   RSS_SLACK_MIB [24]   allowed RSS growth from the end of warm-up to the end:
#                        SQLite's page cache (2 MiB a connection: the writer
#                        and up to 5 readers for the socket, 12 MiB), one
#                        more doubling of the open-attempt table if the
#                        number open drifts up, and allocator slack; a leak
#                        of even 100 bytes a session (~900,000 sessions after
#                        warm-up in 10 minutes) would exceed it
#   SCRATCH [.build-soak] SwiftPM scratch path (release build); SWIFT [swift]
#   BUILD [1]            0: use the binaries already in SCRATCH
#   KEEP [0]             1: keep the temporary folder (database, socket)
set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-600}
RATE=${RATE:-2000}
CHUNK_SECONDS=${CHUNK_SECONDS:-150}
CHUNKS=${CHUNKS:-3}
RSS_SLACK_MIB=${RSS_SLACK_MIB:-24}
SCRATCH=${SCRATCH:-.build-soak}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
MAX_SECONDS=86400

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=Soak/out
mkdir -p "$OUT"

log() { printf '[soak] %s\n' "$*" >&2; }
die() { printf '[soak] error: %s\n' "$*" >&2; exit 2; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_uint "$SOAK_SECONDS" || die "SOAK_SECONDS must be a whole number of seconds, not '$SOAK_SECONDS'"
((SOAK_SECONDS >= 10 && SOAK_SECONDS <= MAX_SECONDS)) \
    || die "SOAK_SECONDS must be within 10 ... $MAX_SECONDS (24 h), not $SOAK_SECONDS"
for knob in RATE CHUNK_SECONDS CHUNKS RSS_SLACK_MIB; do
    is_uint "${!knob}" && ((${!knob} > 0)) || die "$knob must be a positive whole number"
done
((RATE <= 20000)) || die "RATE above 20000 attempts/s measures overload, not a soak"
# An attempt's client address/port comes back in the next capture CHUNK_SECONDS
# later (every capture numbers its clients from the start). It must not find
# the previous attempt still open (timeout 60 s after its last SYN at +3 s) or
# its success still remembered (60 s): then every attempt is a new one and the
# replay loops count exactly like distinct traffic.
((CHUNK_SECONDS >= 75)) || die "CHUNK_SECONDS must be >= 75 (> tcpeek's 60 s timeout + 3 s of SYN retries)"
((EUID == 0)) || die "needs root (network namespaces); run as root or with sudo"
for tool in ip tcpreplay sqlite3 python3; do
    command -v "$tool" >/dev/null || die "'$tool' is missing: run 'make deps' (Debian: iproute2 tcpreplay sqlite3 python3)"
done

BIN=$SCRATCH/release
TCPEEK=$ROOT/$BIN/tcpeek
TCPEEKSTAT=$ROOT/$BIN/tcpeekstat
SYNTH=$ROOT/$BIN/tcpeek-synth

if [[ $BUILD == 1 ]]; then
    log "building release binaries in $SCRATCH"
    "${SWIFT:-swift}" build -c release --scratch-path "$SCRATCH" >&2
fi
for b in "$TCPEEK" "$TCPEEKSTAT" "$SYNTH"; do [[ -x $b ]] || die "$b is missing (BUILD=1 builds it)"; done

# --- captures ----------------------------------------------------------------

# Distinct seeds: the loops are not byte-identical (other ISNs, round-trip
# times, outcomes, ports); see CHUNK_SECONDS above for why reuse of the
# client address/port pairs is harmless.
ATTEMPTS=$((RATE * CHUNK_SECONDS))
CHUNK_FILES=()
for ((seed = 1; seed <= CHUNKS; seed++)); do
    name=$OUT/chunk-$seed
    want="$ATTEMPTS $RATE $seed $(cat Bench/Sources/tcpeek-synth/*.swift | sha256sum | cut -c1-16)"
    if [[ -s $name.pcap && -s $name.json && -f $name.key && $(cat "$name.key") == "$want" ]]; then
        log "reusing $name.pcap"
    else
        log "generating $name.pcap ($ATTEMPTS attempts at $RATE/s, seed $seed)"
        rm -f "$name.key"
        "$SYNTH" --mode mix --attempts "$ATTEMPTS" --rate "$RATE" --seed "$seed" --output "$name.pcap" >"$name.json"
        printf '%s' "$want" >"$name.key"
    fi
    CHUNK_FILES+=("$name.pcap")
done
# Drop captures of an earlier, larger CHUNKS.
for f in "$OUT"/chunk-*.pcap; do
    n=${f##*/chunk-}; n=${n%.pcap}
    if is_uint "$n" && ((n > CHUNKS)); then rm -f "$OUT/chunk-$n".*; fi
done

# --- namespaces and cleanup --------------------------------------------------

NS_A=tcpeek-soak-a-$$
NS_B=tcpeek-soak-b-$$
TMP=$(mktemp -d /tmp/tcpeek-soak.XXXXXX)
DB=$TMP/soak.db
SOCK=$TMP/tcpeek.sock
TCPEEK_PID= MONITOR_PID= REPLAY_PID=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in $REPLAY_PID $MONITOR_PID $TCPEEK_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    # Anything still running inside the namespaces, then the namespaces
    # (deleting one removes its end of the veth, and with it the pair).
    for ns in "$NS_A" "$NS_B"; do
        if ip netns pids "$ns" >/dev/null 2>&1; then
            for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
            ip netns delete "$ns" 2>/dev/null || true
        fi
    done
    if [[ $KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

log "namespaces $NS_A, $NS_B"
ip netns add "$NS_A"
ip netns add "$NS_B"
for ns in "$NS_A" "$NS_B"; do
    # No IPv6 on the new interfaces: no router solicitations or DAD on the wire,
    # only the replayed packets.
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_A" link add soak-a mtu 9000 type veth peer name soak-b netns "$NS_B" mtu 9000
ip -n "$NS_A" link set soak-a up
ip -n "$NS_B" link set soak-b up

# --- tcpeek ------------------------------------------------------------------

# Every generated server is "this host", so every attempt is RX; the extra
# filter soak:ANY@*:* counts every attempt whatever its direction.
TCPEEK_ARGS=(record -i soak-b -q --json-summary --db "$DB" -U "$SOCK"
    --local-addr 203.0.113.0/24 --local-addr 2001:db8:2::/64 'soak:ANY@*:*')
log "tcpeek ${TCPEEK_ARGS[*]}"
ip netns exec "$NS_B" "$TCPEEK" "${TCPEEK_ARGS[@]}" >"$OUT/tcpeek.json" 2>"$OUT/tcpeek.stderr" &
TCPEEK_PID=$!
for ((i = 0; i < 100; i++)); do
    [[ -S $SOCK ]] && python3 - "$SOCK" <<'EOF' 2>/dev/null && break
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1]); s.sendall(b"GET\n")
assert s.recv(1 << 16).startswith(b"[")
EOF
    kill -0 "$TCPEEK_PID" 2>/dev/null || { cat "$OUT/tcpeek.stderr" >&2; die "tcpeek exited at start"; }
    sleep 0.1
done
[[ -S $SOCK ]] || die "tcpeek's socket did not appear"
[[ $(cat /proc/$TCPEEK_PID/comm) == tcpeek ]] || die "PID $TCPEEK_PID is not tcpeek"

rss_now() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$TCPEEK_PID/status"; }
RSS_COLD=$(rss_now VmRSS)

# Warm-up: the first capture, or half the run if shorter. By then the
# open-attempt table and the success memory (60 s each), the socket's ring
# of recent sessions (262,144: 131 s at 2000/s) and SQLite's caches have
# reached their steady size; the start RSS is sampled there.
WARMUP=$((CHUNK_SECONDS < SOAK_SECONDS / 2 ? CHUNK_SECONDS : SOAK_SECONDS / 2))
rm -f "$OUT/rss.log" "$OUT/monitor.json"
python3 Soak/monitor.py --pid "$TCPEEK_PID" --socket "$SOCK" --db "$DB" \
    --tcpeek "$TCPEEK" --tcpeekstat "$TCPEEKSTAT" --warmup "$WARMUP" \
    --result "$OUT/monitor.json" --rss-log "$OUT/rss.log" 2>"$OUT/monitor.stderr" &
MONITOR_PID=$!

# --- replay ------------------------------------------------------------------

START=$(date +%s)
DEADLINE=$((START + SOAK_SECONDS))
LOOPS=0 WHOLE=0 SENT=0
rm -f "$OUT/tcpreplay.log"
log "replaying ${#CHUNK_FILES[@]} captures in turn for $SOAK_SECONDS s (warm-up ${WARMUP} s)"
while :; do
    remaining=$((DEADLINE - $(date +%s)))
    ((remaining >= 1)) || break
    chunk=${CHUNK_FILES[LOOPS % ${#CHUNK_FILES[@]}]}
    # The capture's own mean packet rate, as a fixed rate: the captures are
    # uniform, so each packet leaves about when its timestamp says, and the
    # nanosleep timer with 16 packets per tick costs ~5 % of a core where
    # following the timestamps busy-waits a whole one (and falls behind on a
    # busy 2-core machine). --duration bounds the last loop to the time left.
    pps=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["packets"] / (j["last_ts"] - j["first_ts"])))' "${chunk%.pcap}.json")
    ip netns exec "$NS_A" tcpreplay -i soak-a -T nano --pps "$pps" --pps-multi 16 --duration="$remaining" "$chunk" \
        >"$OUT/.tcpreplay.out" 2>&1 &
    REPLAY_PID=$!
    wait "$REPLAY_PID" || { cat "$OUT/.tcpreplay.out" >&2; die "tcpreplay failed"; }
    REPLAY_PID=
    { echo "=== loop $((LOOPS + 1)): $chunk"; cat "$OUT/.tcpreplay.out"; } >>"$OUT/tcpreplay.log"
    sent=$(sed -n 's/^ *Actual: \([0-9]*\) packets.*/\1/p' "$OUT/.tcpreplay.out")
    want=$(sed -n 's/.*"packets":\([0-9]*\).*/\1/p' "${chunk%.pcap}.json")
    SENT=$((SENT + ${sent:-0}))
    LOOPS=$((LOOPS + 1))
    [[ ${sent:-0} == "$want" ]] && WHOLE=$((WHOLE + 1))
    log "loop $LOOPS: ${sent:-?} of $want packets of ${chunk##*/}"
    kill -0 "$TCPEEK_PID" 2>/dev/null || die "tcpeek died during the replay (see $OUT/tcpeek.stderr)"
done
ELAPSED=$(($(date +%s) - START))
rm -f "$OUT/.tcpreplay.out"

# --- stop --------------------------------------------------------------------

kill -TERM "$MONITOR_PID"
wait "$MONITOR_PID" || true
MONITOR_PID=
RSS_END=$(rss_now VmRSS)
HWM_END=$(rss_now VmHWM)
log "stopping tcpeek (SIGINT)"
kill -INT "$TCPEEK_PID"
for ((i = 0; i < 1200; i++)); do kill -0 "$TCPEEK_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$TCPEEK_PID" 2>/dev/null; then
    die "tcpeek did not exit within 120 s of SIGINT"
fi
TCPEEK_STATUS=0
wait "$TCPEEK_PID" || TCPEEK_STATUS=$?
TCPEEK_PID=

# --- figures -----------------------------------------------------------------

summary() { sed -n "s/^ *$1 *: *\([0-9]*\).*/\1/p" "$OUT/tcpeek.stderr" | tail -n 1; }
STILL_OPEN=$(summary "still open")
EVICTED=$(summary evicted)
NOT_RECORDED=$(summary "not recorded")
MALFORMED=$(summary "malformed packets")

# Counters of the --json-summary, per filter: total success failure and the outcomes.
read -r PCAP_RECV PCAP_DROP PCAP_IFDROP <<<"$(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1])):
    if "pcap" in e:
        s = e["pcap"]["stats"]; print(s["recv"], s["drop"], s["ifdrop"])
' "$OUT/tcpeek.json")"
COUNTS=$(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1])):
    for name, b in e.items():
        if name == "pcap": continue
        s, f = b["success"], b["failure"]
        print(name, s["total"] + f["total"], s["total"], f["timeout"], f["reject"], f["unreach"], f["abort"])
' "$OUT/tcpeek.json")

q() { sqlite3 -readonly "$DB" "$1"; }
ROWS=$(q "SELECT count(*) FROM sessions")
RUN_ROW=$(q "SELECT sessions_recorded, sessions_not_recorded, still_open, evicted, pcap_recv, pcap_drop FROM runs ORDER BY id DESC LIMIT 1")
DB_OUTCOMES=$(q "SELECT outcome || ' ' || count(*) FROM sessions GROUP BY outcome")
DB_SIZE=$(du -k "$DB" | cut -f1)

FAIL=()
check() { # check CONDITION-TEXT TRUE|FALSE
    if [[ $2 == true ]]; then echo "ok   $1"; else echo "FAIL $1"; FAIL+=("$1"); fi
}
holds() { if "$@"; then echo true; else echo false; fi; }

monitor_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OUT/monitor.json" "$1"; }
CLIENT_OPS=$(monitor_field total_ops)
CLIENT_FAILS=$(monitor_field total_failures)
CLIENT_STUCK=$(monitor_field still_running)
RSS_START=$(monitor_field rss_start_kb)
OPEN_MAX=$(monitor_field open_attempts_max)
RSS_START_AT=$(monitor_field rss_start_at)
is_uint "$RSS_START" || { log "no start RSS was sampled"; RSS_START=0 RSS_START_AT=n/a; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
SLACK_KB=$((RSS_SLACK_MIB * 1024))
GROWTH_KB=$((RSS_END - RSS_START))

{
    echo "tcpeek soak — $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -r), $(nproc) cores"
    echo "command   : tcpeek ${TCPEEK_ARGS[*]}"
    echo "replay    : ${CHUNKS} captures of $ATTEMPTS attempts (mix, seeds 1..$CHUNKS, $RATE attempts/s, ${CHUNK_SECONDS} s each), tcpreplay at their mean packet rate"
    echo "duration  : ${ELAPSED} s of replay (SOAK_SECONDS=$SOAK_SECONDS), $LOOPS loops ($WHOLE whole)"
    echo "packets   : $SENT replayed ($(awk -v p="$SENT" -v s="$ELAPSED" 'BEGIN { printf "%.0f", s ? p / s : 0 }')/s), pcap recv $PCAP_RECV, drop $PCAP_DROP, ifdrop $PCAP_IFDROP"
    echo "RSS       : cold $(mib "$RSS_COLD"), start $(mib "$RSS_START") (after ${RSS_START_AT} s warm-up), end $(mib "$RSS_END"), peak (VmHWM) $(mib "$HWM_END"); growth $(mib "$GROWTH_KB"), allowed $(mib "$SLACK_KB")"
    echo "attempts  : still open $STILL_OPEN at the end (most seen open: ${OPEN_MAX/None/n/a}), evicted $EVICTED, not recorded ${NOT_RECORDED:-n/a}, malformed packets $MALFORMED"
    echo "counted   : (filter total success timeout reject unreach abort)"
    sed 's/^/            /' <<<"$COUNTS"
    echo "database  : $ROWS session rows, $((DB_SIZE / 1024)) MiB; runs row (recorded not_recorded still_open evicted recv drop): $RUN_ROW"
    echo "            outcomes: $(tr '\n' ' ' <<<"$DB_OUTCOMES")"
    echo "clients   : $CLIENT_OPS socket/query operations, $CLIENT_FAILS failed (per kind in $OUT/monitor.json)"
    echo "tcpeek    : exit status $TCPEEK_STATUS"
    echo
    check "tcpeek exited 0 after SIGINT" "$(holds test "$TCPEEK_STATUS" -eq 0)"
    check "not recorded = 0" "$(holds test "${NOT_RECORDED:-x}" = 0)"
    while read -r name total success timeout reject unreach abort; do
        [[ -n $name ]] || continue
        if [[ $name == soak ]]; then
            # soak:ANY@*:* holds every session: it must equal the table.
            check "rows ($ROWS) = sessions counted by soak ($total)" "$(holds test "$ROWS" -eq "$total")"
            for pair in success:$success timeout:$timeout reject:$reject unreach:$unreach abort:$abort; do
                o=${pair%%:*} want=${pair##*:}
                got=$(q "SELECT count(*) FROM sessions WHERE outcome = '$o'")
                check "rows with outcome $o ($got) = counted ($want)" "$(holds test "$got" -eq "$want")"
            done
        fi
        tagged=$(q "SELECT count(*) FROM session_filters WHERE filter = '$name'")
        rolled=$(q "SELECT coalesce(sum(success + failure), 0) FROM rollups_minute WHERE filter = '$name'")
        hourly=$(q "SELECT coalesce(sum(success + failure), 0) FROM rollups_hour WHERE filter = '$name'")
        check "filter $name: session_filters ($tagged) = rollups ($rolled) = hourly rollups ($hourly) = counted ($total)" \
            "$(holds test "$tagged" -eq "$total" -a "$rolled" -eq "$total" -a "$hourly" -eq "$total")"
    done <<<"$COUNTS"
    check "runs.sessions_recorded = rows" "$(holds test "${RUN_ROW%%|*}" -eq "$ROWS")"
    check "client and query failures = 0 (of $CLIENT_OPS)" "$(holds test "$CLIENT_FAILS" -eq 0 -a "$CLIENT_STUCK" = "[]")"
    check "start RSS sampled after warm-up" "$(holds test "$RSS_START" -gt 0)"
    check "RSS growth after warm-up ($(mib "$GROWTH_KB")) <= $(mib "$SLACK_KB")" "$(holds test "$GROWTH_KB" -le "$SLACK_KB")"
    # Informational: on a private veth nothing should be lost.
    if [[ $PCAP_RECV == "$SENT" && $PCAP_DROP == 0 ]]; then
        echo "info packets replayed = pcap recv, no pcap drop"
    else
        echo "info packets replayed $SENT, pcap recv $PCAP_RECV, drop $PCAP_DROP (the capture fell behind or the veth dropped)"
    fi
    echo
    if ((${#FAIL[@]} == 0)); then echo "soak: PASS"; else echo "soak: FAIL (${#FAIL[@]} checks)"; fi
} | tee "$OUT/report.txt"

grep -q '^soak: PASS' "$OUT/report.txt"
