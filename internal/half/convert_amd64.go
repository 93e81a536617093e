//go:build amd64 && !purego

package half

import "golang.org/x/sys/cpu"

//go:noescape
func toFloat32sF16C(dst *float32, src *uint16, n int)

//go:noescape
func fromFloat32sF16C(dst *uint16, src *float32, n int)

func init() {
	if cpu.X86.HasAVX && cpu.X86.HasF16C {
		toFloat32sAsm, fromFloat32sAsm = toFloat32sF16C, fromFloat32sF16C
	}
}
