#!/usr/bin/env bash
# Installs the Debian package (make deb) and checks it as an operator
# would find it: the tcpeek user and /var/lib/tcpeek, the capabilities, the
# systemd unit; then a short live capture by the installed binary, run as
# the tcpeek user with only its file capabilities (the loader's secure
# mode, which ignores $ORIGIN) and with the Swift toolchain's folder hidden
# (a tmpfs over it in a mount namespace of its own), between two network
# namespaces made here (198.51.100.0/24); it must see the one connection.
# Finally purges the package. Exit 0 passed, 77 skipped, anything else failed.
# Usage: package-install.sh PACKAGE.deb [TOOLCHAIN_DIR (default /opt/swift)]
set -euo pipefail
deb=$1 toolchain=${2:-/opt/swift}

if [ "$(id -u)" -ne 0 ]; then echo "skipped: installing a package needs root"; exit 77; fi
for tool in dpkg ip unshare setpriv getcap python3 sqlite3 readelf; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool is missing (make deps)"; exit 77; }
done
if dpkg -s tcpeek >/dev/null 2>&1; then
    echo "FAIL: a tcpeek package is already installed here; this test would replace it (dpkg --purge tcpeek first)"
    exit 1
fi
had_user=no
getent passwd tcpeek >/dev/null && had_user=yes

ns=tcpk-deb-$$
work=$(mktemp -d)
cleanup() {
    for side in a b; do
        for pid in $(ip netns pids "$ns-$side" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns delete "$ns-$side" 2>/dev/null || true
    done
    dpkg --purge tcpeek >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

dpkg -i "$deb" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i $deb"; }

# What the package set up.
getent passwd tcpeek >/dev/null || fail "no tcpeek user after install"
[ "$(stat -c %U:%G "/var/lib/tcpeek")" = tcpeek:tcpeek ] || fail "/var/lib/tcpeek is $(stat -c %U:%G /var/lib/tcpeek), not tcpeek:tcpeek"
caps=$(getcap /usr/bin/tcpeek)
grep -q 'cap_net_admin,cap_net_raw=ep' <<<"$caps" || fail "capabilities of /usr/bin/tcpeek: '$caps'"
[ -x /usr/bin/tcpeekstat ] || fail "no /usr/bin/tcpeekstat"
unit=/lib/systemd/system/tcpeek.service
[ -f "$unit" ] || fail "no $unit"
grep -q '^Wants=network-online.target' "$unit" || fail "$unit lacks Wants=network-online.target"
grep -q '^ExecStart=/usr/bin/tcpeek record .*-u tcpeek' "$unit" || fail "$unit: $(grep ExecStart "$unit")"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
fi
bash "$(dirname "$0")/../../../Scripts/check-linkage.sh" /usr/bin/tcpeek /usr/bin/tcpeekstat || fail "linkage"

# Two namespaces joined by a veth pair: the client side a (where tcpeek
# listens) and the server side b. The root namespace is not touched.
ip netns add "$ns-a" && ip netns add "$ns-b"
ip -n "$ns-a" link add vdeb0 type veth peer name vdeb1 netns "$ns-b"
ip -n "$ns-a" addr add 198.51.100.1/24 dev vdeb0
ip -n "$ns-b" addr add 198.51.100.2/24 dev vdeb1
for side in a b; do ip -n "$ns-$side" link set lo up; done
ip -n "$ns-a" link set vdeb0 up
ip -n "$ns-b" link set vdeb1 up
ip netns exec "$ns-b" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 8080)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); c.recv(1); c.close()' > "$work/server.log" 2>&1 &

# The installed tcpeek, as the tcpeek user, with the toolchain hidden.
unshare -m --propagation private bash -c '
    mount -t tmpfs -o size=1m tcpeek-test-hides-the-toolchain "$1" || exit 90
    [ -z "$(ls -A "$1")" ] || exit 91
    exec ip netns exec "$2" setpriv --reuid=tcpeek --regid=tcpeek --init-groups -- \
        /usr/bin/tcpeek record -i vdeb0 --db /var/lib/tcpeek/package-test.db --no-socket -t 5
' hide "$toolchain" "$ns-a" > "$work/tcpeek.log" 2>&1 &
runner=$!

for _ in $(seq 100); do
    grep -q "listening on vdeb0" "$work/tcpeek.log" && grep -q ready "$work/server.log" && break
    kill -0 "$runner" 2>/dev/null || break
    sleep 0.1
done
grep -q "listening on vdeb0" "$work/tcpeek.log" || { cat "$work/tcpeek.log"; fail "the installed tcpeek did not start capturing"; }

ip netns exec "$ns-a" python3 -c '
import socket
c = socket.create_connection(("198.51.100.2", 8080), timeout=5); c.close()' || fail "the connection in the namespace failed"
sleep 1
for pid in $(ip netns pids "$ns-a"); do
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tcpeek ] && kill -INT "$pid"
done
status=0
wait "$runner" || status=$?
cat "$work/tcpeek.log"
[ "$status" -eq 0 ] || fail "tcpeek exited with $status"
grep -q "Success: 1 session" "$work/tcpeek.log" || fail "the summary does not count the connection"
rows=$(sqlite3 -readonly /var/lib/tcpeek/package-test.db \
    "SELECT count(*) FROM sessions WHERE outcome = 'success' AND server_addr = '198.51.100.2' AND server_port = 8080")
[ "$rows" = 1 ] || fail "sessions recorded in /var/lib/tcpeek/package-test.db: $rows"

# Purge: the files, the history folder and (if the package made it) the user go.
dpkg --purge tcpeek > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
[ ! -e /usr/bin/tcpeek ] || fail "/usr/bin/tcpeek is left after purge"
[ ! -e /var/lib/tcpeek ] || fail "/var/lib/tcpeek is left after purge"
if [ "$had_user" = no ] && getent passwd tcpeek >/dev/null; then fail "the tcpeek user is left after purge"; fi
echo "package install test passed"
