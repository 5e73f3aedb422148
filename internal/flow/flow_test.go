package flow_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/flow/flowtest"
	"github.com/clave-go/clave/internal/store/sqlite"
)

func TestMemoryStoreConformance(t *testing.T) {
	flowtest.RunStoreTests(t, func(t *testing.T, now func() time.Time) flow.Store { return flow.NewMemoryStore(now) })
}

func TestSQLStoreConformance(t *testing.T) {
	flowtest.RunStoreTests(t, func(t *testing.T, now func() time.Time) flow.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "flows.db"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := flow.NewSQLStore(context.Background(), db, now)
		require.NoError(t, err)
		return s
	})
}

func TestBrowserKey(t *testing.T) {
	key, hash, err := flow.NewBrowserKey()
	require.NoError(t, err)
	f := &flow.Flow{BrowserKeyHash: hash}
	assert.True(t, f.CheckBrowserKey(key))
	assert.False(t, f.CheckBrowserKey(key+"x"))
	assert.False(t, (&flow.Flow{}).CheckBrowserKey(key), "a flow without a key matches nothing")
}
