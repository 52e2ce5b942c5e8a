// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kernelevents/kernelevents/internal/testutil"
)

// pathWithout builds a PATH of one directory holding a link to every command
// on the real PATH except hidden, readable by any user: a machine where those
// tools were never installed.
func pathWithout(t *testing.T, hidden ...string) string {
	t.Helper()
	dir := filepath.Join(testutil.TempDir(t), "bin") // readable by any user
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hide := map[string]bool{}
	for _, h := range hidden {
		hide[h] = true
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			// clang-14, llvm-strip-14 and the like go with their command.
			if hide[name] || hide[regexp.MustCompile(`-[0-9]+$`).ReplaceAllString(name, "")] {
				continue
			}
			link := filepath.Join(dir, name)
			if _, err := os.Lstat(link); err == nil {
				continue // the first directory on PATH wins, as for the shell
			}
			if err := os.Symlink(filepath.Join(d, name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range hidden {
		if _, err := exec.LookPath(filepath.Join(dir, h)); err == nil {
			t.Fatalf("%s still reachable in %s", h, dir)
		}
	}
	return dir
}

// asNobody wraps argv to run as uid/gid 65534 with no supplementary groups.
func asNobody(argv ...string) []string {
	return append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, argv...)
}

// run runs argv in the repository with env only, and returns its exit code,
// stdout and stderr.
func run(t *testing.T, env []string, argv ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = repoRoot(t)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("%v: %v", argv, err)
		return 0, "", ""
	}
}

// oneLine fails unless out is exactly want plus a newline: the user sees one
// line, and it names the command to run.
func oneLine(t *testing.T, what, out, want string) {
	t.Helper()
	if out != want+"\n" {
		t.Errorf("%s printed:\n%q\nwant exactly one line:\n%q", what, out, want)
	}
}

// requireSetupTools: these tests run the set-up as another user (setpriv)
// and as root with installation turned off.
func requireSetupTools(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	for _, c := range []string{"setpriv", "bash", "make"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s: %v (util-linux, bash and make are expected)", c, err)
		}
	}
}

// goModVersion is go.mod's `go` line.
func goModVersion(t *testing.T) string {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go ([0-9.]+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	return string(m[1])
}

// stubGo writes into dir a `go` that only says it is Go version: the set-up
// checks Go's version, and a test of another tool must not depend on the
// host's Go being one every user can run (a toolchain GOTOOLCHAIN fetched
// sits under root's home, mode 700).
func stubGo(t *testing.T, dir, version string) {
	t.Helper()
	stub := "#!/bin/sh\necho 'go version go" + version + " linux/amd64'\n"
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestDepsMissingClangNotRoot: a user who is not root, on a machine without
// clang and llvm-strip, runs make generate. The set-up stops before bpf2go
// with one line naming the apt-get command, and installs nothing.
func TestDepsMissingClangNotRoot(t *testing.T) {
	requireSetupTools(t)
	path := pathWithout(t, "clang", "llvm-strip", "go")
	stubGo(t, path, goModVersion(t))
	env := []string{"PATH=" + path, "HOME=/nonexistent", "LANG=C"}
	const want = "kernelevents: make generate needs clang llvm-strip, which are not installed; " +
		"run as root: apt-get install -y --no-install-recommends clang llvm"

	code, stdout, stderr := run(t, env, asNobody("bash", "scripts/deps.sh", "generate")...)
	if code != 1 || stdout != "" {
		t.Errorf("scripts/deps.sh generate: exit %d, stdout %q; want exit 1 and nothing on stdout", code, stdout)
	}
	oneLine(t, "scripts/deps.sh generate", stderr, want)

	// The same through make, as the user types it: the line, then make's
	// own error, and no bpf2go run.
	code, stdout, stderr = run(t, env, asNobody("make", "--no-print-directory", "generate")...)
	if code == 0 {
		t.Fatalf("make generate without clang succeeded:\n%s%s", stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 2 || lines[0] != want || !strings.Contains(lines[1], "[Makefile:") {
		t.Errorf("make generate stderr:\n%s\nwant the set-up's line, then make's error", stderr)
	}
	if strings.Contains(stdout, "bpf2go") || strings.Contains(stdout, "go generate") {
		t.Errorf("make generate went on past the set-up:\n%s", stdout)
	}
}

// TestDepsNoInstallAsRoot: as root with KERNELEVENTS_NO_INSTALL=1 (or where
// installing is not wanted), a missing tool is reported, not installed.
func TestDepsNoInstallAsRoot(t *testing.T) {
	requireSetupTools(t)
	path := pathWithout(t, "qemu-system-x86_64", "cpio")
	env := []string{"PATH=" + path, "KERNELEVENTS_NO_INSTALL=1", "LANG=C"}
	code, _, stderr := run(t, env, "bash", "scripts/deps.sh", "vmtest")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	oneLine(t, "scripts/deps.sh vmtest", stderr,
		"kernelevents: make vmtest needs qemu-system-x86_64 cpio, which are not installed; "+
			"run as root: apt-get install -y --no-install-recommends qemu-system-x86 cpio")
}

// TestDepsRootAndGo: make test as a normal user stops at once saying it needs
// root; without go on PATH the set-up names the version go.mod asks for.
func TestDepsRootAndGo(t *testing.T) {
	requireSetupTools(t)
	code, _, stderr := run(t, []string{"PATH=" + os.Getenv("PATH")}, asNobody("bash", "scripts/deps.sh", "test")...)
	if code != 1 {
		t.Errorf("make test's set-up as uid 65534: exit %d, want 1", code)
	}
	oneLine(t, "scripts/deps.sh test as uid 65534", stderr,
		"kernelevents: make test loads BPF programs and must run as root: sudo make test")

	// make run says so before it builds anything.
	code, stdout, stderr := run(t, []string{"PATH=" + os.Getenv("PATH")}, asNobody("make", "--no-print-directory", "run")...)
	if code == 0 || !strings.HasPrefix(stderr, "kernelevents: make run loads BPF programs and must run as root: sudo make run\n") ||
		strings.Contains(stdout, "ocb") {
		t.Errorf("make run as uid 65534: exit %d\nstdout:\n%s\nstderr:\n%s\nwant the root line first and no build", code, stdout, stderr)
	}

	want := goModVersion(t)
	noGo := pathWithout(t, "go")
	code, _, stderr = run(t, []string{"PATH=" + noGo}, asNobody("bash", "scripts/deps.sh", "build")...)
	if code != 1 {
		t.Errorf("without go: exit %d, want 1", code)
	}
	oneLine(t, "scripts/deps.sh build without go", stderr,
		"kernelevents: make build needs Go "+want+" or later (go.mod), which is not on PATH: "+
			"as root, make installs it into /usr/local/go; or install it from https://go.dev/dl/")
	// An older go (Debian 12's golang-go) is not enough either.
	stubGo(t, noGo, "1.19.8")
	code, _, stderr = run(t, []string{"PATH=" + noGo, "KERNELEVENTS_NO_INSTALL=1"}, "bash", "scripts/deps.sh", "build")
	if code != 1 {
		t.Errorf("with go 1.19.8: exit %d, want 1", code)
	}
	oneLine(t, "scripts/deps.sh build with go 1.19.8", stderr,
		"kernelevents: make build needs Go "+want+" or later (go.mod); the go on PATH is 1.19.8: "+
			"as root, make installs it into /usr/local/go; or install it from https://go.dev/dl/")
}

// TestDepsInstallsGo: as root, with only an old go on PATH (Debian 12's
// golang-go), the set-up installs go.mod's Go (bootstrap golang-1.23-go from
// bookworm-backports, the toolchain from the Go module proxy) where every
// user can run it, links it, and a second run does nothing. A Go it did not
// install is never replaced. Needs Debian's apt and the network to the
// Debian mirror and the Go module proxy.
func TestDepsInstallsGo(t *testing.T) {
	requireSetupTools(t)
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatalf("apt-get: %v (the set-up installs Go on Debian 12)", err)
	}
	want := goModVersion(t)
	path := pathWithout(t, "go", "gofmt")
	stubGo(t, path, "1.19.8")
	links := filepath.Join(testutil.TempDir(t), "links") // readable by any user
	if err := os.Mkdir(links, 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(filepath.Dir(links), "go")
	// The links come first on PATH, as /usr/local/bin does before /usr/bin.
	env := []string{"PATH=" + links + ":" + path, "HOME=" + os.Getenv("HOME"), "LANG=C",
		"KERNELEVENTS_GO_DEST=" + dest, "KERNELEVENTS_GO_LINKS=" + links}
	if v := os.Getenv("GOMODCACHE"); v != "" {
		env = append(env, "GOMODCACHE="+v)
	}
	if v := os.Getenv("GOPROXY"); v != "" {
		env = append(env, "GOPROXY="+v)
	}

	code, stdout, stderr := run(t, env, "bash", "scripts/deps.sh", "build")
	if code != 0 {
		t.Fatalf("scripts/deps.sh build with go 1.19.8 as root: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stderr, "kernelevents: installing Go "+want+" into "+dest+" ") {
		t.Errorf("stderr:\n%s\nwant it to say it installs Go %s into %s", stderr, want, dest)
	}
	// Every user can run it, through the link.
	code, stdout, stderr = run(t, []string{"PATH=" + links + ":/usr/bin:/bin", "HOME=/nonexistent", "GOTOOLCHAIN=local"},
		asNobody("go", "version")...)
	if code != 0 || !strings.HasPrefix(stdout, "go version go"+want+" ") {
		t.Errorf("the installed go as uid 65534: exit %d, %q %q; want go%s", code, stdout, stderr, want)
	}
	// Installed: nothing to do the second time.
	code, stdout, stderr = run(t, env, "bash", "scripts/deps.sh", "build")
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("second run: exit %d, %q %q; want nothing", code, stdout, stderr)
	}
	// A Go the set-up did not install is left alone.
	if err := os.Remove(filepath.Join(dest, ".kernelevents-installed")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dest, "VERSION"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stubGo(t, links, "1.19.8") // replaces the link: the go first on PATH is old again
	code, _, stderr = run(t, env, "bash", "scripts/deps.sh", "build")
	if code != 1 || !strings.Contains(stderr, dest+" holds a Go this set-up did not install") {
		t.Errorf("over a foreign Go: exit %d, %q; want exit 1 naming %s", code, stderr, dest)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "VERSION")); err != nil || string(b) != "mine\n" {
		t.Errorf("the foreign Go was touched: VERSION %q, %v", b, err)
	}
}

// TestOneGoLine: every module of the project names go.mod's Go version, so a
// set-up fetches one toolchain: the committed modules, and the ones make
// writes (ocb's collector module, the SPIRE build module) when present.
func TestOneGoLine(t *testing.T) {
	root := repoRoot(t)
	want := "go " + goModVersion(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "*go.mod").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	mods := strings.Fields(string(out))
	if len(mods) < 3 {
		t.Fatalf("git ls-files found %v: want go.mod, deploy/tools/go.mod, internal/tools/go.mod", mods)
	}
	built, _ := filepath.Glob(filepath.Join(root, ".cache", "spire", "*", "mod", "go.mod"))
	if _, err := os.Stat(filepath.Join(root, "_build", "collector", "go.mod")); err == nil {
		built = append(built, filepath.Join("_build", "collector", "go.mod"))
	}
	for _, m := range append(mods, built...) {
		if !filepath.IsAbs(m) {
			m = filepath.Join(root, m)
		}
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		line := regexp.MustCompile(`(?m)^go [0-9.]+$`).Find(b)
		if string(line) != want {
			t.Errorf("%s: %q, want %q", m, line, want)
		}
		if regexp.MustCompile(`(?m)^toolchain `).Match(b) {
			t.Errorf("%s has a toolchain line: the go line alone names the toolchain", m)
		}
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mk, []byte("$(GO) mod edit -go=$(GO_VERSION)")) {
		t.Error("the Makefile does not set ocb's collector module to go.mod's version")
	}
}

// TestDepsEveryTarget: every make target that runs the set-up is one the
// script knows (a typo would make the target fail with "unknown target"),
// and make test's list covers the packages of the targets it runs.
func TestDepsEveryTarget(t *testing.T) {
	root := repoRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`deps-([a-z-]+)`).FindAllSubmatch(mk, -1) {
		targets[string(m[1])] = true
	}
	if !targets["test"] || !targets["generate"] || len(targets) < 8 {
		t.Fatalf("the Makefile runs the set-up for %v only", targets)
	}
	list := func(target string) []string {
		code, stdout, stderr := run(t, []string{"PATH=" + os.Getenv("PATH")}, "bash", "scripts/deps.sh", "--list", target)
		if code != 0 {
			t.Fatalf("scripts/deps.sh --list %s: exit %d: %s", target, code, stderr)
		}
		return strings.Fields(stdout)
	}
	all := strings.Join(list("test"), " ") + " "
	for target := range targets {
		pkgs := list(target)
		switch target {
		case "bench", "soak", "run", "build", "deb", "image", "release":
			continue // not part of make test, or covered by image-test/deb-test
		}
		for _, p := range pkgs {
			if !strings.Contains(" "+all, " "+p+" ") {
				t.Errorf("make test runs %s, which needs %s, but scripts/deps.sh test does not install it", target, p)
			}
		}
	}
	// The README's prerequisites name the same list.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "`scripts/deps.sh --list test`: " + strings.TrimSpace(all) + ")"; !bytes.Contains(readme, []byte(want)) {
		t.Errorf("README.md's prerequisites do not list make test's packages; want the text %q", want)
	}
	for _, p := range []string{"clang", "llvm", "qemu-system-x86", "busybox-static", "podman", "debootstrap"} {
		if !strings.Contains(" "+all, " "+p+" ") {
			t.Errorf("scripts/deps.sh --list test lacks %s", p)
		}
	}
}
