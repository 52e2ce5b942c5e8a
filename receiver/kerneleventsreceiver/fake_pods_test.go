// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"golang.org/x/sys/unix"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// fakeAPI is a fake Kubernetes API server and what it has seen.
type fakeAPI struct {
	*httptest.Server
	lists   atomic.Int64 // list requests answered
	watches atomic.Int64 // watches open now
}

// fakeAPIServer speaks just enough of the Kubernetes API for the pod
// inventory: the list of the pods bound to node (only with that field
// selector: any other request is refused) and a watch held open until the
// client goes. status other than 200 answers every request with it.
func fakeAPIServer(t *testing.T, node, podList string, status int) *fakeAPI {
	t.Helper()
	api := &fakeAPI{}
	lists := &api.lists
	closing := make(chan struct{}) // ends watches a client left open
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if status != http.StatusOK {
			lists.Add(1)
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`, status)
			return
		}
		if req.URL.Path != "/api/v1/pods" || q.Get("fieldSelector") != "spec.nodeName="+node {
			http.Error(w, "unexpected request "+req.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if q.Get("watch") == "true" || q.Get("watch") == "1" {
			if q.Get("sendInitialEvents") == "true" {
				// No streamed initial list: the client falls back to LIST.
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}`)
				return
			}
			api.watches.Add(1)
			defer api.watches.Add(-1)
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select { // held open: no changes
			case <-req.Context().Done():
			case <-closing:
			}
			return
		}
		lists.Add(1)
		fmt.Fprint(w, podList)
	}))
	api.Server = srv
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(closing) }) // first
	return api
}

// kubeconfig writes a kubeconfig file naming server.
func kubeconfig(t *testing.T, server string) string {
	t.Helper()
	file := filepath.Join(testutil.TempDir(t), "kubeconfig")
	require.NoError(t, os.WriteFile(file, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+server+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
	return file
}

// TestFakePodInventory: with identity::kubernetes, the receiver lists its
// node's pods from the API server its kubeconfig names (the list filtered
// to spec.nodeName by the server); a sample whose cgroup (here found by the
// cgroup watcher under identity::cgroup_root) names a pod uid of that list
// gets the pod's namespace, name, uid and ServiceAccount on its resource,
// and a uid the list does not have is counted as pod_not_found with the uid
// alone on its resource. The inventory then watches the node's pods, and
// Shutdown ends that watch.
func TestFakePodInventory(t *testing.T) {
	const uid = "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"
	const other = "11111111-2222-3333-4444-555555555555"
	srv := fakeAPIServer(t, "node-a", `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[
		{"metadata":{"name":"web-0","namespace":"shop","uid":"`+uid+`","resourceVersion":"6"},
		 "spec":{"nodeName":"node-a","serviceAccountName":"web-sa"}}]}`, http.StatusOK)
	root := testutil.TempDir(t)
	ids := map[string]uint64{}
	for _, u := range []string{uid, other} {
		dir := filepath.Join(root, "kubepods", "burstable", "pod"+u)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		var st unix.Stat_t
		require.NoError(t, unix.Stat(dir, &st))
		ids[u] = st.Ino
	}
	cfg := fakeConfig()
	cfg.Identity.CgroupRoot = root
	cfg.Identity.Kubernetes = KubernetesConfig{NodeName: "node-a", Kubeconfig: kubeconfig(t, srv.URL), Wait: 10 * time.Millisecond}
	host := &statusHost{}
	run := startFake(t, cfg, false, host)
	assert.Positive(t, srv.lists.Load(), "Start listed the node's pods")
	for _, ev := range host.events {
		assert.NotEqual(t, componentstatus.StatusRecoverableError, ev.Status(), "%v", ev.Err())
	}

	in := sample("/pod/a/f")
	in.CgroupID = ids[uid]
	run.src.push(in)
	gone := sample("/gone/a/f")
	gone.CgroupID = ids[other]
	run.src.push(gone)
	run.waitDelivered(t, 2)
	batch := run.emit(t)
	res := resources(run.msink)
	require.Contains(t, res, "/pod/a")
	assert.Equal(t, "shop", res["/pod/a"]["k8s.namespace.name"])
	assert.Equal(t, "web-0", res["/pod/a"]["k8s.pod.name"])
	assert.Equal(t, "web-sa", res["/pod/a"]["k8s.serviceaccount.name"])
	assert.Equal(t, uid, res["/pod/a"]["k8s.pod.uid"])
	require.Contains(t, res, "/gone/a")
	assert.Equal(t, other, res["/gone/a"]["k8s.pod.uid"])
	assert.NotContains(t, res["/gone/a"], "k8s.pod.name")
	assert.Equal(t, map[string]int64{"pod_not_found": 1, "api_error": 0}, podErrors(batch))

	require.Eventually(t, func() bool { return srv.watches.Load() == 1 }, 10*time.Second, time.Millisecond,
		"the inventory watches the node's pods after its list")
	run.stop()
	assert.Nil(t, run.r.pods, "Shutdown stops the inventory")
	require.Eventually(t, func() bool { return srv.watches.Load() == 0 }, 10*time.Second, time.Millisecond,
		"Shutdown ends the watch")
}

// TestFakePodInventoryAPIError: an API server answering 500 does not fail
// Start: the receiver reports a recoverable status naming
// identity::kubernetes and the node, and counts the failed lists in
// kernel.pod_inventory.errors{api_error}.
func TestFakePodInventoryAPIError(t *testing.T) {
	srv := fakeAPIServer(t, "node-b", "", http.StatusInternalServerError)
	cfg := fakeConfig()
	cfg.Identity.Kubernetes = KubernetesConfig{NodeName: "node-b", Kubeconfig: kubeconfig(t, srv.URL), Wait: 10 * time.Millisecond}
	host := &statusHost{}
	run := startFake(t, cfg, false, host) // waits the 10s of the first list
	assert.Positive(t, srv.lists.Load())
	var recoverable error
	host.mu.Lock()
	for _, ev := range host.events {
		if ev.Status() == componentstatus.StatusRecoverableError {
			recoverable = ev.Err()
		}
	}
	host.mu.Unlock()
	require.Error(t, recoverable, "a recoverable status")
	assert.ErrorContains(t, recoverable, "identity::kubernetes")
	assert.ErrorContains(t, recoverable, "node node-b's pods")
	got := podErrors(run.emit(t))
	assert.Positive(t, got["api_error"], "%v", got)
	assert.Zero(t, got["pod_not_found"])
}

// podErrors returns kernel.pod_inventory.errors by reason.
func podErrors(batch map[string][]point) map[string]int64 {
	out := map[string]int64{}
	for _, p := range batch["kernel.pod_inventory.errors"] {
		out[p.attrs["kernelevents.pod_inventory.error"].(string)] = p.value
	}
	return out
}
