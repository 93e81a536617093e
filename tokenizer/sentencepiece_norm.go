package tokenizer

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"
)

// spTrie is a byte trie over piece strings: the root has a 256-entry table,
// other nodes a sorted edge list.
type spTrie struct {
	root  [256]int32 // child node index+1 (0: none)
	nodes []spTrieNode
}

type spTrieNode struct {
	value  int32 // piece id, -1 if no piece ends here
	labels []byte
	kids   []int32
}

func (t *spTrie) child(node int32, c byte) int32 {
	if node < 0 {
		return t.root[c] - 1
	}
	n := &t.nodes[node]
	for i, l := range n.labels {
		if l == c {
			return n.kids[i]
		}
		if l > c {
			break
		}
	}
	return -1
}

func (t *spTrie) insert(s string, id int32) {
	node := int32(-1)
	for i := 0; i < len(s); i++ {
		c := s[i]
		next := t.child(node, c)
		if next < 0 {
			next = int32(len(t.nodes))
			t.nodes = append(t.nodes, spTrieNode{value: -1})
			if node < 0 {
				t.root[c] = next + 1
			} else {
				n := &t.nodes[node]
				k := 0
				for k < len(n.labels) && n.labels[k] < c {
					k++
				}
				n.labels = append(n.labels, 0)
				copy(n.labels[k+1:], n.labels[k:])
				n.labels[k] = c
				n.kids = append(n.kids, 0)
				copy(n.kids[k+1:], n.kids[k:])
				n.kids[k] = next
			}
		}
		node = next
	}
	if node >= 0 {
		t.nodes[node].value = id
	}
}

// longestPrefix returns the byte length of the longest piece that is a
// prefix of s (0 if none).
func (t *spTrie) longestPrefix(s string) int { return spLongest(t, s) }

func spLongest[S ~string | ~[]byte](t *spTrie, s S) int {
	node, best := int32(-1), 0
	for i := 0; i < len(s); i++ {
		node = t.child(node, s[i])
		if node < 0 {
			break
		}
		if t.nodes[node].value >= 0 {
			best = i + 1
		}
	}
	return best
}

// dartsMap is sentencepiece's precompiled charsmap: a darts-clone double
// array trie over UTF-8 byte strings whose values are offsets into a table
// of NUL-terminated replacement strings. Blob layout: uint32 (LE) trie size
// in bytes, the trie units, then the replacement strings.
type dartsMap struct {
	units []uint32
	repl  string
}

func newDartsMap(blob []byte) (*dartsMap, error) {
	if len(blob) == 0 {
		return nil, nil
	}
	if len(blob) < 4 {
		return nil, errors.New("precompiled charsmap is truncated")
	}
	size := binary.LittleEndian.Uint32(blob)
	if uint64(size) > uint64(len(blob)-4) || size%4 != 0 || size == 0 {
		return nil, errors.New("precompiled charsmap has a bad trie size")
	}
	d := &dartsMap{units: make([]uint32, size/4), repl: string(blob[4+size:])}
	for i := range d.units {
		d.units[i] = binary.LittleEndian.Uint32(blob[4+4*i:])
	}
	return d, nil
}

// A darts-clone unit: bit 8 = has a leaf child, bits 0-7 (plus bit 31 for
// leaves) = label, offset = (u >> 10) << ((u & 0x200) >> 6), leaf value =
// low 31 bits.
func dartsOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }
func dartsLabel(u uint32) uint32  { return u & ((1 << 31) | 0xFF) }
func dartsHasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func dartsValue(u uint32) uint32  { return u & ((1 << 31) - 1) }

// maxCharsmapResults mirrors Normalizer::kMaxTrieResultsSize: only the
// first 32 prefix matches are considered.
const maxCharsmapResults = 32

// longest finds the longest key that is a prefix of s: its length and
// replacement string; n == 0 when nothing matches.
func (d *dartsMap) longest(s string) (n int, repl string) {
	units := d.units
	id := dartsOffset(units[0])
	found := 0
	var value uint32
	for i := 0; i < len(s) && found < maxCharsmapResults; i++ {
		c := uint32(s[i])
		id ^= c
		if int(id) >= len(units) {
			break
		}
		u := units[id]
		if dartsLabel(u) != c {
			break
		}
		id ^= dartsOffset(u)
		if int(id) >= len(units) {
			break
		}
		if dartsHasLeaf(u) {
			found++
			n, value = i+1, dartsValue(units[id])
		}
	}
	if n == 0 {
		return 0, ""
	}
	if int(value) >= len(d.repl) {
		return 0, ""
	}
	r := d.repl[value:]
	if end := strings.IndexByte(r, 0); end >= 0 {
		r = r[:end]
	}
	return n, r
}

// spNormalizer is sentencepiece's Normalizer.
type spNormalizer struct {
	chars          *dartsMap
	user           *spTrie // user-defined symbols pass through unnormalized
	addDummyPrefix bool
	removeExtraWS  bool
	escapeWS       bool
	wsSuffix       bool
}

func newSPNormalizer(spec spNormSpec, wsSuffix bool) (spNormalizer, error) {
	d, err := newDartsMap(spec.charsmap)
	if err != nil {
		return spNormalizer{}, err
	}
	return spNormalizer{chars: d, addDummyPrefix: spec.addDummyPrefix, removeExtraWS: spec.removeExtraWS,
		escapeWS: spec.escapeWS, wsSuffix: wsSuffix}, nil
}

const spSpace = "\u2581"

// prefix is Normalizer::NormalizePrefix: the normalized form of the start of
// s and the number of input bytes it consumes (> 0 for non-empty s).
func (n *spNormalizer) prefix(s string) (string, int) {
	if n.user != nil {
		if l := n.user.longestPrefix(s); l > 0 {
			return s[:l], l
		}
	}
	if n.chars != nil {
		if l, r := n.chars.longest(s); l > 0 {
			return r, l
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return "\uFFFD", 1
	}
	return s[:size], size
}

// normalize is Normalizer::Normalize (without the offset mapping), appending
// to dst.
func (n *spNormalizer) normalize(dst []byte, s string) []byte {
	if n.removeExtraWS {
		for len(s) > 0 {
			p, l := n.prefix(s)
			if p != " " {
				break
			}
			s = s[l:]
		}
	}
	if len(s) == 0 {
		return dst
	}
	start := len(dst)
	ws := " "
	if n.escapeWS {
		ws = spSpace
	}
	if !n.wsSuffix && n.addDummyPrefix {
		dst = append(dst, ws...)
	}
	prevSpace := n.removeExtraWS
	for len(s) > 0 {
		p, l := n.prefix(s)
		if prevSpace {
			for len(p) > 0 && p[0] == ' ' {
				p = p[1:]
			}
		}
		if len(p) > 0 {
			for i := 0; i < len(p); i++ {
				if n.escapeWS && p[i] == ' ' {
					dst = append(dst, spSpace...)
				} else {
					dst = append(dst, p[i])
				}
			}
			prevSpace = p[len(p)-1] == ' '
		}
		s = s[l:]
		if !n.removeExtraWS {
			prevSpace = false
		}
	}
	if n.removeExtraWS {
		for len(dst)-start >= len(ws) && string(dst[len(dst)-len(ws):]) == ws {
			dst = dst[:len(dst)-len(ws)]
		}
	}
	if n.wsSuffix && n.addDummyPrefix {
		dst = append(dst, ws...)
	}
	return dst
}
