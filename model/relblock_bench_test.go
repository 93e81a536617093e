package model

import (
	"math/rand/v2"
	"testing"
)

// addRelative of one (sequence, head) of deberta-v3-base at T = 128. In a
// forward pass it runs on one thread per (sequence, head): compare with
// -cpu 1 (measured: relBlock 32 160–207 µs, 64 ~201 µs, one block of the
// whole sequence 222–228 µs; with the exact region gathered as runs,
// relLinearRuns, 164–198 → 132–160 µs).
func BenchmarkAddRelative(b *testing.B) {
	cfg, err := ShapeConfig("deberta-v3-base")
	if err != nil {
		b.Fatal(err)
	}
	cfg.NumHiddenLayers = 1
	m, err := NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	d := m.Deberta
	C, T := cfg.HiddenSize, 128
	hd := C / cfg.NumAttentionHeads
	R := len(d.RelEmbeddings) / C
	r := rand.New(rand.NewPCG(1, 1))
	q, k := randn(r, T*C, 1), randn(r, T*C, 1)
	posK, posQ := randn(r, R*C, 1), randn(r, R*C, 1)
	relIdx := d.relIndex(nil, T)
	S := make([]float32, T*T)
	ext := make([]float32, 2*T*(2*T-1))
	b.ResetTimer()
	for b.Loop() {
		d.addRelative(S, T, q, k, C, posK, posQ, 0, hd, T, relIdx, T, ext)
	}
}
