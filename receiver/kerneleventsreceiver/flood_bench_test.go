// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/stretchr/testify/require"

	"github.com/kernelevents/kernelevents/internal/identity"
	"github.com/kernelevents/kernelevents/internal/testutil"
	"github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver/internal/metadata"
)

// floodScript makes, for i in [from, to), the docker-layout cgroup of
// churnID(i), and starts a process (a forked shell) that moves itself into
// it and creates a file: a new process in a new cgroup, as fast as the shell
// goes. Shells, not the test process, so that the receiver's goroutines do
// not share a Go runtime with the load.
const floodScript = `root=$1; dir=$2; i=$3; stride=$4; stop=$5
zeros=0000000000000000000000000000000000000000000000000
n=0
while [ ! -e $stop ]; do
  cg=$root/docker/c0ffee$zeros$((100000000+i))
  mkdir $cg
  ( echo 0 > $cg/cgroup.procs; : > $dir/n$i ) &
  i=$((i+stride)); n=$((n+1))
done
wait
echo $n
`

// BenchmarkNewCgroupFlood: for 10 s, new processes, each born in a new
// cgroup (docker's layout) and creating a file, from three shells as fast as
// they go (the aim is 2,000 per second), while another process creates and
// unlinks files as fast as it can. Every new process is a lookup
// the reader must not wait for. Reported: the rates reached, samples lost
// (kernel and receiver, every reason), the reader's lag behind the ring
// buffer (the sample's kernel timestamp to its read; wakeups are batched up
// to wakeup::max_latency, 100 ms) and the lookup's (read to counted), and
// how many new containers were named.
//
//	go test -run '^$' -bench BenchmarkNewCgroupFlood -benchtime 1x ./receiver/kerneleventsreceiver/
func BenchmarkNewCgroupFlood(b *testing.B) {
	testutil.RequireRoot(b)
	testutil.RequireTracefs(b)
	const d = 10 * time.Second
	const shells = 3
	const maxN = 200_000
	for b.Loop() {
		dir := testutil.TempDir(b)
		script := filepath.Join(dir, "flood.sh")
		if err := os.WriteFile(script, []byte(floodScript), 0o644); err != nil {
			b.Fatal(err)
		}
		root := filepath.Join(identity.CgroupV2Root(), "kernelevents-flood-"+strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(filepath.Join(root, "docker"), 0o755); err != nil {
			b.Fatal(err)
		}
		cfg := testConfig(filepath.Join(dir, "files"))
		if err := os.Mkdir(filepath.Join(dir, "files"), 0o755); err != nil {
			b.Fatal(err)
		}
		cfg.CollectionInterval = time.Second
		cfg.SeriesTTL = 2 * time.Second
		cfg.MaxSeries = 200_000
		cfg.Identity.CgroupRoot = root // the containers' "hierarchy root" is the test's subtree
		sink := &churnSink{seen: make([]bool, maxN), last: map[string]int64{}}
		next, _ := consumer.NewMetrics(sink.consume)
		rcv, err := kernelFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, next)
		if err != nil {
			b.Fatal(err)
		}
		if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			b.Fatal(err)
		}
		r := rcv.(*handle).r

		var churned testutil.Child
		var churnErr error
		churnDone := make(chan struct{})
		go func() {
			defer close(churnDone)
			// Not RunChild: b.Fatal must not run on this goroutine.
			churned, churnErr = testutil.RunChildErr(testutil.ChildSpec{Dir: filepath.Join(dir, "files"), Ops: []testutil.Op{{Kind: testutil.OpChurn, Path: "churn", For: d.String(), Spread: 4}}})
		}()
		stop := filepath.Join(dir, "stop")
		start := time.Now()
		var cmds []*exec.Cmd
		var outs []*strings.Builder
		for k := range shells {
			cmd := exec.Command("/bin/busybox", "sh", script, root, filepath.Join(dir, "files"), strconv.Itoa(k), strconv.Itoa(shells), stop)
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		time.Sleep(d)
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		n := 0
		for k, c := range cmds {
			if err := c.Wait(); err != nil {
				b.Error(err)
			}
			m, err := strconv.Atoi(strings.TrimSpace(outs[k].String()))
			if err != nil {
				b.Fatalf("shell %d: %v", k, err)
			}
			n += m
		}
		n = min(n, maxN)
		load, _ := os.ReadFile("/proc/loadavg")
		spawnTime := time.Since(start)
		<-churnDone
		require.NoError(b, churnErr)
		require.Eventually(b, func() bool { return r.received.Load() <= uint64(r.idLag.n.Load()) && r.resolver.Stats().Pending == 0 },
			time.Minute, 10*time.Millisecond, "samples still waiting for identity")
		e := r.emits.Load()
		require.Eventually(b, func() bool { return r.emits.Load() >= e+2 }, time.Minute, 10*time.Millisecond, "the last series emitted")
		lost, _ := r.probe.LostByReason()
		readerMax, readerMean := r.lag.snapshot()
		lookupMax, lookupMean := r.idLag.snapshot()
		received := r.received.Load()
		st := r.resolver.Stats()
		if err := rcv.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
		made, _ := os.ReadDir(filepath.Join(root, "docker"))
		for _, m := range made {
			os.Remove(filepath.Join(root, "docker", m.Name()))
		}
		os.Remove(filepath.Join(root, "docker"))
		os.Remove(root)
		var lostSum uint64
		for _, v := range lost {
			lostSum += v
		}
		lostSum += r.malformed.Load()
		identified := 0 // the shells' indices interleave: count them all
		for i := range maxN {
			if sink.identified(i) {
				identified++
			}
		}
		b.ReportMetric(float64(n)/spawnTime.Seconds(), "newcgroups/s")
		b.ReportMetric(float64(churned.Churned)/d.Seconds(), "churn-files/s")
		b.ReportMetric(float64(lostSum), "lost")
		b.ReportMetric(float64(readerMax)/1e6, "reader-lag-max-ms")
		b.ReportMetric(float64(readerMean)/1e6, "reader-lag-mean-ms")
		b.ReportMetric(float64(lookupMax)/1e6, "lookup-lag-max-ms")
		b.ReportMetric(float64(lookupMean)/1e6, "lookup-lag-mean-ms")
		b.ReportMetric(float64(identified), "identified")
		b.Logf("load average %s; %d new cgroups in %v, churn %d files in %v; received %d; lost %v malformed %d; reader lag max %v mean %v; lookup lag max %v mean %v; identified %d of %d; unresolved %d",
			strings.TrimSpace(string(load)), n, spawnTime.Round(time.Millisecond), churned.Churned, d, received, lost, r.malformed.Load(),
			readerMax, readerMean, lookupMax, lookupMean, identified, n, st.Unresolved)
		fmt.Fprintln(os.Stderr)
	}
}
