package peft

import "github.com/aotp/aotp/model"

// positionSites records, per layer, whether DeBERTa projects its relative
// embeddings with the content projection at SiteQuery or SiteKey
// (share_att_key): a method changing that projection changes the position
// terms too (model.PositionHook).
type positionSites [][2]bool

func sharedPositions(enc *model.Encoder) positionSites {
	p := make(positionSites, len(enc.Layers))
	for l := range p {
		p[l] = [2]bool{enc.SharedPositionProjection(l, model.SiteQuery), enc.SharedPositionProjection(l, model.SiteKey)}
	}
	return p
}

// group is a single-task method's answer to PositionGroup for a site it
// changes: 0 where the position table is made by that site, else -1.
func (p positionSites) group(l int, site model.Site) int {
	if l < 0 || l >= len(p) {
		return -1
	}
	if (site == model.SiteQuery && p[l][0]) || (site == model.SiteKey && p[l][1]) {
		return 0
	}
	return -1
}
