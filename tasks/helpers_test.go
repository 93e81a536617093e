package tasks

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedData locates shared/data: $AOTP_SHARED_DATA, else the first
// ancestor of the package directory that has a shared/data folder (the
// repository's sibling shared/). Skips the test when absent.
func sharedData(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AOTP_SHARED_DATA"); p != "" {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		t.Skipf("AOTP_SHARED_DATA=%s is not a directory; skipping real-data test", p)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Skipf("no working directory: %v", err)
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Skip("shared/data not found above the package directory and AOTP_SHARED_DATA unset; skipping real-data test")
	return ""
}

// writeFile writes content to name in a fresh temp dir (or dir if given) and
// returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustTask(t *testing.T, name string) *Task {
	t.Helper()
	tk, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func labelCounts(exs []Example) map[int]int {
	c := map[int]int{}
	for _, e := range exs {
		c[e.Label]++
	}
	return c
}
