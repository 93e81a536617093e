package peft

import "sync"

// RowCache keeps a compact task's most used rows, per layer, so hot ids
// (frequent words, special tokens) are computed once rather than in every
// batch. Eviction is CLOCK (second chance). Safe for concurrent use.
type RowCache struct {
	mu     sync.Mutex
	layers []*clockCache
	bytes  int64
}

// NewRowCache sizes a cache for L layers of width C within maxBytes
// (rows are split evenly across layers); nil if fewer than one row fits.
func NewRowCache(L, C int, maxBytes int64) *RowCache {
	perLayer := int(maxBytes / int64(L*C*4))
	if perLayer < 1 {
		return nil
	}
	c := &RowCache{bytes: int64(perLayer * L * C * 4)}
	for l := 0; l < L; l++ {
		c.layers = append(c.layers, &clockCache{C: C, slot: make(map[int32]int32, perLayer), cap: perLayer})
	}
	return c
}

// Bytes is the memory the cache holds when full.
func (c *RowCache) Bytes() int64 {
	if c == nil {
		return 0
	}
	return c.bytes
}

// Invalidate empties the cache (the factors changed).
func (c *RowCache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, lc := range c.layers {
		clear(lc.slot)
		lc.ids, lc.ref, lc.hand = lc.ids[:0], lc.ref[:0], 0
		lc.data = lc.data[:0]
	}
}

type clockCache struct {
	C, cap int
	slot   map[int32]int32 // id -> slot
	ids    []int32         // slot -> id
	ref    []bool          // slot -> referenced since the hand passed
	data   []float32       // [slots, C], grown up to cap rows
	hand   int
}

func (c *clockCache) get(id int32) ([]float32, bool) {
	s, ok := c.slot[id]
	if !ok {
		return nil, false
	}
	c.ref[s] = true
	return c.data[int(s)*c.C : (int(s)+1)*c.C], true
}

func (c *clockCache) put(id int32, row []float32) {
	var s int
	if len(c.ids) < c.cap {
		s = len(c.ids)
		c.ids, c.ref = append(c.ids, id), append(c.ref, false)
		c.data = append(c.data, row...)
	} else {
		for c.ref[c.hand] {
			c.ref[c.hand] = false
			c.hand = (c.hand + 1) % c.cap
		}
		s = c.hand
		delete(c.slot, c.ids[s])
		c.ids[s], c.ref[s] = id, false
		copy(c.data[s*c.C:(s+1)*c.C], row)
		c.hand = (c.hand + 1) % c.cap
	}
	c.slot[id] = int32(s)
}
