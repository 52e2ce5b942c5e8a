// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Package spiretest runs a real SPIRE server and agent for tests: the
// binaries scripts/spire-build.sh builds from the Go module proxy (make
// spire), a server on 127.0.0.1 with the join_token node attestor, an
// in-memory key manager and SQLite, and an agent attested by a join token
// with the unix workload attestor (discovering workload paths: unix:path
// selectors, /proc/<pid>/exe at attestation), its Workload API and admin sockets in a
// temporary directory. Nothing listens on anything but loopback and unix
// sockets: the server's bind_address is 127.0.0.1, and neither health
// checks, telemetry nor profiling listeners are configured (all are off by
// default in SPIRE 1.13).
package spiretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// Version is the SPIRE release the tests run (scripts/spire-build.sh).
const Version = "v1.13.3"

// TrustDomain is the trust domain of the test SPIRE.
const TrustDomain = "example.org"

// CollectorID is the SPIFFE ID the agent takes as its authorized delegate.
const CollectorID = "spiffe://" + TrustDomain + "/kernelevents"

// SPIRE is a running server and agent.
type SPIRE struct {
	t                         testing.TB
	bin, dir                  string
	ServerSocket, AdminSocket string
	WorkloadSocket            string
	// AgentID is the agent's SPIFFE ID: the parent of workload entries.
	AgentID  string
	token    string
	server   *exec.Cmd
	agent    *exec.Cmd
	agentLog string
}

// BinDir returns where the SPIRE binaries are: $KERNELEVENTS_SPIRE_BIN, or
// .cache/spire/<Version>/bin in the repository.
func BinDir() string {
	if d := os.Getenv("KERNELEVENTS_SPIRE_BIN"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", ".cache", "spire", Version, "bin")
}

// Start starts a server and an agent, stopped at the end of the test. The
// binaries missing is a skip, or a failure under CI=true or
// KERNELEVENTS_REQUIRE_BPF=1 (make test builds them first).
func Start(t testing.TB) *SPIRE {
	t.Helper()
	testutil.RequireRoot(t)
	bin := BinDir()
	for _, b := range []string{"spire-server", "spire-agent"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			testutil.SkipUnlessStrict(t, "SPIRE %s not built in %s (make spire, or bash scripts/spire-build.sh): %v", Version, bin, err)
		}
	}
	dir := testutil.TempDir(t) // short: unix socket paths are limited to 107 bytes
	for _, d := range []string{"server", "agent", "public", "admin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &SPIRE{
		t: t, bin: bin, dir: dir,
		ServerSocket:   filepath.Join(dir, "server", "api.sock"),
		WorkloadSocket: filepath.Join(dir, "public", "api.sock"),
		// Apart from the Workload API socket's directory: the agent
		// refuses an admin socket there or below.
		AdminSocket: filepath.Join(dir, "admin", "admin.sock"),
	}
	port := freePort(t)
	serverConf := fmt.Sprintf(`server {
    bind_address = "127.0.0.1"
    bind_port = "%d"
    socket_path = %q
    trust_domain = %q
    data_dir = %q
    log_level = "DEBUG"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = %q
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
}
`, port, s.ServerSocket, TrustDomain, filepath.Join(dir, "server"), filepath.Join(dir, "server", "datastore.sqlite3"))
	writeFile(t, filepath.Join(dir, "server.conf"), serverConf)
	s.server = s.start("spire-server", filepath.Join(dir, "server.log"), "run", "-config", filepath.Join(dir, "server.conf"))
	s.waitHealthy("spire-server", "healthcheck", "-socketPath", s.ServerSocket)

	out := s.ServerCLI("token", "generate", "-ttl", "600")
	tok, ok := strings.CutPrefix(strings.TrimSpace(out), "Token: ")
	if !ok {
		t.Fatalf("spire-server token generate: unexpected output %q", out)
	}
	s.token = strings.Fields(tok)[0]
	s.AgentID = "spiffe://" + TrustDomain + "/spire/agent/join_token/" + s.token

	agentConf := fmt.Sprintf(`agent {
    data_dir = %q
    log_level = "DEBUG"
    server_address = "127.0.0.1"
    server_port = "%d"
    socket_path = %q
    admin_socket_path = %q
    authorized_delegates = [%q]
    insecure_bootstrap = true
    trust_domain = %q
}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {
            discover_workload_path = true
        }
    }
}
`, filepath.Join(dir, "agent"), port, s.WorkloadSocket, s.AdminSocket, CollectorID, TrustDomain)
	writeFile(t, filepath.Join(dir, "agent.conf"), agentConf)
	s.StartAgent()
	return s
}

// StartAgent starts the agent and waits until it is healthy. Its join token
// is good for one attestation and the agent keeps its key in memory: a
// stopped agent is not started again.
func (s *SPIRE) StartAgent() {
	s.t.Helper()
	if s.agent != nil {
		s.t.Fatal("spiretest: agent already running")
	}
	s.agentLog = filepath.Join(s.dir, "agent.log")
	s.agent = s.start("spire-agent", s.agentLog, "run", "-config", filepath.Join(s.dir, "agent.conf"), "-joinToken", s.token)
	s.waitHealthy("spire-agent", "healthcheck", "-socketPath", s.WorkloadSocket)
}

// StopAgent stops the agent (SIGTERM, then waits).
func (s *SPIRE) StopAgent() {
	s.t.Helper()
	if s.agent == nil {
		return
	}
	stop(s.agent)
	s.agent = nil
}

// CreateEntry registers spiffeID for the selectors under the agent and
// returns the entry id. hint may be empty.
func (s *SPIRE) CreateEntry(spiffeID, hint string, selectors ...string) string {
	s.t.Helper()
	var extra []string
	if hint != "" {
		extra = append(extra, "-hint", hint)
	}
	return s.createEntry(spiffeID, extra, selectors)
}

// CreateEntryTTL registers spiffeID for the selectors with X.509 SVIDs
// valid for ttl (the agent renews an SVID past half its lifetime).
func (s *SPIRE) CreateEntryTTL(spiffeID string, ttl time.Duration, selectors ...string) string {
	s.t.Helper()
	return s.createEntry(spiffeID, []string{"-x509SVIDTTL", strconv.Itoa(int(ttl / time.Second))}, selectors)
}

// TrustBundle is the server's X.509 trust bundle in PEM (bundle show).
func (s *SPIRE) TrustBundle() []byte {
	s.t.Helper()
	return []byte(s.ServerCLI("bundle", "show", "-format", "pem"))
}

func (s *SPIRE) createEntry(spiffeID string, extra, selectors []string) string {
	s.t.Helper()
	args := append([]string{"entry", "create", "-output", "json", "-parentID", s.AgentID, "-spiffeID", spiffeID}, extra...)
	for _, sel := range selectors {
		args = append(args, "-selector", sel)
	}
	out := s.ServerCLI(args...)
	var resp struct {
		Results []struct {
			Status struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"status"`
			Entry struct {
				ID string `json:"id"`
			} `json:"entry"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Results) != 1 || resp.Results[0].Entry.ID == "" {
		s.t.Fatalf("spire-server entry create %s: %v: %s", spiffeID, err, out)
	}
	return resp.Results[0].Entry.ID
}

// DeleteEntry deletes an entry.
func (s *SPIRE) DeleteEntry(id string) {
	s.t.Helper()
	s.ServerCLI("entry", "delete", "-entryID", id)
}

// ServerCLI runs spire-server with args against the server's socket and
// returns its standard output.
func (s *SPIRE) ServerCLI(args ...string) string {
	s.t.Helper()
	args = append(args, "-socketPath", s.ServerSocket)
	cmd := exec.Command(filepath.Join(s.bin, "spire-server"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("spire-server %s: %v: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// AgentLog returns what the agent logged so far.
func (s *SPIRE) AgentLog() string {
	b, _ := os.ReadFile(s.agentLog)
	return string(b)
}

func (s *SPIRE) start(name, logPath string, args ...string) *exec.Cmd {
	s.t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	// Dies with the test binary even if the test is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		s.t.Fatalf("start %s: %v", name, err)
	}
	log.Close()
	s.t.Cleanup(func() { stop(cmd) })
	return cmd
}

// waitHealthy runs a healthcheck until it passes; a deadline bounds it.
func (s *SPIRE) waitHealthy(name string, args ...string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(filepath.Join(s.bin, name), args...).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(s.dir, strings.TrimPrefix(name, "spire-")+".log"))
			s.t.Fatalf("%s never healthy: %v: %s\nlog:\n%s", name, err, out, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stop(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path, body string) {
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Sleeper starts a process as uid:gid that sleeps until killed (at the end
// of the test) and returns its pid.
func Sleeper(t testing.TB, uid, gid uint32) int {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleeper as %d: %v", uid, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// Itoa is strconv.Itoa for selector values.
func Itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
