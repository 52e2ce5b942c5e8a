// SPDX-License-Identifier: Apache-2.0

package identity

// Resource attributes the resolver sets from a pod inventory
// (Options.Pods): the pod a creator's cgroup names, as the API server has
// it. The semantic conventions (1.38) have no attribute for a pod's
// ServiceAccount; k8s.serviceaccount.name follows their k8s.<kind>.name
// form (k8s.replicaset.name, k8s.cronjob.name).
const (
	AttrNamespace      = "k8s.namespace.name"
	AttrPodName        = "k8s.pod.name"
	AttrServiceAccount = "k8s.serviceaccount.name"
)

// Pod is what a pod inventory knows of one pod.
type Pod struct {
	Namespace, Name, ServiceAccount string
	// UID is the pod's uid (the cgroup path's).
	UID string
}

// PodSource maps a pod uid (from a creator's cgroup path) to its pod.
type PodSource interface {
	// Pod returns the pod with uid. It may wait a little for a pod it
	// does not know yet (one the API server only just bound to the node);
	// it runs on a resolver worker, never the reader. Each miss is the
	// source's to count.
	Pod(uid string) (Pod, bool)
}

// podAttrs adds the pod's names to attrs.
func podAttrs(p *Pod, attrs map[string]string) {
	if p.Namespace != "" {
		attrs[AttrNamespace] = p.Namespace
	}
	if p.Name != "" {
		attrs[AttrPodName] = p.Name
	}
	if p.ServiceAccount != "" {
		attrs[AttrServiceAccount] = p.ServiceAccount
	}
}
