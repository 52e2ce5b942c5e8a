// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Resource attributes the resolver sets from a SPIFFE source (a SPIRE
// agent's Delegated Identity API).
const (
	// AttrSPIFFEID is the SPIFFE ID the agent issued to the creator: the
	// first (default) X509-SVID of its answer.
	AttrSPIFFEID = "spiffe.id"
	// AttrSPIFFEIDs lists every SPIFFE ID issued to the creator, in the
	// agent's order, comma-separated; set only when there are several.
	AttrSPIFFEIDs = "kernelevents.spiffe.ids"
	// AttrSPIFFEHint is the registration entry's hint of the first SVID,
	// when the SPIRE admin set one.
	AttrSPIFFEHint = "kernelevents.spiffe.hint"
	// AttrSPIFFEStatus says how the SPIFFE ID was, or why it was not,
	// learned: one of the SPIFFEStatus values. It is set on every workload
	// when a SPIFFE source is configured, so a missing spiffe.id is never
	// silent.
	AttrSPIFFEStatus = "kernelevents.spiffe.status"
)

// SPIFFEStatus is the outcome of asking the SPIFFE source about a process.
type SPIFFEStatus string

// The outcomes. Each is a value of kernelevents.spiffe.status and a reason
// of the lookup counter.
const (
	// SPIFFEIssued: the agent attested the process and returned its SVIDs.
	SPIFFEIssued SPIFFEStatus = "issued"
	// SPIFFENoEntry: the agent attested the process and no registration
	// entry matches it: SPIRE issues it no identity.
	SPIFFENoEntry SPIFFEStatus = "no_entry"
	// SPIFFEProcessGone: the process exited (or its pid was reused) before
	// the agent's answer could be checked to be about it, and its uid and
	// gid alone match no entry. The agent attests a pid, not the sample; an
	// answer about another process is discarded.
	SPIFFEProcessGone SPIFFEStatus = "process_gone"
	// SPIFFEIssuedByUID: the process was gone, so the agent was asked by
	// the selectors the kernel sample proves (unix:uid and unix:gid, the
	// effective ids at the creation) and issued these IDs: those of entries
	// that need no other selector. A subset of what the process held, never
	// another workload's.
	SPIFFEIssuedByUID SPIFFEStatus = "issued_by_uid"
	// SPIFFEIssuedByPod: the process was gone, or had changed (exec, a new
	// uid), and its pod is known (the pod inventory names the pod uid of
	// the sample's cgroup): the agent was asked by what the sample and the
	// API server prove, the pod's k8s:ns, k8s:sa, k8s:pod-uid and
	// k8s:pod-name with unix:uid and unix:gid, and issued these IDs: those
	// of entries that need no other selector (for example entries by
	// namespace and ServiceAccount). Never another pod's.
	SPIFFEIssuedByPod SPIFFEStatus = "issued_by_pod"
	// SPIFFEProcessChanged: the process is alive but no longer the one that
	// created the file (it ran exec, changed its uid or gid, or moved to
	// another cgroup), so the agent would attest what it became, not what
	// created the file.
	SPIFFEProcessChanged SPIFFEStatus = "process_changed"
	// SPIFFEAgentUnavailable: the agent's admin socket did not answer
	// (refused, missing, or no answer within identity::spire::timeout).
	SPIFFEAgentUnavailable SPIFFEStatus = "agent_unavailable"
	// SPIFFENotAuthorized: the agent refused the collector: it is not one
	// of the agent's authorized_delegates (or has no registration entry).
	SPIFFENotAuthorized SPIFFEStatus = "not_authorized"
	// SPIFFEAgentError: the agent answered with another error.
	SPIFFEAgentError SPIFFEStatus = "agent_error"
	// SPIFFEExePathUnverified: the agent issued SVIDs, but the executable
	// path it attests (unix:path, /proc/<pid>/exe as the process's own
	// mount namespace names it) is not shown to be where the file the
	// process exec'ed is on the node: the process is in another mount
	// namespace than the node's (a container, or a private namespace where
	// it bind-mounted a program over a trusted one's path), its path there
	// is not its node path, or its node path is not known. The IDs are
	// dropped: the path that selected them is one the process could choose.
	SPIFFEExePathUnverified SPIFFEStatus = "exe_path_unverified"
	// SPIFFENotLookedUp: the creation was attributed from the caches alone
	// because too many samples were waiting for lookups
	// (kernel.identity.unresolved); the agent was not asked.
	SPIFFENotLookedUp SPIFFEStatus = "not_looked_up"
)

// SPIFFEStatuses lists every outcome, for counters that report each.
var SPIFFEStatuses = []SPIFFEStatus{
	SPIFFEIssued, SPIFFEIssuedByUID, SPIFFEIssuedByPod, SPIFFENoEntry, SPIFFEProcessGone, SPIFFEProcessChanged,
	SPIFFEAgentUnavailable, SPIFFENotAuthorized, SPIFFEAgentError, SPIFFENotLookedUp, SPIFFEExePathUnverified,
}

// SPIFFEAnswer is what a SPIFFE source says about one process.
type SPIFFEAnswer struct {
	Status SPIFFEStatus
	// IDs are the SPIFFE IDs issued, the default first; Hint is the first
	// SVID's hint.
	IDs  []string
	Hint string
	// Expires is when the answer must be asked again: the earliest SVID
	// expiry, or the retry time of a failure. Zero: the resolver's cache
	// TTL alone bounds it.
	Expires time.Time
}

// SPIFFESource answers which SPIFFE IDs a process holds. Lookup runs on a
// resolver worker, never on the ring-buffer reader, and must return within
// its own bounded time.
type SPIFFESource interface {
	Lookup(pid uint32) SPIFFEAnswer
	// LookupSelectors asks for the SVIDs of entries that the selectors
	// (type:value, for example unix:uid:1000) satisfy.
	LookupSelectors(selectors []string) SPIFFEAnswer
}

// SPIFFEFacts are what the SPIFFE source said about the creator.
type SPIFFEFacts struct {
	Status SPIFFEStatus
	IDs    []string
	Hint   string
	// expires bounds how long the process cache keeps these facts.
	expires time.Time
}

// spiffeAsker asks the SPIFFE source (nil: none) about creators, checks
// each answer against the sample, and counts the outcomes.
type spiffeAsker struct {
	src    SPIFFESource
	execs  *execNamer
	counts spiffeCounts
}

// lookup asks the source about e's creator, and believes the answer
// only if the process is, before and after the question, the one that
// created the file (its start time, executable, uids, gid and cgroup): the agent
// attests whatever process has the pid when it looks.
func (a *spiffeAsker) lookup(proc *procView, want procIdentity, f *Facts) {
	if a.src == nil {
		return
	}
	defer func() { a.counts.add(f.SPIFFE.Status) }()
	if inPod(&f.Pod) {
		// A process in a pod the inventory names is asked about by its
		// pod's selectors, alive or not, never by pid: the agent's pid
		// attestation reads the process's own view (its executable path
		// in its own mount namespace, see SPIFFEExePathUnverified), the
		// pod comes from the sample's cgroup and the API server.
		f.SPIFFE = a.gone(SPIFFENoEntry, want, &f.Pod)
		return
	}
	if st := a.still(proc, want); st != "" {
		f.SPIFFE = a.gone(st, want, &f.Pod)
		return
	}
	ans := a.src.Lookup(want.tgid)
	if st := a.still(proc, want); st != "" {
		f.SPIFFE = a.gone(st, want, &f.Pod)
		return
	}
	if ans.Status == SPIFFEIssued && !proc.attestedPathIsNode(f.Executable) {
		// The agent named the process by a path it could choose (see
		// SPIFFEExePathUnverified): fail closed.
		f.SPIFFE = SPIFFEFacts{Status: SPIFFEExePathUnverified}
		return
	}
	f.SPIFFE = SPIFFEFacts{Status: ans.Status, IDs: ans.IDs, Hint: ans.Hint, expires: ans.Expires}
}

// still returns "" when the process is still the sample's creator, as
// procView.still checks, and runs the exec and the executable path the
// creation ran: the agent attests the executable at the moment it looks
// (SPIRE's unix:path is /proc/<pid>/exe then), and one inode has as many
// paths as hard links. Otherwise it says why not: a process that replaced
// its executable reference (it chose the file the agent would attest), or
// exec'ed since the creation (even the same inode under another path), or
// whose executable's path inside its filesystem is not the recorded one,
// has changed.
func (a *spiffeAsker) still(proc *procView, want procIdentity) SPIFFEStatus {
	if st := proc.still(want); st != "" {
		return st
	}
	switch {
	case want.execState == event.ExecReplaced, a.execs.recordLost(want.execState, want.tgid, want.start):
		return SPIFFEProcessChanged
	case want.execState != event.ExecSame || a.execs.src == nil:
		return ""
	}
	if cur, ok := a.execs.src.CurrentExec(want.tgid, want.start); !ok || cur != want.execNs {
		return SPIFFEProcessChanged
	}
	if want.execPath != "" {
		p, ok := proc.exeFSPath(want.exeDev, want.exeIno)
		if !ok || p != want.execPath {
			return SPIFFEProcessChanged
		}
	}
	// The mount table may have been read from a new process that took the
	// pid meanwhile.
	if !proc.same() {
		return SPIFFEProcessGone
	}
	return ""
}

// gone is the answer for a process that cannot be asked about by pid. A
// gone process (short-lived ones such as touch or cp usually are by their
// lookup) is asked about by the selectors its sample proves: the effective
// uid and gid at the creation, which the unix attestor reports as unix:uid
// and unix:gid. Entries match when all their selectors are among those
// given, so the answer is a subset of the process's IDs: never another
// workload's. A changed process is not asked about by uid: it is alive as
// something else. A process in a pod the pod inventory knows (alive, gone
// or changed: the pod is the sample's cgroup's, whatever the process
// became) is asked about by its pod's selectors too, as SPIRE's Kubernetes
// workload attestor reports them (k8s:ns, k8s:sa, k8s:pod-name,
// k8s:pod-uid; entries on container selectors do not match).
func (a *spiffeAsker) gone(st SPIFFEStatus, want procIdentity, pod *Pod) SPIFFEFacts {
	byPod := inPod(pod)
	if st != SPIFFEProcessGone && !byPod {
		return SPIFFEFacts{Status: st}
	}
	sel := []string{
		"unix:uid:" + strconv.FormatUint(uint64(want.uid), 10),
		"unix:gid:" + strconv.FormatUint(uint64(want.gid), 10),
	}
	issued := SPIFFEIssuedByUID
	if byPod {
		sel = append(sel, "k8s:ns:"+pod.Namespace, "k8s:sa:"+pod.ServiceAccount, "k8s:pod-name:"+pod.Name, "k8s:pod-uid:"+pod.UID)
		issued = SPIFFEIssuedByPod
	}
	ans := a.src.LookupSelectors(sel)
	switch ans.Status {
	case SPIFFEIssued:
	case SPIFFENoEntry:
		return SPIFFEFacts{Status: st}
	default:
		// The agent did not answer or refused: say so, it is what an
		// operator can act on.
		return SPIFFEFacts{Status: ans.Status, expires: ans.Expires}
	}
	return SPIFFEFacts{Status: issued, IDs: ans.IDs, Hint: ans.Hint, expires: ans.Expires}
}

// inPod says whether the pod inventory named the sample's pod, with the
// ServiceAccount SPIRE's Kubernetes attestor reports.
func inPod(pod *Pod) bool { return pod.Namespace != "" && pod.ServiceAccount != "" }

// spiffeCounts count SPIFFE outcomes by index in SPIFFEStatuses.
type spiffeCounts [16]atomic.Uint64 // room for len(SPIFFEStatuses)

func (c *spiffeCounts) add(st SPIFFEStatus) {
	for i, s := range SPIFFEStatuses {
		if s == st {
			c[i].Add(1)
			return
		}
	}
}

// byStatus returns the counts, every outcome present; nil without a source.
func (a *spiffeAsker) byStatus() map[SPIFFEStatus]uint64 {
	if a.src == nil {
		return nil
	}
	out := make(map[SPIFFEStatus]uint64, len(SPIFFEStatuses))
	for i, s := range SPIFFEStatuses {
		out[s] = a.counts[i].Load()
	}
	return out
}

// procIdentity is what the sample says the creator was.
type procIdentity struct {
	tgid           uint32
	uid, ruid, gid uint32
	exeDev, exeIno uint64
	cgroup         uint64 // cgroup v2 id
	start          uint64
	// execState and execNs: the sample's exec (event.ExecState); execPath
	// the path inside its filesystem of the file it mapped, when recorded.
	execState event.ExecState
	execNs    uint64
	execPath  string
}

// attrs sets the SPIFFE attributes of f on attrs. An issued ID replaces a
// spiffe.id a rule typed in: the agent's answer is the evidence.
func (a *spiffeAsker) attrs(f *Facts, attrs map[string]string) {
	if a.src == nil {
		return
	}
	st := f.SPIFFE.Status
	if st == "" {
		// Only the samples Lookup attributes from the caches alone, when
		// too many wait, come here without an answer: one per creation.
		st = SPIFFENotLookedUp
		a.counts.add(st)
	}
	attrs[AttrSPIFFEStatus] = string(st)
	if !f.SPIFFE.Issued() {
		return
	}
	attrs[AttrSPIFFEID] = f.SPIFFE.IDs[0]
	if len(f.SPIFFE.IDs) > 1 {
		attrs[AttrSPIFFEIDs] = strings.Join(f.SPIFFE.IDs, ",")
	}
	if f.SPIFFE.Hint != "" {
		attrs[AttrSPIFFEHint] = f.SPIFFE.Hint
	}
}

// spiffeExpiry caps a process cache entry's expiry at its SPIFFE answer's.
func spiffeExpiry(f *Facts, expires time.Time) time.Time {
	if e := f.SPIFFE.expires; !e.IsZero() && e.Before(expires) {
		return e
	}
	return expires
}

// Issued says whether the agent issued IDs (to the process, or to its uid
// and gid once it was gone).
func (s *SPIFFEFacts) Issued() bool {
	return (s.Status == SPIFFEIssued || s.Status == SPIFFEIssuedByUID || s.Status == SPIFFEIssuedByPod) && len(s.IDs) > 0
}

// matchSPIFFE says whether any SPIFFE ID of f matches g.
func matchSPIFFE(g *Glob, f *Facts) bool {
	if !f.SPIFFE.Issued() {
		return false
	}
	for _, id := range f.SPIFFE.IDs {
		if g.Match(id) {
			return true
		}
	}
	return false
}
