#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build spire-server and spire-agent at SPIRE_VERSION from the Go module
# proxy into .cache/spire/$SPIRE_VERSION/bin, once: a later run finds the
# binaries (stamped with the version) and returns at once. A scratch module
# under .cache/spire/$SPIRE_VERSION tracks them as go tool dependencies, so
# SPIRE's own go.mod decides the versions of everything it needs (including
# the spire-api-sdk pseudo-version). The server needs cgo (SQLite).
# About 4-5 minutes each on two cores, cold.
set -euo pipefail
SPIRE_VERSION=${SPIRE_VERSION:-v1.13.3}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.cache/spire/$SPIRE_VERSION
bin=$dir/bin
if [[ -x $bin/spire-server && -x $bin/spire-agent && "$(cat "$bin/version" 2>/dev/null)" == "$SPIRE_VERSION" ]]; then
	echo "spire $SPIRE_VERSION: cached in $bin"
	exit 0
fi
mkdir -p "$dir/mod" "$bin"
cd "$dir/mod"
[[ -f go.mod ]] || go mod init kernelevents.local/spirebuild >/dev/null 2>&1
# the project's one Go line (the Makefile passes go.mod's), not the running go's.
[[ -z ${GO_VERSION:-} ]] || go mod edit -go="$GO_VERSION"
for cmd in spire-server spire-agent; do
	if [[ -x $bin/$cmd ]]; then continue; fi
	echo "spire $SPIRE_VERSION: go get -tool $cmd (module proxy)"
	GOFLAGS=-mod=mod go get -tool "github.com/spiffe/spire/cmd/$cmd@$SPIRE_VERSION"
	echo "spire $SPIRE_VERSION: building $cmd (minutes, cold)"
	cgo=0
	[[ $cmd == spire-server ]] && cgo=1
	CGO_ENABLED=$cgo go build -trimpath -o "$bin/$cmd.tmp" "github.com/spiffe/spire/cmd/$cmd"
	mv "$bin/$cmd.tmp" "$bin/$cmd"
done
echo "$SPIRE_VERSION" >"$bin/version"
echo "spire $SPIRE_VERSION: built in $bin"
