package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aotp/aotp/demo"
	"github.com/aotp/aotp/serve"
)

// `aotp serve` as a real process: a mixed-task request answers exactly
// what `aotp predict` writes for each task and input (same JSON apart from
// "task"), admin and health routes work, and SIGTERM exits cleanly.
func TestServeMatchesPredict(t *testing.T) {
	dir := t.TempDir()
	backbone := filepath.Join(dir, "backbone")
	if err := demo.WriteBackbone(backbone, 2); err != nil {
		t.Fatal(err)
	}
	var adapters []string
	for _, task := range demo.Tasks(3) {
		data, out := filepath.Join(dir, "data", task.Name), filepath.Join(dir, "runs", task.Name)
		if err := demo.WriteTask(data, task); err != nil {
			t.Fatal(err)
		}
		if _, err := run(t, "train", "--model", backbone, "--method", "aot", "--task", "custom",
			"--train", filepath.Join(data, "train.jsonl"), "--dev", filepath.Join(data, "dev.jsonl"),
			"--out", out, "--rank", "8", "--epochs", "1", "--max-steps", "3", "--batch-size", "8", "--lr", "1e-2",
			"--eval-every", "3", "--log-every", "3", "--max-seq-len", "32"); err != nil {
			t.Fatal(err)
		}
		adapters = append(adapters, out)
	}
	inputs := []map[string]string{
		{"text": "the acting was brilliant and fun"}, {"text": "the chef made soup in the kitchen"},
		{"text": "this film felt tedious", "text_pair": "the story was bland"}, {"text": ""},
		{"text": "a new telescope changed the theory of atoms"}, {"text": "the coach", "text_pair": ""},
	}
	in := filepath.Join(dir, "in.jsonl")
	var lines []string
	for _, x := range inputs {
		b, _ := json.Marshal(x)
		lines = append(lines, string(b))
	}
	writeLines(t, in, lines...)
	// float32 weights (PyTorch's results), F16, int8 and W8A8: the server
	// equals predict with the same --weights each way
	for _, weights := range []string{"f32", "f16", "int8", "w8a8"} {
		t.Run(weights, func(t *testing.T) { serveMatchesPredict(t, dir, backbone, in, weights, inputs, adapters) })
	}
	// and --weights f16 did change the weights (the logits' last digits)
	f32, err32 := os.ReadFile(filepath.Join(dir, "pred0-f32.jsonl"))
	f16, err16 := os.ReadFile(filepath.Join(dir, "pred0-f16.jsonl"))
	if err32 != nil || err16 != nil || bytes.Equal(f32, f16) {
		t.Fatalf("predict --weights f16 wrote the float32 results (%v, %v)", err32, err16)
	}
}

// serveMatchesPredict starts aotp serve on two of the adapters with
// --weights weights and checks that a mixed-task request gets exactly what
// aotp predict writes for each input, then the admin endpoints and a clean
// shutdown.
func serveMatchesPredict(t *testing.T, dir, backbone, in, weights string, inputs []map[string]string, adapters []string) {
	want := make([][]string, len(adapters)) // [task][input] predict output lines
	for k, ad := range adapters {
		out := filepath.Join(dir, fmt.Sprintf("pred%d-%s.jsonl", k, weights))
		if _, err := run(t, "predict", "--model", backbone, "--adapter", ad, "--input", in, "--output", out, "--weights", weights); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = strings.Split(strings.TrimSpace(string(raw)), "\n")
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// one task by --task, the other found in a --tasks-dir (folder name = task name)
	tasksDir := filepath.Join(dir, "tasks-"+weights)
	if err := os.MkdirAll(tasksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(adapters[1], filepath.Join(tasksDir, "topic")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve", "--model", backbone, "--addr", "127.0.0.1:0",
		"--task", "sentiment="+adapters[0], "--tasks-dir", tasksDir, "--max-wait", "2ms", "--weights", weights)
	cmd.Env = append(os.Environ(), "AOTP_TEST_MAIN=1", "AOTP_ADMIN_TOKEN=tok")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	addrc := make(chan string, 1)
	var logs bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		re := regexp.MustCompile(`msg=serving addr=(127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	go func() {
		<-logDone
		exited <- cmd.Wait()
	}()
	var url string
	select {
	case a := <-addrc:
		url = "http://" + a
	case err := <-exited:
		t.Fatalf("serve exited: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}

	// every input for both tasks in one request, tasks interleaved
	var reqInputs []map[string]string
	for i := range inputs {
		for k, task := range []string{"sentiment", "topic"} {
			x := map[string]string{"task": task}
			for key, v := range inputs[(i+k)%len(inputs)] {
				x[key] = v
			}
			reqInputs = append(reqInputs, x)
		}
	}
	body, _ := json.Marshal(map[string]any{"inputs": reqInputs})
	resp, err := http.Post(url+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Predictions []serve.Prediction }
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(out.Predictions) != len(reqInputs) {
		t.Fatalf("predict: %d %v %+v", resp.StatusCode, err, out)
	}
	for j, p := range out.Predictions {
		i, k := j/2, j%2
		if p.Task != reqInputs[j]["task"] {
			t.Fatalf("prediction %d task %q", j, p.Task)
		}
		p.Task = ""
		got, _ := json.Marshal(p)
		if w := want[k][(i+k)%len(inputs)]; string(got) != w {
			t.Fatalf("prediction %d: server %s, aotp predict %s", j, got, w)
		}
	}
	// admin needs the token from the environment
	req, _ := http.NewRequest("DELETE", url+"/v1/tasks/topic", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("DELETE without token: %v %v", resp, err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE with token: %v %v", resp, err)
	}
	if resp, err := http.Get(url + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	for _, w := range []string{"admin: task deleted", "shut down"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
}

func TestServeFlags(t *testing.T) {
	if _, err := run(t, "serve", "--model", "x", "--weights", "bf16"); err == nil || !strings.Contains(err.Error(), `"bf16" for "--weights" flag: want f32, f16, int8 or w8a8`) {
		t.Fatalf("--weights bf16: %v", err)
	}
	if _, err := run(t, "serve", "--model", "x", "--task", "noequals"); err == nil || !strings.Contains(err.Error(), "NAME=ADAPTER_DIR") {
		t.Fatalf("bad --task: %v", err)
	}
	if _, err := run(t, "serve", "--model", "x", "--task", "a=1", "--task", "a=2"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate --task: %v", err)
	}
}
