package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// bertNormalizer is HF's BertNormalizer.
type bertNormalizer struct {
	cleanText    bool // drop NUL, U+FFFD, Cc/Cf/Co (not \t\n\r); White_Space -> ' '
	chineseChars bool // spaces around CJK ideographs
	stripAccents bool // NFD then drop Mn
	lowercase    bool // full per-character lower-casing
}

// isBertControl is HF's is_control: Cc, Cf or Co except \t \n \r.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co)
}

// isCJK is BERT's "Chinese character" test (the ranges of HF tokenizers'
// bert.rs, including its 0x2B920 lower bound for extension E/F).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// isBertPunct: ASCII punctuation (all non-alphanumeric printable ASCII
// symbols) or a Unicode P* category.
func isBertPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (n *bertNormalizer) normalize(s string) string {
	if isASCII(s) {
		return n.normalizeASCII(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if n.cleanText {
			if r == 0 || r == 0xFFFD || isBertControl(r) {
				continue
			}
			if isWhiteSpace(r) {
				r = ' '
			}
		}
		if n.chineseChars && isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if n.stripAccents {
		out = norm.NFD.String(out)
		if strings.ContainsFunc(out, isMn) {
			out = strings.Map(func(r rune) rune {
				if isMn(r) {
					return -1
				}
				return r
			}, out)
		}
	}
	if n.lowercase {
		b.Reset()
		for _, r := range out {
			if r == 0x130 { // İ: full lower-case mapping is i + U+0307
				b.WriteString("i\u0307")
				continue
			}
			b.WriteRune(unicode.ToLower(r))
		}
		out = b.String()
	}
	return out
}

func isMn(r rune) bool { return unicode.Is(unicode.Mn, r) }

func (n *bertNormalizer) normalizeASCII(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7F || (n.lowercase && c >= 'A' && c <= 'Z') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if n.cleanText {
			switch {
			case c == '\t' || c == '\n' || c == '\r':
				c = ' '
			case c < 0x20 || c == 0x7F:
				continue
			}
		}
		if n.lowercase && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return string(buf)
}

// wordPieceModel is BertPreTokenizer + WordPiece.
type wordPieceModel struct {
	vocab    map[string]int32
	cont     map[string]int32 // continuation pieces, prefix removed
	unk      int32
	maxChars int
}

func newWordPieceModel(vocab map[string]int32, unk, prefix string, maxChars int) (*wordPieceModel, error) {
	unkID, ok := vocab[unk]
	if !ok {
		return nil, fmt.Errorf("unk token %q not in vocabulary", unk)
	}
	m := &wordPieceModel{vocab: vocab, cont: make(map[string]int32), unk: unkID, maxChars: maxChars}
	for s, id := range vocab {
		if strings.HasPrefix(s, prefix) {
			m.cont[s[len(prefix):]] = id
		}
	}
	return m, nil
}

// appendIDs splits on White_Space, isolates punctuation and runs WordPiece
// on every word.
func (m *wordPieceModel) appendIDs(dst []int32, s string) []int32 {
	start := -1
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case isWhiteSpace(r):
			if start >= 0 {
				dst = m.word(dst, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				dst = m.word(dst, s[start:i])
				start = -1
			}
			dst = m.word(dst, s[i:i+size])
		default:
			if start < 0 {
				start = i
			}
		}
		i += size
	}
	if start >= 0 {
		dst = m.word(dst, s[start:])
	}
	return dst
}

// word is greedy longest-match-first WordPiece; a word longer than maxChars
// runes, or with a part that matches nothing, becomes the unk token.
func (m *wordPieceModel) word(dst []int32, w string) []int32 {
	if len(w) > m.maxChars && utf8.RuneCountInString(w) > m.maxChars {
		return append(dst, m.unk)
	}
	if id, ok := m.vocab[w]; ok {
		return append(dst, id)
	}
	mark := len(dst)
	for start := 0; start < len(w); {
		table := m.vocab
		if start > 0 {
			table = m.cont
		}
		end := len(w)
		found := false
		for end > start {
			if id, ok := table[w[start:end]]; ok {
				dst = append(dst, id)
				found = true
				break
			}
			end--
			for end > start && !utf8.RuneStart(w[end]) {
				end--
			}
		}
		if !found {
			return append(dst[:mark], m.unk)
		}
		start = end
	}
	return dst
}
