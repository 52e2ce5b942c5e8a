// SPDX-License-Identifier: Apache-2.0

// Package kerneleventsreceiver is an OpenTelemetry Collector receiver that
// counts file creations seen by eBPF programs in the Linux kernel.
//
// The kernel side lives in internal/probe; this package wires the probe,
// the aggregation table and the collector's lifecycle together.
//
//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
package kerneleventsreceiver // import "github.com/kernelevents/kernelevents/receiver/kerneleventsreceiver"
