package peft

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/model"
)

// FuzzLoad gives Load any adapter_config.json beside a real weights file of
// one of the matrix's methods (saved as trained, or fused): it must return
// an error or an adapter that runs a forward pass, never panic or allocate
// what the file cannot back.
func FuzzLoad(f *testing.F) {
	enc := loadModel(f, "roberta-tiny")
	root := f.TempDir()
	var weights []string
	for i, row := range matrixMethods {
		for _, fused := range []bool{false, true} {
			cfg := row.m.Config()
			cfg.Task, cfg.ProblemType, cfg.NumLabels = "fuzz", model.SingleLabel, 3
			a, err := New(enc, &cfg, uint64(i))
			if err != nil {
				f.Fatal(err)
			}
			row.m.Randomize(a, uint64(i))
			dir := filepath.Join(root, row.name)
			if fused {
				if a.AoT == nil {
					continue
				}
				if err := a.Fuse("f16"); err != nil {
					f.Fatal(err)
				}
				dir += "-fused"
				err = a.SaveFused(dir)
			} else {
				err = Save(dir, a.Config, a.Params())
			}
			if err != nil {
				f.Fatal(err)
			}
			conf, err := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(len(weights)), conf)
			weights = append(weights, filepath.Join(dir, WeightsFile))
		}
	}
	b := model.NewBatch(matrixSeqs(enc.Config.VocabSize), nil)
	f.Fuzz(func(t *testing.T, which uint8, conf []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), conf, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(weights[int(which)%len(weights)], filepath.Join(dir, WeightsFile)); err != nil {
			t.Fatal(err)
		}
		a, err := Load(enc, dir)
		if err != nil {
			return
		}
		defer a.Close()
		out, err := enc.Forward(context.Background(), b, &model.Workspace{}, a.Method)
		if err != nil {
			return
		}
		if a.Head != nil {
			a.Head.Forward(out, b, nil)
		}
	})
}
