package conformance_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/conformance"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

// A service on package clave, tested in-process: the kit starts each login
// with NewLogin and posts its responses to ValidateResponse.
func Example() {
	kit, err := conformance.NewKit(conformance.KitConfig{Cases: []string{"signature-coverage"}})
	if err != nil {
		panic(err)
	}
	sp, err := pki.Generate("agencia", 2048, time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		panic(err)
	}
	const acs = "https://sede.example.es/clave/acs"
	c, err := clave.New(clave.Config{
		GatewayCertificates: saml.StaticCertificates(kit.TrustedCertificates()), // the kit's, for the test
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "Ejemplo",
		ACSURL:              acs,
		Key:                 sp.Key,
		Certificate:         sp.Certificate,
		CookieSecret:        []byte("0123456789abcdef0123456789abcdef"),
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	rep, err := kit.Run(context.Background(), conformance.FuncTarget{
		ACSURL: acs,
		Start: func(context.Context) (conformance.RequestInfo, error) {
			_, p, err := c.NewLogin(clave.LoginOptions{})
			return conformance.RequestInfo{ID: p.RequestID, RelayState: p.RelayState, LoA: p.LoA}, err
		},
		Validate: func(ctx context.Context, req conformance.RequestInfo, field, relayState string) error {
			_, err := c.ValidateResponse(ctx, field, relayState,
				clave.PendingLogin{RequestID: req.ID, RelayState: req.RelayState, LoA: req.LoA})
			return err
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("all passed:", rep.OK(), rep.Passed == len(rep.Cases))
	// Output: all passed: true true
}
