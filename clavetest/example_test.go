package clavetest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
)

// An agency's integration test of a whole Cl@ve login: the gateway in
// process, the agency's real handlers, and a citizen who logs in with Cl@ve
// PIN.
func Example() {
	gw := clavetest.NewGateway()
	defer gw.Close()
	mux := http.NewServeMux()
	agency := httptest.NewServer(mux)
	defer agency.Close()
	client, _ := clave.New(gw.Config(agency.URL + "/clave/acs"))
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintln(w, id.GivenName, id.PersonIdentifier, id.Method)
	})))
	page, status, err := gw.Browser().LogIn(context.Background(), agency.URL+"/tramite", clavetest.DemoCitizen)
	if err != nil {
		panic(err)
	}
	fmt.Print(status, " ", page)
	// Output: 200 MARIA 12345678Z AEAT
}
