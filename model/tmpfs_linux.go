package model

import "golang.org/x/sys/unix"

// onTmpfs reports whether dir is on a RAM-backed file system.
func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}

// An unlinked file stays readable through its mappings.
const removeWhileMapped = true
