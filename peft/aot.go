package peft

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
	"github.com/aotp/aotp/model"
)

// AoT P-Tuning (Ahead-of-Time P-Tuning): before encoder layer l runs,
// H += P_l[x], one row of a |V|×C table per token id. Training never
// stores P_l; it is reparametrised per layer:
//
//	FC:   P_l[x] = act(E[x]·W1ᵀ + b1)·W2ᵀ + b2      (E: frozen word embeddings)
//	Kron: P_l[x] = (left[x/b] ⊗ mid[x%b])·right      (a·b ≥ |V|)
//
// and only the rows of the ids present in a batch are computed; their
// gradients are summed per id. The last factor (fc2 / right) starts at zero,
// so step 0 is the frozen backbone. After training Fuse computes every table
// once, and inference is a gather and an add.

// AoT defaults.
const (
	DefaultAoTRank       = 64
	DefaultAoTActivation = "relu"
	DefaultKronA         = 256
)

// AoTConfig holds the hyperparameters stored in adapter_config.json.
type AoTConfig struct {
	Reparam    string `json:"reparam"` // "fc" | "kron" | "fused"
	Rank       int    `json:"rank,omitempty"`
	Activation string `json:"activation,omitempty"` // fc: relu | gelu | tanh
	KronA      int    `json:"kron_a,omitempty"`
	KronB      int    `json:"kron_b,omitempty"`
	Dtype      string `json:"dtype,omitempty"`      // fused: f32 | f16 | bf16 | int8
	FusedFrom  string `json:"fused_from,omitempty"` // fused: the reparametrisation it was trained with
}

// AoT is the method's state for one task on one backbone.
type AoT struct {
	Cfg     AoTConfig
	L, V, C int
	// E [V, CE]: the frozen word embeddings (FC); CE is the hidden size
	// but for a DeBERTa whose embedding_size differs (embed_proj), where
	// fc1 reads the raw embeddings: fc1.weight is [r, CE]
	E       []float32
	CE      int
	Layers  []AoTLayer
	Cache   *RowCache // compact serving: hot rows (nil: compute every batch)
	act     func([]float32)
	actBack func(dinp, inp, dout []float32)

	// per-batch state of training (and of BeforeLayer on this AoT alone)
	batch *model.Batch
	uniq  []int32   // [U] sorted distinct ids of the batch
	idx   []int32   // [N] position of each token's id in uniq
	eU    []float32 // [U, C] FC: E rows of uniq
	dRows []float32 // [U, C] backward scratch
	dA    []float32 // [U, r] or [U, r²] backward scratch
}

// rowScratch holds the intermediate values of computing rows for a set of
// ids; training keeps one per layer for the backward pass.
type rowScratch struct {
	z, a []float32 // FC: [U, r] pre-activation and activation
	kv   []float32 // Kron: [U, r²] left ⊗ mid rows
	rows []float32 // [U, C] the rows
}

// AoTLayer holds one layer's factors and what the backward pass needs.
type AoTLayer struct {
	FC1W, FC1B, FC2W, FC2B *model.Param // [r,CE], [r], [C,r], [C]
	Left, Mid, Right       *model.Param // [a,r], [b,r], [r²,C]
	Table                  *Table       // fused table (inference), nil while training

	rowScratch // the last batch's rows and intermediates (training)
}

// kronMaxR2 bounds the Kronecker rank: r² ≤ kronMaxR2·C (r ≤ 110 at C =
// 768). Beyond C the r² columns add no rank to P_l; the slack leaves room
// to experiment without letting a config allocate r²·C floats per layer
// unchecked.
const kronMaxR2 = 16

// isqrt is ⌊√n⌋.
func isqrt(n int) int {
	r := int(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// NewAoT creates AoT P-Tuning for enc with the usual init: random first
// factors, zero last factor. seed makes the init reproducible.
func NewAoT(enc *model.Encoder, cfg AoTConfig, seed uint64) (*AoT, error) {
	mc := enc.Config
	m := &AoT{Cfg: cfg, L: mc.NumHiddenLayers, V: mc.VocabSize, C: mc.HiddenSize, E: enc.Embeddings.WordEmbeddings}
	m.CE = mc.EmbeddingDim()
	r, C := cfg.Rank, m.C
	if cfg.Reparam == "fc" {
		if err := checkWidth("aot: rank", r, max(C, m.CE)); err != nil {
			return nil, err
		}
	} else if hi := isqrt(kronMaxR2 * C); cfg.Reparam == "kron" && (r < 1 || r > hi) {
		// the r² columns of W_L ⊗ W_M give P_l a rank of at most min(r², C)
		return nil, fmt.Errorf("aot: kron rank must be in [1, %d] (r² at most %d× the hidden size %d), got %d", hi, kronMaxR2, C, r)
	}
	rng := newRand(seed ^ 0xa07)
	m.Layers = make([]AoTLayer, m.L)
	switch cfg.Reparam {
	case "fc":
		if cfg.Activation == "" {
			m.Cfg.Activation = DefaultAoTActivation
		}
		var ok bool
		if m.act, m.actBack, ok = fcActivation(m.Cfg.Activation); !ok {
			return nil, fmt.Errorf("aot: activation %q is not supported (relu, gelu, tanh)", m.Cfg.Activation)
		}
		for l := range m.Layers {
			ly := &m.Layers[l]
			p := fmt.Sprintf("aot.layer.%d.", l)
			ly.FC1W, ly.FC1B = model.NewParam(p+"fc1.weight", r, m.CE), model.NewParam(p+"fc1.bias", r)
			ly.FC2W, ly.FC2B = model.NewParam(p+"fc2.weight", C, r), model.NewParam(p+"fc2.bias", C)
			// nn.Linear's default init for fc1: U(-1/√CE, 1/√CE); fc2 zero.
			uniform(rng, ly.FC1W.Data, 1/math.Sqrt(float64(m.CE)))
			uniform(rng, ly.FC1B.Data, 1/math.Sqrt(float64(m.CE)))
		}
	case "kron":
		if m.Cfg.KronA == 0 {
			m.Cfg.KronA = DefaultKronA
		}
		if m.Cfg.KronB == 0 {
			m.Cfg.KronB = (m.V + m.Cfg.KronA - 1) / m.Cfg.KronA
		}
		a, b := m.Cfg.KronA, m.Cfg.KronB
		if hi := max(m.V, DefaultKronA); a < 1 || b < 1 || a > hi || b > hi || a*b < m.V {
			return nil, fmt.Errorf("aot: kron_a·kron_b = %d·%d must cover the vocabulary (%d), each at most max(%[3]d, %[4]d)", a, b, m.V, DefaultKronA)
		}
		for l := range m.Layers {
			ly := &m.Layers[l]
			p := fmt.Sprintf("aot.layer.%d.", l)
			ly.Left, ly.Mid = model.NewParam(p+"left", a, r), model.NewParam(p+"mid", b, r)
			ly.Right = model.NewParam(p+"right", r*r, C)
			uniform(rng, ly.Left.Data, 1/math.Sqrt(float64(r)))
			uniform(rng, ly.Mid.Data, 1/math.Sqrt(float64(r)))
		}
	case "fused":
		if _, ok := fusedDtypes[cfg.Dtype]; !ok {
			return nil, fmt.Errorf("aot: fused dtype %q is not supported (f32, f16, bf16, int8)", cfg.Dtype)
		}
		// tables are attached by Load (views into the adapter file)
	default:
		return nil, fmt.Errorf("aot: reparam %q is not supported (fc, kron, fused)", cfg.Reparam)
	}
	return m, nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

func uniform(r *rand.Rand, x []float32, a float64) {
	for i := range x {
		x[i] = float32((r.Float64()*2 - 1) * a)
	}
}

func fcActivation(name string) (func([]float32), func(dinp, inp, dout []float32), bool) {
	switch name {
	case "relu":
		return vec.ReLU, vec.ReLUBackward, true
	case "gelu":
		return vec.GELU, vec.GELUBackward, true
	case "tanh":
		return vec.Tanh, vec.TanhBackward, true
	}
	return nil, nil, false
}

// Params lists the trainable tensors in adapter-file order.
func (m *AoT) Params() []*model.Param {
	var ps []*model.Param
	for l := range m.Layers {
		ly := &m.Layers[l]
		for _, p := range []*model.Param{ly.FC1W, ly.FC1B, ly.FC2W, ly.FC2B, ly.Left, ly.Mid, ly.Right} {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// prepare computes the batch's distinct ids and each token's index into
// them, once per batch.
func (m *AoT) prepare(b *model.Batch) {
	if m.batch == b {
		return
	}
	m.batch = b
	m.uniq = append(m.uniq[:0], b.IDs...)
	slices.Sort(m.uniq)
	m.uniq = slices.Compact(m.uniq)
	if cap(m.idx) < b.N() {
		m.idx = make([]int32, b.N())
	}
	m.idx = m.idx[:b.N()]
	for i, x := range b.IDs {
		j, _ := slices.BinarySearch(m.uniq, x)
		m.idx[i] = int32(j)
	}
	m.eU = m.gatherE(m.eU, m.uniq)
}

// gatherE returns the word-embedding rows of ids (FC only; nil otherwise).
func (m *AoT) gatherE(buf []float32, ids []int32) []float32 {
	if m.Cfg.Reparam != "fc" {
		return buf
	}
	CE := m.CE
	buf = grow(buf, len(ids)*CE)
	for u, x := range ids {
		copy(buf[u*CE:(u+1)*CE], m.E[int(x)*CE:(int(x)+1)*CE])
	}
	return buf
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}

// computeRows fills s.rows [U,C] with layer ly's rows for ids, keeping the
// intermediates in s; eU [U,CE] holds the ids' embedding rows (FC).
func (m *AoT) computeRows(ly *AoTLayer, ids []int32, eU []float32, s *rowScratch) {
	U, C, r := len(ids), m.C, m.Cfg.Rank
	s.rows = grow(s.rows, U*C)
	switch m.Cfg.Reparam {
	case "fc":
		s.z, s.a = grow(s.z, U*r), grow(s.a, U*r)
		gemm.Linear(s.z, eU, ly.FC1W.Data, ly.FC1B.Data, U, m.CE, r, nil)
		copy(s.a, s.z)
		m.act(s.a)
		gemm.Linear(s.rows, s.a, ly.FC2W.Data, ly.FC2B.Data, U, r, C, nil)
	case "kron":
		rr, b := r*r, m.Cfg.KronB
		s.kv = grow(s.kv, U*rr)
		for u, x := range ids {
			li, mj := ly.Left.Data[int(x)/b*r:], ly.Mid.Data[int(x)%b*r:]
			kv := s.kv[u*rr : (u+1)*rr]
			for p := 0; p < r; p++ {
				for q := 0; q < r; q++ {
					kv[p*r+q] = li[p] * mj[q]
				}
			}
		}
		// rows[U,C] = kv[U,r²] · right[r²,C]
		gemm.Sgemm(false, false, U, C, rr, 1, s.kv, rr, ly.Right.Data, C, 0, s.rows, C)
	}
}

// BeforeLayer adds P_l[x_i] to H[i] (model.LayerHook).
func (m *AoT) BeforeLayer(l int, H []float32, b *model.Batch) error {
	ly := &m.Layers[l]
	C := m.C
	if ly.Table != nil {
		parallel.For(b.N(), 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ly.Table.AddRow(H[i*C:(i+1)*C], int(b.IDs[i]))
			}
		})
		return nil
	}
	m.prepare(b)
	m.computeRows(ly, m.uniq, m.eU, &ly.rowScratch)
	parallel.For(b.N(), 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			u := int(m.idx[i])
			vec.AddInPlace(H[i*C:(i+1)*C], ly.rows[u*C:(u+1)*C])
		}
	})
	return nil
}

// AfterLayerBackward accumulates the factors' gradients from dX, the
// gradient of layer l's input (model.BackwardHook): the rows' gradient is
// dX summed per id.
func (m *AoT) AfterLayerBackward(l int, dX []float32, b *model.Batch) error {
	if m.batch != b {
		return fmt.Errorf("aot: backward for a batch that was not the last forward's")
	}
	ly := &m.Layers[l]
	U, C, r := len(m.uniq), m.C, m.Cfg.Rank
	m.dRows = grow(m.dRows, U*C)
	dR := m.dRows
	for i := range dR {
		dR[i] = 0
	}
	for i := range b.IDs {
		u := int(m.idx[i])
		vec.AddInPlace(dR[u*C:(u+1)*C], dX[i*C:(i+1)*C])
	}
	switch m.Cfg.Reparam {
	case "fc":
		// rows = a·W2ᵀ + b2: dW2 += dRᵀ·a, db2 += Σ dR, da = dR·W2
		gemm.Sgemm(true, false, C, r, U, 1, dR, C, ly.a, r, 1, ly.FC2W.Grad, r)
		for u := 0; u < U; u++ {
			vec.AddInPlace(ly.FC2B.Grad, dR[u*C:(u+1)*C])
		}
		m.dA = grow(m.dA, U*r)
		gemm.Sgemm(false, false, U, r, C, 1, dR, C, ly.FC2W.Data, r, 0, m.dA, r)
		// a = act(z): dz = act'(z) ⊙ da (tanh's kernel reads the output a)
		if m.Cfg.Activation == "tanh" {
			m.actBack(m.dA, ly.a, m.dA)
		} else {
			m.actBack(m.dA, ly.z, m.dA)
		}
		// z = E_U·W1ᵀ + b1: dW1 += dzᵀ·E_U, db1 += Σ dz
		gemm.Sgemm(true, false, r, m.CE, U, 1, m.dA, r, m.eU, m.CE, 1, ly.FC1W.Grad, m.CE)
		for u := 0; u < U; u++ {
			vec.AddInPlace(ly.FC1B.Grad, m.dA[u*r:(u+1)*r])
		}
	case "kron":
		rr, b := r*r, m.Cfg.KronB
		// rows = kv·right: dright += kvᵀ·dR, dkv = dR·rightᵀ
		gemm.Sgemm(true, false, rr, C, U, 1, ly.kv, rr, dR, C, 1, ly.Right.Grad, C)
		m.dA = grow(m.dA, U*rr)
		gemm.Sgemm(false, true, U, rr, C, 1, dR, C, ly.Right.Data, C, 0, m.dA, rr)
		// kv[p·r+q] = left[i,p]·mid[j,q]
		for u, x := range m.uniq {
			i, j := int(x)/b, int(x)%b
			li, mj := ly.Left.Data[i*r:(i+1)*r], ly.Mid.Data[j*r:(j+1)*r]
			gl, gm := ly.Left.Grad[i*r:(i+1)*r], ly.Mid.Grad[j*r:(j+1)*r]
			dkv := m.dA[u*rr : (u+1)*rr]
			for p := 0; p < r; p++ {
				for q := 0; q < r; q++ {
					d := dkv[p*r+q]
					gl[p] += d * mj[q]
					gm[q] += d * li[p]
				}
			}
		}
	}
	return nil
}

// Rows computes P_l rows for ids into out [len(ids), C] with the current
// factors (or the fused table), without touching the training state.
func (m *AoT) Rows(l int, ids []int32, out []float32) {
	C := m.C
	ly := &m.Layers[l]
	if ly.Table != nil {
		for i, x := range ids {
			ly.Table.Row(out[i*C:(i+1)*C], int(x))
		}
		return
	}
	s := rowScratch{rows: out[:len(ids)*C]}
	m.computeRows(ly, ids, m.gatherE(nil, ids), &s)
}

// Fuse computes every layer's full table [V, C] once and stores it in
// dtype (f32, f16, bf16, int8); afterwards the forward pass is a gather and
// an add per layer, and the factors are no longer used.
func (m *AoT) Fuse(dtype string) error {
	all := make([]int32, m.V)
	for i := range all {
		all[i] = int32(i)
	}
	tables := make([]*Table, m.L)
	for l := range m.Layers {
		rows := make([]float32, m.V*m.C)
		m.Rows(l, all, rows)
		t, err := NewTable(rows, m.V, m.C, dtype)
		if err != nil {
			return err
		}
		tables[l] = t
	}
	for l := range m.Layers {
		m.Layers[l].Table = tables[l]
	}
	return nil
}

// TableBytes is the memory of the fused tables (0 when not fused).
func (m *AoT) TableBytes() int64 {
	var n int64
	for l := range m.Layers {
		if t := m.Layers[l].Table; t != nil {
			n += t.Bytes()
		}
	}
	return n
}

// MappedBytes is the part of TableBytes that is a view into the adapter's
// memory-mapped file (see Table.MappedBytes).
func (m *AoT) MappedBytes() int64 {
	var n int64
	for l := range m.Layers {
		if t := m.Layers[l].Table; t != nil {
			n += t.MappedBytes()
		}
	}
	return n
}

// Fused reports whether every layer uses a fused table.
func (m *AoT) Fused() bool {
	for l := range m.Layers {
		if m.Layers[l].Table == nil {
			return false
		}
	}
	return len(m.Layers) > 0
}
