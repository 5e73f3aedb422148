package saml_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/clave-go/clave/saml"
)

// A service builds a signed AuthnRequest and sends it to the gateway in an
// auto-submitting form.
func Example() {
	key, err := rsa.GenerateKey(rand.Reader, 2048) // in production: the SP's registered key
	if err != nil {
		log.Fatal(err)
	}
	req := &saml.AuthnRequest{
		IssueInstant:    time.Now(),
		Destination:     saml.PreproductionURL,
		ACSURL:          "https://sede.example.es/clave/acs",
		SPID:            "S0000000E_E00000000",
		ApplicationName: "MiAplicacion",
		LoA:             saml.LoASubstantial,
		Attributes:      []saml.RequestedAttribute{saml.ReqPersonIdentifier, saml.ReqCurrentGivenName},
	}
	signed, err := req.Sign(&saml.Signer{Key: key})
	if err != nil {
		log.Fatal(err)
	}
	relayState := "login-42" // in production: random, bound to the browser
	if err := saml.CheckRelayState(relayState); err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	saml.PostForm{
		Action:     saml.PreproductionURL,
		Field:      saml.FieldSAMLRequest,
		Message:    signed,
		RelayState: relayState,
	}.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))

	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"))
	fmt.Println(strings.Contains(rec.Body.String(), `name="SAMLRequest"`))
	// Output:
	// 200 no-store
	// true
}

// At the ACS, a response is validated against the request it answers. Every
// refusal wraps one of the package's sentinel errors; an error status from the
// gateway is a *StatusError.
func ExampleValidator_ValidateResponse() {
	v := &saml.Validator{
		Trust:  saml.StaticCertificates{}, // in production: a CertificateFetcher
		ACSURL: "https://sede.example.es/clave/acs",
		Issuer: saml.PreproductionIssuer,
	}
	exp := saml.Expectation{RequestID: "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11", MinLoA: saml.LoASubstantial}
	for _, msg := range []string{
		`<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>`,
		`<saml2p:LogoutResponse xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0"/>`,
	} {
		a, err := v.ValidateResponse([]byte(msg), exp)
		var status *saml.StatusError
		fmt.Println(a == nil, errors.Is(err, saml.ErrMalformed), errors.Is(err, saml.ErrUnexpectedRoot), errors.As(err, &status))
	}
	// Output:
	// true true false false
	// true false true false
}

func ExampleAuthnRequest_Build() {
	req := &saml.AuthnRequest{
		ID:              "_req1",
		IssueInstant:    time.Date(2026, 3, 1, 11, 0, 0, 0, time.FixedZone("CET", 3600)),
		Destination:     saml.PreproductionURL,
		ACSURL:          "https://sede.example.es/clave/acs",
		SPID:            "S0000000E_E00000000",
		ApplicationName: "MiAplicacion",
		LoA:             saml.LoASubstantial,
		// Only Cl@ve Móvil and Cl@ve PIN stay on the chooser.
		Disabled:        []saml.Method{saml.MethodAfirma, saml.MethodGISS, saml.MethodEIDAS},
		ClaveRelayState: "k3J9xQ2a",
	}
	doc, err := req.Build()
	if err != nil {
		log.Fatal(err)
	}
	root := doc.Root()
	fmt.Println(root.SelectAttrValue("ProviderName", ""))
	fmt.Println(root.SelectAttrValue("IssueInstant", ""))
	for _, el := range root.ChildElements() {
		fmt.Println(el.FullTag())
	}
	for _, ra := range doc.FindElements("//RequestedAttribute") {
		fmt.Println(" ", ra.SelectAttrValue("FriendlyName", ""))
	}
	fmt.Println(doc.FindElement("//AuthnContextClassRef").Text())
	// Output:
	// S0000000E_E00000000;MiAplicacion
	// 2026-03-01T10:00:00.000Z
	// saml2p:Extensions
	// saml2p:NameIDPolicy
	// saml2p:RequestedAuthnContext
	//   RelayState
	//   AFirmaIdP
	//   GISSIdP
	//   EIDASIdP
	// http://eidas.europa.eu/LoA/substantial
}

func ExamplePostForm() {
	var page bytes.Buffer
	err := saml.PostForm{
		Action:     saml.PreproductionURL,
		Field:      saml.FieldSAMLRequest,
		Message:    []byte("<AuthnRequest/>"),
		RelayState: `"><script>`,
	}.Write(&page)
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(page.String(), "\n") {
		if strings.Contains(line, "<form") || strings.Contains(line, "<input") {
			fmt.Println(line)
		}
	}
	// Output:
	// <form method="post" action="https://se-pasarela.clave.gob.es/Proxy2/ServiceProvider" id="saml-post">
	// <input type="hidden" name="SAMLRequest" value="PEF1dGhuUmVxdWVzdC8&#43;">
	// <input type="hidden" name="RelayState" value="&#34;&gt;&lt;script&gt;">
}

func ExampleParseLoA() {
	for _, s := range []string{"substantial", saml.LoAHighURI, "medium"} {
		l, ok := saml.ParseLoA(s)
		fmt.Println(l, ok, l.URI(), l >= saml.LoASubstantial)
	}
	// Output:
	// substantial true http://eidas.europa.eu/LoA/substantial true
	// high true http://eidas.europa.eu/LoA/high true
	// invalid false  false
}

func ExampleCheckRelayState() {
	fmt.Println(saml.CheckRelayState("8f3a9c"))
	fmt.Println(saml.CheckRelayState(strings.Repeat("x", saml.MaxRelayState+1)) != nil)
	fmt.Println(saml.CheckRelayState("a\nb") != nil)
	// Output:
	// <nil>
	// true
	// true
}

func ExampleMethod_DisableAttribute() {
	// To offer only Cl@ve Móvil, disable every other method.
	for _, m := range saml.Methods {
		if m != saml.MethodMovil {
			fmt.Println(m.DisableAttribute())
		}
	}
	fmt.Printf("%q\n", saml.Method("PIN24H").DisableAttribute())
	// Output:
	// http://es.minhafp.clave/AEATIdP
	// http://es.minhafp.clave/GISSIdP
	// http://es.minhafp.clave/AFirmaIdP
	// http://es.minhafp.clave/EIDASIdP
	// ""
}
