// SPDX-License-Identifier: Apache-2.0

package spire

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
)

// SVID is an X.509 SVID the Workload API issued to this process: its
// SPIFFE ID, its certificate chain (leaf first) and its private key.
type SVID struct {
	ID    string
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// SVIDSource follows this process's own X.509 SVID on a SPIFFE Workload
// API socket (a SPIRE agent's socket_path): the agent attests the caller
// and pushes a new SVID on the same stream before the old one expires, so
// Current is always the newest. The stream is reopened after a failure.
// Safe for concurrent use.
type SVIDSource struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan struct{}
	first  chan struct{} // closed at the first SVID

	mu      sync.Mutex
	cur     *SVID
	lastErr error
	updates int
}

// WorkloadAPIMethod is the Workload API's X.509 SVID stream
// (spiffe/go-spiffe proto/spiffe/workload/workload.proto).
const WorkloadAPIMethod = "/SpiffeWorkloadAPI/FetchX509SVID"

// WatchSVID starts following the SVID on the Workload API socket (a path).
// onError, when not nil, is told each failure of the stream (it is reopened
// after retry, doubled up to 30s while it fails).
func WatchSVID(socket string, retry time.Duration, onError func(error)) (*SVIDSource, error) {
	if socket == "" {
		return nil, errors.New("no Workload API socket")
	}
	if retry <= 0 {
		retry = time.Second
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("workload API socket %s: %w", socket, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &SVIDSource{conn: conn, cancel: cancel, done: make(chan struct{}), first: make(chan struct{})}
	go s.follow(ctx, retry, onError)
	return s, nil
}

// Wait returns the first SVID, or an error naming the last failure when
// ctx ends before the agent issued one.
func (s *SVIDSource) Wait(ctx context.Context) (*SVID, error) {
	select {
	case <-s.first:
		return s.Current(), nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lastErr != nil {
			return nil, fmt.Errorf("no X.509 SVID from the Workload API: %w", s.lastErr)
		}
		return nil, fmt.Errorf("no X.509 SVID from the Workload API: %w", ctx.Err())
	}
}

// Current is the newest SVID, nil before the first.
func (s *SVIDSource) Current() *SVID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Updates is how many SVIDs the stream delivered (a rotation adds one).
func (s *SVIDSource) Updates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// Close stops following and closes the connection.
func (s *SVIDSource) Close() error {
	s.cancel()
	<-s.done
	return s.conn.Close()
}

func (s *SVIDSource) follow(ctx context.Context, retry time.Duration, onError func(error)) {
	defer close(s.done)
	wait := retry
	for {
		delivered, err := s.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			wait = retry
		}
		if err != nil {
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
			if onError != nil {
				onError(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// stream reads one FetchX509SVID stream until it fails; delivered is true
// when it gave an SVID.
func (s *SVIDSource) stream(ctx context.Context) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true"))
	defer cancel()
	st, err := s.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, WorkloadAPIMethod, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return false, err
	}
	if err := st.SendMsg(&rawMessage{}); err != nil { // X509SVIDRequest{}
		return false, err
	}
	if err := st.CloseSend(); err != nil {
		return false, err
	}
	for {
		var m rawMessage
		if err := st.RecvMsg(&m); err != nil {
			return delivered, err
		}
		svid, err := parseX509SVIDResponse(m.b)
		clear(m.b) // the private key's bytes
		if err != nil {
			return delivered, fmt.Errorf("workload API answer: %w", err)
		}
		delivered = true
		s.mu.Lock()
		first := s.cur == nil
		s.cur, s.lastErr = svid, nil
		s.updates++
		s.mu.Unlock()
		if first {
			close(s.first)
		}
	}
}

// parseX509SVIDResponse reads the first (default) SVID of an
// X509SVIDResponse: field 1, repeated X509SVID {1 spiffe_id, 2 x509_svid
// (the DER chain, leaf first), 3 x509_svid_key (PKCS #8 DER)}.
func parseX509SVIDResponse(b []byte) (*SVID, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			return parseX509SVID(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil, errors.New("no SVID in the answer (no registration entry matches the collector)")
}

func parseX509SVID(b []byte) (*SVID, error) {
	var id string
	var certs, key []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType || num > 3 {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case 1:
			id = string(v)
		case 2:
			certs = bytes.Clone(v) // the certificates keep their bytes
		case 3:
			key = v
		}
	}
	chain, err := x509.ParseCertificates(certs)
	if err != nil || len(chain) == 0 {
		return nil, fmt.Errorf("SVID %q: certificate chain: %v", id, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("SVID %q: private key: %w", id, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("SVID %q: a %T key cannot sign", id, k)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil || !bytes.Equal(pub, chain[0].RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("SVID %q: the private key is not the certificate's", id)
	}
	if !hasURI(chain[0], id) {
		return nil, fmt.Errorf("SVID %q: the certificate names another SPIFFE ID", id)
	}
	return &SVID{ID: id, Chain: chain, Key: signer}, nil
}

// hasURI is true when id is one of cert's URI names.
func hasURI(cert *x509.Certificate, id string) bool {
	u, err := url.Parse(id)
	if err != nil {
		return false
	}
	for _, c := range cert.URIs {
		if c.String() == u.String() {
			return true
		}
	}
	return false
}

// rawMessage and rawCodec pass protobuf bytes through gRPC as they are:
// the two Workload API messages read here are decoded with protowire.
type rawMessage struct{ b []byte }

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return m.b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	m.b = append(m.b[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }
