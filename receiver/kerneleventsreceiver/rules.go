// SPDX-License-Identifier: Apache-2.0

package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/kernelevents/kernelevents/internal/identity"
)

// rulesWatcher re-reads the identity rules file when its modification time
// or size changes. A file that does not load keeps the rules in force; the
// error is logged and reported as a recoverable status until a good file
// replaces it.
type rulesWatcher struct {
	path     string
	inline   *identity.Rules // identity::rules, compiled
	resolver *identity.Resolver
	logger   *zap.Logger
	host     component.Host

	stamp   string
	bad     bool
	done    chan struct{}
	checked atomic.Uint64 // checks done, for tests to wait on
}

func newRulesWatcher(path string, inline *identity.Rules, res *identity.Resolver, logger *zap.Logger, host component.Host) *rulesWatcher {
	return &rulesWatcher{path: path, inline: inline, resolver: res, logger: logger, host: host}
}

func fileStamp(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size()), nil
}

// load reads the file and, when it is good, puts the inline rules followed
// by the file's in force.
func (w *rulesWatcher) load() error {
	stamp, err := fileStamp(w.path)
	if err != nil {
		return fmt.Errorf("read rules file: %w", err)
	}
	fileRules, err := identity.LoadRulesFile(w.path)
	if err != nil {
		return err
	}
	w.resolver.SetRules(w.inline.Then(fileRules))
	w.stamp = stamp
	return nil
}

func (w *rulesWatcher) start(ctx context.Context, interval time.Duration) {
	w.done = make(chan struct{})
	every(ctx, interval, w.done, func(context.Context) bool { w.check(); return true })
}

func (w *rulesWatcher) check() {
	defer w.checked.Add(1)
	stamp, err := fileStamp(w.path)
	if err == nil && stamp == w.stamp {
		return
	}
	if err == nil {
		err = w.load()
	}
	if err != nil {
		w.stamp = stamp // report a bad version once, not at every tick
		w.bad = true
		w.logger.Error("Identity rules file not loaded; the rules in force are kept", zap.String("path", w.path), zap.Error(err))
		componentstatus.ReportStatus(w.host, componentstatus.NewRecoverableErrorEvent(fmt.Errorf("identity::rules_file: %w", err)))
		return
	}
	w.logger.Info("Identity rules reloaded", zap.String("path", w.path))
	if w.bad {
		w.bad = false
		componentstatus.ReportStatus(w.host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}

func (w *rulesWatcher) wait() {
	if w.done != nil {
		<-w.done
	}
}
