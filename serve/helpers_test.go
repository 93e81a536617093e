package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/demo"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/tokenizer"
)

// env is a demo backbone with a few random adapters, shared by the tests.
type env struct {
	dir      string // backbone
	enc      *model.Encoder
	tok      tokenizer.Tokenizer
	adapters map[string]string // name -> dir
}

var shared *env

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aotp-serve-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = newEnv(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	shared.enc.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newEnv(dir string) (*env, error) {
	e := &env{dir: filepath.Join(dir, "backbone"), adapters: map[string]string{}}
	if err := demo.WriteBackbone(e.dir, 1); err != nil {
		return nil, err
	}
	var err error
	if e.enc, err = model.Load(e.dir); err != nil {
		return nil, err
	}
	if e.tok, err = tokenizer.Load(e.dir); err != nil {
		return nil, err
	}
	specs := []struct {
		name, problem, fuse string
		labels              []string
		seed                uint64
	}{
		{"sentiment", model.SingleLabel, "", []string{"negative", "positive"}, 1},
		{"topic", model.SingleLabel, "f16", []string{"food", "science", "sports"}, 2},
		{"topic2", model.SingleLabel, "int8", []string{"food", "science", "sports"}, 3},
		{"score", model.Regression, "", nil, 4},
		{"choice", model.MultipleChoice, "", nil, 5},
	}
	for _, sp := range specs {
		out := filepath.Join(dir, "adapters", sp.name)
		if err := WriteRandomAdapter(e.enc, out, sp.name, sp.problem, sp.labels, sp.fuse, sp.seed); err != nil {
			return nil, err
		}
		e.adapters[sp.name] = out
	}
	return e, nil
}

// WriteRandomAdapter saves an AoT-FC adapter whose every weight is random
// (so tasks differ), fused to dtype when fuse is set.
func WriteRandomAdapter(enc *model.Encoder, dir, task, problem string, labels []string, fuse string, seed uint64) error {
	cfg := &peft.AdapterConfig{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "fc", Rank: 4, Activation: "relu"},
		Task: task, ProblemType: problem, NumLabels: max(1, len(labels))}
	if problem == model.MultipleChoice {
		cfg.NumLabels, cfg.NumChoices = 1, 2
	}
	if len(labels) > 0 {
		cfg.ID2Label = map[string]string{}
		for i, l := range labels {
			cfg.ID2Label[fmt.Sprint(i)] = l
		}
	}
	ad, err := peft.New(enc, cfg, seed)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 99))
	for _, p := range ad.Params() {
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64() * 0.3)
		}
	}
	if fuse != "" {
		if err := ad.Fuse(fuse); err != nil {
			return err
		}
		return ad.SaveFused(dir)
	}
	return peft.Save(dir, ad.Config, ad.Params())
}

// reference runs one text alone through the backbone with the adapter in
// dir: the logits a server must return.
func (e *env) reference(t *testing.T, dir, text string) []float32 {
	t.Helper()
	ad, err := peft.Load(e.enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	enc, err := e.tok.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	one := model.NewBatch([][]int32{enc.IDs}, [][]int32{enc.TypeIDs})
	out, err := e.enc.Forward(context.Background(), one, &model.Workspace{}, ad.Method)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ad.Head.Forward(out, one, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), l...)
}

// start serves the given tasks on an httptest server (loopback).
func start(t testing.TB, o Options, tasks ...string) (*Server, *httptest.Server) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(shared.enc, shared.tok, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tasks {
		if _, err := s.LoadTask(name, shared.adapters[name]); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

type predictOut struct {
	Predictions []struct {
		Task   string    `json:"task"`
		Label  *string   `json:"label"`
		Score  float64   `json:"score"`
		Logits []float32 `json:"logits"`
	} `json:"predictions"`
	Error string `json:"error"`
}

// post sends body (a value or raw []byte) and returns status and body.
func post(t testing.TB, client *http.Client, method, url string, body any, header ...string) (int, []byte) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, data
}

type in map[string]any
