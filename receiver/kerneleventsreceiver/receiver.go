// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/internal/aggregate"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/k8spods"
	"github.com/kernelevents/kernelevents/internal/probe"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// unattached returns the names of the programs that are not attached.
func unattached(ps []probe.ProgramState) []string {
	var out []string
	for _, p := range ps {
		if !p.Attached {
			out = append(out, p.Name)
		}
	}
	return out
}

// every calls tick on a goroutine of its own every interval until ctx ends
// or tick returns false, then closes done: the receiver's periodic jobs
// (metrics, evidence flushes, rules file checks, SPIRE agent checks).
func every(ctx context.Context, interval time.Duration, done chan<- struct{}, tick func(context.Context) bool) {
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !tick(ctx) {
					return
				}
			}
		}
	}()
}

// kernelEventsReceiver reads samples from the probe on one goroutine, counts
// them in the aggregation table (metrics pipeline) and buffers one evidence
// record each (logs pipeline), and emits both on other goroutines.
//
// One receiver id configured in a metrics and a logs pipeline shares one
// instance, so one probe is loaded: the factory hands each pipeline a handle,
// the first handle's Start starts it and the last handle's Shutdown stops it.
type kernelEventsReceiver struct {
	set     receiver.Settings
	cfg     *Config
	metrics consumer.Metrics // nil without a metrics pipeline
	logs    consumer.Logs    // nil without a logs pipeline
	obs     *receiverhelper.ObsReport

	evidence    *evidence
	logsDone    chan struct{}
	logsCancel  context.CancelFunc // stops the evidence flushes (endEvidence, shutdown)
	finalLosses *losses            // the kernel's counters read at shutdown, for the final checkpoint

	open      openSourceFunc
	probe     source               // the BPF probe, or a fake source in tests
	programs  []probe.ProgramState // the probe's, at start
	table     *aggregate.Table
	resolver  *identity.Resolver
	rules     *rulesWatcher
	mb        *metadata.MetricsBuilder
	telemetry *metadata.TelemetryBuilder // component telemetry (telemetry.go)
	host      component.Host

	cancel   context.CancelFunc
	readDone chan struct{}
	emitDone chan struct{}

	received  atomic.Uint64
	malformed atomic.Uint64
	delivered atomic.Uint64 // samples counted after their workload lookup
	emits     atomic.Uint64 // metric batches handed on
	lag       lagStats      // ring buffer → reader
	idLag     lagStats      // reader → identity known (table and evidence)
	emitMu    sync.Mutex    // serializes emit between the ticker and Shutdown

	spire       *spire.Client      // nil without identity::spire (spire.go)
	pods        *k8spods.Inventory // nil without identity::kubernetes (pods.go)
	svid        *spire.SVIDSource  // nil without evidence::signing_workload_socket (spire.go)
	spireDone   chan struct{}
	spireCancel context.CancelFunc
}

// instances holds the receiver of each receiver id (its *Config).
var instances = newSharedComponents[*Config, *kernelEventsReceiver]()

// handle is what the factory returns for one pipeline.
type handle = sharedHandle[*Config, *kernelEventsReceiver]

var (
	_ receiver.Metrics = (*handle)(nil)
	_ receiver.Logs    = (*handle)(nil)
)

func newReceiver(set receiver.Settings, cfg *Config, open openSourceFunc) (*kernelEventsReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "ebpf",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("create obsreport: %w", err)
	}
	return &kernelEventsReceiver{set: set, cfg: cfg, obs: obs, open: open}, nil
}

// start loads and attaches the BPF programs, then starts the reader and the
// emitters. A hook that cannot attach fails Start with the reason. What
// started before a failure is stopped again (defer on error, as probe.open
// does).
func (r *kernelEventsReceiver) start(_ context.Context, host component.Host) (err error) {
	opts := r.cfg.probeOptions()
	var key ed25519.PrivateKey
	if f := r.cfg.Evidence.SigningKeyFile; f != "" && r.logs != nil {
		if key, err = readSigningKey(f); err != nil {
			return fmt.Errorf("start kernel_events receiver: evidence::signing_key_file: %w", err)
		}
	}
	if sock := r.cfg.Evidence.SigningWorkloadSocket; sock != "" && r.logs != nil {
		src, serr := r.watchSVID(sock)
		if serr != nil {
			return fmt.Errorf("start kernel_events receiver: evidence::signing_workload_socket: %w", serr)
		}
		r.svid = src
		defer func() {
			if err != nil {
				r.stopSVID()
			}
		}()
	}
	if opts.ExcludeCgroupIDs, err = r.cfg.excludeCgroupIDs(identity.CgroupV2Root()); err != nil {
		return fmt.Errorf("start kernel_events receiver: %w", err)
	}
	p, err := r.open(opts)
	if err != nil {
		return fmt.Errorf("start kernel_events receiver: %w", err)
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	r.probe = p
	r.finalLosses = nil // a restarted receiver reads the new probe's counters
	r.host = host
	r.set.Logger.Info("Attached kernel file-creation probe",
		zap.String("hook", string(p.Hook())),
		zap.String("requested_hook", r.cfg.Hook),
		zap.Strings("notes", p.Notes()))
	r.programs = p.Programs()
	if blind := unattached(r.programs); len(blind) > 0 {
		// Running, but partly blind: said in the health status, the log and
		// kernel.probe.programs, never only in a note.
		err := fmt.Errorf("programs not attached, the files they would see are not counted: %s", strings.Join(blind, ", "))
		r.set.Logger.Warn("Kernel file-creation probe is partly blind", zap.Error(err))
		componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
	}

	if len(r.cfg.Filter.ExcludeComms) > 0 {
		r.set.Logger.Warn("filter::exclude_comms is not a security boundary: any process can take an excluded name "+
			"(prctl PR_SET_NAME, or a copy of a binary named so) and the files it creates are then not counted",
			zap.Strings("exclude_comms", r.cfg.Filter.ExcludeComms))
	}
	ropts, err := r.cfg.resolverOptions()
	if err != nil {
		return err
	}
	spiffe, err := r.startSpire()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			r.stopSpire()
		}
	}()
	pods, err := r.startPods()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			r.stopPods()
		}
	}()
	ropts.SPIFFE, ropts.Pods, ropts.Execs = spiffe, pods, execsOf(p)
	r.resolver = identity.NewResolver(ropts)
	defer func() {
		if err != nil {
			r.resolver.Close()
		}
	}()
	if m, ok := p.(mountsWatcher); ok {
		// Executable paths cached for a filesystem that left the node's
		// mount table are dropped (its device number can be reused).
		m.SetMountsChanged(r.resolver.NodeMountsChanged)
	}
	if err := r.resolver.CheckCgroupHandles(); err != nil {
		r.set.Logger.Warn("Cgroup paths come from /proc/<pid>/cgroup (checked by id) instead of by id: a process that exits before its lookup keeps only its cgroup id",
			zap.Error(err))
	}
	r.set.Logger.Info("Workload identity limits: past identity::max_workloads live workloads, creations go to the resource kernelevents.identity.overflow=true; alert on kernel.workloads.overflowed > 0",
		zap.Int("max_workloads", r.cfg.Identity.MaxWorkloads), zap.Duration("series_ttl", r.cfg.SeriesTTL))
	if r.cfg.Identity.RulesFile != "" {
		r.rules = newRulesWatcher(r.cfg.Identity.RulesFile, ropts.Rules, r.resolver, r.set.Logger, host)
		if err := r.rules.load(); err != nil {
			return fmt.Errorf("identity::rules_file: %w", err)
		}
	}
	r.table = aggregate.New(r.aggregateOptions())
	// A new builder per Start: a restarted receiver starts new series.
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set)
	if err := r.startTelemetry(); err != nil {
		return fmt.Errorf("start kernel_events receiver: component telemetry: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.readDone = make(chan struct{})
	r.emitDone = make(chan struct{})
	if r.logs != nil {
		lbc := metadata.LogsBuilderConfig{Events: r.cfg.Events, ResourceAttributes: r.cfg.ResourceAttributes}
		r.evidence = newEvidence(r.cfg.Evidence, lbc, r.set, probe.MonotonicOffset(), r.resource)
		r.evidence.spiffe = spiffe != nil
		r.evidence.counts = r.evidenceCounts
		if key != nil {
			r.evidence.setKey(key)
		}
		if r.svid != nil {
			r.evidence.svid = r.svid.Current
		}
		if f := r.cfg.Evidence.StateFile; f != "" {
			prev, err := readState(f)
			if err != nil {
				r.set.Logger.Warn("Cannot read the previous evidence stream's last checkpoint: this stream names none",
					zap.String("evidence::state_file", f), zap.Error(err))
			}
			r.evidence.previous = prev
		}
		r.set.Logger.Info("Evidence stream", zap.String("stream", r.evidence.stream), zap.Bool("signed", r.evidence.key != nil || r.svid != nil),
			zap.String("previous", r.evidence.previous))
		r.logsDone = make(chan struct{})
		logsCtx, logsCancel := context.WithCancel(ctx)
		r.logsCancel = logsCancel
		every(logsCtx, r.cfg.Evidence.FlushInterval, r.logsDone, r.flushTick)
	}
	if err := r.resolver.Start(r.deliver); err != nil {
		r.set.Logger.Warn("Not watching the cgroup v2 tree for new containers: a container whose runtime removes its cgroup before the lookup of its files keeps only its cgroup id",
			zap.Error(err))
	}
	go r.read()
	every(ctx, r.cfg.CollectionInterval, r.emitDone, r.emitTick)
	if r.rules != nil {
		r.rules.start(ctx, r.cfg.Identity.ReloadInterval)
	}
	return nil
}

// shutdown stops the emitters, emits a last time, and detaches everything.
func (r *kernelEventsReceiver) shutdown(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	<-r.emitDone
	r.stopTelemetry() // its callbacks read the probe, closed below
	if r.logsDone != nil {
		<-r.logsDone
	}
	if r.rules != nil {
		r.rules.wait()
	}
	// Detach the programs and let the reader take every sample still in the
	// ring (with batched wakeups up to wakeup::bytes of them wait there):
	// each is counted as received, none is dropped unseen. Then read the
	// kernel's counters, final now, while the maps are still open, and
	// close the probe.
	drainErr := r.probe.Drain()
	if drainErr != nil {
		r.set.Logger.Warn("Draining the ring buffer at shutdown", zap.Error(drainErr))
	}
	<-r.readDone
	r.resolver.Close() // delivers the samples still waiting for a lookup
	r.stopSpire()      // after the resolver's workers, which ask it
	r.stopPods()
	lost := r.readLosses()
	r.finalLosses = &lost
	err := r.probe.Close()
	if r.metrics != nil {
		r.emit(ctx, lost)
	}
	if r.evidence != nil && !r.evidence.ended() {
		r.flushLogs(ctx, true)
	}
	r.stopSVID() // after the final checkpoint, which it signs
	r.cancel = nil
	return err
}
