package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const commitA = "0123456789abcdef0123456789abcdef01234567"

type fakeFile struct {
	data []byte
	lfs  bool
}

// fakeHub serves the Hub endpoints aotp uses on loopback: the revision API,
// resolve (HEAD and GET) with ETag/X-Linked-Etag/X-Repo-Commit, and an
// LFS-style redirect to a CDN path that honours Range.
type fakeHub struct {
	t       *testing.T
	srv     *httptest.Server
	repo    string
	commit  string
	files   map[string]fakeFile
	token   string // if set, requests without it get 401
	noRange bool   // CDN ignores Range

	mu       sync.Mutex
	requests []string // "METHOD path"
	auth     map[string]string
	ranges   []string
	hold     chan struct{} // if set, CDN GETs block until closed
}

func newFakeHub(t *testing.T, repo string, files map[string]fakeFile) *fakeHub {
	h := &fakeHub{t: t, repo: repo, commit: commitA, files: files, auth: map[string]string{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func gitSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (h *fakeHub) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	key := r.Method + " " + r.URL.Path
	h.requests = append(h.requests, key)
	h.auth[key] = r.Header.Get("Authorization")
	if rg := r.Header.Get("Range"); rg != "" {
		h.ranges = append(h.ranges, rg)
	}
	hold := h.hold
	h.mu.Unlock()

	if strings.HasPrefix(r.URL.Path, "/cdn/") {
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		sum := strings.TrimPrefix(r.URL.Path, "/cdn/")
		for _, f := range h.files {
			if f.lfs && sha256hex(f.data) == sum {
				if h.noRange {
					r.Header.Del("Range")
				}
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
				return
			}
		}
		http.NotFound(w, r)
		return
	}
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.Header().Set("X-Error-Message", "Repository not found")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	apiPrefix := "/api/models/" + h.repo + "/revision/"
	if strings.HasPrefix(r.URL.Path, apiPrefix) {
		rev := strings.TrimPrefix(r.URL.Path, apiPrefix)
		if rev != "main" && rev != h.commit {
			w.Header().Set("X-Error-Code", "RevisionNotFound")
			http.Error(w, "no such revision", http.StatusNotFound)
			return
		}
		var sib []map[string]string
		for name := range h.files {
			sib = append(sib, map[string]string{"rfilename": name})
		}
		sort.Slice(sib, func(i, j int) bool { return sib[i]["rfilename"] < sib[j]["rfilename"] })
		json.NewEncoder(w).Encode(map[string]any{"id": h.repo, "sha": h.commit, "siblings": sib})
		return
	}
	resPrefix := "/" + h.repo + "/resolve/" + h.commit + "/"
	if strings.HasPrefix(r.URL.Path, resPrefix) {
		name := strings.TrimPrefix(r.URL.Path, resPrefix)
		f, ok := h.files[name]
		if !ok {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
		w.Header().Set("X-Repo-Commit", h.commit)
		if f.lfs {
			sum := sha256hex(f.data)
			w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
			w.Header().Set("X-Linked-Size", fmt.Sprint(len(f.data)))
			w.Header().Set("ETag", `W/"pointer-etag"`)
			w.Header().Set("Location", h.srv.URL+"/cdn/"+sum)
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("ETag", `"`+gitSHA1(f.data)+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
		return
	}
	w.Header().Set("X-Error-Code", "RepoNotFound")
	http.Error(w, "repository not found", http.StatusNotFound)
}

// isolate points every HF variable at a temp dir so no real cache or token
// is ever used.
func isolate(t *testing.T) string {
	home := t.TempDir()
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT", "XDG_CACHE_HOME"} {
		t.Setenv(v, "")
	}
	t.Setenv("HF_HOME", home)
	return home
}

func weights() []byte {
	b := make([]byte, 300_000)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}

func stdFiles() map[string]fakeFile {
	return map[string]fakeFile{
		"config.json":       {data: []byte(`{"model_type":"roberta"}`)},
		"tokenizer.json":    {data: []byte(`{"version":"1.0"}`)},
		"vocab.json":        {data: []byte(`{"a":0}`)},
		"merges.txt":        {data: []byte("#version: 0.2\n")},
		"model.safetensors": {data: weights(), lfs: true},
		"pytorch_model.bin": {data: []byte("pickle"), lfs: true},
		"tf_model.h5":       {data: []byte("h5"), lfs: true},
		"onnx/model.onnx":   {data: []byte("onnx"), lfs: true},
		"README.md":         {data: []byte("# readme")},
	}
}

func opts(h *fakeHub, cache string) Options {
	return Options{Endpoint: h.srv.URL, CacheDir: cache}
}

func TestPullLayout(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	cache := t.TempDir()
	snap, err := Pull(context.Background(), "org/enc", opts(h, cache))
	if err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(cache, "models--org--enc")
	if snap != filepath.Join(repoDir, "snapshots", commitA) {
		t.Fatalf("snapshot %s", snap)
	}
	ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main"))
	if err != nil || string(ref) != commitA {
		t.Fatalf("refs/main = %q, %v", ref, err)
	}
	want := []string{"config.json", "merges.txt", "model.safetensors", "tokenizer.json", "vocab.json"}
	ents, _ := os.ReadDir(snap)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("snapshot has %v, want %v", got, want)
	}
	for _, name := range want {
		p := filepath.Join(snap, name)
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatalf("%s is not a symlink: %v", name, err)
		}
		f := h.files[name]
		etag := gitSHA1(f.data)
		if f.lfs {
			etag = sha256hex(f.data)
		}
		if target != filepath.Join("..", "..", "blobs", etag) {
			t.Errorf("%s -> %s, want ../../blobs/%s", name, target, etag)
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			t.Errorf("%s content differs: %v", name, err)
		}
	}
	blobs, _ := os.ReadDir(filepath.Join(repoDir, "blobs"))
	for _, b := range blobs {
		if strings.HasSuffix(b.Name(), ".incomplete") {
			t.Errorf("leftover %s", b.Name())
		}
	}
	if n := h.count("GET /cdn/"); n != 1 {
		t.Errorf("%d CDN downloads, want 1", n)
	}
	if h.count("HEAD /org/enc/resolve/"+commitA+"/pytorch_model.bin") != 0 {
		t.Errorf("pytorch weights were requested although safetensors exist")
	}

	// Idempotent: a second pull resolves the revision and downloads nothing.
	before := len(h.requests)
	snap2, err := Pull(context.Background(), "org/enc", opts(h, cache))
	if err != nil || snap2 != snap {
		t.Fatal(snap2, err)
	}
	if extra := h.requests[before:]; len(extra) != 1 || !strings.HasPrefix(extra[0], "GET /api/models/") {
		t.Errorf("second pull made requests %v, want only the revision API call", extra)
	}

	// A snapshot entry lost but its blob kept: HEAD again, no download.
	os.Remove(filepath.Join(snap, "model.safetensors"))
	cdn := h.count("GET /cdn/")
	if _, err := Pull(context.Background(), "org/enc", opts(h, cache)); err != nil {
		t.Fatal(err)
	}
	if h.count("GET /cdn/") != cdn {
		t.Errorf("blob present but downloaded again")
	}
	if _, err := os.Stat(filepath.Join(snap, "model.safetensors")); err != nil {
		t.Errorf("pointer not restored: %v", err)
	}

	// Resolve finds it by name, name@revision and name@commit.
	for _, name := range []string{"org/enc", "org/enc@main", "org/enc@" + commitA} {
		d, err := Resolve(name, Options{CacheDir: cache})
		if err != nil || d != snap {
			t.Errorf("Resolve(%s) = %s, %v", name, d, err)
		}
	}
}

func TestPullResume(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	cache := t.TempDir()
	data := h.files["model.safetensors"].data
	blobs := filepath.Join(cache, "models--org--enc", "blobs")
	os.MkdirAll(blobs, 0o755)
	half := len(data) / 3
	inc := filepath.Join(blobs, sha256hex(data)+".incomplete")
	if err := os.WriteFile(inc, data[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	var last [2]int64
	o := opts(h, cache)
	o.Progress = func(file string, done, total int64) {
		if file == "model.safetensors" {
			last = [2]int64{done, total}
		}
	}
	snap, err := Pull(context.Background(), "org/enc", o)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.ranges) != 1 || h.ranges[0] != fmt.Sprintf("bytes=%d-", half) {
		t.Errorf("ranges sent: %v", h.ranges)
	}
	b, _ := os.ReadFile(filepath.Join(snap, "model.safetensors"))
	if !bytes.Equal(b, data) {
		t.Errorf("resumed file differs")
	}
	if last != [2]int64{int64(len(data)), int64(len(data))} {
		t.Errorf("last progress %v", last)
	}
	if _, err := os.Stat(inc); !os.IsNotExist(err) {
		t.Errorf(".incomplete left behind")
	}
}

func TestPullResumeCorruptPartial(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	cache := t.TempDir()
	data := h.files["model.safetensors"].data
	blobs := filepath.Join(cache, "models--org--enc", "blobs")
	os.MkdirAll(blobs, 0o755)
	inc := filepath.Join(blobs, sha256hex(data)+".incomplete")
	os.WriteFile(inc, bytes.Repeat([]byte{0xee}, 1000), 0o644)
	_, err := Pull(context.Background(), "org/enc", opts(h, cache))
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("corrupt partial: %v", err)
	}
	if _, err := os.Stat(inc); !os.IsNotExist(err) {
		t.Errorf("corrupt partial not removed")
	}
	// The retry starts over and succeeds.
	if _, err := Pull(context.Background(), "org/enc", opts(h, cache)); err != nil {
		t.Fatal(err)
	}
}

func TestPullServerIgnoresRange(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	h.noRange = true
	cache := t.TempDir()
	data := h.files["model.safetensors"].data
	blobs := filepath.Join(cache, "models--org--enc", "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, sha256hex(data)+".incomplete"), data[:100], 0o644)
	snap, err := Pull(context.Background(), "org/enc", opts(h, cache))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(snap, "model.safetensors"))
	if !bytes.Equal(b, data) {
		t.Errorf("file differs after a 200 answer to a Range request")
	}
}

func TestPullToken(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/private", stdFiles())
	h.token = "hf_secret"
	cache := t.TempDir()

	_, err := Pull(context.Background(), "org/private", opts(h, cache))
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 401 || !strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), h.srv.URL+"/api/models/org/private/revision/main") {
		t.Fatalf("no token: %v", err)
	}
	o := opts(h, cache)
	o.Token = "wrong"
	if _, err := Pull(context.Background(), "org/private", o); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("wrong token: %v", err)
	}
	t.Setenv("HF_TOKEN", "hf_secret") // taken from the environment
	if _, err := Pull(context.Background(), "org/private", opts(h, cache)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"GET /api/models/org/private/revision/main",
		"HEAD /org/private/resolve/" + commitA + "/config.json",
		"GET /org/private/resolve/" + commitA + "/config.json",
		"HEAD /org/private/resolve/" + commitA + "/model.safetensors",
	} {
		if got := h.auth[k]; got != "Bearer hf_secret" {
			t.Errorf("%s: Authorization %q", k, got)
		}
	}
	// The CDN is on the same host in this fake, so the token goes along;
	// TestTokenNotSentToOtherHost covers the other case.
}

func TestTokenNotSentToOtherHost(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	cdn := newFakeHub(t, "org/enc", stdFiles())
	// Point LFS redirects at another server (a different port = host).
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/model.safetensors") {
			rec := httptest.NewRecorder()
			h.serve(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Location", strings.Replace(rec.Header().Get("Location"), h.srv.URL, cdn.srv.URL, 1))
			w.WriteHeader(rec.Code)
			return
		}
		h.serve(w, r)
	})
	o := opts(h, t.TempDir())
	o.Token = "hf_secret"
	if _, err := Pull(context.Background(), "org/enc", o); err != nil {
		t.Fatal(err)
	}
	if cdn.count("GET /cdn/") != 1 {
		t.Fatalf("CDN not used: %v", cdn.requests)
	}
	for k, v := range cdn.auth {
		if v != "" {
			t.Errorf("token sent to the CDN host: %s %q", k, v)
		}
	}
}

func TestPullNotFound(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	cache := t.TempDir()
	_, err := Pull(context.Background(), "org/missing", opts(h, cache))
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 404 || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "/api/models/org/missing") {
		t.Fatalf("missing repo: %v", err)
	}
	o := opts(h, cache)
	o.Revision = "v9"
	_, err = Pull(context.Background(), "org/enc", o)
	if err == nil || !strings.Contains(err.Error(), `revision "v9" not found`) {
		t.Fatalf("missing revision: %v", err)
	}
	// Nothing was written for failed pulls.
	if _, err := os.Stat(filepath.Join(cache, "models--org--missing")); !os.IsNotExist(err) {
		t.Errorf("cache dir created for a missing repo")
	}
}

// A repository without safetensors weights gets its PyTorch checkpoint
// (single or sharded), for the caller to convert; one with neither is
// refused before any download.
func TestPullNoSafetensors(t *testing.T) {
	isolate(t)
	files := stdFiles()
	delete(files, "model.safetensors")
	h := newFakeHub(t, "org/old", files)
	snap, err := Pull(context.Background(), "org/old", opts(h, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pytorch_model.bin", "config.json"} {
		if _, err := os.Stat(filepath.Join(snap, f)); err != nil {
			t.Errorf("%s not fetched: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(snap, "tf_model.h5")); err == nil {
		t.Error("TF weights fetched")
	}

	files = stdFiles()
	delete(files, "model.safetensors")
	delete(files, "pytorch_model.bin")
	files["pytorch_model-00001-of-00002.bin"] = fakeFile{data: []byte("one"), lfs: true}
	files["pytorch_model-00002-of-00002.bin"] = fakeFile{data: []byte("two"), lfs: true}
	files["pytorch_model.bin.index.json"] = fakeFile{data: []byte(`{"weight_map":{"a":"pytorch_model-00001-of-00002.bin","b":"pytorch_model-00002-of-00002.bin"}}`)}
	h = newFakeHub(t, "org/oldsharded", files)
	snap, err = Pull(context.Background(), "org/oldsharded", opts(h, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"} {
		if _, err := os.Stat(filepath.Join(snap, f)); err != nil {
			t.Errorf("shard %s not fetched: %v", f, err)
		}
	}

	files = stdFiles()
	delete(files, "model.safetensors")
	delete(files, "pytorch_model.bin")
	h = newFakeHub(t, "org/tf", files)
	_, err = Pull(context.Background(), "org/tf", opts(h, t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "neither safetensors nor PyTorch weights") || !strings.Contains(err.Error(), "tf_model.h5") {
		t.Fatalf("got %v", err)
	}
	if h.count("HEAD") != 0 {
		t.Errorf("downloads started before the check")
	}
}

func TestPullSharded(t *testing.T) {
	isolate(t)
	files := stdFiles()
	delete(files, "model.safetensors")
	files["model-00001-of-00002.safetensors"] = fakeFile{data: []byte("shard one"), lfs: true}
	files["model-00002-of-00002.safetensors"] = fakeFile{data: []byte("shard two"), lfs: true}
	files["model-extra.safetensors"] = fakeFile{data: []byte("not in index"), lfs: true}
	files["model.safetensors.index.json"] = fakeFile{data: []byte(`{"metadata":{"total_size":18},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`)}
	h := newFakeHub(t, "org/big", files)
	snap, err := Pull(context.Background(), "org/big", opts(h, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if b, err := os.ReadFile(filepath.Join(snap, f)); err != nil || !bytes.Equal(b, files[f].data) {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(snap, "model-extra.safetensors")); !os.IsNotExist(err) {
		t.Errorf("file outside the index downloaded")
	}
}

func TestPullAllowPatterns(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	o := opts(h, t.TempDir())
	o.AllowPatterns = []string{"*.json", "onnx/*"}
	snap, err := Pull(context.Background(), "org/enc", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "tokenizer.json", "vocab.json", "onnx/model.onnx"} {
		if _, err := os.Stat(filepath.Join(snap, f)); err != nil {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	if target, _ := os.Readlink(filepath.Join(snap, "onnx", "model.onnx")); !strings.HasPrefix(target, filepath.Join("..", "..", "..", "blobs")) {
		t.Errorf("nested link target %q", target)
	}
	if _, err := os.Stat(filepath.Join(snap, "model.safetensors")); !os.IsNotExist(err) {
		t.Errorf("pattern selection downloaded weights")
	}
	o.AllowPatterns = []string{"*.gguf"}
	if _, err := Pull(context.Background(), "org/enc", o); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("no match: %v", err)
	}
}

func TestPullCancel(t *testing.T) {
	isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	h.hold = make(chan struct{})
	defer close(h.hold)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for h.count("GET /cdn/") == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	_, err := Pull(ctx, "org/enc", opts(h, t.TempDir()))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	cancelled, c2 := context.WithCancel(context.Background())
	c2()
	if _, err := Pull(cancelled, "org/enc", opts(h, t.TempDir())); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: %v", err)
	}
}

func TestPullRejectsBadNames(t *testing.T) {
	isolate(t)
	for _, bad := range []string{"", "a/b/c", "../x", "org/--x", "org/a..b", "-org/x", "org/x-"} {
		if _, err := Pull(context.Background(), bad, Options{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()}); err == nil {
			t.Errorf("Pull(%q) accepted", bad)
		}
	}
	o := Options{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir(), Revision: "../../etc"}
	if _, err := Pull(context.Background(), "org/x", o); err == nil || !strings.Contains(err.Error(), "invalid revision") {
		t.Errorf("bad revision: %v", err)
	}
}

func TestPullRejectsTraversalFromServer(t *testing.T) {
	isolate(t)
	files := stdFiles()
	files["../../evil.safetensors"] = fakeFile{data: []byte("x")}
	h := newFakeHub(t, "org/enc", files)
	o := opts(h, t.TempDir())
	o.AllowPatterns = []string{"*"}
	cache := o.CacheDir
	if _, err := Pull(context.Background(), "org/enc", o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "evil.safetensors")); !os.IsNotExist(err) {
		t.Errorf("path traversal from the server")
	}
}

func TestResolve(t *testing.T) {
	isolate(t)
	cache := t.TempDir()
	dir := t.TempDir()
	if d, err := Resolve(dir, Options{CacheDir: cache}); err != nil || d != dir {
		t.Errorf("dir: %s %v", d, err)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	if _, err := Resolve(file, Options{CacheDir: cache}); err == nil {
		t.Errorf("file accepted as a model dir")
	}
	// Missing: the error lists what was tried.
	_, err := Resolve("org/none", Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(cache, "models--org--none", "refs", "main")) || !strings.Contains(err.Error(), "aotp pull org/none") {
		t.Errorf("missing: %v", err)
	}
	// Ref present but snapshot missing.
	repoDir := filepath.Join(cache, "models--org--half")
	os.MkdirAll(filepath.Join(repoDir, "refs"), 0o755)
	os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commitA), 0o644)
	_, err = Resolve("org/half", Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(repoDir, "snapshots", commitA)) {
		t.Errorf("no snapshot: %v", err)
	}
	os.MkdirAll(filepath.Join(repoDir, "snapshots", commitA), 0o755)
	if d, err := Resolve("org/half", Options{CacheDir: cache}); err != nil || d != filepath.Join(repoDir, "snapshots", commitA) {
		t.Errorf("cached: %s %v", d, err)
	}
	// A single-part name ("roberta-base") and a revision from Options.
	other := "fedcba9876543210fedcba9876543210fedcba98"
	rd := filepath.Join(cache, "models--roberta-base")
	os.MkdirAll(filepath.Join(rd, "refs"), 0o755)
	os.MkdirAll(filepath.Join(rd, "snapshots", other), 0o755)
	os.WriteFile(filepath.Join(rd, "refs", "v1"), []byte(other+"\n"), 0o644)
	if d, err := Resolve("roberta-base", Options{CacheDir: cache, Revision: "v1"}); err != nil || d != filepath.Join(rd, "snapshots", other) {
		t.Errorf("single-part name with revision: %s %v", d, err)
	}
	if _, err := Resolve("roberta-base", Options{CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "refs") {
		t.Errorf("no main ref: %v", err)
	}
	if _, err := Resolve("./not/a/model/dir", Options{CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "not a Hugging Face model id") {
		t.Errorf("path-like: %v", err)
	}
	// Default cache from the environment.
	t.Setenv("HF_HUB_CACHE", cache)
	if d, err := Resolve("org/half", Options{}); err != nil || !strings.HasPrefix(d, cache) {
		t.Errorf("env cache: %s %v", d, err)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	home := isolate(t)
	o := OptionsFromEnv()
	if o.Endpoint != DefaultEndpoint || o.CacheDir != filepath.Join(home, "hub") || o.Token != "" || o.Revision != "main" {
		t.Errorf("HF_HOME only: %+v", o)
	}
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_fromfile\n"), 0o600)
	if o := OptionsFromEnv(); o.Token != "hf_fromfile" {
		t.Errorf("token file: %q", o.Token)
	}
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
	if o := OptionsFromEnv(); o.Token != "hf_legacy" {
		t.Errorf("legacy token: %q", o.Token)
	}
	t.Setenv("HF_TOKEN", "hf_env")
	t.Setenv("HF_ENDPOINT", "http://mirror.example/")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "/legacy/cache")
	o = OptionsFromEnv()
	if o.Token != "hf_env" || o.Endpoint != "http://mirror.example" || o.CacheDir != "/legacy/cache" {
		t.Errorf("env: %+v", o)
	}
	t.Setenv("HF_HUB_CACHE", "/hub/cache")
	if o := OptionsFromEnv(); o.CacheDir != "/hub/cache" {
		t.Errorf("HF_HUB_CACHE: %s", o.CacheDir)
	}
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if o := OptionsFromEnv(); o.CacheDir != filepath.Join("/xdg", "huggingface", "hub") {
		t.Errorf("XDG: %s", o.CacheDir)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if o := OptionsFromEnv(); o.CacheDir != "/home/u/.cache/huggingface/hub" {
		t.Errorf("default: %s", o.CacheDir)
	}
	t.Setenv("HF_HOME", "~/hf")
	if o := OptionsFromEnv(); o.CacheDir != "/home/u/hf/hub" {
		t.Errorf("tilde: %s", o.CacheDir)
	}
}

// Pull with zero Options takes endpoint, cache and token from the
// environment.
func TestPullUsesEnv(t *testing.T) {
	home := isolate(t)
	h := newFakeHub(t, "org/enc", stdFiles())
	h.token = "hf_env"
	t.Setenv("HF_ENDPOINT", h.srv.URL)
	t.Setenv("HF_TOKEN", "hf_env")
	snap, err := Pull(context.Background(), "org/enc", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(snap, filepath.Join(home, "hub", "models--org--enc")) {
		t.Errorf("snapshot %s not under HF_HOME/hub", snap)
	}
	if d, err := Resolve("org/enc", OptionsFromEnv()); err != nil || d != snap {
		t.Errorf("Resolve after pull: %s %v", d, err)
	}
}
