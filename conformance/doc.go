// Package conformance is the Cl@ve service-provider conformance kit. It plays
// the gateway against a service: for every case of a catalogue of responses
// (valid ones in the shapes the real gateway uses, and forged, wrapped,
// re-signed, expired, mis-addressed, replayed, malformed ones) it starts a
// login at the service, answers it, and checks that the service accepted or
// refused the answer as a correct service must.
//
// In an agency's own tests, start the service with the kit's certificates as
// the trusted gateway certificates and the kit's Issuer, then:
//
//	func TestClave(t *testing.T) {
//		kit, err := conformance.NewKit(conformance.KitConfig{})
//		if err != nil {
//			t.Fatal(err)
//		}
//		srv := httptest.NewServer(newApp(kit.Issuer(), kit.TrustedCertificates()))
//		defer srv.Close()
//		conformance.Test(t, kit, conformance.HTTPTarget{StartURL: srv.URL + "/perfil"})
//	}
//
// Against a running service, use the command in examples/conformance, which
// keeps its keys in a directory (KitConfig.KeyDir) so the service is
// configured once, and writes JSON and HTML reports. A service that does not
// answer is one *UnreachableError, not a run of failed cases: from
// HTTPTarget.Check before the run, or from Kit.Run (and Test) at the first
// case that cannot reach it.
//
// Services built on package clave pass every case; the kit exists so that
// services built on anything else can show they do too.
package conformance
