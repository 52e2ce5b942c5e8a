// SPDX-License-Identifier: Apache-2.0

// Command kernelevents-verify checks that stored kernel_events evidence is
// complete and unaltered: it reads OTLP JSON logs (the file exporter's
// output, one request a line; files of a rotation in any order, or standard
// input), line by line, and reports per evidence stream the records present,
// the holes in the numbering with their time ranges, broken chain links,
// checkpoint signatures, and the losses the receiver declared against those
// in transport. It exits 1 on any break, 2 on bad usage or unreadable input.
//
//	kernelevents-verify [-key pub.pem] [-trust-bundle bundle.pem] [-allow-open] [-window N] FILE...
//
// See the README, "Proving the evidence is complete", and
// docs/evidence-chain.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kernelevents/kernelevents/internal/evidence/chain"
	"github.com/kernelevents/kernelevents/internal/evidence/verify"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kernelevents-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "Ed25519 public key (PEM, openssl pkey -pubout) every checkpoint must be signed with; without it signatures are checked against the key each checkpoint names")
	bundleFile := fs.String("trust-bundle", "", "SPIFFE trust bundle (PEM certificates, spire-server bundle show) the X.509 SVID of every checkpoint must verify to at the checkpoint's time")
	allowOpen := fs.Bool("allow-open", false, "accept streams without their final checkpoint (a collector still running)")
	window := fs.Int("window", verify.DefaultWindow, "records held per stream waiting for a lower number before the missing ones are a hole")
	progress := fs.Duration("progress", 5*time.Second, "progress on stderr this often (0: none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kernelevents-verify [flags] FILE... (- or none: standard input)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := verify.Options{Window: *window, AllowOpen: *allowOpen}
	if *progress > 0 {
		opts.Progress, opts.ProgressEvery = stderr, *progress
	}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err == nil {
			opts.Trusted, err = chain.ReadPublicKey(b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "kernelevents-verify: -key %s: %v\n", *keyFile, err)
			return 2
		}
	}
	if *bundleFile != "" {
		b, err := os.ReadFile(*bundleFile)
		if err == nil {
			opts.Roots, err = chain.ReadTrustBundle(b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "kernelevents-verify: -trust-bundle %s: %v\n", *bundleFile, err)
			return 2
		}
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	r := verify.New(opts)
	for _, name := range files {
		if err := readOne(r, name, stdin); err != nil {
			fmt.Fprintf(stderr, "kernelevents-verify: %v\n", err)
			return 2
		}
	}
	r.Finish()
	r.Write(stdout)
	if !r.OK() {
		return 1
	}
	return 0
}

func readOne(r *verify.Report, name string, stdin io.Reader) error {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	if err := r.Read(in); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
