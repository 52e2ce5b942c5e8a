// Package identity binds each created file to who created it: from the
// sample's tgid, uid, gid and cgroup id it resolves, in user space, the
// executable, user, cgroup path, container id and pod uid, applies the
// identity rules, and names the result as a workload: the resource a series
// belongs to.
//
// Lookups are cached per process, so the per-sample cost with a warm cache is
// one map lookup (BenchmarkResolveWarm). A process that exited before its
// lookup keeps what the kernel sample carried: comm, uid, gid, cgroup id.
package identity

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Resource attribute names the resolver sets on a workload.
const (
	AttrContainerID = "container.id"
	AttrPodUID      = "k8s.pod.uid"
	AttrCgroupPath  = "kernelevents.cgroup.path"
)

// Options configure a Resolver.
type Options struct {
	// Rules bind facts to identities; nil means none.
	Rules *Rules
	// Unmatched are the attributes of workloads no rule matched.
	Unmatched map[string]string
	// CacheTTL bounds how long a process's facts are trusted (an exec
	// changes the executable). Default 30s.
	CacheTTL time.Duration
	// MaxProcesses bounds the process cache; default 16384.
	MaxProcesses int
	// MaxWorkloads bounds the distinct workloads; past it samples go to
	// workload 0 (the host) and are counted in Overflow. Default 4096.
	MaxWorkloads int
	// ProcRoot and CgroupRoot default to /proc and the cgroup v2 mount.
	ProcRoot   string
	CgroupRoot string
}

// Workload is a resolved identity: resource attributes, sorted by key.
type Workload struct {
	Attrs []KV
}

// KV is one attribute.
type KV struct{ Key, Value string }

type procKey struct {
	tgid, uid uint32
	cgroup    uint64
}

type procEntry struct {
	facts    Facts
	workload uint32
	gen      uint64
	expires  time.Time
}

// Resolver resolves samples to workload ids. Resolve is called from the
// reader goroutine; Workload, SetRules and Sweep from others.
type Resolver struct {
	opts Options

	mu        sync.Mutex
	rules     *Rules
	gen       uint64
	procs     map[procKey]procEntry
	cgroups   map[uint64]string // cgroup id → path
	users     map[uint32]string
	workloads []Workload
	byKey     map[string]uint32
	overflow  uint64
	now       func() time.Time
}

// NewResolver returns a resolver. Workload 0 is the host: no container, no
// rule.
func NewResolver(opts Options) *Resolver {
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.MaxProcesses <= 0 {
		opts.MaxProcesses = 16384
	}
	if opts.MaxWorkloads <= 0 {
		opts.MaxWorkloads = 4096
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = CgroupV2Root()
	}
	r := &Resolver{
		opts:    opts,
		rules:   opts.Rules,
		procs:   map[procKey]procEntry{},
		cgroups: map[uint64]string{},
		users:   map[uint32]string{},
		byKey:   map[string]uint32{},
		now:     time.Now,
	}
	r.workloads = []Workload{{}}
	r.byKey[""] = 0
	return r
}

// SetRules replaces the rules; cached identities are recomputed lazily.
func (r *Resolver) SetRules(rules *Rules) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = rules
	r.gen++
}

// Resolve returns the workload id of the creator of e.
func (r *Resolver) Resolve(e *event.Event) uint32 {
	id, _ := r.ResolveFacts(e)
	return id
}

// ResolveFacts returns the workload id of the creator of e and what is
// known of it, from the cache when fresh. The facts' comm is the process's
// as first seen.
func (r *Resolver) ResolveFacts(e *event.Event) (uint32, Facts) {
	k := procKey{e.TGID, e.UID, e.CgroupID}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if ent, ok := r.procs[k]; ok && ent.gen == r.gen && now.Before(ent.expires) {
		return ent.workload, ent.facts
	}
	facts := r.facts(e)
	id := r.workload(facts)
	if len(r.procs) >= r.opts.MaxProcesses {
		r.sweepLocked(now, true)
	}
	r.procs[k] = procEntry{facts: facts, workload: id, gen: r.gen, expires: now.Add(r.opts.CacheTTL)}
	return id, facts
}

// Facts resolves what is known of e's creator without rules or caching of
// the result; exposed for the evidence logs and tests.
func (r *Resolver) Facts(e *event.Event) Facts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.facts(e)
}

func (r *Resolver) facts(e *event.Event) Facts {
	f := Facts{UID: e.UID, GID: e.GID, Comm: string(e.Comm), User: r.userName(e.UID)}
	pid := strconv.FormatUint(uint64(e.TGID), 10)
	if exe, err := os.Readlink(filepath.Join(r.opts.ProcRoot, pid, "exe")); err == nil {
		f.Executable = strings.TrimSuffix(exe, " (deleted)")
	}
	f.Cgroup = r.cgroupPath(pid, e.CgroupID)
	f.ContainerID, f.PodUID = ParseCgroupPath(f.Cgroup)
	return f
}

// cgroupPath prefers /proc/<pid>/cgroup: the v2 line, or a v1 line naming a
// container on hybrid and v1-only hosts. When the process is gone, the
// cgroup id from the sample is looked up in the v2 hierarchy (its inode).
func (r *Resolver) cgroupPath(pid string, id uint64) string {
	if p, ok := r.cgroups[id]; ok && id != 0 {
		return p
	}
	p := ""
	if b, err := os.ReadFile(filepath.Join(r.opts.ProcRoot, pid, "cgroup")); err == nil {
		p = pickCgroupLine(b)
	} else if id != 0 {
		p = findCgroupByID(r.opts.CgroupRoot, id)
	}
	if id != 0 && p != "" && len(r.cgroups) < r.opts.MaxProcesses {
		r.cgroups[id] = p
	}
	return p
}

// pickCgroupLine returns the v2 path ("0::/x"), unless it is "/" and a v1
// controller's path names a container.
func pickCgroupLine(b []byte) string {
	v2, v1 := "", ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		} else if c, _ := ParseCgroupPath(parts[2]); c != "" && v1 == "" {
			v1 = parts[2]
		}
	}
	if (v2 == "" || v2 == "/") && v1 != "" {
		return v1
	}
	return v2
}

// findCgroupByID walks the cgroup v2 tree for the directory whose inode is id
// (bounded: at most 100,000 directories).
func findCgroupByID(root string, id uint64) string {
	if root == "" {
		return ""
	}
	found, seen := "", 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			return nil
		}
		if seen++; seen > 100_000 {
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Ino == id {
			rel, _ := filepath.Rel(root, p)
			found = "/" + strings.TrimPrefix(rel, ".")
			found = filepath.Clean(found)
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// CgroupV2Root returns where the cgroup v2 hierarchy is mounted (from
// /proc/self/mountinfo), or "".
func CgroupV2Root() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		// ... mountpoint ... - fstype source options
		left, right, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(right, "cgroup2 ") {
			continue
		}
		f := strings.Fields(left)
		if len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}

func (r *Resolver) userName(uid uint32) string {
	if n, ok := r.users[uid]; ok {
		return n
	}
	n := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		n = u.Username
	}
	if len(r.users) < 4096 {
		r.users[uid] = n
	}
	return n
}

// workload interns the resource attributes that f and the rules give.
func (r *Resolver) workload(f Facts) uint32 {
	attrs := map[string]string{}
	if f.ContainerID != "" {
		attrs[AttrContainerID] = f.ContainerID
	}
	if f.PodUID != "" {
		attrs[AttrPodUID] = f.PodUID
	}
	if f.Cgroup != "" && f.Cgroup != "/" {
		attrs[AttrCgroupPath] = f.Cgroup
	}
	if name, ra, ok := r.rules.Match(&f); ok {
		attrs[RuleAttribute] = name
		for k, v := range ra {
			attrs[k] = v
		}
	} else if r.rules.Len() > 0 || len(r.opts.Unmatched) > 0 {
		for k, v := range r.opts.Unmatched {
			attrs[k] = v
		}
	}
	kvs := make([]KV, 0, len(attrs))
	for k, v := range attrs {
		kvs = append(kvs, KV{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	var key strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&key, "%q=%q;", kv.Key, kv.Value)
	}
	if id, ok := r.byKey[key.String()]; ok {
		return id
	}
	if len(r.workloads) >= r.opts.MaxWorkloads {
		r.overflow++
		return 0
	}
	id := uint32(len(r.workloads))
	r.workloads = append(r.workloads, Workload{Attrs: kvs})
	r.byKey[key.String()] = id
	return id
}

// Workload returns the attributes of workload id.
func (r *Resolver) Workload(id uint32) Workload {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int(id) >= len(r.workloads) {
		return Workload{}
	}
	return r.workloads[id]
}

// Overflow returns how many resolutions fell back to the host workload
// because MaxWorkloads was reached.
func (r *Resolver) Overflow() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overflow
}

// Sweep drops cache entries past their TTL and those of processes that have
// exited; the receiver calls it at each collection interval.
func (r *Resolver) Sweep() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(r.now(), false)
}

func (r *Resolver) sweepLocked(now time.Time, full bool) {
	for k, e := range r.procs {
		if now.After(e.expires) || e.gen != r.gen {
			delete(r.procs, k)
			continue
		}
		if _, err := os.Stat(filepath.Join(r.opts.ProcRoot, strconv.FormatUint(uint64(k.tgid), 10))); err != nil {
			delete(r.procs, k) // exited
		}
	}
	if full && len(r.procs) >= r.opts.MaxProcesses {
		clear(r.procs) // all alive and fresh: start over rather than grow
	}
}
