package gateway_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

// Two gateway processes on one database and one secret hold the same
// persona phones: the second one starting does not replace the devices
// the first activated, so the first's personas still answer.
func TestPersonaPhonesSharedByGatewaysOnOneDatabase(t *testing.T) {
	t.Parallel()
	db, err := gateway.OpenDB(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var cfg gateway.Config
	w := newWorld(t, func(c *gateway.Config) {
		withPersonas(c)
		c.DB = db
		cfg = *c
	}, nil, nil)

	second, err := gateway.New(context.Background(), cfg)
	require.NoError(t, err)
	_ = second

	m := w.startMovil()
	m.push(personaApprove, personaValid)
	m.finish()
	assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	assert.Contains(t, m.page, "hola ANA|99999901H|substantial|CLVMOVIL")
}
