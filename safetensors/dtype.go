package safetensors

// Dtype is an element type, spelled as in the safetensors header.
type Dtype string

// The element types of the format. F8 types are accepted by Open and Raw
// (they are one byte each) but Float32 does not convert them.
const (
	BOOL   Dtype = "BOOL"
	U8     Dtype = "U8"
	I8     Dtype = "I8"
	F8E5M2 Dtype = "F8_E5M2"
	F8E4M3 Dtype = "F8_E4M3"
	F8E8M0 Dtype = "F8_E8M0"
	I16    Dtype = "I16"
	U16    Dtype = "U16"
	F16    Dtype = "F16"
	BF16   Dtype = "BF16"
	I32    Dtype = "I32"
	U32    Dtype = "U32"
	F32    Dtype = "F32"
	F64    Dtype = "F64"
	I64    Dtype = "I64"
	U64    Dtype = "U64"
)

var dtypeSizes = map[Dtype]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1, F8E8M0: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// Size is the size in bytes of one element, or 0 for an unknown dtype.
func (d Dtype) Size() int { return dtypeSizes[d] }

// Valid reports whether d is a dtype this package knows.
func (d Dtype) Valid() bool { return dtypeSizes[d] != 0 }

// IsFloat reports whether Float32 can return this dtype (F32, F16, BF16, F64).
func (d Dtype) IsFloat() bool {
	switch d {
	case F32, F16, BF16, F64:
		return true
	}
	return false
}
