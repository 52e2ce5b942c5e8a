// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/k8spods"
)

// startPods starts the pod inventory when configured. A first list that
// does not complete in time is not fatal: the inventory keeps trying, the
// receiver reports a recoverable status, and each failure is counted in
// kernel.pod_inventory.errors.
func (r *kernelEventsReceiver) startPods() (identity.PodSource, error) {
	kc := r.cfg.Identity.Kubernetes
	if kc.NodeName == "" {
		return nil, nil
	}
	inv, err := k8spods.New(k8spods.Options{NodeName: kc.NodeName, Kubeconfig: kc.Kubeconfig, Wait: kc.Wait})
	if err != nil {
		return nil, fmt.Errorf("identity::kubernetes: %w", err)
	}
	r.pods = inv
	if inv.Start(10 * time.Second) {
		r.set.Logger.Info("Pod inventory listed: creations in pods carry their namespace, name and ServiceAccount",
			zap.String("node_name", kc.NodeName), zap.Int("pods", inv.Len()))
		return inv, nil
	}
	err = fmt.Errorf("identity::kubernetes: the API server did not list node %s's pods within 10s (still trying; kernel.pod_inventory.errors counts failures)", kc.NodeName)
	r.set.Logger.Warn("Pod inventory not listed yet", zap.Error(err))
	componentstatus.ReportStatus(r.host, componentstatus.NewRecoverableErrorEvent(err))
	return inv, nil
}

// stopPods stops the inventory's watch.
func (r *kernelEventsReceiver) stopPods() {
	if r.pods != nil {
		r.pods.Close()
		r.pods = nil
	}
}
