package mobile

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// ErrNotFound is wrapped by a Store's reads and updates of a missing account,
// device or request.
var ErrNotFound = store.ErrNotFound

// ErrConflict is wrapped by a Store's writes that would reuse a request ID, a
// device ID of another citizen, or a nonce.
var ErrConflict = store.ErrConflict

// DeviceStore keeps one [Account] per citizen and finds devices by ID.
type DeviceStore interface {
	// Account returns a copy of citizen's account, or an error wrapping
	// [ErrNotFound].
	Account(ctx context.Context, citizen string) (Account, error)

	// UpdateAccount runs fn on citizen's account (a zero Account when
	// there is none) and saves what fn leaves, atomically: no other
	// UpdateAccount of the same citizen runs in between. If fn returns an
	// error nothing is saved and UpdateAccount returns it unchanged. An
	// account left with no device and no activation code is deleted.
	// Devices are saved under citizen whatever their Citizen field says;
	// a device ID that another citizen's account holds, or that appears
	// twice, fails with [ErrConflict] and saves nothing. fn must not call
	// the Store.
	UpdateAccount(ctx context.Context, citizen string, fn func(*Account) error) error

	// Device returns a copy of the device id of any account, or an error
	// wrapping [ErrNotFound].
	Device(ctx context.Context, id string) (Device, error)
}

// RequestStore keeps pending and recently finished login requests. Whenever
// it saves a request whose [Request.HistoryEntry] reports an entry, it adds
// the entry to the history in the same atomic step, unless the history
// already holds one for that request: so a decided request is recorded
// exactly once, even if the process stops right after.
type RequestStore interface {
	// CreateRequest saves a new request, or fails with [ErrConflict] if
	// its ID is taken.
	CreateRequest(ctx context.Context, r Request) error

	// Request returns a copy of request id, or an error wrapping
	// [ErrNotFound].
	Request(ctx context.Context, id string) (Request, error)

	// UpdateRequest runs fn on request id and saves what fn leaves,
	// atomically, as UpdateAccount does; fn must not change the ID. It
	// fails with [ErrNotFound], without calling fn, if there is no such
	// request.
	UpdateRequest(ctx context.Context, id string, fn func(*Request) error) error

	// PendingRequests returns copies of citizen's requests whose stored
	// State is pending, in any order.
	PendingRequests(ctx context.Context, citizen string) ([]Request, error)

	// ExpiredRequests returns copies of up to limit requests whose stored
	// State is pending and whose ExpiresAt is not after now, in any order.
	ExpiredRequests(ctx context.Context, now time.Time, limit int) ([]Request, error)

	// DeleteRequests deletes the requests that are not pending and whose
	// ExpiresAt is before before, and returns how many. Pending requests
	// are left for ExpiredRequests, so that none leaves without its history
	// entry.
	DeleteRequests(ctx context.Context, before time.Time) (int, error)
}

// HistoryStore reads the entries that RequestStore saves.
type HistoryStore interface {
	// History returns copies of citizen's entries that q selects: those
	// that q.Match, ordered as q.Order says (with ties in RequestID order,
	// reversed for NewestFirst), after skipping q.Offset, at most q.Limit.
	// q has passed [Query.Normalized].
	History(ctx context.Context, citizen string, q Query) ([]Entry, error)
}

// NonceStore remembers the nonces of the app's signed calls.
type NonceStore interface {
	// UseNonce records nonce as used until until, or fails with
	// [ErrConflict] if it was already recorded (whatever its until), so
	// that of concurrent calls with one nonce exactly one succeeds.
	UseNonce(ctx context.Context, nonce string, until time.Time) error

	// PruneNonces forgets the nonces whose until is before before, and
	// returns how many.
	PruneNonces(ctx context.Context, before time.Time) (int, error)
}

// Store is all the storage Cl@ve Móvil needs. Implementations must be safe
// for concurrent use and pass the suite of package mobile/mobiletest
// (mobiletest.RunStoreTests).
type Store interface {
	DeviceStore
	RequestStore
	HistoryStore
	NonceStore
}

// isZero reports whether a holds nothing worth keeping.
func (a *Account) isZero() bool { return len(a.Devices) == 0 && a.Activation == nil }

// clone copies a deeply, so that neither the caller of a Store nor a failed
// fn can change what the Store holds.
func (a Account) clone() Account {
	a.Devices = slices.Clone(a.Devices)
	for i := range a.Devices {
		a.Devices[i].PublicKey = slices.Clone(a.Devices[i].PublicKey)
	}
	if a.Activation != nil {
		c := *a.Activation
		c.Hash = slices.Clone(c.Hash)
		a.Activation = &c
	}
	return a
}

// checkDevices fails with ErrConflict if a lists a device ID twice.
func (a *Account) checkDevices() error {
	seen := make(map[string]bool, len(a.Devices))
	for _, d := range a.Devices {
		if seen[d.ID] {
			return fmt.Errorf("mobile: device listed twice: %w", ErrConflict)
		}
		seen[d.ID] = true
	}
	return nil
}

// clone copies r deeply.
func (r Request) clone() Request {
	r.Secret = slices.Clone(r.Secret)
	if r.PIN != nil {
		p := *r.PIN
		p.Hash = slices.Clone(p.Hash)
		r.PIN = &p
	}
	return r
}

// MemoryStore is a [Store] in process memory, for tests and for gateways that
// can afford to forget devices, pending logins and history on restart. The
// zero value is ready to use.
type MemoryStore struct {
	mu       sync.Mutex
	accounts map[string]Account
	owners   map[string]string // device ID → citizen
	requests map[string]Request
	history  map[string]Entry // by request ID
	nonces   map[string]time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// lock takes the store's one lock, after checking ctx. One lock for
// everything is enough: no fn does I/O, so critical sections are short.
func (m *MemoryStore) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.accounts == nil {
		m.accounts = make(map[string]Account)
		m.owners = make(map[string]string)
		m.requests = make(map[string]Request)
		m.history = make(map[string]Entry)
		m.nonces = make(map[string]time.Time)
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
		return Account{}, fmt.Errorf("mobile: memory store: account: %w", ErrNotFound)
	}
	return a.clone(), nil
}

// UpdateAccount implements [Store].
func (m *MemoryStore) UpdateAccount(ctx context.Context, citizen string, fn func(*Account) error) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	work := m.accounts[citizen].clone()
	if err := fn(&work); err != nil {
		return err
	}
	a := work.clone() // so that fn cannot keep a handle on what is stored
	if err := a.checkDevices(); err != nil {
		return err
	}
	for i, d := range a.Devices {
		if owner, ok := m.owners[d.ID]; ok && owner != citizen {
			return fmt.Errorf("mobile: memory store: device of another citizen: %w", ErrConflict)
		}
		a.Devices[i].Citizen = citizen
	}
	for _, d := range m.accounts[citizen].Devices {
		delete(m.owners, d.ID)
	}
	if a.isZero() {
		delete(m.accounts, citizen)
		return nil
	}
	for _, d := range a.Devices {
		m.owners[d.ID] = citizen
	}
	m.accounts[citizen] = a
	return nil
}

// Device implements [Store].
func (m *MemoryStore) Device(ctx context.Context, id string) (Device, error) {
	if err := m.lock(ctx); err != nil {
		return Device{}, err
	}
	defer m.mu.Unlock()
	if owner, ok := m.owners[id]; ok {
		for _, d := range m.accounts[owner].Devices {
			if d.ID == id {
				d.PublicKey = slices.Clone(d.PublicKey)
				return d, nil
			}
		}
	}
	return Device{}, fmt.Errorf("mobile: memory store: device: %w", ErrNotFound)
}

// saveRequest stores r and its history entry; m.mu is held.
func (m *MemoryStore) saveRequest(r Request) {
	m.requests[r.ID] = r.clone()
	if e, ok := r.HistoryEntry(); ok {
		if _, dup := m.history[e.RequestID]; !dup {
			m.history[e.RequestID] = e
		}
	}
}

// CreateRequest implements [Store].
func (m *MemoryStore) CreateRequest(ctx context.Context, r Request) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.requests[r.ID]; ok {
		return fmt.Errorf("mobile: memory store: request: %w", ErrConflict)
	}
	m.saveRequest(r)
	return nil
}

// Request implements [Store].
func (m *MemoryStore) Request(ctx context.Context, id string) (Request, error) {
	if err := m.lock(ctx); err != nil {
		return Request{}, err
	}
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return Request{}, fmt.Errorf("mobile: memory store: request: %w", ErrNotFound)
	}
	return r.clone(), nil
}

// UpdateRequest implements [Store].
func (m *MemoryStore) UpdateRequest(ctx context.Context, id string, fn func(*Request) error) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return fmt.Errorf("mobile: memory store: request: %w", ErrNotFound)
	}
	r = r.clone()
	if err := fn(&r); err != nil {
		return err
	}
	r.ID = id
	m.saveRequest(r)
	return nil
}

// PendingRequests implements [Store].
func (m *MemoryStore) PendingRequests(ctx context.Context, citizen string) ([]Request, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []Request
	for _, r := range m.requests {
		if r.Citizen == citizen && r.State == StatePending {
			out = append(out, r.clone())
		}
	}
	return out, nil
}

// ExpiredRequests implements [Store].
func (m *MemoryStore) ExpiredRequests(ctx context.Context, now time.Time, limit int) ([]Request, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []Request
	for _, r := range m.requests {
		if len(out) >= limit {
			break
		}
		if r.State == StatePending && !r.ExpiresAt.After(now) {
			out = append(out, r.clone())
		}
	}
	return out, nil
}

// DeleteRequests implements [Store].
func (m *MemoryStore) DeleteRequests(ctx context.Context, before time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.requests {
		if r.State != StatePending && r.ExpiresAt.Before(before) {
			delete(m.requests, id)
			n++
		}
	}
	return n, nil
}

// History implements [Store].
func (m *MemoryStore) History(ctx context.Context, citizen string, q Query) ([]Entry, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var all []Entry
	for _, e := range m.history {
		if e.Citizen == citizen && q.Match(e) {
			all = append(all, e)
		}
	}
	slices.SortFunc(all, q.compare)
	if q.Offset >= len(all) {
		return nil, nil
	}
	all = all[q.Offset:]
	return slices.Clone(all[:min(len(all), q.Limit)]), nil
}

// UseNonce implements [Store].
func (m *MemoryStore) UseNonce(ctx context.Context, nonce string, until time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.nonces[nonce]; ok {
		return fmt.Errorf("mobile: memory store: nonce: %w", ErrConflict)
	}
	m.nonces[nonce] = until
	return nil
}

// PruneNonces implements [Store].
func (m *MemoryStore) PruneNonces(ctx context.Context, before time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for k, until := range m.nonces {
		if until.Before(before) {
			delete(m.nonces, k)
			n++
		}
	}
	return n, nil
}
