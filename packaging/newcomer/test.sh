#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/newcomer/test.sh: `make newcomer-test`. The README's path from
# its prerequisites to its example, in a fresh Debian 12 root (the minbase
# root make deb-test uses, packaging/debroot.sh), as a newcomer would walk it:
#   1. apt-get install git make ca-certificates (the README's prerequisites,
#      none of them in a minbase root), then git clone the repository (this
#      commit, from a bundle: uncommitted changes are not part of a clone);
#   2. make run: the set-up installs Go (the root has none) and curl, ocb
#      builds the collector, the collector starts;
#   3. the README's example command, taken from README.md as it is, prints
#      exactly one line: the series of the file it created.
# make run's set-up and build need the network (the Debian mirror, the Go
# module proxy), so they run first as `make deps-run build`, the targets
# make run runs before it starts the collector; then `make run` itself runs
# in a network namespace of its own (the example config's ports, 9464 and
# 13133, may be taken on the host) and finds nothing left to do.
# The host's Go module and build caches are bind-mounted into the root (the
# same paths): the toolchain, the modules and most compiled packages come
# from them, which keeps this to a few minutes instead of a cold build.
# Environment: KERNELEVENTS_DEBIAN_MIRROR, KERNELEVENTS_DEB_CACHE
# (packaging/debroot.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=packaging/debroot.sh
source packaging/debroot.sh

start=$(date +%s)
work=$(mktemp -d /tmp/ke-newcomer.XXXXXX)
root=$work/root
pid=
cpid=
cleanup() {
	# make does not pass its SIGTERM on to the collector it runs: both, by pid.
	[[ -z $cpid ]] || kill "$cpid" 2>/dev/null || true
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "newcomer-test: FAIL: $*" >&2
	[[ -f $work/run.log ]] && { echo "--- make run (last 30 lines)" >&2; tail -n 30 "$work/run.log" >&2; }
	exit 1
}
step() { echo "newcomer-test: $* ($(($(date +%s) - start)) s)"; }

# The host's caches, at the same paths inside the root (HOME=/root there).
gomodcache=$(go env GOMODCACHE)
gocache=$(go env GOCACHE)
[[ $gomodcache == /root/* && $gocache == /root/* ]] ||
	fail "the host's GOMODCACHE ($gomodcache) and GOCACHE ($gocache) must be under /root to be shared with the root's root user"
mkdir -p "$gomodcache" "$gocache"

debroot_unpack newcomer-test "$work" "$root" || fail "no clean $DEBROOT_SUITE root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root$gomodcache" "$root$gocache"

# in_root [--net] CMD...: CMD in the root as root, with /proc, /sys, /dev and
# the Go caches, in a private mount namespace (nothing mounted on the host);
# --net: as a machine of its own: its own network namespace (loopback only)
# and pid namespace, the root a mount of its own (bound on itself), so that
# the collector's node (its /proc/1/mountinfo, README "Paths are the node's")
# is the root, as on the newcomer's machine, not this host with the root a
# directory in it. A root's default PATH and nothing else from this
# environment.
in_root() {
	local net=()
	if [[ $1 == --net ]]; then
		net=(--net --pid --fork --kill-child)
		shift
	fi
	unshare --mount --propagation private "${net[@]}" -- bash -c '
		r=$1 mod=$2 cache=$3; shift 3
		{ [[ -z ${NET:-} ]] || ip link set lo up; } &&
		mount --bind "$r" "$r" &&
		mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
			mount --bind "$mod" "$r$mod" && mount --bind "$cache" "$r$cache" &&
			exec chroot "$r" env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
				PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"' in_root \
		"$root" "$gomodcache" "$gocache" "$@"
}

# 1. The prerequisites, and a clone.
for c in git make go curl; do
	! in_root sh -c "command -v $c" >/dev/null || fail "the fresh root already has $c: the test would prove nothing"
done
in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git make ca-certificates' \
	>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; fail "apt-get install git make ca-certificates failed"; }
# A network that inspects TLS has its own CA, which the host trusts through
# /usr/local/share/ca-certificates and a fresh root cannot know: the same
# local CAs, as an administrator there would add them.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	in_root update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates failed in the root"
fi
step "prerequisites installed: git make ca-certificates"
git bundle create -q "$work/repo.bundle" HEAD
cp "$work/repo.bundle" "$root/tmp/"
in_root git clone -q /tmp/repo.bundle /root/kernelevents >"$work/clone.log" 2>&1 ||
	{ cat "$work/clone.log" >&2; fail "git clone failed"; }
step "cloned $(git rev-parse --short=12 HEAD)"

# 2. make run: its set-up and build (network), then make run itself (its own
# network namespace), in the background until the example answers.
in_root bash -c 'cd /root/kernelevents && make deps-run build' >"$work/run.log" 2>&1 ||
	fail "make deps-run build failed in the fresh root"
grep -q '^kernelevents: installing Go ' "$work/run.log" || fail "the set-up did not install Go (log above)"
in_root sh -c 'go version' | grep -q "^go version go$(sed -n 's/^go //p' go.mod) " || fail "go in the root is not go.mod's version"
step "make run's set-up and build done: Go $(in_root go env GOVERSION) in /usr/local/go, curl, the collector"

NET=1 in_root --net bash -c 'cd /root/kernelevents && exec make run' >>"$work/run.log" 2>&1 &
pid=$!
# The collector's process, to enter its network namespace: the
# otelcol-kernelevents (comm truncated to 15 bytes) whose root is the root.
collector() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(cat "$p/comm" 2>/dev/null) == otelcol-kernele && $(readlink "$p/root" 2>/dev/null) == "$root" ]] &&
			{ echo "${p#/proc/}"; return 0; }
	done
	return 1
}
deadline=$(($(date +%s) + 180))
until cpid=$(collector) && nsenter --net="/proc/$cpid/ns/net" --root="/proc/$cpid/root" --wd=/ \
	curl -fsS --max-time 2 http://127.0.0.1:13133/ >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || fail "make run exited"
	(($(date +%s) < deadline)) || fail "the collector's health check never answered"
	sleep 1
done
step "make run: healthy"

# 3. The README's example, as written there, in the collector's network
# namespace and root.
example=$(awk '/^```sh$/ { getline; if ($0 ~ /^d=\$\(mktemp -d\)/) { print; exit } }' README.md)
[[ -n $example ]] || fail "README.md has no example starting with d=\$(mktemp -d)"
for try in 1 2 3; do
	# what the user sees on stdout; stderr is kept for a failure's message.
	out=$(cd / && nsenter --net="/proc/$cpid/ns/net" --root="/proc/$cpid/root" \
		env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root bash -c "cd / && $example" 2>"$work/example.err") || true
	[[ -n $out ]] && break
done
lines=$(grep -c . <<<"$out" || true)
((lines == 1)) || fail "the README's example printed $lines lines, want 1:
$out
(stderr: $(cat "$work/example.err"))"
[[ $out =~ ^kernel_file_creations_total\{.*kernelevents_directory_prefix=\"/tmp/tmp\.[A-Za-z0-9]+\".*kernelevents_process_comm=\"touch\".*\}\ 1$ ]] ||
	fail "the README's example printed: $out"
step "ok: the README's example printed its one line: $out"
