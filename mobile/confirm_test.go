package mobile_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

var sampleConfirmation = mobile.Confirmation{LoginID: "L-1", RequestID: "req_2", Nonce: "n.3",
	Decision: mobile.Confirm, At: time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)}

const samplePayload = "clave-mobile-confirmation-v1\nlogin=L-1\nrequest=req_2\nnonce=n.3\ndecision=confirm\nat=1898589600"

func TestConfirmationPayloadIsCanonical(t *testing.T) {
	p, err := sampleConfirmation.Payload()
	require.NoError(t, err)
	assert.Equal(t, samplePayload, string(p))
	c, err := mobile.ParseConfirmation(p)
	require.NoError(t, err)
	assert.Equal(t, sampleConfirmation.LoginID, c.LoginID)
	assert.Equal(t, sampleConfirmation.RequestID, c.RequestID)
	assert.Equal(t, sampleConfirmation.Nonce, c.Nonce)
	assert.Equal(t, sampleConfirmation.Decision, c.Decision)
	assert.True(t, sampleConfirmation.At.Equal(c.At))
}

func TestConfirmationPayloadRefusesBadFields(t *testing.T) {
	for name, mod := range map[string]func(*mobile.Confirmation){
		"empty login":       func(c *mobile.Confirmation) { c.LoginID = "" },
		"newline in nonce":  func(c *mobile.Confirmation) { c.Nonce = "a\ndecision=decline" },
		"equals in request": func(c *mobile.Confirmation) { c.RequestID = "a=b" },
		"long login":        func(c *mobile.Confirmation) { c.LoginID = strings.Repeat("a", 129) },
		"unknown decision":  func(c *mobile.Confirmation) { c.Decision = "maybe" },
		"before 1970":       func(c *mobile.Confirmation) { c.At = time.Unix(-1, 0) },
	} {
		c := sampleConfirmation
		mod(&c)
		_, err := c.Payload()
		assert.ErrorIs(t, err, mobile.ErrBadPayload, name)
	}
}

func TestParseConfirmationAcceptsOnlyTheCanonicalForm(t *testing.T) {
	for name, p := range map[string]string{
		"trailing newline": samplePayload + "\n",
		"other header":     strings.Replace(samplePayload, "-v1", "-v2", 1),
		"fields swapped":   strings.Replace(strings.Replace(samplePayload, "login=L-1", "X", 1), "request=req_2", "login=L-1", 1),
		"space":            strings.Replace(samplePayload, "login=L-1", "login= L-1", 1),
		"leading zero":     strings.Replace(samplePayload, "at=1", "at=01", 1),
		"plus sign":        strings.Replace(samplePayload, "at=1", "at=+1", 1),
		"CRLF":             strings.ReplaceAll(samplePayload, "\n", "\r\n"),
		"extra line":       samplePayload + "\nextra=1",
		"bad decision":     strings.Replace(samplePayload, "confirm", "Confirm", 1),
		"huge":             samplePayload + strings.Repeat("a", 2000),
		"empty":            "",
	} {
		_, err := mobile.ParseConfirmation([]byte(p))
		assert.ErrorIs(t, err, mobile.ErrBadPayload, name)
	}
}

func TestVerifyConfirmation(t *testing.T) {
	p := newPhone(1)
	payload, sig, err := mobile.SignConfirmation(p.priv, sampleConfirmation)
	require.NoError(t, err)

	c, err := mobile.VerifyConfirmation(p.pub(), payload, sig)
	require.NoError(t, err)
	assert.Equal(t, mobile.Confirm, c.Decision)

	_, err = mobile.VerifyConfirmation(newPhone(2).pub(), payload, sig)
	assert.ErrorIs(t, err, mobile.ErrBadSignature, "another device's key")

	tampered := []byte(strings.Replace(string(payload), "confirm", "decline", 1))
	_, err = mobile.VerifyConfirmation(p.pub(), tampered, sig)
	assert.ErrorIs(t, err, mobile.ErrBadSignature, "a changed decision")

	bad := append([]byte(nil), sig...)
	bad[0] ^= 1
	_, err = mobile.VerifyConfirmation(p.pub(), payload, bad)
	assert.ErrorIs(t, err, mobile.ErrBadSignature, "a changed signature")

	_, err = mobile.VerifyConfirmation(p.pub()[:31], payload, sig)
	assert.ErrorIs(t, err, mobile.ErrBadKey)

	// A signature over something that is not a canonical confirmation.
	junk := []byte("clave-mobile-confirmation-v1\nlogin=x")
	_, err = mobile.VerifyConfirmation(p.pub(), junk, ed25519.Sign(p.priv, junk))
	assert.ErrorIs(t, err, mobile.ErrBadPayload)

	_, _, err = mobile.SignConfirmation(p.priv[:10], sampleConfirmation)
	assert.ErrorIs(t, err, mobile.ErrBadKey)
}
