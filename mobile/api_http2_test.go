package mobile_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

// Over HTTP/2 a connection cannot be taken over: the long-poll waits in its
// handler, woken the same way.
func TestAPIRequestsLongPollOverHTTP2(t *testing.T) {
	e := newAPIEnv(t, nil)
	h := e.srv.Config.Handler
	e.srv.Close()
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.EnableHTTP2 = true
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)

	p := e.activated(t, citizen)
	done := make(chan answer, 1)
	at, n := e.clock.Now(), e.nonce()
	go func() {
		done <- e.signedAt(t, context.Background(), p, http.MethodGet, "/app/v1/requests?wait=60", nil, at, n)
	}()
	assert.Equal(t, mobile.CitizenTopic(citizen), await(t, e.signals.subscribed, "subscription"))
	r := e.pushRequest(t, citizen, "Agencia Tributaria")
	list := listRequests(t, await(t, done, "answer"))
	require.Len(t, list, 1)
	assert.Equal(t, r.ID, list[0].ID)
	await(t, e.signals.stopped, "unsubscription")

	resp, err := e.srv.Client().Get(e.srv.URL + "/app/v1/activation/challenge")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor, "the calls went over HTTP/2")
}
