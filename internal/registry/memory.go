package registry

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/store"
)

// MemoryStore is a [Store] held in process memory, for tests and for
// throwaway gateways; everything is lost when the process exits.
type MemoryStore struct {
	mu      sync.RWMutex
	byID    map[string]Citizen
	byPhone map[string]string
	now     func() time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store using the system clock.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: make(map[string]Citizen), byPhone: make(map[string]string), now: time.Now}
}

// WithClock sets the clock that stamps CreatedAt on new registrations, so
// tests can predict it. Call it before using the store.
func (m *MemoryStore) WithClock(now func() time.Time) *MemoryStore {
	m.now = now
	return m
}

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, id dni.ID) (Citizen, error) {
	if err := ctx.Err(); err != nil {
		return Citizen{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.byID[id.String()]
	if !ok {
		return Citizen{}, notFound(id)
	}
	return c, nil
}

// Put implements [Store].
func (m *MemoryStore) Put(ctx context.Context, c Citizen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c = c.Normalized()
	if err := c.Validate(); err != nil {
		return invalid(idOf(c), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if owner, ok := m.byPhone[c.Phone]; ok && owner != c.ID {
		return phoneConflict(idOf(c))
	}
	if old, ok := m.byID[c.ID]; ok {
		if c.CreatedAt.IsZero() {
			c.CreatedAt = old.CreatedAt
		}
		delete(m.byPhone, old.Phone)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = m.now().UTC()
	}
	m.byID[c.ID] = c
	m.byPhone[c.Phone] = c.ID
	return nil
}

// Delete implements [Store].
func (m *MemoryStore) Delete(ctx context.Context, id dni.ID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id.String()]
	if !ok {
		return notFound(id)
	}
	delete(m.byID, id.String())
	delete(m.byPhone, c.Phone)
	return nil
}

// List implements [Store].
func (m *MemoryStore) List(ctx context.Context) ([]Citizen, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	out := slices.Collect(maps.Values(m.byID))
	m.mu.RUnlock()
	// Byte order of the normalised string, as SQLite's BINARY collation.
	slices.SortFunc(out, func(a, b Citizen) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// SetStatus implements [Store].
func (m *MemoryStore) SetStatus(ctx context.Context, id dni.ID, s Status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.Valid() {
		return invalidStatus(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id.String()]
	if !ok {
		return notFound(id)
	}
	c.Status = s
	m.byID[id.String()] = c
	return nil
}

// The helpers below build the errors both stores return, so their messages
// agree and never carry more than the masked identifier.

func notFound(id dni.ID) error {
	return fmt.Errorf("registry: citizen %s: %w", masked(id), store.ErrNotFound)
}

func phoneConflict(id dni.ID) error {
	return fmt.Errorf("registry: citizen %s: phone already registered to another DNI/NIE: %w", masked(id), store.ErrConflict)
}

func invalid(id dni.ID, err error) error {
	return fmt.Errorf("registry: citizen %s: %w", masked(id), err)
}

func invalidStatus(id dni.ID) error {
	return invalid(id, &FieldError{Field: "status", Reason: `must be "active", "blocked" or "gave_up"`})
}

// idOf is the parsed identifier of a citizen that passed Validate, or the
// zero ID.
func idOf(c Citizen) dni.ID {
	id, _ := dni.Parse(c.ID)
	return id
}

// masked names a citizen in errors; a zero ID would otherwise leave a
// confusing blank.
func masked(id dni.ID) string {
	if id.IsZero() {
		return "(no id)"
	}
	return id.Masked()
}
