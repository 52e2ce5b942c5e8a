// SPDX-License-Identifier: Apache-2.0

package repotest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// What TestReferencesExist reads: the documentation (*.md) and the comments
// of the Go and C sources. What it checks there:
//   - a repository path: a Markdown link's target, a word in backticks with a
//     slash or a source file's extension, and a bare word that starts with
//     one of the repository's top-level directories (bpf/filter.h,
//     internal/probe/); it must exist relative to the repository, to the
//     file's directory, or (a bare file name) somewhere in the repository;
//   - a Go symbol qualified by the name of one of the repository's packages,
//     in backticks or bare in a comment: probe.Hooks, event.Event.EUID; the
//     package must declare it (a field or method for a third part); in a Go
//     comment also Type.Member of the file's own package (Options.Hook);
//   - "NAME in FILE" (struct prefix_key in bpf/filter.h, SCRATCH_SLOTS in
//     bpf/scratch.h): FILE must name NAME, which a split into headers breaks
//     while FILE still exists. NAME must look like code (an underscore, a
//     capital, or ()), not an English word.
//   - a Go doc comment that starts with a camelCase name other than the
//     function's or type's it documents (renamed, the comment left behind).
//
// Not checked (they would be guesses): globs and placeholders
// (kernelevents_*_bpfel.go, <version>), unqualified names, C names, absolute
// paths (they are the target machine's), URLs.

// buildDirs hold what git and the build write: not walked, and a reference
// into them (_build/collector/...) is to something a build makes.
var buildDirs = map[string]bool{".git": true, "_build": true, ".bin": true, ".cache": true, "node_modules": true}

// notProse: files that exist but whose words are not the repository's own
// (the vendored kernel headers, licence texts).
func notProse(p string) bool {
	return strings.HasPrefix(p, "bpf/include/") || strings.HasPrefix(p, "LICENSES/")
}

var (
	backticked = regexp.MustCompile("`([^`\n]+)`")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// A bare path: a word that starts with a top-level directory (filled in
	// per repository), up to a space or closing punctuation.
	barePathTail = `/[A-Za-z0-9_.,{}*<>/-]*`
	// A Go name qualified by a package: pkg.Name or pkg.Type.Member.
	// A trailing * (probe.Lost*) names a family, not checked.
	qualified = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./])([a-z][a-z0-9]*)\.([A-Z][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?(\*?)`)
	// In a Go comment, a field or method of a type of the file's own
	// package: Config.Identity, Event.EUID.
	member     = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./])([A-Z][A-Za-z0-9_]*)\.([A-Z][A-Za-z0-9_]*)(\*?)`)
	sourceExts = []string{".go", ".c", ".h", ".md", ".sh", ".yaml", ".yml", ".json", ".s"}
	// "prefix_key in bpf/filter.h", "(SCRATCH_SLOTS in `bpf/scratch.h`)": the
	// name must be in that file.
	nameIn = regexp.MustCompile("([A-Za-z_][A-Za-z0-9_]*)(?:\\(\\))?`?\\s+in\\s+`?([A-Za-z0-9_./-]+\\.(?:go|c|h|sh|yaml))\\b")
	// The markers a comment's continuation lines start with.
	commentMarks = regexp.MustCompile(`(?m)^[ \t]*(//|\*)`)
	// A name, not a word: lastCreations, newURing (a capital after the first letter).
	camelCase = regexp.MustCompile(`^[a-z]+[A-Z][A-Za-z0-9]*$`)
	cComment  = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
)

// goIndex is what the repository's Go packages declare, by package name:
// top-level names, and "Type.Member" for fields and methods.
type goIndex map[string]map[string]bool

func (x goIndex) add(pkg, name string) {
	if x[pkg] == nil {
		x[pkg] = map[string]bool{}
	}
	x[pkg][name] = true
}

// indexGo records the declarations of one parsed Go file.
func (x goIndex) indexGo(f *ast.File) {
	pkg := f.Name.Name
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) == 0 {
				x.add(pkg, d.Name.Name)
				continue
			}
			t := d.Recv.List[0].Type
			for {
				switch e := t.(type) {
				case *ast.StarExpr:
					t = e.X
					continue
				case *ast.IndexExpr:
					t = e.X
					continue
				case *ast.IndexListExpr:
					t = e.X
					continue
				}
				break
			}
			if id, ok := t.(*ast.Ident); ok {
				x.add(pkg, id.Name+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						x.add(pkg, n.Name)
					}
				case *ast.TypeSpec:
					x.add(pkg, s.Name.Name)
					var fields *ast.FieldList
					switch t := s.Type.(type) {
					case *ast.StructType:
						fields = t.Fields
					case *ast.InterfaceType:
						fields = t.Methods
					}
					if fields == nil {
						continue
					}
					for _, f := range fields.List {
						for _, n := range f.Names {
							x.add(pkg, s.Name.Name+"."+n.Name)
						}
						if len(f.Names) == 0 { // embedded: its name is its type's; its members are promoted
							x.add(pkg, s.Name.Name+".<embeds>")
							t := f.Type
							if st, ok := t.(*ast.StarExpr); ok {
								t = st.X
							}
							switch e := t.(type) {
							case *ast.Ident:
								x.add(pkg, s.Name.Name+"."+e.Name)
							case *ast.SelectorExpr:
								x.add(pkg, s.Name.Name+"."+e.Sel.Name)
							}
						}
					}
				}
			}
		}
	}
}

// text is one piece of prose to check and where it is.
type text struct {
	file string // the file, relative to the repository
	line int
	body string
	bare bool   // comments: bare paths and symbols count, not only backticked ones
	pkg  string // a Go comment's package
}

// staleReferences returns one problem per reference in fsys's documents and
// comments to a path or Go symbol that fsys does not have.
func staleReferences(fsys fs.FS) ([]string, error) {
	files := map[string]bool{}
	contents := map[string]string{}
	bases := map[string]bool{}
	dirs := map[string]bool{}
	var texts []text
	var docNames []string // doc comments that start with another name
	var blocks []text     // whole comments and documents, for nameIn across line breaks
	idx := goIndex{}
	fset := token.NewFileSet()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if buildDirs[d.Name()] {
				return fs.SkipDir
			}
			dirs[p] = true
			return nil
		}
		files[p] = true
		bases[d.Name()] = true
		if notProse(p) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if ext := path.Ext(p); ext == ".go" || ext == ".c" || ext == ".h" || ext == ".sh" || ext == ".yaml" {
			contents[p] = string(data)
		}
		switch path.Ext(p) {
		case ".md":
			for i, l := range strings.Split(string(data), "\n") {
				texts = append(texts, text{file: p, line: i + 1, body: l})
			}
			blocks = append(blocks, text{file: p, line: 1, body: string(data)})
		case ".go":
			f, err := parser.ParseFile(fset, p, data, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			idx.indexGo(f)
			docNames = append(docNames, misnamedDocs(p, fset, f)...)
			if ast.IsGenerated(f) {
				return nil
			}
			for _, cg := range f.Comments {
				var raw []string
				for _, c := range cg.List {
					raw = append(raw, c.Text)
				}
				blocks = append(blocks, text{file: p, line: fset.Position(cg.Pos()).Line, body: strings.Join(raw, "\n")})
				for _, c := range cg.List {
					for _, t := range splitLines(p, fset.Position(c.Pos()).Line, c.Text) {
						t.pkg = f.Name.Name
						texts = append(texts, t)
					}
				}
			}
		case ".c", ".h":
			for _, loc := range cComment.FindAllIndex(data, -1) {
				line := 1 + strings.Count(string(data[:loc[0]]), "\n")
				texts = append(texts, splitLines(p, line, string(data[loc[0]:loc[1]]))...)
				blocks = append(blocks, text{file: p, line: line, body: string(data[loc[0]:loc[1]])})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var tops []string
	for d := range dirs {
		if d != "." && !strings.Contains(d, "/") && !strings.HasPrefix(d, ".") {
			tops = append(tops, regexp.QuoteMeta(d))
		}
	}
	slices.Sort(tops)
	var barePath *regexp.Regexp
	if len(tops) > 0 {
		barePath = regexp.MustCompile(`(?:^|[\s(\["'])((?:` + strings.Join(tops, "|") + `)` + barePathTail + `)`)
	}

	exists := func(from, ref string) bool {
		ref = strings.TrimPrefix(ref, "./")
		ref = strings.TrimSuffix(ref, "/")
		if ref == "" || ref == "." {
			return true
		}
		for _, base := range []string{".", path.Dir(from)} {
			p := path.Clean(path.Join(base, ref))
			if files[p] || dirs[p] {
				return true
			}
		}
		return !strings.Contains(ref, "/") && bases[ref]
	}
	var problems []string
	report := func(t text, format string, args ...any) {
		problems = append(problems, t.file+":"+strconv.Itoa(t.line)+": "+fmt.Sprintf(format, args...))
	}
	checkPath := func(t text, ref string) {
		ref = strings.TrimRight(ref, ".,:;)")
		if i := strings.IndexAny(ref, "#?"); i >= 0 {
			ref = ref[:i]
		}
		if i := strings.Index(ref, ".go:"); i >= 0 { // file.go:123
			ref = ref[:i+3]
		}
		if ref == "" || strings.ContainsAny(ref, "*{}<>$ ") || strings.Contains(ref, "...") || path.IsAbs(ref) {
			return
		}
		top, _, _ := strings.Cut(strings.TrimPrefix(ref, "./"), "/")
		if buildDirs[top] {
			return
		}
		if !exists(t.file, ref) {
			report(t, "%s does not exist", ref)
		}
	}
	checkSymbol := func(t text, pkg, name, member string) {
		decls, ok := idx[pkg]
		if !ok {
			return // not a package of this repository (a variable, another module)
		}
		if member != "" && decls[name+"."+member] {
			return
		}
		if member != "" && decls[name] && !startsUpper(member) {
			return // pkg.Name.method(): a call or unexported detail, not checked
		}
		if member == "" && decls[name] {
			return
		}
		if !decls[name] {
			report(t, "%s.%s is not declared in package %s", pkg, name, pkg)
			return
		}
		report(t, "%s.%s has no field or method %s", pkg, name, member)
	}
	for _, t := range texts {
		for _, m := range backticked.FindAllStringSubmatch(t.body, -1) {
			w := strings.TrimSpace(m[1])
			if strings.ContainsAny(w, " =") {
				w = ""
			}
			if w == "" || strings.Contains(w, "://") {
				continue
			}
			if strings.Contains(w, "/") || slices.Contains(sourceExts, path.Ext(w)) {
				rel := strings.TrimPrefix(w, "./")
				if !strings.Contains(rel, "/") && !slices.Contains(sourceExts, path.Ext(rel)) {
					continue // ./boot: a directory of something else (an unpacked package)
				}
				if strings.Contains(rel, "/") && !isTopPath(rel, tops) && !dirs[path.Join(path.Dir(t.file), strings.SplitN(rel, "/", 2)[0])] {
					continue // a/b whose a is none of our directories: the kernel's (kernel/auditsc.c) or a key path
				}
				checkPath(t, w)
			}
		}
		if path.Ext(t.file) == ".md" {
			for _, m := range mdLink.FindAllStringSubmatch(t.body, -1) {
				if !strings.Contains(m[1], "://") && !strings.HasPrefix(m[1], "#") && !strings.HasPrefix(m[1], "mailto:") {
					checkPath(t, m[1])
				}
			}
		}
		if t.bare && barePath != nil {
			for _, m := range barePath.FindAllStringSubmatch(t.body, -1) {
				checkPath(t, m[1])
			}
		}
		body := t.body
		if !t.bare {
			var b strings.Builder
			for _, m := range backticked.FindAllStringSubmatch(t.body, -1) {
				b.WriteString(" " + m[1] + " ")
			}
			body = b.String()
		}
		for _, m := range qualified.FindAllStringSubmatch(body, -1) {
			if m[4] == "" {
				checkSymbol(t, m[1], m[2], m[3])
			}
		}
		if decls := idx[t.pkg]; t.pkg != "" {
			for _, m := range member.FindAllStringSubmatch(body, -1) {
				typ, name := m[1], m[2]
				if m[3] == "" && decls[typ] && !decls[typ+".<embeds>"] && hasMembers(decls, typ) && !decls[typ+"."+name] {
					report(t, "%s.%s has no field or method %s", t.pkg, typ, name)
				}
			}
		}
	}
	for _, b := range blocks {
		body := commentMarks.ReplaceAllString(b.body, " ")
		for _, m := range nameIn.FindAllStringSubmatchIndex(body, -1) {
			name, file := body[m[2]:m[3]], strings.TrimPrefix(body[m[4]:m[5]], "./")
			if !strings.ContainsAny(name, "_ABCDEFGHIJKLMNOPQRSTUVWXYZ") && !strings.HasPrefix(body[m[3]:], "()") {
				continue // an English word (the key in x.go), not a name
			}
			at := text{file: b.file, line: b.line + strings.Count(body[:m[0]], "\n")}
			for _, base := range []string{".", path.Dir(b.file)} {
				c, ok := contents[path.Clean(path.Join(base, file))]
				if ok && path.Clean(path.Join(base, file)) == b.file {
					c = strings.Replace(c, b.body, "", 1) // not the reference itself
				}
				if ok && !regexp.MustCompile(`\b`+regexp.QuoteMeta(name)+`\b`).MatchString(c) {
					report(at, "%s is not in %s", name, file)
				}
			}
		}
	}
	problems = append(problems, docNames...)
	slices.Sort(problems)
	return slices.Compact(problems), nil
}

// misnamedDocs returns one problem per doc comment in f that starts with a
// name in camelCase (lastCreations) other than the one it documents (a
// function or type renamed, its comment left behind).
func misnamedDocs(file string, fset *token.FileSet, f *ast.File) []string {
	var out []string
	check := func(doc *ast.CommentGroup, name string) {
		if doc == nil {
			return
		}
		first, _, _ := strings.Cut(strings.TrimSpace(doc.Text()), " ")
		first = strings.TrimRight(first, ":,.")
		if first != name && camelCase.MatchString(first) {
			out = append(out, fmt.Sprintf("%s:%d: the comment of %s starts with %s", file, fset.Position(doc.Pos()).Line, name, first))
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			check(d.Doc, d.Name.Name)
		case *ast.GenDecl:
			if len(d.Specs) == 1 {
				if ts, ok := d.Specs[0].(*ast.TypeSpec); ok {
					check(d.Doc, ts.Name.Name)
				}
			}
		}
	}
	return out
}

// splitLines makes one text per line of a comment.
func splitLines(file string, first int, comment string) []text {
	var out []text
	for i, l := range strings.Split(comment, "\n") {
		out = append(out, text{file: file, line: first + i, body: l, bare: true})
	}
	return out
}

func isTopPath(w string, tops []string) bool {
	top, _, _ := strings.Cut(strings.TrimPrefix(w, "./"), "/")
	return slices.Contains(tops, regexp.QuoteMeta(top))
}

// hasMembers says whether the index knows typ as a type (some field or
// method), not a constant or function.
func hasMembers(decls map[string]bool, typ string) bool {
	for k := range decls {
		if strings.HasPrefix(k, typ+".") {
			return true
		}
	}
	return false
}

func startsUpper(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// TestReferencesExist: no document or comment names a repository file or a
// Go symbol of its packages that does not exist (a rename or a split left
// the words behind).
func TestReferencesExist(t *testing.T) {
	problems, err := staleReferences(os.DirFS(repoRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestStaleReferenceFound: the check finds what a rename leaves behind, and
// only that, in a repository planted with both.
func TestStaleReferenceFound(t *testing.T) {
	fsys := fstest.MapFS{
		"bpf/filter.h":   {Data: []byte("/* the filter; see bpf/kernelevents.bpf.c and bpf/filter.h */\nstruct prefix_key;\n")},
		"bpf/main.bpf.c": {Data: []byte("/* prefix_key in bpf/main.bpf.c; main() in bpf/main.bpf.c; prefix_key in bpf/filter.h */\nint main;\n")},
		"internal/probe/probe.go": {Data: []byte(`// Package probe loads; see internal/probe/gone.go and bpf/filter.h.
package probe

// Options has a Hook; probe.Options.Ring is gone, probe.Options.Hook is not,
// and neither is Options.Hook; Options.Size is.
type Options struct{ Hook string }

// Open uses probe.Closer, which does not exist.
func Open() {}

// openAll was renamed.
func openEach() {}
`)},
		"README.md": {Data: []byte("See `bpf/filter.h`, `internal/probe/`, [the loader](internal/probe/probe.go), " +
			"[gone](docs/gone.md), `probe.Open`, `probe.Opened`, `filter.h`, `renamed.h`, `<version>/x.go`.\n")},
	}
	got, err := staleReferences(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"README.md:1: docs/gone.md does not exist",
		"README.md:1: probe.Opened is not declared in package probe",
		"README.md:1: renamed.h does not exist",
		"bpf/filter.h:1: bpf/kernelevents.bpf.c does not exist",
		"bpf/main.bpf.c:1: prefix_key is not in bpf/main.bpf.c",
		"internal/probe/probe.go:11: the comment of openEach starts with openAll", // sorted as text
		"internal/probe/probe.go:1: internal/probe/gone.go does not exist",
		"internal/probe/probe.go:4: probe.Options has no field or method Ring",
		"internal/probe/probe.go:5: probe.Options has no field or method Size",
		"internal/probe/probe.go:8: probe.Closer is not declared in package probe",
	}
	if !slices.Equal(got, want) {
		t.Errorf("found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
