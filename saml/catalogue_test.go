package saml_test

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// The attacks on the validator are the fault catalogue (internal/faults): the
// one list of forged, wrapped, replayed and otherwise bad responses that the
// conformance kit plays against any service and the reference gateway can arm.
// TestCatalogue runs every case through the Validator configured as
// clave.Client configures it, and checks the case's outcome and, for a
// refusal, the sentinel the case names. The tests after it add what only this
// package can check: status codes, which protection a response had, and the
// Validator's options.

// catalogueBases are the catalogue's sample bases, signed with the test keys.
func catalogueBases(t testing.TB) map[string]*faults.Base {
	keys := catalogueKeys(t)
	return faults.SampleBases(keys, spKeys.Certificate, testNow)
}

// spFor is the Validator a correct Cl@ve service configures for b (trusting
// the gateway's current and next keys, as during a rollover), and the
// expectation of clave.Client's default request.
func spFor(b *faults.Base) (*saml.Validator, saml.Expectation) {
	v := &saml.Validator{
		Trust:          saml.StaticCertificates{b.Keys.Trusted.Certificate, b.Keys.Next.Certificate},
		ACSURL:         b.Params.Destination,
		Issuer:         b.Params.Issuer,
		DecryptionKeys: []*rsa.PrivateKey{spKeys.Key},
		Now:            func() time.Time { return b.Now },
	}
	return v, saml.Expectation{RequestID: b.Params.InResponseTo, MinLoA: b.Params.LoA,
		RequiredAttributes: saml.RequiredAttributes(saml.DefaultAttributes())}
}

// post runs a delivery through v as an ACS does: the form field decoded first
// when given verbatim, then the assertion ID checked against used (the replay
// cache the clave package keeps) and remembered.
func post(v *saml.Validator, exp saml.Expectation, d faults.Delivery, used map[string]bool) (*saml.Assertion, error) {
	data := d.XML
	if d.RawForm != nil {
		var err error
		if data, err = saml.DecodeMessage(*d.RawForm, v.MaxSize); err != nil {
			return nil, err
		}
	}
	a, err := v.ValidateResponse(data, exp)
	if err != nil {
		return nil, err
	}
	if used[a.ID] {
		return nil, fmt.Errorf("%w: %s", saml.ErrReplay, a.ID)
	}
	used[a.ID] = true
	return a, nil
}

// deliver builds c from b and posts it to v; a replay is posted twice and the
// first post must be accepted.
func deliver(t *testing.T, c faults.Case, b *faults.Base, v *saml.Validator, exp saml.Expectation) (*saml.Assertion, error) {
	t.Helper()
	d, err := c.Build(b)
	require.NoError(t, err, "building %s", c.ID)
	used := map[string]bool{}
	if d.Replay {
		_, err := post(v, exp, d, used)
		require.NoError(t, err, "the first post of a replay must be accepted")
	}
	return post(v, exp, d, used)
}

// sentinels are the non-status errors; every refusal but a status wraps
// exactly one of them.
var sentinels = []error{
	saml.ErrMalformed, saml.ErrTooLarge, saml.ErrUnexpectedRoot, saml.ErrVersion, saml.ErrSignatureMissing,
	saml.ErrSignatureInvalid, saml.ErrUntrustedKey, saml.ErrAlgorithm, saml.ErrWrapped, saml.ErrInResponseTo,
	saml.ErrRelayState, saml.ErrDestination, saml.ErrRecipient, saml.ErrAudience, saml.ErrIssuer, saml.ErrExpired,
	saml.ErrNotYetValid, saml.ErrAssertionCount, saml.ErrSubjectConfirmation, saml.ErrLoA, saml.ErrReplay,
	saml.ErrDecryption, saml.ErrMissingElement, saml.ErrIdentity, saml.ErrMissingAttribute,
}

// statusSentinels are what a *StatusError matches.
var statusSentinels = []error{
	saml.ErrStatus, saml.ErrUserCancelled, saml.ErrAuthnFailed, saml.ErrNoPassive, saml.ErrRequestDenied, saml.ErrNoAuthnContext,
}

// requireRefusal checks that err refuses for want and nothing else: a status
// outcome is a *StatusError, any other refusal wraps exactly one sentinel.
func requireRefusal(t *testing.T, a *saml.Assertion, err, want error) {
	t.Helper()
	require.Error(t, err)
	require.Nil(t, a)
	t.Log(err)
	require.ErrorIs(t, err, want, "refused for another reason than the case is about")
	var se *saml.StatusError
	if slices.Contains(statusSentinels, want) {
		require.ErrorAs(t, err, &se)
		return
	}
	require.False(t, errors.As(err, &se), "unexpected status error %v", err)
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(t, 1, n, "%v wraps %d sentinels", err, n)
}

// requireLogin checks that a is the login of b: its citizen (or want, when
// set), its request, at least the requested level.
func requireLogin(t *testing.T, b *faults.Base, a *saml.Assertion, err error, want string) {
	t.Helper()
	require.NoError(t, err)
	require.NotNil(t, a)
	if want == "" {
		i := slices.IndexFunc(b.Params.Attributes, func(at saml.Attribute) bool { return at.Name == saml.AttrPersonIdentifier })
		require.GreaterOrEqual(t, i, 0)
		want = b.Params.Attributes[i].Values[0]
	}
	assert.Equal(t, want, a.PersonIdentifier, "identity")
	got, ok := a.Attribute(saml.AttrPersonIdentifier)
	assert.True(t, ok)
	assert.Equal(t, want, got)
	assert.Equal(t, b.Params.InResponseTo, a.InResponseTo)
	assert.GreaterOrEqual(t, a.LoA, b.Params.LoA)
	assert.True(t, a.ResponseSigned || a.AssertionSigned)
}

// TestCatalogue runs every message-layer case of the fault catalogue, from
// each sample base, through the Validator.
func TestCatalogue(t *testing.T) {
	bases := catalogueBases(t)
	for _, name := range []string{"substantial", "low", "high"} {
		b := bases[name]
		require.NotNil(t, b, name)
		t.Run(name, func(t *testing.T) {
			for _, c := range faults.Catalogue() {
				t.Run(c.ID, func(t *testing.T) {
					if c.Layer == faults.LayerSession {
						t.Skip("session layer: the conformance kit checks it end to end, on the clave package")
					}
					v, exp := spFor(b)
					a, err := deliver(t, c, b, v, exp)
					switch c.Expect {
					case faults.Accept:
						requireLogin(t, b, a, err, c.Identity)
					case faults.Refuse:
						requireRefusal(t, a, err, c.Reason)
					default:
						t.Fatalf("unknown outcome %q", c.Expect)
					}
				})
			}
		})
	}
}

// TestCatalogueStatusCodes checks, beyond the catalogue's own verdict, the
// *StatusError of each status case: its codes, and the sentinels it matches
// and must not match (a citizen's cancel is not a failed authentication).
func TestCatalogueStatusCodes(t *testing.T) {
	cases := map[string]struct {
		code, sub string
		also, not []error
	}{
		"STA-01": {saml.StatusRequester, saml.StatusRequestDenied, []error{saml.ErrRequestDenied, saml.ErrStatus}, []error{saml.ErrAuthnFailed}},
		"STA-02": {saml.StatusResponder, saml.StatusRequestDenied, []error{saml.ErrStatus}, []error{saml.ErrUserCancelled}},
		"STA-03": {saml.StatusResponder, saml.StatusAuthnFailed, nil, []error{saml.ErrUserCancelled, saml.ErrRequestDenied}},
		"STA-04": {saml.StatusResponder, saml.StatusNoPassive, nil, []error{saml.ErrUserCancelled}},
		"STA-05": {saml.StatusResponder, saml.StatusNoAuthnContext, nil, []error{saml.ErrUserCancelled}},
		"STA-06": {saml.StatusRequester, "", nil, []error{saml.ErrUserCancelled, saml.ErrRequestDenied, saml.ErrAuthnFailed, saml.ErrNoPassive}},
		"STA-07": {"", "", nil, []error{saml.ErrUserCancelled, saml.ErrAuthnFailed}},
		"STA-08": {saml.StatusSuccess, saml.StatusRequestDenied, []error{saml.ErrRequestDenied}, []error{saml.ErrUserCancelled}},
	}
	b := catalogueBases(t)["substantial"]
	for id, want := range cases {
		t.Run(id, func(t *testing.T) {
			c, ok := faults.Lookup(id)
			require.True(t, ok)
			v, exp := spFor(b)
			_, err := deliver(t, c, b, v, exp)
			var se *saml.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, want.code, se.Code)
			assert.Equal(t, want.sub, se.SubCode)
			if id != "STA-08" { // built from a success, which says so
				assert.Equal(t, "fallo de prueba", se.Message)
			}
			for _, e := range want.also {
				assert.ErrorIs(t, err, e)
			}
			for _, e := range want.not {
				assert.NotErrorIs(t, err, e)
			}
		})
	}
}

// TestCatalogueProtection checks what the Validator reports about how each
// must-accept shape was protected, for logs and inspection.
func TestCatalogueProtection(t *testing.T) {
	cases := map[string]struct{ responseSigned, assertionSigned, encrypted bool }{
		"ACC-01": {true, false, false},
		"ACC-02": {true, true, false},
		"ACC-03": {false, true, false},
		"ACC-04": {true, true, false},
		"ACC-05": {false, true, true},
		"ACC-06": {true, true, true},
		"ENC-01": {true, false, true},
	}
	b := catalogueBases(t)["substantial"]
	for id, want := range cases {
		t.Run(id, func(t *testing.T) {
			c, ok := faults.Lookup(id)
			require.True(t, ok)
			v, exp := spFor(b)
			a, err := deliver(t, c, b, v, exp)
			requireLogin(t, b, a, err, "")
			assert.Equal(t, "_assert1", a.ID)
			assert.Equal(t, "_resp1", a.ResponseID)
			assert.Equal(t, "12345678Z", a.NameID.Value)
			assert.Equal(t, saml.LoASubstantial, a.LoA)
			assert.Equal(t, want.responseSigned, a.ResponseSigned, "ResponseSigned")
			assert.Equal(t, want.assertionSigned, a.AssertionSigned, "AssertionSigned")
			assert.Equal(t, want.encrypted, a.Encrypted, "Encrypted")
		})
	}
}

// TestValidatorOptions plays catalogue cases (or, where the catalogue has
// none, responses built here) against a Validator or Expectation configured
// otherwise than clave.Client does: each option changes the verdict it says
// it changes, and no other.
func TestValidatorOptions(t *testing.T) {
	// cbcSigned is a root-signed response whose assertion is AES-CBC encrypted:
	// not a catalogue case, as a service may accept it or not (the gateway
	// "tolerates" CBC), but this Validator refuses it unless AllowCBC is set.
	cbcSigned := func(b *faults.Base) (faults.Delivery, error) {
		doc, err := samlidp.BuildResponse(b.Params)
		if err != nil {
			return faults.Delivery{}, err
		}
		err = samlidp.SecureResponse(doc, samlidp.ResponseSecurity{Signer: b.Keys.Trusted.Signer(), SignResponse: true,
			EncryptFor: b.EncryptFor, EncryptCBC: true})
		if err != nil {
			return faults.Delivery{}, err
		}
		x, err := doc.WriteToBytes()
		return faults.Delivery{XML: x}, err
	}
	// expiredBySecond expired one second before delivery.
	expiredBySecond := func(b *faults.Base) (faults.Delivery, error) {
		p := b.Params
		p.IssueInstant = b.Now.Add(-5 * time.Minute)
		p.Validity = 5*time.Minute - time.Second
		doc, err := samlidp.BuildResponse(p)
		if err != nil {
			return faults.Delivery{}, err
		}
		if err := samlidp.SecureResponse(doc, samlidp.ResponseSecurity{Signer: b.Keys.Trusted.Signer(), SignResponse: true}); err != nil {
			return faults.Delivery{}, err
		}
		x, err := doc.WriteToBytes()
		return faults.Delivery{XML: x}, err
	}
	tests := []struct {
		name string
		// id names a catalogue case; build, when set, replaces it.
		id    string
		build func(*faults.Base) (faults.Delivery, error)
		tweak func(v *saml.Validator, exp *saml.Expectation)
		// want is the refusal, nil for an accepted login.
		want error
	}{
		{name: "MaxSize below the response", id: "ACC-01", want: saml.ErrTooLarge,
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.MaxSize = 2048 }},
		{name: "AES-CBC refused while AllowCBC is off", build: cbcSigned, want: saml.ErrAlgorithm},
		{name: "AES-CBC accepted in a signed response with AllowCBC", build: cbcSigned,
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.AllowCBC = true }},
		{name: "AES-CBC still refused unsigned with AllowCBC", id: "ENC-03", want: saml.ErrAlgorithm,
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.AllowCBC = true }},
		{name: "no decryption key for an encrypted assertion", id: "ENC-01", want: saml.ErrDecryption,
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.DecryptionKeys = nil }},
		{name: "second decryption key during a rollover", id: "ENC-01",
			tweak: func(v *saml.Validator, _ *saml.Expectation) {
				v.DecryptionKeys = []*rsa.PrivateKey{evilKeys.Key, spKeys.Key}
			}},
		{name: "RSA-SHA1 with AllowSHA1", id: "ALG-01",
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.Algorithms.AllowSHA1 = true }},
		{name: "RSA-SHA1 and SHA-1 digest by goxmldsig with AllowSHA1", id: "ALG-02",
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.Algorithms.AllowSHA1 = true }},
		{name: "SHA-1 digest on the assertion with AllowSHA1", id: "ALG-04",
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.Algorithms.AllowSHA1 = true }},
		{name: "expired by one second without tolerance", build: expiredBySecond, want: saml.ErrExpired,
			tweak: func(v *saml.Validator, _ *saml.Expectation) { v.Skew = -1 }},
		{name: "expired by one second within the default skew", build: expiredBySecond},
		{name: "expectation without a RequestID", id: "ACC-01", want: saml.ErrInResponseTo,
			tweak: func(_ *saml.Validator, exp *saml.Expectation) { exp.RequestID = "" }},
		{name: "unsolicited response to an expectation without a RequestID", id: "RPL-09", want: saml.ErrInResponseTo,
			tweak: func(_ *saml.Validator, exp *saml.Expectation) { exp.RequestID = "" }},
		{name: "expectation without a requested LoA", id: "ACC-01", want: saml.ErrLoA,
			tweak: func(_ *saml.Validator, exp *saml.Expectation) { exp.MinLoA = 0 }},
		{name: "LoA above the achieved one", id: "ACC-01", want: saml.ErrLoA,
			tweak: func(_ *saml.Validator, exp *saml.Expectation) { exp.MinLoA = saml.LoAHigh }},
		{name: "PersonIdentifier needed even when not marked required", id: "CLV-13", want: saml.ErrIdentity,
			tweak: func(_ *saml.Validator, exp *saml.Expectation) { exp.RequiredAttributes = nil }},
		{name: "attribute required by the request, not sent", id: "ACC-01", want: saml.ErrMissingAttribute,
			tweak: func(_ *saml.Validator, exp *saml.Expectation) {
				exp.RequiredAttributes = []string{saml.AttrDateOfBirth}
			}},
		{name: "FamilyName missing, not marked required", id: "CLV-19",
			tweak: func(_ *saml.Validator, exp *saml.Expectation) {
				exp.RequiredAttributes = []string{saml.AttrPersonIdentifier}
			}},
	}
	b := catalogueBases(t)["substantial"]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := faults.Case{ID: tc.name, Build: tc.build}
			if tc.build == nil {
				var ok bool
				c, ok = faults.Lookup(tc.id)
				require.True(t, ok, tc.id)
			}
			v, exp := spFor(b)
			if tc.tweak != nil {
				tc.tweak(v, &exp)
			}
			a, err := deliver(t, c, b, v, exp)
			if tc.want == nil {
				requireLogin(t, b, a, err, "")
				return
			}
			requireRefusal(t, a, err, tc.want)
		})
	}
}
