// SPDX-License-Identifier: Apache-2.0

// Package event decodes the samples the kernelevents BPF programs write into
// the ring buffer. Decoding is pure: it never trusts the kernel's bytes, checks
// every length first and needs no kernel to test.
//
// The layout is struct event in bpf/event.h, and the hook ids, flags and
// counter indexes its enums: bpf2go generates their Go side from the C
// (gen.go, types_bpfel.go), and the sizes, offsets and constants here are
// taken from that. TestLayoutMatchesBPF reads the BTF of the compiled C and
// fails when a size, an offset or an enum value differs, or when C has a
// hook or flag this package does not name.
package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// Sizes of the sample and its fixed fields, and the offset of each field,
// from the generated struct (bpf/event.h).
const (
	Size     = int(unsafe.Sizeof(typesEvent{}))
	CommLen  = len(typesEvent{}.Comm)
	PathLen  = len(typesEvent{}.Path)
	maxPath  = PathLen - 1
	hookMin  = HookKretprobe
	hookMax  = HookIOUring
	knownFlg = FlagTruncated | FlagIOUring | FlagMknod | FlagOpenFailed | FlagUnresolved | FlagTmpfileLink | FlagRootless

	offTsNs     = int(unsafe.Offsetof(typesEvent{}.TsNs))
	offCgroupID = int(unsafe.Offsetof(typesEvent{}.CgroupId))
	offTgid     = int(unsafe.Offsetof(typesEvent{}.Tgid))
	offTid      = int(unsafe.Offsetof(typesEvent{}.Tid))
	offRUID     = int(unsafe.Offsetof(typesEvent{}.Ruid))
	offRGID     = int(unsafe.Offsetof(typesEvent{}.Rgid))
	offPathLen  = int(unsafe.Offsetof(typesEvent{}.PathLen))
	offHook     = int(unsafe.Offsetof(typesEvent{}.Hook))
	offFlags    = int(unsafe.Offsetof(typesEvent{}.Flags))
	offComm     = int(unsafe.Offsetof(typesEvent{}.Comm))
	offPath     = int(unsafe.Offsetof(typesEvent{}.Path))
	offEUID     = int(unsafe.Offsetof(typesEvent{}.Euid))
	offEGID     = int(unsafe.Offsetof(typesEvent{}.Egid))
	offExeDev   = int(unsafe.Offsetof(typesEvent{}.ExeDev))
	offExeIno   = int(unsafe.Offsetof(typesEvent{}.ExeIno))
	offStartNs  = int(unsafe.Offsetof(typesEvent{}.StartNs))
	offFSDev    = int(unsafe.Offsetof(typesEvent{}.FsDev))
	offMntID    = int(unsafe.Offsetof(typesEvent{}.MntId))
	offMntOff   = int(unsafe.Offsetof(typesEvent{}.MntPathOff))
	offWhere    = int(unsafe.Offsetof(typesEvent{}.Where))
	knownWhere  = WhereOverlayUpper | WhereNoMountPath | WhereDisconnected | WhereOverlayUnfollowed | WhereUserNSFS
	offExecNs   = int(unsafe.Offsetof(typesEvent{}.ExecNs))
	offExecSt   = int(unsafe.Offsetof(typesEvent{}.ExecState))
	offOp       = int(unsafe.Offsetof(typesEvent{}.Op))
	opMax       = OpSymlink
	offType     = int(unsafe.Offsetof(typesEvent{}.Type))
	typeMax     = TypeUnknown
)

// ExecState says whether the sample's executable (ExeDev, ExeIno: the
// process's executable reference at the creation) is the file its last exec
// mapped: enum exec_state in bpf/event.h.
type ExecState uint32

// Exec states.
const (
	// ExecUnknown: no exec of the process was recorded (it started before
	// the programs were loaded, or its record was pushed out).
	ExecUnknown = ExecState(typesExecStateEXEC_UNKNOWN)
	// ExecSame: the executable is the file the exec ExecNs names mapped.
	ExecSame = ExecState(typesExecStateEXEC_SAME)
	// ExecReplaced: the process replaced its executable reference since
	// its exec (prctl PR_SET_MM_MAP with exe_fd, PR_SET_MM_EXE_FILE):
	// ExeDev and ExeIno are a file the process chose.
	ExecReplaced = ExecState(typesExecStateEXEC_REPLACED)
)

// HookID says which kernel program saw a creation: enum hook_id in
// bpf/event.h, the sample's hook field. Not probe.Hook, which names the set
// of programs a user asks the loader to attach ("auto" among them); the
// tracepoint set's io_uring programs report HookIOUring.
type HookID uint8

// Hook ids: enum hook_id in bpf/event.h.
const (
	HookKretprobe  = HookID(typesHookIdHOOK_KRETPROBE)
	HookFexit      = HookID(typesHookIdHOOK_FEXIT)
	HookTracepoint = HookID(typesHookIdHOOK_TRACEPOINT)
	HookIOUring    = HookID(typesHookIdHOOK_IO_URING)
)

// String returns the name users see in the kernelevents.hook attribute.
func (h HookID) String() string {
	switch h {
	case HookKretprobe:
		return "kretprobe"
	case HookFexit:
		return "fexit"
	case HookTracepoint:
		return "tracepoint"
	case HookIOUring:
		return "io_uring_tracepoint"
	}
	return fmt.Sprintf("hook(%d)", uint8(h))
}

// Flags qualify a sample.
type Flags uint8

// Flags: enum event_flag in bpf/event.h.
const (
	// FlagTruncated marks a path cut at PathLen-1 bytes or at the walk's depth.
	FlagTruncated = Flags(typesEventFlagEVENT_F_TRUNCATED)
	// FlagIOUring marks a file created through io_uring.
	FlagIOUring = Flags(typesEventFlagEVENT_F_IO_URING)
	// FlagMknod marks a file created by mknod(2) rather than an open.
	FlagMknod = Flags(typesEventFlagEVENT_F_MKNOD)
	// FlagOpenFailed marks a file an open made and then failed to open (a
	// security module refused it): the file is on disk and the creator got
	// no descriptor (kretprobe and fexit hooks).
	FlagOpenFailed = Flags(typesEventFlagEVENT_F_OPEN_FAILED)
	// FlagUnresolved marks a path whose tail after the directory the kernel
	// resolved is the caller's string as written, holding a '/' (mknod,
	// rename or link seen by the tracepoint hook): the in-kernel prefix
	// filter did not apply, and nothing resolves it later (the file system
	// can have changed by then); its directory is labelled unresolved.
	FlagUnresolved = Flags(typesEventFlagEVENT_F_UNRESOLVED)
	// FlagTmpfileLink marks an O_TMPFILE file given its first name by
	// linkat(2): the creation is the link.
	FlagTmpfileLink = Flags(typesEventFlagEVENT_F_TMPFILE_LINK)
	// FlagRootless marks a path whose root side the kernel could not reach
	// (deeper than its walk allows): Path is the leaf side only and names no
	// top directory. FlagTruncated is set with it. Without FlagRootless a
	// truncated path starts at the root and was cut on the leaf side.
	FlagRootless = Flags(typesEventFlagEVENT_F_ROOTLESS)
)

// Where says how a sample's path relates to the node's files.
type Where uint8

// Where bits: enum where_flag in bpf/event.h, and WhereNodeUnknown (Go only).
const (
	// WhereOverlayUpper: the file was created through overlayfs; FSPath and
	// FSDev are its upper layer's, where it really is.
	WhereOverlayUpper = Where(typesWhereFlagWHERE_OVERLAY_UPPER)
	// WhereNoMountPath: MountPath is not known.
	WhereNoMountPath = Where(typesWhereFlagWHERE_NO_MNT_PATH)
	// WhereDisconnected: the kernel's walk ended at a root that is not its
	// filesystem's; FSPath is not from the filesystem's root.
	WhereDisconnected = Where(typesWhereFlagWHERE_DISCONNECTED)
	// WhereOverlayUnfollowed: an overlayfs file whose upper layer the kernel
	// could not follow (no struct ovl_inode in its BTF): FSPath is the
	// overlay's own.
	WhereOverlayUnfollowed = Where(typesWhereFlagWHERE_OVERLAY_UNFOLLOWED)
	// WhereUserNSFS: the filesystem was mounted from a user namespace; the
	// kernel's prefix filter passed it (user space decides).
	WhereUserNSFS = Where(typesWhereFlagWHERE_USERNS_FS)
	// WhereNodeUnknown (set by internal/probe, never by the kernel): the
	// node's mount table has no mount of FSDev that holds FSPath (a
	// filesystem mounted only in a private mount namespace); Path is then
	// FSPath, not a node path.
	WhereNodeUnknown = Where(0x80)
)

// Op says how the sample's name came to be.
type Op uint8

// Ops: enum file_op in bpf/event.h.
const (
	// OpCreate: an open made the file (open, openat, openat2, creat, io_uring).
	OpCreate = Op(typesFileOpFILE_OP_CREATE)
	// OpMknod: mknod or mknodat (FlagMknod is set too).
	OpMknod = Op(typesFileOpFILE_OP_MKNOD)
	// OpTmpfileLink: an O_TMPFILE file got its first name (FlagTmpfileLink too).
	OpTmpfileLink = Op(typesFileOpFILE_OP_TMPFILE_LINK)
	// OpLink: a file that had a name got a new one in another directory.
	OpLink = Op(typesFileOpFILE_OP_LINK)
	// OpRename: a rename brought a file in from another directory.
	OpRename = Op(typesFileOpFILE_OP_RENAME)
	// OpCopyUp: overlayfs copied a lower file up into the upper directory.
	OpCopyUp = Op(typesFileOpFILE_OP_COPY_UP)
	// OpSymlink: symlink or symlinkat (or io_uring's) made a symbolic link.
	OpSymlink = Op(typesFileOpFILE_OP_SYMLINK)
)

// Type says what the sample's name names: enum file_type in bpf/event.h.
type Type uint8

// Types.
const (
	// TypeFile: a regular file (every open, mknod and O_TMPFILE link).
	TypeFile = Type(typesFileTypeFILE_TYPE_REGULAR)
	// TypeDirectory: a directory renamed in; the files it holds came with
	// it and are not counted one by one.
	TypeDirectory = Type(typesFileTypeFILE_TYPE_DIR)
	// TypeSymlink: a symbolic link, made or renamed or linked in.
	TypeSymlink = Type(typesFileTypeFILE_TYPE_SYMLINK)
	// TypeUnknown: a rename's or link's new name seen by the tracepoint
	// hook, which does not reach its inode (any type, directories too).
	TypeUnknown = Type(typesFileTypeFILE_TYPE_UNKNOWN)
)

// String returns the name of the kernelevents.file.type attribute.
func (t Type) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDirectory:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeUnknown:
		return "unknown"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// MayBeDirectory says whether the name may be a directory, or a symbolic
// link to one, whose node path a prefix filter matches when it is inside,
// at or above a watched directory (it brings what it holds or points to:
// "ln -s /tmp/evil ~/.ssh").
func (t Type) MayBeDirectory() bool {
	return t == TypeDirectory || t == TypeUnknown || t == TypeSymlink
}

// String returns the name of the kernelevents.file.operation attribute.
func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpMknod:
		return "mknod"
	case OpTmpfileLink:
		return "tmpfile_link"
	case OpLink:
		return "link"
	case OpRename:
		return "rename"
	case OpCopyUp:
		return "copy_up"
	case OpSymlink:
		return "symlink"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Counter is an index of the kernel's per-CPU counters map, one per reason a
// sample could not be delivered (internal/probe names them).
type Counter uint32

// Counters: enum counter_idx in bpf/event.h.
const (
	CounterRingBufferFull    = Counter(typesCounterIdxCOUNTER_LOST)
	CounterFDRace            = Counter(typesCounterIdxCOUNTER_FD_RACE)
	CounterIOURingUnobserved = Counter(typesCounterIdxCOUNTER_IO_URING)
	CounterInflightTableFull = Counter(typesCounterIdxCOUNTER_INFLIGHT_FULL)
	CounterScratchBusy       = Counter(typesCounterIdxCOUNTER_SCRATCH_BUSY)
	CounterCoreDump          = Counter(typesCounterIdxCOUNTER_CORE_DUMP)
	CounterURingInstall      = Counter(typesCounterIdxCOUNTER_URING_INSTALL)
	CounterNameUnresolved    = Counter(typesCounterIdxCOUNTER_NAME_UNRESOLVED)
	// Counters is the number of counters (the map's size): an index is
	// below it.
	Counters = int(typesCounterIdxCOUNTER_MAX)
)

// Errors returned by Decode; each wraps ErrMalformed.
var (
	ErrMalformed = errors.New("malformed sample")
	errSize      = fmt.Errorf("%w: size", ErrMalformed)
	errPathLen   = fmt.Errorf("%w: path length", ErrMalformed)
	errPathNUL   = fmt.Errorf("%w: NUL byte in path", ErrMalformed)
	errHook      = fmt.Errorf("%w: unknown hook", ErrMalformed)
	errFlags     = fmt.Errorf("%w: unknown flags", ErrMalformed)
	errWhere     = fmt.Errorf("%w: unknown where bits", ErrMalformed)
	errMntOff    = fmt.Errorf("%w: mount path offset", ErrMalformed)
	errOp        = fmt.Errorf("%w: unknown operation", ErrMalformed)
	errType      = fmt.Errorf("%w: unknown file type", ErrMalformed)
	errExecState = fmt.Errorf("%w: unknown exec state", ErrMalformed)
)

// Event is one decoded sample. Comm and Path alias the buffer given to
// Decode: they are valid until that buffer is reused, which lets the reader
// decode without allocating.
type Event struct {
	// TimeNs is CLOCK_MONOTONIC at the hook, in nanoseconds.
	TimeNs   uint64
	CgroupID uint64
	TGID     uint32
	TID      uint32
	// EUID and EGID are the effective ids (euid, egid in bpf/event.h;
	// process.user.id, the uids filter, a rule's uid): whose authority the
	// file was created with. A setuid program's files are its owner's.
	EUID uint32
	EGID uint32
	// RUID and RGID are the real ids (ruid, rgid in bpf/event.h;
	// process.real_user.id): who started the program.
	RUID uint32
	RGID uint32
	// ExeDev (a user-space dev_t, as stat(2) reports it) and ExeIno name the
	// executable the process ran at the creation; both 0 for kernel threads.
	ExeDev uint64
	ExeIno uint64
	// StartNs is the process's start time (CLOCK_BOOTTIME): with TGID it
	// names one process, whatever reuses the pid later.
	StartNs uint64
	// ExecState says whether ExeDev and ExeIno are the file the process's
	// last exec mapped; with ExecSame, ExecNs names that exec (its
	// CLOCK_MONOTONIC time): with TGID and StartNs, the key of its record
	// (the file's path inside its filesystem, internal/probe ExecFile).
	ExecState ExecState
	ExecNs    uint64
	Hook      HookID
	Flags     Flags
	// Op is how the name came to be: an open, mknod, or a link or rename
	// that brought the file in from another directory.
	Op Op
	// Type is what the name names: a regular file, a directory, a symbolic
	// link, or unknown (a rename or link the tracepoint hook saw).
	Type Type
	// Comm is the task's name, without the NUL padding.
	Comm []byte
	// Path is the created file's path on the node: Decode sets it to
	// FSPath, and internal/probe replaces it with the node's path (the
	// node's mount of FSDev, plus FSPath below that mount's root) or sets
	// WhereNodeUnknown. With FlagTruncated its leaf side is cut, and with
	// FlagRootless too its root side is missing instead.
	Path []byte
	// FSDev (a user-space dev_t) is the filesystem the file is in, and
	// FSPath its path there from the filesystem's own root, as the kernel
	// walked it without crossing a mount: the same in every mount
	// namespace.
	FSDev  uint64
	FSPath []byte
	// MountID is the mount the creator reached the file through, as its
	// /proc/<pid>/mountinfo numbers it, and MountPath the path below that
	// mount's root (nil with WhereNoMountPath): the creator's view, for
	// evidence only.
	MountID   uint32
	MountPath []byte
	Where     Where
}

// DirUnknown says the sample's directory on the node is not known: a path
// whose root side the kernel could not reach, a mknod name it could not
// resolve, a disconnected walk, or a filesystem the node does not mount.
func (e *Event) DirUnknown() bool {
	return e.Flags&(FlagRootless|FlagUnresolved) != 0 || e.Where&(WhereDisconnected|WhereNodeUnknown) != 0
}

// Decode fills e from the raw sample b. It returns an error wrapping
// ErrMalformed when b is not a sample this version understands; e is then
// left in an unspecified state.
func Decode(b []byte, e *Event) error {
	if len(b) != Size {
		return fmt.Errorf("%w: got %d bytes, want %d", errSize, len(b), Size)
	}
	le := binary.LittleEndian
	pathLen := int(le.Uint16(b[offPathLen:]))
	if pathLen == 0 || pathLen > maxPath {
		return fmt.Errorf("%w: %d", errPathLen, pathLen)
	}
	path := b[offPath : offPath+pathLen]
	if bytes.IndexByte(path, 0) >= 0 {
		return errPathNUL
	}
	hook := HookID(b[offHook])
	if hook < hookMin || hook > hookMax {
		return fmt.Errorf("%w: %d", errHook, hook)
	}
	flags := Flags(b[offFlags])
	if flags&^knownFlg != 0 {
		return fmt.Errorf("%w: %#x", errFlags, uint8(flags))
	}
	op := Op(b[offOp])
	if op > opMax {
		return fmt.Errorf("%w: %d", errOp, op)
	}
	typ := Type(b[offType])
	if typ > typeMax {
		return fmt.Errorf("%w: %d", errType, typ)
	}
	e.TimeNs = le.Uint64(b[offTsNs:])
	e.CgroupID = le.Uint64(b[offCgroupID:])
	e.TGID = le.Uint32(b[offTgid:])
	e.TID = le.Uint32(b[offTid:])
	e.RUID = le.Uint32(b[offRUID:])
	e.RGID = le.Uint32(b[offRGID:])
	e.EUID = le.Uint32(b[offEUID:])
	e.EGID = le.Uint32(b[offEGID:])
	e.ExeDev = kernelDevToUser(le.Uint32(b[offExeDev:]))
	e.ExeIno = le.Uint64(b[offExeIno:])
	e.StartNs = le.Uint64(b[offStartNs:])
	where := Where(b[offWhere])
	if where&^knownWhere != 0 {
		return fmt.Errorf("%w: %#x", errWhere, uint8(where))
	}
	mntOff := int(le.Uint16(b[offMntOff:]))
	if where&WhereNoMountPath == 0 && mntOff > pathLen {
		return fmt.Errorf("%w: %d past %d", errMntOff, mntOff, pathLen)
	}
	e.ExecNs = le.Uint64(b[offExecNs:])
	e.ExecState = ExecState(le.Uint32(b[offExecSt:]))
	if e.ExecState > ExecReplaced {
		return fmt.Errorf("%w: %d", errExecState, e.ExecState)
	}
	e.Hook = hook
	e.Flags = flags
	e.Op = op
	e.Type = typ
	e.Comm = CString(b[offComm : offComm+CommLen])
	e.Path = path
	e.FSPath = path
	e.FSDev = kernelDevToUser(le.Uint32(b[offFSDev:]))
	e.MountID = le.Uint32(b[offMntID:])
	e.Where = where
	e.MountPath = nil
	if where&WhereNoMountPath == 0 {
		e.MountPath = path[mntOff:]
		if len(e.MountPath) == 0 {
			e.MountPath = []byte{'/'} // the mount's root itself
		}
	}
	return nil
}

// NameAsWritten reports whether the path's last part may be the caller's
// name as written ("./x", "a/../b"): mknod, symlink, link and rename seen by
// the tracepoint hook, whose new dentry is out of its reach. Such paths are
// cleaned (path.Clean) before they are labelled.
func (e *Event) NameAsWritten() bool {
	return e.Flags&FlagMknod != 0 || e.Op == OpLink || e.Op == OpRename || e.Op == OpSymlink
}

// CString cuts b at its first NUL.
func CString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// Encode writes e as the kernel would; tests and benchmarks use it to make
// samples. Fields longer than the layout allows are cut.
func Encode(e *Event) []byte {
	b := make([]byte, Size)
	le := binary.LittleEndian
	le.PutUint64(b[offTsNs:], e.TimeNs)
	le.PutUint64(b[offCgroupID:], e.CgroupID)
	le.PutUint32(b[offTgid:], e.TGID)
	le.PutUint32(b[offTid:], e.TID)
	le.PutUint32(b[offRUID:], e.RUID)
	le.PutUint32(b[offRGID:], e.RGID)
	le.PutUint32(b[offEUID:], e.EUID)
	le.PutUint32(b[offEGID:], e.EGID)
	le.PutUint32(b[offExeDev:], userDevToKernel(e.ExeDev))
	le.PutUint64(b[offExeIno:], e.ExeIno)
	le.PutUint64(b[offStartNs:], e.StartNs)
	le.PutUint64(b[offExecNs:], e.ExecNs)
	le.PutUint32(b[offExecSt:], uint32(e.ExecState))
	fsPath := e.FSPath
	if fsPath == nil {
		fsPath = e.Path
	}
	n := copy(b[offPath:offPath+maxPath], fsPath)
	le.PutUint16(b[offPathLen:], uint16(n))
	le.PutUint32(b[offFSDev:], userDevToKernel(e.FSDev))
	le.PutUint32(b[offMntID:], e.MountID)
	where := e.Where &^ WhereNodeUnknown
	if e.MountPath != nil && len(e.MountPath) <= n && bytes.HasSuffix(fsPath[:n], e.MountPath) {
		le.PutUint16(b[offMntOff:], uint16(n-len(e.MountPath)))
	} else {
		where |= WhereNoMountPath
	}
	b[offWhere] = byte(where)
	b[offHook] = byte(e.Hook)
	b[offFlags] = byte(e.Flags)
	b[offOp] = byte(e.Op)
	b[offType] = byte(e.Type)
	copy(b[offComm:offComm+CommLen-1], e.Comm)
	return b
}

// DevString writes a user-space dev_t as mountinfo does: "major:minor".
func DevString(d uint64) string {
	k := userDevToKernel(d)
	return fmt.Sprintf("%d:%d", k>>20, k&0xfffff)
}

// The kernel keeps a dev_t as major<<20 | minor (include/linux/kdev_t.h);
// stat(2) reports the "huge" encoding glibc's makedev uses
// (major<<8 | minor&0xff | (minor&^0xff)<<12 | (major&^0xfff)<<32).
// KernelDev turns a kernel dev_t (major << 20 | minor, as the programs
// record a superblock's s_dev) into a user-space one, as stat(2) reports it.
func KernelDev(d uint32) uint64 { return kernelDevToUser(d) }

func kernelDevToUser(d uint32) uint64 {
	major, minor := uint64(d>>20), uint64(d&0xfffff)
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

func userDevToKernel(d uint64) uint32 {
	major := (d>>8)&0xfff | (d>>32)&^0xfff
	minor := d&0xff | (d>>12)&^0xff
	return uint32(major&0xfff)<<20 | uint32(minor&0xfffff)
}
