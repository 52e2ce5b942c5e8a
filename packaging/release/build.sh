#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/release/build.sh: `make release`. The versioned artifacts of
# VERSION for linux/amd64 and linux/arm64 into $OUT (_build/release/VERSION):
#   otelcol-kernelevents_VERSION_linux_ARCH        the collector, cross-compiled
#                                                  from ocb's sources (CGO_ENABLED=0,
#                                                  -trimpath, stripped; --version
#                                                  says VERSION+commit)
#   otelcol-kernelevents_VERSION_ARCH.deb          the package (packaging/deb, nfpm)
#   otelcol-kernelevents_VERSION_image.oci.tar     the image for both, an OCI archive
#                                                  whose index names one manifest per
#                                                  architecture (podman manifest)
#   otelcol-kernelevents_VERSION_linux_ARCH.sbom.txt  the SBOM: `go version -m` of the
#                                                  binary (Go version, build settings,
#                                                  every module with its version and
#                                                  go.sum hash)
#   LICENSE NOTICE THIRD_PARTY_LICENSES            the licences (packaging/licenses.sh)
#   SHA256SUMS                                     sha256sum of everything above
# Every artifact is reproducible from the commit: -trimpath and no VCS
# stamping for the binaries, SOURCE_DATE_EPOCH (the commit's time) for the
# .debs, --timestamp 0 for the image layers. packaging/release/test.sh checks
# them, and that the arm64 binary runs (qemu-user).
# Environment: VERSION COMMIT COLLECTOR NFPM IMAGE_REPO OUT (Makefile).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${VERSION:?} ${COLLECTOR:?} ${NFPM:?} ${IMAGE_REPO:?} ${OUT:?}"
COMMIT=${COMMIT:-unknown}
ARCHES=(amd64 arm64)
src=$(dirname "$COLLECTOR") # ocb's generated module (make build wrote it)
[[ -f $src/go.mod ]] || { echo "release: no $src/go.mod: run make build first" >&2; exit 1; }

podman_() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

rm -rf "$OUT" && mkdir -p "$OUT"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
manifest=$IMAGE_REPO:$VERSION-release
podman_ manifest rm "$manifest" >/dev/null 2>&1 || true
podman_ manifest create "$manifest" >/dev/null
for arch in "${ARCHES[@]}"; do
	bin=$OUT/otelcol-kernelevents_${VERSION}_linux_$arch
	echo "release: $arch: compiling (cold for a new architecture: minutes)"
	(cd "$src" && GOOS=linux GOARCH=$arch CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$bin" .)
	go version -m "$bin" >"$bin.sbom.txt"

	echo "release: $arch: .deb"
	GOARCH=$arch COLLECTOR=$bin DEB=$OUT/otelcol-kernelevents_${VERSION}_$arch.deb VERSION=$VERSION NFPM=$NFPM \
		bash packaging/deb/build.sh >/dev/null

	echo "release: $arch: image"
	ctx=_build/release-image/$arch
	rm -rf "$ctx" && mkdir -p "$ctx"
	install -m 0755 "$bin" "$ctx/otelcol-kernelevents"
	install -m 0644 deploy/systemd/config.yaml "$ctx/config.yaml"
	install -m 0644 LICENSE NOTICE "$ctx/"
	bash packaging/licenses.sh "$bin" "$ctx/THIRD_PARTY_LICENSES" >/dev/null
	# FROM scratch and COPY only: no RUN, so no emulation for arm64.
	podman_ build --quiet --timestamp 0 --platform "linux/$arch" --manifest "$manifest" \
		--file packaging/image/Containerfile \
		--label org.opencontainers.image.title=otelcol-kernelevents \
		--label "org.opencontainers.image.version=$VERSION" \
		--label "org.opencontainers.image.revision=$COMMIT" \
		--label org.opencontainers.image.source=https://github.com/kernelevents/kernelevents \
		--label org.opencontainers.image.licenses=Apache-2.0 \
		"$ctx" >/dev/null
done
image=$OUT/otelcol-kernelevents_${VERSION}_image.oci.tar
podman_ manifest push --quiet --all "$manifest" "oci-archive:$image:$IMAGE_REPO:$VERSION"
podman_ manifest rm "$manifest" >/dev/null
rm -rf _build/release-image

install -m 0644 LICENSE NOTICE "$OUT/"
bash packaging/licenses.sh "$OUT/otelcol-kernelevents_${VERSION}_linux_amd64" "$OUT/THIRD_PARTY_LICENSES" >/dev/null
(cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
echo "release: $VERSION ($COMMIT) in $OUT:"
(cd "$OUT" && ls -l | tail -n +2 | awk '{ printf "  %-60s %6.1f MiB\n", $NF, $5 / 1048576 }')
