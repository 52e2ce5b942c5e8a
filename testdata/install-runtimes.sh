#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# install_runtimes installs, from Debian, what the real-runtime tests
# (TestPodmanContainerID) need where it is missing: podman with runc (crun
# refuses hybrid cgroup hosts) and a static busybox for the image they build
# locally (no registry). Packages: podman runc conmon busybox-static.
set -eu

install_runtimes() {
	missing=""
	command -v podman >/dev/null 2>&1 || missing="$missing podman conmon"
	command -v runc >/dev/null 2>&1 || missing="$missing runc"
	[ -x /bin/busybox ] || missing="$missing busybox-static"
	[ -z "$missing" ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing ||
		{ apt-get update && apt-get install -y --no-install-recommends $missing; }
}

install_runtimes
