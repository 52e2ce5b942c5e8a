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

// KubernetesConfig makes the receiver keep an inventory of the node's pods
// from the Kubernetes API server (list and watch of the pods bound to
// NodeName), and name each creator's pod, found by the pod uid in its
// cgroup path: k8s.namespace.name, k8s.pod.name and the pod's ServiceAccount,
// k8s.serviceaccount.name. It needs get, list and watch on pods
// (deploy/kubernetes/rbac.yaml). Off unless node_name is set.
type KubernetesConfig struct {
	// NodeName is the node this collector runs on (in a DaemonSet, from
	// the downward API: ${env:K8S_NODE_NAME}); empty turns the inventory
	// off.
	NodeName string `mapstructure:"node_name"`
	// Kubeconfig is a kubeconfig file to reach the API server with; empty:
	// the pod's ServiceAccount token (in-cluster).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Wait bounds how long a lookup (on a resolver worker, never the
	// reader) waits for the watch to bring a pod it does not know yet.
	// Default 2s.
	Wait time.Duration `mapstructure:"wait"`
}

// validate reports the problems of the kubernetes block, each naming its key.
func (c *KubernetesConfig) validate() []error {
	if c.NodeName == "" {
		if c.Kubeconfig != "" {
			return []error{fmt.Errorf("identity::kubernetes::node_name: must be set with kubeconfig (the pods of which node?)")}
		}
		return nil
	}
	if c.Wait <= 0 || c.Wait > time.Minute {
		return []error{fmt.Errorf("identity::kubernetes::wait: %v must be positive and at most 1m (a resolver worker waits this long for an unknown pod)", c.Wait)}
	}
	return nil
}

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
