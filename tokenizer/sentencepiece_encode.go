package tokenizer

import (
	"sync"
)

// Segmentation of normalized text, as sentencepiece 0.1.97 does it.
//
// Unigram (Model::EncodeOptimized): a Viterbi pass over byte positions;
// from each character start every vocabulary piece that is a prefix
// (trie walk) proposes a path ending after it, scored by the piece's score
// (USER_DEFINED pieces: length_in_bytes * max_score - 0.1, where max_score
// starts at FLT_MIN, so about -0.1; UNUSED pieces are skipped). When no
// piece covers exactly the one character, an unknown node with score
// min_score - 10 is proposed. Candidate sums are formed in double precision
// (the C++ mixes float scores with the double 0.1) and stored as float; a
// later candidate replaces the stored one only when strictly greater.
//
// BPE (bpe_model.cc): the text is split into characters (user-defined
// symbols as one frozen symbol, longest match), then the adjacent pair whose
// concatenation is a piece with the highest score is merged, the leftmost
// among equal scores, until no pair is a piece. UNUSED pieces may be
// merged through and are split back into the pieces they were built from.
//
// Both (SentencePieceProcessor::Encode): an unknown piece becomes its UTF-8
// bytes as <0xXX> pieces when byte_fallback is on; otherwise runs of
// consecutive unknown pieces collapse into one unk id.

const spUnkPenalty float32 = 10

type spBest struct {
	score float32
	start int32
	id    int32
}

type spSym struct {
	start, end int32
	prev, next int32
	freeze     bool
}

type spPair struct {
	score       float32
	left, right int32
	size        int32
}

type spScratch struct {
	norm []byte
	best []spBest
	segs []spSeg
	syms []spSym
	heap []spPair
}

type spSeg struct {
	start, end int32
	id         int32
}

var spPool = sync.Pool{New: func() any { return new(spScratch) }}

// oneCharLen is sentencepiece's OneCharLen: the UTF-8 sequence length
// announced by a lead byte (1 for continuation bytes).
func oneCharLen(c byte) int {
	return int("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x02\x02\x03\x04"[c>>4])
}

// appendIDs is sp.encode(text) for one span of raw text.
func (m *spModel) appendIDs(dst []int32, text string) []int32 {
	sc := spPool.Get().(*spScratch)
	defer spPool.Put(sc)
	sc.norm = m.norm.normalize(sc.norm[:0], text)
	if len(sc.norm) == 0 {
		return dst
	}
	if m.modelType == spBPE {
		sc.segs = m.bpe(sc, sc.segs[:0])
	} else {
		sc.segs = m.unigram(sc, sc.segs[:0])
	}
	prevUnk := false
	for _, s := range sc.segs {
		isUnk := s.id == m.unkID
		switch {
		case isUnk && m.byteFallback:
			for _, b := range sc.norm[s.start:s.end] {
				dst = append(dst, m.byteID[b])
			}
		case isUnk && prevUnk:
			// merged into the previous unknown piece
		default:
			dst = append(dst, s.id)
		}
		prevUnk = isUnk
	}
	return dst
}

func (m *spModel) unigram(sc *spScratch, segs []spSeg) []spSeg {
	norm := sc.norm
	size := len(norm)
	if cap(sc.best) < size+1 {
		sc.best = make([]spBest, size+1)
	}
	best := sc.best[:size+1]
	for i := range best {
		best[i] = spBest{start: -1, id: -1}
	}
	unkScore := m.minScore - spUnkPenalty
	for start := 0; start < size; {
		till := best[start].score
		single := false
		mblen := min(oneCharLen(norm[start]), size-start)
		node := int32(-1)
		for key := start; key < size; {
			node = m.trie.child(node, norm[key])
			key++
			if node < 0 {
				break
			}
			id := m.trie.nodes[node].value
			if id < 0 {
				continue
			}
			pc := &m.pieces[id]
			if pc.typ == spUnused {
				continue
			}
			length := key - start
			var score float64
			if pc.typ == spUserDefined {
				score = float64(float32(length)*m.maxScore) - 0.1
			} else {
				score = float64(pc.score)
			}
			cand := score + float64(till)
			if t := &best[key]; t.start < 0 || cand > float64(t.score) {
				*t = spBest{score: float32(cand), start: int32(start), id: id}
			}
			if length == mblen {
				single = true
			}
		}
		if !single {
			cand := unkScore + till
			if t := &best[start+mblen]; t.start < 0 || cand > t.score {
				*t = spBest{score: cand, start: int32(start), id: m.unkID}
			}
		}
		start += mblen
	}
	first := len(segs)
	for end := size; end > 0; {
		b := best[end]
		if b.start < 0 { // unreachable: every character has a node
			segs = append(segs, spSeg{start: 0, end: int32(end), id: m.unkID})
			break
		}
		segs = append(segs, spSeg{start: b.start, end: int32(end), id: b.id})
		end = int(b.start)
	}
	for i, j := first, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return segs
}

// pairLess orders the BPE agenda: higher score first, then smaller left.
func pairLess(a, b spPair) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

func pushPair(h []spPair, p spPair) []spPair {
	h = append(h, p)
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !pairLess(h[i], h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	return h
}

func popPair(h []spPair) (spPair, []spPair) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < len(h) && pairLess(h[l], h[small]) {
			small = l
		}
		if r < len(h) && pairLess(h[r], h[small]) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	return top, h
}

// bpe segments sc.norm. When no piece has the whitespace marker after its
// first character (m.bpeWords), no merge can cross the start of a
// marker-led word, and merges in different words do not interact, so each
// word is merged on its own: same result, a much smaller agenda.
func (m *spModel) bpe(sc *spScratch, segs []spSeg) []spSeg {
	if !m.bpeWords {
		return m.bpeRange(sc, 0, len(sc.norm), segs)
	}
	norm, ws := sc.norm, m.wsMarker
	start := 0
	for i := 1; i+len(ws) <= len(norm); i++ {
		if norm[i] == ws[0] && string(norm[i:i+len(ws)]) == ws {
			segs = m.bpeRange(sc, start, i, segs)
			start = i
		}
	}
	return m.bpeRange(sc, start, len(norm), segs)
}

func (m *spModel) bpeRange(sc *spScratch, from, to int, segs []spSeg) []spSeg {
	norm := sc.norm[:to]
	syms := sc.syms[:0]
	for pos := from; pos < len(norm); {
		l, frozen := 0, false
		if m.hasUser {
			l = spLongest(&m.user, norm[pos:])
			frozen = l > 0
		}
		if l == 0 {
			l = min(oneCharLen(norm[pos]), len(norm)-pos)
		}
		i := int32(len(syms))
		syms = append(syms, spSym{start: int32(pos), end: int32(pos + l), prev: i - 1, next: i + 1, freeze: frozen})
		pos += l
	}
	syms[len(syms)-1].next = -1
	var revMerge map[string][2]string
	h := sc.heap[:0]
	add := func(left, right int32) {
		if left < 0 || right < 0 || syms[left].freeze || syms[right].freeze {
			return
		}
		a, b := syms[left], syms[right]
		id, ok := m.normal[string(norm[a.start:b.end])]
		if !ok {
			return
		}
		h = pushPair(h, spPair{score: m.pieces[id].score, left: left, right: right, size: b.end - a.start})
		if m.pieces[id].typ == spUnused {
			if revMerge == nil {
				revMerge = map[string][2]string{}
			}
			revMerge[string(norm[a.start:b.end])] = [2]string{string(norm[a.start:a.end]), string(norm[b.start:b.end])}
		}
	}
	for i := 1; i < len(syms); i++ {
		add(int32(i-1), int32(i))
	}
	for len(h) > 0 {
		var top spPair
		top, h = popPair(h)
		l, r := &syms[top.left], &syms[top.right]
		if l.end == l.start || r.end == r.start || (l.end-l.start)+(r.end-r.start) != top.size {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		r.start = r.end // empty
		add(l.prev, top.left)
		add(top.left, l.next)
	}
	sc.heap = h[:0]
	sc.syms = syms
	for i := int32(0); i >= 0 && int(i) < len(syms); i = syms[i].next {
		s := syms[i]
		w := norm[s.start:s.end]
		id := m.pieceToIDBytes(w)
		if m.pieces[id].typ != spUnused || revMerge == nil {
			segs = append(segs, spSeg{start: s.start, end: s.end, id: id})
			continue
		}
		segs = m.resegment(segs, string(w), int(s.start), revMerge)
	}
	return segs
}

func (m *spModel) pieceToIDBytes(w []byte) int32 {
	if id, ok := m.reserved[string(w)]; ok {
		return id
	}
	if id, ok := m.normal[string(w)]; ok {
		return id
	}
	return m.unkID
}

// resegment splits an UNUSED piece back into the pieces it was merged from.
func (m *spModel) resegment(segs []spSeg, w string, start int, rev map[string][2]string) []spSeg {
	id := m.pieceToID(w)
	p, ok := rev[w]
	if m.pieces[id].typ != spUnused || !ok {
		return append(segs, spSeg{start: int32(start), end: int32(start + len(w)), id: id})
	}
	segs = m.resegment(segs, p[0], start, rev)
	return m.resegment(segs, p[1], start+len(p[0]), rev)
}
