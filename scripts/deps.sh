#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/deps.sh TARGET: the one list of the Debian 12 packages each make
# target needs, and the check the Makefile runs first in those targets.
#
#   scripts/deps.sh test        # as root: installs what is missing (one
#                               # apt-get update, then one apt-get install);
#                               # otherwise prints one line naming the
#                               # apt-get install command and exits 1
#   scripts/deps.sh --list test # the packages TARGET needs, one line
#
# KERNELEVENTS_NO_INSTALL=1 never installs, even as root: it only reports.
#
# Go: every target needs go.mod's version (the `go` line; every module of the
# project says the same). When no go on PATH is that version or later, root
# gets it installed into /usr/local/go (linked from /usr/local/bin, which
# is on root's PATH on Debian): Debian
# 12's golang-go is 1.19, too old, so a bootstrap Go (golang-1.23-go from
# bookworm-backports, downloaded through the project's own apt sources in
# .cache/apt, never installed) fetches go.mod's toolchain from the Go module
# proxy (GOTOOLCHAIN; checked against the Go checksum database) and the
# toolchain is copied out of the module cache. Readable by every user, unlike
# a toolchain GOTOOLCHAIN leaves under root's home. A /usr/local/go this
# script did not install is never replaced.
# deploy/check.sh, internal/vmtest/vmtest.sh and the bench's audit phase also
# install what they lack when run on their own; from make, this runs first.
set -euo pipefail

# target -> "probe=package ..." where a probe is a command looked up on PATH,
# or dpkg:NAME when no command tells (busybox: only the static build works in
# the VM's initramfs).
deps_of() {
	case $1 in
	generate | check-generated) echo "clang=clang llvm-strip=llvm" ;;
	# clang-format-14: the version of Debian 12's clang 14, which .clang-format
	# is written for (another version formats some constructs differently).
	check-format) echo "clang-format-14=clang-format-14" ;;
	# unit runs the SPIFFE tests against SPIRE, which make spire builds: the
	# server's SQLite datastore needs cgo, so a C compiler.
	unit) echo "setpriv=util-linux unshare=util-linux $(deps_of spire)" ;;
	spire) echo "gcc=gcc" ;;
	vmtest) echo "qemu-system-x86_64=qemu-system-x86 dpkg:busybox-static=busybox-static cpio=cpio xz=xz-utils zstd=zstd qemu-system-aarch64=qemu-system-arm" ;;
	deploy-check) echo "systemd-analyze=systemd" ;;
	image) echo "podman=podman runc=runc" ;;
	image-test) echo "$(deps_of image) curl=curl nsenter=util-linux" ;;
	deb) echo "" ;;
	# k8s-test: a single-node cluster. etcd, containerd, runc and the CNI
	# plugins from Debian; the Kubernetes binaries are built by
	# scripts/k8s-build.sh (Debian's kubernetes-client is far too old); gcc
	# compiles the pod sandbox's pause binary; openssl writes the cluster's
	# certificates; busybox-static is the test pods' image.
	k8s-test) echo "$(deps_of image) etcd=etcd-server containerd=containerd ctr=containerd dpkg:containernetworking-plugins=containernetworking-plugins gcc=gcc openssl=openssl dpkg:busybox-static=busybox-static ip=iproute2" ;;
	deb-test) echo "debootstrap=debootstrap curl=curl ip=iproute2 nsenter=util-linux unshare=util-linux" ;;
	# release: the image (podman), the arm64 binary under qemu-user, the
	# image index read with python3.
	release) echo "podman=podman runc=runc qemu-aarch64-static=qemu-user-static python3=python3" ;;
	newcomer-test) echo "debootstrap=debootstrap git=git ip=iproute2 nsenter=util-linux unshare=util-linux" ;;
	# e2fsprogs: the ext4 phase. auditd is installed by the audit phase itself,
	# only when that phase runs: enabling audit slows every later process on
	# the machine until reboot (README, "Benchmark").
	bench) echo "mkfs.ext4=e2fsprogs" ;;
	# curl: the README's example after make run.
	run) echo "curl=curl" ;;
	build | soak | fuzz | lint) echo "" ;;
	test)
		local t
		for t in check-format check-generated unit vmtest deploy-check image-test deb-test newcomer-test k8s-test; do deps_of "$t"; done | xargs
		;;
	*) echo "scripts/deps.sh: unknown target '$1'" >&2; return 2 ;;
	esac
}

# Targets that load BPF programs, mount tracefs, or use root's podman store
# (image: image-test runs what it built).
needs_root() {
	case $1 in
	test | unit | run | bench | soak | image | image-test | deb-test | newcomer-test | release | k8s-test) return 0 ;;
	*) return 1 ;;
	esac
}

present() {
	case $1 in
	dpkg:*) [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "${1#dpkg:}" 2>/dev/null) == ii* ]] ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

# missing TARGET: sets probes_missing and pkgs_missing (each package once).
missing() {
	local entry probe pkg spec
	probes_missing=()
	pkgs_missing=()
	spec=$(deps_of "$1")
	for entry in $spec; do
		probe=${entry%%=*}
		pkg=${entry#*=}
		present "$probe" && continue
		probes_missing+=("${probe#dpkg:}")
		[[ " ${pkgs_missing[*]} " == *" $pkg "* ]] || pkgs_missing+=("$pkg")
	done
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where Go is installed, and linked from (a test points both elsewhere).
GO_DEST=${KERNELEVENTS_GO_DEST:-/usr/local/go}
GO_LINKS=${KERNELEVENTS_GO_LINKS:-/usr/local/bin}
GO_STAMP=.kernelevents-installed

go_version_wanted() {
	sed -n 's/^go \([0-9.]*\)$/\1/p' "$REPO/go.mod"
}

# version_ge A B: dotted version A is B or later.
version_ge() {
	[[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$2" ]]
}

# go_on_path prints the version of the go on PATH, as it is (GOTOOLCHAIN=local:
# not one it would switch to), or fails when there is none.
go_on_path() {
	command -v go >/dev/null 2>&1 || return 1
	local v
	v=$(cd / && GOTOOLCHAIN=local go version 2>/dev/null) || return 1
	v=${v#go version go}
	echo "${v%% *}"
}

# install_go VERSION: Go VERSION into $GO_DEST, linked from /usr/local/bin.
install_go() {
	local want=$1 arch tmp
	arch=$(dpkg --print-architecture 2>/dev/null) || arch=
	case $arch in
	amd64 | arm64) ;;
	*)
		echo "kernelevents: installing Go needs Debian 12 on amd64 or arm64 (this is '${arch:-not Debian}'): install Go $want from https://go.dev/dl/" >&2
		return 1
		;;
	esac
	if [[ -e $GO_DEST && ! -f $GO_DEST/$GO_STAMP ]]; then
		echo "kernelevents: $GO_DEST holds a Go this set-up did not install, older than go.mod's $want: replace it with Go $want (https://go.dev/doc/install) or put Go $want first on PATH" >&2
		return 1
	fi
	echo "kernelevents: installing Go $want into $GO_DEST (bootstrap golang-1.23-go from bookworm-backports fetches go.mod's toolchain from the Go module proxy)" >&2
	# shellcheck source=scripts/apt-private.sh
	source "$REPO/scripts/apt-private.sh"
	tmp=$(mktemp -d)
	_install_go_in "$tmp" "$want" "$arch"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

_install_go_in() {
	local tmp=$1 want=$2 arch=$3 mod tc boot apt=$REPO/.cache/apt/backports-$arch
	# a stale list names a version the mirror dropped: update once and retry.
	(cd "$tmp" && apt_private "$apt" "$arch" bookworm-backports apt-get download -q golang-1.23-go >/dev/null 2>&1) ||
		(cd "$tmp" && apt_private "$apt" "$arch" bookworm-backports apt-get update &&
			apt_private "$apt" "$arch" bookworm-backports apt-get download -q golang-1.23-go 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
		true
	compgen -G "$tmp/golang-1.23-go_*.deb" >/dev/null || {
		echo "kernelevents: apt-get download golang-1.23-go (bookworm-backports) failed" >&2
		return 1
	}
	dpkg-deb -x "$tmp"/golang-1.23-go_*.deb "$tmp/boot"
	boot=$tmp/boot/usr/lib/go-1.23/bin/go
	mod=${GOMODCACHE:-${GOPATH:-${HOME:-/root}/go}/pkg/mod}
	tc=$mod/golang.org/toolchain@v0.0.1-go$want.linux-$arch
	(cd "$tmp" && GOTOOLCHAIN=go$want GOMODCACHE=$mod GOPROXY=${GOPROXY:-https://proxy.golang.org,direct} \
		GOSUMDB=${GOSUMDB:-sum.golang.org} GOFLAGS= "$boot" version) >&2 || {
		echo "kernelevents: the bootstrap Go could not fetch the toolchain go$want (GOPROXY=${GOPROXY:-https://proxy.golang.org,direct})" >&2
		return 1
	}
	[[ -x $tc/bin/go ]] || {
		echo "kernelevents: the toolchain go$want is not in $tc after the download" >&2
		return 1
	}
	rm -rf "$GO_DEST.tmp"
	cp -r "$tc" "$GO_DEST.tmp"
	chmod -R u+w,go+rX "$GO_DEST.tmp"
	touch "$GO_DEST.tmp/$GO_STAMP"
	if [[ -e $GO_DEST ]]; then
		chmod -R u+w "$GO_DEST"
		rm -rf "$GO_DEST"
	fi
	mv "$GO_DEST.tmp" "$GO_DEST"
	local b
	for b in go gofmt; do
		if [[ ! -e $GO_LINKS/$b || $(readlink "$GO_LINKS/$b") == "$GO_DEST/bin/$b" ]]; then
			ln -sfn "$GO_DEST/bin/$b" "$GO_LINKS/$b"
		fi
	done
	hash -r
}

# need_go TARGET: go.mod's Go on PATH, installed as root when missing.
need_go() {
	local want have
	want=$(go_version_wanted)
	if have=$(go_on_path) && version_ge "$have" "$want"; then
		return 0
	fi
	local what="make $1 needs Go $want or later (go.mod), which is not on PATH"
	[[ -n ${have:-} ]] && what="make $1 needs Go $want or later (go.mod); the go on PATH is $have"
	if [[ $(id -u) != 0 || -n ${KERNELEVENTS_NO_INSTALL:-} ]]; then
		echo "kernelevents: $what: as root, make installs it into $GO_DEST; or install it from https://go.dev/dl/" >&2
		return 1
	fi
	install_go "$want" || return 1
	if ! have=$(go_on_path) || ! version_ge "$have" "$want"; then
		echo "kernelevents: installed Go $want in $GO_DEST, but the go first on PATH ($(command -v go || echo none)) is ${have:-missing}: put $GO_DEST/bin first on PATH" >&2
		return 1
	fi
}

main() {
	if [[ ${1:-} == --list ]]; then
		local entry out=()
		for entry in $(deps_of "${2:?--list needs a target}"); do
			[[ " ${out[*]} " == *" ${entry#*=} "* ]] || out+=("${entry#*=}")
		done
		echo "${out[*]}"
		return 0
	fi
	local target=${1:?usage: scripts/deps.sh TARGET}
	deps_of "$target" >/dev/null || return 2

	if needs_root "$target" && [[ $(id -u) != 0 ]]; then
		local why="loads BPF programs"
		[[ $target == image ]] && why="builds into root's podman store (make image-test runs it from there)"
		echo "kernelevents: make $target $why and must run as root: sudo make $target" >&2
		return 1
	fi
	need_go "$target" || return 1

	missing "$target"
	((${#pkgs_missing[@]})) || return 0
	local cmd="apt-get install -y --no-install-recommends ${pkgs_missing[*]}"
	local what="make $target needs ${probes_missing[*]}"
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "kernelevents: $what, which are not installed; on Debian 12: $cmd (elsewhere: the same tools from your distribution)" >&2
		return 1
	fi
	if [[ $(id -u) != 0 || -n ${KERNELEVENTS_NO_INSTALL:-} ]]; then
		echo "kernelevents: $what, which are not installed; run as root: $cmd" >&2
		return 1
	fi

	echo "kernelevents: make $target: installing ${pkgs_missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	local log
	log=$(mktemp)
	if ! { apt-get update -qq && apt-get install -y -q --no-install-recommends "${pkgs_missing[@]}"; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -f "$log"
		echo "kernelevents: $cmd failed (output above)" >&2
		return 1
	fi
	rm -f "$log"
	local installed=("${pkgs_missing[@]}")
	missing "$target"
	if ((${#probes_missing[@]})); then
		echo "kernelevents: installed ${installed[*]}, but ${probes_missing[*]} still not found on PATH ($PATH)" >&2
		return 1
	fi
}

main "$@"
