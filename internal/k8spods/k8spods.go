// SPDX-License-Identifier: Apache-2.0

// Package k8spods keeps the inventory of the pods bound to one node, from
// the Kubernetes API server (a list, then a watch, of pods with
// spec.nodeName=<node>), and answers which pod a uid is: its namespace,
// name and ServiceAccount (spec.serviceAccountName). The receiver's identity
// stage asks it for the pod uid a creator's cgroup path names
// (identity::kubernetes).
//
// Why the API server and not the kubelet's /pods: listing and watching pods
// is what the k8s_attributes processor already needs (the shipped RBAC
// grants get/list/watch on pods), while the kubelet's API needs nodes/proxy,
// which also lets a client run commands in any pod of the node. The watch
// is filtered to the node by the API server, so each agent holds only its
// node's pods.
package k8spods // import "github.com/kernelevents/kernelevents/internal/k8spods"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kernelevents/kernelevents/internal/identity"
)

// Reasons of the inventory's errors, as counted (Counts).
const (
	// ReasonNotFound: a lookup of a pod uid the inventory did not know,
	// even after waiting Options.Wait for the watch to bring it (the pod's
	// creations then carry k8s.pod.uid without the pod's names).
	ReasonNotFound = "pod_not_found"
	// ReasonAPIError: a list or watch of the node's pods failed (the
	// inventory retries with back-off and keeps what it knew).
	ReasonAPIError = "api_error"
)

// Reasons lists every reason, for counters that report each.
var Reasons = []string{ReasonNotFound, ReasonAPIError}

// Options configure an Inventory.
type Options struct {
	// Client talks to the API server; nil: Kubeconfig, or in-cluster.
	Client kubernetes.Interface
	// Kubeconfig is a kubeconfig file; empty: the pod's ServiceAccount
	// (in-cluster configuration). Used only when Client is nil.
	Kubeconfig string
	// NodeName is the node whose pods are watched (required).
	NodeName string
	// Wait bounds how long a lookup of an unknown uid waits for the watch
	// to bring the pod: a container can create files before the agent's
	// watch has delivered its pod. Default 2s.
	Wait time.Duration
	// Grace keeps a deleted pod this long, for samples of its last
	// moments still waiting for their lookup. Default 1m.
	Grace time.Duration
}

type entry struct {
	pod     identity.Pod
	deleted time.Time // zero while the pod exists
}

// Inventory is the node's pods by uid.
type Inventory struct {
	opts     Options
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	pods    map[string]*entry
	changed chan struct{} // closed (and replaced) when a pod is added
	now     func() time.Time

	notFound, apiErrors atomic.Uint64
}

// DefaultOptions returns the inventory's defaults, the one source of them
// (the receiver's configuration defaults are taken from here): a lookup
// waits 2s for an unknown pod, a deleted pod is kept 1m.
func DefaultOptions() Options {
	return Options{Wait: 2 * time.Second, Grace: time.Minute}
}

// New returns an inventory of opts.NodeName's pods; Start fills it.
func New(opts Options) (*Inventory, error) {
	if opts.NodeName == "" {
		return nil, errors.New("no node name")
	}
	def := DefaultOptions()
	if opts.Wait <= 0 {
		opts.Wait = def.Wait
	}
	if opts.Grace <= 0 {
		opts.Grace = def.Grace
	}
	if opts.Client == nil {
		var cfg *rest.Config
		var err error
		if opts.Kubeconfig != "" {
			cfg, err = clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
		} else {
			cfg, err = rest.InClusterConfig()
		}
		if err != nil {
			return nil, fmt.Errorf("API server client: %w", err)
		}
		cfg.UserAgent = "kernelevents-pod-inventory"
		if opts.Client, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, fmt.Errorf("API server client: %w", err)
		}
	}
	inv := &Inventory{opts: opts, pods: map[string]*entry{}, changed: make(chan struct{}), now: time.Now}
	sel := fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
	pods := opts.Client.CoreV1().Pods(metav1.NamespaceAll)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return pods.Watch(ctx, o)
		},
	}
	// The wrapper tells the reflector whether the client can stream the
	// initial list (WatchList): a real API server can, a test's fake not.
	inv.informer = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, opts.Client), &corev1.Pod{}, 0, cache.Indexers{})
	// Hold only what lookups need: a node's pods with their whole specs
	// and statuses would be most of the inventory's memory.
	if err := inv.informer.SetTransform(slim); err != nil {
		return nil, err
	}
	if err := inv.informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		inv.apiErrors.Add(1)
		cache.DefaultWatchErrorHandler(ctx, r, err)
	}); err != nil {
		return nil, err
	}
	if _, err := inv.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { inv.put(o) },
		UpdateFunc: func(_, o any) { inv.put(o) },
		DeleteFunc: inv.remove,
	}); err != nil {
		return nil, err
	}
	return inv, nil
}

// slim keeps a pod's uid, namespace, name, node and ServiceAccount.
func slim(o any) (any, error) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil // a DeletedFinalStateUnknown: remove unwraps it
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{UID: p.UID, Namespace: p.Namespace, Name: p.Name, ResourceVersion: p.ResourceVersion},
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName, ServiceAccountName: p.Spec.ServiceAccountName},
	}, nil
}

func (inv *Inventory) put(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok || p.Spec.NodeName != inv.opts.NodeName {
		return
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		// The API server sets it on admission; an object without it
		// runs as its namespace's default.
		sa = "default"
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.pods[string(p.UID)] = &entry{pod: identity.Pod{Namespace: p.Namespace, Name: p.Name, ServiceAccount: sa}}
	close(inv.changed)
	inv.changed = make(chan struct{})
}

func (inv *Inventory) remove(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if e := inv.pods[string(p.UID)]; e != nil && e.deleted.IsZero() {
		e.deleted = inv.now()
	}
}

// Start lists the node's pods and keeps watching them until Close. It
// waits at most timeout for the first list: false when it did not complete
// (the API server unreachable or refusing: counted as api_error; the
// inventory keeps trying).
func (inv *Inventory) Start(timeout time.Duration) bool {
	ctx, cancel := context.WithCancel(context.Background())
	inv.cancel = cancel
	inv.done = make(chan struct{})
	go func() {
		defer close(inv.done)
		inv.informer.RunWithContext(ctx)
	}()
	go inv.sweep(ctx)
	wctx, wcancel := context.WithTimeout(ctx, timeout)
	defer wcancel()
	return cache.WaitForCacheSync(wctx.Done(), inv.informer.HasSynced)
}

// sweep forgets pods deleted more than Grace ago.
func (inv *Inventory) sweep(ctx context.Context) {
	t := time.NewTicker(inv.opts.Grace / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			inv.Sweep()
		}
	}
}

// Sweep forgets pods deleted more than Grace ago.
func (inv *Inventory) Sweep() {
	cutoff := inv.now().Add(-inv.opts.Grace)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for uid, e := range inv.pods {
		if !e.deleted.IsZero() && e.deleted.Before(cutoff) {
			delete(inv.pods, uid)
		}
	}
}

// Close stops the watch.
func (inv *Inventory) Close() {
	if inv.cancel != nil {
		inv.cancel()
		<-inv.done
		inv.cancel = nil
	}
}

// Pod returns the pod with uid, waiting up to Options.Wait for the watch
// to bring one it does not know yet; a miss is counted as pod_not_found.
func (inv *Inventory) Pod(uid string) (identity.Pod, bool) {
	timer := (*time.Timer)(nil)
	for {
		inv.mu.Lock()
		e, changed := inv.pods[uid], inv.changed
		inv.mu.Unlock()
		if e != nil {
			if timer != nil {
				timer.Stop()
			}
			return e.pod, true
		}
		if timer == nil {
			timer = time.NewTimer(inv.opts.Wait)
		}
		select {
		case <-changed:
		case <-timer.C:
			inv.notFound.Add(1)
			return identity.Pod{}, false
		}
	}
}

// Len is how many pods the inventory holds (deleted ones in their grace
// included).
func (inv *Inventory) Len() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return len(inv.pods)
}

// Counts returns the errors so far, by reason (every reason present).
func (inv *Inventory) Counts() map[string]uint64 {
	return map[string]uint64{ReasonNotFound: inv.notFound.Load(), ReasonAPIError: inv.apiErrors.Load()}
}
