#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# go test -exec wrapper: boots Debian's stock kernel under qemu (TCG) with the
# test binary in the initramfs and exits with the test's exit status.
#
#   CGO_ENABLED=0 go test -exec "$PWD/internal/vmtest/exec.sh" ./internal/probe/
#   internal/vmtest/exec.sh ./probe.test -test.v -test.run TestX
#
# The binary must be static (CGO_ENABLED=0); its architecture (amd64 or
# arm64, GOARCH) picks the VM. Environment variables named KERNELEVENTS_* and
# CI are passed into the VM. The test's output is streamed to stdout; the
# kernel console is printed only when the VM fails to report an exit status.
#
# Knobs (environment, all optional):
#   KERNELEVENTS_VMTEST_TIMEOUT  seconds before the VM is killed (default: the
#                                binary's -test.timeout plus 180, else 1800)
#   KERNELEVENTS_VMTEST_SMP      vCPUs (default 1; more run on one host thread)
#   KERNELEVENTS_VMTEST_MEM      memory (default 512M)
#   KERNELEVENTS_VMTEST_APPEND   extra kernel command line
#   KERNELEVENTS_VMTEST_QEMU_ARGS  extra qemu options (split on spaces)
#   KERNELEVENTS_VMTEST_KERNEL_NAME  the matrix row to boot (VMTEST_KERNELS
#                                in lib.sh: 6.1, 6.12, 6.1-rt, 6.1-arm64);
#                                default: the first row for the binary's arch
#   KERNELEVENTS_VMTEST_KERNEL   a vmlinux (amd64) or Image (arm64) to boot
#                                instead of Debian's
#   KERNELEVENTS_VMTEST_TIMES    file to which a "<package dir> <seconds>" line
#                                is appended per VM (vmtest.sh sums it)
#   KERNELEVENTS_VMTEST_KEEP=1   keep the work directory (initrd, logs)
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 1 ]] || vm_die "usage: exec.sh TEST-BINARY [ARGS...]"
bin=$1
shift
[[ -f $bin && -r $bin ]] || vm_die "test binary $bin not found"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
arch=$(vm_arch_of "$bin")
vm_is_static "$bin" || vm_die "$bin is dynamically linked: build it with CGO_ENABLED=0, there is no libc in the VM"

# the matrix row: KERNELEVENTS_VMTEST_KERNEL_NAME (vmtest.sh sets it), else
# the first row for the binary's architecture.
kname=${KERNELEVENTS_VMTEST_KERNEL_NAME:-$(vm_default_kernel "$arch")}
vm_kernel_row "$kname" || vm_die "KERNELEVENTS_VMTEST_KERNEL_NAME=$kname: no such kernel in the matrix (VMTEST_KERNELS in lib.sh)"
[[ $karch == "$arch" ]] || vm_die "kernel $kname is $karch, but $bin is an $arch binary (GOARCH=$karch)"
vm_with_lock vm_ensure_tools "$arch"
kernel=$(vm_kernel "$kname")
base=$(vm_base_initrd "$arch")

work=$(mktemp -d "${TMPDIR:-/tmp}/kernelevents-vmtest.XXXXXX")
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [[ ${KERNELEVENTS_VMTEST_KEEP:-} == 1 ]]; then
		vm_log "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# q WORD quotes WORD for busybox sh.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# dur_secs GO-DURATION prints whole seconds (rounded up), or fails.
dur_secs() {
	local d=$1 total=0 n frac u
	[[ $d == 0 ]] && { echo 0; return; }
	while [[ -n $d && $d =~ ^([0-9]+)(\.[0-9]+)?(h|ms|us|µs|ns|m|s)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} frac=${BASH_REMATCH[2]} u=${BASH_REMATCH[3]} d=${BASH_REMATCH[4]}
		n=$((10#$n))
		case $u in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		esac
		[[ -n $frac || $u == ms || $u == us || $u == µs || $u == ns ]] && total=$((total + 1))
	done
	[[ -z $d ]] || return 1
	echo "$total"
}

# --- the per-run archive: run.env, the binary, the package directory ------
ov=$work/overlay
name=$(basename "$bin")
mkdir -p "$ov/vmtest"
install -m 0755 "$bin" "$ov/vmtest/$name"
# the kernel's modules the tests need (init insmods each): overlay.ko,
# kept beside the cached kernel (lib.sh, _vm_fetch_kernel).
if [[ -s $(dirname "$kernel")/overlay.ko ]]; then
	mkdir -p "$ov/vmtest/modules"
	install -m 0644 "$(dirname "$kernel")/overlay.ko" "$ov/vmtest/modules/overlay.ko"
fi
{
	echo "# written by exec.sh"
	while IFS= read -r v; do
		if [[ $v == KERNELEVENTS_* || $v == CI ]]; then
			echo "export $v=$(q "${!v}")"
		fi
	done < <(compgen -e | LC_ALL=C sort)
	# go test runs the binary in the package directory: recreate it, with
	# its testdata, so relative paths work the same.
	echo "VMTEST_CWD=$(q "$PWD")"
	case $arch in
	amd64) echo "VMTEST_OUT=/dev/ttyS1" ;;
	*) echo "VMTEST_OUT=/dev/console" ;;
	esac
	printf 'set --'
	printf ' %s' "$(q "/vmtest/$name")"
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo
} >"$ov/vmtest/run.env"
chmod 0644 "$ov/vmtest/run.env"
if [[ $PWD != / ]]; then
	mkdir -p "$ov$PWD"
	if [[ -d $PWD/testdata ]]; then
		cp -a "$PWD/testdata" "$ov$PWD/testdata"
	fi
	# every directory on the way must be traversable by the tests' nobody.
	p=$PWD
	while [[ $p != / ]]; do
		chmod 0755 "$ov$p"
		p=$(dirname "$p")
	done
fi
chmod 0755 "$ov" "$ov/vmtest"
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/overlay.cpio" ||
	vm_die "cpio failed on the per-run archive"
# the kernel unpacks concatenated archives one after the other.
cat "$base" "$work/overlay.cpio" >"$work/initrd.cpio"

# --- boot ------------------------------------------------------------------
timeout_s=${KERNELEVENTS_VMTEST_TIMEOUT:-}
if [[ -z $timeout_s ]]; then
	timeout_s=1800
	for a in "$@"; do
		if [[ $a =~ ^--?test\.timeout=(.+)$ ]]; then
			if t=$(dur_secs "${BASH_REMATCH[1]}") && ((t > 0)); then
				timeout_s=$((t + 180))
			fi
		fi
	done
fi
smp=${KERNELEVENTS_VMTEST_SMP:-1}
# Multi-threaded TCG (one host thread per vCPU) hangs Debian 6.1 when the
# tests flip the syscall tracepoints' static keys: both vCPUs soft-lock in
# syscall_trace_enter while the kernel patches its text. With several vCPUs,
# round-robin them on one host thread instead (KERNELEVENTS_VMTEST_TCG_THREAD).
tcg=tcg
((smp > 1)) && tcg=tcg,thread=${KERNELEVENTS_VMTEST_TCG_THREAD:-single}
mem=${KERNELEVENTS_VMTEST_MEM:-512M}
cmdline="panic=-1 oops=panic rdinit=/init"
console=$work/console.log
shared_console=0
case $arch in
amd64)
	qemu=(qemu-system-x86_64 -machine pc -accel "$tcg" -cpu max
		-serial "file:$console" -serial stdio
		-append "console=ttyS0,115200 $cmdline $kcmdline ${KERNELEVENTS_VMTEST_APPEND:-}")
	;;
arm64)
	# virt has one UART (in qemu 7.2): console and test output share it.
	shared_console=1
	console=$work/output.log
	# pauth-impdef: the kernel signs its return addresses, and qemu's
	# QARMA emulation of that is slow; the impdef algorithm is not.
	# shellcheck disable=SC2054 # -cpu takes a comma-separated list
	qemu=(qemu-system-aarch64 -machine virt -accel "$tcg" -cpu max,pauth-impdef=on
		-serial stdio
		-append "console=ttyAMA0 quiet $cmdline $kcmdline ${KERNELEVENTS_VMTEST_APPEND:-}")
	;;
esac
qemu+=(-m "$mem" -smp "$smp" -nodefaults -no-user-config -display none -no-reboot
	-kernel "$kernel" -initrd "$work/initrd.cpio")
# More qemu options, split on spaces (make bench-vm: -icount, so that the
# guest's clock counts instructions and the host's load does not move it).
# shellcheck disable=SC2206
[[ -n ${KERNELEVENTS_VMTEST_QEMU_ARGS:-} ]] && qemu+=($KERNELEVENTS_VMTEST_QEMU_ARGS)

rel=${PWD#"$VMTEST_ROOT"/}
[[ $PWD == "$VMTEST_ROOT" ]] && rel=.
kdesc="$kname: $(cat "$(dirname "$kernel")/version" 2>/dev/null || basename "$kernel")"
vm_log "booting $kdesc ($arch) for $rel, timeout ${timeout_s}s"
start=$(date +%s.%N)
set +e
# awk streams the test output, drops the marker line (and the blank line
# printed before it) and records the exit code.
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>"$work/qemu.err" |
	tee "$work/output.log" |
	awk -v marker="$VMTEST_MARKER=" -v codefile="$work/code" -v shared="$shared_console" '
		{ sub(/\r$/, "") }
		# on a shared console, kernel messages stay in output.log only.
		shared && /^\[ *[0-9]+\.[0-9]+\] / { next }
		index($0, marker) == 1 {
			print substr($0, length(marker) + 1) > codefile
			close(codefile)
			blank = 0
			next
		}
		$0 == "" { if (blank) print ""; blank = 1; next }
		{ if (blank) print ""; blank = 0; print; fflush() }
		END { if (blank) print "" }
	'
status=("${PIPESTATUS[@]}")
set -e
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
# qemu's CPU time (user + system of the children waited for: timeout, qemu,
# tee, awk): unlike wall time it barely moves when other load shares the
# cores, and one TCG vCPU keeps one core busy, so on an idle machine it is
# the wall time.
# (times runs in this shell: in a $(...) it would see the subshell's children.)
times >"$work/times"
cpu=$(awk 'NR == 2 {
	t = 0
	for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2] }
	printf "%.1f", t
}' "$work/times")
code=$(cat "$work/code" 2>/dev/null || true)
warned=0
if [[ -s $console ]] && grep -qE 'WARNING:|BUG:|Oops|Call Trace:|general protection' "$console"; then
	warned=1
fi
if [[ -n ${KERNELEVENTS_VMTEST_TIMES:-} ]]; then
	# <kernel> <package dir> <VM wall seconds> <exit code, or none> <1 if the console has warnings> <VM CPU seconds>
	echo "$kname $rel $secs ${code:-none} $warned $cpu" >>"$KERNELEVENTS_VMTEST_TIMES"
fi
if [[ ! $code =~ ^[0-9]+$ ]]; then
	why="qemu exited with status ${status[0]}"
	[[ ${status[0]} == 124 || ${status[0]} == 137 ]] && why="timed out after ${timeout_s}s (KERNELEVENTS_VMTEST_TIMEOUT)"
	{
		echo "vmtest: error: kernel $kdesc: the VM for $rel ($name) reported no exit status: $why, after ${secs}s"
		if [[ -s $work/qemu.err ]]; then
			echo "--- qemu stderr:"
			tail -n 40 "$work/qemu.err"
		fi
		if [[ -s $console ]]; then
			echo "--- kernel console (last 60 lines of $(wc -l <"$console")):"
			tr -d '\r' <"$console" | tail -n 60
		fi
		echo "---"
	} >&2
	exit 1
fi
# A kernel warning during a passing run is worth seeing (a BPF program that
# trips the kernel, say): show it, without failing.
if [[ $warned == 1 ]]; then
	{
		echo "vmtest: kernel $kdesc: the kernel console of $rel has warnings:"
		tr -d '\r' <"$console" | grep -E -A25 'WARNING:|BUG:|Oops|general protection' | head -n 120
	} >&2
fi
vm_log "$kname: $rel: exit $code, VM ${secs}s (CPU ${cpu}s)"
exit "$code"
