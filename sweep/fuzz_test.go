package sweep

import "testing"

// FuzzParseExpand: any config text gives an error or a grid, never a
// panic, and a grid Expand lists in bounded memory.
func FuzzParseExpand(f *testing.F) {
	f.Add([]byte(gridYAML))
	f.Add([]byte("tasks: [rte]\nseeds: [1]\nlr: [1e-3]\nmethods: [{name: a, method: aot, rank: []}]\n"))
	f.Add([]byte("tasks: [rte]\nseeds: [1, 2, 3]\nlr: [1e-3, 1e-4]\nmethods: [{method: lora, rank: [1,2,3,4,5,6,7,8], lora_alpha: [1,2,3,4,5,6,7,8]}]\n"))
	f.Add([]byte(`{"tasks": ["rte"], "seeds": [1], "lr": [0.001], "methods": [{"method": "bitfit"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		runs, err := Expand(c)
		if err == nil && len(runs) > MaxRuns {
			t.Fatalf("%d runs expanded, more than %d", len(runs), MaxRuns)
		}
	})
}
