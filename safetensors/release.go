package safetensors

import (
	"fmt"
	"unsafe"
)

// Release tells the operating system that the named tensor's data is not
// needed for now: the whole pages inside its byte range (the partial pages
// at either end are shared with neighbours and kept) are dropped from the
// process's resident memory. Views stay valid: the pages are clean and
// file-backed, so touching them again reads them back from the page cache
// (or the file). Use it after copying a tensor into another form (packed
// weights) to keep resident memory at one copy.
//
// It returns the bytes released: 0 where nothing can be released safely or
// usefully, i.e. a file opened Writable (its pages may hold private
// changes), a platform where files are read into memory instead of mapped,
// or a tensor smaller than a page.
func (f *File) Release(name string) (int64, error) {
	b, _, err := f.Raw(name)
	if err != nil {
		return 0, err
	}
	return f.release(b)
}

// release drops the whole pages of b if b lies inside f's mapping.
func (f *File) release(b []byte) (int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.releasable(b) {
		return 0, nil
	}
	page := uintptr(pageSize)
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(len(b))
	alo, ahi := (lo+page-1)&^(page-1), hi&^(page-1)
	if ahi <= alo {
		return 0, nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	seg := f.data[alo-base : ahi-base]
	if err := dropPages(seg); err != nil {
		return 0, fmt.Errorf("safetensors: %s: releasing pages: %w", f.path, err)
	}
	return int64(len(seg)), nil
}

// releasable reports whether b lies inside a read-only mapping of f whose
// pages this platform can drop. The caller holds f.mu.
func (f *File) releasable(b []byte) bool {
	return !f.closed && !f.writable && haveMmap && canDropPages && f.contains(b)
}

// contains reports whether b lies entirely inside f's mapping.
func (f *File) contains(b []byte) bool {
	if len(b) == 0 || len(f.data) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return lo >= base && lo+uintptr(len(b)) <= base+uintptr(len(f.data))
}

// Release is File.Release for the file holding the named tensor.
func (m *Model) Release(name string) (int64, error) {
	f, ok := m.where[name]
	if !ok {
		return 0, fmt.Errorf("safetensors: %s: no tensor %q", m.dir, name)
	}
	return f.Release(name)
}

// Releasable reports whether v is a view into one of the model's read-only
// mappings whose pages ReleaseView can give back (false for a tensor on
// the heap: converted, or read into memory where nothing is mapped). A
// caller that makes a second copy of a tensor asks first, so that it copies
// only what then costs no memory.
func (m *Model) Releasable(v []float32) bool {
	if len(v) == 0 {
		return false
	}
	b := f32Bytes(v)
	for _, f := range m.files {
		f.mu.RLock()
		ok := f.releasable(b)
		f.mu.RUnlock()
		if ok {
			return true
		}
	}
	return false
}

// ReleaseView is Release for a view returned by Float32 (or Raw), found by
// its address rather than its name: v is released if it lies inside one of
// the model's mappings, and ignored (0, nil) otherwise, e.g. a tensor that
// Float32 converted into a new slice.
func (m *Model) ReleaseView(v []float32) (int64, error) {
	if len(v) == 0 {
		return 0, nil
	}
	b := f32Bytes(v)
	for _, f := range m.files {
		if n, err := f.release(b); n != 0 || err != nil {
			return n, err
		}
	}
	return 0, nil
}
