// SPDX-License-Identifier: Apache-2.0

package k8spods

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kernelevents/kernelevents/internal/identity"
)

func pod(uid, ns, name, node, sa string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{NodeName: node, ServiceAccountName: sa},
	}
}

// The inventory lists the node's pods, follows the watch (a pod created
// after start is found, one a lookup already waits for too), keeps a
// deleted pod for its grace, ignores other nodes' pods, and counts each
// miss.
func TestInventoryFollowsTheNodesPods(t *testing.T) {
	c := fake.NewClientset(pod("u1", "ke-apps", "web-1", "n1", "ke-writer"), pod("u2", "other", "x", "n2", "sa"))
	inv, err := New(Options{Client: c, NodeName: "n1", Wait: 3 * time.Second, Grace: time.Hour})
	require.NoError(t, err)
	require.True(t, inv.Start(10*time.Second))
	defer inv.Close()

	p, ok := inv.Pod("u1")
	require.True(t, ok)
	assert.Equal(t, identity.Pod{Namespace: "ke-apps", Name: "web-1", ServiceAccount: "ke-writer"}, p)

	// A lookup waiting for a pod the watch has not brought yet.
	got := make(chan identity.Pod)
	go func() { p, _ := inv.Pod("u3"); got <- p }()
	time.Sleep(100 * time.Millisecond)
	_, err = c.CoreV1().Pods("ke-batch").Create(context.Background(), pod("u3", "ke-batch", "job-abc", "n1", ""), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, identity.Pod{Namespace: "ke-batch", Name: "job-abc", ServiceAccount: "default"}, <-got)

	// Deleted: still answered within its grace, forgotten after.
	require.NoError(t, c.CoreV1().Pods("ke-apps").Delete(context.Background(), "web-1", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		return !inv.pods["u1"].deleted.IsZero()
	}, 5*time.Second, 10*time.Millisecond)
	_, ok = inv.Pod("u1")
	assert.True(t, ok)
	inv.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	inv.Sweep()

	inv.opts.Wait = 50 * time.Millisecond
	_, ok = inv.Pod("u1")
	assert.False(t, ok)
	// Another node's pod is not this node's (the fake ignores the field
	// selector; the API server applies it).
	_, ok = inv.Pod("u2")
	assert.False(t, ok)
	assert.Equal(t, map[string]uint64{ReasonNotFound: 2, ReasonAPIError: 0}, inv.Counts())
	assert.Equal(t, 1, inv.Len())
}

// A list the API server refuses is counted, and Start says the inventory
// is not filled.
func TestInventoryCountsAPIErrors(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("pods is forbidden")
	})
	inv, err := New(Options{Client: c, NodeName: "n1"})
	require.NoError(t, err)
	assert.False(t, inv.Start(time.Second))
	inv.Close()
	assert.Positive(t, inv.Counts()[ReasonAPIError])
}

func TestInventoryNeedsANode(t *testing.T) {
	_, err := New(Options{Client: fake.NewClientset()})
	assert.Error(t, err)
}
