#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/deb/test.sh: `make deb-test`. Installs $DEB with `apt install`
# into a clean Debian 12 root (debootstrap --variant=minbase, built once and
# cached as a tarball under .cache/deb/), checks what dpkg installed, then
# starts the collector the way the installed unit would: its ExecStart
# command line, its Environment=, as User= with exactly its
# CapabilityBoundingSet/AmbientCapabilities and NoNewPrivileges (systemd
# itself cannot run in a chroot). It runs in the chroot with the host's /sys
# and a /proc of the host's PID namespace, in a network namespace of its own
# (so the shipped config's ports are used as they are, scraped through
# nsenter). Files created on the host must be counted exactly.
# Environment: DEB VERSION (Makefile); KERNELEVENTS_DEBIAN_MIRROR,
# KERNELEVENTS_DEB_CACHE (where the base root is kept; .cache/deb).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${DEB:?} ${VERSION:?}"
# shellcheck source=packaging/debroot.sh
source packaging/debroot.sh
SUITE=$DEBROOT_SUITE

start=$(date +%s)
[[ -f $DEB ]] || { echo "deb-test: no $DEB: run make deb" >&2; exit 1; }
work=$(mktemp -d /tmp/ke-debtest.XXXXXX)
pid=
cleanup() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "deb-test: FAIL: $*" >&2
	[[ -f $work/collector.log ]] && { echo "--- collector log (last 30 lines)" >&2; tail -n 30 "$work/collector.log" >&2; }
	[[ -f $work/metrics ]] && { echo "--- creation series under $work:" >&2; grep '^kernel_file_creations_total' "$work/metrics" | grep -F "\"$work" >&2; }
	exit 1
}

# 1. A clean Debian root, from the cache.
root=$work/root
debroot_unpack deb-test "$work" "$root" || fail "no clean $SUITE root"
[[ ! -e $root/usr/bin/otelcol-kernelevents ]] || fail "the base root already has the collector"

# in_root CMD...: run CMD in the root with /proc, /sys and /dev, in a private
# mount namespace (nothing is mounted on the host).
in_root() {
	unshare --mount --propagation private -- bash -c '
		r=$1; shift
		mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
			exec chroot "$r" "$@"' in_root "$root" "$@"
}

# 2. apt install ./x.deb, as a user would.
cp "$DEB" "$root/tmp/"
deb=$(basename "$DEB")
t0=$(date +%s)
in_root sh -c "cd /tmp && DEBIAN_FRONTEND=noninteractive apt install -y ./$deb" >"$work/apt.log" 2>&1 ||
	{ cat "$work/apt.log" >&2; fail "apt-get install ./$deb failed in a clean $SUITE root"; }
status=$(in_root dpkg-query -W -f='${Status} ${Version}' otelcol-kernelevents)
[[ $status == "install ok installed $VERSION-1" ]] || fail "dpkg says '$status', want 'install ok installed $VERSION-1'"
UNIT=/usr/lib/systemd/system/otelcol-kernelevents.service
for f in /usr/bin/otelcol-kernelevents $UNIT /etc/otelcol-kernelevents/config.yaml /usr/share/doc/otelcol-kernelevents/copyright \
	/usr/share/doc/otelcol-kernelevents/THIRD_PARTY_LICENSES; do
	[[ -f $root$f ]] || fail "the package did not install $f"
done
# The unit is deploy/systemd's, hardening and all, with only the binary's path
# changed (and two comment lines on top).
diff <(tail -n +3 "$root$UNIT" | sed 's#/usr/bin/otelcol-kernelevents#/usr/local/bin/otelcol-kernelevents#g') \
	deploy/systemd/otelcol-kernelevents.service >"$work/unit.diff" ||
	{ cat "$work/unit.diff" >&2; fail "the packaged unit differs from deploy/systemd/otelcol-kernelevents.service beyond the binary's path"; }
in_root dpkg-query -W -f='${Conffiles}' otelcol-kernelevents | grep -q ' /etc/otelcol-kernelevents/config.yaml ' ||
	fail "/etc/otelcol-kernelevents/config.yaml is not a conffile (an upgrade would overwrite local edits)"
grep -q '^github.com/cilium/ebpf v[0-9.]*: LICENSE$' "$root/usr/share/doc/otelcol-kernelevents/THIRD_PARTY_LICENSES" ||
	fail "THIRD_PARTY_LICENSES lacks cilium/ebpf's licence"
echo "deb-test: apt install ./$deb in a clean $SUITE root: $status ($(($(date +%s) - t0)) s)"

# 3. The unit's command line, user, capabilities and environment.
unit() { sed -n "s/^$1=//p" "$root$UNIT" | tail -n 1; }
exec_start=$(unit ExecStart)
[[ $exec_start == /usr/bin/otelcol-kernelevents\ * ]] || fail "ExecStart is '$exec_start', not the packaged /usr/bin/otelcol-kernelevents"
user=$(unit User)
[[ $user == root ]] || fail "User=$user: this test only knows User=root"
caps=$(unit AmbientCapabilities)
[[ $(unit CapabilityBoundingSet) == "$caps" ]] || fail "CapabilityBoundingSet and AmbientCapabilities differ"
setpriv_caps=$(tr ' ' '\n' <<<"$caps" | sed -n 's/^CAP_\(.*\)$/+\L\1/p' | paste -sd, -)
[[ -n $setpriv_caps ]] || fail "no capabilities in the unit"
nnp=()
[[ $(unit NoNewPrivileges) == yes ]] && nnp=(--no-new-privs)
envs=()
while read -r e; do envs+=("$e"); done < <(sed -n 's/^Environment=//p' "$root$UNIT" | tr ' ' '\n')
read -r -a argv <<<"$exec_start"

unshare --mount --propagation private --net -- bash -c '
	r=$1; shift
	ip link set lo up &&
		mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
		exec chroot "$r" "$@"' run "$root" \
	setpriv --bounding-set="-all,$setpriv_caps" --inh-caps="-all,$setpriv_caps" --ambient-caps="-all,$setpriv_caps" \
	"${nnp[@]}" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" "${argv[@]}" >"$work/collector.log" 2>&1 &
pid=$!
echo "deb-test: started: setpriv caps $setpriv_caps ${nnp[*]} -- ${envs[*]} $exec_start"

curl_in() { nsenter --net="/proc/$pid/ns/net" curl -fsS --max-time 2 "$1"; }
wait_for() { # wait_for WHAT CMD...: poll CMD until it succeeds, at most 90 s
	local what=$1 deadline=$(($(date +%s) + 90))
	shift
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || fail "the collector exited"
		(($(date +%s) < deadline)) || fail "$what"
		sleep 0.5
	done
}
wait_for "the health check never answered" curl_in http://127.0.0.1:13133/
# Every wrapper exec'd: $pid is the collector. Its capabilities must be the
# unit's, no more (BPF 39, PERFMON 38, SYS_PTRACE 19, DAC_READ_SEARCH 2).
capeff=$(awk '/^CapEff/ {print $2}' "/proc/$pid/status")
[[ $capeff == 000000c000080004 ]] || fail "the collector runs with CapEff $capeff, want 000000c000080004 (the unit's four)"
echo "deb-test: healthy after $(($(date +%s) - start)) s (CapEff $capeff)"

dir=$work/files
mkdir "$dir"
cp /bin/touch "$work/ke-debtouch"
want=5
for i in $(seq 1 $want); do "$work/ke-debtouch" "$dir/f$i"; done
# count: kernel_file_creations_total summed over the series under $work whose
# creator is ke-debtouch (identity resolved; this script's other files do not count).
count() {
	curl_in http://127.0.0.1:9464/metrics >"$work/metrics" || return 1
	awk -v d="$work" -v x="ke-debtouch" '/^kernel_file_creations_total\{/ && index($0, "\"" d) && index($0, "\"" x "\"") { s += $NF } END { print s + 0 }' "$work/metrics"
}
reached() { (($(count) >= want)); }
wait_for "kernel_file_creations_total for $dir never reached $want" reached
got=$(count)
((got == want)) || fail "counted $got creations in $dir, want $want"
echo "deb-test: ok: $got of $want host files counted with identity ($(($(date +%s) - start)) s)"

# 4. The set-up on a fresh machine (scripts/deps.sh, issue: make test does its
# own set-up): in the same clean root, as root, it must install what
# make deb-test needs (none of it is in a minbase root) with one apt-get
# update, and as another user stop with the apt-get line instead. Go is a
# stub here saying go.mod's version: only that is checked (make
# newcomer-test installs the real one).
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
t0=$(date +%s)
mkdir -p "$root/tmp/ke-src/scripts" "$root/tmp/ke-src/bin"
cp scripts/deps.sh "$root/tmp/ke-src/scripts/"
cp go.mod "$root/tmp/ke-src/"
printf '#!/bin/sh\necho "go version go%s linux/amd64"\n' "$(sed -n 's/^go //p' go.mod)" >"$root/tmp/ke-src/bin/go"
chmod 0755 "$root/tmp/ke-src/bin/go" "$root/tmp/ke-src" "$root/tmp/ke-src/bin"
cp /etc/resolv.conf "$root/etc/resolv.conf"
SRC_PATH=/tmp/ke-src/bin:/usr/sbin:/usr/bin:/sbin:/bin
# What a minbase root lacks of deb-test's list (util-linux is essential).
pkgs="debootstrap curl iproute2"
for c in debootstrap curl ip; do
	! in_root sh -c "command -v $c" >/dev/null || fail "the clean root already has $c: the set-up check would test nothing"
done
out=$(in_root setpriv --reuid=65534 --regid=65534 --clear-groups -- env PATH=$SRC_PATH bash /tmp/ke-src/scripts/deps.sh deb-image 2>&1) && fail "unknown target accepted"
out=$(in_root setpriv --reuid=65534 --regid=65534 --clear-groups -- env PATH=$SRC_PATH bash /tmp/ke-src/scripts/deps.sh deb 2>&1) || fail "deps.sh deb (no packages) failed as a user: $out"
out=$(in_root setpriv --reuid=65534 --regid=65534 --clear-groups -- env PATH=$SRC_PATH bash /tmp/ke-src/scripts/deps.sh generate 2>&1) && fail "deps.sh generate succeeded without clang"
[[ $out == "kernelevents: make generate needs clang llvm-strip, which are not installed; run as root: apt-get install -y --no-install-recommends clang llvm" ]] ||
	fail "deps.sh generate as a user on a fresh root printed: $out"
out=$(in_root env PATH=$SRC_PATH bash /tmp/ke-src/scripts/deps.sh deb-test 2>&1) || fail "deps.sh deb-test as root on a fresh root failed: $out"
[[ $out == "kernelevents: make deb-test: installing $pkgs" ]] || fail "deps.sh deb-test printed: $out"
in_root env PATH=$SRC_PATH bash /tmp/ke-src/scripts/deps.sh deb-test || fail "the set-up is not satisfied after installing"
echo "deb-test: scripts/deps.sh on the fresh root: one line as a user; as root installed $pkgs ($(($(date +%s) - t0)) s)"
