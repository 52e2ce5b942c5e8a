#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/release/test.sh: checks what packaging/release/build.sh wrote to
# $OUT: every artifact for amd64 and arm64 is there and in SHA256SUMS; each
# binary is a static ELF of its architecture; the arm64 binary runs
# `--version` under qemu-user (qemu-aarch64-static) and the amd64 one
# natively, both saying VERSION+commit; each .deb says its architecture and
# holds its binary; the image archive's index names one manifest per
# architecture; the SBOM names the modules. Then it builds the binaries again
# from a copy of ocb's sources at another path, and the .debs again, and
# compares: the same bytes (reproducible builds; the second build shares the
# Go build cache, so it proves the output does not depend on the path, the
# time or the checkout, not that a cold cache compiles alike).
# Environment: VERSION BUILD_VERSION COLLECTOR NFPM OUT (Makefile).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${VERSION:?} ${BUILD_VERSION:?} ${COLLECTOR:?} ${NFPM:?} ${OUT:?}"
fail() {
	echo "release-test: FAIL: $*" >&2
	exit 1
}
work=$(mktemp -d /tmp/ke-release.XXXXXX)
trap 'rm -rf "$work"' EXIT

(cd "$OUT" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the artifacts"
for f in LICENSE NOTICE THIRD_PARTY_LICENSES "otelcol-kernelevents_${VERSION}_image.oci.tar"; do
	grep -q "  $f\$" "$OUT/SHA256SUMS" || fail "$f is not in SHA256SUMS"
done
# vm_arch_of and vm_is_static read the ELF header (the VM matrix's helpers).
# shellcheck source=internal/vmtest/lib.sh
source internal/vmtest/lib.sh
for arch in amd64 arm64; do
	bin=$OUT/otelcol-kernelevents_${VERSION}_linux_$arch
	deb=$OUT/otelcol-kernelevents_${VERSION}_$arch.deb
	for f in "$bin" "$bin.sbom.txt" "$deb"; do
		[[ -s $f ]] || fail "no $f"
		grep -q "  $(basename "$f")\$" "$OUT/SHA256SUMS" || fail "$(basename "$f") is not in SHA256SUMS"
	done
	[[ $(vm_arch_of "$bin") == "$arch" ]] || fail "$bin is not a $arch ELF ($(vm_arch_of "$bin"))"
	vm_is_static "$bin" || fail "$bin is dynamically linked"
	case $arch in
	amd64) out=$("$bin" --version) ;;
	arm64) out=$(qemu-aarch64-static "$bin" --version) || fail "the arm64 binary did not run under qemu-aarch64-static" ;;
	esac
	[[ $out == *" version $BUILD_VERSION" ]] || fail "$arch --version says '$out', want version $BUILD_VERSION"
	echo "release-test: $arch binary: $out"
	[[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || fail "$deb says Architecture $(dpkg-deb -f "$deb" Architecture)"
	dpkg-deb -x "$deb" "$work/deb-$arch"
	cmp -s "$work/deb-$arch/usr/bin/otelcol-kernelevents" "$bin" || fail "$deb does not hold $bin"
	grep -q $'^\tdep\tgithub.com/cilium/ebpf\tv' "$bin.sbom.txt" || fail "$bin.sbom.txt does not list github.com/cilium/ebpf"
	grep -q $'^\tbuild\tGOARCH='"$arch"'$' "$bin.sbom.txt" || fail "$bin.sbom.txt does not say GOARCH=$arch"
done

# The image: an OCI archive whose index lists both architectures.
mkdir "$work/oci"
tar -C "$work/oci" -xf "$OUT/otelcol-kernelevents_${VERSION}_image.oci.tar"
index=$work/oci/index.json
[[ -f $index ]] || fail "the image archive has no index.json"
list=$(python3 -c '
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = idx["manifests"][0]
blob = json.load(open(d + "/blobs/" + m["digest"].replace(":", "/")))
print(" ".join(sorted(x["platform"]["os"] + "/" + x["platform"]["architecture"] for x in blob.get("manifests", []))))
' "$work/oci") || fail "cannot read the image archive's index"
[[ $list == "linux/amd64 linux/arm64" ]] || fail "the image index names '$list', want linux/amd64 linux/arm64"
echo "release-test: image index: $list"

# Reproducible: the binaries again from a copy of the sources at another
# path, the .debs again; the same bytes.
src=$(dirname "$COLLECTOR")
# A copy of the tree at another path (ocb's module replaces the receiver's
# with ../.., which the build info records as it is).
mkdir -p "$work/tree/_build"
tar --exclude=./_build --exclude=./.cache --exclude=./.bin -cf - . | tar -x -C "$work/tree"
cp -r "$src" "$work/tree/_build/collector"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
for arch in amd64 arm64; do
	bin=$OUT/otelcol-kernelevents_${VERSION}_linux_$arch
	(cd "$work/tree/_build/collector" && GOOS=linux GOARCH=$arch CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$work/bin-$arch" .)
	cmp -s "$work/bin-$arch" "$bin" || fail "the $arch binary differs when built again from a copy at $work/tree"
	GOARCH=$arch COLLECTOR=$work/bin-$arch DEB=$work/again_$arch.deb VERSION=$VERSION NFPM=$NFPM \
		bash packaging/deb/build.sh >/dev/null
	cmp -s "$work/again_$arch.deb" "$OUT/otelcol-kernelevents_${VERSION}_$arch.deb" || fail "the $arch .deb differs when built again"
done
echo "release-test: ok: both architectures' binaries, .debs, image index, SBOMs, licences and checksums; binaries and .debs rebuilt bit for bit"
