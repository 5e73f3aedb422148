package samlidp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

func TestPeekAuthnRequest(t *testing.T) {
	raw := signedTestRequest(t, nil)

	t.Run("reads what ParseAuthnRequest reads", func(t *testing.T) {
		want, err := samlidp.ParseAuthnRequest(raw, spTrust, samlidp.RequestPolicy{Now: func() time.Time { return testNow }})
		require.NoError(t, err)
		got, err := samlidp.PeekAuthnRequest(raw)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})

	t.Run("ignores signature and clock", func(t *testing.T) {
		// A tampered request still peeks: the caller was warned.
		tampered := []byte(strings.Replace(string(raw), testACS, "https://other.example.es/acs", 1))
		got, err := samlidp.PeekAuthnRequest(tampered)
		require.NoError(t, err)
		assert.Equal(t, "https://other.example.es/acs", got.ACSURL)
		unsigned, err := (&saml.AuthnRequest{IssueInstant: testNow.Add(-48 * time.Hour), Destination: "d", ACSURL: testACS,
			SPID: "S", ApplicationName: "A", LoA: saml.LoAHigh}).Build()
		require.NoError(t, err)
		out, err := unsigned.WriteToBytes()
		require.NoError(t, err)
		got, err = samlidp.PeekAuthnRequest(out)
		require.NoError(t, err)
		assert.Equal(t, saml.LoAHigh, got.LoA)
	})

	t.Run("still parses safely", func(t *testing.T) {
		for name, tc := range map[string]struct {
			doc  string
			want error
		}{
			"doctype":       {`<!DOCTYPE x [<!ENTITY a "b">]><x/>`, saml.ErrMalformed},
			"other root":    {`<saml2p:Response xmlns:saml2p="` + saml.NSProtocol + `" ID="a" Version="2.0"/>`, saml.ErrUnexpectedRoot},
			"no ACS":        {strings.Replace(string(raw), `AssertionConsumerServiceURL=`, `X=`, 1), saml.ErrMissingElement},
			"no LoA":        {strings.Replace(string(raw), saml.LoASubstantialURI, "medium", 1), saml.ErrLoA},
			"bad instant":   {strings.Replace(string(raw), `IssueInstant="`, `IssueInstant="x`, 1), saml.ErrMalformed},
			"too large":     {"<a>" + strings.Repeat(" ", saml.DefaultMaxMessageSize) + "</a>", saml.ErrTooLarge},
			"wrong version": {strings.Replace(string(raw), `Version="2.0"`, `Version="1.1"`, 1), saml.ErrVersion},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := samlidp.PeekAuthnRequest([]byte(tc.doc))
				assert.ErrorIs(t, err, tc.want)
			})
		}
	})
}
