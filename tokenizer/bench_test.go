package tokenizer

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchTexts returns real GLUE sentences (about 1.5 MB): SST-2 train,
// MRPC train, QNLI dev and RTE train, every text column.
func benchTexts(b *testing.B) ([]string, int) {
	b.Helper()
	d := sharedData(b)
	var texts []string
	size := 0
	for _, f := range []struct {
		path string
		cols []int
	}{
		{"glue/SST-2/train.tsv", []int{0}},
		{"glue/MRPC/train.tsv", []int{3, 4}},
		{"glue/QNLI/dev.tsv", []int{1, 2}},
		{"glue/RTE/train.tsv", []int{1, 2}},
	} {
		fh, err := os.Open(filepath.Join(d, f.path))
		if err != nil {
			b.Skipf("GLUE text missing: %v", err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		first := true
		for sc.Scan() {
			if first {
				first = false
				continue
			}
			parts := strings.Split(sc.Text(), "\t")
			for _, c := range f.cols {
				if c < len(parts) && parts[c] != "" {
					texts = append(texts, parts[c])
					size += len(parts[c])
				}
			}
		}
		fh.Close()
	}
	return texts, size
}

func benchEncode(b *testing.B, tk Tokenizer) {
	texts, size := benchTexts(b)
	// Warm the word cache once so that steady state is measured.
	for _, s := range texts {
		if _, err := tk.Encode(s); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		for _, s := range texts {
			enc, err := tk.Encode(s)
			if err != nil {
				b.Fatal(err)
			}
			tokens += len(enc.IDs)
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkEncodeRoBERTa(b *testing.B) {
	tk, err := Load(tokDir(b, "roberta-base"))
	if err != nil {
		b.Fatal(err)
	}
	benchEncode(b, tk)
}

// BenchmarkEncodeRoBERTaNoCache disables the word cache: the cost of the
// BPE merges themselves (first sight of every word).
func BenchmarkEncodeRoBERTaNoCache(b *testing.B) {
	tk, err := Load(tokDir(b, "roberta-base"))
	if err != nil {
		b.Fatal(err)
	}
	m := tk.(*tok).m.(*bpeModel)
	m.cacheCap = 0
	m.cache = map[string][]int32{}
	benchEncode(b, tk)
}

func BenchmarkEncodeBERT(b *testing.B) {
	tk, err := Load(tokDir(b, "bert-base-uncased"))
	if err != nil {
		b.Fatal(err)
	}
	benchEncode(b, tk)
}

func BenchmarkEncodeBERTParallel(b *testing.B) {
	tk, err := Load(tokDir(b, "bert-base-uncased"))
	if err != nil {
		b.Fatal(err)
	}
	benchParallel(b, tk)
}

func BenchmarkEncodeRoBERTaParallel(b *testing.B) {
	tk, err := Load(tokDir(b, "roberta-base"))
	if err != nil {
		b.Fatal(err)
	}
	benchParallel(b, tk)
}

func benchParallel(b *testing.B, tk Tokenizer) {
	texts, size := benchTexts(b)
	for _, s := range texts {
		if _, err := tk.Encode(s); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, s := range texts {
				if _, err := tk.Encode(s); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}

func BenchmarkLoadRoBERTa(b *testing.B) {
	dir := tokDir(b, "roberta-base")
	for i := 0; i < b.N; i++ {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
