package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Character classes of the GPT-2 pre-tokenization pattern.
const (
	clsLetter = iota + 1 // \p{L}
	clsNumber            // \p{N}
	clsSpace             // \s (Unicode White_Space, as in Oniguruma)
	clsOther             // [^\s\p{L}\p{N}]
)

var asciiClass = func() (t [128]uint8) {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			t[c] = clsLetter
		case unicode.IsNumber(r):
			t[c] = clsNumber
		case unicode.IsSpace(r):
			t[c] = clsSpace
		default:
			t[c] = clsOther
		}
	}
	return t
}()

func runeClass(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// isWhiteSpace reports the Unicode White_Space property (Rust's
// char::is_whitespace, Oniguruma's \s); unicode.IsSpace is exactly that.
func isWhiteSpace(r rune) bool { return unicode.IsSpace(r) }

// classAt returns the class and size of the rune starting at s[i].
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return runeClass(r), size
}

// splitGPT2 calls fn for each piece of s matched by the GPT-2 pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// evaluated with leftmost-alternative semantics (Go's regexp has no
// look-ahead, so this is a hand-written scanner). The pieces cover s.
func splitGPT2(s string, fn func(piece string)) {
	i := 0
	for i < len(s) {
		if s[i] == '\'' && i+1 < len(s) {
			if n := contraction(s[i+1:]); n > 0 {
				fn(s[i : i+1+n])
				i += 1 + n
				continue
			}
		}
		// " ?X+" for X in letters, numbers, others: the optional space is
		// taken when the next rune is not whitespace.
		j := i
		if s[i] == ' ' && i+1 < len(s) {
			if c, _ := classAt(s, i+1); c != clsSpace {
				j = i + 1
			}
		}
		c, size := classAt(s, j)
		if c != clsSpace {
			e := j + size
			for e < len(s) {
				c2, size2 := classAt(s, e)
				if c2 != c {
					break
				}
				e += size2
			}
			fn(s[i:e])
			i = e
			continue
		}
		// "\s+(?!\S)|\s+": a whitespace run followed by a non-space leaves
		// its last rune to the next piece, unless the run is one rune long.
		e, last, count := i, i, 0
		for e < len(s) {
			c2, size2 := classAt(s, e)
			if c2 != clsSpace {
				break
			}
			last = e
			e += size2
			count++
		}
		if e < len(s) && count >= 2 {
			e = last
		}
		fn(s[i:e])
		i = e
	}
}

// contraction returns the length of the contraction suffix ('s 't 're 've
// 'm 'll 'd, case-sensitive) at the start of s (just after the apostrophe).
func contraction(s string) int {
	switch s[0] {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if len(s) > 1 && s[1] == 'e' {
			return 2
		}
	case 'l':
		if len(s) > 1 && s[1] == 'l' {
			return 2
		}
	}
	return 0
}

// byteToRune is GPT-2's reversible byte -> printable character table:
// printable Latin-1 bytes map to themselves, the 68 others to U+0100...
var byteToRune = func() (t [256]rune) {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

type mergeInfo struct {
	rank  int32
	newID int32
}

// bpeModel is byte-level BPE with GPT-2 pre-tokenization.
type bpeModel struct {
	merges         map[uint64]mergeInfo // key: left id << 32 | right id
	byteID         [256]int32           // id of the one-byte symbol, -1 if absent
	unk            int32                // -1: unknown symbols are dropped
	addPrefixSpace bool
	useRegex       bool

	mu       sync.RWMutex
	cache    map[string][]int32
	cacheCap int
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPEModel builds the model from a vocabulary and merges in rank order.
func newBPEModel(vocab map[string]int32, merges [][2]string, unk string) (*bpeModel, error) {
	m := &bpeModel{
		merges:   make(map[uint64]mergeInfo, len(merges)),
		unk:      -1,
		useRegex: true,
		cache:    make(map[string][]int32),
		cacheCap: 100000,
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("unk token %q not in vocabulary", unk)
		}
		m.unk = id
	}
	for b := 0; b < 256; b++ {
		if id, ok := vocab[string(byteToRune[b])]; ok {
			m.byteID[b] = id
		} else {
			m.byteID[b] = -1
		}
	}
	for i, mg := range merges {
		a, ok := vocab[mg[0]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): %q not in vocabulary", i, mg[0], mg[1], mg[0])
		}
		b, ok := vocab[mg[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): %q not in vocabulary", i, mg[0], mg[1], mg[1])
		}
		n, ok := vocab[mg[0]+mg[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): %q not in vocabulary", i, mg[0], mg[1], mg[0]+mg[1])
		}
		// Later duplicates win, as in HF (the list is collected into a map).
		m.merges[pairKey(a, b)] = mergeInfo{rank: int32(i), newID: n}
	}
	return m, nil
}

func (m *bpeModel) appendIDs(dst []int32, s string) []int32 {
	if s == "" {
		return dst
	}
	if m.addPrefixSpace && s[0] != ' ' {
		s = " " + s
	}
	if !m.useRegex {
		return m.word(dst, s)
	}
	splitGPT2(s, func(piece string) { dst = m.word(dst, piece) })
	return dst
}

const maxCachedWord = 256

// word appends the ids of one pre-token (raw bytes; the byte-level mapping
// is implicit in byteID).
func (m *bpeModel) word(dst []int32, w string) []int32 {
	if len(w) <= maxCachedWord {
		m.mu.RLock()
		ids, ok := m.cache[w]
		m.mu.RUnlock()
		if ok {
			return append(dst, ids...)
		}
	}
	start := len(dst)
	dst = m.merge(dst, w)
	if len(w) <= maxCachedWord {
		m.mu.Lock()
		if len(m.cache) < m.cacheCap {
			m.cache[strings.Clone(w)] = append([]int32(nil), dst[start:]...)
		}
		m.mu.Unlock()
	}
	return dst
}

type bpeSym struct {
	id         int32
	prev, next int32
	alive      bool
}

type bpeCand struct {
	rank, pos, newID int32
}

func candLess(a, b bpeCand) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

type candHeap []bpeCand

func (h *candHeap) push(c bpeCand) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !candLess(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candHeap) pop() bpeCand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && candLess(s[l], s[small]) {
			small = l
		}
		if r < n && candLess(s[r], s[small]) {
			small = r
		}
		if small == i {
			break
		}
		s[i], s[small] = s[small], s[i]
		i = small
	}
	*h = s
	return top
}

// merge applies the merges to the bytes of w, lowest rank first and, among
// equal ranks, leftmost first (HF's Word::merge_all), and appends the ids.
func (m *bpeModel) merge(dst []int32, w string) []int32 {
	var symBuf [32]bpeSym
	syms := symBuf[:0]
	for i := 0; i < len(w); i++ {
		id := m.byteID[w[i]]
		if id < 0 {
			if m.unk < 0 {
				continue // no unk token: HF drops unknown symbols
			}
			id = m.unk
		}
		n := int32(len(syms))
		syms = append(syms, bpeSym{id: id, prev: n - 1, next: n + 1, alive: true})
	}
	if len(syms) == 0 {
		return dst
	}
	syms[len(syms)-1].next = -1
	var heapBuf [32]bpeCand
	h := candHeap(heapBuf[:0])
	for i := 0; i+1 < len(syms); i++ {
		if mi, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(bpeCand{rank: mi.rank, pos: int32(i), newID: mi.newID})
		}
	}
	for len(h) > 0 {
		c := h.pop()
		s := &syms[c.pos]
		if !s.alive || s.next < 0 {
			continue
		}
		nx := &syms[s.next]
		mi, ok := m.merges[pairKey(s.id, nx.id)]
		if !ok || mi.newID != c.newID {
			continue
		}
		s.id = c.newID
		nx.alive = false
		s.next = nx.next
		if s.next >= 0 {
			syms[s.next].prev = c.pos
		}
		if s.prev >= 0 {
			if mi, ok := m.merges[pairKey(syms[s.prev].id, s.id)]; ok {
				h.push(bpeCand{rank: mi.rank, pos: s.prev, newID: mi.newID})
			}
		}
		if s.next >= 0 {
			if mi, ok := m.merges[pairKey(s.id, syms[s.next].id)]; ok {
				h.push(bpeCand{rank: mi.rank, pos: c.pos, newID: mi.newID})
			}
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		dst = append(dst, syms[i].id)
	}
	return dst
}
