#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/deps.sh TARGET: the one list of the Debian/Ubuntu packages each make
# target needs, and the check the Makefile runs first in those targets.
#
#   scripts/deps.sh test        # as root: installs what is missing (one
#                               # apt-get update, then one apt-get install);
#                               # otherwise prints one line naming the
#                               # apt-get install command and exits 1
#   scripts/deps.sh --list test # the packages TARGET needs, one line
#
# KERNELEVENTS_NO_INSTALL=1 never installs, even as root: it only reports.
# Go itself is not a Debian package here (Debian 12's is older than go.mod's
# toolchain): a missing go is reported with the version go.mod asks for.
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
	# e2fsprogs: the ext4 phase. auditd is installed by the audit phase itself,
	# only when that phase runs: enabling audit slows every later process on
	# the machine until reboot (README, "Benchmark").
	bench) echo "mkfs.ext4=e2fsprogs" ;;
	build | run | soak | fuzz | lint) echo "" ;;
	test)
		local t
		for t in check-format check-generated unit vmtest deploy-check image-test deb-test k8s-test; do deps_of "$t"; done | xargs
		;;
	*) echo "scripts/deps.sh: unknown target '$1'" >&2; return 2 ;;
	esac
}

# Targets that load BPF programs, mount tracefs, or use root's podman store
# (image: image-test runs what it built).
needs_root() {
	case $1 in
	test | unit | run | bench | soak | image | image-test | deb-test | k8s-test) return 0 ;;
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

go_version_wanted() {
	sed -n 's/^go \([0-9.]*\)$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../go.mod"
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

	if ! command -v go >/dev/null 2>&1; then
		echo "kernelevents: make $target needs Go $(go_version_wanted) or later (go.mod), which is not on PATH: install it from https://go.dev/dl/" >&2
		return 1
	fi
	if needs_root "$target" && [[ $(id -u) != 0 ]]; then
		local why="loads BPF programs"
		[[ $target == image ]] && why="builds into root's podman store (make image-test runs it from there)"
		echo "kernelevents: make $target $why and must run as root: sudo make $target" >&2
		return 1
	fi

	missing "$target"
	((${#pkgs_missing[@]})) || return 0
	local cmd="apt-get install -y --no-install-recommends ${pkgs_missing[*]}"
	local what="make $target needs ${probes_missing[*]}"
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "kernelevents: $what, which are not installed; on Debian/Ubuntu: $cmd (elsewhere: the same tools from your distribution)" >&2
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
