// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package identity

import "errors"

// Elsewhere nothing is looked up: samples come only from Linux.
type sysLookup struct{}

type procView struct{}

func newSysLookup(proc, cgroupRoot, hostRoot string) *sysLookup     { return &sysLookup{} }
func (s *sysLookup) close()                                         {}
func (s *sysLookup) exists(uint32) bool                             { return false }
func (s *sysLookup) cgroupByID(uint64) (string, bool)               { return "", false }
func (s *sysLookup) process(uint32, uint64) *procView               { return &procView{} }
func (s *sysLookup) sweepUsers()                                    {}
func (p *procView) executable(uint64, uint64) (string, bool)        { return "", false }
func (p *procView) v2Cgroup(uint64) (string, bool)                  { return "", false }
func (p *procView) v1ContainerCgroup() string                       { return "" }
func (s *sysLookup) userName(uint32) string                         { return "" }
func (s *sysLookup) nodePath(uint64, uint64, string) (string, bool) { return "", false }
func (p *procView) exeFSPath(uint64, uint64) (string, bool)         { return "", false }
func (p *procView) same() bool                                      { return false }
func (p *procView) attestedPathIsNode(string) bool                  { return false }
func cgroup2Mount(string) string                                    { return "" }
func (s *sysLookup) cgroupRootPath() string                         { return "" }

type cgroupWatcher struct{}

func newCgroupWatcher(string, func(uint64, string)) (*cgroupWatcher, error) {
	return nil, errors.New("cgroup watching needs Linux")
}
func (w *cgroupWatcher) close()                       {}
func (s *sysLookup) cgroupIDOf(string) (uint64, bool) { return 0, false }
