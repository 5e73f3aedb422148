package saml_test

import (
	"encoding/base64"
	"fmt"
	"log"
	"time"

	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

// The gateway publishes its keys at CertificatesPath. During a rollover two
// signing certificates are listed, and both are to be trusted.
func ExampleParseCertificatesDocument() {
	// Stand-ins for the gateway's certificates.
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	current, err := pki.Generate("SELLO PASARELA 2026", 2048, from, 365*24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	next, err := pki.Generate("SELLO PASARELA 2027", 2048, from.AddDate(1, 0, 0), 365*24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	b64 := func(kp *pki.KeyPair) string { return base64.StdEncoding.EncodeToString(kp.Certificate.Raw) }

	doc := `<?xml version="1.0" encoding="UTF-8"?>
<md:Certificates xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <md:KeyDescriptor use="signing">
    <ds:KeyInfo>
      <ds:KeyName>sello-2026</ds:KeyName>
      <ds:MgmtData>active</ds:MgmtData>
      <ds:X509Data><ds:X509Certificate>` + b64(current) + `</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo>
  </md:KeyDescriptor>
  <md:KeyDescriptor use="signing">
    <ds:KeyInfo>
      <ds:KeyName>sello-2027</ds:KeyName>
      <ds:MgmtData>next</ds:MgmtData>
      <ds:X509Data><ds:X509Certificate>` + b64(next) + `</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo>
  </md:KeyDescriptor>
</md:Certificates>`

	certs, err := saml.ParseCertificatesDocument([]byte(doc))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range certs {
		fmt.Printf("%s %s (%s): %s, valid from %s\n", c.Use, c.KeyName, c.State,
			c.Certificate.Subject.CommonName, c.Certificate.NotBefore.Format(time.DateOnly))
	}
	// Output:
	// signing sello-2026 (active): SELLO PASARELA 2026, valid from 2026-01-01
	// signing sello-2027 (next): SELLO PASARELA 2027, valid from 2027-01-01
}
