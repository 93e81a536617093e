//go:build arm64 && !purego

package half

//go:noescape
func toFloat32sNEON(dst *float32, src *uint16, n int)

// Every arm64 CPU has Advanced SIMD, FCVTL included.
func init() { toFloat32sAsm = toFloat32sNEON }
