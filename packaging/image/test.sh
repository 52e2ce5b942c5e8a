#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/image/test.sh: `make image-test`. Runs the image `make image`
# built ($IMAGE) under podman the way deploy/kubernetes/daemonset.yaml runs
# it: host PID namespace, read-only root, every capability dropped but BPF,
# PERFMON, SYS_PTRACE and DAC_READ_SEARCH, no privilege escalation, the
# runtime's default seccomp profile (with bpf() and perf_event_open() under
# CAP_BPF/CAP_PERFMON: packaging/seccomp), and the host's /sys/kernel/btf,
# /sys/kernel/tracing and /sys/fs/cgroup read-only. Two containers at once:
# as root (the DaemonSet) and as uid 65534 (the image needs no root, only
# the capabilities). Each has its own network namespace (--network none), so
# the image's default config (Prometheus on 127.0.0.1:9464) is used as is
# and scraped from inside that namespace (nsenter). Files are created on the
# host; each collector must count exactly those, with the creator's identity.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${IMAGE:?} ${VERSION:?}"
# The runtime's default seccomp filter, with bpf() and perf_event_open()
# allowed under CAP_BPF/CAP_PERFMON (make image writes it; Debian 12's podman
# allows them only with CAP_SYS_ADMIN). KERNELEVENTS_SECCOMP overrides it.
SECCOMP=${KERNELEVENTS_SECCOMP:-$PWD/_build/image/seccomp.json}
[[ -f $SECCOMP ]] || { echo "image-test: no seccomp profile $SECCOMP: run make image" >&2; exit 1; }
COMMIT=${COMMIT:-}
podman_() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

start=$(date +%s)
work=$(mktemp -d /tmp/ke-imagetest.XXXXXX)
ids=()
cleanup() {
	local id
	for id in "${ids[@]}"; do podman_ rm -f "$id" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "image-test: FAIL: $*" >&2
	local id m
	for m in "$work"/metrics.*; do
		[[ -f $m ]] && { echo "--- creation series under $work in $m:" >&2; grep -F "\"$work" "$m" | grep '^kernel_file_creations_total' >&2 || true; }
	done
	for id in "${ids[@]}"; do
		echo "--- podman logs ${id:0:12} (last 30 lines)" >&2
		podman_ logs "$id" 2>&1 | tail -n 30 >&2 || true
	done
	exit 1
}

# The image's metadata.
podman_ image exists "$IMAGE" || fail "no image $IMAGE: run make image"
inspect() { podman_ image inspect --format "$1" "$IMAGE"; }
[[ $(inspect '{{index .Labels "org.opencontainers.image.version"}}') == "$VERSION" ]] || fail "label org.opencontainers.image.version is not $VERSION"
[[ -z $COMMIT || $(inspect '{{index .Labels "org.opencontainers.image.revision"}}') == "$COMMIT" ]] || fail "label org.opencontainers.image.revision is not $COMMIT"
for l in title source licenses; do
	[[ -n $(inspect "{{index .Labels \"org.opencontainers.image.$l\"}}") ]] || fail "label org.opencontainers.image.$l missing"
done
[[ $(inspect '{{json .Config.Entrypoint}}') == '["/otelcol-kernelevents"]' ]] || fail "entrypoint is $(inspect '{{json .Config.Entrypoint}}')"
# Its files: the collector, the config, the licences, and nothing else.
cid=$(podman_ create "$IMAGE")
files=$(podman_ export "$cid" | tar -t | grep -v '/$' | sort | xargs)
podman_ rm "$cid" >/dev/null
want_files="etc/otelcol-kernelevents/config.yaml otelcol-kernelevents usr/share/doc/otelcol-kernelevents/LICENSE usr/share/doc/otelcol-kernelevents/NOTICE usr/share/doc/otelcol-kernelevents/THIRD_PARTY_LICENSES"
[[ $files == "$want_files" ]] || fail "the image holds: $files; want: $want_files"
layers=$(inspect '{{len .RootFS.Layers}}')
echo "image-test: $IMAGE: labels, entrypoint ok; $layers layers, $(($(inspect '{{.Size}}') / 1048576)) MiB"

run() { # run NAME USER: start a container like the DaemonSet's, print its id
	podman_ run -d --name "ke-imagetest-$1-$$" --user "$2" \
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none \
		--pid host --read-only --tmpfs /tmp:size=16m \
		--cap-drop all --cap-add CAP_BPF,CAP_PERFMON,CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH \
		--security-opt no-new-privileges --security-opt "seccomp=$SECCOMP" \
		-v /sys/kernel/btf:/sys/kernel/btf:ro \
		-v /sys/kernel/tracing:/sys/kernel/tracing:ro \
		-v /sys/fs/cgroup:/sys/fs/cgroup:ro \
		"$IMAGE"
}
id_root=$(run root 0:0) || fail "podman run as root failed"
ids+=("$id_root")
id_nobody=$(run nobody 65534:65534) || fail "podman run as 65534 failed"
ids+=("$id_nobody")

# curl_in ID URL: fetch URL inside the container's network namespace.
curl_in() {
	local pid
	pid=$(podman_ inspect --format '{{.State.Pid}}' "$1")
	[[ $pid != 0 ]] || return 1
	nsenter --net="/proc/$pid/ns/net" curl -fsS --max-time 2 "$2"
}
# wait_for WHAT CMD...: until CMD succeeds, for at most 90 s (a loaded CI
# machine can take long; the state is polled, not timed).
wait_for() {
	local what=$1 deadline=$(($(date +%s) + 90))
	shift
	until "$@" >/dev/null 2>&1; do
		(($(date +%s) < deadline)) || fail "$what"
		sleep 0.5
	done
}
running() { [[ $(podman_ inspect --format '{{.State.Running}}' "$1") == true ]]; }
for id in "${ids[@]}"; do
	running "$id" || fail "container ${id:0:12} exited"
	wait_for "container ${id:0:12}: health check never answered" curl_in "$id" http://127.0.0.1:13133/
	# The least set and nothing else (BPF 39, PERFMON 38, SYS_PTRACE 19,
	# DAC_READ_SEARCH 2), as root and as 65534 (ambient) alike.
	capeff=$(awk '/^CapEff/ {print $2}' "/proc/$(podman_ inspect --format '{{.State.Pid}}' "$id")/status")
	[[ $capeff == 000000c000080004 ]] || fail "container ${id:0:12}: CapEff $capeff, want 000000c000080004"
done
echo "image-test: both containers healthy after $(($(date +%s) - start)) s"

# Files created on the host, by a program whose name the identity must show.
dir=$work/files
mkdir "$dir"
cp /bin/touch "$work/ke-imgtouch"
want=5
for i in $(seq 1 $want); do "$work/ke-imgtouch" "$dir/f$i"; done

# count ID: the sum of kernel_file_creations_total over the series under
# $work whose creator is ke-imgtouch (so the identity was resolved, and the
# files this script writes with other programs do not count).
count() {
	curl_in "$1" http://127.0.0.1:9464/metrics >"$work/metrics.$1" || return 1
	awk -v d="$work" -v x="ke-imgtouch" '/^kernel_file_creations_total\{/ && index($0, "\"" d) && index($0, "\"" x "\"") { s += $NF } END { print s + 0 }' "$work/metrics.$1"
}
reached() { (($(count "$1") >= want)); }
for id in "${ids[@]}"; do
	wait_for "container ${id:0:12}: kernel_file_creations_total for $dir never reached $want" reached "$id"
	got=$(count "$id")
	((got == want)) || fail "container ${id:0:12}: counted $got creations in $dir, want $want"
	hook=$(sed -n 's/^kernel_probe_hook{.*kernelevents_hook="\([a-z_]*\)".*} 1$/\1/p' "$work/metrics.$id" | head -n 1)
	[[ -n $hook ]] || fail "container ${id:0:12}: kernel_probe_hook names no hook"
	echo "image-test: container ${id:0:12} ($(podman_ inspect --format '{{.Config.User}}' "$id")): $got of $want host files counted, hook ${hook:-?}, identity resolved"
done
echo "image-test: ok ($(($(date +%s) - start)) s)"
