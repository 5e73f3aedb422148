package mobile_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store/sqlite"
	"github.com/clave-go/clave/mobile"
)

const (
	citizen  = "12345678Z"
	otherOne = "X1234567L"
)

var (
	t0         = time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)
	testSecret = bytes.Repeat([]byte("s"), 32)
)

// clock is the injected time; tests move it instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type storeKind struct {
	name string
	open func(t *testing.T) mobile.Store
}

// storeKinds lists the stores every rule runs on. The SQLite one is a file,
// not ":memory:", so that concurrent tests use several connections.
func storeKinds() []storeKind {
	return []storeKind{
		{"memory", func(*testing.T) mobile.Store { return mobile.NewMemoryStore() }},
		{"sqlite", func(t *testing.T) mobile.Store { return openSQL(t, filepath.Join(t.TempDir(), "mobile.db")) }},
	}
}

func openSQL(t *testing.T, path string) *mobile.SQLStore {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := mobile.NewSQLStore(ctx, db)
	require.NoError(t, err)
	return st
}

// forEachStore runs test on every store kind.
func forEachStore(t *testing.T, test func(t *testing.T, st mobile.Store)) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) { test(t, k.open(t)) })
	}
}

// phone is a device as the app holds it: its key and its ID once activated.
type phone struct {
	priv ed25519.PrivateKey
	dev  mobile.Device
}

func (p *phone) pub() ed25519.PublicKey { return p.priv.Public().(ed25519.PublicKey) }

// sign answers r with d, signed at at.
func (p *phone) sign(t *testing.T, r mobile.Request, d mobile.Decision, at time.Time) (payload, sig []byte) {
	t.Helper()
	payload, sig, err := mobile.SignConfirmation(p.priv, r.Confirmation(d, at))
	require.NoError(t, err)
	return payload, sig
}

func newPhone(seed byte) *phone {
	return &phone{priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

type env struct {
	ctx   context.Context
	clock *clock
	svc   *mobile.Service
	st    mobile.Store
}

func newEnv(t *testing.T, st mobile.Store) *env {
	t.Helper()
	c := &clock{now: t0}
	svc, err := mobile.New(mobile.Config{Secret: testSecret, Now: c.Now, Rand: rand.NewChaCha8([32]byte{7})}, st)
	require.NoError(t, err)
	return &env{ctx: context.Background(), clock: c, svc: svc, st: st}
}

// activate activates a new phone for who by certificate.
func (e *env) activate(t *testing.T, who string, seed byte) *phone {
	t.Helper()
	p := newPhone(seed)
	d, err := e.svc.Activate(e.ctx, who, mobile.ByCertificate, p.pub())
	require.NoError(t, err)
	p.dev = d
	return p
}

func (e *env) request(t *testing.T, spec mobile.RequestSpec) mobile.Request {
	t.Helper()
	if spec.LoginID == "" {
		spec.LoginID = "login-1"
	}
	if spec.Requester == "" {
		spec.Requester = "Agencia Tributaria"
	}
	r, err := e.svc.NewRequest(e.ctx, spec)
	require.NoError(t, err)
	return r
}
