package gemm

import (
	"math/rand/v2"
	"testing"
)

// A row's result must not depend on how many rows the call has or where
// its tile falls: the encoder relies on it for "batched ≡ each sequence
// alone", bit for bit.
func TestLinearRowIndependent(t *testing.T) {
	for _, name := range Impls() {
		if err := SetImpl(name); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for _, K := range []int{32, 300} {
			for _, N := range []int{17, 64, 100} {
				M := 40
				a, w, bias := make([]float32, M*K), make([]float32, N*K), make([]float32, N)
				for _, x := range [][]float32{a, w, bias} {
					for i := range x {
						x[i] = r.Float32()*2 - 1
					}
				}
				full := make([]float32, M*N)
				Linear(full, a, w, bias, M, K, N, nil)
				for _, m := range []int{1, 5, 7, 13} {
					for _, off := range []int{0, 3, M - m} {
						part := make([]float32, m*N)
						Linear(part, a[off*K:], w, bias, m, K, N, nil)
						for i := range part {
							if part[i] != full[off*N+i] {
								t.Fatalf("%s K=%d N=%d: rows %d..%d alone differ from the full call at %d: %v vs %v",
									name, K, N, off, off+m, i, part[i], full[off*N+i])
							}
						}
					}
				}
			}
		}
	}
	SetImpl(Impls()[0])
}
