// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// SpireConfig makes the receiver ask the node's SPIRE agent, through its
// Delegated Identity API on the admin socket, for the SPIFFE IDs of each
// creating process. The SPIRE admin must list the collector's own SPIFFE ID
// in the agent's authorized_delegates and register an entry for it.
type SpireConfig struct {
	// AdminSocket is the agent's admin_socket_path; empty turns SPIRE off.
	AdminSocket string `mapstructure:"admin_socket"`
	// Timeout bounds one question to the agent. Default 2s.
	Timeout time.Duration `mapstructure:"timeout"`
	// CacheTTL bounds how long an answer about a process is reused (never
	// past the SVID's expiry, nor identity::cache_ttl): an entry the SPIRE
	// admin deletes stops being reported within it. Default 30s.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// RetryInterval: after the agent did not answer (or refused the
	// collector), lookups answer agent_unavailable (not_authorized) without
	// asking for this long. Default 5s.
	RetryInterval time.Duration `mapstructure:"retry_interval"`
	// Required: true fails Start when the agent does not answer or refuses
	// the collector; false (default) starts anyway, reports a recoverable
	// component status until the agent answers, and marks creations
	// meanwhile with their kernelevents.spiffe.status.
	Required bool `mapstructure:"required"`
}

// validate reports the problems of the spire block, each naming its key.
func (c *SpireConfig) validate() []error {
	if c.AdminSocket == "" {
		return nil
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("identity::spire::%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !filepath.IsAbs(c.AdminSocket) {
		bad("admin_socket", "%q must be an absolute path (the agent's admin_socket_path)", c.AdminSocket)
	}
	if c.Timeout <= 0 || c.Timeout > time.Minute {
		bad("timeout", "%v must be positive and at most 1m (a resolver worker waits this long for a silent agent)", c.Timeout)
	}
	if c.CacheTTL <= 0 {
		bad("cache_ttl", "must be positive")
	}
	if c.RetryInterval <= 0 {
		bad("retry_interval", "must be positive")
	}
	return errs
}

// startSpire connects the SPIRE client when configured and checks that the
// agent answers and takes the collector as a delegate. Required: a failed
// check fails Start. Otherwise it reports a recoverable status and checks
// again every retry_interval until the agent answers.
func (r *kernelEventsReceiver) startSpire() (identity.SPIFFESource, error) {
	sc := r.cfg.Identity.Spire
	if sc.AdminSocket == "" {
		return nil, nil
	}
	c, err := spire.New(spire.Options{Socket: sc.AdminSocket, Timeout: sc.Timeout, CacheTTL: sc.CacheTTL, RetryInterval: sc.RetryInterval})
	if err != nil {
		return nil, fmt.Errorf("identity::spire::admin_socket: %w", err)
	}
	err = c.Check()
	if err == nil {
		r.set.Logger.Info("SPIRE agent takes the collector as a delegate: creations carry the SPIFFE IDs it issued",
			zap.String("admin_socket", sc.AdminSocket))
		r.spire = c
		return c, nil
	}
	if sc.Required {
		c.Close()
		return nil, fmt.Errorf("identity::spire (required): %w", err)
	}
	r.set.Logger.Warn("SPIRE agent not usable yet: creations carry kernelevents.spiffe.status until it answers",
		zap.String("admin_socket", sc.AdminSocket), zap.Error(err))
	componentstatus.ReportStatus(r.host, componentstatus.NewRecoverableErrorEvent(fmt.Errorf("identity::spire: %w", err)))
	r.spire = c
	r.spireDone = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	r.spireCancel = cancel
	go func() {
		defer close(r.spireDone)
		t := time.NewTicker(sc.RetryInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.Check(); err == nil {
					r.set.Logger.Info("SPIRE agent now takes the collector as a delegate", zap.String("admin_socket", sc.AdminSocket))
					componentstatus.ReportStatus(r.host, componentstatus.NewEvent(componentstatus.StatusOK))
					return
				}
			}
		}
	}()
	return c, nil
}

// stopSpire waits for the start-up checker and closes the client.
func (r *kernelEventsReceiver) stopSpire() {
	if r.spireDone != nil {
		r.spireCancel()
		<-r.spireDone
		r.spireDone = nil
	}
	if r.spire != nil {
		r.spire.Close()
		r.spire = nil
	}
}

// svidWait bounds how long Start waits for the collector's first X.509
// SVID (evidence::signing_workload_socket): a SPIRE agent issues it within
// seconds of its first sync with the server.
const svidWait = time.Minute

// watchSVID follows the collector's own X.509 SVID on the Workload API
// socket and waits for the first one.
func (r *kernelEventsReceiver) watchSVID(socket string) (*spire.SVIDSource, error) {
	src, err := spire.WatchSVID(socket, time.Second, func(err error) {
		r.set.Logger.Warn("The Workload API stream of the collector's X.509 SVID failed; reopening it (checkpoints are signed with the newest SVID while it is valid)",
			zap.String("evidence::signing_workload_socket", socket), zap.Error(err))
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), svidWait)
	defer cancel()
	s, err := src.Wait(ctx)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", socket, err)
	}
	r.set.Logger.Info("Evidence checkpoints are signed with the collector's X.509 SVID", zap.String("spiffe_id", s.ID),
		zap.Time("expires", s.Chain[0].NotAfter))
	return src, nil
}

// stopSVID stops following the SVID.
func (r *kernelEventsReceiver) stopSVID() {
	if r.svid != nil {
		r.svid.Close()
		r.svid = nil
	}
}

// appendSpiffe adds the SPIFFE facts known at the creation to an evidence
// record's options, so that the record alone says which identity created
// the file.
func appendSpiffe(opts []metadata.EventAttributeOption, f *identity.Facts) []metadata.EventAttributeOption {
	st := f.SPIFFE.Status
	if st == "" {
		// Attributed from the caches alone (kernel.identity.unresolved).
		st = identity.SPIFFENotLookedUp
	}
	opts = append(opts, metadata.WithKerneleventsRecordSpiffeStatusEventAttribute(string(st)))
	if !f.SPIFFE.Issued() {
		return opts
	}
	opts = append(opts, metadata.WithSpiffeIDEventAttribute(f.SPIFFE.IDs[0]))
	if len(f.SPIFFE.IDs) > 1 {
		ids := make([]any, len(f.SPIFFE.IDs))
		for i, id := range f.SPIFFE.IDs {
			ids[i] = id
		}
		opts = append(opts, metadata.WithKerneleventsSpiffeIdsEventAttribute(ids))
	}
	if f.SPIFFE.Hint != "" {
		opts = append(opts, metadata.WithKerneleventsSpiffeHintEventAttribute(f.SPIFFE.Hint))
	}
	return opts
}
