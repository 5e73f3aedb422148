package saml

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPeekAuthnRequest(t *testing.T) {
	raw := signedTestRequest(t, nil)

	t.Run("reads what ParseAuthnRequest reads", func(t *testing.T) {
		want, err := ParseAuthnRequest(raw, spTrust, RequestPolicy{Now: func() time.Time { return testNow }})
		require.NoError(t, err)
		got, err := PeekAuthnRequest(raw)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})

	t.Run("ignores signature and clock", func(t *testing.T) {
		// A tampered request still peeks: the caller was warned.
		tampered := []byte(strings.Replace(string(raw), testACS, "https://other.example.es/acs", 1))
		got, err := PeekAuthnRequest(tampered)
		require.NoError(t, err)
		assert.Equal(t, "https://other.example.es/acs", got.ACSURL)
		unsigned, err := (&AuthnRequest{IssueInstant: testNow.Add(-48 * time.Hour), Destination: "d", ACSURL: testACS,
			SPID: "S", ApplicationName: "A", LoA: LoAHigh}).Build()
		require.NoError(t, err)
		out, err := unsigned.WriteToBytes()
		require.NoError(t, err)
		got, err = PeekAuthnRequest(out)
		require.NoError(t, err)
		assert.Equal(t, LoAHigh, got.LoA)
	})

	t.Run("still parses safely", func(t *testing.T) {
		for name, tc := range map[string]struct {
			doc  string
			want error
		}{
			"doctype":       {`<!DOCTYPE x [<!ENTITY a "b">]><x/>`, ErrMalformed},
			"other root":    {`<saml2p:Response xmlns:saml2p="` + NSProtocol + `" ID="a" Version="2.0"/>`, ErrUnexpectedRoot},
			"no ACS":        {strings.Replace(string(raw), `AssertionConsumerServiceURL=`, `X=`, 1), ErrMissingElement},
			"no LoA":        {strings.Replace(string(raw), LoASubstantialURI, "medium", 1), ErrLoA},
			"bad instant":   {strings.Replace(string(raw), `IssueInstant="`, `IssueInstant="x`, 1), ErrMalformed},
			"too large":     {"<a>" + strings.Repeat(" ", DefaultMaxMessageSize) + "</a>", ErrTooLarge},
			"wrong version": {strings.Replace(string(raw), `Version="2.0"`, `Version="1.1"`, 1), ErrVersion},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := PeekAuthnRequest([]byte(tc.doc))
				assert.ErrorIs(t, err, tc.want)
			})
		}
	})
}
