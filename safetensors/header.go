package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderSize is the largest JSON header accepted, as in the reference
// implementation (100 MB; real headers are well under 1 MB).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding free-form string metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor. Begin and End are byte offsets relative to
// the start of the data section.
type TensorInfo struct {
	Name  string
	Dtype Dtype
	Shape []int
	Begin int64
	End   int64
}

// NumElements is the product of Shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Size is End-Begin, the size of the tensor data in bytes.
func (t TensorInfo) Size() int64 { return t.End - t.Begin }

func (t TensorInfo) clone() TensorInfo {
	t.Shape = append([]int(nil), t.Shape...)
	return t
}

// header is a parsed and validated header.
type header struct {
	tensors  map[string]TensorInfo
	names    []string // sorted
	metadata map[string]string
}

// parseHeader parses the JSON header hdr of a file whose data section holds
// dataLen bytes, and checks it. Errors name the tensor or key but not the
// file; the caller adds that.
func parseHeader(hdr []byte, dataLen int64) (*header, error) {
	if !utf8.Valid(hdr) {
		return nil, errors.New("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("header is not a JSON object (starts with %s)", describeToken(tok))
	}
	h := &header{tensors: map[string]TensorInfo{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header is not valid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok { // cannot happen with encoding/json, kept for safety
			return nil, fmt.Errorf("header has a non-string key %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("header is not valid JSON at key %q: %v", key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("header has key %q twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			md, err := parseMetadata(raw)
			if err != nil {
				return nil, fmt.Errorf("key %q: %v", metadataKey, err)
			}
			h.metadata = md
			continue
		}
		info, err := parseEntry(key, raw)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", key, err)
		}
		if info.End > dataLen {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] end beyond the data section (%d bytes)", key, info.Begin, info.End, dataLen)
		}
		h.tensors[key] = info
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("header is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("header has data after the JSON object")
	}
	if err := checkLayout(h.tensors, dataLen); err != nil {
		return nil, err
	}
	h.names = make([]string, 0, len(h.tensors))
	for n := range h.tensors {
		h.names = append(h.names, n)
	}
	sort.Strings(h.names)
	return h, nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return string(v)
	case string:
		return "a string"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", v)
	}
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, errors.New("must be an object of strings")
	}
	md := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("value of %q is not a string", k)
		}
		md[k] = s
	}
	return md, nil
}

func parseEntry(name string, raw json.RawMessage) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return info, errors.New("entry is not a JSON object")
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return info, fmt.Errorf("entry is not a JSON object: %v", err)
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := obj[k]; !ok {
			return info, fmt.Errorf("entry has no %q", k)
		}
	}
	var dt string
	if err := json.Unmarshal(obj["dtype"], &dt); err != nil {
		return info, errors.New("dtype is not a string")
	}
	info.Dtype = Dtype(dt)
	if !info.Dtype.Valid() {
		return info, fmt.Errorf("unknown dtype %q", dt)
	}
	shape, err := parseInts(obj["shape"])
	if err != nil {
		return info, fmt.Errorf("shape: %v", err)
	}
	offs, err := parseInts(obj["data_offsets"])
	if err != nil {
		return info, fmt.Errorf("data_offsets: %v", err)
	}
	if len(offs) != 2 {
		return info, fmt.Errorf("data_offsets has %d numbers, want [begin, end]", len(offs))
	}
	info.Begin, info.End = offs[0], offs[1]
	if info.Begin > info.End {
		return info, fmt.Errorf("data_offsets [%d, %d] has begin > end", info.Begin, info.End)
	}
	info.Shape = make([]int, len(shape))
	nelem := uint64(1)
	for i, d := range shape {
		if d > math.MaxInt {
			return info, fmt.Errorf("shape dimension %d is too large", d)
		}
		info.Shape[i] = int(d)
		hi, lo := bits.Mul64(nelem, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return info, fmt.Errorf("shape %v: element count overflows", shape)
		}
		nelem = lo
	}
	hi, nbytes := bits.Mul64(nelem, uint64(info.Dtype.Size()))
	if hi != 0 || nbytes > math.MaxInt64 {
		return info, fmt.Errorf("shape %v: byte size overflows", shape)
	}
	if uint64(info.End-info.Begin) != nbytes {
		return info, fmt.Errorf("data_offsets [%d, %d] span %d bytes, but shape %v of %s needs %d", info.Begin, info.End, info.End-info.Begin, shape, info.Dtype, nbytes)
	}
	return info, nil
}

// parseInts parses a JSON array of non-negative integers that fit in int64.
func parseInts(raw json.RawMessage) ([]int64, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("not a JSON array")
	}
	var nums []json.RawMessage
	if err := json.Unmarshal(raw, &nums); err != nil {
		return nil, fmt.Errorf("not a JSON array: %v", err)
	}
	out := make([]int64, len(nums))
	for i, n := range nums {
		s := string(bytes.TrimSpace(n))
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && s[0] != '-' {
				return nil, fmt.Errorf("%s is too large", s)
			}
			return nil, fmt.Errorf("%s is not a non-negative integer", s)
		}
		if v < 0 {
			return nil, fmt.Errorf("%d is negative", v)
		}
		out[i] = v
	}
	return out, nil
}

// checkLayout checks that the tensors tile [0, dataLen) exactly: no overlap,
// no gap, nothing left over (see the package documentation).
func checkLayout(tensors map[string]TensorInfo, dataLen int64) error {
	list := make([]TensorInfo, 0, len(tensors))
	for _, t := range tensors {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	pos := int64(0)
	prev := ""
	for _, t := range list {
		switch {
		case t.Begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", t.Name, t.Begin, t.End, prev, pos)
		case t.Begin > pos:
			if prev == "" {
				return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave bytes [0, %d) of the data section unused (gaps are not allowed)", t.Name, t.Begin, t.End, t.Begin)
			}
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave bytes [%d, %d) after tensor %q unused (gaps are not allowed)", t.Name, t.Begin, t.End, pos, t.Begin, prev)
		}
		if t.End > pos || prev == "" {
			prev = t.Name
		}
		pos = t.End
	}
	if pos != dataLen {
		return fmt.Errorf("data section has %d bytes but tensors cover only [0, %d): %d trailing bytes unused", dataLen, pos, dataLen-pos)
	}
	return nil
}
