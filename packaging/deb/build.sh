#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/deb/build.sh: `make deb`. Stages the static collector, the
# hardened unit from deploy/systemd (its ExecStart pointed at /usr/bin, where
# a package installs binaries) and deploy/systemd/config.yaml, and packs them
# with nfpm (packaging/deb/nfpm.yaml) into $DEB.
# Environment (set by the Makefile): VERSION COLLECTOR NFPM DEB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${VERSION:?} ${COLLECTOR:?} ${NFPM:?} ${DEB:?}"

STAGE=_build/deb/stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
install -m 0755 "$COLLECTOR" "$STAGE/otelcol-kernelevents"
unit=deploy/systemd/otelcol-kernelevents.service
grep -q '^ExecStart=/usr/local/bin/otelcol-kernelevents ' "$unit" ||
	{ echo "deb: $unit: ExecStart no longer runs /usr/local/bin/otelcol-kernelevents; update packaging/deb/build.sh" >&2; exit 1; }
{
	echo "# Installed by the otelcol-kernelevents package; the collector is /usr/bin/otelcol-kernelevents."
	echo "# Override with: systemctl edit otelcol-kernelevents"
	sed 's#/usr/local/bin/otelcol-kernelevents#/usr/bin/otelcol-kernelevents#g' "$unit"
} >"$STAGE/otelcol-kernelevents.service"
install -m 0644 deploy/systemd/config.yaml "$STAGE/config.yaml"
install -m 0644 NOTICE "$STAGE/NOTICE"
bash packaging/licenses.sh "$COLLECTOR" "$STAGE/THIRD_PARTY_LICENSES" >/dev/null
# debian/copyright: the NOTICE's summary and the Apache-2.0 text.
{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: kernelevents"
	echo "Source: https://github.com/kernelevents/kernelevents"
	echo
	echo "Files: *"
	echo "Copyright: The kernelevents authors"
	echo "License: Apache-2.0"
	echo "Comment: the eBPF programs embedded in the binary are MIT OR GPL-2.0-only;"
	echo " third-party parts are listed in /usr/share/doc/otelcol-kernelevents/NOTICE, and"
	echo " the licences of the Go modules linked in are in THIRD_PARTY_LICENSES beside it."
	echo
	echo "License: Apache-2.0"
	echo " On Debian systems, the complete text of the Apache License, Version 2.0,"
	echo " is in /usr/share/common-licenses/Apache-2.0."
} >"$STAGE/copyright"

mkdir -p "$(dirname "$DEB")"
rm -f "$DEB"
# Reproducible: every file's time is the commit's (or the epoch's).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
touch -d "@$SOURCE_DATE_EPOCH" "$STAGE"/*
sed "s/^mtime: .*/mtime: \"$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)\"/" packaging/deb/nfpm.yaml >_build/deb/nfpm.yaml
VERSION=$VERSION DEB_ARCH=$(go env GOARCH) \
	"$NFPM" package --config _build/deb/nfpm.yaml --packager deb --target "$DEB" >/dev/null
echo "deb: $DEB ($(($(stat -c %s "$DEB") / 1048576)) MiB); install with: apt install $DEB"
