package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aotp/aotp/demo"
	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/kernels/gemm"
	amodel "github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
	"github.com/aotp/aotp/serve"
)

// The test binary doubles as the aotp binary for tests that need a real
// process (kill and resume): AOTP_TEST_MAIN=1 runs main.
func TestMain(m *testing.M) {
	if os.Getenv("AOTP_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// run executes the CLI in-process and returns its stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetArgs(append([]string{"--quiet"}, args...))
	root.SetOut(&out)
	// commands print results to os.Stdout: capture it
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		done <- b.Bytes()
	}()
	err := root.ExecuteContext(context.Background())
	w.Close()
	os.Stdout = old
	return string(<-done) + out.String(), err
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSONLines(t *testing.T, path string) []map[string]json.RawMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

func sharedData(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("AOTP_SHARED_DATA"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	for d := filepath.Dir(file); d != filepath.Dir(d); d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "shared", "data")); err == nil && st.IsDir() {
			return filepath.Join(d, "shared", "data")
		}
	}
	t.Skip("../shared/data not found (set AOTP_SHARED_DATA): skipping the test that needs real data")
	return ""
}

func TestTokenizeMatchesHFGolden(t *testing.T) {
	data := sharedData(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	writeLines(t, in, `{"text": "Hello world"}`, `{"text": "Hello world", "text_pair": "How are you?"}`)
	if _, err := run(t, "tokenize", "--model", filepath.Join(data, "tokenizers", "roberta-base"), "--input", in, "--output", out); err != nil {
		t.Fatal(err)
	}
	lines := readJSONLines(t, out)
	want := []string{"[0,31414,232,2]", "[0,31414,232,2,2,6179,32,47,116,2]"}
	for i, w := range want {
		if got := string(lines[i]["input_ids"]); got != w {
			t.Fatalf("line %d: input_ids %s, want %s", i+1, got, w)
		}
	}
}

// encode: lines of different lengths in one file give exactly what each
// line gives alone, and match PyTorch's last_hidden_state.
func TestEncodeBatchedEqualsAloneAndGolden(t *testing.T) {
	model := filepath.Join(golden.Dir(t), "models", "roberta-tiny")
	g := golden.Load(t, filepath.Join(model, "golden.safetensors"))
	ids, mask := g["input_ids"], g["attention_mask"]
	T := ids.Shape[1]
	var lines []string
	for b := 0; b < ids.Shape[0]; b++ {
		var s []string
		for i := 0; i < T; i++ {
			if mask.I64[b*T+i] == 1 {
				s = append(s, fmt.Sprint(ids.I64[b*T+i]))
			}
		}
		lines = append(lines, `{"input_ids": [`+strings.Join(s, ",")+`]}`)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	writeLines(t, in, lines...)
	if _, err := run(t, "encode", "--model", model, "--input", in, "--output", out); err != nil {
		t.Fatal(err)
	}
	batched := readJSONLines(t, out)
	C := 32
	for b, line := range lines {
		one := filepath.Join(dir, fmt.Sprintf("one%d.jsonl", b))
		oneOut := filepath.Join(dir, fmt.Sprintf("one%d.out.jsonl", b))
		writeLines(t, one, line)
		if _, err := run(t, "encode", "--model", model, "--input", one, "--output", oneOut); err != nil {
			t.Fatal(err)
		}
		alone := readJSONLines(t, oneOut)[0]
		if !bytes.Equal(alone["last_hidden_state"], batched[b]["last_hidden_state"]) {
			t.Fatalf("line %d: batched result differs from running it alone", b+1)
		}
		var h [][]float32
		if err := json.Unmarshal(batched[b]["last_hidden_state"], &h); err != nil {
			t.Fatal(err)
		}
		want := g["last_hidden_state"].F32
		for i := range h {
			for c := 0; c < C; c++ {
				w := want[(b*T+i)*C+c]
				if d := h[i][c] - w; d > 1e-5+1e-5*abs32(w) || -d > 1e-5+1e-5*abs32(w) {
					t.Fatalf("line %d token %d: %v vs PyTorch %v", b+1, i, h[i][c], w)
				}
			}
		}
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestEncodeBadInput(t *testing.T) {
	model := filepath.Join(golden.Dir(t), "models", "bert-tiny")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	long := make([]string, 100)
	for i := range long {
		long[i] = "5"
	}
	cases := []struct {
		name, line, want string
	}{
		{"bad json", `{"input_ids": [1,2`, "in.jsonl:1: invalid JSON"},
		{"no text", `{"foo": 1}`, "neither"},
		{"id out of range", `{"input_ids": [1, 5000]}`, "outside the vocabulary"},
		{"too long", `{"input_ids": [` + strings.Join(long, ",") + `]}`, "use --truncate"},
		{"empty", `{"input_ids": []}`, "no tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, "in.jsonl")
			writeLines(t, in, c.line)
			_, err := run(t, "encode", "--model", model, "--input", in, "--output", out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a failed run left an output file")
			}
		})
	}
	// --truncate keeps the first positions and the last token
	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, cases[3].line)
	if _, err := run(t, "encode", "--model", model, "--input", in, "--output", out, "--truncate"); err != nil {
		t.Fatal(err)
	}
}

func TestBenchForwardJSON(t *testing.T) {
	model := filepath.Join(golden.Dir(t), "models", "bert-tiny")
	out, err := run(t, "bench", "forward", "--model", model, "--batch", "2", "--seq", "16", "--iters", "2", "--warmup", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	keys := []string{"tokens_per_s", "ms_per_batch"}
	if res["weights"] != "f32" {
		t.Fatalf("weights = %v, want f32", res["weights"])
	}
	if res["gemm_impl"] != "generic" {
		keys = append(keys, "fma_peak_gflop_per_s", "pct_fma_peak")
	}
	for _, k := range keys {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Fatalf("%s = %v", k, res[k])
		}
	}
}

func TestBenchTrainJSON(t *testing.T) {
	model := filepath.Join(golden.Dir(t), "models", "bert-tiny")
	out, err := run(t, "bench", "train", "--model", model, "--batch", "2", "--seq", "16", "--iters", "2", "--warmup", "1", "--rank", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	keys := []string{"ms_per_step", "tokens_per_s", "trainable_params", "gflop_per_s_approx"}
	if res["gemm_impl"] != "generic" {
		keys = append(keys, "fma_peak_gflop_per_s", "pct_fma_peak_approx")
	}
	for _, k := range keys {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Fatalf("%s = %v in %s", k, res[k], out)
		}
	}
	if res["model"] != model || res["rank"] != 4.0 {
		t.Fatalf("model %v rank %v", res["model"], res["rank"])
	}
	out, err = run(t, "bench", "train", "--model", model, "--batch", "3", "--seq", "16", "--iters", "1", "--warmup", "0", "--micro-batch", "2", "--json")
	if err != nil || !strings.Contains(out, `"micro_batch":2`) {
		t.Fatalf("--micro-batch 2: %v, %s", err, out)
	}
	// more tasks than sequences: built and never used
	if _, err := run(t, "bench", "forward", "--model", model, "--batch", "2", "--seq", "8", "--iters", "1", "--method", "aot-compact", "--tasks", "3"); err == nil || !strings.Contains(err.Error(), "--tasks 3 exceeds --batch 2") {
		t.Fatalf("bench forward --tasks 3 --batch 2: %v", err)
	}
	// no step timed: an infinite rate was printed before
	if _, err := run(t, "bench", "train", "--model", model, "--iters", "0"); err == nil || !strings.Contains(err.Error(), "--iters must be positive") {
		t.Fatalf("bench train --iters 0: %v", err)
	}
	if _, err := run(t, "bench", "train", "--model", filepath.Join(t.TempDir(), "none"), "--iters", "1"); err == nil {
		t.Fatal("a missing --model: no error")
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "demo", "--out", dir, "--epochs", "2"); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"sentiment", "topic"} {
		for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "training.svg"} {
			if _, err := os.Stat(filepath.Join(dir, "runs", task, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// demoFixture writes the demo backbone and its sentiment task into a temp
// dir: the small real-format model and data most CLI tests train on.
func demoFixture(t *testing.T) (dir, backbone, data string) {
	t.Helper()
	dir = t.TempDir()
	backbone, data = filepath.Join(dir, "backbone"), filepath.Join(dir, "data")
	if err := demo.WriteBackbone(backbone, 3); err != nil {
		t.Fatal(err)
	}
	if err := demo.WriteTask(data, demo.Tasks(5)[0]); err != nil {
		t.Fatal(err)
	}
	return dir, backbone, data
}

// trainArgs is a small AoT run on the demo backbone.
func trainArgs(backbone, data, out string) []string {
	return []string{"train", "--model", backbone, "--method", "aot", "--task", "custom",
		"--train", filepath.Join(data, "train.jsonl"), "--dev", filepath.Join(data, "dev.jsonl"),
		"--out", out, "--rank", "8", "--epochs", "6", "--batch-size", "8", "--lr", "5e-3",
		"--dropout", "0.1", "--save-every", "3", "--eval-every", "20", "--log-every", "2", "--max-seq-len", "32"}
}

// trainSteps runs trainArgs for steps optimizer steps (one dev evaluation,
// at the end) with extra flags and returns the adapter file's path.
func trainSteps(t *testing.T, backbone, data, out string, steps int, extra ...string) string {
	t.Helper()
	n := strconv.Itoa(steps)
	args := append(trainArgs(backbone, data, out), "--max-steps", n, "--eval-every", n)
	if _, err := run(t, append(args, extra...)...); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "adapter_model.safetensors")
}

// A run killed at an arbitrary moment and resumed ends with the same adapter,
// byte for byte, as an uninterrupted run.
func TestTrainResumeAfterKill(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	ref := filepath.Join(dir, "ref")
	if _, err := run(t, trainArgs(backbone, data, ref)...); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(ref, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	wantMetrics, _ := os.ReadFile(filepath.Join(ref, "metrics.jsonl"))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(dir, "killed")
	stepOf := func() int {
		var st struct {
			Step int `json:"step"`
		}
		raw, _ := os.ReadFile(filepath.Join(killed, "state.json"))
		json.Unmarshal(raw, &st)
		return st.Step
	}
	// Kill the process a little after it has checkpointed past the last
	// kill point, i.e. somewhere in the middle of training or writing.
	kills := 0
	for k := 0; k < 3; k++ {
		before := stepOf()
		cmd := exec.Command(exe, append([]string{"--quiet"}, trainArgs(backbone, data, killed)...)...)
		cmd.Env = append(os.Environ(), "AOTP_TEST_MAIN=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for stepOf() <= before+20 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(k) * 3 * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
	}
	var st struct {
		Step     int  `json:"step"`
		Finished bool `json:"finished"`
	}
	raw, err := os.ReadFile(filepath.Join(killed, "state.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || st.Finished || st.Step == 0 {
		t.Fatalf("the kills did not land mid-run (state %s, %v): the test proves nothing", raw, err)
	}
	t.Logf("killed the run %d times; resuming from step %d", kills, st.Step)
	if _, err := run(t, trainArgs(backbone, data, killed)...); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(killed, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the resumed run's adapter differs from the uninterrupted run's")
	}
	gotMetrics, _ := os.ReadFile(filepath.Join(killed, "metrics.jsonl"))
	if !bytes.Equal(gotMetrics, wantMetrics) {
		t.Fatalf("metrics.jsonl differs:\n%s\nvs\n%s", gotMetrics, wantMetrics)
	}
}

// fakeHub serves files as repository repo at one commit, as the Hub's API
// and resolve endpoints do, on loopback.
func fakeHub(t *testing.T, repo string, files map[string][]byte) (url, commit string) {
	t.Helper()
	commit = "0123456789abcdef0123456789abcdef01234567"
	var siblings []map[string]string
	for f := range files {
		siblings = append(siblings, map[string]string{"rfilename": f})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/models/"+repo+"/revision/main":
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": siblings})
		case strings.HasPrefix(r.URL.Path, "/"+repo+"/resolve/"+commit+"/"):
			name := strings.TrimPrefix(r.URL.Path, "/"+repo+"/resolve/"+commit+"/")
			body, ok := files[name]
			if !ok {
				http.NotFound(w, r)
				return
			}
			sum := sha256.Sum256(body)
			w.Header().Set("X-Repo-Commit", commit)
			w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			if r.Method == http.MethodGet {
				w.Write(body)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, commit
}

func readFiles(t *testing.T, dir string, names ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, f := range names {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	return files
}

// encodeIDs runs aotp encode on one input_ids line and returns its output line.
func encodeIDs(t *testing.T, modelArg, ids string) (map[string]json.RawMessage, error) {
	t.Helper()
	dir := t.TempDir()
	in, res := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	writeLines(t, in, `{"input_ids": `+ids+`}`)
	if _, err := run(t, "encode", "--model", modelArg, "--input", in, "--output", res); err != nil {
		return nil, err
	}
	got := readJSONLines(t, res)
	if len(got) != 1 {
		t.Fatalf("%d output lines", len(got))
	}
	return got[0], nil
}

// pull downloads from a fake Hub on loopback into an HF cache; encode then
// takes the hub name as --model.
func TestPullThenEncodeByHubName(t *testing.T) {
	url, commit := fakeHub(t, "tiny-org/bert-tiny", readFiles(t, filepath.Join(golden.Dir(t), "models", "bert-tiny"), "config.json", "model.safetensors"))
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", url)
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_TOKEN", "")
	out, err := run(t, "pull", "tiny-org/bert-tiny")
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(cache, "models--tiny-org--bert-tiny", "snapshots", commit)
	if strings.TrimSpace(out) != snap {
		t.Fatalf("pull printed %q, want %q", out, snap)
	}
	if _, err := encodeIDs(t, "tiny-org/bert-tiny", "[2, 10, 11, 3]"); err != nil {
		t.Fatal(err)
	}
}

// A repository with a PyTorch checkpoint only is pulled and converted; the
// model computes what the safetensors original does.
func TestPullPyTorchOnly(t *testing.T) {
	url, commit := fakeHub(t, "tiny-org/roberta-torch", readFiles(t, filepath.Join(golden.Dir(t), "torch", "zip"), "config.json", "pytorch_model.bin"))
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", url)
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_TOKEN", "")
	if _, err := run(t, "pull", "tiny-org/roberta-torch"); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(cache, "models--tiny-org--roberta-torch", "snapshots", commit)
	if _, err := os.Stat(filepath.Join(snap, "model.safetensors")); err != nil {
		t.Fatalf("no converted weights: %v", err)
	}
	got, err := encodeIDs(t, "tiny-org/roberta-torch", "[0, 5, 17, 42, 2]")
	if err != nil {
		t.Fatal(err)
	}
	want, err := encodeIDs(t, filepath.Join(golden.Dir(t), "models", "roberta-tiny"), "[0, 5, 17, 42, 2]")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["last_hidden_state"], want["last_hidden_state"]) || len(got["last_hidden_state"]) == 0 {
		t.Fatal("the converted checkpoint encodes differently")
	}
	// pulling again converts nothing (the snapshot has its safetensors)
	if _, err := run(t, "pull", "tiny-org/roberta-torch"); err != nil {
		t.Fatal(err)
	}
}

// A directory with only a PyTorch checkpoint is refused with the command that
// converts it; aotp convert writes model.safetensors once.
func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	for name, b := range readFiles(t, filepath.Join(golden.Dir(t), "torch", "legacy"), "config.json", "pytorch_model.bin") {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := encodeIDs(t, dir, "[0, 5, 2]"); err == nil || !strings.Contains(err.Error(), "aotp convert --model") {
		t.Fatalf("encode on a PyTorch-only directory: error %v, want the convert hint", err)
	}
	out, err := run(t, "convert", "--model", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != filepath.Join(dir, "model.safetensors") {
		t.Fatalf("convert printed %q", out)
	}
	if _, err := encodeIDs(t, dir, "[0, 5, 2]"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "convert", "--model", dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second convert: error %v", err)
	}
}

// A diverging run stops with a clear error and keeps its last good adapter.
func TestTrainStopsOnDivergence(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	out := filepath.Join(dir, "run")
	args := trainArgs(backbone, data, out)
	args = append(args, "--lr", "1e38", "--eval-every", "1", "--save-every", "1", "--warmup-ratio", "0.02")
	_, err := run(t, args...)
	if err == nil || !strings.Contains(err.Error(), "training diverged") {
		t.Fatalf("error %v, want a divergence error", err)
	}
	f, err := os.ReadFile(filepath.Join(out, "adapter_model.safetensors"))
	if err != nil || len(f) == 0 {
		t.Fatalf("no last good adapter kept: %v", err)
	}
	ad := filepath.Join(out, "adapter_model.safetensors")
	if _, err := run(t, "eval", "--model", backbone, "--adapter", out, "--task", "custom", "--data", filepath.Join(data, "dev.jsonl")); err != nil {
		t.Fatalf("the kept adapter %s does not evaluate: %v", ad, err)
	}
}

// tinyRobertaWithRealTokenizer writes a small random RoBERTa (width 32,
// 2 layers) with the real roberta-base vocabulary and tokenizer files.
func tinyRobertaWithRealTokenizer(t *testing.T, data string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vocab.json", "merges.txt"} {
		b, err := os.ReadFile(filepath.Join(data, "tokenizers", "roberta-base", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	cfg := map[string]any{"model_type": "roberta", "vocab_size": 50265, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 514, "type_vocab_size": 1,
		"layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu",
		"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
	raw, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	mc, err := amodel.ParseConfig("config.json", raw)
	if err != nil {
		t.Fatal(err)
	}
	src := amodel.RandomSource(mc, 11)
	var ts []safetensors.Tensor
	for _, n := range src.Names() {
		if strings.HasPrefix(n, "pooler.") {
			continue // like RobertaForMaskedLM checkpoints
		}
		ts = append(ts, safetensors.F32Tensor("roberta."+n, src[n].Shape, src[n].Data))
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Each problem type trains, evaluates and predicts end to end on the real
// GLUE/SuperGLUE files: classification (RTE), regression (STS-B) and
// multiple choice (COPA, on a checkpoint without a pooler).
func TestTrainRealTasks(t *testing.T) {
	data := sharedData(t)
	model := tinyRobertaWithRealTokenizer(t, data)
	for _, c := range []struct{ task, dir, metric string }{
		{"rte", "glue/RTE", "accuracy"}, {"stsb", "glue/STS-B", "pearson"}, {"copa", "superglue/COPA", "accuracy"},
	} {
		t.Run(c.task, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := []string{"train", "--model", model, "--task", c.task, "--data", filepath.Join(data, c.dir), "--out", out,
				"--max-steps", "4", "--batch-size", "4", "--rank", "4", "--max-seq-len", "64", "--eval-every", "4"}
			if _, err := run(t, args...); err != nil {
				t.Fatal(err)
			}
			res, err := run(t, "eval", "--model", model, "--adapter", out, "--task", c.task, "--data", filepath.Join(data, c.dir), "--max-seq-len", "64")
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]float64
			if err := json.Unmarshal([]byte(res), &m); err != nil {
				t.Fatalf("%q: %v", res, err)
			}
			if _, ok := m[c.metric]; !ok {
				t.Fatalf("eval printed %v, no %s", m, c.metric)
			}
			// the logged dev metric of the last evaluation equals eval's
			lines := readJSONLines(t, filepath.Join(out, "metrics.jsonl"))
			var dev map[string]float64
			for _, l := range lines {
				if d, ok := l["dev"]; ok {
					json.Unmarshal(d, &dev)
				}
			}
			if dev[c.metric] != m[c.metric] {
				t.Fatalf("metrics.jsonl dev %s %v, eval %v", c.metric, dev[c.metric], m[c.metric])
			}
		})
	}
}

// encode --adapter applies the method and adds the head's logits, equal to
// the adapter's own forward on that input.
func TestEncodeWithAdapter(t *testing.T) {
	modelDir := filepath.Join(golden.Dir(t), "models", "roberta-tiny")
	adapter := filepath.Join(golden.Dir(t), "aot", "roberta-fc-gelu-cls", "init")
	dir := t.TempDir()
	in, plain, with := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "plain.jsonl"), filepath.Join(dir, "with.jsonl")
	writeLines(t, in, `{"input_ids": [0, 10, 11, 12, 2]}`, `{"input_ids": [0, 20, 2]}`)
	if _, err := run(t, "encode", "--model", modelDir, "--input", in, "--output", plain); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "encode", "--model", modelDir, "--adapter", adapter, "--input", in, "--output", with); err != nil {
		t.Fatal(err)
	}
	p, w := readJSONLines(t, plain), readJSONLines(t, with)
	for i := range p {
		if _, ok := p[i]["logits"]; ok {
			t.Fatal("logits without an adapter")
		}
		var logits []float32
		if err := json.Unmarshal(w[i]["logits"], &logits); err != nil || len(logits) != 3 {
			t.Fatalf("line %d: logits %s: %v", i+1, w[i]["logits"], err)
		}
		if bytes.Equal(p[i]["last_hidden_state"], w[i]["last_hidden_state"]) {
			t.Fatalf("line %d: the adapter did not change the hidden states", i+1)
		}
		if !bytes.Equal(p[i]["input_ids"], w[i]["input_ids"]) {
			t.Fatalf("line %d: input_ids differ", i+1)
		}
	}
}

func TestBenchOverhead(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(golden.Dir(t), "models", "roberta-tiny")
	out, err := run(t, "bench", "overhead", "--model", model, "--batches", "2", "--seqs", "8", "--iters", "1", "--methods", "aot-fused,aot-compact,ptv2-p8", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "| 2×8 | 1.000") || !strings.Contains(out, "backbone weights f32") {
		t.Fatalf("table missing:\n%s", out)
	}
	// the study on a quantized backbone (every method's extra work stays float32)
	if out, err := run(t, "bench", "overhead", "--model", model, "--batches", "2", "--seqs", "8", "--iters", "1", "--methods", "aot-fused,lora", "--weights", "w8a8"); err != nil || !strings.Contains(out, "backbone weights w8a8") {
		t.Fatalf("--weights w8a8: %v\n%s", err, out)
	}
	for _, f := range []string{"overhead.json", "overhead.md", "overhead.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	// a grid that cannot run is refused with the flag named (--seqs beyond
	// the positions and --distinct-tables 0 panicked, --iters 0 failed in
	// the plot, an unknown method was skipped silently)
	for _, c := range []struct{ flag, value, want string }{
		{"--seqs", "100000", "--seqs: none fits"},
		{"--distinct-tables", "0", "--distinct-tables must be positive"},
		{"--iters", "0", "--iters and"},
		{"--methods", "nope", `--methods: "nope" is not one of`},
	} {
		args := []string{"bench", "overhead", "--model", model, "--batches", "2", "--seqs", "8", "--iters", "1", "--out", dir}
		if _, err := run(t, append(args, c.flag, c.value)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.flag, c.value, err, c.want)
		}
	}
}

// Fused tables at every precision, and the backbone's weights in F16
// (--weights f16), predict the same labels as the unfused adapter on the
// float32 backbone on a dev set (the demo task's).
func TestFuseKeepsPredictions(t *testing.T) {
	dir := t.TempDir()
	backbone, data := filepath.Join(dir, "backbone"), filepath.Join(dir, "data")
	if err := demo.WriteBackbone(backbone, 3); err != nil {
		t.Fatal(err)
	}
	task := demo.Tasks(5)[0]
	if err := demo.WriteTask(data, task); err != nil {
		t.Fatal(err)
	}
	run1 := filepath.Join(dir, "run")
	args := trainArgs(backbone, data, run1)
	if _, err := run(t, append(args, "--epochs", "2")...); err != nil {
		t.Fatal(err)
	}
	predict := func(adapter string, extra ...string) []string {
		out := filepath.Join(dir, filepath.Base(adapter)+".preds.jsonl")
		args := []string{"predict", "--model", backbone, "--adapter", adapter, "--input", filepath.Join(data, "dev.jsonl"), "--output", out}
		if _, err := run(t, append(args, extra...)...); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range readJSONLines(t, out) {
			labels = append(labels, string(l["label"]))
		}
		return labels
	}
	want := predict(run1)
	for _, dtype := range []string{"f32", "f16", "bf16", "int8"} {
		fused := filepath.Join(dir, "fused-"+dtype)
		if _, err := run(t, "fuse", "--model", backbone, "--adapter", run1, "--out", fused, "--dtype", dtype); err != nil {
			t.Fatal(err)
		}
		got := predict(fused)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: dev example %d: %s, unfused %s", dtype, i+1, got[i], want[i])
			}
		}
	}
	got := predict(run1, "--weights", "f16")
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("--weights f16: dev example %d: %s, float32 weights %s", i+1, got[i], want[i])
		}
	}
	// int8 and w8a8 move the tiny random backbone's outputs by a few
	// percent: an example near the boundary may flip, most may not
	for _, weights := range []string{"int8", "w8a8"} {
		got = predict(run1, "--weights", weights)
		same := 0
		for i := range want {
			if got[i] == want[i] {
				same++
			}
		}
		t.Logf("--weights %s: %d of %d dev predictions as with float32 weights", weights, same, len(want))
		if same < len(want)*9/10 {
			t.Fatalf("--weights %s: %d of %d dev predictions as with float32 weights", weights, same, len(want))
		}
	}
	_, err := run(t, "predict", "--model", backbone, "--adapter", run1, "--input", filepath.Join(data, "dev.jsonl"),
		"--output", filepath.Join(dir, "x.jsonl"), "--weights", "f8")
	if err == nil || !strings.Contains(err.Error(), `"f8" for "--weights" flag: want f32, f16, int8 or w8a8`) {
		t.Fatalf("--weights f8: %v, want an error naming the flag", err)
	}
}

// --schedule constant means a constant learning rate from the first step
// (HF's constant schedule), so with --dropout 0 --no-shuffle
// --weight-decay 0 the run is plain AdamW at --lr.
func TestConstantScheduleHasNoWarmup(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	out := filepath.Join(dir, "run")
	if _, err := run(t, "train", "--model", backbone, "--task", "custom", "--train", filepath.Join(data, "train.jsonl"),
		"--dev", filepath.Join(data, "dev.jsonl"), "--out", out, "--max-steps", "6", "--batch-size", "8", "--lr", "0.003",
		"--dropout", "0", "--no-shuffle", "--schedule", "constant", "--weight-decay", "0", "--log-every", "1"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range readJSONLines(t, filepath.Join(out, "metrics.jsonl")) {
		if lr, ok := l["lr"]; ok {
			n++
			if string(lr) != "0.003" {
				t.Fatalf("step %s: lr %s, want 0.003", l["step"], lr)
			}
		}
	}
	if n != 6 {
		t.Fatalf("%d loss lines, want 6", n)
	}
}

// A run folder resumes only the run it holds: other flags or data are
// refused with what changed, and --restart starts over.
func TestTrainRefusesChangedRun(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	out := filepath.Join(dir, "run")
	args := func(extra ...string) []string {
		a := trainArgs(backbone, data, out)
		a = slices.Replace(a, slices.Index(a, "--epochs")+1, slices.Index(a, "--epochs")+2, "1")
		return append(a, extra...)
	}
	if _, err := run(t, args()...); err != nil {
		t.Fatal(err)
	}
	// the same command again: already finished, nothing to do
	if _, err := run(t, args()...); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, args("--lr", "1e-3", "--rank", "4")...)
	if err == nil || !strings.Contains(err.Error(), "--lr 0.005, now 0.001") || !strings.Contains(err.Error(), "adapter_config") || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("changed --lr and --rank: error %v", err)
	}
	trainFile := filepath.Join(data, "train.jsonl")
	raw, _ := os.ReadFile(trainFile)
	lines := strings.SplitAfter(string(raw), "\n")
	if err := os.WriteFile(trainFile, []byte(strings.Join(lines[1:], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, args()...); err == nil || !strings.Contains(err.Error(), "train_data") {
		t.Fatalf("changed training data: error %v", err)
	}
	if _, err := run(t, args("--lr", "1e-3", "--restart")...); err != nil {
		t.Fatalf("--restart: %v", err)
	}
	var st struct {
		Finished bool           `json:"finished"`
		Options  map[string]any `json:"options"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "state.json"))
	if err := json.Unmarshal(b, &st); err != nil || !st.Finished || st.Options["lr"] != 1e-3 {
		t.Fatalf("after --restart: state %s (%v)", b, err)
	}
}

// ReCoRD end to end on the demo backbone: train, then eval reports its
// token F1 and exact match.
func TestTrainEvalReCoRD(t *testing.T) {
	dir, backbone, _ := demoFixture(t)
	data := filepath.Join(dir, "ReCoRD")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	line := func(idx int, ans string) string {
		return fmt.Sprintf(`{"idx": %d, "passage": {"text": "the film was good and the cast was great", "entities": [{"start": 4, "end": 7}, {"start": 26, "end": 29}]}, "qas": [{"query": "the @placeholder was fine", "idx": %d, "answers": [{"text": %q}]}]}`, idx, idx, ans)
	}
	writeLines(t, filepath.Join(data, "train.jsonl"), line(0, "film"), line(1, "cast"), line(2, "film"))
	writeLines(t, filepath.Join(data, "val.jsonl"), line(3, "cast"), line(4, "film"))
	out := filepath.Join(dir, "run")
	if _, err := run(t, "train", "--model", backbone, "--method", "aot", "--task", "record", "--data", data,
		"--out", out, "--rank", "4", "--epochs", "1", "--batch-size", "4", "--max-seq-len", "32"); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, "eval", "--model", backbone, "--adapter", out, "--task", "record", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(res), &m); err != nil {
		t.Fatalf("eval output %q: %v", res, err)
	}
	for _, k := range []string{"record_f1", "record_em"} {
		if v, ok := m[k]; !ok || v < 0 || v > 1 {
			t.Fatalf("eval metrics %v: want %s in [0, 1]", m, k)
		}
	}
}

// --version names the release, Go and the GEMM kernel this CPU selected.
func TestVersion(t *testing.T) {
	out, err := run(t, "--version")
	if err != nil || !strings.Contains(out, "aotp version "+serve.Version) || !strings.Contains(out, "gemm kernel "+gemm.Impl()) {
		t.Fatalf("--version: %q %v", out, err)
	}
}

// --micro-batch trains the same adapter as whole batches (gradient
// accumulation, dropout on: only the order of float sums differs).
func TestTrainMicroBatch(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	tensors := func(out string, extra ...string) map[string][]float32 {
		f, err := safetensors.Open(trainSteps(t, backbone, data, out, 4, extra...))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m := map[string][]float32{}
		for _, n := range f.Names() {
			if m[n], _, err = f.Float32Copy(n); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	want := tensors(filepath.Join(dir, "whole"))
	got := tensors(filepath.Join(dir, "micro"), "--micro-batch", "3")
	for n, w := range want {
		g := got[n]
		var scale, diff float64
		for i := range w {
			scale = math.Max(scale, math.Abs(float64(w[i])))
			diff = math.Max(diff, math.Abs(float64(g[i]-w[i])))
		}
		if len(g) != len(w) || diff > 1e-5*scale {
			t.Errorf("%s differs by %.3g (scale %.3g)", n, diff, scale)
		}
	}
}

// A checkpoint stored in BF16 (common on the Hub) predicts exactly what a
// float32 checkpoint of the same (rounded) values predicts: its weights
// converted at load, its BF16 pages given back. (Serving also moves the
// converted weights to a mapped file: model's TestSpillWeights.)
func TestPredictOnBF16Checkpoint(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	adapter := filepath.Join(dir, "adapter")
	if _, err := run(t, append(trainArgs(backbone, data, adapter), "--max-steps", "3")...); err != nil {
		t.Fatal(err)
	}
	src, err := safetensors.Open(filepath.Join(backbone, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var bf, rounded []safetensors.Tensor
	for _, n := range src.Names() {
		v, shape, err := src.Float32Copy(n)
		if err != nil {
			t.Fatal(err)
		}
		bf = append(bf, safetensors.BF16Tensor(n, shape, v))
		for i, x := range v {
			v[i] = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(x))
		}
		rounded = append(rounded, safetensors.F32Tensor(n, shape, v))
	}
	entries, err := os.ReadDir(backbone)
	if err != nil {
		t.Fatal(err)
	}
	predict := func(name string, ts []safetensors.Tensor) []byte {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "model.safetensors" {
				b, err := os.ReadFile(filepath.Join(backbone, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, e.Name()), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := safetensors.Write(filepath.Join(d, "model.safetensors"), ts, nil); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".jsonl")
		if _, err := run(t, "predict", "--model", d, "--adapter", adapter, "--input", filepath.Join(data, "dev.jsonl"), "--output", out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want, got := predict("rounded", rounded), predict("bf16", bf)
	if !bytes.Equal(got, want) {
		t.Fatal("predictions on the BF16 checkpoint differ from those on its values in float32")
	}
}

// --weights f16 trains on the F16-rounded backbone (both passes): it runs,
// its adapter is close to but not the float32 run's, a run folder refuses
// to continue with other weights, and predict serves it with --weights f16;
// --weights int8 and w8a8 train other adapters.
func TestTrainHalfWeights(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	adapter := func(out string, extra ...string) []byte {
		b, err := os.ReadFile(trainSteps(t, backbone, data, out, 3, extra...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f32, f16 := adapter(filepath.Join(dir, "f32")), adapter(filepath.Join(dir, "f16"), "--weights", "f16")
	if bytes.Equal(f32, f16) {
		t.Fatal("--weights f16 trained the same adapter as float32 weights")
	}
	args := append(trainArgs(backbone, data, filepath.Join(dir, "f16")), "--max-steps", "4", "--eval-every", "3")
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "weights f16, now f32") {
		t.Fatalf("resuming an f16 run with float32 weights: %v", err)
	}
	if _, err := run(t, append(trainArgs(backbone, data, filepath.Join(dir, "full")), "--method", "full", "--weights", "f16")...); err == nil || !strings.Contains(err.Error(), "--method full") {
		t.Fatalf("--weights f16 --method full: %v", err)
	}
	if _, err := run(t, "predict", "--model", backbone, "--adapter", filepath.Join(dir, "f16"), "--weights", "f16",
		"--input", filepath.Join(data, "dev.jsonl"), "--output", filepath.Join(dir, "p.jsonl")); err != nil {
		t.Fatal(err)
	}
	// int8 likewise (its gradients: TestHalfBackboneTraining)
	i8 := adapter(filepath.Join(dir, "int8"), "--weights", "int8")
	if bytes.Equal(i8, f32) || bytes.Equal(i8, f16) {
		t.Fatal("--weights int8 trained the same adapter as float32 or F16 weights")
	}
	if _, err := run(t, append(trainArgs(backbone, data, filepath.Join(dir, "full8")), "--method", "full", "--weights", "int8")...); err == nil || !strings.Contains(err.Error(), "--weights int8 packs") {
		t.Fatalf("--weights int8 --method full: %v", err)
	}
	// w8a8: quantization-aware training (its gradients: TestW8A8Training),
	// another adapter again, served with --weights w8a8
	w8 := adapter(filepath.Join(dir, "w8a8"), "--weights", "w8a8")
	if bytes.Equal(w8, i8) || bytes.Equal(w8, f32) {
		t.Fatal("--weights w8a8 trained the same adapter as int8 or float32 weights")
	}
	if _, err := run(t, "predict", "--model", backbone, "--adapter", filepath.Join(dir, "w8a8"), "--weights", "w8a8",
		"--input", filepath.Join(data, "dev.jsonl"), "--output", filepath.Join(dir, "p8.jsonl")); err != nil {
		t.Fatal(err)
	}
}

// Options no run could use are refused before anything loads, naming the
// flag: --batch-size 0 panicked (a division by zero counting the steps).
func TestTrainRefusesBadOptions(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	for _, c := range []struct{ flag, value, want string }{
		{"--batch-size", "0", "batch-size 0 must be at least 1"},
		{"--dropout", "1.5", "dropout 1.5 is outside [0, 1)"},
		{"--lr", "-1", "lr -1 is outside"},
		{"--warmup-ratio", "2", "warmup-ratio 2 is outside [0, 1]"},
	} {
		out := filepath.Join(dir, "run"+c.flag)
		if _, err := run(t, append(trainArgs(backbone, data, out), c.flag, c.value)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.flag, c.value, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s %s: the run folder was created", c.flag, c.value)
		}
	}
	// predict and eval: a batch size below 1 panicked (-1) or looped on
	// empty batches (0)
	for _, bs := range []string{"0", "-1"} {
		for _, args := range [][]string{
			{"predict", "--input", filepath.Join(data, "dev.jsonl"), "--output", filepath.Join(dir, "p.jsonl")},
			{"eval", "--task", "custom", "--data", filepath.Join(data, "dev.jsonl")},
		} {
			args = append(args, "--model", backbone, "--adapter", filepath.Join(dir, "none"), "--batch-size", bs)
			if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "--batch-size "+bs+" must be at least 1") {
				t.Errorf("%s --batch-size %s: %v", args[0], bs, err)
			}
		}
	}
}

// A custom task's --data may be the folder aotp demo writes (train.jsonl,
// dev.jsonl): train reads both, eval the dev file, and the run equals one
// given --train and --dev; a folder without the file is named in the
// error (a folder passed to eval read as a file failed at "line 1").
func TestCustomDataFolder(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	files := trainSteps(t, backbone, data, filepath.Join(dir, "files"), 3)
	args := []string{"train", "--model", backbone, "--method", "aot", "--task", "custom", "--data", data,
		"--out", filepath.Join(dir, "folder"), "--rank", "8", "--epochs", "6", "--batch-size", "8", "--lr", "5e-3",
		"--dropout", "0.1", "--save-every", "3", "--log-every", "2", "--max-seq-len", "32", "--max-steps", "3", "--eval-every", "3"}
	if _, err := run(t, args...); err != nil {
		t.Fatal(err)
	}
	a, errA := os.ReadFile(files)
	b, errB := os.ReadFile(filepath.Join(dir, "folder", "adapter_model.safetensors"))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatalf("--data folder trained another adapter than --train/--dev (%v, %v)", errA, errB)
	}
	evalOut := func(path string) (string, error) {
		return run(t, "eval", "--model", backbone, "--adapter", filepath.Join(dir, "folder"), "--task", "custom", "--data", path)
	}
	fromDir, err := evalOut(data)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile, err := evalOut(filepath.Join(data, "dev.jsonl")); err != nil || fromFile != fromDir || !strings.Contains(fromDir, "accuracy") {
		t.Fatalf("eval --data folder printed %q, the dev file %q (%v)", fromDir, fromFile, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := evalOut(empty); err == nil || !strings.Contains(err.Error(), "without dev.jsonl") {
		t.Fatalf("eval on a folder without dev.jsonl: %v", err)
	}
	args[8] = empty
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "without train.jsonl") {
		t.Fatalf("train on a folder without train.jsonl: %v", err)
	}
}
