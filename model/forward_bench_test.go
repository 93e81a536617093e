package model

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/internal/golden"
)

// BenchmarkForwardTiny tracks per-call overhead and allocations of the
// forward pass (run with -benchmem: allocations should stay near zero).
func BenchmarkForwardTiny(b *testing.B) {
	m, err := Load(filepath.Join(golden.Dir(b), "models", "roberta-tiny"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ids := make([][]int32, 8)
	for i := range ids {
		ids[i] = make([]int32, 32)
		for j := range ids[i] {
			ids[i][j] = int32(3 + (i*7+j*13)%90)
		}
	}
	bt := NewBatch(ids, nil)
	ws := &Workspace{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(context.Background(), bt, ws, nil); err != nil {
			b.Fatal(err)
		}
	}
}
