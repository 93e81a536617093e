package torchckpt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
)

// A pickle interpreter for what torch.save writes: protocols 2 to 5, the
// opcodes a state dict uses, and a fixed set of globals (OrderedDict, the
// tensor and parameter rebuilders, the storage types). Anything else is an
// error, so no pickle can make it construct other objects, and every length
// in the stream is checked against what is left of it before anything is
// allocated.

// dict is a pickled dict or OrderedDict, in insertion order.
type dict struct {
	keys  []any
	vals  []any
	index map[any]int // key → position (keys are hashable: checked before set)
}

func (d *dict) set(k, v any) {
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	d.index[k] = len(d.keys)
	d.keys, d.vals = append(d.keys, k), append(d.vals, v)
}

type tuple []any
type list []any

// global is a class or function the pickle names.
type global string

const (
	globalOrderedDict     global = "collections.OrderedDict"
	globalRebuildTensor   global = "torch._utils._rebuild_tensor_v2"
	globalRebuildParamter global = "torch._utils._rebuild_parameter"
)

// tensor is a view of a storage (torch._utils._rebuild_tensor_v2).
type tensor struct {
	storage *storage
	offset  int
	size    []int
	stride  []int
}

// stream is a reader that knows how many bytes it has left.
type stream struct {
	r    *bufio.Reader
	left int64
}

// unpickler reads one pickle from a stream.
type unpickler struct {
	*stream
	stack      []any
	marks      []int
	memo       map[int]any
	persistent func(tuple) (any, error)
}

func newUnpickler(s *stream, persistent func(tuple) (any, error)) *unpickler {
	return &unpickler{stream: s, memo: map[int]any{}, persistent: persistent}
}

// bytes reads n bytes, refusing more than the stream has left.
func (u *stream) bytes(n int64) ([]byte, error) {
	if n < 0 || n > u.left {
		return nil, fmt.Errorf("pickle: a %d-byte item with %d bytes left", n, u.left)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(u.r, b); err != nil {
		return nil, fmt.Errorf("pickle: %w", err)
	}
	u.left -= n
	return b, nil
}

func (u *stream) uint(n int) (uint64, error) {
	b, err := u.bytes(int64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) line() (string, error) {
	var s []byte
	for {
		b, err := u.bytes(1)
		if err != nil {
			return "", err
		}
		if b[0] == '\n' {
			return string(s), nil
		}
		if len(s) > 256 {
			return "", errors.New("pickle: a global name longer than 256 bytes")
		}
		s = append(s, b[0])
	}
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, errors.New("pickle: stack underflow")
	}
	v := u.stack[n-1]
	u.stack = u.stack[:n-1]
	return v, nil
}

// popMark returns the items pushed since the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("pickle: no MARK")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("pickle: empty stack")
	}
	return u.stack[len(u.stack)-1], nil
}

// load runs the pickle up to STOP and returns its object.
func (u *unpickler) load() (any, error) {
	for steps := 0; ; steps++ {
		op, err := u.bytes(1)
		if err != nil {
			return nil, err
		}
		if err := u.step(op[0]); err != nil {
			if err == errStop {
				return u.pop()
			}
			return nil, err
		}
	}
}

var errStop = errors.New("STOP")

// argBytes is the size of the little-endian integer argument (an int, a
// length or a memo index) of the opcodes that have one.
var argBytes = [256]int{
	'K': 1, 'M': 2, 'J': 4, // BININT1, BININT2, BININT
	'X': 4, 0x8c: 1, 0x8d: 8, 'T': 4, 'U': 1, 'B': 4, 'C': 1, 0x8e: 8, // string and bytes lengths
	'q': 1, 'r': 4, 'h': 1, 'j': 4, // BINPUT, LONG_BINPUT, BINGET, LONG_BINGET
}

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		if v < 2 || v > 5 {
			return fmt.Errorf("pickle: protocol %d", v)
		}
	case 0x95: // FRAME: a length hint
		_, err := u.uint(8)
		return err
	case '.':
		return errStop
	case '(':
		u.marks = append(u.marks, len(u.stack))
	case '}':
		u.push(&dict{})
	case ']':
		u.push(&list{})
	case ')':
		u.push(tuple{})
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'K', 'M', 'J': // BININT1, BININT2, BININT
		n := argBytes[op]
		v, err := u.uint(n)
		if err != nil {
			return err
		}
		if op == 'J' {
			u.push(int(int32(uint32(v))))
		} else {
			u.push(int(v))
		}
	case 0x8a: // LONG1
		n, err := u.uint(1)
		if err != nil {
			return err
		}
		b, err := u.bytes(int64(n))
		if err != nil {
			return err
		}
		u.push(long(b))
	case 'G': // BINFLOAT
		v, err := u.uint(8)
		if err != nil {
			return err
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b[:])))
	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e: // strings and bytes
		n := argBytes[op]
		l, err := u.uint(n)
		if err != nil {
			return err
		}
		if l > math.MaxInt32 {
			return fmt.Errorf("pickle: a %d-byte string", l)
		}
		b, err := u.bytes(int64(l))
		if err != nil {
			return err
		}
		u.push(string(b))
	case 'c': // GLOBAL
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		g, err := resolve(mod, name)
		if err != nil {
			return err
		}
		u.push(g)
	case 0x93: // STACK_GLOBAL
		name, err1 := u.pop()
		mod, err2 := u.pop()
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if err1 != nil || err2 != nil || !ok1 || !ok2 {
			return errors.New("pickle: STACK_GLOBAL without a module and a name")
		}
		g, err := resolve(ms, ns)
		if err != nil {
			return err
		}
		u.push(g)
	case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
		idx := len(u.memo)
		if op != 0x94 {
			v, err := u.uint(argBytes[op])
			if err != nil {
				return err
			}
			idx = int(v)
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case 'h', 'j': // BINGET, LONG_BINGET
		i, err := u.uint(argBytes[op])
		if err != nil {
			return err
		}
		v, ok := u.memo[int(i)]
		if !ok {
			return fmt.Errorf("pickle: memo %d was never stored", i)
		}
		u.push(v)
	case 't':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(tuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op - 0x84)
		t := make(tuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		u.push(t)
	case 'a', 'e': // APPEND, APPENDS
		var items []any
		if op == 'a' {
			v, err := u.pop()
			if err != nil {
				return err
			}
			items = []any{v}
		} else {
			var err error
			if items, err = u.popMark(); err != nil {
				return err
			}
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		lp, ok := l.(*list)
		if !ok {
			return fmt.Errorf("pickle: APPEND to a %T", l)
		}
		*lp = append(*lp, items...)
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		if op == 's' {
			v, err1 := u.pop()
			k, err2 := u.pop()
			if err1 != nil || err2 != nil {
				return errors.New("pickle: SETITEM without a key and a value")
			}
			items = []any{k, v}
		} else {
			var err error
			if items, err = u.popMark(); err != nil {
				return err
			}
		}
		if len(items)%2 != 0 {
			return errors.New("pickle: SETITEMS with an odd number of items")
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		dp, ok := d.(*dict)
		if !ok {
			return fmt.Errorf("pickle: SETITEM on a %T", d)
		}
		for i := 0; i < len(items); i += 2 {
			if !hashable(items[i]) {
				return fmt.Errorf("pickle: dict key of type %T", items[i])
			}
			dp.set(items[i], items[i+1])
		}
	case 'R': // REDUCE
		args, err1 := u.pop()
		f, err2 := u.pop()
		a, ok := args.(tuple)
		if err1 != nil || err2 != nil || !ok {
			return errors.New("pickle: REDUCE without a callable and an argument tuple")
		}
		v, err := call(f, a)
		if err != nil {
			return err
		}
		u.push(v)
	case 'b': // BUILD: the state of an OrderedDict (its _metadata) is not needed
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		if _, ok := obj.(*dict); !ok || state == nil {
			return fmt.Errorf("pickle: BUILD of a %T", obj)
		}
	case 'Q': // BINPERSID
		id, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := id.(tuple)
		if !ok || u.persistent == nil {
			return fmt.Errorf("pickle: persistent id %v", id)
		}
		v, err := u.persistent(t)
		if err != nil {
			return err
		}
		u.push(v)
	default:
		return fmt.Errorf("pickle: opcode 0x%02x is not used by torch.save", op)
	}
	if len(u.stack) > 1<<24 {
		return errors.New("pickle: stack too deep")
	}
	return nil
}

// long decodes LONG1's little-endian two's complement bytes.
func long(b []byte) any {
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
			v |= ^uint64(0) << (8 * len(b))
		}
		return int(int64(v))
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

func hashable(k any) bool {
	switch k.(type) {
	case string, int, bool, nil, float64:
		return true
	}
	return false
}

// resolve allows the globals of a state dict and nothing else.
func resolve(module, name string) (any, error) {
	g := global(module + "." + name)
	switch g {
	case globalOrderedDict, globalRebuildTensor, globalRebuildParamter:
		return g, nil
	}
	if module == "torch" {
		if c := storageClasses[name]; c != nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("pickle: %s.%s is not part of a state dict", module, name)
}

// call applies an allowed global.
func call(f any, a tuple) (any, error) {
	switch f {
	case globalOrderedDict:
		return &dict{}, nil
	case globalRebuildParamter: // (data, requires_grad, backward_hooks)
		if len(a) < 1 {
			return nil, errors.New("pickle: _rebuild_parameter without data")
		}
		if _, ok := a[0].(*tensor); !ok {
			return nil, fmt.Errorf("pickle: _rebuild_parameter of a %T", a[0])
		}
		return a[0], nil
	case globalRebuildTensor: // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(a) < 4 {
			return nil, errors.New("pickle: _rebuild_tensor_v2 with too few arguments")
		}
		s, ok1 := a[0].(*storage)
		off, ok2 := a[1].(int)
		size, ok3 := ints(a[2])
		stride, ok4 := ints(a[3])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("pickle: _rebuild_tensor_v2 arguments %v", a[:4])
		}
		return &tensor{storage: s, offset: off, size: size, stride: stride}, nil
	}
	return nil, fmt.Errorf("pickle: calling %v", f)
}

func ints(v any) ([]int, bool) {
	t, ok := v.(tuple)
	if !ok {
		return nil, false
	}
	out := make([]int, len(t))
	for i, x := range t {
		if out[i], ok = x.(int); !ok {
			return nil, false
		}
	}
	return out, true
}
