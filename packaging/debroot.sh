# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# packaging/debroot.sh: the clean Debian 12 root the packaging tests start
# from (make deb-test, make newcomer-test): debootstrap --variant=minbase,
# built once and cached as a tarball, then unpacked fresh for each run.
# Source it; do not run it.
# Environment: KERNELEVENTS_DEBIAN_MIRROR, KERNELEVENTS_DEB_CACHE (where the
# base root is kept; .cache/deb).

DEBROOT_MIRROR=${KERNELEVENTS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBROOT_SUITE=bookworm
DEBROOT_CACHE=${KERNELEVENTS_DEB_CACHE:-$PWD/.cache/deb}
DEBROOT_BASE=$DEBROOT_CACHE/$DEBROOT_SUITE-minbase.tar

# debroot_unpack NAME WORK ROOT: unpacks the cached base root (debootstrapped
# first when there is none; NAME prefixes the messages) into ROOT; WORK holds
# the debootstrap log. Fails with the log's tail.
debroot_unpack() {
	local name=$1 work=$2 root=$3 t0
	if [[ ! -f $DEBROOT_BASE ]]; then
		echo "$name: debootstrap --variant=minbase $DEBROOT_SUITE from $DEBROOT_MIRROR (once; cached in $DEBROOT_BASE)"
		mkdir -p "$DEBROOT_CACHE"
		t0=$(date +%s)
		debootstrap --variant=minbase "$DEBROOT_SUITE" "$work/base" "$DEBROOT_MIRROR" >"$work/debootstrap.log" 2>&1 || {
			tail -n 20 "$work/debootstrap.log" >&2
			echo "$name: debootstrap failed (output above)" >&2
			return 1
		}
		tar -C "$work/base" -cf "$DEBROOT_BASE.tmp" . && mv "$DEBROOT_BASE.tmp" "$DEBROOT_BASE"
		rm -rf "$work/base"
		echo "$name: debootstrap took $(($(date +%s) - t0)) s"
	fi
	mkdir -p "$root"
	tar -C "$root" -xf "$DEBROOT_BASE"
}
