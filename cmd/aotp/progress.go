package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a training run: a bar with ETA, loss and the last dev
// metric on a terminal; plain log lines every few seconds otherwise.
type progress struct {
	bar    *progressbar.ProgressBar
	metric string
	last   time.Time
	total  int
	start  time.Time
	loss   float64 // running mean since the last display
	n      int
}

func newProgress(total int, metric string) *progress {
	p := &progress{metric: metric, total: total, start: time.Now(), last: time.Now()}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	return p
}

func (p *progress) update(step, total int, loss float64, dev map[string]float64) {
	p.loss += loss
	p.n++
	desc := fmt.Sprintf("loss %.4f", p.loss/float64(p.n))
	if v, ok := dev[p.metric]; ok {
		desc += fmt.Sprintf("  dev %s %.4f", p.metric, v)
	}
	if p.bar != nil {
		p.bar.Describe(desc)
		p.bar.Set(step)
		if p.n >= 20 {
			p.loss, p.n = 0, 0
		}
		return
	}
	if time.Since(p.last) >= 5*time.Second || step == total {
		el := time.Since(p.start)
		eta := time.Duration(float64(el) / float64(step) * float64(total-step))
		slog.Info("train", "step", step, "of", total, "loss", p.loss/float64(p.n), "dev", dev, "eta", eta.Round(time.Second))
		p.last, p.loss, p.n = time.Now(), 0, 0
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}
