package train

import (
	"fmt"
	"math"
)

// CrossEntropy returns the mean cross-entropy of logits [B,K] against class
// labels and writes dlogits [B,K] (gradient of the mean).
func CrossEntropy(logits []float32, labels []int, K int, dlogits []float32) (float64, error) {
	return crossEntropy(logits, labels, K, dlogits, len(labels))
}

// crossEntropy is CrossEntropy's sum divided by n instead of the batch
// size: this batch's share of the mean over a larger one.
func crossEntropy(logits []float32, labels []int, K int, dlogits []float32, n int) (float64, error) {
	B := len(labels)
	var loss float64
	for b := 0; b < B; b++ {
		y := labels[b]
		if y < 0 || y >= K {
			return 0, fmt.Errorf("label %d of example %d is outside [0, %d)", y, b, K)
		}
		row := logits[b*K : (b+1)*K]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(s)
		loss += lse - float64(row[y])
		d := dlogits[b*K : (b+1)*K]
		for k, v := range row {
			p := math.Exp(float64(v) - lse)
			if k == y {
				p--
			}
			d[k] = float32(p / float64(n))
		}
	}
	return loss / float64(n), nil
}

// MSE returns the mean squared error of predictions [B] against targets
// and writes dpred [B].
func MSE(pred []float32, targets []float32, dpred []float32) float64 {
	return mse(pred, targets, dpred, len(targets))
}

// mse is MSE's sum divided by n (a share of a larger batch's mean).
func mse(pred []float32, targets []float32, dpred []float32, n int) float64 {
	var loss float64
	for b := range targets {
		d := float64(pred[b]) - float64(targets[b])
		loss += d * d
		dpred[b] = float32(2 * d / float64(n))
	}
	return loss / float64(n)
}
