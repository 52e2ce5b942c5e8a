#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/image/build.sh: `make image`. Builds the collector image FROM
# scratch with podman (no registry, no network, no RUN step), tags it $IMAGE,
# and saves it to _build/image/ for `docker load -i` or `podman load -i`.
# Reproducible: file times and the creation time are the epoch
# (--timestamp 0), so the same binary, config and commit give the same image
# ID. Environment (set by the Makefile): IMAGE VERSION COMMIT COLLECTOR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${IMAGE:?} ${VERSION:?} ${COLLECTOR:?}"
COMMIT=${COMMIT:-unknown}

# podman on hosts with hybrid cgroups needs runc and the cgroupfs manager
# (crun refuses hybrid mode); both work on cgroup v2 hosts too.
podman_() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

ctx=_build/image/context
rm -rf "$ctx" && mkdir -p "$ctx"
install -m 0755 "$COLLECTOR" "$ctx/otelcol-kernelevents"
install -m 0644 deploy/systemd/config.yaml "$ctx/config.yaml"
install -m 0644 LICENSE NOTICE "$ctx/"
bash packaging/licenses.sh "$COLLECTOR" "$ctx/THIRD_PARTY_LICENSES" >/dev/null
cp packaging/image/Containerfile "$ctx/Containerfile"

podman_ build --quiet --timestamp 0 --file "$ctx/Containerfile" --tag "$IMAGE" \
	--label org.opencontainers.image.title=otelcol-kernelevents \
	--label "org.opencontainers.image.description=OpenTelemetry Collector with the kernel_events receiver (file creations via eBPF)" \
	--label "org.opencontainers.image.version=$VERSION" \
	--label "org.opencontainers.image.revision=$COMMIT" \
	--label org.opencontainers.image.source=https://github.com/kernelevents/kernelevents \
	--label org.opencontainers.image.url=https://github.com/kernelevents/kernelevents \
	--label org.opencontainers.image.licenses=Apache-2.0 \
	--label org.opencontainers.image.vendor=kernelevents \
	"$ctx" >/dev/null
# The seccomp profile to run it with: podman's default with bpf() and
# perf_event_open() allowed under CAP_BPF / CAP_PERFMON (packaging/seccomp).
runtime_profile=/usr/share/containers/seccomp.json
if [[ -f $runtime_profile ]]; then
	go run ./packaging/seccomp <"$runtime_profile" >_build/image/seccomp.json.tmp
	mv _build/image/seccomp.json.tmp _build/image/seccomp.json
fi
id=$(podman_ image inspect --format '{{.Id}}' "$IMAGE")
tar=_build/image/otelcol-kernelevents_${VERSION}.tar
rm -f "$tar"
podman_ save --quiet --format docker-archive --output "$tar" "$IMAGE"
echo "image: $IMAGE (id ${id:0:12}), saved to $tar"
[[ -f _build/image/seccomp.json ]] && echo "       seccomp profile for it: _build/image/seccomp.json (podman run --security-opt seccomp=...)"
echo "       to push it: podman push $IMAGE registry.example/kernelevents/otelcol-kernelevents:$VERSION"
