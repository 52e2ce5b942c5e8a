// SPDX-License-Identifier: Apache-2.0

// Package spire asks a local SPIRE agent, through its Delegated Identity API
// on the agent's admin socket, which SPIFFE IDs it issued to a process. The
// collector is then a delegate: the agent attests the process by pid with
// its own workload attestors and returns that process's X509-SVIDs, if the
// SPIRE admin listed the collector's SPIFFE ID in the agent's
// authorized_delegates.
//
// The answer carries the workloads' private keys (the API exists so that a
// delegate can act for them). This package keeps the SPIFFE ID, the expiry
// and the hint, overwrites the key and certificate bytes at once and never
// logs or stores them.
package spire

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	delegatedidentityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kernelevents/kernelevents/internal/identity"
)

// Options configure a Client.
type Options struct {
	// Socket is the agent's admin socket (admin_socket_path).
	Socket string
	// Timeout bounds one question to the agent.
	Timeout time.Duration
	// CacheTTL bounds how long an answer about a process is reused: its
	// Expires is at most this far ahead (and never past an SVID's expiry).
	CacheTTL time.Duration
	// RetryInterval: after the agent did not answer, lookups answer
	// agent_unavailable without asking it for this long, so that a dead or
	// stopped agent costs each resolver worker at most one Timeout per
	// RetryInterval. It is also how long a failure is cached for a process.
	RetryInterval time.Duration
}

// DefaultOptions returns the client's defaults, the one source of them (the
// receiver's identity::spire defaults are taken from here): 2s per
// question, answers reused 30s, 5s between tries of an agent that did not
// answer. Socket has no default.
func DefaultOptions() Options {
	return Options{Timeout: 2 * time.Second, CacheTTL: 30 * time.Second, RetryInterval: 5 * time.Second}
}

// Client asks the agent. Safe for concurrent use.
type Client struct {
	opts Options
	conn *grpc.ClientConn
	api  delegatedidentityv1.DelegatedIdentityClient

	mu        sync.Mutex
	downUntil time.Time
	downAs    identity.SPIFFEStatus

	now func() time.Time
}

var _ identity.SPIFFESource = (*Client)(nil)

// New returns a client of the agent at opts.Socket. It does not connect:
// gRPC connects on the first question and again after a failure.
func New(opts Options) (*Client, error) {
	if opts.Socket == "" {
		return nil, errors.New("no admin socket")
	}
	d := DefaultOptions()
	if opts.Timeout <= 0 {
		opts.Timeout = d.Timeout
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = d.CacheTTL
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = d.RetryInterval
	}
	bo := backoff.DefaultConfig
	bo.MaxDelay = opts.RetryInterval
	conn, err := grpc.NewClient("unix://"+opts.Socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: opts.Timeout}),
	)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", opts.Socket, err)
	}
	return &Client{opts: opts, conn: conn, api: delegatedidentityv1.NewDelegatedIdentityClient(conn), now: time.Now}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	return c.conn.Close()
}

// Check asks the agent about the collector's own process: it proves the
// socket answers and that the agent takes the collector as a delegate (the
// agent checks the caller before it looks at the pid). It returns nil when
// the agent issued the collector an identity, else an error naming the
// outcome.
func (c *Client) Check() error {
	a, err := c.ask(&delegatedidentityv1.SubscribeToX509SVIDsRequest{Pid: int32(os.Getpid())})
	if a.Status == identity.SPIFFEIssued {
		return nil
	}
	if err == nil {
		err = errors.New("no SVID for the collector itself")
	}
	return fmt.Errorf("spire agent at %s: %s: %w", c.opts.Socket, a.Status, err)
}

// Lookup asks the agent for the SVIDs of pid. It never blocks longer than
// Timeout, and not at all while the agent is known to be down.
func (c *Client) Lookup(pid uint32) identity.SPIFFEAnswer {
	return c.lookup(&delegatedidentityv1.SubscribeToX509SVIDsRequest{Pid: int32(pid)})
}

// LookupSelectors asks the agent for the SVIDs of the entries that the
// selectors ("type:value", for example "unix:uid:1000") satisfy. The agent
// believes the selectors: the caller vouches for them.
func (c *Client) LookupSelectors(selectors []string) identity.SPIFFEAnswer {
	req := &delegatedidentityv1.SubscribeToX509SVIDsRequest{}
	for _, sel := range selectors {
		typ, value, ok := strings.Cut(sel, ":")
		if !ok {
			return identity.SPIFFEAnswer{Status: identity.SPIFFEAgentError}
		}
		req.Selectors = append(req.Selectors, &types.Selector{Type: typ, Value: value})
	}
	return c.lookup(req)
}

func (c *Client) lookup(req *delegatedidentityv1.SubscribeToX509SVIDsRequest) identity.SPIFFEAnswer {
	now := c.now()
	c.mu.Lock()
	if now.Before(c.downUntil) {
		a := identity.SPIFFEAnswer{Status: c.downAs, Expires: c.downUntil}
		c.mu.Unlock()
		return a
	}
	c.mu.Unlock()
	a, _ := c.ask(req)
	return a
}

func (c *Client) ask(req *delegatedidentityv1.SubscribeToX509SVIDsRequest) (identity.SPIFFEAnswer, error) {
	a, err := c.subscribeOnce(req)
	now := c.now()
	if err != nil {
		switch status.Code(err) {
		case codes.PermissionDenied:
			a.Status = identity.SPIFFENotAuthorized
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			a.Status = identity.SPIFFEAgentUnavailable
		default:
			a.Status = identity.SPIFFEAgentError
		}
		a.Expires = now.Add(c.opts.RetryInterval)
		if a.Status != identity.SPIFFEAgentError {
			// Not a question about this pid: every lookup would get the
			// same answer until the agent or its configuration changes.
			c.mu.Lock()
			c.downUntil, c.downAs = a.Expires, a.Status
			c.mu.Unlock()
		}
	} else {
		if limit := now.Add(c.opts.CacheTTL); a.Expires.IsZero() || limit.Before(a.Expires) {
			a.Expires = limit
		}
		c.mu.Lock()
		c.downUntil = time.Time{}
		c.mu.Unlock()
	}
	return a, err
}

// subscribeOnce opens the agent's SVID subscription for a pid or selectors,
// takes its first message (the agent sends the SVIDs it has for the
// selectors at once, an empty list when no entry matches) and closes it.
func (c *Client) subscribeOnce(req *delegatedidentityv1.SubscribeToX509SVIDsRequest) (identity.SPIFFEAnswer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	stream, err := c.api.SubscribeToX509SVIDs(ctx, req)
	if err != nil {
		return identity.SPIFFEAnswer{}, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return identity.SPIFFEAnswer{}, err
	}
	return answerOf(resp), nil
}

// answerOf keeps the IDs, the earliest expiry and the first hint of resp,
// and wipes its keys and certificates.
func answerOf(resp *delegatedidentityv1.SubscribeToX509SVIDsResponse) identity.SPIFFEAnswer {
	a := identity.SPIFFEAnswer{Status: identity.SPIFFENoEntry}
	for _, s := range resp.GetX509Svids() {
		clear(s.X509SvidKey)
		s.X509SvidKey = nil
		svid := s.GetX509Svid()
		if svid == nil {
			continue
		}
		for _, cert := range svid.CertChain {
			clear(cert)
		}
		svid.CertChain = nil
		id := svid.GetId()
		if id.GetTrustDomain() == "" {
			continue
		}
		a.IDs = append(a.IDs, "spiffe://"+id.GetTrustDomain()+id.GetPath())
		if len(a.IDs) == 1 {
			a.Hint = svid.GetHint()
		}
		if exp := time.Unix(svid.GetExpiresAt(), 0); svid.GetExpiresAt() > 0 && (a.Expires.IsZero() || exp.Before(a.Expires)) {
			a.Expires = exp
		}
	}
	if len(a.IDs) > 0 {
		a.Status = identity.SPIFFEIssued
	}
	return a
}
