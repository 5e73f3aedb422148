package gateway_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/mobile/app"
)

// TestGatewayMovilRestartOnSameDatabase restarts the gateway on the same
// SQLite file: devices, requests waiting for the phone and SMS PINs sent
// live in the database, so a phone activated before the restart answers a
// login started before it, and an SMS PIN sent before it verifies after.
func TestGatewayMovilRestartOnSameDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	db1, err := gateway.OpenDB(ctx, path)
	require.NoError(t, err)
	closeDB1 := sync.OnceValue(db1.Close)
	t.Cleanup(func() { _ = closeDB1() })

	w := newSlotWorld(t, func(c *gateway.Config) { c.DB = db1 }, nil)
	require.NoError(t, w.gw.PutCitizen(ctx, citizen(t, maria, mariaValid, "MARIA", "GARCIA", "LOPEZ", mariaPhone, "advanced")))
	require.NoError(t, w.gw.PutCitizen(ctx, citizen(t, pedro, pedroValid, "PEDRO", "SANCHEZ", "GIL", pedroPhone, "advanced")))

	client := &app.Client{BaseURL: w.gwSrv.URL, Now: w.clock.Now, KDF: app.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}
	_, err = client.RequestActivationCode(ctx, maria, mariaValid)
	require.NoError(t, err)
	phone, err := client.ActivateSMS(ctx, maria, w.lastSMS(mariaPhone).Code, []byte("pass"))
	require.NoError(t, err)

	// María's login waits for her phone; Pedro, who has none, was sent
	// the SMS PIN.
	sMaria := w.start()
	mariaBase := sMaria.movilPage()
	sMaria.post(mariaBase+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
	require.Equal(t, http.StatusOK, sMaria.resp.StatusCode, sMaria.page)

	sPedro := w.start()
	pedroBase := sPedro.movilPage()
	sPedro.post(pedroBase+"push", url.Values{"document": {pedro}, "contrast": {pedroValid}})
	w.clock.Advance(61 * time.Second)
	sPedro.post(pedroBase+"sms", nil)
	require.Equal(t, http.StatusOK, sPedro.resp.StatusCode, sPedro.page)
	pedroPIN := w.lastSMS(pedroPhone).Code
	require.Regexp(t, `^[0-9]{6}$`, pedroPIN)

	require.NoError(t, closeDB1())
	w.clock.Advance(30 * time.Second)
	db2, err := gateway.OpenDB(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db2.Close() })
	w.swap(func(c *gateway.Config) { c.DB = db2 })

	t.Run("the phone answers a login started before the restart", func(t *testing.T) {
		s, err := phone.Unlock([]byte("pass"))
		require.NoError(t, err)
		reqs, err := s.Pending(ctx, 0)
		require.NoError(t, err)
		require.Len(t, reqs, 1)
		require.NoError(t, s.Confirm(ctx, reqs[0]))
		sMaria.see(sMaria.b.get(sMaria.gwURL(mariaBase)))
		sMaria.finish()
		assert.Equal(t, "hola MARIA|12345678Z|substantial|CLVMOVIL|GARCIA LOPEZ", sMaria.page)
	})
	t.Run("an SMS PIN sent before the restart verifies after it", func(t *testing.T) {
		sPedro.post(pedroBase+"verify", url.Values{"pin": {pedroPIN}})
		sPedro.finish()
		assert.Equal(t, "hola PEDRO|23456789D|substantial|CLVMOVIL|SANCHEZ GIL", sPedro.page)
	})
}
