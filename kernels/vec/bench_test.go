package vec

import (
	"testing"
)

// Benchmarks run once per available implementation, e.g.
//
//	go test -run '^$' -bench . -benchtime 200x ./kernels/vec/
//
// MB/s counts the bytes of the main input (4 per float); elem/ns is
// throughput in elements.

func benchImpls(b *testing.B, elems int, bytes int64, fn func()) {
	prev := Impl()
	defer SetImpl(prev)
	for _, name := range Impls() {
		b.Run(name, func(b *testing.B) {
			SetImpl(name)
			b.SetBytes(bytes)
			for i := 0; i < b.N; i++ {
				fn()
			}
			b.ReportMetric(float64(elems)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "elem/ns")
		})
	}
}

func BenchmarkGELU(b *testing.B) {
	const n = 128 * 3072
	x := randn(n, 1.5, 1)
	y := make([]float32, n)
	benchImpls(b, n, n*4, func() { GELUForward(y, x) })
}

func BenchmarkGELUBackward(b *testing.B) {
	const n = 128 * 3072
	x := randn(n, 1.5, 1)
	g := randn(n, 1, 2)
	d := make([]float32, n)
	benchImpls(b, n, n*4, func() { GELUBackward(d, x, g) })
}

func BenchmarkGELUTanh(b *testing.B) {
	const n = 128 * 3072
	x := randn(n, 1.5, 1)
	y := make([]float32, n)
	benchImpls(b, n, n*4, func() { copy(y, x); GELUTanh(y) })
}

func BenchmarkTanh(b *testing.B) {
	const n = 128 * 768
	x := randn(n, 1.5, 1)
	y := make([]float32, n)
	benchImpls(b, n, n*4, func() { copy(y, x); Tanh(y) })
}

func BenchmarkExp(b *testing.B) {
	const n = 128 * 3072
	x := randn(n, 4, 1)
	y := make([]float32, n)
	benchImpls(b, n, n*4, func() { Exp(y, x) })
}

// SoftmaxRow over 128 rows of 128 (one attention head, seq 128).
func BenchmarkSoftmax(b *testing.B) {
	const N, C = 128, 128
	x := randn(N*C, 3, 1)
	y := make([]float32, N*C)
	benchImpls(b, N*C, N*C*4, func() { Softmax(y, x, N, C) })
}

func BenchmarkSoftmaxBackward(b *testing.B) {
	const N, C = 128, 128
	x := randn(N*C, 3, 1)
	y := make([]float32, N*C)
	Softmax(y, x, N, C)
	g := randn(N*C, 1, 2)
	d := make([]float32, N*C)
	benchImpls(b, N*C, N*C*4, func() { SoftmaxBackward(d, y, g, N, C) })
}

func BenchmarkLayerNorm(b *testing.B) {
	const N, C = 128, 768
	x := randn(N*C, 1, 1)
	w, bb := randn(C, 1, 2), randn(C, 1, 3)
	out := make([]float32, N*C)
	mean, rstd := make([]float32, N), make([]float32, N)
	benchImpls(b, N*C, N*C*4, func() { LayerNorm(out, mean, rstd, x, w, bb, N, C, 1e-5) })
}

func BenchmarkLayerNormBackward(b *testing.B) {
	const N, C = 128, 768
	x := randn(N*C, 1, 1)
	w, bb := randn(C, 1, 2), randn(C, 1, 3)
	out := make([]float32, N*C)
	mean, rstd := make([]float32, N), make([]float32, N)
	LayerNorm(out, mean, rstd, x, w, bb, N, C, 1e-5)
	g := randn(N*C, 1, 4)
	dinp := make([]float32, N*C)
	dw, db := make([]float32, C), make([]float32, C)
	b.Run("params", func(b *testing.B) {
		benchImpls(b, N*C, N*C*4, func() { LayerNormBackward(dinp, dw, db, g, x, w, mean, rstd, N, C) })
	})
	b.Run("frozen", func(b *testing.B) {
		benchImpls(b, N*C, N*C*4, func() { LayerNormBackward(dinp, nil, nil, g, x, w, mean, rstd, N, C) })
	})
}

func BenchmarkAxpy(b *testing.B) {
	const n = 768 * 64
	x, y := randn(n, 1, 1), randn(n, 1, 2)
	benchImpls(b, n, n*4, func() { Axpy(y, 1e-3, x) })
}

func BenchmarkDot(b *testing.B) {
	const n = 768 * 64
	x, y := randn(n, 1, 1), randn(n, 1, 2)
	var s float32
	benchImpls(b, n, n*4, func() { s += Dot(x, y) })
	_ = s
}

func BenchmarkAdd(b *testing.B) {
	const n = 128 * 768
	x, y := randn(n, 1, 1), randn(n, 1, 2)
	out := make([]float32, n)
	benchImpls(b, n, n*4, func() { Add(out, x, y) })
}
