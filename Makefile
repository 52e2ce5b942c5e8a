# kernelevents: build, run and test the kernel_events receiver and its
# ocb-built collector. Run as root: the tests load real BPF programs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO ?= go
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

# Files bpf2go and mdatagen write; check-generated compares them before and
# after a fresh generate, so it catches stale committed code on a clean
# clone and leaves a developer's other uncommitted edits alone.
GENERATED := internal/probe/kernelevents_*_bpfel.* receiver/kerneleventsreceiver/internal/metadata \
	receiver/kerneleventsreceiver/generated_*_test.go receiver/kerneleventsreceiver/documentation.md
define hash_generated
find $(GENERATED) -type f | LC_ALL=C sort | xargs sha256sum
endef

.PHONY: all generate check-generated build run test unit vmtest fuzz bench soak deploy-check lint clean tracefs

all: build

## generate: rebuild the bpf2go objects (needs clang) and the mdatagen code.
generate:
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

$(OCB):
	mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(BIN)/builder $(OCB)

## build: the collector with the kernel_events receiver, into _build/collector.
build: $(OCB)
	mkdir -p _build
	$(OCB) --config builder-config.yaml

## tracefs: syscall tracepoints need tracefs; a fresh machine has none mounted.
tracefs:
	@if ! mountpoint -q /sys/kernel/tracing; then \
		echo "mounting tracefs at /sys/kernel/tracing"; mount -t tracefs tracefs /sys/kernel/tracing; fi

## run: build the collector and run it with the example config (Prometheus on 127.0.0.1:9464).
run: build tracefs
	@echo "kernel_events: Prometheus metrics at http://127.0.0.1:9464/metrics, health at http://127.0.0.1:13133/"
	$(COLLECTOR) --config $(CONFIG)

## test: everything: generated code, vet, unit and kernel tests on this kernel,
## the ocb collector end to end, a bounded fuzz run, the Debian VM kernel matrix,
## and the fleet manifests, unit and alert rules.
test: check-generated build tracefs unit fuzz vmtest deploy-check

## unit: go vet and every Go test on this kernel (packages one at a time, so the
## kernel tests do not compete for the ring buffers).
unit:
	$(GO) vet ./...
	KERNELEVENTS_COLLECTOR=$(COLLECTOR) $(GO) test -count=1 -p 1 ./...

## fuzz: the sample decoder must never panic on any bytes.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/event/

## vmtest: the kernel tests inside Debian's own kernels under qemu (TCG): 6.1,
## 6.12, 6.1 PREEMPT_RT (kretprobe, fexit, tracepoint) and arm64 6.1 (kretprobe,
## tracepoint). The matrix is VMTEST_KERNELS in internal/vmtest/lib.sh;
## KERNELEVENTS_VMTEST_KERNELS=6.12 make vmtest runs one row (internal/vmtest/README.md).
vmtest:
	bash internal/vmtest/vmtest.sh

## deploy-check: Kubernetes manifests, Helm values, systemd unit, Grafana
## dashboard and Prometheus rules (with promtool unit tests), offline.
deploy-check:
	bash deploy/check.sh

## bench: the side-by-side file-creation benchmark (baseline, each hook,
## auditd, fanotify) with ratios and targets, plus the user-space
## micro-benchmarks it runs itself. BENCH_ARGS=-quick for a smoke run.
bench: build tracefs
	KERNELEVENTS_COLLECTOR=$(COLLECTOR) $(GO) run ./bench $(BENCH_ARGS)

## soak: not in make test. The end-to-end overload test for SOAK_TIME (10
## minutes) at full rate with the production ring, printing RSS, series,
## received and lost every 10 s; received + lost must equal created.
SOAK_TIME ?= 10m
soak: build tracefs
	KERNELEVENTS_COLLECTOR=$(COLLECTOR) KERNELEVENTS_SOAK=$(SOAK_TIME) KE_RING_BUFFER_SIZE=4MiB KE_WAKEUP_BYTES=256KiB \
		$(GO) test -count=1 -v -timeout 0 -run '^TestCollectorOverload$$' ./internal/e2etest/

## lint: formatting, vet, and a build for a platform without eBPF.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet ./...
	GOOS=darwin $(GO) build ./...
	GOARCH=arm64 $(GO) build ./...

clean:
	rm -rf _build .bin .cache
