package flow

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store"
)

func TestMemoryStoreConformance(t *testing.T) {
	RunStoreConformance(t, func(t *testing.T, now func() time.Time) Store { return NewMemoryStore(now) })
}

func TestSQLStoreConformance(t *testing.T) {
	RunStoreConformance(t, func(t *testing.T, now func() time.Time) Store {
		db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "flows.db"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := NewSQLStore(context.Background(), db, now)
		require.NoError(t, err)
		return s
	})
}

func TestBrowserKey(t *testing.T) {
	key, hash, err := NewBrowserKey()
	require.NoError(t, err)
	f := &Flow{BrowserKeyHash: hash}
	assert.True(t, f.CheckBrowserKey(key))
	assert.False(t, f.CheckBrowserKey(key+"x"))
	assert.False(t, (&Flow{}).CheckBrowserKey(key), "a flow without a key matches nothing")
}
