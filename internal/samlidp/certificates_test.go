package samlidp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

func TestMarshalCertificatesDocumentRoundTrip(t *testing.T) {
	testKeys(t)
	in := []saml.PublishedCertificate{
		{Use: saml.UseSigning, KeyName: "SELLO PASARELA 2025", State: "active", Certificate: idpKeys.Certificate},
		{Use: saml.UseSigning, KeyName: "SELLO PASARELA 2026", State: "next", Certificate: evilKeys.Certificate},
		{Use: saml.UseEncryption, KeyName: "CIFRADO & <PASARELA>", State: "active", Certificate: spKeys.Certificate},
		{Certificate: idpKeys.Certificate},
	}
	data, err := samlidp.MarshalCertificatesDocument(in)
	require.NoError(t, err)
	assert.Contains(t, string(data), `<md:Certificates xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`)
	assert.Contains(t, string(data), `<md:KeyDescriptor use="signing">`)

	out, err := saml.ParseCertificatesDocument(data)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		assert.Equal(t, in[i].Use, out[i].Use)
		assert.Equal(t, in[i].KeyName, out[i].KeyName)
		assert.Equal(t, in[i].State, out[i].State)
		assert.True(t, in[i].Certificate.Equal(out[i].Certificate))
	}
}

func TestMarshalCertificatesDocumentRefusals(t *testing.T) {
	testKeys(t)
	tooMany := make([]saml.PublishedCertificate, saml.MaxPublishedCertificates+1)
	for i := range tooMany {
		tooMany[i] = saml.PublishedCertificate{Use: saml.UseSigning, Certificate: idpKeys.Certificate}
	}
	tests := []struct {
		name  string
		certs []saml.PublishedCertificate
	}{
		{"none", nil},
		{"nil certificate", []saml.PublishedCertificate{{Use: saml.UseSigning}}},
		{"unknown use", []saml.PublishedCertificate{{Use: "sign", Certificate: idpKeys.Certificate}}},
		{"too many", tooMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := samlidp.MarshalCertificatesDocument(tc.certs)
			require.Error(t, err)
		})
	}
}
