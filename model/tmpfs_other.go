//go:build !linux

package model

func onTmpfs(dir string) bool { return false }

// Elsewhere (Windows) a mapped file cannot be removed: at Close.
const removeWhileMapped = false
