#!/usr/bin/env bash
# Checks that release binaries run on a machine without the Swift
# toolchain: no RUNPATH/RPATH but SwiftPM's harmless $ORIGIN (which the
# loader ignores for a setcap binary anyway), and no shared library beyond libc and its
# companions, the C++ runtime, libpcap, libsqlite3 and zlib (readelf -d; zlib
# comes with async-http-client's HTTP compression; the package depends on
# zlib1g, which dpkg itself needs, so every Debian machine has it).
# Usage: Scripts/check-linkage.sh BINARY...
set -euo pipefail
allowed='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libpcap\.so\.0\.8|libsqlite3\.so\.0|libz\.so\.1)$'
status=0
for binary in "$@"; do
    dynamic=$(readelf -d "$binary")
    paths=$(grep -E '\((RUNPATH|RPATH)\)' <<<"$dynamic" | grep -Fv 'path: [$ORIGIN]' || true)
    if [ -n "$paths" ]; then
        echo "$binary: searches libraries in the toolchain's folder; build with 'make release':" >&2
        echo "$paths" >&2
        status=1
    fi
    while read -r library; do
        if ! grep -Eq "$allowed" <<<"$library"; then
            echo "$binary: needs $library, which a Debian machine without the Swift toolchain lacks;" \
                 "build with 'swift build -c release --static-swift-stdlib' (make release)" >&2
            status=1
        fi
    done < <(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dynamic")
done
exit $status
