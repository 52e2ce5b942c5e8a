#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# install_runtimes installs, from Debian, what the real-runtime tests
# (TestPodmanContainerID, TestDockerContainerID) need where it is missing:
# podman with runc (crun refuses hybrid cgroup hosts), docker.io (dockerd,
# with its containerd and runc; the tests start a private dockerd by hand)
# and a static busybox for the image they build locally (no registry).
# Packages: podman runc conmon docker.io busybox-static.
#
#   sh testdata/install-runtimes.sh            # all
#   sh testdata/install-runtimes.sh podman     # podman only
#   sh testdata/install-runtimes.sh docker     # docker only
set -eu

install_runtimes() {
	missing=""
	case "${1:-all}" in
	podman | all)
		command -v podman >/dev/null 2>&1 || missing="$missing podman conmon"
		command -v runc >/dev/null 2>&1 || missing="$missing runc"
		;;
	esac
	case "${1:-all}" in
	docker | all)
		[ -x /usr/sbin/dockerd ] || missing="$missing docker.io"
		;;
	esac
	[ -x /bin/busybox ] || missing="$missing busybox-static"
	[ -z "$missing" ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing ||
		{ apt-get update && apt-get install -y --no-install-recommends $missing; }
}

install_runtimes "$@"
