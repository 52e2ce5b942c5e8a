package kerneleventsreceiver

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// creationsByResource sums kernel.file.creations in the newest batch by
// resource, keyed "k=v,k=v" with keys sorted.
func creationsByResource(sink *consumertest.MetricsSink) map[string]int64 {
	all := sink.AllMetrics()
	out := map[string]int64{}
	if len(all) == 0 {
		return out
	}
	rms := all[len(all)-1].ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		var kv []string
		for k, v := range rms.At(i).Resource().Attributes().All() {
			kv = append(kv, k+"="+v.AsString())
		}
		sort.Strings(kv)
		key := strings.Join(kv, ",")
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() != "kernel.file.creations" {
					continue
				}
				dps := ms.At(k).Sum().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					out[key] += dps.At(l).IntValue()
				}
			}
		}
	}
	return out
}

func waitTotal(t *testing.T, sink *consumertest.MetricsSink, want int64) map[string]int64 {
	t.Helper()
	var got map[string]int64
	require.Eventually(t, func() bool {
		got = creationsByResource(sink)
		var total int64
		for _, v := range got {
			total += v
		}
		return total == want
	}, 20*time.Second, 50*time.Millisecond, "creations never reached %d: %v", want, got)
	return got
}

const (
	testPodUID = "0f6c2f2e-1b2c-4d5e-8f90-123456789abc"
	cidA       = "aaaa5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
	cidB       = "bbbb5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
)

// TestIdentityOnResource puts children in real cgroups named like a
// containerd (Kubernetes) and a docker container, and one as another user:
// the container id, pod uid and matching rule attributes arrive on the
// resource; the unmatched one gets the unmatched value.
func TestIdentityOnResource(t *testing.T) {
	dir := tempDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	cgA, pathA := testutil.MakeCgroup(t, "kubepods/besteffort/pod"+testPodUID+"/cri-containerd-"+cidA+".scope")
	cgB, pathB := testutil.MakeCgroup(t, "docker/"+cidB)

	cfg := testConfig(dir)
	cfg.Identity.Rules = []identity.Rule{
		{Name: "payments", Match: identity.Match{ContainerID: cidA[:12] + "*"}, Attributes: map[string]string{"team": "payments", "spiffe.id": "spiffe://example.org/payments"}},
		{Name: "nobody-tests", Match: identity.Match{UID: ptr(uint32(65534)), Executable: testutil.Exe()}, Attributes: map[string]string{"service.account": "nobody-sa"}},
	}
	sink, stop := startReceiver(t, cfg)

	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cgA, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "a1"}, {Kind: testutil.OpOpenat, Path: "a2"}}})
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Cgroup: cgB, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "b1"}}})
	// The executable is read from /proc/<pid>/exe: this child stays alive
	// until its sample has been read. The two above exit at once and are
	// still attributed through the cgroup id the kernel sample carries.
	testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: "c1"}, {Kind: testutil.OpSleep, Path: "500ms"}}}.AsUser(65534, 65534))
	waitTotal(t, sink, 4)
	stop()

	got := creationsByResource(sink)
	want := map[string]int64{
		"container.id=" + cidA + ",k8s.pod.uid=" + testPodUID + ",kernelevents.cgroup.path=" + pathA + ",kernelevents.identity.rule=payments,spiffe.id=spiffe://example.org/payments,team=payments": 2,
		"container.id=" + cidB + ",kernelevents.cgroup.path=" + pathB + ",kernelevents.identity.rule=unmatched":                                                                                     1,
		"kernelevents.identity.rule=nobody-tests,service.account=nobody-sa":                                                                                                                         1,
	}
	assert.Equal(t, want, got)
}

func ptr[T any](v T) *T { return &v }

// TestIdentityRulesFileReload: a good change applies without restart, a bad
// one keeps the rules in force.
func TestIdentityRulesFileReload(t *testing.T) {
	dir := tempDir(t)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(body string) {
		// Write to a temp file and rename, as config management does.
		tmp := rulesFile + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(body), 0o644))
		require.NoError(t, os.Rename(tmp, rulesFile))
	}
	rule := func(team string) string {
		return fmt.Sprintf("rules:\n  - name: root\n    match: {uid: 0, comm: %s}\n    attributes: {team: %s}\n", testutil.ChildComm, team)
	}
	write(rule("alpha"))

	cfg := testConfig(dir)
	cfg.Identity.RulesFile = rulesFile
	cfg.Identity.ReloadInterval = 50 * time.Millisecond
	sink, stop := startReceiver(t, cfg)
	create := func(name string) {
		testutil.RunChild(t, testutil.ChildSpec{Dir: dir, Ops: []testutil.Op{{Kind: testutil.OpOpenat, Path: name}}})
	}

	create("f1")
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=root,team=alpha": 1}, waitTotal(t, sink, 1))

	write(rule("beta-team"))
	time.Sleep(300 * time.Millisecond)
	create("f2")
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=root,team=alpha": 1, "kernelevents.identity.rule=root,team=beta-team": 1}, waitTotal(t, sink, 2))

	write("rules:\n  - match: {uid: 0}\n") // no attributes: refused
	time.Sleep(300 * time.Millisecond)
	create("f3")
	assert.Equal(t, map[string]int64{"kernelevents.identity.rule=root,team=alpha": 1, "kernelevents.identity.rule=root,team=beta-team": 2}, waitTotal(t, sink, 3))
	stop()
}

func TestIdentityConfigErrorsNameRule(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Identity.Rules = []identity.Rule{
		{Match: identity.Match{Comm: "ok"}, Attributes: map[string]string{"team": "x"}},
		{Match: identity.Match{Executable: "relative/path"}, Attributes: map[string]string{"team": "x"}},
	}
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "identity::rules[1]::match::executable:")
}
