package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Hugging Face text-embeddings-inference (TEI) compatibility: the routes a
// TEI sequence-classification server answers, with its request and answer
// shapes, for one task (under /tasks/{name}/, or at the root for
// --default-task).

// teiTask is the task a TEI route addresses.
func (s *Server) teiTask(r *http.Request) string {
	if n := r.PathValue("name"); n != "" {
		return n
	}
	return s.opts.DefaultTask
}

// teiPrediction is TEI's {"score", "label"}.
type teiPrediction struct {
	Score float32 `json:"score"`
	Label string  `json:"label"`
}

// parseTEIInputs reads TEI's PredictInput: "text", ["text"], ["text",
// "pair"], or a batch [["a"], ["a", "b"], ...]. batch reports the last form.
func parseTEIInputs(raw json.RawMessage) (seqs [][]string, batch bool, e *apiError) {
	raw = bytes.TrimSpace(raw)
	bad := func() *apiError {
		return errorf(http.StatusBadRequest, "validation",
			"\"inputs\" must be a string, a pair of strings [string, string] or a batch of mixed strings and pairs [[string], [string, string], ...]")
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, false, errorf(http.StatusBadRequest, "validation", "\"inputs\" is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, bad()
		}
		return [][]string{{s}}, false, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, false, bad()
	}
	if len(elems) == 0 {
		return nil, false, errorf(http.StatusBadRequest, "empty", "`inputs` cannot be empty")
	}
	if first := bytes.TrimSpace(elems[0]); len(first) > 0 && first[0] == '"' {
		var pair []string
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) > 2 {
			return nil, false, bad()
		}
		return [][]string{pair}, false, nil
	}
	seqs = make([][]string, len(elems))
	for i, el := range elems {
		if err := json.Unmarshal(el, &seqs[i]); err != nil || len(seqs[i]) < 1 || len(seqs[i]) > 2 {
			return nil, false, bad()
		}
	}
	return seqs, true, nil
}

func (s *Server) handleTEIPredict(w http.ResponseWriter, r *http.Request) *apiError {
	done, e := s.admit()
	if e != nil {
		return e
	}
	defer done()
	body, e := s.readBody(w, r)
	if e != nil {
		return e
	}
	var req struct {
		Inputs    json.RawMessage `json:"inputs"`
		Truncate  *bool           `json:"truncate"`
		RawScores bool            `json:"raw_scores"`
	}
	if e := decodeJSON(body, &req); e != nil {
		return e
	}
	seqs, batch, e := parseTEIInputs(req.Inputs)
	if e != nil {
		return e
	}
	name := s.teiTask(r)
	inputs := make([]input, len(seqs))
	for i, sq := range seqs {
		inputs[i] = input{task: name, text: sq[0]}
		if len(sq) == 2 {
			inputs[i].pair, inputs[i].hasPair = sq[1], true
		}
	}
	truncate := s.opts.Truncate
	if req.Truncate != nil {
		truncate = *req.Truncate
	}
	res, e := s.predict(r.Context(), inputs, truncate)
	if e != nil {
		return e
	}
	out := make([][]teiPrediction, len(res))
	for i, rs := range res {
		if out[i], e = teiScores(rs, req.RawScores); e != nil {
			return e
		}
	}
	if batch {
		writeJSON(w, http.StatusOK, out)
	} else {
		writeJSON(w, http.StatusOK, out[0])
	}
	return nil
}

// teiScores is TEI's answer for one input: every class with its softmax
// probability (sigmoid for a single logit; the logits themselves with
// raw_scores), highest first.
func teiScores(r result, raw bool) ([]teiPrediction, *apiError) {
	l := r.logits
	scores := make([]float64, len(l))
	for i, v := range l {
		scores[i] = float64(v)
	}
	if !raw {
		if len(l) > 1 {
			m := math.Inf(-1)
			for _, v := range scores {
				m = math.Max(m, v)
			}
			var z float64
			for i, v := range scores {
				scores[i] = math.Exp(v - m)
				z += scores[i]
			}
			for i := range scores {
				scores[i] /= z
			}
		} else {
			scores[0] = 1 / (1 + math.Exp(-scores[0]))
		}
	}
	out := make([]teiPrediction, len(l))
	for i, v := range scores {
		if math.IsNaN(v) {
			return nil, errorf(http.StatusInternalServerError, "backend", "score is NaN")
		}
		out[i] = teiPrediction{Score: float32(v), Label: LabelName(r.cfg, i)}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Score > out[b].Score })
	return out, nil
}

// teiToken is TEI's SimpleToken.
type teiToken struct {
	ID      int32  `json:"id"`
	Text    string `json:"text"`
	Special bool   `json:"special"`
	Start   *int   `json:"start"`
	Stop    *int   `json:"stop"`
}

func (s *Server) handleTEITokenize(w http.ResponseWriter, r *http.Request) *apiError {
	if s.draining.Load() {
		return errorf(http.StatusServiceUnavailable, "unhealthy", "%v", errShuttingDown)
	}
	if t := s.reg.acquire(s.teiTask(r)); t == nil {
		return errorf(http.StatusBadRequest, "validation", "unknown task %q", s.teiTask(r))
	} else {
		t.release()
	}
	body, e := s.readBody(w, r)
	if e != nil {
		return e
	}
	var req struct {
		Inputs           json.RawMessage `json:"inputs"`
		AddSpecialTokens *bool           `json:"add_special_tokens"`
	}
	if e := decodeJSON(body, &req); e != nil {
		return e
	}
	var texts []string
	raw := bytes.TrimSpace(req.Inputs)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return errorf(http.StatusBadRequest, "validation", "\"inputs\" is required")
	case raw[0] == '"':
		texts = make([]string, 1)
		if err := json.Unmarshal(raw, &texts[0]); err != nil {
			return errorf(http.StatusBadRequest, "validation", "invalid \"inputs\": %v", err)
		}
	default:
		if err := json.Unmarshal(raw, &texts); err != nil {
			return errorf(http.StatusBadRequest, "validation", "\"inputs\" must be a string or a list of strings")
		}
		if len(texts) == 0 {
			return errorf(http.StatusBadRequest, "empty", "`inputs` cannot be empty")
		}
	}
	if len(texts) > s.opts.MaxInputs {
		return errorf(http.StatusRequestEntityTooLarge, "validation", "batch size %d > maximum allowed batch size %d", len(texts), s.opts.MaxInputs)
	}
	special := req.AddSpecialTokens == nil || *req.AddSpecialTokens
	out := make([][]teiToken, len(texts))
	for i, text := range texts {
		toks, err := s.tokenizeTEI(text, special)
		if err != nil {
			return errorf(http.StatusBadRequest, "tokenizer", "input %d: %v", i, err)
		}
		out[i] = toks
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// tokenizeTEI lists text's tokens; template tokens are special (text = the
// token, no offsets), the others carry their character offsets in text
// when they can be aligned (best effort: the tokenizer does not track
// offsets; a token it cannot place gets null offsets and its vocabulary
// form as text).
func (s *Server) tokenizeTEI(text string, addSpecial bool) ([]teiToken, error) {
	pieces, err := s.tok.Tokenize(text)
	if err != nil {
		return nil, err
	}
	content := make([]int32, len(pieces))
	for i, p := range pieces {
		id, ok := s.tok.TokenToID(p)
		if !ok {
			id = s.tok.Special().UNK
		}
		content[i] = id
	}
	ids := content
	first := 0 // where the content starts in ids
	if addSpecial {
		enc, err := s.tok.Encode(text)
		if err != nil {
			return nil, err
		}
		ids = enc.IDs
		first = -1
		for p := 0; p+len(content) <= len(ids); p++ {
			if slices.Equal(ids[p:p+len(content)], content) {
				first = p
				break
			}
		}
		if first < 0 { // cannot tell the template apart: all content
			first, content = 0, ids
		}
	}
	offs := alignOffsets(text, pieces)
	out := make([]teiToken, len(ids))
	runes := []rune(text)
	for i, id := range ids {
		tk, _ := s.tok.IDToToken(id)
		c := i - first
		if c < 0 || c >= len(content) || c >= len(offs) {
			out[i] = teiToken{ID: id, Text: tk, Special: true}
			continue
		}
		out[i] = teiToken{ID: id, Text: tk}
		if o := offs[c]; o[0] >= 0 {
			a, b := o[0], o[1]
			out[i].Start, out[i].Stop = &a, &b
			out[i].Text = string(runes[a:b])
		}
	}
	return out, nil
}

// byteDecoder inverts GPT-2's byte-to-printable-character map used by
// byte-level BPE vocabularies.
var byteDecoder = func() map[rune]byte {
	m := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[rune(b)] = byte(b)
		} else {
			m[rune(256+n)] = byte(b)
			n++
		}
	}
	return m
}()

// surfaces are the strings a token may stand for in the text: WordPiece
// continuations lose "##", byte-level BPE tokens are decoded to bytes
// (their leading space belongs to the gap before the word).
func surfaces(tok string) []string {
	out := []string{tok}
	if rest, ok := strings.CutPrefix(tok, "##"); ok && rest != "" {
		out = append([]string{rest}, out...)
	}
	var b []byte
	ok := true
	for _, r := range tok {
		c, in := byteDecoder[r]
		if !in {
			ok = false
			break
		}
		b = append(b, c)
	}
	if ok {
		if d := strings.TrimLeft(string(b), " \t\n\r"); d != "" && d != tok {
			out = append(out, d)
		}
	}
	return out
}

// foldRune is how a text character may appear in a token: itself, lower
// case, and lower case without combining marks (BERT's normalizer).
func foldRune(r rune) []string {
	out := []string{string(r)}
	l := strings.ToLower(string(r))
	if l != out[0] {
		out = append(out, l)
	}
	var b strings.Builder
	for _, c := range norm.NFD.String(l) {
		if !unicode.Is(unicode.Mn, c) {
			b.WriteRune(c)
		}
	}
	if s := b.String(); s != l {
		out = append(out, s)
	}
	return out
}

// alignOffsets places each token in text, left to right: [start, stop) in
// characters, or {-1, -1} when it cannot be placed. A token that does not
// spell the text (an unknown word) is skipped, and the next token is looked
// for a little further on; a single skipped token between two placed ones
// gets the text between them.
func alignOffsets(text string, toks []string) [][2]int {
	const lookahead = 256
	runes := []rune(text)
	out := make([][2]int, len(toks))
	skipSpace := func(j int) int {
		for j < len(runes) && (unicode.IsSpace(runes[j]) || unicode.IsControl(runes[j])) {
			j++
		}
		return j
	}
	cur := 0
	var unplaced []int
	fill := func(end int) { // give a lone skipped token the gap before end
		if len(unplaced) == 1 {
			a, b := skipSpace(cur), end
			for b > a && (unicode.IsSpace(runes[b-1]) || unicode.IsControl(runes[b-1])) {
				b--
			}
			if b > a {
				out[unplaced[0]] = [2]int{a, b}
			}
		}
		unplaced = unplaced[:0]
	}
	for i, tk := range toks {
		out[i] = [2]int{-1, -1}
		placed := false
		start := skipSpace(cur)
		limit := start
		if len(unplaced) > 0 {
			limit = min(len(runes), start+lookahead)
		}
		for j := start; j <= limit && !placed; j++ {
			for _, sf := range surfaces(tk) {
				if k, ok := matchAt(runes, j, sf); ok {
					fill(j)
					out[i] = [2]int{j, k}
					cur = k
					placed = true
					break
				}
			}
		}
		if !placed {
			unplaced = append(unplaced, i)
		}
	}
	fill(len(runes))
	return out
}

// matchAt consumes text characters from j while they spell s (up to case
// and accents); it returns the end on a full match.
func matchAt(runes []rune, j int, s string) (int, bool) {
	k := j
	for s != "" {
		if k >= len(runes) {
			return 0, false
		}
		matched := false
		for _, f := range foldRune(runes[k]) {
			if f != "" && strings.HasPrefix(s, f) {
				s = s[len(f):]
				matched = true
				break
			}
		}
		if !matched {
			if f := foldRune(runes[k]); len(f) > 2 && f[2] == "" && k > j { // a lone combining mark
				k++
				continue
			}
			return 0, false
		}
		k++
	}
	return k, true
}

// teiInfo is TEI's GET /info answer.
type teiInfo struct {
	ModelID               string       `json:"model_id"`
	ModelSHA              *string      `json:"model_sha"`
	ModelDtype            string       `json:"model_dtype"`
	ModelType             teiModelType `json:"model_type"`
	MaxConcurrentRequests int          `json:"max_concurrent_requests"`
	MaxInputLength        int          `json:"max_input_length"`
	MaxBatchTokens        int          `json:"max_batch_tokens"`
	MaxBatchRequests      *int         `json:"max_batch_requests"`
	MaxClientBatchSize    int          `json:"max_client_batch_size"`
	AutoTruncate          bool         `json:"auto_truncate"`
	TokenizationWorkers   int          `json:"tokenization_workers"`
	Version               string       `json:"version"`
	SHA                   *string      `json:"sha"`
	DockerLabel           *string      `json:"docker_label"`
	ServedModelName       string       `json:"served_model_name"`
}

type teiModelType struct {
	Classifier teiClassifier `json:"classifier"`
}

type teiClassifier struct {
	ID2Label map[string]string `json:"id2label"`
	Label2ID map[string]int    `json:"label2id"`
}

// Version is reported by TEI /info.
const Version = "0.1.0"

func (s *Server) handleTEIInfo(w http.ResponseWriter, r *http.Request) *apiError {
	name := s.teiTask(r)
	t := s.reg.acquire(name)
	if t == nil {
		return errorf(http.StatusBadRequest, "validation", "unknown task %q", name)
	}
	c := t.ad.Config
	t.release()
	n := c.NumLabels
	if n < 1 {
		n = 1
	}
	cl := teiClassifier{ID2Label: map[string]string{}, Label2ID: map[string]int{}}
	for k := 0; k < n; k++ {
		l := LabelName(c, k)
		cl.ID2Label[strconv.Itoa(k)] = l
		cl.Label2ID[l] = k
	}
	writeJSON(w, http.StatusOK, teiInfo{
		ModelID: s.opts.ModelID, ModelDtype: s.enc.WeightsDType(), ModelType: teiModelType{Classifier: cl},
		MaxConcurrentRequests: s.opts.MaxConcurrent, MaxInputLength: s.opts.MaxInputLength,
		MaxBatchTokens: s.opts.MaxBatchTokens, MaxClientBatchSize: s.opts.MaxInputs, AutoTruncate: s.opts.Truncate,
		TokenizationWorkers: runtime.GOMAXPROCS(0), Version: Version, ServedModelName: name,
	})
	return nil
}

func (s *Server) handleTEIHealth(w http.ResponseWriter, r *http.Request) *apiError {
	t := s.reg.acquire(s.teiTask(r))
	if t == nil || s.draining.Load() {
		if t != nil {
			t.release()
		}
		return errorf(http.StatusServiceUnavailable, "unhealthy", "unhealthy")
	}
	t.release()
	w.WriteHeader(http.StatusOK)
	return nil
}
