// Package flow holds a login in progress at the reference gateway: which
// service asked, what it asked for, and which method the citizen is using. The
// gateway owns flows; methods (pin, mobile, ...) see them as method.Login,
// keep their own step data in them, and end them through method.Host.
//
// Flows live in a Store, not in goroutines, so that a method waiting for a
// phone survives a restart and any replica can finish it.
package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/saml"
)

// Flow is one login at the gateway.
type Flow struct {
	ID string
	// BrowserKeyHash binds the flow to the browser that started it: the key
	// itself sits only in that browser's cookie.
	BrowserKeyHash []byte
	SPID, App      string
	RequestID      string
	ACSURL         string
	// RelayState is the POST RelayState, echoed with the response.
	RelayState   string
	MinLoA       saml.LoA
	Disabled     []saml.Method
	NameIDFormat string
	Attributes   []string
	Lang         string
	Method       saml.Method
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// Done is set once a response was issued; a flow answers once.
	Done bool
	// Data is the method's step state (e.g. the identifier a PIN was sent for).
	Data map[string]string
}

// Store keeps flows and the request IDs already seen.
type Store interface {
	Create(ctx context.Context, f *Flow) error
	Get(ctx context.Context, id string) (*Flow, error)
	// Update applies fn atomically to the stored flow.
	Update(ctx context.Context, id string, fn func(*Flow) error) error
	// SeenRequest records a (service, request ID) pair until expiry and reports
	// whether it had been seen: a request is answered once.
	SeenRequest(ctx context.Context, spid, requestID string, expiry time.Time) (bool, error)
	// RequestSeen reports whether a (service, request ID) pair was recorded
	// and has not expired, without recording it.
	RequestSeen(ctx context.Context, spid, requestID string) (bool, error)
}

// NewBrowserKey returns a random key for a flow cookie and its hash for the
// flow record.
func NewBrowserKey() (key string, hash []byte, err error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	key = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(key))
	return key, sum[:], nil
}

// CheckBrowserKey compares a cookie's key with the stored hash in constant time.
func (f *Flow) CheckBrowserKey(key string) bool {
	sum := sha256.Sum256([]byte(key))
	return len(f.BrowserKeyHash) == len(sum) && subtle.ConstantTimeCompare(sum[:], f.BrowserKeyHash) == 1
}

// NewID returns a random flow ID, safe in URLs.
func NewID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// MemoryStore is an in-process Store.
type MemoryStore struct {
	mu     sync.Mutex
	flows  map[string]*Flow
	seen   map[string]time.Time
	now    func() time.Time
	writes int
}

// NewMemoryStore returns an empty MemoryStore using now to expire entries.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{flows: map[string]*Flow{}, seen: map[string]time.Time{}, now: now}
}

// clone deep-copies a flow, so callers never share a mutable record with the
// store.
func (f *Flow) clone() *Flow {
	c := *f
	c.BrowserKeyHash = append([]byte(nil), f.BrowserKeyHash...)
	c.Disabled = append([]saml.Method(nil), f.Disabled...)
	c.Attributes = append([]string(nil), f.Attributes...)
	if f.Data != nil {
		c.Data = make(map[string]string, len(f.Data))
		for k, v := range f.Data {
			c.Data[k] = v
		}
	}
	return &c
}

func encode(f *Flow) ([]byte, error) { return json.Marshal(f) }

func decode(b []byte) (*Flow, error) {
	var f Flow
	return &f, json.Unmarshal(b, &f)
}

// Create implements Store.
func (m *MemoryStore) Create(_ context.Context, f *Flow) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.flows[f.ID]; ok {
		return store.ErrConflict
	}
	m.prune()
	m.flows[f.ID] = f.clone()
	return nil
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, id string) (*Flow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.flows[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return f.clone(), nil
}

// Update implements Store.
func (m *MemoryStore) Update(_ context.Context, id string, fn func(*Flow) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.flows[id]
	if !ok {
		return store.ErrNotFound
	}
	f := cur.clone()
	if err := fn(f); err != nil {
		return err
	}
	if f.ID != id {
		return store.ErrConflict
	}
	m.flows[id] = f.clone()
	return nil
}

// SeenRequest implements Store.
func (m *MemoryStore) SeenRequest(_ context.Context, spid, requestID string, expiry time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := spid + "\x00" + requestID
	if exp, ok := m.seen[k]; ok && m.now().Before(exp) {
		return true, nil
	}
	m.prune()
	m.seen[k] = expiry
	return false, nil
}

// RequestSeen implements Store.
func (m *MemoryStore) RequestSeen(_ context.Context, spid, requestID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.seen[spid+"\x00"+requestID]
	return ok && m.now().Before(exp), nil
}

// prune drops expired flows and request IDs now and then; called under the
// lock on writes, so memory stays bounded by what is live.
func (m *MemoryStore) prune() {
	m.writes++
	if m.writes%256 != 0 {
		return
	}
	now := m.now()
	for id, f := range m.flows {
		if now.After(f.ExpiresAt.Add(time.Hour)) {
			delete(m.flows, id)
		}
	}
	for k, exp := range m.seen {
		if !now.Before(exp) {
			delete(m.seen, k)
		}
	}
}
