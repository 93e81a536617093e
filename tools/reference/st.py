"""Minimal safetensors writer/reader (numpy only).

Format: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header
(padded with spaces to a multiple of 8), then the raw little-endian tensor
bytes. Header: {name: {"dtype", "shape", "data_offsets": [begin, end]}},
offsets relative to the start of the data section, plus "__metadata__".

Tensors are laid out in sorted-name order and the JSON is written with sorted
keys and no whitespace, so the output is a pure function of the input dict.
"""
import json
import struct

import numpy as np

_DTYPES = {
    np.dtype("<f4"): "F32",
    np.dtype("<f8"): "F64",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
}
_NP = {v: k for k, v in _DTYPES.items()}


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (float32, float64, int64 or int32)."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _DTYPES:
            raise TypeError("%s: unsupported dtype %s" % (name, a.dtype))
        b = np.ascontiguousarray(a, dtype=dt).tobytes(order="C")
        # every tensor must start aligned to its element size (mmap readers);
        # holds for the goldens written here (header padded to 8, sizes even)
        assert off % dt.itemsize == 0, "%s: misaligned at %d" % (name, off)
        header[name] = {
            "dtype": _DTYPES[dt],
            "shape": [int(s) for s in a.shape],
            "data_offsets": [off, off + len(b)],
        }
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    """Returns dict name -> numpy array (read-only copy semantics)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[base + b : base + e], dtype=_NP[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out
