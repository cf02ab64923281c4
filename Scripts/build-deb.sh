#!/usr/bin/env bash
# Builds the Debian package from the release binaries with dpkg-deb alone
# (make deb). Usage: Scripts/build-deb.sh RELEASE_DIR OUTPUT.deb
# Layout: /usr/bin/tcpeek and tcpeekstat, the systemd unit, /etc/default/tcpeek
# (a conffile), the README; contrib/debian/ holds the maintainer scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
release=$1 output=$2
bash Scripts/check-linkage.sh "$release/tcpeek" "$release/tcpeekstat"

version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/TCPeekCore/TCPeekIdentity.swift)
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/default" "$root/usr/share/doc/tcpeek"
install -m 0755 "$release/tcpeek" "$release/tcpeekstat" "$root/usr/bin/"
# Debug information stays in the build folder: it is most of the size.
strip --strip-debug "$root/usr/bin/tcpeek" "$root/usr/bin/tcpeekstat"
sed 's|@BINDIR@|/usr/bin|' contrib/systemd/tcpeek.service > "$root/lib/systemd/system/tcpeek.service"
install -m 0644 contrib/debian/default "$root/etc/default/tcpeek"
install -m 0644 README.md "$root/usr/share/doc/tcpeek/README.md"
install -m 0755 contrib/debian/postinst contrib/debian/prerm contrib/debian/postrm "$root/DEBIAN/"
echo /etc/default/tcpeek > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" contrib/debian/control.in > "$root/DEBIAN/control"

mkdir -p "$(dirname "$output")"
dpkg-deb --root-owner-group --build "$root" "$output" >/dev/null
echo "built $output"
