package serve

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkServe: concurrent clients each sending requests of 1 or 8
// inputs, alternating between two tasks, over loopback HTTP. Reports requests/s
// and tokens/s.
//
//	go test ./serve -run '^$' -bench Serve -benchtime 2000x
func BenchmarkServe(b *testing.B) {
	for _, c := range []struct {
		clients, inputs int
		wait            time.Duration
	}{{1, 1, -1}, {32, 1, -1}, {32, 1, 5 * time.Millisecond}, {32, 8, 5 * time.Millisecond}} {
		b.Run(fmt.Sprintf("clients=%d/inputs=%d/max-wait=%v", c.clients, c.inputs, max(c.wait, 0)), func(b *testing.B) {
			s, ts := start(b, Options{MaxWait: c.wait}, "sentiment", "topic")
			bodies := make([][]byte, 2*len(texts))
			tokens := 0
			for i := range bodies {
				task := []string{"sentiment", "topic"}[i%2]
				text := texts[(i/2)%len(texts)]
				in := fmt.Sprintf(`{"text":%q}`, text)
				bodies[i] = []byte(fmt.Sprintf(`{"task":%q,"inputs":[%s]}`, task, in+strings.Repeat(","+in, c.inputs-1)))
				e, _ := shared.tok.Encode(text)
				tokens += len(e.IDs) * c.inputs
			}
			var next sync.Mutex
			n := 0
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range c.clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						next.Lock()
						i := n
						n++
						next.Unlock()
						if i >= b.N {
							return
						}
						if code, body := post(b, ts.Client(), "POST", ts.URL+"/v1/predict", bodies[i%len(bodies)]); code != 200 {
							b.Errorf("%d %s", code, body)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "req/s")
			b.ReportMetric(float64(b.N)*float64(tokens)/float64(len(bodies))/el, "tokens/s")
			b.ReportMetric(float64(b.N)/float64(s.b.batches.Load()), "seqs/batch")
		})
	}
}
