package clavetest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

func TestLogInWithPhone(t *testing.T) {
	gw := clavetest.NewGateway()
	defer gw.Close()
	mux := http.NewServeMux()
	agency := httptest.NewServer(mux)
	defer agency.Close()
	client, err := clave.New(gw.Config(agency.URL + "/clave/acs"))
	require.NoError(t, err)
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprint(w, id.GivenName, " ", id.PersonIdentifier, " ", id.Method, " ", id.LoA)
	})))
	ctx := context.Background()

	phone, err := gw.Phone(ctx, clavetest.DemoCitizen)
	require.NoError(t, err)
	page, status, err := gw.Browser().LogInWithPhone(ctx, agency.URL+"/tramite", clavetest.DemoCitizen, phone)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "MARIA 12345678Z CLVMOVIL substantial", page)

	t.Run("a declining phone ends the login refused", func(t *testing.T) {
		phone.Decision = mobile.Decline
		page, status, err := gw.Browser().LogInWithPhone(ctx, agency.URL+"/tramite", clavetest.DemoCitizen, phone)
		require.NoError(t, err)
		assert.NotEqual(t, http.StatusOK, status, page)
		assert.NotContains(t, page, "MARIA 12345678Z")
	})
	t.Run("a phone of a wrong contrast datum is never activated", func(t *testing.T) {
		_, err := gw.Phone(ctx, clavetest.Citizen{ID: clavetest.DemoCitizen.ID, Contrast: "02/02/2031"})
		require.Error(t, err)
	})
	t.Run("the citizen's history shows both logins", func(t *testing.T) {
		hist, err := phone.Session.History(ctx, app.HistoryQuery{})
		require.NoError(t, err)
		require.Len(t, hist, 2)
		assert.Equal(t, mobile.StateDeclined, hist[0].Outcome, "newest first")
		assert.Equal(t, mobile.StateConfirmed, hist[1].Outcome)
	})
}
