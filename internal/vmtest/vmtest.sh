#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make vmtest: runs the kernel tests inside Debian 12's stock kernel (6.1)
# under qemu, one VM per test binary, through go test -exec exec.sh.
#
#   internal/vmtest/vmtest.sh                                # ./internal/probe/
#   internal/vmtest/vmtest.sh -run 'TestCreationsPerHook/fexit'
#   internal/vmtest/vmtest.sh ./internal/probe/ ./internal/foo/ -run TestX
#   internal/vmtest/vmtest.sh --arch arm64                   # GOARCH=arm64 VM
#
# Arguments starting with ./ (or naming a package path) are packages; every
# other argument goes to go test. KERNELEVENTS_VMTEST_PACKAGES overrides the
# default package list (./internal/probe/). See README.md.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

arch=amd64
pkgs=()
goargs=()
while (($#)); do
	case $1 in
	--arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
	--arch=*) arch=${1#--arch=}; shift ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	./* | ../* | github.com/*) pkgs+=("$1"); shift ;;
	-run | -skip | -bench | -timeout | -count | -parallel | -cpu | -list | -benchtime | -p | -tags | -ldflags | -gcflags)
		goargs+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
	*) goargs+=("$1"); shift ;;
	esac
done
case $arch in
amd64 | arm64) ;;
*) vm_die "--arch $arch: want amd64 or arm64" ;;
esac
if ((${#pkgs[@]} == 0)); then
	# shellcheck disable=SC2206 # a space-separated list on purpose
	pkgs=(${KERNELEVENTS_VMTEST_PACKAGES:-./internal/probe/})
fi

cd "$VMTEST_ROOT"
command -v go >/dev/null || vm_die "go is not on PATH"

t0=$(date +%s)
# Fetch everything before go test starts the VMs in parallel.
vm_ensure_tools "$arch"
kernel=$(vm_kernel "$arch")
vm_base_initrd "$arch" >/dev/null
kver=$(cat "$(dirname "$kernel")/version" 2>/dev/null || basename "$(dirname "$kernel")")
vm_log "kernel: $kver"

times=$(mktemp "${TMPDIR:-/tmp}/kernelevents-vmtest-times.XXXXXX")
trap 'rm -f "$times"' EXIT

export CGO_ENABLED=0 GOARCH=$arch
export KERNELEVENTS_REQUIRE_BPF=1
# The hooks that must attach, and the one auto must pick, on Debian 12's
# kernel. (KERNELEVENTS_VMTEST_HOOKS and _EXPECT_AUTO override them; a
# KERNELEVENTS_HOOKS left in the caller's environment for make test does not.)
if [[ $arch == arm64 ]]; then
	# fexit needs ftrace direct calls, which arm64 has from Linux 6.4 on:
	# on Debian 12's arm64 kernel (6.1) it is not supported.
	export KERNELEVENTS_HOOKS=${KERNELEVENTS_VMTEST_HOOKS:-kretprobe,tracepoint}
else
	export KERNELEVENTS_HOOKS=${KERNELEVENTS_VMTEST_HOOKS:-kretprobe,fexit,tracepoint}
fi
export KERNELEVENTS_EXPECT_AUTO=${KERNELEVENTS_VMTEST_EXPECT_AUTO:-kretprobe}
export KERNELEVENTS_VMTEST_TIMES=$times

cmd=(go test -count=1 -v -exec "$VMTEST_DIR/exec.sh" "${goargs[@]}" "${pkgs[@]}")
echo "vmtest: running CGO_ENABLED=0 GOARCH=$GOARCH KERNELEVENTS_REQUIRE_BPF=1" \
	"KERNELEVENTS_HOOKS=$KERNELEVENTS_HOOKS KERNELEVENTS_EXPECT_AUTO=$KERNELEVENTS_EXPECT_AUTO" \
	"$(printf '%q ' "${cmd[@]}")"
set +e
"${cmd[@]}"
rc=$?
set -e

vm_total=$(awk '{ s += $2 } END { printf "%.1f", s }' "$times")
echo "vmtest: VM time per package ($arch, $kver):"
awk '{ printf "vmtest:   %-50s %6.1fs\n", $1, $2 }' "$times"
echo "vmtest: total VM wall time ${vm_total}s (summed over VMs); whole run $(($(date +%s) - t0))s; go test exit $rc"
exit "$rc"
