package faults

import (
	"crypto/x509"
	"time"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// SampleBases are the starting points the catalogue's own tests (and package
// saml's, which run every case through its Validator) build each case from:
// one shaped like saml's older tests (fixed IDs, a DNI, substantial), and two
// gateway-like ones with generated IDs, other levels, a NIE, the production
// issuer and instants with milliseconds, so that no case depends on one
// Base's particulars. keys sign them, encryptFor is the service's encryption
// certificate (nil skips nothing here: cases that need it then fail to
// build), and now is the delivery instant; keys must be valid at now.
func SampleBases(keys Keys, encryptFor *x509.Certificate, now time.Time) map[string]*Base {
	return map[string]*Base{
		"substantial": {Now: now, Keys: keys, EncryptFor: encryptFor, Params: samlidp.ResponseParams{
			ID: "_resp1", AssertionID: "_assert1", InResponseTo: "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11",
			Destination: "https://sede.example.es/clave/acs", Issuer: saml.PreproductionIssuer,
			IssueInstant: now.Add(-2 * time.Second), NameID: saml.NameID{Value: "12345678Z"},
			SubjectAddress: "10.0.0.1", LoA: saml.LoASubstantial, Attributes: sampleAttributes("12345678Z"),
		}},
		"low": {Now: now.Add(1234 * time.Millisecond), Keys: keys, EncryptFor: encryptFor, Params: samlidp.ResponseParams{
			InResponseTo: "_a0b1c2d3e4f5061728394a5b6c7d8e9f00112233",
			Destination:  "https://tramites.example.gob.es/login/saml/acs", Issuer: saml.ProductionIssuer,
			IssueInstant: now.Add(-766 * time.Millisecond), NameID: saml.NameID{Value: "X1234567L"},
			SubjectAddress: "10.1.2.3", LoA: saml.LoALow, Attributes: sampleAttributes("X1234567L"),
		}},
		"high": {Now: now, Keys: keys, EncryptFor: encryptFor, Params: samlidp.ResponseParams{
			InResponseTo: "_ffeeddccbbaa99887766554433221100ffeeddcc",
			Destination:  "https://sede.example.es/clave/acs", Issuer: saml.PreproductionIssuer,
			IssueInstant: now.Add(-3*time.Second - 250*time.Millisecond), AuthnInstant: now.Add(-20 * time.Second),
			NameID: saml.NameID{Value: "99999999R"}, LoA: saml.LoAHigh, Attributes: sampleAttributes("99999999R"),
		}},
	}
}

// sampleAttributes are a Cl@ve PIN login's attributes for the citizen pid.
func sampleAttributes(pid string) []saml.Attribute {
	return []saml.Attribute{
		{Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName", XSIType: "eidas-natural:CurrentFamilyNameType", Values: []string{"GARCIA LOPEZ"}},
		{Name: saml.AttrCurrentGivenName, FriendlyName: "FirstName", XSIType: "eidas-natural:CurrentGivenNameType", Values: []string{"MARIA"}},
		{Name: saml.AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{pid}},
		{Name: saml.AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{"GARCIA"}},
		{Name: saml.AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{"AEAT"}},
	}
}
