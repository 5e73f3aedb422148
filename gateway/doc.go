// Package gateway is the reference Cl@ve gateway: a SAML identity provider
// that speaks the real gateway's protocol (DESIGN: HTTP-POST AuthnRequests
// to /Proxy2/ServiceProvider, signed Responses posted back to the ACS URL,
// the certificates document at /Proxy2/Certificates, logout), so that an
// agency can switch between it and the real pre-production gateway by
// configuration alone.
//
//	db, err := gateway.OpenDB(ctx, "gateway.db") // or nil: everything in memory
//	gw, err := gateway.New(ctx, gateway.Config{
//		BaseURL:    "http://127.0.0.1:9000",
//		SigningKey: key, SigningCertificate: cert,
//		ServiceProviders: []gateway.ServiceProvider{{
//			SPID: "S0000000E_E00000000", Certificates: []*x509.Certificate{spCert},
//			ACSURLs: []string{"https://sede.example.es/clave/acs"}}},
//		DB: db, Personas: true,
//	})
//	http.ListenAndServe("127.0.0.1:9000", gw)
//
// The citizen chooses a method on the chooser page: Cl@ve PIN is built in;
// methods are plugged in through the public contract of package
// gateway/method (Config.Methods). The gateway alone builds, signs and posts
// the Response.
//
// For tests and demos it offers controls: reserved personas with fixed
// outcomes (Personas, ArmPersona), armed faults from the conformance
// catalogue (ArmFault), an adjustable clock (AdvanceClock), inspection of the
// last exchanges (Inspect), and an admin page when Config.AdminToken is set.
// An agency's own tests use package clavetest, which starts one in process.
//
// It is a test and staging identity provider: it holds synthetic citizens,
// and whoever holds its admin token can make it send forged responses.
package gateway
