// Package redisstore keeps an agency's replay cache and sessions in Redis,
// so that any number of replicas of the service, and its restarts, share
// them: a Cl@ve response is accepted once across the cluster, and logging
// out on one replica ends the session on all of them.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379"})
//	cfg.ReplayCache = redisstore.NewReplayCache(rdb, redisstore.Options{})
//	cfg.SessionStore = redisstore.NewSessionStore(rdb, redisstore.Options{})
//
// It is a package of its own so that only the services that choose Redis
// link a Redis client: package clave imports none.
//
// Entries expire on the Redis server's clock (SET ... PXAT, Redis 6.2 or
// later), at the instant the Client asks for, whatever replica wrote them.
// That clock must agree with the replicas' within Config.Skew, as theirs
// agree with the gateway's.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clave-go/clave"
)

// DefaultKeyPrefix starts every key when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "clave:"

// Options configures a ReplayCache or a SessionStore.
type Options struct {
	// KeyPrefix starts every key written, so that several services can
	// share one server without reading each other's entries; default
	// DefaultKeyPrefix. Used assertions are KeyPrefix+"replay:"+ID and
	// sessions KeyPrefix+"session:"+ID.
	KeyPrefix string
}

func (o Options) prefix() string {
	if o.KeyPrefix == "" {
		return DefaultKeyPrefix
	}
	return o.KeyPrefix
}

// ErrExpired is returned by ReplayCache.Use when the expiry it was given has
// already passed on the Redis server's clock, so that the server did not
// keep the entry. If the caller's clock thought otherwise, one of the clocks
// is wrong, and accepting the assertion could let it be replayed: the
// Client refuses the login.
var ErrExpired = errors.New("redisstore: expiry already past on the Redis server's clock")

// ReplayCache is a clave.ReplayCache in Redis.
type ReplayCache struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ clave.ReplayCache = (*ReplayCache)(nil)

// NewReplayCache returns a replay cache on rdb, which the caller keeps and
// closes. It panics if rdb is nil.
func NewReplayCache(rdb redis.UniversalClient, opts Options) *ReplayCache {
	if rdb == nil {
		panic("redisstore: NewReplayCache with a nil client")
	}
	return &ReplayCache{rdb: rdb, prefix: opts.prefix() + "replay:"}
}

// Use implements clave.ReplayCache with SET key 1 NX PXAT expiry: of the
// replicas that use one ID at once, Redis lets exactly one create the key.
// An expiry already past on the server's clock is refused with ErrExpired;
// errors of Redis are returned, and refuse the login.
func (c *ReplayCache) Use(ctx context.Context, id string, expiry time.Time) (bool, error) {
	key := c.prefix + id
	var set *redis.Cmd
	var exists *redis.IntCmd
	// EXISTS in the same transaction tells whether the key was kept: SET
	// with an expiry already past answers OK but keeps nothing.
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Do(ctx, "SET", key, "1", "NX", "PXAT", pxat(expiry))
		exists = p.Exists(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("redisstore: replay cache: %w", err)
	}
	switch err := set.Err(); {
	case errors.Is(err, redis.Nil):
		return true, nil // NX: the key exists, unexpired
	case err != nil:
		return false, fmt.Errorf("redisstore: replay cache: %w", err)
	}
	if err := exists.Err(); err != nil {
		return false, fmt.Errorf("redisstore: replay cache: %w", err)
	}
	if exists.Val() == 0 {
		return false, ErrExpired
	}
	return false, nil
}

// SessionStore is a clave.SessionStore in Redis: each session is a string
// key expiring with the session.
type SessionStore struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ clave.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns a session store on rdb, which the caller keeps and
// closes. It panics if rdb is nil.
func NewSessionStore(rdb redis.UniversalClient, opts Options) *SessionStore {
	if rdb == nil {
		panic("redisstore: NewSessionStore with a nil client")
	}
	return &SessionStore{rdb: rdb, prefix: opts.prefix() + "session:"}
}

// Save implements clave.SessionStore with SET key data PXAT expiry. An
// expiry already past leaves no session under id.
func (s *SessionStore) Save(ctx context.Context, id string, data []byte, expiry time.Time) error {
	if err := s.rdb.Do(ctx, "SET", s.prefix+id, data, "PXAT", pxat(expiry)).Err(); err != nil {
		return fmt.Errorf("redisstore: save session: %w", err)
	}
	return nil
}

// Load implements clave.SessionStore.
func (s *SessionStore) Load(ctx context.Context, id string) ([]byte, error) {
	data, err := s.rdb.Get(ctx, s.prefix+id).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, clave.ErrNoSession
	case err != nil:
		return nil, fmt.Errorf("redisstore: load session: %w", err)
	}
	return data, nil
}

// Delete implements clave.SessionStore.
func (s *SessionStore) Delete(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.prefix+id).Err(); err != nil {
		return fmt.Errorf("redisstore: delete session: %w", err)
	}
	return nil
}

// pxat is t as PXAT takes it: Unix milliseconds rounded up, so that no
// entry is kept for less than asked, and at least 1, since Redis refuses
// times before 1970 ("invalid expire time") rather than expire the key at
// once.
func pxat(t time.Time) int64 {
	switch {
	case t.Before(time.UnixMilli(1)):
		return 1
	case t.After(time.UnixMilli(math.MaxInt64 - 1)):
		return math.MaxInt64
	}
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}
