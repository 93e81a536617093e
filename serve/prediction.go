package serve

import (
	"math"
	"strconv"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// Prediction is one result of `aotp predict` (one output line) and of
// POST /v1/predict (one element of "predictions"; there with its task).
type Prediction struct {
	Task   string    `json:"task,omitempty"`
	Label  *string   `json:"label,omitempty"`
	Score  float64   `json:"score"`
	Logits []float32 `json:"logits,omitempty"`
}

// NewPrediction turns a sequence's logits into its prediction: the argmax
// class's label (id2label, else its index) with its softmax probability as
// score; for regression the value itself as score, and no label or logits.
func NewPrediction(c *peft.AdapterConfig, logits []float32) Prediction {
	if c.ProblemType == model.Regression {
		return Prediction{Score: float64(logits[0])}
	}
	best := 0
	for k := range logits {
		if logits[k] > logits[best] {
			best = k
		}
	}
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v - logits[best]))
	}
	label := LabelName(c, best)
	return Prediction{Label: &label, Score: 1 / z, Logits: logits}
}

// LabelName is class k's name: id2label[k], or k in decimal when the
// adapter names no labels.
func LabelName(c *peft.AdapterConfig, k int) string {
	if l := c.ID2Label[strconv.Itoa(k)]; l != "" {
		return l
	}
	return strconv.Itoa(k)
}
