package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzFiles are the files Load reads, one per fuzz kind: the fuzzer's bytes
// replace that file in an otherwise well-formed tokenizer directory.
var fuzzFiles = []string{"spm.model", "tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json", "added_tokens.json"}

// FuzzLoad gives Load any bytes as one of its files: it must return an
// error naming the problem or a tokenizer that encodes without panicking.
func FuzzLoad(f *testing.F) {
	bpeDir := writeTinyBPE(f)
	wpDir := writeTinyWordPiece(f, `{"do_lower_case": true}`)
	read := func(dir, name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	spm := spmModelBytes(f, "bpe_bytes_raw")
	seeds := map[string][]byte{
		"spm.model":             spm,
		"tokenizer.json":        []byte(`{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3, "</s>": 4, "<unk>": 5}, "merges": ["a b"]}, "added_tokens": [{"id": 3, "content": "<s>", "special": true}]}`),
		"vocab.json":            read(bpeDir, "vocab.json"),
		"merges.txt":            read(bpeDir, "merges.txt"),
		"vocab.txt":             read(wpDir, "vocab.txt"),
		"tokenizer_config.json": []byte(`{"do_lower_case": false, "cls_token": "[CLS]", "add_prefix_space": true, "model_max_length": 512}`),
		"added_tokens.json":     []byte(`{"[MASK]": 30}`),
	}
	for k, name := range fuzzFiles {
		f.Add(uint8(k), seeds[name])
	}
	// the directory each kind's file sits in, besides the fuzzed file
	base := func(dir, name string) {
		switch name {
		case "spm.model", "added_tokens.json":
			writeFile(f, filepath.Join(dir, "spm.model"), string(spm))
		case "vocab.json", "merges.txt":
			writeFile(f, filepath.Join(dir, "vocab.json"), string(seeds["vocab.json"]))
			writeFile(f, filepath.Join(dir, "merges.txt"), string(seeds["merges.txt"]))
		case "tokenizer_config.json":
			writeFile(f, filepath.Join(dir, "vocab.txt"), string(seeds["vocab.txt"]))
		}
	}
	dirs := make([]string, len(fuzzFiles))
	for k, name := range fuzzFiles {
		dirs[k] = filepath.Join(f.TempDir(), name)
		if err := os.MkdirAll(dirs[k], 0o755); err != nil {
			f.Fatal(err)
		}
		base(dirs[k], name)
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		k := int(kind) % len(fuzzFiles)
		dir := t.TempDir()
		ents, _ := os.ReadDir(dirs[k])
		for _, e := range ents {
			if err := os.Symlink(filepath.Join(dirs[k], e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, fuzzFiles[k])
		os.Remove(p)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tk, err := Load(dir)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		for _, s := range []string{"", "hello world", "Ünïcödé 中文 😀", strings.Repeat("ab", 40)} {
			tk.Encode(s)
			tk.EncodePair(s, "b")
		}
	})
}
