package pin

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// Record is everything Cl@ve PIN keeps about one citizen. It is plain data:
// the rules live in [Service], so that every [Store] can stay a dumb, atomic
// container that is easy to get right.
type Record struct {
	// Pending is the outstanding PIN, nil when none was ever issued or it
	// was cleared by a block. A used or expired PIN stays here until
	// superseded, so that a late or repeated attempt gets a precise answer.
	Pending *Pending

	// Failures counts failed verifications across PINs, since guessing is
	// spread over successive PINs just as well as over one.
	Failures int

	// BlockedUntil is when a block ends; zero when not blocked.
	BlockedUntil time.Time

	// Requests holds the times of recent PIN requests, oldest first, for
	// the request-rate limits. [Service] prunes it to the last day, so it
	// stays short.
	Requests []time.Time
}

// Pending describes an issued PIN without the PIN itself.
type Pending struct {
	// RequestCode is the code paired with the PIN, in normalised form.
	RequestCode string

	// Hash is an HMAC-SHA256 of the citizen, the request code and the PIN
	// under the service secret, so that a leaked database gives no PIN, and
	// no PIN can be checked without the secret.
	Hash []byte

	// ExpiresAt is the first instant at which the PIN is no longer valid.
	ExpiresAt time.Time

	// Used records that the PIN already verified once.
	Used bool
}

// ErrNoRecord is wrapped by Store.Get when a citizen has no record.
var ErrNoRecord = store.ErrNotFound

// Store keeps one [Record] per citizen. Implementations must be safe for
// concurrent use, and must pass the suite of package pin/pintest
// (pintest.RunStoreTests).
type Store interface {
	// Get returns a copy of citizen's record, or an error wrapping
	// [ErrNoRecord] when there is none.
	Get(ctx context.Context, citizen string) (Record, error)

	// Update runs fn on citizen's record (a zero Record when there is none)
	// and saves what fn leaves, atomically: no other Update of the same
	// citizen runs in between, so a check-and-set in fn cannot race. If fn
	// returns an error nothing is saved, whatever fn changed, and Update
	// returns that error unchanged. A record left zero is deleted, so that
	// idle citizens cost no space. fn must not call the Store.
	Update(ctx context.Context, citizen string, fn func(*Record) error) error
}

// isZero reports whether r holds nothing worth keeping.
func (r *Record) isZero() bool {
	return r.Pending == nil && r.Failures == 0 && r.BlockedUntil.IsZero() && len(r.Requests) == 0
}

// clone copies r deeply, so that neither the caller of a Store nor a failed
// fn can change what the Store holds.
func (r Record) clone() Record {
	if r.Pending != nil {
		p := *r.Pending
		p.Hash = slices.Clone(p.Hash)
		r.Pending = &p
	}
	r.Requests = slices.Clone(r.Requests)
	return r
}

// MemoryStore is a [Store] in process memory, for tests and for gateways that
// can afford to forget pending PINs, failure counts and blocks on restart.
// The zero value is ready to use.
type MemoryStore struct {
	// Max, when positive, bounds the records kept: a new record beyond it
	// evicts an arbitrary other one. Only for records whose loss is
	// harmless, such as the decoys kept for identifiers that are not
	// registered (they never verify either way).
	Max int

	mu      sync.Mutex
	records map[string]Record
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, citizen string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[citizen]
	if !ok {
		return Record{}, fmt.Errorf("pin: memory store: %w", store.ErrNotFound)
	}
	return r.clone(), nil
}

// Update implements [Store]. One lock for all citizens is enough: fn does no
// I/O, so the critical section is short.
func (m *MemoryStore) Update(ctx context.Context, citizen string, fn func(*Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[citizen].clone()
	if err := fn(&r); err != nil {
		return err
	}
	if r.isZero() {
		delete(m.records, citizen)
		return nil
	}
	if m.records == nil {
		m.records = make(map[string]Record)
	}
	if _, ok := m.records[citizen]; !ok && m.Max > 0 && len(m.records) >= m.Max {
		for k := range m.records {
			delete(m.records, k)
			break
		}
	}
	// Cloned again so that fn cannot keep a handle on what is stored.
	m.records[citizen] = r.clone()
	return nil
}
