#!/usr/bin/env bash
# Fails when a sanitizer wrote any report (log_path files) during
# `make sanitize-thread` / `make sanitize-address`, and shows them.
#   usage: sanitizer-reports.sh NAME DIRECTORY
set -euo pipefail
name=$1 directory=$2
shopt -s nullglob
reports=("$directory"/report*)
if [ ${#reports[@]} -eq 0 ]; then
    echo "sanitize: no $name report"
    exit 0
fi
echo "sanitize: $name wrote ${#reports[@]} report(s) in $directory:" >&2
for report in "${reports[@]}"; do
    echo "----- $report" >&2
    head -n 60 "$report" >&2
done
exit 1
