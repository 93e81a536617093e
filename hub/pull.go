package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Files that an encoder needs besides its weights, downloaded when present.
var defaultFiles = []string{
	"config.json",
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"vocab.json", "merges.txt", "vocab.txt",
	"spm.model", "sentencepiece.bpe.model", "spiece.model",
}

const (
	singleWeights = "model.safetensors"
	indexWeights  = "model.safetensors.index.json"
	// PyTorch checkpoints, fetched only when a repository has no
	// safetensors weights (the caller converts them: torchckpt)
	torchWeights      = "pytorch_model.bin"
	torchIndexWeights = "pytorch_model.bin.index.json"
	userAgent         = "aotp-hub/1"
)

// HTTPError is a failed Hub request.
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	ErrorCode  string // X-Error-Code, e.g. RepoNotFound
	Message    string // X-Error-Message
	Hint       string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("hub: %s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ErrorCode != "" {
		s += " (" + e.ErrorCode + ")"
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	if e.Message != "" {
		s += " [hub says: " + oneLine(e.Message) + "]"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

type puller struct {
	ctx     context.Context
	opt     Options
	repo    string
	commit  string
	repoDir string
	snap    string
	noRedir *http.Client
}

type repoInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
	} `json:"siblings"`
}

// Pull downloads repo ("org/name" or "name") at opt.Revision into the cache
// and returns its snapshot directory. Files already in the snapshot are not
// downloaded again (one API request is still made to resolve the revision);
// blobs already in the cache are linked without downloading; a partial
// download (blobs/<etag>.incomplete) is resumed.
//
// By default it fetches config.json, the tokenizer files, and the
// safetensors weights (model.safetensors, or model.safetensors.index.json
// and the shards it names, or every top-level *.safetensors). Only a
// repository without safetensors weights gets its PyTorch checkpoint
// (pytorch_model.bin, or its index and shards) instead, for the caller to
// convert; TF, Flax and ONNX weights are never fetched, and a repository
// with neither kind is an error. opt.AllowPatterns replaces that selection.
func Pull(ctx context.Context, repo string, opt Options) (string, error) {
	opt = withDefaults(opt)
	if !ValidRepoID(repo) {
		return "", fmt.Errorf("hub: %q is not a Hugging Face model id (org/name)", repo)
	}
	if !validRevision(opt.Revision) {
		return "", fmt.Errorf("hub: %s: invalid revision %q", repo, opt.Revision)
	}
	if _, err := url.Parse(opt.Endpoint); err != nil {
		return "", fmt.Errorf("hub: invalid endpoint %q: %v", opt.Endpoint, err)
	}
	noRedir := *opt.HTTPClient
	noRedir.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &puller{ctx: ctx, opt: opt, repo: repo, repoDir: RepoDir(opt.CacheDir, repo), noRedir: &noRedir}

	info, err := p.repoInfo()
	if err != nil {
		return "", err
	}
	if !commitRe.MatchString(info.SHA) {
		return "", fmt.Errorf("hub: %s@%s: the Hub answered commit %q, not a 40-hex sha", repo, opt.Revision, info.SHA)
	}
	p.commit = info.SHA
	p.snap = filepath.Join(p.repoDir, "snapshots", p.commit)
	siblings := map[string]bool{}
	for _, s := range info.Siblings {
		if validRepoPath(s.RFilename) {
			siblings[s.RFilename] = true
		}
	}
	files, index, err := selectFiles(repo, opt.Revision, siblings, opt.AllowPatterns)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if err := p.file(f); err != nil {
			return "", err
		}
	}
	if index != "" {
		shards, err := shardsOf(snapshotPath(p.snap, index))
		if err != nil {
			return "", fmt.Errorf("hub: %s: %w", repo, err)
		}
		for _, s := range shards {
			if !siblings[s] {
				return "", fmt.Errorf("hub: %s@%s: %s names shard %q, which the repository does not have", repo, opt.Revision, index, s)
			}
			if err := p.file(s); err != nil {
				return "", err
			}
		}
	}
	if opt.Revision != p.commit {
		if err := writeRef(p.repoDir, opt.Revision, p.commit); err != nil {
			return "", fmt.Errorf("hub: %s: %w", repo, err)
		}
	}
	return p.snap, nil
}

// validRepoPath: a relative slash-separated path without "." or ".." parts.
func validRepoPath(f string) bool {
	if f == "" || strings.ContainsAny(f, "\\\x00") || strings.HasPrefix(f, "/") {
		return false
	}
	for _, p := range strings.Split(f, "/") {
		if p == "" || p == "." || p == ".." {
			return false
		}
	}
	return true
}

// selectFiles picks what to download. index is the sharded-weights index to
// expand after it is downloaded ("" if none).
func selectFiles(repo, rev string, siblings map[string]bool, patterns []string) (files []string, index string, err error) {
	all := make([]string, 0, len(siblings))
	for f := range siblings {
		all = append(all, f)
	}
	sort.Strings(all)
	if len(patterns) > 0 {
		for _, f := range all {
			for _, pat := range patterns {
				if ok, err := path.Match(pat, f); err != nil {
					return nil, "", fmt.Errorf("hub: bad pattern %q: %v", pat, err)
				} else if ok {
					files = append(files, f)
					break
				}
			}
		}
		if len(files) == 0 {
			return nil, "", fmt.Errorf("hub: %s@%s: no file matches %q (files: %s)", repo, rev, patterns, listFiles(all))
		}
		return files, "", nil
	}
	for _, f := range defaultFiles {
		if siblings[f] {
			files = append(files, f)
		}
	}
	switch {
	case siblings[singleWeights]:
		files = append(files, singleWeights)
	case siblings[indexWeights]:
		files = append(files, indexWeights)
		index = indexWeights
	default:
		n := 0
		for _, f := range all {
			if !strings.Contains(f, "/") && strings.HasSuffix(f, ".safetensors") {
				files = append(files, f)
				n++
			}
		}
		switch {
		case n > 0:
		case siblings[torchWeights]:
			files = append(files, torchWeights)
		case siblings[torchIndexWeights]:
			files = append(files, torchIndexWeights)
			index = torchIndexWeights
		default:
			return nil, "", fmt.Errorf("hub: %s@%s has neither safetensors nor PyTorch weights (files: %s)", repo, rev, listFiles(all))
		}
	}
	return files, index, nil
}

func listFiles(all []string) string {
	if len(all) > 20 {
		return strings.Join(all[:20], ", ") + fmt.Sprintf(", … (%d in all)", len(all))
	}
	if len(all) == 0 {
		return "none"
	}
	return strings.Join(all, ", ")
}

// shardsOf reads the weight_map of an index and returns its shard files.
func shardsOf(indexPath string) ([]string, error) {
	b, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("%s: invalid index: %v", indexPath, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: index has an empty or no weight_map", indexPath)
	}
	set := map[string]bool{}
	for t, s := range ix.WeightMap {
		if !validRepoPath(s) {
			return nil, fmt.Errorf("%s: tensor %q: bad shard name %q", indexPath, t, s)
		}
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func (p *puller) newRequest(method, u string, auth bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(p.ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("hub: %s %s: %w", method, u, err)
	}
	req.Header.Set("User-Agent", userAgent)
	if auth && p.opt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.opt.Token)
	}
	return req, nil
}

func (p *puller) transportErr(method, u string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // it repeats method and URL
	}
	if ctxErr := p.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("hub: %s %s: %w", method, u, ctxErr)
	}
	return fmt.Errorf("hub: %s %s: %w", method, u, err)
}

// httpErr words a failed response.
func (p *puller) httpErr(resp *http.Response, what string) error {
	e := &HTTPError{
		Method:     resp.Request.Method,
		URL:        resp.Request.URL.String(),
		StatusCode: resp.StatusCode,
		ErrorCode:  resp.Header.Get("X-Error-Code"),
		Message:    resp.Header.Get("X-Error-Message"),
	}
	tok := "set HF_TOKEN to a token that can read it"
	if p.opt.Token != "" {
		tok = "the token sent (HF_TOKEN) was refused or cannot read it"
	}
	switch {
	case e.ErrorCode == "GatedRepo":
		e.Hint = fmt.Sprintf("%s is gated: accept its terms on the Hub, and %s", p.repo, tok)
	case e.ErrorCode == "RevisionNotFound":
		e.Hint = fmt.Sprintf("revision %q not found in %s", p.opt.Revision, p.repo)
	case e.ErrorCode == "EntryNotFound":
		e.Hint = fmt.Sprintf("%s not found in %s", what, p.repo)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Hint = fmt.Sprintf("repository %s not found, or private or gated: %s", p.repo, tok)
	case e.ErrorCode == "RepoNotFound":
		e.Hint = fmt.Sprintf("repository %s not found (if it is private, set HF_TOKEN)", p.repo)
	case resp.StatusCode == http.StatusNotFound:
		e.Hint = fmt.Sprintf("repository %s or revision %q not found (%s)", p.repo, p.opt.Revision, what)
	}
	return e
}

func (p *puller) repoInfo() (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s", p.opt.Endpoint, p.repo, url.PathEscape(p.opt.Revision))
	req, err := p.newRequest(http.MethodGet, u, true)
	if err != nil {
		return nil, err
	}
	resp, err := p.opt.HTTPClient.Do(req)
	if err != nil {
		return nil, p.transportErr("GET", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, p.httpErr(resp, "model info")
	}
	var info repoInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&info); err != nil {
		return nil, p.transportErr("GET", u, fmt.Errorf("invalid model info JSON: %v", err))
	}
	return &info, nil
}

type fileMeta struct {
	etag     string
	size     int64 // -1 if unknown
	location string
}

// head resolves a file's metadata, following only relative redirects (a
// renamed repository); an absolute redirect is the CDN location of an LFS
// file.
func (p *puller) head(u, file string) (*fileMeta, error) {
	cur := u
	for range 5 {
		req, err := p.newRequest(http.MethodHead, cur, true)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := p.noRedir.Do(req)
		if err != nil {
			return nil, p.transportErr("HEAD", cur, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return nil, p.httpErr(resp, file)
		}
		loc := resp.Header.Get("Location")
		isRedirect := resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != ""
		if isRedirect {
			lu, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("hub: HEAD %s: bad Location %q", cur, loc)
			}
			if lp, _ := url.Parse(loc); lp != nil && lp.Host == "" {
				cur = lu.String() // relative: follow
				continue
			}
			loc = lu.String()
		} else {
			loc = cur
		}
		if c := resp.Header.Get("X-Repo-Commit"); c != "" && c != p.commit {
			return nil, fmt.Errorf("hub: HEAD %s: the Hub answered commit %s, expected %s", cur, c, p.commit)
		}
		etag := resp.Header.Get("X-Linked-Etag")
		if etag == "" {
			etag = resp.Header.Get("ETag")
		}
		etag = normalizeEtag(etag)
		if etag == "" {
			return nil, fmt.Errorf("hub: HEAD %s: no ETag in the answer; cannot cache %s", cur, file)
		}
		if !safeEtag.MatchString(etag) {
			return nil, fmt.Errorf("hub: HEAD %s: unusable ETag %q", cur, etag)
		}
		size := int64(-1)
		for _, h := range []string{"X-Linked-Size", "Content-Length"} {
			if v := resp.Header.Get(h); v != "" {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
					size = n
					break
				}
			}
		}
		return &fileMeta{etag: etag, size: size, location: loc}, nil
	}
	return nil, fmt.Errorf("hub: HEAD %s: too many redirects", u)
}

// normalizeEtag strips the weak prefix and quotes, as huggingface_hub does.
func normalizeEtag(e string) string {
	e = strings.TrimSpace(e)
	e = strings.TrimPrefix(e, "W/")
	return strings.Trim(e, `"`)
}

// file makes sure snapshots/<commit>/<file> exists.
func (p *puller) file(file string) error {
	pointer := snapshotPath(p.snap, file)
	if st, err := os.Stat(pointer); err == nil && st.Mode().IsRegular() {
		return nil // in the snapshot already (Stat follows the symlink)
	}
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", p.opt.Endpoint, p.repo, p.commit, escapePath(file))
	meta, err := p.head(u, file)
	if err != nil {
		return err
	}
	blob := filepath.Join(p.repoDir, "blobs", meta.etag)
	if st, err := os.Stat(blob); err != nil || !st.Mode().IsRegular() || (meta.size >= 0 && st.Size() != meta.size) {
		if err := p.download(file, u, meta, blob); err != nil {
			return err
		}
	}
	if err := linkBlob(blob, pointer); err != nil {
		return fmt.Errorf("hub: %s: %w", p.repo, err)
	}
	return nil
}

func escapePath(f string) string {
	parts := strings.Split(f, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// download fetches meta.location into blob via blob.incomplete, resuming it.
func (p *puller) download(file, resolveURL string, meta *fileMeta, blob string) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	incomplete := blob + ".incomplete"
	f, err := os.OpenFile(incomplete, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	var h hash.Hash
	if sha256Hex.MatchString(meta.etag) {
		h = sha256.New()
	}
	for attempt := 0; ; attempt++ {
		err := p.fetchInto(f, h, file, meta)
		if errors.Is(err, errRestart) && attempt == 0 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("hub: %s: %w", incomplete, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if meta.size >= 0 && st.Size() != meta.size {
		return fmt.Errorf("hub: %s: downloaded %d bytes, expected %d (partial file kept in %s; pull again to resume)", resolveURL, st.Size(), meta.size, incomplete)
	}
	if h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != meta.etag {
			f.Close()
			os.Remove(incomplete)
			return fmt.Errorf("hub: %s: sha256 %s does not match the Hub's %s; removed the download, pull again", resolveURL, got, meta.etag)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := os.Rename(incomplete, blob); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	syncDir(filepath.Dir(blob))
	return nil
}

var errRestart = errors.New("restart download")

// fetchInto appends the rest of the file to f (resuming from its size) and
// feeds h with the whole content.
func (p *puller) fetchInto(f *os.File, h hash.Hash, file string, meta *fileMeta) error {
	resume, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if meta.size >= 0 && resume > meta.size {
		if err := truncate(f); err != nil {
			return err
		}
		resume = 0
	}
	if h != nil {
		h.Reset()
		if resume > 0 {
			if _, err := io.Copy(h, io.NewSectionReader(f, 0, resume)); err != nil {
				return fmt.Errorf("hub: %w", err)
			}
		}
	}
	if meta.size >= 0 && resume == meta.size && resume > 0 {
		return nil // complete already, only the rename was missing
	}
	// The token goes only to the Hub itself, not to a CDN host.
	auth := sameHost(meta.location, p.opt.Endpoint)
	req, err := p.newRequest(http.MethodGet, meta.location, auth)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "identity")
	if resume > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", resume))
	}
	resp, err := p.opt.HTTPClient.Do(req)
	if err != nil {
		return p.transportErr("GET", meta.location, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && resume > 0:
		if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", resume)) {
			return fmt.Errorf("hub: GET %s: asked for bytes %d-, got Content-Range %q", meta.location, resume, cr)
		}
	case resp.StatusCode == http.StatusOK:
		if resume > 0 { // server ignored Range: start over
			if err := truncate(f); err != nil {
				return err
			}
			resume = 0
			if h != nil {
				h.Reset()
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if err := truncate(f); err != nil {
			return err
		}
		return errRestart
	default:
		return p.httpErr(resp, file)
	}
	var w io.Writer = f
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	pw := &progressWriter{w: w, done: resume, total: meta.size, file: file, fn: p.opt.Progress}
	if pw.fn != nil {
		pw.fn(file, resume, meta.size)
	}
	if _, err := io.CopyBuffer(pw, resp.Body, make([]byte, 1<<20)); err != nil {
		return p.transportErr("GET", meta.location, err)
	}
	return nil
}

func truncate(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Host, ub.Host) && ua.Scheme == ub.Scheme
}

type progressWriter struct {
	w           io.Writer
	done, total int64
	file        string
	fn          func(string, int64, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.file, p.done, p.total)
	}
	return n, err
}

// linkBlob points snapshot file pointer at blob with a relative symlink
// (../../blobs/<etag> for a top-level file), replacing what was there
// atomically. Where symlinks are unavailable the blob is copied.
func linkBlob(blob, pointer string) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		rel = blob
	}
	tmp := pointer + ".tmp-link"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return copyFile(blob, pointer)
	}
	if err := os.Rename(tmp, pointer); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp-copy"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// writeRef records that revision points at commit (no trailing newline:
// huggingface_hub reads the file verbatim).
func writeRef(repoDir, revision, commit string) error {
	ref := filepath.Join(repoDir, "refs", filepath.FromSlash(revision))
	if b, err := os.ReadFile(ref); err == nil && string(b) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(ref), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(ref), ".ref-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(commit); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	tmp.Chmod(0o644)
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), ref); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
