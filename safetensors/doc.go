// Package safetensors reads and writes the Hugging Face safetensors format
// (https://huggingface.co/docs/safetensors), the way aotp loads checkpoints.
//
// # Format
//
// A file is
//
//	8 bytes   N, little-endian uint64: length of the JSON header
//	N bytes   JSON object, UTF-8:
//	            {"__metadata__": {"key": "value", ...},          (optional, string→string)
//	             "tensor.name": {"dtype": "F32", "shape": [d0, d1, ...],
//	                             "data_offsets": [begin, end]}, ...}
//	rest      the data section; begin/end are byte offsets relative to its start
//
// Data is little-endian, row-major, with no strides.
//
// # Reading without copies
//
// [Open] memory-maps the file read-only (syscall.Mmap on Linux, macOS and the
// BSDs; elsewhere the file is read into one 8-byte aligned buffer). F32
// tensors are returned by [File.Float32] as []float32 views into the mapping
// (unsafe.Slice) when their data is 4-byte aligned, which is always the case
// for files written by the reference implementation or by [Write] (the header
// is padded to a multiple of 8 and tensors are ordered by descending
// alignment). Loading roberta-large (1.4 GB F32) therefore costs the page
// cache pages of the file and nothing on the Go heap: resident memory stays
// at about the file size, and pages that are never touched are never read.
//
// Consequences callers must respect:
//   - views are read-only: writing through them faults (SIGSEGV), unless the
//     file was opened with [OpenWith] and OpenOptions.Writable, which maps it
//     copy-on-write (MAP_PRIVATE): writes then go to private anonymous pages
//     and never reach the file;
//   - views (and the []byte from [File.Raw]) are valid only until
//     [File.Close]; using them afterwards crashes the process. A loader that
//     keeps views for the lifetime of a model simply never closes the file;
//   - misaligned F32 data (only hand-made files) and F16/BF16/F64 data are
//     converted into a new []float32 (a copy) instead.
//
// # Validation
//
// Open checks everything the reference implementation (Rust crate
// safetensors, SafeTensors::read_metadata + Metadata::validate) checks, and a
// little more; every failure is one error line naming the file and the tensor
// or key, never a panic:
//
//   - file shorter than 8 bytes; header length over 100,000,000 bytes (the
//     reference's MAX_HEADER_SIZE) or beyond the end of the file;
//   - header not UTF-8, not JSON, not a JSON object, trailing data after the
//     object, duplicate keys (the reference silently keeps the last one; we
//     refuse, since two entries for one name is never intended);
//   - __metadata__ not an object of strings;
//   - an entry that is not an object, lacks dtype/shape/data_offsets, has an
//     unknown dtype, a shape with negative or non-integer dims, a shape whose
//     element count or byte size overflows int64;
//   - data_offsets not exactly [begin, end] integers with 0 ≤ begin ≤ end,
//     end beyond the data section, end-begin ≠ prod(shape)·sizeof(dtype);
//   - tensors overlapping one another;
//   - gaps: like the reference (error MetadataIncompleteBuffer / InvalidOffset)
//     the tensors, sorted by offset, must tile the data section exactly: the
//     first begins at 0, each begins where the previous ends, and the last
//     ends at the end of the file. Unused bytes between or after tensors are
//     an error. Files that violate this cannot be loaded by the Python
//     safetensors package either, so no real checkpoint has them, and
//     rejecting them keeps truncated or padded downloads from loading.
//
// Unknown keys inside a tensor entry are ignored, as the reference does.
//
// # Sharded checkpoints
//
// [OpenModel] opens a directory holding model.safetensors, or
// model.safetensors.index.json plus the shards its weight_map names, as one
// tensor set. A shard outside the directory, a missing shard, a weight_map
// entry absent from its shard, a shard tensor not in weight_map, and a tensor
// present in two shards are errors.
//
// # Writing
//
// [Write] writes atomically (temporary file in the target directory, fsync,
// rename, fsync of the directory). The header lists __metadata__ first and
// then the tensors in data order, and is padded with spaces to a multiple of
// 8 bytes, as the reference does. Tensors are laid out like the reference:
// by descending element size (8, 4, 2, 1 bytes), then by name, so every
// tensor starts aligned to its element size; for the usual single-dtype
// checkpoint this is plain name order.
//
// # Why not github.com/nlpodyssey/safetensors
//
// That module (evaluated at its current public version) parses a []byte the
// caller already holds in memory (Deserialize) or reads tensors through an
// io.ReadSeeker into freshly allocated typed slices (LazyST, encoding/binary),
// so every F32 tensor is copied onto the Go heap — twice the file size in
// resident memory while a checkpoint loads, against our budget of 1.1×. It
// has no memory mapping, no sharded-index support, decodes the header with
// json.Unmarshal into a map (duplicate names pass silently), and its errors
// name neither the file nor always the tensor. Its validation is otherwise
// close to the reference. Wrapping it would have meant re-doing the parts we
// need, so this package is written from the format description instead and
// has no dependency outside the standard library.
package safetensors
