package model

import "golang.org/x/sys/unix"

// onTmpfs reports whether dir is on a RAM-backed file system.
func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	// Type is int32 on 32-bit platforms, where RAMFS_MAGIC overflows it
	t := uint32(st.Type)
	return t == unix.TMPFS_MAGIC || t == unix.RAMFS_MAGIC
}

// An unlinked file stays readable through its mappings.
const removeWhileMapped = true
