package clave

import (
	"container/heap"
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// SessionStore keeps sessions on the server (Config.SessionStore). The
// session cookie then carries only a random session ID, sealed, and the
// session itself lives in the store until it expires or the citizen logs
// out, when it is deleted: a copy of the cookie stops working on every
// replica sharing the store.
//
// The Client stores opaque records, sealed with Config.CookieSecret and
// bound to their ID: a store (or whoever can read it) sees no identifier
// nor name, and a record changed or moved to another ID does not open. IDs
// are URL-safe strings of 43 characters.
//
// redisstore.SessionStore is the implementation for a cluster;
// MemorySessionStore the one for a single replica.
type SessionStore interface {
	// Save stores data under id until expiry, replacing what id held.
	Save(ctx context.Context, id string, data []byte, expiry time.Time) error
	// Load returns the data stored under id, or ErrNoSession when there is
	// none or it has expired. Any other error means the store could not
	// answer; the Client then treats the request as having no session.
	Load(ctx context.Context, id string) ([]byte, error)
	// Delete removes id's data. Deleting a missing session is not an error.
	Delete(ctx context.Context, id string) error
}

// ErrNoSession is returned by SessionStore.Load for a missing or expired
// session.
var ErrNoSession = errors.New("clave: no such session")

// MemorySessionStore is an in-process SessionStore, for a single replica: it
// makes logout end the session everywhere a cookie may have been copied to,
// which sealed-cookie sessions cannot. Sessions are lost on restart.
type MemorySessionStore struct {
	mu      sync.Mutex
	entries map[string]*sessionEntry
	byExp   replayHeap
	max     int
	now     func() time.Time
}

// sessionEntry is a stored session; its replayEntry places it in the
// expiry heap.
type sessionEntry struct {
	replayEntry
	data []byte
}

// NewMemorySessionStore returns a store holding at most max sessions (0
// means 100,000: some 70 MB). When full, saving a session evicts
// the one expiring first: that citizen must log in again, which is safer
// than refusing every new login.
func NewMemorySessionStore(max int) *MemorySessionStore {
	if max <= 0 {
		max = 100_000
	}
	return &MemorySessionStore{entries: make(map[string]*sessionEntry), max: max, now: time.Now}
}

// WithClock sets the clock used to expire sessions (tests).
func (m *MemorySessionStore) WithClock(now func() time.Time) *MemorySessionStore {
	m.now = now
	return m
}

// Save implements SessionStore.
func (m *MemorySessionStore) Save(_ context.Context, id string, data []byte, expiry time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := unixNano(m.now())
	m.sweep(now)
	exp := unixNano(expiry)
	data = append([]byte(nil), data...)
	if e, ok := m.entries[id]; ok {
		e.exp, e.data = exp, data
		heap.Fix(&m.byExp, e.index)
		return nil
	}
	if len(m.entries) >= m.max {
		m.remove(m.byExp[0].id)
	}
	e := &sessionEntry{replayEntry: replayEntry{id: strings.Clone(id), exp: exp}, data: data}
	m.entries[e.id] = e
	heap.Push(&m.byExp, &e.replayEntry)
	return nil
}

// Load implements SessionStore.
func (m *MemorySessionStore) Load(_ context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := unixNano(m.now())
	m.sweep(now)
	e, ok := m.entries[id]
	if !ok || now >= e.exp {
		return nil, ErrNoSession
	}
	return append([]byte(nil), e.data...), nil
}

// Delete implements SessionStore.
func (m *MemorySessionStore) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(id)
	return nil
}

// sweep removes a few expired sessions, as MemoryReplayCache does.
func (m *MemorySessionStore) sweep(now int64) {
	for range sweepPerUse {
		if len(m.byExp) == 0 || now < m.byExp[0].exp {
			return
		}
		m.remove(m.byExp[0].id)
	}
}

func (m *MemorySessionStore) remove(id string) {
	if e, ok := m.entries[id]; ok {
		heap.Remove(&m.byExp, e.index)
		delete(m.entries, id)
	}
}
