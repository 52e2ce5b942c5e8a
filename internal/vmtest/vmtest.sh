#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make vmtest: runs the kernel tests inside Debian's own kernels (the matrix,
# VMTEST_KERNELS in lib.sh) under qemu, one go test run per kernel, one VM
# per test binary, through go test -exec exec.sh.
#
#   internal/vmtest/vmtest.sh                                # the default kernels, ./internal/probe/
#   internal/vmtest/vmtest.sh --kernel 6.12 -run 'TestCreationsPerHook/fexit'
#   internal/vmtest/vmtest.sh --kernel all                   # every row
#   internal/vmtest/vmtest.sh --arch arm64                   # the default arm64 rows
#   internal/vmtest/vmtest.sh --kernel all --list            # print the matrix (--list: the rows a run would take)
#   internal/vmtest/vmtest.sh ./internal/probe/ ./internal/foo/ -run TestX
#
# Arguments starting with ./ (or naming a package path) are packages; every
# other argument goes to go test. KERNELEVENTS_VMTEST_PACKAGES overrides the
# default package list (./internal/probe/), KERNELEVENTS_VMTEST_KERNELS the
# default kernels. Exit status: 0 when every kernel passed. See README.md.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sel=${KERNELEVENTS_VMTEST_KERNELS:-}
arch=
list=0
pkgs=()
goargs=()
while (($#)); do
	case $1 in
	--kernel | --kernels) sel=${2:?$1 needs a name from --list, a comma-separated list, default or all}; shift 2 ;;
	--kernel=* | --kernels=*) sel=${1#*=}; shift ;;
	--arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
	--arch=*) arch=${1#--arch=}; shift ;;
	--list) list=1; shift ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	./* | ../* | github.com/*) pkgs+=("$1"); shift ;;
	-run | -skip | -bench | -timeout | -count | -parallel | -cpu | -list | -benchtime | -p | -tags | -ldflags | -gcflags)
		goargs+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
	*) goargs+=("$1"); shift ;;
	esac
done
case $arch in
'' | amd64 | arm64) ;;
*) vm_die "--arch $arch: want amd64 or arm64" ;;
esac

# The kernels to run: --kernel names (or default / all), narrowed to --arch.
kernels=()
case ${sel:-default} in
default) mapfile -t kernels < <(vm_kernel_rows | awk '$6 == "yes" { print $1 }') ;;
all) mapfile -t kernels < <(vm_kernel_rows | awk '{ print $1 }') ;;
*)
	IFS=, read -r -a kernels <<<"$sel"
	for k in "${kernels[@]}"; do
		vm_kernel_row "$k" || vm_die "--kernel $k: no such kernel; the matrix has: $(vm_kernel_rows | awk '{ printf "%s ", $1 }')"
	done
	;;
esac
if [[ -n $arch ]]; then
	mapfile -t kernels < <(for k in "${kernels[@]}"; do
		vm_kernel_row "$k" && [[ $karch == "$arch" ]] && echo "$k"
	done)
fi
((${#kernels[@]})) || vm_die "no kernel selected (--kernel ${sel:-default}, --arch ${arch:-any})"
if ((list)); then
	# the rows selected (--kernel all --list: the whole table)
	printf '%-10s %-6s %-24s %-28s %-10s %-8s %-14s %s\n' name arch package hooks auto default cmdline tests
	for k in "${kernels[@]}"; do
		vm_kernel_rows | awk -v n="$k" '$1 == n { printf "%-10s %-6s %-24s %-28s %-10s %-8s %-14s %s\n", $1, $2, $3, $4, $5, $6, $7, ($8 == "-" ? "all" : $8) }'
	done
	exit 0
fi
if [[ -n ${KERNELEVENTS_VMTEST_KERNEL:-} || -n ${KERNELEVENTS_VMTEST_KERNEL_PKG:-} ]] && ((${#kernels[@]} > 1)); then
	vm_die "KERNELEVENTS_VMTEST_KERNEL or _KERNEL_PKG replaces one row's kernel: pick that row with --kernel"
fi

if ((${#pkgs[@]} == 0)); then
	# shellcheck disable=SC2206 # a space-separated list on purpose
	pkgs=(${KERNELEVENTS_VMTEST_PACKAGES:-./internal/probe/})
fi

cd "$VMTEST_ROOT"
command -v go >/dev/null || vm_die "go is not on PATH"

t0=$(date +%s)
# Fetch every kernel before the first VM starts (go test starts a package's
# VMs in parallel), so a download failure shows before any test runs.
declare -A kpath kver kpkg
for k in "${kernels[@]}"; do
	vm_kernel_row "$k"
	vm_ensure_tools "$karch"
	kpath[$k]=$(vm_kernel "$k")
	# the version file is the .deb's name: <package>_<version>_<arch>
	kver[$k]=$(cut -d_ -f2 "$(dirname "${kpath[$k]}")/version" 2>/dev/null || basename "${kpath[$k]}")
	kpkg[$k]=$(cut -d_ -f1 "$(dirname "${kpath[$k]}")/version" 2>/dev/null || echo "$KERNELEVENTS_VMTEST_KERNEL")
	vm_base_initrd "$karch" >/dev/null
	vm_log "kernel $k: ${kpkg[$k]} ${kver[$k]}"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kernelevents-vmtest.XXXXXX")
trap 'rm -rf "$work"' EXIT

export CGO_ENABLED=0
export KERNELEVENTS_REQUIRE_BPF=1
# go test's own timeout (10 minutes) is less than a whole package takes under
# TCG (every test loads each hook, and the verifier is emulated too): a
# generous one unless the caller gave -timeout; exec.sh kills the VM 180 s
# after it.
has_timeout=0
for a in "${goargs[@]}"; do [[ $a == -timeout || $a == -timeout=* || $a == -test.timeout* ]] && has_timeout=1; done
((has_timeout)) || goargs+=(-timeout 40m)
has_run=0
for a in "${goargs[@]}"; do [[ $a == -run || $a == -run=* || $a == --run || $a == --run=* || $a == -test.run* ]] && has_run=1; done
# Rows run side by side, KERNELEVENTS_VMTEST_JOBS at a time (default: one per
# CPU, at most 2): each VM is one emulated CPU on one host thread.
jobs=${KERNELEVENTS_VMTEST_JOBS:-$(nproc)}
((jobs >= 1)) || jobs=1
((jobs <= 2)) || jobs=2

# run_row K: one go test run in kernel K's VMs; its output in $work/out.K,
# its summary line in $work/summary.K, the failures in $work/failed.K.
run_row() {
	local k=$1 krc k0 kwall vmsecs vmcpu warn result
	vm_kernel_row "$k"
	# The hooks that must attach, and the one auto must pick, come from the
	# row. (KERNELEVENTS_VMTEST_HOOKS and _EXPECT_AUTO override them; a
	# KERNELEVENTS_HOOKS left in the caller's environment for make test does not.)
	export GOARCH=$karch
	export KERNELEVENTS_HOOKS=${KERNELEVENTS_VMTEST_HOOKS:-$khooks}
	export KERNELEVENTS_EXPECT_AUTO=${KERNELEVENTS_VMTEST_EXPECT_AUTO:-$kauto}
	export KERNELEVENTS_VMTEST_KERNEL_NAME=$k
	# The hooks make unit tests on the host's kernel too: a probe test whose
	# case of such a hook checks nothing that depends on the VM's kernel
	# beyond the hook's other tests leaves it to the host (leaveToHost in
	# internal/probe; README.md, "Cost"). KERNELEVENTS_VMTEST_HOST_HOOKS=
	# (empty) runs every case here.
	export KERNELEVENTS_HOST_HOOKS=${KERNELEVENTS_VMTEST_HOST_HOOKS-tracepoint}
	export KERNELEVENTS_VMTEST_TIMES=$work/times.$k
	: >"$KERNELEVENTS_VMTEST_TIMES"
	# A row with a test set (the tests column) runs only those, unless the
	# caller gave a -run.
	local rowargs=()
	((has_run)) || [[ -z $krun ]] || rowargs=(-run "$krun")
	local cmd=(go test -count=1 -v -exec "$VMTEST_DIR/exec.sh" "${goargs[@]}" "${rowargs[@]}" "${pkgs[@]}")
	{
		echo "vmtest: === kernel $k (${kpkg[$k]} ${kver[$k]}, $karch${kcmdline:+, boot with $kcmdline}): hooks $KERNELEVENTS_HOOKS, auto must pick $KERNELEVENTS_EXPECT_AUTO"
		echo "vmtest: running CGO_ENABLED=0 GOARCH=$GOARCH KERNELEVENTS_REQUIRE_BPF=1" \
			"KERNELEVENTS_HOOKS=$KERNELEVENTS_HOOKS KERNELEVENTS_EXPECT_AUTO=$KERNELEVENTS_EXPECT_AUTO" \
			"KERNELEVENTS_HOST_HOOKS=$KERNELEVENTS_HOST_HOOKS" \
			"KERNELEVENTS_VMTEST_KERNEL_NAME=$k $(printf '%q ' "${cmd[@]}")"
	} >"$work/out.$k"
	k0=$(date +%s.%N)
	set +e
	"${cmd[@]}" >>"$work/out.$k" 2>&1
	krc=$?
	set -e
	kwall=$(awk -v a="$k0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
	vmsecs=$(awk '{ s += $3 } END { printf "%.1f", s }' "$KERNELEVENTS_VMTEST_TIMES")
	vmcpu=$(awk '{ s += $6 } END { printf "%.1f", s }' "$KERNELEVENTS_VMTEST_TIMES")
	warn=$(awk '$5 == 1 { printf "%s ", $2 }' "$KERNELEVENTS_VMTEST_TIMES")
	: >"$work/failed.$k"
	if ((krc == 0)); then
		result=ok
	else
		result=FAIL
		# which tests failed (the hook is in the subtest's name), and which
		# VMs gave no exit status at all.
		local f l
		mapfile -t f < <(grep -E '^ *--- FAIL: |^FAIL[[:space:]]|reported no exit status' "$work/out.$k" |
			sed -E 's/^ *--- FAIL: ([^ ]+).*/\1/; s/^FAIL[[:space:]]+([^[:space:]]+).*/package \1/; s/^vmtest: error: //' |
			awk '!seen[$0]++ { l[n++] = $0 }
				END {
					# a parent test is implied by its failed subtests
					for (i = 0; i < n; i++) { p = l[i]; while (sub(/\/[^\/]*$/, "", p)) sub_of[p] = 1 }
					for (i = 0; i < n; i++) if (!(l[i] in sub_of)) print l[i]
				}')
		# a failed package says no more than its failed tests do.
		if grep -qv '^package ' < <(printf '%s\n' "${f[@]}"); then
			mapfile -t f < <(printf '%s\n' "${f[@]}" | grep -v '^package ')
		fi
		{
			echo "$k (${kpkg[$k]} ${kver[$k]}; hooks $KERNELEVENTS_HOOKS, auto $KERNELEVENTS_EXPECT_AUTO):"
			for l in "${f[@]}"; do echo "    $l"; done
		} >"$work/failed.$k"
	fi
	printf '%-10s %-20s %-28s %7.1fs %7.1fs %5ss  %s%s\n' "$k" "${kver[$k]}" "$KERNELEVENTS_HOOKS" \
		"$vmsecs" "$vmcpu" "$kwall" "$result" "${warn:+ (kernel warnings: $warn)}" >"$work/summary.$k"
	echo "$krc" >"$work/rc.$k"
	echo "vmtest: kernel $k ended: $result (${kwall}s)" >&2
}

echo "vmtest: ${#kernels[@]} kernel(s), $jobs at a time; each row's output follows when it ends"
running=0
for k in "${kernels[@]}"; do
	if ((running >= jobs)); then
		wait -n || true
		running=$((running - 1))
	fi
	run_row "$k" &
	running=$((running + 1))
	echo "vmtest: kernel $k started"
done
wait || true
rc=0
failed=()
summary=()
for k in "${kernels[@]}"; do
	[[ $(cat "$work/rc.$k" 2>/dev/null) == 0 ]] || rc=1
	cat "$work/out.$k"
	summary+=("$(cat "$work/summary.$k" 2>/dev/null || echo "$k: no summary (the row's script failed)")")
	[[ -s $work/failed.$k ]] && mapfile -t -O "${#failed[@]}" failed <"$work/failed.$k"
	[[ -e $work/summary.$k ]] || { rc=1; failed+=("$k: the row's script failed before its summary"); }
done

echo "vmtest: the matrix (VM and CPU: qemu's wall and CPU time summed over the packages; wall: the whole go test run, build included):"
printf 'vmtest:   %-10s %-20s %-28s %8s %8s %6s  %s\n' kernel version hooks VM CPU wall result
for l in "${summary[@]}"; do echo "vmtest:   $l"; done
echo "vmtest: whole run $(($(date +%s) - t0))s; load average now $(cut -d' ' -f1-3 /proc/loadavg) (TCG wall times stretch with load; CPU times do not much)"
if ((${#failed[@]})); then
	echo "vmtest: FAILED on:"
	for l in "${failed[@]}"; do echo "vmtest:   $l"; done
fi
exit "$rc"
