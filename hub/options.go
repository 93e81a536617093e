// Package hub downloads models from the Hugging Face Hub into the standard
// Hugging Face cache, and finds them there again, so that aotp and Hugging
// Face's own Python tools (transformers, huggingface_hub) share one cache.
//
// # Cache layout
//
// For repository org/name in cache directory C:
//
//	C/models--org--name/
//	  refs/<revision>          file holding the 40-hex commit the revision
//	                           (branch or tag) pointed to; no trailing newline
//	  blobs/<etag>             file contents, named by ETag: sha256 for LFS
//	                           files, git blob sha1 for regular files
//	  blobs/<etag>.incomplete  a download in progress (resumed with Range)
//	  snapshots/<commit>/<filename> -> ../../blobs/<etag>   (relative symlink)
//
// This is the layout of huggingface_hub (file_download.py,
// hf_hub_download): a snapshot directory is a complete model directory,
// which is what Resolve returns.
//
// # Protocol
//
//	GET  {endpoint}/api/models/{repo}/revision/{revision}
//	     → {"sha": "<commit>", "siblings": [{"rfilename": "config.json"}, ...]}
//	HEAD {endpoint}/{repo}/resolve/{commit}/{filename}   (redirects not followed,
//	     except relative ones, as huggingface_hub does)
//	     → X-Repo-Commit, ETag (regular files) or X-Linked-Etag + X-Linked-Size
//	       and a 302 Location to the CDN (LFS files)
//	GET  the Location (or the resolve URL), with Range: bytes=N- to resume
//
// Requests carry "Authorization: Bearer <token>" when a token is set, except
// a GET to a redirect target on another host (signed CDN URLs need none, and
// the token must not leak there). Error responses carry X-Error-Code
// (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which is used
// to word the error.
//
// Concurrent pulls of the same model into one cache are not locked against
// each other; run one at a time.
package hub

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// Options configure Pull and Resolve. Empty fields take the defaults of
// OptionsFromEnv.
type Options struct {
	// Endpoint is the Hub URL: $HF_ENDPOINT, else https://huggingface.co.
	Endpoint string
	// CacheDir is the hub cache: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE,
	// else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
	// ~/.cache/huggingface/hub.
	CacheDir string
	// Token is sent as a bearer token: $HF_TOKEN, else
	// $HUGGING_FACE_HUB_TOKEN, else the file $HF_TOKEN_PATH or
	// $HF_HOME/token written by `huggingface-cli login`.
	Token string
	// Revision is a branch, tag or commit: default "main".
	Revision string
	// HTTPClient is used for every request (default: no overall timeout,
	// 60 s to the first response byte).
	HTTPClient *http.Client
	// Progress, if set, is called as a file downloads (total is -1 when
	// unknown).
	Progress func(file string, done, total int64)
	// AllowPatterns, if set, replaces the default file selection: the files
	// whose repository path matches one of the path.Match patterns are
	// downloaded (e.g. "*.json", "onnx/*").
	AllowPatterns []string
}

// OptionsFromEnv returns the options the environment sets, with defaults.
func OptionsFromEnv() Options {
	return Options{
		Endpoint: envEndpoint(),
		CacheDir: DefaultCacheDir(),
		Token:    envToken(),
		Revision: "main",
	}
}

// withDefaults fills the empty fields of o from the environment.
func withDefaults(o Options) Options {
	if o.Endpoint == "" {
		o.Endpoint = envEndpoint()
	}
	o.Endpoint = strings.TrimRight(o.Endpoint, "/")
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Token == "" {
		o.Token = envToken()
	}
	if o.Revision == "" {
		o.Revision = "main"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = defaultClient()
	}
	return o
}

func envEndpoint() string {
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return strings.TrimRight(e, "/")
	}
	return DefaultEndpoint
}

// hfHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface.
func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return expandHome(h)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expandHome(x), "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// DefaultCacheDir is the hub cache directory the environment selects, as
// huggingface_hub computes it.
func DefaultCacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if c := os.Getenv(v); c != "" {
			return expandHome(c)
		}
	}
	return filepath.Join(hfHome(), "hub")
}

func envToken() string {
	for _, v := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(v)); t != "" {
			return t
		}
	}
	p := os.Getenv("HF_TOKEN_PATH")
	if p == "" {
		p = filepath.Join(hfHome(), "token")
	} else {
		p = expandHome(p)
	}
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

func defaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}
