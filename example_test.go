package clave_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

// exampleKeys stands in for the service's registered key pair and the gateway's
// published certificate.
func exampleKeys() (sp, gateway *pki.KeyPair) {
	sp, _ = pki.Generate("sede.example.es", 2048, time.Now().Add(-time.Hour), 24*time.Hour)
	gateway, _ = pki.Generate("pasarela", 2048, time.Now().Add(-time.Hour), 24*time.Hour)
	return sp, gateway
}

// A service mounts the ACS, a logout endpoint, and protects its pages.
func Example() {
	sp, gateway := exampleKeys()
	c, err := clave.New(clave.Config{
		Environment:         clave.Preproduction,
		GatewayCertificates: saml.StaticCertificates{gateway.Certificate},
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "MiAplicacion",
		ACSURL:              "https://sede.example.es/clave/acs",
		Key:                 sp.Key,
		Certificate:         sp.Certificate,
		CookieSecret:        []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", c.ACSHandler())
	mux.Handle("/clave/logout", c.LogoutHandler())
	mux.Handle("/tramites/", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "Hola, %s (%s, nivel %s)", id.GivenName, id.DocumentType, id.LoA)
	})))
	fmt.Println(c.GatewayURL())
	// Output: https://se-pasarela.clave.gob.es/Proxy2/ServiceProvider
}

// NewLogin is the building block of StartLogin for services that keep the
// pending login themselves (a server-side session, a mobile back end).
func ExampleClient_NewLogin() {
	sp, gateway := exampleKeys()
	c, err := clave.New(clave.Config{
		Environment:         clave.Custom,
		GatewayURL:          "http://127.0.0.1:9000/Proxy2/ServiceProvider",
		GatewayIssuer:       "http://127.0.0.1:9000",
		GatewayCertificates: saml.StaticCertificates{gateway.Certificate},
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "MiAplicacion",
		ACSURL:              "http://127.0.0.1:8080/clave/acs",
		Key:                 sp.Key,
		CookieSecret:        []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		panic(err)
	}
	form, pending, err := c.NewLogin(clave.LoginOptions{
		LoA:             saml.LoAHigh,
		DisabledMethods: []saml.Method{saml.MethodGISS},
		ReturnTo:        "https://evil.example/", // not a local path: dropped
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(form.Action, form.Field)
	fmt.Println(pending.LoA, pending.RelayState == form.RelayState, pending.ReturnTo == "")
	// Later, with the posted SAMLResponse and RelayState:
	//   id, err := c.ValidateResponse(ctx, samlResponse, relayState, pending)
	// Output:
	// http://127.0.0.1:9000/Proxy2/ServiceProvider SAMLRequest
	// high true true
}
