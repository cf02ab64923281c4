#!/usr/bin/env bash
# `make demo`: the whole product on a capture of the last half hour.
# tcpeek-synth writes 600 attempts with every outcome, dated from 25
# minutes ago; tcpeek records them (live lines, then the summary) into a
# database of the demo's own (never the host's), then answers from that
# history: the totals, a per-minute view, and a query from
# Schema/README.md in plain sqlite3.
# Usage: demo.sh BIN_DIR OUT_DIR
set -euo pipefail
bin=$1 out=$2
rm -rf "$out" && mkdir -p "$out"
"$bin/tcpeek-synth" --mode mix --attempts 600 --duration 1200 --seed 42 \
    --start $(( $(date +%s) - 1500 )) -o "$out/last-half-hour.pcap" >/dev/null
"$bin/tcpeek" record -r "$out/last-half-hour.pcap" --db "$out/tcpeek.db"
echo; echo "\$ tcpeek query --db $out/tcpeek.db --since 1h"
"$bin/tcpeek" query --db "$out/tcpeek.db" --since 1h
echo; echo "\$ tcpeek query --db $out/tcpeek.db --since 30m --by minute"
"$bin/tcpeek" query --db "$out/tcpeek.db" --since 30m --by minute
echo; echo "\$ sqlite3 $out/tcpeek.db   # top servers by timeouts in the last hour (Schema/README.md)"
sqlite3 -header -column "$out/tcpeek.db" "SELECT server_addr, server_port, count(*) AS timeouts FROM sessions
    WHERE outcome = 'timeout' AND started_at >= strftime('%s', 'now', '-1 hour')
    GROUP BY server_addr, server_port ORDER BY timeouts DESC LIMIT 10;"
