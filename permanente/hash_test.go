package permanente

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

var tinyArgon = Argon2Params{Time: 1, Memory: 64, Threads: 1}

func newTestService(t *testing.T, st Store, now func() time.Time) *Service {
	t.Helper()
	svc, err := New(Config{Secret: bytes.Repeat([]byte("k"), 32), Now: now, Rand: rand.NewChaCha8([32]byte{3}),
		Argon2: tinyArgon}, st)
	require.NoError(t, err)
	return svc
}

// TestReferenceHash: a hash made by the reference implementation of argon2
// (its test vector for argon2id, version 19) verifies, so stored hashes are
// interchangeable with other tools.
func TestReferenceHash(t *testing.T) {
	t.Parallel()
	svc := newTestService(t, NewMemoryStore(), time.Now)
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, stale, err := svc.verifyPassword("password", ref)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, stale, "other parameters than the configured ones")
}

func TestHashRoundTrip(t *testing.T) {
	t.Parallel()
	svc := newTestService(t, NewMemoryStore(), time.Now)
	h1, err := svc.hashPassword("Cañón#2024")
	require.NoError(t, err)
	h2, err := svc.hashPassword("Cañón#2024")
	require.NoError(t, err)
	assert.NotEqual(t, h1, h2, "a salt per password")
	assert.Regexp(t, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h1)
	p, salt, hash, err := decodeHash(h1)
	require.NoError(t, err)
	assert.Equal(t, tinyArgon, p)
	assert.Len(t, salt, saltLen)
	assert.Equal(t, argon2.IDKey([]byte("Cañón#2024"), salt, 1, 64, 1, hashLen), hash)

	for _, c := range []struct {
		pw   string
		want bool
	}{{"Cañón#2024", true}, {"Canon#2024", false}, {"cañón#2024", false}, {"", false}} {
		ok, stale, err := svc.verifyPassword(c.pw, h1)
		require.NoError(t, err)
		assert.Equal(t, c.want, ok, c.pw)
		assert.False(t, stale)
	}
}

func TestDecodeHashRefuses(t *testing.T) {
	t.Parallel()
	good := "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	_, _, _, err := decodeHash(good)
	require.NoError(t, err)
	for _, bad := range []string{
		"",
		"plain",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1),
		strings.Replace(good, "m=64", "m=4294967295", 1),
		strings.Replace(good, "m=64", "m=99999999999", 1),
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "t=1", "t=1000", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, "p=1", "p=256", 1),
		strings.Replace(good, "p=1", "p=-1", 1),
		strings.Replace(good, "$c29tZXNhbHRzb21lc2FsdA$", "$c29t$", 1),
		strings.Replace(good, "$c29tZXNhbHRzb21lc2FsdA$", "$c29tZXNhbHRzb21lc2FsdA==$", 1),
		strings.Replace(good, "$CTFh", "$!TFh", 1),
		good + "$",
		good[:40],
		good + strings.Repeat("A", 300),
	} {
		_, _, _, err := decodeHash(bad)
		assert.ErrorIs(t, err, errBadHash, "%q", bad)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	st := NewMemoryStore()
	for _, cfg := range []Config{
		{Secret: []byte("short")},
		{SMSValidity: -time.Second},
		{PasswordMaxAge: -time.Hour},
		{SMSAttempts: -1},
		{ActivationFailures: -1},
		{Argon2: Argon2Params{Memory: maxArgon2Memory + 1}},
		{Argon2: Argon2Params{Time: maxArgon2Time + 1}},
	} {
		_, err := New(cfg, st)
		assert.Error(t, err, "%+v", cfg)
	}
	_, err := New(Config{}, nil)
	assert.Error(t, err)

	svc, err := New(Config{}, st)
	require.NoError(t, err)
	assert.Equal(t, Argon2Params{Time: 2, Memory: 19 * 1024, Threads: 1}, svc.cfg.Argon2, "OWASP's minimum")
	assert.Equal(t, 5, svc.cfg.ActivationFailures)
	assert.Equal(t, 3, svc.cfg.SMSAttempts)
	assert.Equal(t, 5*time.Minute, svc.SMSValidity())
	assert.Equal(t, 5, svc.cfg.PasswordFailures)
	assert.Equal(t, 2*365*24*time.Hour, svc.cfg.PasswordMaxAge)
	assert.Nil(t, svc.cfg.Secret, "only the derived key is kept")
}

// TestLoginWorkIsTheSame: a login of an unknown, a not activated, a
// blocked, a wrong and a right citizen each run argon2 exactly once, with
// the same parameters, so the time taken does not tell them apart.
func TestLoginWorkIsTheSame(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := newTestService(t, NewMemoryStore(), time.Now)
	var calls atomic.Int64
	var params atomic.Value
	svc.kdf = func(password, salt []byte, tm, memory uint32, threads uint8, keyLen uint32) []byte {
		calls.Add(1)
		params.Store(Argon2Params{Time: tm, Memory: memory, Threads: threads})
		return argon2.IDKey(password, salt, tm, memory, threads, keyLen)
	}
	activate := func(who, pw string) {
		code, err := svc.Register(ctx, who)
		require.NoError(t, err)
		sms, err := svc.StartActivation(ctx, who, code.Value)
		require.NoError(t, err)
		ticket, err := svc.VerifyActivationSMS(ctx, who, sms.Value)
		require.NoError(t, err)
		require.NoError(t, svc.CompleteActivation(ctx, who, ticket, pw, Profile{}))
	}
	activate("12345678Z", "Cuervo#Azul42")
	activate("X1234567L", "Cuervo#Azul42")
	for range 5 {
		_, err := svc.Login(ctx, "X1234567L", "Wrong#Pass1")
		require.Error(t, err)
	}
	_, err := svc.Register(ctx, "Y1234567X")
	require.NoError(t, err)

	for _, c := range []struct {
		who, pw string
		want    error
	}{
		{"87654321X", "Cuervo#Azul42", ErrWrongPassword},           // unknown
		{"Y1234567X", "Cuervo#Azul42", ErrWrongPassword},           // registered, not activated
		{"12345678Z", "Wrong#Pass1", ErrWrongPassword},             // wrong
		{"X1234567L", "Cuervo#Azul42", ErrBlocked},                 // blocked
		{"12345678Z", "Cuervo#Azul42", nil},                        // right
		{"12345678Z", strings.Repeat("x", 1000), ErrWrongPassword}, // huge
	} {
		calls.Store(0)
		params.Store(Argon2Params{})
		_, err := svc.Login(ctx, c.who, c.pw)
		if c.want == nil {
			assert.NoError(t, err, c.who)
		} else {
			assert.ErrorIs(t, err, c.want, c.who)
		}
		assert.Equal(t, int64(1), calls.Load(), "%s: one argon2 run", c.who)
		assert.Equal(t, tinyArgon, params.Load(), "%s: with the configured parameters", c.who)
	}
}
