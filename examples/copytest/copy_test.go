// Package copytest checks the promise the examples make: an agency can copy
// one example directory (with its subdirectories) into a module of its own
// and build it. Each example's files (tests left out) go into a fresh module
// that requires this one, as an agency's module would, and must build there;
// an example that leans on an internal package of this module, or on code
// elsewhere under examples/, does not. The one exception is the demo, a
// showcase that runs other examples in one process (see showcases).
package copytest_test

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	modulePath = "github.com/clave-go/clave"
	copyModule = "example.com/agencycopy"
)

// showcases are the examples allowed to import other examples: the demo
// runs the procedures app beside the gateway and its agency. Nobody copies
// the demo alone; the examples it imports must still stand alone.
var showcases = map[string][]string{"demo": {"procedures"}}

func TestExamplesBuildOutsideTheModule(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds every example in a module of its own")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipped: the go command is not on PATH (%v)", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(goMod, []byte("module "+modulePath+"\n")) {
		t.Fatalf("%s is not the root of %s", root, modulePath)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}
	goSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}

	examples := exampleDirs(t, filepath.Join(root, "examples"))
	if len(examples) == 0 {
		t.Fatal("no examples found")
	}
	// One module holds a copy of each example, one directory each: a
	// module of the agency's own, built with one go command rather than
	// one per example (the module graph is loaded once). Each copy's
	// imports are checked on the way, so no copy can lean on another.
	dir := t.TempDir()
	for _, ex := range examples {
		name := filepath.Base(ex)
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		copyExample(t, ex, filepath.Join(dir, name))
	}
	mod := "module " + copyModule + "\n\ngo " + string(goVersion[1]) + "\n\n" +
		"require " + modulePath + " v0.0.0\n\n" +
		"replace " + modulePath + " => " + root + "\n"
	write(t, filepath.Join(dir, "go.mod"), []byte(mod))
	write(t, filepath.Join(dir, "go.sum"), goSum)

	cmd := exec.Command(goTool, "build", "./...")
	cmd.Dir = dir
	cmd.Env = append(withoutGoSettings(os.Environ()),
		"GOFLAGS=-mod=mod", // the copy's go.mod lists only clave: take its requirements from there
		"GOPROXY=off",      // everything is in the module cache already; never the network
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the examples do not build in a module of their own (%v):\n%s", err, out)
	}
}

// exampleDirs lists the directories right under examples that hold non-test
// Go files, this one aside.
func exampleDirs(t *testing.T, examples string) []string {
	t.Helper()
	entries, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "copytest" {
			continue
		}
		dir := filepath.Join(examples, e.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if isSource(f.Name()) {
				dirs = append(dirs, dir)
				break
			}
		}
	}
	return dirs
}

func isSource(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
}

// copyExample copies the example's files and subdirectories, tests left out
// (an agency's copy would take them, but they may use test-only helpers of
// their own), and the files the sources embed. Each source's imports are
// checked on the way: nothing internal to this module and nothing else
// under examples/, which an agency would not have copied; imports of the
// example's own packages are rewritten to the copy's module path.
func copyExample(t *testing.T, from, to string) {
	t.Helper()
	name := filepath.Base(from)
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dest := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dest, 0o755)
		}
		if strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if isSource(d.Name()) {
			data = checkImports(t, name, path, data)
		}
		write(t, dest, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkImports checks the imports of src, a source of example name, and
// returns src with the imports of the example's own packages (and, for a
// showcase, of the examples it may run) pointing at the copy.
func checkImports(t *testing.T, name, path string, src []byte) []byte {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range file.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != modulePath && !strings.HasPrefix(p, modulePath+"/") {
			continue
		}
		rest := strings.TrimPrefix(p, modulePath)
		switch {
		case strings.Contains(rest+"/", "/internal/"):
			t.Errorf("%s imports %s: internal packages are not part of the public API", path, p)
		case strings.HasPrefix(rest, "/examples/"):
			other, _, _ := strings.Cut(strings.TrimPrefix(rest, "/examples/"), "/")
			if other != name && !slices.Contains(showcases[name], other) {
				t.Errorf("%s imports %s: an example must stand alone, an agency copies one directory", path, p)
				continue
			}
			src = bytes.ReplaceAll(src, []byte(strconv.Quote(p)),
				[]byte(strconv.Quote(copyModule+strings.TrimPrefix(rest, "/examples"))))
		}
	}
	for _, imp := range file.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == copyModule || strings.HasPrefix(p, copyModule+"/") {
			t.Errorf("%s imports %s: an example must stand alone", path, p)
		}
	}
	return src
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// withoutGoSettings drops the settings the copy's build sets itself (CI runs
// the tests with GOFLAGS=-race, for one).
func withoutGoSettings(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOFLAGS", "GOPROXY", "GOWORK", "GOTOOLCHAIN":
			continue
		}
		out = append(out, kv)
	}
	return out
}
