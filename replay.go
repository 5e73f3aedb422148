package clave

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"
)

// ReplayCache remembers assertion IDs until they expire, so each assertion logs
// in once (the gateway marks them OneTimeUse). MemoryReplayCache, the
// default, forgets everything on restart and is not seen by other replicas:
// a service that restarts with the same CookieSecret, or runs several
// replicas, needs a persistent, shared implementation (NewSQLReplayCache on
// one machine, redisstore.ReplayCache for a cluster).
//
// The Client calls Use once per validated assertion with the assertion's
// NotOnOrAfter plus Config.Skew, the first instant its validator refuses the
// assertion, and refuses the login on any error.
type ReplayCache interface {
	// Use records id as used until expiry and reports whether it had already
	// been used (and had not expired). It must be atomic: of two concurrent
	// calls with the same id, exactly one returns false. A call never
	// shortens a live entry. An expiry already past records nothing: Use
	// reports false, or an error when it cannot vouch for that (a shared
	// store on a clock of its own).
	Use(ctx context.Context, id string, expiry time.Time) (alreadyUsed bool, err error)
}

// ErrReplayCacheFailed wraps an error of the ReplayCache: the response
// was refused because whether it was used before could not be known (the
// cache's store is down, or full). It is the service's failure, not the
// response's: ACSHandler answers it 503, as an internal error.
var ErrReplayCacheFailed = errors.New("clave: replay cache failed")

// ErrReplayCacheFull is returned when the in-memory cache is at capacity with
// live entries; the login is refused rather than risking a replay.
var ErrReplayCacheFull = errors.New("clave: replay cache full")

// MemoryReplayCache is an in-process ReplayCache. Entries leave in order of
// expiry through a min-heap, a few per Use, so that no single login pays for
// sweeping a million expired entries at once.
type MemoryReplayCache struct {
	mu      sync.Mutex
	entries map[string]*replayEntry
	byExp   replayHeap
	max     int
	now     func() time.Time
	// swept counts the expired entries removed, so tests can check the work
	// one Use does without timing it.
	swept int
}

// sweepPerUse is how many expired entries a Use removes at most besides the
// one it may need for room. Above one, so that expired entries drain faster
// than inserts add them; small, so that a Use stays O(log n) whatever
// expired meanwhile.
const sweepPerUse = 4

// NewMemoryReplayCache returns a cache holding at most max live entries (0
// means 1,000,000: about 150 MB at worst with 40-byte IDs).
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = 1_000_000
	}
	return &MemoryReplayCache{entries: make(map[string]*replayEntry), max: max, now: time.Now}
}

// WithClock sets the clock used to expire entries (tests).
func (m *MemoryReplayCache) WithClock(now func() time.Time) *MemoryReplayCache {
	m.now = now
	return m
}

// Use implements ReplayCache. When the cache holds max live entries it
// refuses (ErrReplayCacheFull) rather than forget a live one, which would
// let that assertion be replayed.
func (m *MemoryReplayCache) Use(_ context.Context, id string, expiry time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := unixNano(m.now())
	for range sweepPerUse {
		if !m.dropExpired(now) {
			break
		}
	}
	exp := unixNano(expiry)
	if e, ok := m.entries[id]; ok {
		if now < e.exp {
			return true, nil
		}
		// Used before but expired and not swept yet: use it again.
		e.exp = exp
		heap.Fix(&m.byExp, e.index)
		return false, nil
	}
	if len(m.entries) >= m.max && !m.dropExpired(now) {
		return false, ErrReplayCacheFull
	}
	// The ID may be a slice of a larger document; keep only its bytes.
	e := &replayEntry{id: strings.Clone(id), exp: exp}
	m.entries[e.id] = e
	heap.Push(&m.byExp, e)
	return false, nil
}

// dropExpired removes the entry expiring first if it has expired, and
// reports whether it did.
func (m *MemoryReplayCache) dropExpired(now int64) bool {
	if len(m.byExp) == 0 || now < m.byExp[0].exp {
		return false
	}
	e := heap.Pop(&m.byExp).(*replayEntry)
	delete(m.entries, e.id)
	m.swept++
	return true
}

// unixNano is t in nanoseconds, clamped to what an int64 holds (the zero
// Time is long expired, not an overflow).
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minNano):
		return math.MinInt64
	case t.After(maxNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// replayEntry is one used ID; exp is its expiry in Unix nanoseconds (8 bytes
// where a time.Time takes 24) and index its place in the heap.
type replayEntry struct {
	id    string
	exp   int64
	index int
}

// replayHeap orders entries by expiry, the first to expire on top.
type replayHeap []*replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h replayHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *replayHeap) Push(x any) {
	e := x.(*replayEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
