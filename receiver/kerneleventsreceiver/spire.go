// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// startSpire connects the SPIRE client when configured and checks that the
// agent answers and takes the collector as a delegate. Required: a failed
// check fails Start. Otherwise it reports a recoverable status and checks
// again every retry_interval until the agent answers.
func (r *kernelEventsReceiver) startSpire() (identity.SPIFFESource, error) {
	sc := r.cfg.Identity.Spire
	if sc.AdminSocket == "" {
		return nil, nil
	}
	c, err := spire.New(r.cfg.spireOptions())
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
	every(ctx, sc.RetryInterval, r.spireDone, func(context.Context) bool {
		if err := c.Check(); err != nil {
			return true
		}
		r.set.Logger.Info("SPIRE agent now takes the collector as a delegate", zap.String("admin_socket", sc.AdminSocket))
		componentstatus.ReportStatus(r.host, componentstatus.NewEvent(componentstatus.StatusOK))
		return false
	})
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
// record's options (and to its chain form, fm), so that the record alone
// says which identity created the file.
func appendSpiffe(opts []metadata.EventAttributeOption, fm *chain.Form, f *identity.Facts) []metadata.EventAttributeOption {
	st := f.SPIFFE.Status
	if st == "" {
		// Attributed from the caches alone (kernel.identity.unresolved).
		st = identity.SPIFFENotLookedUp
	}
	opts = append(opts, metadata.WithKerneleventsRecordSpiffeStatusEventAttribute(string(st)))
	fm.Str("kernelevents.spiffe.status", string(st))
	if !f.SPIFFE.Issued() {
		return opts
	}
	opts = append(opts, metadata.WithSpiffeIDEventAttribute(f.SPIFFE.IDs[0]))
	fm.Str("spiffe.id", f.SPIFFE.IDs[0])
	if len(f.SPIFFE.IDs) > 1 {
		ids := make([]any, len(f.SPIFFE.IDs))
		for i, id := range f.SPIFFE.IDs {
			ids[i] = id
		}
		opts = append(opts, metadata.WithKerneleventsSpiffeIdsEventAttribute(ids))
		fm.Strs("kernelevents.spiffe.ids", f.SPIFFE.IDs)
	}
	if f.SPIFFE.Hint != "" {
		opts = append(opts, metadata.WithKerneleventsSpiffeHintEventAttribute(f.SPIFFE.Hint))
		fm.Str("kernelevents.spiffe.hint", f.SPIFFE.Hint)
	}
	return opts
}
