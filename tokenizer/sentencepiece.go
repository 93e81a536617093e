package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SentencePiece (spm.model) support: the ModelProto is read with a small
// protobuf wire-format reader; normalisation, the unigram Viterbi search and
// the score-ordered BPE follow sentencepiece 0.1.97 (see
// sentencepiece_norm.go and sentencepiece_encode.go).

// Piece types of ModelProto.SentencePiece.Type.
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

// Model types of TrainerSpec.ModelType.
const (
	spUnigram = 1
	spBPE     = 2
	spWord    = 3
	spChar    = 4
)

type spPiece struct {
	text  string
	score float32
	typ   uint8
}

// spProto is what we use of a ModelProto.
type spProto struct {
	pieces       []spPiece
	modelType    int
	byteFallback bool
	unkID        int32 // trainer_spec ids (informational; piece types decide)
	bosID, eosID int32
	padID        int32
	splitDigits  bool
	wsSuffix     bool // treat_whitespace_as_suffix
	norm         spNormSpec
}

type spNormSpec struct {
	name           string
	charsmap       []byte
	addDummyPrefix bool
	removeExtraWS  bool
	escapeWS       bool
}

// pbReader walks protobuf wire format.
type pbReader struct {
	b   []byte
	err error
}

var errPB = errors.New("malformed protobuf")

func (r *pbReader) varint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if len(r.b) == 0 {
			r.err = errPB
			return 0
		}
		c := r.b[0]
		r.b = r.b[1:]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = errPB
	return 0
}

// next returns the next field: number, wire type, varint/fixed value or
// length-delimited bytes. ok is false at the end or on error.
func (r *pbReader) next() (num int, wt int, v uint64, data []byte, ok bool) {
	if r.err != nil || len(r.b) == 0 {
		return 0, 0, 0, nil, false
	}
	key := r.varint()
	if r.err != nil {
		return 0, 0, 0, nil, false
	}
	num, wt = int(key>>3), int(key&7)
	if num == 0 {
		r.err = errPB
		return 0, 0, 0, nil, false
	}
	switch wt {
	case 0:
		v = r.varint()
	case 1:
		if len(r.b) < 8 {
			r.err = errPB
			break
		}
		v = binary.LittleEndian.Uint64(r.b)
		r.b = r.b[8:]
	case 2:
		n := r.varint()
		if r.err == nil && n > uint64(len(r.b)) {
			r.err = errPB
		}
		if r.err == nil {
			data = r.b[:n]
			r.b = r.b[n:]
		}
	case 5:
		if len(r.b) < 4 {
			r.err = errPB
			break
		}
		v = uint64(binary.LittleEndian.Uint32(r.b))
		r.b = r.b[4:]
	default:
		r.err = fmt.Errorf("%w: unsupported wire type %d", errPB, wt)
	}
	if r.err != nil {
		return 0, 0, 0, nil, false
	}
	return num, wt, v, data, true
}

// pbFields calls f with each field of message b (number, wire type,
// varint/fixed value, length-delimited bytes) until f fails or b ends; a
// malformed b is an error.
func pbFields(b []byte, f func(num, wt int, v uint64, data []byte) error) error {
	r := pbReader{b: b}
	for {
		num, wt, v, data, ok := r.next()
		if !ok {
			return r.err
		}
		if err := f(num, wt, v, data); err != nil {
			return err
		}
	}
}

// parseSPModel decodes a serialized sentencepiece ModelProto.
func parseSPModel(b []byte) (*spProto, error) {
	p := &spProto{modelType: spUnigram, unkID: 0, bosID: 1, eosID: 2, padID: -1,
		norm: spNormSpec{addDummyPrefix: true, removeExtraWS: true, escapeWS: true}}
	err := pbFields(b, func(num, wt int, _ uint64, data []byte) error {
		if wt != 2 {
			return nil
		}
		switch num {
		case 1:
			pc, err := parseSPPiece(data)
			p.pieces = append(p.pieces, pc)
			return err
		case 2:
			return parseSPTrainer(data, p)
		case 3:
			return parseSPNormalizer(data, &p.norm)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(p.pieces) == 0 {
		return nil, errors.New("sentencepiece model has no pieces")
	}
	return p, nil
}

func parseSPPiece(b []byte) (spPiece, error) {
	pc := spPiece{typ: spNormal}
	err := pbFields(b, func(num, wt int, v uint64, data []byte) error {
		switch {
		case num == 1 && wt == 2:
			pc.text = string(data)
		case num == 2 && wt == 5:
			pc.score = math.Float32frombits(uint32(v))
		case num == 3 && wt == 0:
			pc.typ = uint8(v)
			if v < spNormal || v > spByte {
				return fmt.Errorf("piece %q: unknown type %d", pc.text, v)
			}
		}
		return nil
	})
	return pc, err
}

func parseSPTrainer(b []byte, p *spProto) error {
	return pbFields(b, func(num, wt int, v uint64, _ []byte) error {
		if wt != 0 {
			return nil
		}
		switch num {
		case 3:
			p.modelType = int(v)
		case 24:
			p.wsSuffix = v != 0
		case 25:
			p.splitDigits = v != 0
		case 35:
			p.byteFallback = v != 0
		case 40:
			p.unkID = int32(v)
		case 41:
			p.bosID = int32(v)
		case 42:
			p.eosID = int32(v)
		case 43:
			p.padID = int32(v)
		}
		return nil
	})
}

func parseSPNormalizer(b []byte, n *spNormSpec) error {
	return pbFields(b, func(num, wt int, v uint64, data []byte) error {
		switch {
		case num == 1 && wt == 2:
			n.name = string(data)
		case num == 2 && wt == 2:
			n.charsmap = data
		case num == 3 && wt == 0:
			n.addDummyPrefix = v != 0
		case num == 4 && wt == 0:
			n.removeExtraWS = v != 0
		case num == 5 && wt == 0:
			n.escapeWS = v != 0
		}
		return nil
	})
}

// spModel is a loaded sentencepiece model: the equivalent of
// SentencePieceProcessor::Encode (normalize, segment, byte fallback / unk
// merging). It implements model for tok; the text it gets is raw (tok has
// no normalizer for it).
type spModel struct {
	pieces       []spPiece
	modelType    int
	byteFallback bool
	unkID        int32
	norm         spNormalizer
	normal       map[string]int32 // NORMAL, USER_DEFINED, UNUSED pieces
	reserved     map[string]int32 // CONTROL, UNKNOWN, BYTE pieces
	byteID       [256]int32       // <0xXX> piece ids, -1 if absent
	trie         spTrie           // unigram: normal pieces
	user         spTrie           // user-defined pieces (prefix matcher)
	hasUser      bool
	minScore     float32 // over NORMAL pieces
	maxScore     float32
	wsMarker     string // "▁" or " " (escape_whitespaces=false)
	bpeWords     bool   // BPE may run word by word (see bpe)
}

// newSPModel validates a parsed proto like ModelBase::InitializePieces.
func newSPModel(p *spProto) (*spModel, error) {
	if p.modelType != spUnigram && p.modelType != spBPE {
		return nil, fmt.Errorf("sentencepiece model type %d is not supported (only unigram=1 and bpe=2)", p.modelType)
	}
	m := &spModel{pieces: p.pieces, modelType: p.modelType, byteFallback: p.byteFallback, unkID: -1,
		normal: make(map[string]int32, len(p.pieces)), reserved: map[string]int32{}}
	for i := range m.byteID {
		m.byteID[i] = -1
	}
	m.minScore = math.MaxFloat32
	m.maxScore = math.Float32frombits(0x00800000) // FLT_MIN, as sentencepiece starts it
	var users []string
	for i, pc := range p.pieces {
		id := int32(i)
		if pc.text == "" {
			return nil, fmt.Errorf("sentencepiece piece %d is empty", i)
		}
		dst := m.reserved
		if pc.typ == spNormal || pc.typ == spUserDefined || pc.typ == spUnused {
			dst = m.normal
		}
		if _, dup := dst[pc.text]; dup {
			return nil, fmt.Errorf("sentencepiece piece %q is defined twice", pc.text)
		}
		dst[pc.text] = id
		switch pc.typ {
		case spUserDefined:
			users = append(users, pc.text)
		case spUnknown:
			if m.unkID >= 0 {
				return nil, errors.New("sentencepiece model has two unknown pieces")
			}
			m.unkID = id
		case spByte:
			if !p.byteFallback {
				return nil, fmt.Errorf("byte piece %q found although byte_fallback is false", pc.text)
			}
			b, ok := spPieceByte(pc.text)
			if !ok {
				return nil, fmt.Errorf("invalid byte piece %q", pc.text)
			}
			m.byteID[b] = id
		case spNormal:
			m.minScore = min(m.minScore, pc.score)
			m.maxScore = max(m.maxScore, pc.score)
		}
	}
	if m.unkID < 0 {
		return nil, errors.New("sentencepiece model has no unknown piece")
	}
	if p.byteFallback {
		for b, id := range m.byteID {
			if id < 0 {
				return nil, fmt.Errorf("byte_fallback model lacks piece <0x%02X>", b)
			}
		}
	}
	if p.modelType == spUnigram {
		keys := make([]string, 0, len(m.normal))
		for k := range m.normal {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m.trie.insert(k, m.normal[k])
		}
	}
	for _, u := range users {
		m.user.insert(u, m.normal[u])
		m.hasUser = true
	}
	m.wsMarker = " "
	if p.norm.escapeWS {
		m.wsMarker = spSpace
	}
	m.bpeWords = p.modelType == spBPE && !p.wsSuffix
	for k := range m.normal {
		if len(k) > 0 && strings.Contains(k[1:], m.wsMarker) {
			m.bpeWords = false
		}
	}
	var err error
	m.norm, err = newSPNormalizer(p.norm, p.wsSuffix)
	if err != nil {
		return nil, err
	}
	if m.hasUser {
		m.norm.user = &m.user
	}
	return m, nil
}

// spPieceByte parses "<0xXX>" (sentencepiece writes upper-case hex).
func spPieceByte(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(s[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

// pieceToID is ModelBase::PieceToId: reserved pieces first, then normal
// ones, else unk.
func (m *spModel) pieceToID(s string) int32 {
	if id, ok := m.reserved[s]; ok {
		return id
	}
	if id, ok := m.normal[s]; ok {
		return id
	}
	return m.unkID
}

// SentencePiece configuration from the tokenizer directory (HF
// DebertaV2Tokenizer).
type spOptions struct {
	doLowerCase bool
	added       map[string]int32 // added_tokens.json
}

// newSentencePiece builds a DeBERTa-v2/v3 style tokenizer (HF
// DebertaV2Tokenizer) from a serialized spm.model.
func newSentencePiece(data []byte, cfg *config, opt spOptions) (*tok, error) {
	p, err := parseSPModel(data)
	if err != nil {
		return nil, err
	}
	m, err := newSPModel(p)
	if err != nil {
		return nil, err
	}
	names := map[string]string{
		"cls": cfg.name("cls", "[CLS]"), "sep": cfg.name("sep", "[SEP]"), "pad": cfg.name("pad", "[PAD]"),
		"unk": cfg.name("unk", "[UNK]"), "mask": cfg.name("mask", "[MASK]"),
		"bos": cfg.name("bos", "[CLS]"), "eos": cfg.name("eos", "[SEP]"),
	}
	vocab := make(map[string]int32, len(p.pieces)+len(opt.added))
	for i, pc := range p.pieces {
		if _, dup := vocab[pc.text]; !dup {
			vocab[pc.text] = int32(i)
		}
	}
	// Special tokens are cut out of the raw text (HF's no-split tokens):
	// the five DeBERTa specials found in the vocabulary and every entry of
	// added_tokens.json.
	var added []addedToken
	seen := map[string]bool{}
	addKeys := make([]string, 0, len(opt.added))
	for k := range opt.added {
		addKeys = append(addKeys, k)
	}
	sort.Strings(addKeys)
	for _, k := range addKeys {
		id := opt.added[k]
		if id < 0 {
			return nil, fmt.Errorf("added token %q has negative id %d", k, id)
		}
		if k == "" || seen[k] {
			continue
		}
		if old, ok := vocab[k]; ok && old != id {
			return nil, fmt.Errorf("added token %q has id %d but the model has it at %d", k, id, old)
		}
		seen[k] = true
		added = append(added, addedToken{content: k, id: id, special: true})
	}
	for _, k := range []string{"pad", "cls", "sep", "unk", "mask"} {
		n := names[k]
		if id, ok := vocab[n]; ok && !seen[n] {
			seen[n] = true
			added = append(added, addedToken{content: n, id: id, special: true})
		}
	}
	t := &tok{kind: "sentencepiece", m: m, vocab: vocab, raw: newMatcher(added)}
	if opt.doLowerCase {
		t.m = &spLower{m}
	}
	lookup := func(n string) (int32, bool) {
		if id, ok := vocab[n]; ok {
			return id, true
		}
		id, ok := opt.added[n]
		return id, ok
	}
	cls, okC := lookup(names["cls"])
	sep, okS := lookup(names["sep"])
	if !okC || !okS {
		return nil, fmt.Errorf("cls token %q or sep token %q not in the sentencepiece model", names["cls"], names["sep"])
	}
	t.tmpl = bertTemplate(cls, sep)
	if err := t.finish(names); err != nil {
		return nil, err
	}
	return t, nil
}

// spLower lower-cases each text span first (DebertaV2Tokenizer with
// do_lower_case=True, which lower-cases outside special tokens).
type spLower struct{ m *spModel }

func (l *spLower) appendIDs(dst []int32, s string) []int32 {
	return l.m.appendIDs(dst, pyLower(s))
}

// pyLower is Python's str.lower(): full lower-case mapping (İ -> i + U+0307)
// and final-sigma handling aside, Go's per-rune mapping.
func pyLower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == 0x130 {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteString(strings.ToLower(string(r)))
	}
	return b.String()
}

// loadSentencePiece reads dir/spm.model and the optional added_tokens.json.
func loadSentencePiece(dir string, cfg *config) (Tokenizer, error) {
	p := filepath.Join(dir, "spm.model")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	opt := spOptions{}
	if cfg.doLowerCase != nil {
		opt.doLowerCase = *cfg.doLowerCase
	}
	if ap := filepath.Join(dir, "added_tokens.json"); fileExists(ap) {
		raw, err := os.ReadFile(ap)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if err := json.Unmarshal(raw, &opt.added); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", ap, err)
		}
	}
	t, err := newSentencePiece(data, cfg, opt)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
	}
	return t, nil
}
