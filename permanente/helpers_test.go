package permanente_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store/sqlite"
	"github.com/clave-go/clave/permanente"
)

const (
	citizen  = "12345678Z"
	otherOne = "X1234567L"
	unknown  = "87654321X"

	goodPassword  = "Cuervo#Azul42"
	otherPassword = "Lince!Iberico7"
	thirdPassword = "Garza%Real2031"
)

var (
	t0         = time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)
	testSecret = bytes.Repeat([]byte("s"), 32)

	// fastArgon keeps tests quick; production uses the defaults.
	fastArgon = permanente.Argon2Params{Time: 1, Memory: 64, Threads: 1}

	profile = permanente.Profile{GivenName: "María José", FirstSurname: "García", SecondSurname: "Núñez"}
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
	open func(t *testing.T) permanente.Store
}

// storeKinds lists the stores every rule runs on. The SQLite one is a file,
// not ":memory:", so that concurrent tests use several connections.
func storeKinds() []storeKind {
	return []storeKind{
		{"memory", func(*testing.T) permanente.Store { return permanente.NewMemoryStore() }},
		{"sqlite", func(t *testing.T) permanente.Store { return openSQL(t, filepath.Join(t.TempDir(), "permanente.db")) }},
	}
}

func openSQL(t *testing.T, path string) *permanente.SQLStore {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := permanente.NewSQLStore(ctx, db)
	require.NoError(t, err)
	return st
}

// forEachStore runs test on every store kind, in parallel.
func forEachStore(t *testing.T, test func(t *testing.T, st permanente.Store)) {
	t.Helper()
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			test(t, k.open(t))
		})
	}
}

type env struct {
	ctx   context.Context
	clock *clock
	svc   *permanente.Service
	st    permanente.Store
}

func newEnv(t *testing.T, st permanente.Store) *env {
	t.Helper()
	return newEnvConfig(t, st, permanente.Config{})
}

// newEnvConfig fills in the test clock, secret, randomness and fast argon2
// parameters where cfg leaves them zero.
func newEnvConfig(t *testing.T, st permanente.Store, cfg permanente.Config) *env {
	t.Helper()
	c := &clock{now: t0}
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.NewChaCha8([32]byte{7})
	}
	if cfg.Argon2 == (permanente.Argon2Params{}) {
		cfg.Argon2 = fastArgon
	}
	svc, err := permanente.New(cfg, st)
	require.NoError(t, err)
	return &env{ctx: context.Background(), clock: c, svc: svc, st: st}
}

// register registers who and returns the activation code.
func (e *env) register(t *testing.T, who string) permanente.ActivationCode {
	t.Helper()
	code, err := e.svc.Register(e.ctx, who)
	require.NoError(t, err)
	return code
}

// activate registers who and activates them with password.
func (e *env) activate(t *testing.T, who, password string) permanente.ActivationCode {
	t.Helper()
	code := e.register(t, who)
	sms, err := e.svc.StartActivation(e.ctx, who, code.Grouped())
	require.NoError(t, err)
	ticket, err := e.svc.VerifyActivationSMS(e.ctx, who, sms.Value)
	require.NoError(t, err)
	require.NoError(t, e.svc.CompleteActivation(e.ctx, who, ticket, password, profile))
	return code
}

// reset runs the forgotten-password flow for who.
func (e *env) reset(t *testing.T, who string, code permanente.ActivationCode, password string) error {
	t.Helper()
	sms, err := e.svc.StartReset(e.ctx, who, code.Value)
	require.NoError(t, err)
	ticket, err := e.svc.VerifyResetSMS(e.ctx, who, sms.Value)
	require.NoError(t, err)
	return e.svc.CompleteReset(e.ctx, who, ticket, password, profile)
}

// wrongCode returns a 6-digit code other than c.
func wrongCode(c permanente.Code) string {
	if c.Value == "000000" {
		return "111111"
	}
	return "000000"
}

// wrongActivation returns a well-formed activation code other than c.
func wrongActivation(c permanente.ActivationCode) string {
	if c.Value == "AAAAAAAAAAAAAAAA" {
		return "BBBBBBBBBBBBBBBB"
	}
	return "AAAAAAAAAAAAAAAA"
}
