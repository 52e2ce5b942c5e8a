# SPDX-License-Identifier: Apache-2.0
# kernelevents: build, run and test the kernel_events receiver and its
# ocb-built collector. Run as root: the tests load real BPF programs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO ?= go
# The one Go version of every module here (go.mod's `go` line; deploy/tools,
# internal/tools, ocb's generated collector module and the SPIRE build module
# say the same), so a set-up fetches one toolchain. scripts/deps.sh installs
# it as root when the go on PATH is older.
GO_VERSION := $(shell sed -n 's/^go //p' go.mod)
# The BPF compiler and flags, for bpf2go (read from the environment by
# internal/probe/gen.go). Debian 12's clang 14 made the committed objects.
BPF2GO_CC ?= clang
BPF2GO_CFLAGS ?= -O2 -g -Wall -Werror
export BPF2GO_CC BPF2GO_CFLAGS

# ocb; the builder version fixes the collector version (see builder-config.yaml).
OCB_VERSION := v0.162.0
BIN := $(CURDIR)/.bin
OCB := $(BIN)/ocb
COLLECTOR := $(CURDIR)/_build/collector/otelcol-kernelevents
CONFIG ?= testdata/collector-prometheus.yaml
FUZZTIME ?= 15s

# The Debian packages each target needs: scripts/deps.sh owns the list. As
# root it installs what is missing; otherwise it names the apt-get command.
DEPS := bash scripts/deps.sh
# What the collector is built from: ocb regenerates and recompiles it only
# when one of these (the Makefile: the build flags) is newer than the binary.
COLLECTOR_SOURCES := Makefile builder-config.yaml go.mod go.sum $(wildcard internal/probe/*_bpfel.o) \
	$(wildcard internal/event/*_bpfel.o) \
	$(shell find receiver internal -name '*.go' ! -name '*_test.go')
# go build -v prints each package it compiles: count them instead.
PROGRESS := awk '/^[A-Za-z0-9._~\/-]+$$/ { if (++n % 100 == 0) { printf "  compiled: %d packages\n", n; fflush() }; next } \
	{ print; fflush() } END { if (n) printf "  compiled: %d packages\n", n }'
# The collector's version (builder-config.yaml dist.version) names the image
# and the package. The binary says VERSION+COMMIT12 (--version, and
# service.version in its own telemetry): ocb reads a copy of
# builder-config.yaml with that version. Go's own VCS stamping is off
# (-buildvcs=false): it misses git worktrees and would make a build depend
# on how the tree was checked out.
VERSION := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
BUILD_VERSION := $(VERSION)$(if $(COMMIT),+$(shell git rev-parse --short=12 HEAD))
IMAGE_REPO ?= localhost/kernelevents/otelcol-kernelevents
IMAGE ?= $(IMAGE_REPO):$(VERSION)
# golangci-lint, built from the Go module proxy at a pinned version into
# .bin (its module's go.sum is checked against the checksum database).
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
NFPM_VERSION := v2.48.0
NFPM := $(BIN)/nfpm
# GOARCH, or go's, or (before the set-up has installed Go) dpkg's.
DEB_ARCH := $(or $(GOARCH),$(shell $(GO) env GOARCH 2>/dev/null),$(shell dpkg --print-architecture 2>/dev/null))
DEB := $(CURDIR)/_build/deb/otelcol-kernelevents_$(VERSION)_$(DEB_ARCH).deb
# The commit the binary is stamped with: a new commit relinks it.
COMMIT_STAMP := _build/commit
$(shell { mkdir -p _build && { [ "$$(cat $(COMMIT_STAMP))" = "$(COMMIT)" ] || echo "$(COMMIT)" >$(COMMIT_STAMP); }; } 2>/dev/null)
PACKAGING_ENV := VERSION=$(VERSION) COMMIT=$(COMMIT) IMAGE=$(IMAGE) COLLECTOR=$(COLLECTOR) NFPM=$(NFPM) DEB=$(DEB)

# Files bpf2go and mdatagen write; check-generated compares them before and
# after a fresh generate, so it catches stale committed code on a clean
# clone and leaves a developer's other uncommitted edits alone.
GENERATED := internal/probe/kernelevents_*_bpfel.* internal/event/types_bpfel.* receiver/kerneleventsreceiver/internal/metadata receiver/kerneleventsreceiver/internal/metadatatest \
	receiver/kerneleventsreceiver/generated_*_test.go receiver/kerneleventsreceiver/documentation.md
define hash_generated
find $(GENERATED) -type f | LC_ALL=C sort | xargs sha256sum
endef

.PHONY: all generate check-generated check-format format build run test unit check lint-go spire vmtest fuzz bench soak soak-memory deploy-check lint clean tracefs \
	image image-test deb deb-test newcomer-test release bench-vm k8s k8s-test

# deps-TARGET: install (as root) or name the Debian packages TARGET needs.
deps-%:
	@$(DEPS) $*

all: build

## generate: rebuild the bpf2go objects (needs clang; internal/probe's also
## regenerates internal/event's types) and the mdatagen code.
generate: deps-generate
	cd internal/probe && $(GO) generate ./...
	cd receiver/kerneleventsreceiver && $(GO) generate ./...

## check-generated: fail when committed generated code differs from a fresh generate.
check-generated:
	@$(hash_generated) > .generated.before
	$(MAKE) --no-print-directory generate
	@$(hash_generated) > .generated.after
	@if ! diff -u .generated.before .generated.after; then rm -f .generated.before .generated.after; \
		echo "generated code is stale: run 'make generate' and commit the result" >&2; exit 1; fi
	@rm -f .generated.before .generated.after

## check-format: fail when the C in bpf/ (not bpf/include/, vendored) is not as
## .clang-format (clang-format-14, Debian 12's; another version may format
## differently) would write it, naming the files.
CLANG_FORMAT ?= clang-format-14
BPF_SOURCES := $(wildcard bpf/*.c bpf/*.h)
check-format: deps-check-format
	@bad=$$(for f in $(BPF_SOURCES); do $(CLANG_FORMAT) --style=file "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
		if [ -n "$$bad" ]; then echo "not formatted (make format, or $(CLANG_FORMAT) -i FILE):" $$bad >&2; exit 1; fi

## format: clang-format the C in bpf/ in place.
format: deps-check-format
	$(CLANG_FORMAT) --style=file -i $(BPF_SOURCES)

$(OCB): | deps-build
	mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(BIN)/builder $(OCB)

## build: the collector with the kernel_events receiver, into _build/collector:
## static (CGO_ENABLED=0), -trimpath, stripped, --version says
## builder-config.yaml's version + the commit. Nothing to do when no source
## changed; a cold build counts the packages it compiles.
build: deps-build $(COLLECTOR)

$(COLLECTOR): $(OCB) $(COLLECTOR_SOURCES) $(COMMIT_STAMP)
	@echo "build: ocb writes the collector's sources and fetches its modules (minutes on a cold module cache)"
	mkdir -p _build
	sed 's/^  version: .*/  version: $(BUILD_VERSION)/' builder-config.yaml >_build/builder-config.yaml
	$(OCB) --config _build/builder-config.yaml --skip-compilation
	cd $(dir $(COLLECTOR)) && $(GO) mod edit -go=$(GO_VERSION)
	@echo "build: compiling $(COLLECTOR) $(BUILD_VERSION)"
	cd $(dir $(COLLECTOR)) && CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags='-s -w' -v \
		-o $(notdir $(COLLECTOR)).tmp . 2>&1 | $(PROGRESS)
	mv $(COLLECTOR).tmp $(COLLECTOR)

## tracefs: syscall tracepoints need tracefs; a fresh machine has none mounted.
tracefs:
	@if ! mountpoint -q /sys/kernel/tracing; then \
		echo "mounting tracefs at /sys/kernel/tracing"; mount -t tracefs tracefs /sys/kernel/tracing; fi

## run: build the collector and run it with the example config (Prometheus on 127.0.0.1:9464).
run: deps-run build tracefs
	@echo "kernel_events: Prometheus metrics at http://127.0.0.1:9464/metrics, health at http://127.0.0.1:13133/"
	$(COLLECTOR) --config $(CONFIG)

## test: everything: C formatting, generated code, vet, unit and kernel tests on this kernel,
## the ocb collector end to end, a bounded fuzz run, the Debian VM kernel matrix,
## the fleet manifests, unit and alert rules, the image under podman and the
## .deb in a clean Debian root, the README's path from its prerequisites
## to its example in a fresh Debian root, and the DaemonSet on a single-node
## Kubernetes. deps-test first installs what is missing.
test: deps-test check-format check-generated lint build tracefs unit fuzz vmtest deploy-check image-test deb-test newcomer-test k8s-test

## check: the daily loop, under a minute once the caches are warm: gofmt, go
## vet, golangci-lint, and the tests that need no root, no kernel and no
## SPIRE (the receiver on its fake source, golden files, pure tests, the
## repository checks). KERNELEVENTS_NO_KERNEL=1 makes every test that needs
## root, a kernel feature or a built tool skip, as root too; make test runs
## them. Not here: internal/probe (the kernel's behaviour) and bench (its test
## loads a BPF program as root).
CHECK_PACKAGES = $(shell $(GO) list ./... | grep -v -e '/internal/probe$$' -e '/bench$$')
check: lint-go
	KERNELEVENTS_NO_KERNEL=1 $(GO) test -count=1 $(CHECK_PACKAGES)

## unit: go vet and every Go test on this kernel (packages one at a time, so the
## kernel tests do not compete for the ring buffers).
unit: deps-unit spire
	$(GO) vet ./...
	KERNELEVENTS_COLLECTOR=$(COLLECTOR) $(GO) test -count=1 -p 1 ./...

## spire: build spire-server and spire-agent $(SPIRE_VERSION) from the Go module
## proxy into .cache/spire/$(SPIRE_VERSION)/bin for the SPIFFE tests
## (internal/spire/spiretest); about 4-5 minutes each cold, nothing once built.
SPIRE_VERSION := v1.13.3
spire: deps-spire
	SPIRE_VERSION=$(SPIRE_VERSION) GO_VERSION=$(GO_VERSION) bash scripts/spire-build.sh

## fuzz: the sample decoder must never panic on any bytes.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/event/

## vmtest: the kernel tests inside Debian's own kernels under qemu (TCG): 6.1,
## 6.12, 6.1 PREEMPT_RT (kretprobe, fexit, tracepoint) and arm64 6.1 (kretprobe,
## tracepoint). The matrix is VMTEST_KERNELS in internal/vmtest/lib.sh;
## KERNELEVENTS_VMTEST_KERNELS=6.12 make vmtest runs one row (internal/vmtest/README.md).
vmtest: deps-vmtest
	bash internal/vmtest/vmtest.sh

## deploy-check: Kubernetes manifests, Helm values, systemd unit, Grafana
## dashboard and Prometheus rules (with promtool unit tests), offline.
deploy-check: deps-deploy-check
	bash deploy/check.sh

## bench: the side-by-side benchmark (baseline, each hook, fanotify; audit
## only with AUDIT=1): cost per created file, the whole node's cost (reads,
## O_CREAT re-opens, getpid, tar -xf) against the kernel's floor, ratios and
## targets, plus the user-space micro-benchmarks. BENCH_ARGS=-quick for a
## smoke run. AUDIT=1 adds the audit phase (run last); WARNING: once audit
## has been enabled in a boot, every new process on the machine takes the
## audit syscall path until reboot.
bench: deps-bench build tracefs
	KERNELEVENTS_COLLECTOR=$(COLLECTOR) $(GO) run ./bench $(if $(filter 1,$(AUDIT)),-audit) $(BENCH_ARGS)

## bench-vm: not in make test. The creation and whole-node rows for every
## hook (kretprobe, fexit, tracepoint) in Debian's 6.1 kernel under qemu TCG,
## as make vmtest boots it, and the hooks ranked: compare ratios only. qemu
## runs with -icount (BENCH_VM_QEMU): the guest's clock counts instructions,
## so the host's load does not move the figures. About 45 minutes of one
## core (creation rows 12, node rows 31); the report goes to stdout.
BENCH_VM_ARGS ?= -quick -create-aa -node-aa -phases create,node -no-ext4 -reps 5 -node-scale 0.25 -files 2000
BENCH_VM_QEMU ?= -icount shift=0,sleep=off
bench-vm: deps-vmtest
	@mkdir -p _build
	@CGO_ENABLED=0 $(GO) build -o _build/kebench-static ./bench
	@KERNELEVENTS_VMTEST_QEMU_ARGS="$(BENCH_VM_QEMU)" KERNELEVENTS_VMTEST_TIMEOUT=$${KERNELEVENTS_VMTEST_TIMEOUT:-5400} bash internal/vmtest/exec.sh $(CURDIR)/_build/kebench-static $(BENCH_VM_ARGS)

## soak: not in make test. The end-to-end overload test for SOAK_TIME (10
## minutes) at full rate with the production ring, printing RSS, series,
## received and lost every 10 s; received + lost must equal created.
SOAK_TIME ?= 10m
soak: deps-soak build tracefs
	KERNELEVENTS_COLLECTOR=$(COLLECTOR) KERNELEVENTS_SOAK=$(SOAK_TIME) KE_RING_BUFFER_SIZE=4MiB KE_WAKEUP_BYTES=256KiB \
		$(GO) test -count=1 -v -timeout 0 -run '^TestCollectorOverload$$' ./internal/e2etest/

## soak-memory: not in make test. The evidence memory soak (bench/soak.sh):
## the collector with the chain and signed checkpoints on under a steady
## SOAK_RATE (300) creations a second for SOAK_MEMORY_TIME seconds (an
## hour), RSS and Go heap every minute into _build/soak/samples.tsv, and
## their slope after a 5-minute warm-up.
SOAK_MEMORY_TIME ?= 3600
soak-memory: build tracefs
	SOAK_TIME=$(SOAK_MEMORY_TIME) KERNELEVENTS_COLLECTOR=$(COLLECTOR) bash bench/soak.sh

## lint: formatting, vet, golangci-lint (.golangci.yml: the linters, and the
## import boundary: receiver/ uses internal/'s stage packages only), and a
## build for a platform without eBPF and for arm64.
lint: lint-go
	GOOS=darwin $(GO) build ./...
	GOARCH=arm64 $(GO) build ./...

lint-go: $(GOLANGCI_LINT)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $(GOLANGCI_LINT)

## image: the OCI image $(IMAGE_REPO):VERSION, FROM scratch with the
## collector and deploy/systemd/config.yaml, into podman's store and
## _build/image/ (docker load -i). No registry involved.
image: deps-image build
	$(PACKAGING_ENV) bash packaging/image/build.sh

## image-test: run the image under podman with the DaemonSet's capabilities
## and host mounts; it must count files created on the host.
image-test: deps-image-test image tracefs
	$(PACKAGING_ENV) bash packaging/image/test.sh

## k8s: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
## kubectl $(K8S_VERSION) from the Go module proxy into
## .cache/k8s/$(K8S_VERSION)/bin (scripts/k8s-build.sh); about 11 minutes
## cold on two cores, nothing once built.
K8S_VERSION := v1.37.2
k8s: deps-k8s-test
	K8S_VERSION=$(K8S_VERSION) bash scripts/k8s-build.sh

## k8s-test: a single-node cluster (etcd, the control plane, kubelet, a
## private containerd, a CNI bridge) brought up and torn down on this
## machine: kubectl apply -k deploy/kubernetes, the agent Ready under its own
## securityContext and RuntimeDefault seccomp, workloads' creations checked
## with their identity at a gateway collector (internal/k8stest).
k8s-test: deps-k8s-test image k8s spire tracefs
	$(PACKAGING_ENV) IMAGE_TAR=$(CURDIR)/_build/image/otelcol-kernelevents_$(VERSION).tar \
		K8S_BIN=$(CURDIR)/.cache/k8s/$(K8S_VERSION)/bin SPIRE_BIN=$(CURDIR)/.cache/spire/$(SPIRE_VERSION)/bin \
		bash internal/k8stest/k8stest.sh

$(NFPM): | deps-build
	mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

## deb: the Debian package (binary, hardened systemd unit, default config)
## into _build/deb/.
deb: deps-deb $(DEB)

$(DEB): $(COLLECTOR) $(NFPM) $(wildcard packaging/deb/*) packaging/licenses.sh deploy/systemd/otelcol-kernelevents.service \
		deploy/systemd/config.yaml LICENSE NOTICE
	$(PACKAGING_ENV) bash packaging/deb/build.sh

## deb-test: install the package into a clean Debian root (debootstrap,
## cached under .cache/deb) and start the unit's ExecStart with its
## capabilities; it must count files created on the host.
deb-test: deps-deb-test deb tracefs
	$(PACKAGING_ENV) bash packaging/deb/test.sh

## release: not in make test. The versioned artifacts for linux/amd64 and
## linux/arm64 into _build/release/VERSION: collector binaries (cross-compiled,
## CGO_ENABLED=0), .debs (nfpm), the image for both as one OCI archive with a
## multi-arch index, an SBOM per binary (go version -m), the licences and
## SHA256SUMS; then packaging/release/test.sh checks them, runs the arm64
## binary under qemu-user and rebuilds binaries and .debs to compare bytes.
RELEASE_OUT := $(CURDIR)/_build/release/$(VERSION)
release: deps-release build $(NFPM)
	$(PACKAGING_ENV) IMAGE_REPO=$(IMAGE_REPO) OUT=$(RELEASE_OUT) bash packaging/release/build.sh
	$(PACKAGING_ENV) BUILD_VERSION=$(BUILD_VERSION) OUT=$(RELEASE_OUT) bash packaging/release/test.sh

## newcomer-test: the README's path in a fresh Debian 12 root (the same
## cached debootstrap root as deb-test): apt-get install git make
## ca-certificates, git clone (this commit), make run (which installs Go and
## curl and builds the collector, the host's Go caches bind-mounted), then
## the README's example must print its one line. About 3 minutes warm, 9 cold.
newcomer-test: deps-newcomer-test tracefs
	bash packaging/newcomer/test.sh

clean:
	rm -rf _build .bin .cache
