package hub

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	repoPart  = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$`)
	commitRe  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	safeEtag  = regexp.MustCompile(`^[A-Za-z0-9_.+=-]{1,256}$`)
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidRepoID reports whether id is a Hub model id: "name" or "org/name",
// each part of letters, digits, '_', '.', '-', starting and ending with a
// letter, digit or '_', at most 96 characters, without "--" or "..".
func ValidRepoID(id string) bool {
	if strings.Contains(id, "--") || strings.Contains(id, "..") {
		return false
	}
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if !repoPart.MatchString(p) {
			return false
		}
	}
	return true
}

// validRevision: a branch, tag or commit, possibly with slashes
// ("refs/pr/1"); it becomes a path under refs/, so no "..", no empty or
// absolute parts.
func validRevision(rev string) bool {
	if rev == "" || len(rev) > 256 || strings.ContainsAny(rev, "\\\x00") {
		return false
	}
	for _, p := range strings.Split(rev, "/") {
		if p == "" || p == "." || p == ".." {
			return false
		}
	}
	return true
}

// RepoDir is the cache directory of a model repository:
// <cache>/models--org--name.
func RepoDir(cacheDir, repo string) string {
	return filepath.Join(cacheDir, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// Resolve turns a --model argument into a model directory:
//   - an existing directory is returned as is;
//   - otherwise "org/name" or "name", optionally "@revision", is looked up in
//     the hub cache: refs/<revision> (default opt.Revision, else "main")
//     names a commit, and snapshots/<commit> is returned. A 40-hex revision
//     is used as the commit directly.
//
// The error lists what was tried.
func Resolve(nameOrDir string, opt Options) (string, error) {
	if nameOrDir == "" {
		return "", fmt.Errorf("hub: empty model name")
	}
	st, statErr := os.Stat(nameOrDir)
	if statErr == nil {
		if st.IsDir() {
			return nameOrDir, nil
		}
		return "", fmt.Errorf("hub: model %q is a file, not a model directory", nameOrDir)
	}
	name, rev := nameOrDir, opt.Revision
	if i := strings.LastIndex(nameOrDir, "@"); i > 0 {
		name, rev = nameOrDir[:i], nameOrDir[i+1:]
	}
	if rev == "" {
		rev = "main"
	}
	if !ValidRepoID(name) || !validRevision(rev) {
		return "", fmt.Errorf("hub: model %q: no such directory, and not a Hugging Face model id (org/name[@revision])", nameOrDir)
	}
	cache := opt.CacheDir
	if cache == "" {
		cache = DefaultCacheDir()
	}
	repoDir := RepoDir(cache, name)
	tried := []string{fmt.Sprintf("directory %s (not found)", nameOrDir)}
	commit := rev
	if !commitRe.MatchString(rev) {
		ref := filepath.Join(repoDir, "refs", filepath.FromSlash(rev))
		b, err := os.ReadFile(ref)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (missing)", ref))
			return "", notCached(nameOrDir, name, rev, tried)
		}
		commit = strings.TrimSpace(string(b))
		if !commitRe.MatchString(commit) {
			tried = append(tried, fmt.Sprintf("%s (holds %q, not a commit)", ref, commit))
			return "", notCached(nameOrDir, name, rev, tried)
		}
		tried = append(tried, fmt.Sprintf("%s (-> %s)", ref, commit))
	}
	snap := filepath.Join(repoDir, "snapshots", commit)
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		tried = append(tried, fmt.Sprintf("%s (missing)", snap))
		return "", notCached(nameOrDir, name, rev, tried)
	}
	return snap, nil
}

func notCached(arg, name, rev string, tried []string) error {
	pull := "aotp pull " + name
	if rev != "main" {
		pull += " --revision " + rev
	}
	return fmt.Errorf("hub: model %q is neither a directory nor in the Hugging Face cache; tried %s; run `%s` first", arg, strings.Join(tried, ", "), pull)
}

// snapshotPath is where a repository file lies in a snapshot.
func snapshotPath(snap, file string) string {
	return filepath.Join(snap, filepath.FromSlash(path.Clean(file)))
}
