//go:build (!amd64 && !arm64) || purego

package vec

func available() []*kernels { return []*kernels{genericKernels} }
