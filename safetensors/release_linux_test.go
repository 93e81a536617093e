//go:build linux

package safetensors

import (
	"path/filepath"
	"testing"
)

// Release drops a touched tensor's pages from the resident set; the view
// stays valid and reads the same values again.
func TestReleaseDropsPages(t *testing.T) {
	const n = 4 << 20 // 16 MB of floats
	p := filepath.Join(t.TempDir(), "m.safetensors")
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i % 1000)
	}
	small := []float32{1, 2, 3}
	if err := Write(p, []Tensor{F32Tensor("w", []int{n}, vals), F32Tensor("s", []int{3}, small)}, nil); err != nil {
		t.Fatal(err)
	}
	vals = nil
	m, err := OpenModel(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v, _, err := m.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	touch := func() (s float64) {
		for i := 0; i < len(v); i += 256 {
			s += float64(v[i])
		}
		return s
	}
	want := touch()
	if !m.Releasable(v) {
		t.Fatal("Releasable(a mapped tensor) = false")
	}
	before := residentBytes(t)
	got, err := m.ReleaseView(v)
	if err != nil {
		t.Fatal(err)
	}
	if got < n*4-2*int64(pageSize) || got > n*4 {
		t.Fatalf("ReleaseView released %d bytes of a %d-byte tensor", got, n*4)
	}
	after := residentBytes(t)
	if drop := before - after; drop < 12<<20 {
		t.Fatalf("RSS went from %d to %d after releasing 16 MB", before, after)
	}
	if s := touch(); s != want {
		t.Fatalf("values changed after Release: sum %v, want %v", s, want)
	}
	if _, err := m.Release("w"); err != nil {
		t.Fatal(err)
	}
	if s := touch(); s != want {
		t.Fatalf("values changed after Release by name: sum %v, want %v", s, want)
	}
	// Smaller than a page: nothing to release, the data stays.
	if got, err := m.Release("s"); err != nil || got != 0 {
		t.Fatalf("Release(small) = %d, %v", got, err)
	}
	if _, err := m.Release("nope"); err == nil {
		t.Fatal("Release of a missing tensor: no error")
	}
	// A slice outside the mappings (heap memory) is ignored.
	heap := make([]float32, 1<<20)
	heap[5] = 7
	if got, err := m.ReleaseView(heap); err != nil || got != 0 || heap[5] != 7 {
		t.Fatalf("ReleaseView(heap) = %d, %v", got, err)
	}
	if m.Releasable(heap) || m.Releasable(nil) {
		t.Fatal("Releasable(heap or empty) = true")
	}

	// A writable (copy-on-write) mapping may hold private changes: never
	// released.
	w, err := OpenWith(p, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wv, _, err := w.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	wv[0] = 42
	if got, err := w.Release("w"); err != nil || got != 0 || wv[0] != 42 {
		t.Fatalf("Release on a writable mapping = %d, %v, v[0]=%v", got, err, wv[0])
	}
}

// Converting a tensor (F16 here) gives its mapped pages back: the caller
// holds the float32 copy, and the file's pages would only double it.
func TestConvertReleasesPages(t *testing.T) {
	const n = 8 << 20 // 16 MB of F16, 32 MB as float32
	p := filepath.Join(t.TempDir(), "h.safetensors")
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i % 1000)
	}
	if err := Write(p, []Tensor{F16Tensor("h", []int{n}, vals)}, nil); err != nil {
		t.Fatal(err)
	}
	vals = nil
	m, err := OpenModel(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	before := residentBytes(t)
	v, _, err := m.Float32("h")
	if err != nil {
		t.Fatal(err)
	}
	after := residentBytes(t)
	if grew := after - before; grew > 40<<20 {
		t.Fatalf("converting 16 MB of F16 grew RSS by %d MB: the mapped pages stayed (want ~32 MB, the float32 copy)", grew>>20)
	}
	if v[999] != 999 || v[1000] != 0 {
		t.Fatalf("converted values wrong: %v %v", v[999], v[1000])
	}
	// converting again reads the file's pages back
	w, _, err := m.Float32("h")
	if err != nil || w[12345] != v[12345] {
		t.Fatalf("second conversion: %v, %v vs %v", err, w[12345], v[12345])
	}
}
