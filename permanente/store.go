package permanente

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/clave-go/clave/internal/store"
)

// ErrNotFound is wrapped by a Store's read of a missing account.
var ErrNotFound = store.ErrNotFound

// ErrConflict reports a write that lost a race: a password changed between
// the check of the old one and the saving of the new one.
var ErrConflict = store.ErrConflict

// Store keeps one [Account] per citizen. Implementations must be safe for
// concurrent use and pass the suite of package permanente/permanentetest
// (permanentetest.RunStoreTests).
type Store interface {
	// Account returns a copy of citizen's account, or an error wrapping
	// [ErrNotFound].
	Account(ctx context.Context, citizen string) (Account, error)

	// UpdateAccount runs fn on citizen's account (a zero Account when
	// there is none) and saves what fn leaves, atomically: no other
	// UpdateAccount of the same citizen runs in between. If fn returns an
	// error nothing is saved and UpdateAccount returns it unchanged. An
	// account left zero (every field nil) is deleted, and a missing one
	// that fn leaves zero is not created. fn must not call the Store.
	UpdateAccount(ctx context.Context, citizen string, fn func(*Account) error) error
}

// isZero reports whether a holds nothing worth keeping.
func (a *Account) isZero() bool {
	return a.Activation == nil && a.Password == nil && a.Flow == nil && a.Login == nil
}

// Clone copies a deeply, so that neither the caller of a Store nor a failed
// fn can change what the Store holds; stores return and keep clones.
func (a Account) Clone() Account {
	if a.Activation != nil {
		c := *a.Activation
		c.Hash = slices.Clone(c.Hash)
		a.Activation = &c
	}
	if a.Password != nil {
		p := *a.Password
		a.Password = &p
	}
	if a.Flow != nil {
		f := *a.Flow
		f.Hash = slices.Clone(f.Hash)
		a.Flow = &f
	}
	if a.Login != nil {
		l := *a.Login
		l.Hash = slices.Clone(l.Hash)
		a.Login = &l
	}
	return a
}

// MemoryStore is a [Store] in process memory, for tests and for gateways that
// can afford to forget every account on restart. The zero value is ready to
// use.
type MemoryStore struct {
	mu       sync.Mutex
	accounts map[string]Account
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// lock takes the store's one lock, after checking ctx. One lock for every
// citizen is enough: no fn does I/O or hashing, so critical sections are
// short.
func (m *MemoryStore) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.accounts == nil {
		m.accounts = make(map[string]Account)
	}
	return nil
}

// Account implements [Store].
func (m *MemoryStore) Account(ctx context.Context, citizen string) (Account, error) {
	if err := m.lock(ctx); err != nil {
		return Account{}, err
	}
	defer m.mu.Unlock()
	a, ok := m.accounts[citizen]
	if !ok {
		return Account{}, fmt.Errorf("permanente: memory store: account: %w", ErrNotFound)
	}
	return a.Clone(), nil
}

// UpdateAccount implements [Store].
func (m *MemoryStore) UpdateAccount(ctx context.Context, citizen string, fn func(*Account) error) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	work := m.accounts[citizen].Clone()
	if err := fn(&work); err != nil {
		return err
	}
	a := work.Clone() // so that fn cannot keep a handle on what is stored
	if a.isZero() {
		delete(m.accounts, citizen)
		return nil
	}
	m.accounts[citizen] = a
	return nil
}
