package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/sptest"
	"github.com/clave-go/clave/redisstore"
)

// server returns a function opening clients on the test's Redis server,
// each with a connection pool of its own (one replica each), and the key
// prefix of the test. Keys under the prefix are deleted when the test ends.
func server(t *testing.T) (connect func() *redis.Client, prefix string) {
	t.Helper()
	rawURL, prefix := servicetest.RedisURL(t)
	opts, err := redis.ParseURL(rawURL)
	require.NoError(t, err)
	connect = func() *redis.Client {
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	admin := connect()
	t.Cleanup(func() { deleteKeys(t, admin, prefix) })
	return connect, prefix
}

func deleteKeys(t *testing.T, rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Logf("cleaning %s*: %v", prefix, err)
		}
	}
}

func TestReplayCacheConformance(t *testing.T) {
	sptest.RunReplayCacheTests(t, sptest.Target[clave.ReplayCache]{
		OwnClock: true,
		New: func(t *testing.T, _ func() time.Time) func() clave.ReplayCache {
			connect, prefix := server(t)
			return func() clave.ReplayCache {
				return redisstore.NewReplayCache(connect(), redisstore.Options{KeyPrefix: prefix})
			}
		},
	})
}

func TestSessionStoreConformance(t *testing.T) {
	sptest.RunSessionStoreTests(t, sptest.Target[clave.SessionStore]{
		OwnClock: true,
		New: func(t *testing.T, _ func() time.Time) func() clave.SessionStore {
			connect, prefix := server(t)
			return func() clave.SessionStore {
				return redisstore.NewSessionStore(connect(), redisstore.Options{KeyPrefix: prefix})
			}
		},
	})
}

// TestKeysAndExpiries: the keys are where Options says, and expire at the
// instant the caller asked for, rounded up to the millisecond.
func TestKeysAndExpiries(t *testing.T) {
	connect, prefix := server(t)
	rdb := connect()
	ctx := context.Background()
	exp := time.Now().Add(16 * time.Minute).Truncate(time.Millisecond).Add(1500 * time.Microsecond)
	wantMS := exp.Truncate(time.Millisecond).UnixMilli() + 1

	used, err := redisstore.NewReplayCache(rdb, redisstore.Options{KeyPrefix: prefix}).Use(ctx, "_assertion1", exp)
	require.NoError(t, err)
	require.False(t, used)
	at, err := rdb.PExpireTime(ctx, prefix+"replay:_assertion1").Result()
	require.NoError(t, err)
	assert.Equal(t, wantMS, at.Milliseconds(), "PXAT = the expiry passed, rounded up")

	require.NoError(t, redisstore.NewSessionStore(rdb, redisstore.Options{KeyPrefix: prefix}).Save(ctx, "sid", []byte("x"), exp))
	at, err = rdb.PExpireTime(ctx, prefix+"session:sid").Result()
	require.NoError(t, err)
	assert.Equal(t, wantMS, at.Milliseconds())

	// The default prefix.
	id := "_" + token()
	t.Cleanup(func() { rdb.Del(context.Background(), redisstore.DefaultKeyPrefix+"replay:"+id) })
	_, err = redisstore.NewReplayCache(rdb, redisstore.Options{}).Use(ctx, id, exp)
	require.NoError(t, err)
	n, err := rdb.Exists(ctx, "clave:replay:"+id).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

// TestReplayCacheExpiryPastOnServer: an expiry the server's clock has
// already passed is refused with an error, whatever the caller's clock
// says, and not recorded.
func TestReplayCacheExpiryPastOnServer(t *testing.T) {
	connect, prefix := server(t)
	rdb := connect()
	c := redisstore.NewReplayCache(rdb, redisstore.Options{KeyPrefix: prefix})
	ctx := context.Background()
	for _, exp := range []time.Time{time.Now().Add(-time.Second), time.Unix(0, 0), {}} {
		used, err := c.Use(ctx, "_old", exp)
		assert.ErrorIs(t, err, redisstore.ErrExpired, "expiry %v", exp)
		assert.False(t, used)
		n, err := rdb.Exists(ctx, prefix+"replay:_old").Result()
		require.NoError(t, err)
		assert.Zero(t, n)
	}
}

// TestRedisErrorsAreErrors: a server that cannot be reached, a closed client
// or a cancelled context give an error, never "not used" nor "no session".
func TestRedisErrorsAreErrors(t *testing.T) {
	connect, prefix := server(t)
	closed := connect()
	require.NoError(t, closed.Close())
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { down.Close() })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, tc := range map[string]struct {
		rdb *redis.Client
		ctx context.Context
	}{
		"server down":       {down, context.Background()},
		"client closed":     {closed, context.Background()},
		"context cancelled": {connect(), cancelled},
	} {
		t.Run(name, func(t *testing.T) {
			opts := redisstore.Options{KeyPrefix: prefix}
			used, err := redisstore.NewReplayCache(tc.rdb, opts).Use(tc.ctx, "_x", time.Now().Add(time.Hour))
			assert.Error(t, err)
			assert.False(t, used)
			s := redisstore.NewSessionStore(tc.rdb, opts)
			_, err = s.Load(tc.ctx, "sid")
			assert.Error(t, err)
			assert.NotErrorIs(t, err, clave.ErrNoSession)
			assert.Error(t, s.Save(tc.ctx, "sid", []byte("x"), time.Now().Add(time.Hour)))
			assert.Error(t, s.Delete(tc.ctx, "sid"))
		})
	}
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
