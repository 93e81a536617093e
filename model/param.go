package model

// Param is one trainable tensor and its gradient, under the name it has in
// adapter files.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
	// Optional: a saved adapter may lack it, and it then keeps its initial
	// value (a parameter a method gained after such files were written,
	// whose initial value is what those files were trained with).
	Optional bool
}

// NewParam allocates a zeroed parameter and gradient.
func NewParam(name string, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Param{Name: name, Shape: append([]int(nil), shape...), Data: make([]float32, n), Grad: make([]float32, n)}
}

// Numel is the number of values.
func (p *Param) Numel() int { return len(p.Data) }

// ZeroGrad clears the gradient.
func (p *Param) ZeroGrad() {
	for i := range p.Grad {
		p.Grad[i] = 0
	}
}
