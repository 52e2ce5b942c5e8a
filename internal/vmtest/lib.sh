# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by vmtest.sh and exec.sh: installs the tools, fetches and caches
# Debian's stock kernel and the base initramfs. Source it; do not run it.
#
# Every function that touches the cache takes the cache lock, so exec.sh
# instances that go test starts in parallel never race on a half-written file.

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMTEST_ROOT=$(cd "$VMTEST_DIR/../.." && pwd)
VMTEST_CACHE=${KERNELEVENTS_VMTEST_CACHE:-$VMTEST_ROOT/.cache/vm}
# shellcheck disable=SC2034 # used by exec.sh; init spells it out too
VMTEST_MARKER=KERNELEVENTS-VMTEST-EXIT
# shellcheck source=scripts/apt-private.sh
source "$VMTEST_ROOT/scripts/apt-private.sh"

vm_log() { printf 'vmtest: %s\n' "$*" >&2; }
vm_die() {
	printf 'vmtest: error: %s\n' "$*" >&2
	exit 1
}

# vm_arch_of ELF prints amd64 or arm64 from the ELF header's e_machine.
vm_arch_of() {
	local magic machine
	magic=$(od -An -c -N4 "$1" | tr -d ' ')
	[[ $magic == '177ELF' ]] || vm_die "$1 is not an ELF binary"
	machine=$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')
	case $machine in
	3e00) echo amd64 ;;
	b700) echo arm64 ;;
	*) vm_die "$1: unsupported ELF machine 0x$machine (want x86-64 or aarch64)" ;;
	esac
}

# _vm_le FILE OFFSET SIZE prints the little-endian integer at OFFSET.
_vm_le() {
	local b v=0 i
	read -r -a b <<<"$(od -An -tu1 -j"$2" -N"$3" "$1")"
	for ((i = $3 - 1; i >= 0; i--)); do v=$((v * 256 + b[i])); done
	echo "$v"
}

# vm_is_static ELF64 fails when ELF has a program interpreter (PT_INTERP),
# that is when it needs a dynamic loader and libc the VM does not have.
vm_is_static() {
	local phoff phentsize phnum i
	phoff=$(_vm_le "$1" 32 8)
	phentsize=$(_vm_le "$1" 54 2)
	phnum=$(_vm_le "$1" 56 2)
	for ((i = 0; i < phnum; i++)); do
		[[ $(_vm_le "$1" $((phoff + i * phentsize)) 4) == 3 ]] && return 1
	done
	return 0
}

vm_with_lock() {
	mkdir -p "$VMTEST_CACHE"
	(
		flock 9 || vm_die "cannot lock $VMTEST_CACHE/.lock"
		"$@"
	) 9>"$VMTEST_CACHE/.lock"
}

# --- apt ---------------------------------------------------------------------

_vm_apt_updated=0

vm_apt_update() {
	[[ $_vm_apt_updated == 1 ]] && return 0
	[[ $(id -u) == 0 ]] || vm_die "apt-get update needs root (run as root, or install the packages named above by hand)"
	vm_log "apt-get update"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || vm_die "apt-get update failed"
	_vm_apt_updated=1
}

_vm_apt_has_lists() {
	compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# vm_apt_install PKG... installs packages, updating the lists once first when
# there are none or when the install fails on stale ones.
vm_apt_install() {
	command -v apt-get >/dev/null || vm_die "missing $*, and apt-get is not here to install them (this script expects Debian)"
	[[ $(id -u) == 0 ]] || vm_die "missing packages $*: install them as root: apt-get install -y --no-install-recommends $*"
	_vm_apt_has_lists || vm_apt_update
	vm_log "apt-get install -y --no-install-recommends $*"
	if ! _vm_apt_install_quiet "$@"; then
		if [[ $_vm_apt_updated == 1 ]]; then
			cat "$VMTEST_CACHE/apt-install.log" >&2
			vm_die "apt-get install $* failed (output above)"
		fi
		vm_apt_update
		_vm_apt_install_quiet "$@" || {
			cat "$VMTEST_CACHE/apt-install.log" >&2
			vm_die "apt-get install $* failed (output above)"
		}
	fi
}

_vm_apt_install_quiet() {
	mkdir -p "$VMTEST_CACHE"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
		>"$VMTEST_CACHE/apt-install.log" 2>&1
}

# vm_busybox ARCH prints the path of a static busybox for ARCH.
vm_busybox() {
	case $1 in
	amd64) echo /bin/busybox ;;
	arm64) echo "$VMTEST_CACHE/arm64/busybox" ;;
	esac
}

# vm_ensure_tools ARCH installs what booting an ARCH VM needs, if missing.
vm_ensure_tools() {
	local arch=$1 missing=() t
	for t in timeout flock od dpkg-deb apt-cache; do
		command -v "$t" >/dev/null || vm_die "missing $t (coreutils, util-linux, dpkg and apt are expected: this script targets Debian 12)"
	done
	command -v cpio >/dev/null || missing+=(cpio)
	command -v xz >/dev/null || missing+=(xz-utils)
	# Debian's 6.12 bzImage carries a zstd-compressed vmlinux.
	command -v zstd >/dev/null || missing+=(zstd)
	# amd64 boots the host's busybox; arm64 takes its applet list from it.
	# The dynamic busybox package also provides /bin/busybox: it would not
	# run in the initramfs, which has no libc.
	if ! [[ -x /bin/busybox ]] || ! vm_is_static /bin/busybox; then
		missing+=(busybox-static)
	fi
	case $arch in
	amd64) command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86) ;;
	arm64) command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm) ;;
	esac
	if ((${#missing[@]})); then
		vm_apt_install "${missing[@]}"
	fi
}

# --- the kernel matrix -----------------------------------------------------------

# VMTEST_KERNELS is the kernel matrix, one row per kernel; add a row to add a
# kernel. Columns:
#   name     what --kernel takes and what the output calls it
#   arch     amd64 or arm64: GOARCH and the qemu binary
#   package  a Debian package: a meta package (its Depends names the current
#            versioned image; apt-cache depends) or a linux-image-<version> one
#   hooks    KERNELEVENTS_HOOKS: the hooks that must attach there
#   auto     KERNELEVENTS_EXPECT_AUTO: the hook auto must pick there
#   default  yes: in make vmtest (so in make test); no: only with --kernel
#   cmdline  more kernel command line for this row, commas for spaces; - for none
#   tests    the tests the row runs (go test -run; a -run of the caller's wins),
#            a name of VMTEST_FOCUS; - for every test of the packages
# fexit is not required on arm64 6.1: it needs ftrace direct calls, which
# arm64 has only from Linux 6.4 on.
# Rows start in this order, two at a time (vmtest.sh): the longest two first
# (6.1 and arm64, about 800-1,500 s each), so that the shorter ones fill the
# lane that frees first (README.md, "Cost"). auto picks kretprobe on a kernel
# that preempts BPF programs from 6.7 on, and fexit before (autoOrder in
# internal/probe).
VMTEST_KERNELS='
6.1         amd64  linux-image-amd64         kretprobe,fexit,tracepoint  fexit      yes  -             -
6.1-arm64   arm64  linux-image-arm64         kretprobe,tracepoint        kretprobe  yes  -             -
6.12        amd64  linux-image-6.12-amd64    kretprobe,fexit,tracepoint  fexit      yes  -             -
6.1-rt      amd64  linux-image-rt-amd64      kretprobe,fexit,tracepoint  fexit      yes  -             preempt
6.12-rt     amd64  linux-image-6.12-rt-amd64 kretprobe,fexit,tracepoint  kretprobe  yes  -             preempt
6.12-full   amd64  linux-image-6.12-amd64    kretprobe,fexit,tracepoint  kretprobe  no   preempt=full  preempt
'

# VMTEST_FOCUS_preempt: the tests a PREEMPT_RT (or preempt=full) row runs,
# those whose kernel side preemption changes. The kernel series is the 6.1
# (6.12) row's, which runs every test, with the RT patches (or another
# preemption mode); what differs is (1) that a trampoline
# program can be preempted: the per-CPU scratch slots, the kernel's recursion
# guard and every loss counter (TestPreemptedScratch, TestLostAccounting,
# TestLostByCgroupReasons, TestFDRace, TestKretprobeMapOperationSkips,
# TestKretprobeBlockedOpens, TestKretprobeMaxActiveValidated; io_uring's workers:
# TestIOUringCreations, TestIOUringEvasion); (2) the layout of every structure
# holding a lock (spinlock_t is a sleeping lock there), so each family of
# fields the programs read through CO-RE: a creation by every syscall and hook
# (TestCreationsPerHook, TestAutoSaysWhy), the task, its credentials and
# cgroup (TestSampleCarriesCreatorIdentity), the mount walk and overlayfs
# (TestNodePathThroughNamespaces, TestOverlayCopyUp), renames and links
# (TestNames), exec (TestExecutableRecordedAtExec); (3) the verifier's work
# on that build (TestVerifiedInstructions).
VMTEST_FOCUS_preempt='^(TestPreemptedScratch|TestLostAccounting|TestLostByCgroupReasons|TestFDRace|TestKretprobeMapOperationSkips|TestKretprobeBlockedOpens|TestKretprobeMaxActiveValidated|TestIOUringCreations|TestIOUringEvasion|TestCreationsPerHook|TestAutoSaysWhy|TestSampleCarriesCreatorIdentity|TestNodePathThroughNamespaces|TestOverlayCopyUp|TestNames|TestExecutableRecordedAtExec|TestVerifiedInstructions)$'

# vm_kernel_rows prints the matrix without blank lines.
vm_kernel_rows() {
	awk 'NF >= 8' <<<"$VMTEST_KERNELS"
}

# vm_kernel_row NAME sets kname, karch, kpackage, khooks, kauto, kdefault,
# kcmdline (spaces restored, empty for -) and krun (the row's -run pattern,
# empty for every test) from NAME's row, or fails.
vm_kernel_row() {
	local row ktests focus
	row=$(vm_kernel_rows | awk -v n="$1" '$1 == n')
	[[ -n $row ]] || return 1
	read -r kname karch kpackage khooks kauto kdefault kcmdline ktests <<<"$row"
	[[ $kcmdline != - ]] || kcmdline=
	kcmdline=${kcmdline//,/ }
	krun=
	if [[ $ktests != - ]]; then
		focus=VMTEST_FOCUS_$ktests
		[[ -n ${!focus:-} ]] || vm_die "row $kname: no test set $focus in lib.sh"
		krun=${!focus}
	fi
}

# vm_default_kernel ARCH prints the first row's name for ARCH.
vm_default_kernel() {
	vm_kernel_rows | awk -v a="$1" '$2 == a { print $1; exit }'
}

# --- kernel packages ---------------------------------------------------------------

# _vm_image_of ARCH PACKAGE prints the versioned image PACKAGE stands for:
# what a meta package depends on (linux-image-amd64 -> linux-image-6.1.0-N-amd64),
# or PACKAGE itself when it depends on no linux-image (it is the image). Prints
# nothing when apt does not know PACKAGE.
_vm_image_of() {
	local arch=$1 pkg=$2 out
	out=$(vm_apt "$arch" apt-cache depends "$pkg" 2>/dev/null) || return 0
	[[ -n $out ]] || return 0
	# only Depends lines: the first line is the package's own name.
	grep -oE '^ *Depends: linux-image-[^ :<>]+' <<<"$out" | head -n1 | sed 's/^ *Depends: //' | grep . ||
		echo "$pkg"
}

# vm_kernel_pkg ARCH PACKAGE prints the versioned image package for PACKAGE,
# updating the apt lists once when apt does not know it.
vm_kernel_pkg() {
	local arch=$1 meta=$2 pkg
	pkg=$(_vm_image_of "$arch" "$meta")
	if [[ -z $pkg ]]; then
		# no way to update: the caller falls back to the kernel cached for the row.
		vm_apt "$arch" apt-get update || vm_log "apt-get update of $VMTEST_SUITES for $arch failed"
		pkg=$(_vm_image_of "$arch" "$meta")
	fi
	echo "$pkg"
}

# _vm_extract_vmlinux VMLINUZ OUT writes the bootable kernel: for amd64 the
# ELF vmlinux inside the self-decompressing bzImage (qemu boots it through its
# PVH note, twice as fast as the bzImage); for arm64 the Image itself (Debian
# ships it uncompressed; gunzipped if not). The bzImage payload is found by
# its magic: xz (Debian's 6.1 and 6.12), zstd or gzip.
_vm_extract_vmlinux() {
	local z=$1 out=$2 off
	if [[ $(od -An -tx1 -N2 "$z" | tr -d ' \n') == 1f8b ]]; then
		gzip -dc "$z" >"$out.tmp" || vm_die "cannot gunzip $z"
		mv "$out.tmp" "$out"
		return
	fi
	if [[ $(od -An -tx1 -j56 -N4 "$z" | tr -d ' \n') == 41524d64 ]]; then
		# arm64 Image header magic "ARM\x64"
		cp "$z" "$out"
		return
	fi
	local magic codec
	for codec in xz zstd gzip; do
		case $codec in
		xz) magic='\xfd7zXZ\x00' ;;
		zstd) magic='\x28\xb5\x2f\xfd' ;;
		gzip) magic='\x1f\x8b\x08' ;;
		esac
		# the setup code could contain the gzip magic by chance: every hit is tried.
		for off in $(LC_ALL=C grep -obUaP "$magic" "$z" | cut -d: -f1 | head -n 8); do
			# each stops at the end of its first stream/frame; the bzImage's trailer follows.
			case $codec in
			xz) tail -c +"$((off + 1))" "$z" | xz -dc --single-stream >"$out.tmp" 2>/dev/null ;;
			zstd)
				command -v zstd >/dev/null || vm_die "$z is zstd-compressed and zstd is missing (apt-get install zstd)"
				tail -c +"$((off + 1))" "$z" | zstd -dcq >"$out.tmp" 2>/dev/null
				;;
			gzip) tail -c +"$((off + 1))" "$z" | gzip -dc 2>/dev/null >"$out.tmp" ;;
			esac
			if [[ $(od -An -c -N4 "$out.tmp" 2>/dev/null | tr -d ' ') == '177ELF' ]]; then
				mv "$out.tmp" "$out"
				return
			fi
		done
	done
	rm -f "$out.tmp"
	vm_die "found no xz, zstd or gzip stream in $z that decompresses to an ELF vmlinux"
}

# _vm_download ARCH DIR PKG downloads PKG's .deb for ARCH into DIR.
_vm_download() {
	local arch=$1 dir=$2 pkg=$3
	# (quiet: apt warns that it downloads as root, not _apt, into DIR.)
	(cd "$dir" && vm_apt "$arch" apt-get download -q "$pkg" >/dev/null 2>&1) && return 0
	# a stale list names a version the mirror dropped: update once.
	vm_apt "$arch" apt-get update || vm_die "apt-get update of $VMTEST_SUITES for $arch failed"
	(cd "$dir" && vm_apt "$arch" apt-get download -q "$pkg" >&2) || vm_die "apt-get download $pkg ($arch) failed"
}

# _vm_meta_of DIR prints the table package a cached kernel directory was
# fetched for (directories from before the matrix have no "meta" file: they
# came from linux-image-<arch>).
_vm_meta_of() {
	local arch
	arch=$(basename "$(dirname "$1")")
	cat "$1/meta" 2>/dev/null || echo "linux-image-$arch"
}

# _vm_fetch_kernel ARCH PKG META downloads PKG (the image META names) into
# the cache and extracts its kernel; later calls find it there.
_vm_fetch_kernel() {
	local arch=$1 pkg=$2 meta=$3 dir="$VMTEST_CACHE/$1/$2"
	# modules.done: the modules the tests load (overlay.ko, when overlayfs
	# is a module) were taken too; a kernel cached before that is fetched again.
	if [[ -s $dir/vmlinux && -e $dir/modules.done ]]; then
		[[ -s $dir/meta ]] || echo "$meta" >"$dir/meta"
		return 0
	fi
	rm -rf "$dir" && mkdir -p "$dir/deb" "$dir/x"
	vm_log "downloading $pkg ($arch, for $meta) from Debian"
	_vm_download "$arch" "$dir/deb" "$pkg"
	local deb
	deb=$(ls "$dir"/deb/*.deb)
	# only /boot is needed: skip the 400 MB of modules that dpkg-deb -x writes
	# (the VM needs none: its initramfs is a cpio and every driver it uses,
	# serial 8250 or PL011, is built in).
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir/x" --wildcards './boot/*' ||
		vm_die "cannot extract /boot from $deb"
	local z
	# and overlayfs, a module in Debian's kernels: the where tests mount
	# overlays (TestNodePathThroughNamespaces/overlay); init insmods it.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir/x" --wildcards '*/fs/overlayfs/overlay.ko*' 2>/dev/null || true
	local ko
	ko=$(find "$dir/x" -name 'overlay.ko*' | head -n1)
	case $ko in
	'') ;;
	*.xz) xz -dc "$ko" >"$dir/overlay.ko" ;;
	*.zst) zstd -qdc "$ko" >"$dir/overlay.ko" ;;
	*) cp "$ko" "$dir/overlay.ko" ;;
	esac
	z=$(ls "$dir"/x/boot/vmlinuz-* 2>/dev/null | head -n1)
	[[ -n $z ]] || vm_die "$deb has no /boot/vmlinuz-*"
	_vm_extract_vmlinux "$z" "$dir/vmlinux.new"
	cp "$dir"/x/boot/config-* "$dir/config" 2>/dev/null || true
	basename "$deb" .deb >"$dir/version"
	echo "$meta" >"$dir/meta"
	rm -rf "$dir/deb" "$dir/x"
	mv "$dir/vmlinux.new" "$dir/vmlinux"
	touch "$dir/modules.done"
	vm_log "kernel cached at $dir/vmlinux"
	# Debian moved META to a new ABI: the kernel cached for it before is dead
	# weight. (Other rows' kernels stay.)
	local old
	for old in "$VMTEST_CACHE/$arch"/linux-image-*; do
		[[ $old != "$dir" && -d $old && $(_vm_meta_of "$old") == "$meta" ]] && rm -rf "$old"
	done
	return 0
}

# vm_kernel NAME prints the path of the cached kernel of the matrix row NAME
# (vmlinux for amd64, Image for arm64), fetching it first if needed.
# KERNELEVENTS_VMTEST_KERNEL overrides it with a local file,
# KERNELEVENTS_VMTEST_KERNEL_PKG with another Debian package.
vm_kernel() {
	local kname karch kpackage khooks kauto kdefault kcmdline
	vm_kernel_row "$1" || vm_die "no kernel named $1 in the matrix (VMTEST_KERNELS in lib.sh)"
	if [[ -n ${KERNELEVENTS_VMTEST_KERNEL:-} ]]; then
		[[ -r $KERNELEVENTS_VMTEST_KERNEL ]] || vm_die "KERNELEVENTS_VMTEST_KERNEL=$KERNELEVENTS_VMTEST_KERNEL is not readable"
		echo "$KERNELEVENTS_VMTEST_KERNEL"
		return
	fi
	local meta=${KERNELEVENTS_VMTEST_KERNEL_PKG:-$kpackage} pkg
	pkg=$(vm_with_lock vm_kernel_pkg "$karch" "$meta")
	if [[ -z $pkg ]]; then
		# no apt lists and no way to update them: the kernel cached for this row before will do.
		local old d
		for d in $(ls -td "$VMTEST_CACHE/$karch"/linux-image-*/ 2>/dev/null); do
			d=${d%/}
			if [[ -s $d/vmlinux && $(_vm_meta_of "$d") == "$meta" ]]; then
				old=$d/vmlinux
				break
			fi
		done
		[[ -n ${old:-} ]] || vm_die "apt knows no package $meta ($karch), even after apt-get update (from $VMTEST_SUITES at \${KERNELEVENTS_DEBIAN_MIRROR:-http://deb.debian.org/debian}, the project's own sources list in $VMTEST_CACHE/$karch/apt)"
		vm_log "apt does not know $meta; using the cached $old"
		echo "$old"
		return
	fi
	vm_with_lock _vm_fetch_kernel "$karch" "$pkg" "$meta" || exit 1
	echo "$VMTEST_CACHE/$karch/$pkg/vmlinux"
}

# --- initramfs -----------------------------------------------------------------

# _vm_build_base ARCH OUT writes the base initramfs: busybox, its applet
# links, the mount points and /init. The test binary comes in a second cpio
# archive appended per run (see exec.sh).
_vm_build_base() {
	local arch=$1 out=$2 bb stage
	bb=$(vm_busybox "$arch")
	[[ -x $bb ]] || vm_die "no static busybox for $arch at $bb"
	stage=$(mktemp -d "$VMTEST_CACHE/stage.XXXXXX")
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc,vmtest}
	chmod 0755 "$stage" "$stage"/{bin,sbin,usr,usr/bin,usr/sbin,proc,sys,dev,etc,vmtest}
	chmod 1777 "$stage/tmp"
	chmod 0700 "$stage/root"
	cp "$bb" "$stage/bin/busybox"
	chmod 0755 "$stage/bin/busybox"
	local applets
	if [[ $arch == "$(vm_arch_of /bin/busybox 2>/dev/null || true)" ]]; then
		applets=$("$stage/bin/busybox" --list-full)
	else
		# cannot run a foreign busybox here: the host's list is close enough.
		applets=$(/bin/busybox --list-full)
	fi
	local a
	while read -r a; do
		[[ -n $a && ! -e $stage/$a ]] || continue
		mkdir -p "$stage/$(dirname "$a")"
		ln -s /bin/busybox "$stage/$a"
	done <<<"$applets"
	install -m 0755 "$VMTEST_DIR/init" "$stage/init"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$stage/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
	chmod 0644 "$stage/etc/passwd" "$stage/etc/group"
	# the kernel opens /dev/console for init before devtmpfs is mounted.
	mknod -m 0600 "$stage/dev/console" c 5 1 2>/dev/null || true
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp" ||
		vm_die "cpio failed building $out"
	rm -rf "$stage"
	mv "$out.tmp" "$out"
}

# _vm_base_fresh OUT: OUT exists and is newer than what it is built from.
_vm_base_fresh() {
	[[ -s $1 && $1 -nt $VMTEST_DIR/init && $1 -nt $VMTEST_DIR/lib.sh ]]
}

# vm_base_initrd ARCH prints the path of the cached base initramfs, building
# it when it is missing or older than init or this file.
vm_base_initrd() {
	local arch=$1 out="$VMTEST_CACHE/$1/base.cpio"
	if ! _vm_base_fresh "$out"; then
		mkdir -p "$VMTEST_CACHE/$arch"
		vm_with_lock _vm_base_locked "$arch" "$out" || exit 1
	fi
	echo "$out"
}

_vm_base_locked() {
	local arch=$1 out=$2
	_vm_base_fresh "$out" && return 0
	if [[ $arch == arm64 ]]; then
		_vm_fetch_busybox_arm64
	fi
	_vm_build_base "$arch" "$out"
	vm_log "base initramfs cached at $out"
}

# _vm_fetch_busybox_arm64 takes busybox from Debian's arm64 busybox-static.
_vm_fetch_busybox_arm64() {
	local bb="$VMTEST_CACHE/arm64/busybox"
	[[ -x $bb ]] && return 0
	local d
	d=$(mktemp -d "$VMTEST_CACHE/bb.XXXXXX")
	_vm_download arm64 "$d" busybox-static
	dpkg-deb -x "$d"/*.deb "$d/x"
	install -m 0755 "$d/x/bin/busybox" "$bb"
	rm -rf "$d"
}

# VMTEST_SUITES: where the kernels come from. Debian's 6.12 kernel for
# bookworm is in bookworm-security and bookworm-updates; a host's sources (a
# debootstrap root, many minimal images) may have only `bookworm main`, so
# the kernels come through the project's own sources list, never the host's.
VMTEST_SUITES=bookworm,bookworm-updates,bookworm-security

# vm_apt ARCH apt-get|apt-cache ARGS... runs apt for ARCH's packages of
# VMTEST_SUITES, with apt state of its own under the cache (lists, cache,
# an empty dpkg status; scripts/apt-private.sh): the host's sources, apt
# lists and dpkg stay untouched, on any architecture.
vm_apt() {
	local arch=$1 tool=$2
	shift 2
	local d="$VMTEST_CACHE/$arch/apt"
	if ! compgen -G "$d/lists/*_Packages*" >/dev/null; then
		vm_log "apt-get update for $arch (private lists of $VMTEST_SUITES in $d)"
	fi
	apt_private "$d" "$arch" "$VMTEST_SUITES" "$tool" "$@"
}
