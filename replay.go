package clave

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ReplayCache remembers assertion IDs until they expire, so each assertion logs
// in once (the gateway marks them OneTimeUse). A cluster needs an
// implementation on a shared store.
type ReplayCache interface {
	// Use records id as used until expiry and reports whether it had already
	// been used. It must be atomic: of two concurrent calls with the same id,
	// exactly one returns false.
	Use(ctx context.Context, id string, expiry time.Time) (alreadyUsed bool, err error)
}

// ErrReplayCacheFull is returned when the in-memory cache is at capacity with
// live entries; the login is refused rather than risking a replay.
var ErrReplayCacheFull = errors.New("clave: replay cache full")

// MemoryReplayCache is an in-process ReplayCache.
type MemoryReplayCache struct {
	mu      sync.Mutex
	entries map[string]time.Time
	max     int
	now     func() time.Time
}

// NewMemoryReplayCache returns a cache holding at most max live entries (0
// means 1,000,000, about 100 MB at worst).
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = 1_000_000
	}
	return &MemoryReplayCache{entries: make(map[string]time.Time), max: max, now: time.Now}
}

// WithClock sets the clock used to expire entries (tests).
func (m *MemoryReplayCache) WithClock(now func() time.Time) *MemoryReplayCache {
	m.now = now
	return m
}

// Use implements ReplayCache.
func (m *MemoryReplayCache) Use(_ context.Context, id string, expiry time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.entries[id]; ok && now.Before(exp) {
		return true, nil
	}
	if len(m.entries) >= m.max {
		for k, exp := range m.entries {
			if !now.Before(exp) {
				delete(m.entries, k)
			}
		}
		if len(m.entries) >= m.max {
			return false, ErrReplayCacheFull
		}
	}
	m.entries[id] = expiry
	return false, nil
}
