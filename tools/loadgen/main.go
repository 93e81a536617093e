// Command loadgen drives an `aotp serve` endpoint with open-loop traffic:
// requests arrive at a fixed mean rate (Poisson), whatever the server's
// latency, so queueing shows up in the latency percentiles instead of
// silently lowering the offered load (closed-loop generators hide it).
//
// Each request carries one input for a task drawn uniformly from --tasks,
// with text drawn from --texts (JSONL with "text") or a built-in list. It
// prints one JSON object: offered and achieved rate, inputs/s, tokens are
// not known to the client, latency p50/p90/p99/max in ms, and counts by
// HTTP status. Only loopback and other local addresses should be targeted.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type result struct {
	URL        string         `json:"url"`
	Tasks      int            `json:"tasks"`
	Rate       float64        `json:"offered_rps"`
	Duration   float64        `json:"duration_s"`
	Sent       int            `json:"sent"`
	OK         int            `json:"ok"`
	Achieved   float64        `json:"achieved_rps"`
	InputsPerS float64        `json:"inputs_per_s"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	Codes      map[string]int `json:"codes"`
	Errors     int            `json:"transport_errors"`
}

var builtin = []string{
	"the movie was great and the acting was superb",
	"a dull and tedious story with a weak ending",
	"we talked about the match and the new coach",
	"the recipe needs bread, soup and a little spice",
	"a new telescope changed the theory of how cells form",
	"this film felt charming, moving and beautiful",
	"the script seemed clumsy and the soundtrack bland",
	"everyone loved the dessert near the kitchen",
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "server base URL (loopback)")
	tasksFlag := flag.String("tasks", "", "comma-separated task names, or @N for task-0..task-N-1")
	rate := flag.Float64("rate", 10, "mean requests per second (Poisson arrivals)")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	inputs := flag.Int("inputs", 1, "inputs per request")
	textsPath := flag.String("texts", "", "JSONL file with \"text\" fields (default: built-in sentences)")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	seed := flag.Uint64("seed", 1, "random seed")
	maxInFlight := flag.Int("max-in-flight", 2000, "cap on concurrent requests (a bound on the client's own memory)")
	flag.Parse()

	tasks, err := parseTasks(*tasksFlag)
	if err != nil {
		fail(err)
	}
	texts := builtin
	if *textsPath != "" {
		if texts, err = readTexts(*textsPath); err != nil {
			fail(err)
		}
	}
	res := run(*url, tasks, texts, *rate, *dur, *inputs, *timeout, *seed, *maxInFlight)
	json.NewEncoder(os.Stdout).Encode(res)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

func parseTasks(s string) ([]string, error) {
	if strings.HasPrefix(s, "@") {
		var n int
		if _, err := fmt.Sscan(s[1:], &n); err != nil || n < 1 {
			return nil, fmt.Errorf("--tasks %q: want @N with N >= 1", s)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("task-%d", i)
		}
		return out, nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--tasks is required")
	}
	return out, nil
}

func readTexts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var v struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, v.Text)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no texts", path)
	}
	return out, sc.Err()
}

func run(url string, tasks, texts []string, rate float64, dur time.Duration, inputs int, timeout time.Duration, seed uint64, maxInFlight int) result {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: maxInFlight, MaxConnsPerHost: 0}}
	r := rand.New(rand.NewPCG(seed, 7))
	var (
		mu        sync.Mutex
		latencies []float64
		codes     = map[string]int{}
		errs      int
		wg        sync.WaitGroup
	)
	sem := make(chan struct{}, maxInFlight)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	start := time.Now()
	next := start
	sent := 0
	for ctx.Err() == nil {
		// exponential inter-arrival times: Poisson arrivals at `rate`
		next = next.Add(time.Duration(r.ExpFloat64() / rate * float64(time.Second)))
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		task := tasks[r.IntN(len(tasks))]
		var in []map[string]string
		for i := 0; i < inputs; i++ {
			in = append(in, map[string]string{"text": texts[r.IntN(len(texts))]})
		}
		body, _ := json.Marshal(map[string]any{"task": task, "inputs": in})
		select {
		case sem <- struct{}{}:
		default:
			mu.Lock()
			codes["client-cap"]++
			mu.Unlock()
			continue
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			resp, err := client.Post(url+"/v1/predict", "application/json", bytes.NewReader(body))
			lat := time.Since(t0).Seconds() * 1e3
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[fmt.Sprint(resp.StatusCode)]++
			if resp.StatusCode == http.StatusOK {
				latencies = append(latencies, lat)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	sort.Float64s(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	res := result{URL: url, Tasks: len(tasks), Rate: rate, Duration: elapsed, Sent: sent, OK: len(latencies),
		Achieved: float64(len(latencies)) / elapsed, InputsPerS: float64(len(latencies)*inputs) / elapsed,
		P50: pct(0.5), P90: pct(0.9), P99: pct(0.99), Codes: codes, Errors: errs}
	if len(latencies) > 0 {
		res.Max = latencies[len(latencies)-1]
	}
	return res
}
