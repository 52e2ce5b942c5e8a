#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kubectl at K8S_VERSION from the Go module proxy into
# .cache/k8s/$K8S_VERSION/bin, once: a later run finds the binaries (stamped
# with the version) and returns at once. k8s.io/kubernetes is not meant to be
# required as a module: its go.mod replaces each staging module
# (k8s.io/api, k8s.io/client-go, ...) with a directory of its own tree. The
# scratch module under .cache/k8s/$K8S_VERSION/mod requires it and replaces
# each of those staging modules with its published tag, v0.<minor>.<patch>
# (the list is read from k8s.io/kubernetes's own go.mod). It also writes
# pause.c from the module source (build/pause/linux) into the cache: the
# test compiles it with gcc -static for the pod sandbox image.
# About 11 minutes on two cores, cold (kube-apiserver is most of it), about
# 4 GB of Go build cache.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.37.2}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.cache/k8s/$K8S_VERSION
bin=$dir/bin
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
cached() {
	local c
	[[ "$(cat "$bin/version" 2>/dev/null)" == "$K8S_VERSION" && -f $bin/pause.c ]] || return 1
	for c in "${cmds[@]}"; do [[ -x $bin/$c ]] || return 1; done
}
if cached; then
	echo "kubernetes $K8S_VERSION: cached in $bin"
	exit 0
fi
staging=v0.${K8S_VERSION#v1.}
mkdir -p "$dir/mod" "$bin"
cd "$dir/mod"
if [[ "$(cat resolved 2>/dev/null)" != "$K8S_VERSION" ]]; then
	echo "kubernetes $K8S_VERSION: fetching k8s.io/kubernetes (module proxy)"
	modjson=$(GOFLAGS= go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
	kmod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$modjson")
	[[ -f $kmod ]] || { echo "k8s-build: no go.mod for k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
	goversion=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kmod")
	{
		echo "module kernelevents.local/k8sbuild"
		echo
		echo "go $goversion"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		echo "replace ("
		# "k8s.io/api => ./staging/src/k8s.io/api" -> "k8s.io/api => k8s.io/api v0.37.2"
		sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*$|\t\1 => \1 '"$staging"'|p' "$kmod"
		echo ")"
	} >go.mod.new
	n=$(grep -c ' => ' go.mod.new || true)
	[[ $n -gt 10 ]] || { echo "k8s-build: found only $n staging replaces in $kmod" >&2; exit 1; }
	mv go.mod.new go.mod
	cat >tools.go <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
	echo "kubernetes $K8S_VERSION: resolving dependencies ($n staging modules at $staging)"
	GOFLAGS=-mod=mod go mod tidy >/dev/null 2>tidy.log || { cat tidy.log >&2; exit 1; }
	echo "$K8S_VERSION" >resolved
fi
kdir=$(GOFLAGS= go list -m -f '{{.Dir}}' k8s.io/kubernetes)
cp "$kdir/build/pause/linux/pause.c" "$bin/pause.c"
chmod u+w "$bin/pause.c"
# The version the binaries report (kubectl version, the node's kubeletVersion):
# without it they say v0.0.0-master.
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
for c in "${cmds[@]}"; do
	if [[ -x $bin/$c ]]; then continue; fi
	echo "kubernetes $K8S_VERSION: building $c (minutes, cold)"
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
	mv "$bin/$c.tmp" "$bin/$c"
done
echo "$K8S_VERSION" >"$bin/version"
echo "kubernetes $K8S_VERSION: built in $bin"
