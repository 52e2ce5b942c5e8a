// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kerneleventsreceiver

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/evidence/verify"
	"github.com/kernelevents/kernelevents/internal/spire"
	"github.com/kernelevents/kernelevents/internal/testutil"
)

// rawFrame is a gRPC message as its bytes (the fake Workload API encodes
// its answer by hand).
type rawFrame struct{ b []byte }

type rawFrameCodec struct{}

func (rawFrameCodec) Marshal(v any) ([]byte, error) { return v.(*rawFrame).b, nil }
func (rawFrameCodec) Unmarshal(b []byte, v any) error {
	v.(*rawFrame).b = append([]byte(nil), b...)
	return nil
}
func (rawFrameCodec) Name() string { return "proto" }
func appendField(b []byte, field uint64, v []byte) []byte {
	return append(binary.AppendUvarint(binary.AppendUvarint(b, field<<3|2), uint64(len(v))), v...)
}

// fakeWorkloadAPI serves svid on a Workload API socket: each
// FetchX509SVID stream gets one X509SVIDResponse {svids: [{spiffe_id,
// x509_svid, x509_svid_key}]} and is then held open.
func fakeWorkloadAPI(t *testing.T, svid *spire.SVID) string {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(svid.Key)
	require.NoError(t, err)
	var chainDER []byte
	for _, c := range svid.Chain {
		chainDER = append(chainDER, c.Raw...)
	}
	one := appendField(appendField(appendField(nil, 1, []byte(svid.ID)), 2, chainDER), 3, key)
	resp := appendField(nil, 1, one)
	socket := filepath.Join(testutil.TempDir(t), "workload.sock")
	l, err := net.Listen("unix", socket)
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodec(rawFrameCodec{}), grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		if m, _ := grpc.MethodFromServerStream(st); m != spire.WorkloadAPIMethod {
			return nil
		}
		if err := st.RecvMsg(&rawFrame{}); err != nil {
			return err
		}
		if err := st.SendMsg(&rawFrame{b: resp}); err != nil {
			return err
		}
		<-st.Context().Done()
		return nil
	}))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return socket
}

// TestFakeEvidenceSignedByWorkloadSVID: with
// evidence::signing_workload_socket, Start follows the collector's X.509
// SVID on the Workload API and the checkpoints are signed with it: the
// stream verifies against the SVID's CA, naming its SPIFFE ID as the
// signer. Shutdown stops following it.
func TestFakeEvidenceSignedByWorkloadSVID(t *testing.T) {
	const id = "spiffe://example.org/collector"
	svid, roots := testSVID(t, id, time.Now().Add(-time.Minute))
	cfg := fakeConfig()
	cfg.Evidence.SigningWorkloadSocket = fakeWorkloadAPI(t, svid)
	run := startFake(t, cfg, true, nil)
	require.NotNil(t, run.r.svid, "Start follows the SVID")
	run.src.push(sample("/signed/a/f"))
	run.waitDelivered(t, 1)
	run.r.flushLogs(context.Background(), true)
	var lines [][]byte
	for _, ld := range run.lsink.AllLogs() {
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, append(b, '\n'))
	}
	r := verifyLines(t, lines, verify.Options{Roots: roots})
	require.True(t, r.OK(), "the stream verifies")
	require.Len(t, r.Streams, 1)
	assert.Equal(t, uint64(1), r.Streams[0].SignedValid)
	assert.Equal(t, []string{chain.SVIDSignerPrefix + id}, r.Streams[0].Signers)
	run.stop()
	assert.Nil(t, run.r.svid, "Shutdown stops following the SVID")
}
