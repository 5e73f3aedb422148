package faults

import (
	"crypto/rsa"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

var testNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

var (
	keysOnce sync.Once
	kitKeys  Keys
	spKeys   *KeyPair
	keysErr  error
)

// testKit generates the keys once per test binary: 2048-bit RSA generation is
// the slow part of these tests.
func testKit(t testing.TB) (Keys, *KeyPair) {
	t.Helper()
	keysOnce.Do(func() {
		mk := func(cn string) *KeyPair {
			kp, err := pki.Generate(cn, 2048, testNow.Add(-24*time.Hour), 3*365*24*time.Hour)
			if err != nil {
				keysErr = err
				return nil
			}
			return &KeyPair{Key: kp.Key, Certificate: kp.Certificate}
		}
		kitKeys = Keys{Trusted: mk("SELLO PASARELA PRUEBAS"), Next: mk("SELLO PASARELA PRUEBAS 2"), Untrusted: mk("ATACANTE")}
		spKeys = mk("SP PRUEBAS")
	})
	require.NoError(t, keysErr)
	return kitKeys, spKeys
}

func attrs(pid string) []saml.Attribute {
	return []saml.Attribute{
		{Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName", XSIType: "eidas-natural:CurrentFamilyNameType", Values: []string{"GARCIA LOPEZ"}},
		{Name: saml.AttrCurrentGivenName, FriendlyName: "FirstName", XSIType: "eidas-natural:CurrentGivenNameType", Values: []string{"MARIA"}},
		{Name: saml.AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{pid}},
		{Name: saml.AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{"GARCIA"}},
		{Name: saml.AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{"AEAT"}},
	}
}

// testBases are the starting points every case is run from: the shape of the
// saml package's tests (fixed IDs), and two gateway-like ones with generated
// IDs, other levels, a NIE, the production issuer and instants with
// milliseconds, so that no case depends on one Base's particulars.
func testBases(t testing.TB) map[string]*Base {
	keys, sp := testKit(t)
	return map[string]*Base{
		"substantial": {Now: testNow, Keys: keys, EncryptFor: sp.Certificate, Params: saml.ResponseParams{
			ID: "_resp1", AssertionID: "_assert1", InResponseTo: "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11",
			Destination: "https://sede.example.es/clave/acs", Issuer: saml.PreproductionIssuer,
			IssueInstant: testNow.Add(-2 * time.Second), NameID: saml.NameID{Value: "12345678Z"},
			SubjectAddress: "10.0.0.1", LoA: saml.LoASubstantial, Attributes: attrs("12345678Z"),
		}},
		"low": {Now: testNow.Add(1234 * time.Millisecond), Keys: keys, EncryptFor: sp.Certificate, Params: saml.ResponseParams{
			InResponseTo: "_a0b1c2d3e4f5061728394a5b6c7d8e9f00112233",
			Destination:  "https://tramites.example.gob.es/login/saml/acs", Issuer: saml.ProductionIssuer,
			IssueInstant: testNow.Add(-766 * time.Millisecond), NameID: saml.NameID{Value: "X1234567L"},
			SubjectAddress: "10.1.2.3", LoA: saml.LoALow, Attributes: attrs("X1234567L"),
		}},
		"high": {Now: testNow, Keys: keys, EncryptFor: sp.Certificate, Params: saml.ResponseParams{
			InResponseTo: "_ffeeddccbbaa99887766554433221100ffeeddcc",
			Destination:  "https://sede.example.es/clave/acs", Issuer: saml.PreproductionIssuer,
			IssueInstant: testNow.Add(-3*time.Second - 250*time.Millisecond), AuthnInstant: testNow.Add(-20 * time.Second),
			NameID: saml.NameID{Value: "99999999R"}, LoA: saml.LoAHigh, Attributes: attrs("99999999R"),
		}},
	}
}

// spFor is our own validator configured as a correct Cl@ve service for b.
func spFor(b *Base) (*saml.Validator, saml.Expectation) {
	v := &saml.Validator{
		Trust:          saml.StaticCertificates{b.Keys.Trusted.Certificate, b.Keys.Next.Certificate},
		ACSURL:         b.Params.Destination,
		Issuer:         b.Params.Issuer,
		DecryptionKeys: []*rsa.PrivateKey{spKeys.Key},
		Now:            func() time.Time { return b.Now },
	}
	// What clave.Client expects of its default request.
	return v, saml.Expectation{RequestID: b.Params.InResponseTo, MinLoA: b.Params.LoA,
		RequiredAttributes: saml.RequiredAttributes(saml.DefaultAttributes())}
}

// post runs a delivery through the validator as an ACS would: the form field
// decoded first when given verbatim, the assertion ID checked against used
// (the replay cache clave keeps) and remembered.
func post(v *saml.Validator, exp saml.Expectation, d Delivery, used map[string]bool) (*saml.Assertion, error) {
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

func personIdentifier(p saml.ResponseParams) string {
	for _, a := range p.Attributes {
		if a.Name == saml.AttrPersonIdentifier && len(a.Values) > 0 {
			return a.Values[0]
		}
	}
	return ""
}

func TestCatalogueAgainstValidator(t *testing.T) {
	for name, b := range testBases(t) {
		t.Run(name, func(t *testing.T) {
			for _, c := range Catalogue() {
				t.Run(c.ID, func(t *testing.T) {
					if c.Layer == LayerSession {
						t.Skip("session layer: the conformance runner checks it end to end")
					}
					d, err := c.Build(b)
					require.NoError(t, err, "building %s", c.ID)
					v, exp := spFor(b)
					used := map[string]bool{}
					if d.Replay {
						_, err := post(v, exp, d, used)
						require.NoError(t, err, "the first post of a replay must be accepted")
					}
					// Resource-exhaustion cases (LIM-*) must be refused for the
					// reason they are about (the limit), which the check below
					// asserts; how long they take is the benchmarks' business.
					a, err := post(v, exp, d, used)
					switch c.Expect {
					case Accept:
						require.NoError(t, err, "%s: %s", c.Title, c.How)
						require.NotNil(t, a)
						want := personIdentifier(b.Params)
						if c.identity != "" {
							want = c.identity
						}
						assert.Equal(t, want, a.PersonIdentifier, "identity")
						assert.Equal(t, b.Params.InResponseTo, a.InResponseTo)
						assert.GreaterOrEqual(t, a.LoA, b.Params.LoA)
					case Refuse:
						require.Error(t, err, "%s: %s", c.Title, c.How)
						require.Nil(t, a)
						t.Log(err)
						require.ErrorIs(t, err, c.reason, "refused for another reason than the case is about")
					default:
						t.Fatalf("unknown outcome %q", c.Expect)
					}
				})
			}
		})
	}
}

var prefixes = map[Group]string{
	GroupSignature: "SIG", GroupWrapping: "XSW", GroupAlgorithms: "ALG", GroupKeyTrust: "KEY", GroupXML: "XML",
	GroupLimits: "LIM", GroupResponse: "RSP", GroupAssertion: "AST", GroupReplay: "RPL", GroupStatus: "STA",
	GroupEncryption: "ENC", GroupClave: "CLV", GroupAccept: "ACC",
}

func TestCatalogueShape(t *testing.T) {
	cs := Catalogue()
	require.GreaterOrEqual(t, len(cs), 110)
	idRE := regexp.MustCompile(`^([A-Z]{3})-(\d{2})$`)
	seen := map[string]bool{}
	perGroup := map[Group]int{}
	for _, c := range cs {
		m := idRE.FindStringSubmatch(c.ID)
		require.NotNil(t, m, "malformed ID %q", c.ID)
		require.False(t, seen[c.ID], "duplicate ID %s", c.ID)
		seen[c.ID] = true
		p, ok := prefixes[c.Group]
		require.True(t, ok, "%s: unknown group %q", c.ID, c.Group)
		assert.Equal(t, p, m[1], "%s: prefix of group %s", c.ID, c.Group)
		perGroup[c.Group]++

		assert.NotEmpty(t, strings.TrimSpace(c.Title), "%s: Title", c.ID)
		assert.NotEmpty(t, strings.TrimSpace(c.How), "%s: How", c.ID)
		for _, s := range []string{c.Title, c.How} {
			assert.NotContains(t, s, ". ", "%s: one sentence", c.ID)
			assert.False(t, strings.HasSuffix(s, "."), "%s: no final period", c.ID)
		}
		assert.Contains(t, []Expect{Accept, Refuse}, c.Expect, c.ID)
		assert.Contains(t, []Layer{LayerMessage, LayerSession}, c.Layer, c.ID)
		assert.NotNil(t, c.Build, c.ID)
		if c.Expect == Refuse {
			assert.NotNil(t, c.reason, "%s: refusal without the reason our validator gives", c.ID)
			assert.Empty(t, c.identity, c.ID)
		} else {
			assert.Nil(t, c.reason, c.ID)
		}
		got, ok := Lookup(c.ID)
		assert.True(t, ok)
		assert.Equal(t, c.Title, got.Title)
	}
	for g := range prefixes {
		assert.GreaterOrEqual(t, perGroup[g], 3, "group %s", g)
	}
	_, ok := Lookup("NOPE-01")
	assert.False(t, ok)
	for g, n := range perGroup {
		t.Logf("%-20s %d", g, n)
	}
	t.Logf("total %d", len(cs))
}

// TestNeedsEncryptionIsMarked builds every case for a service that takes no
// encrypted assertions: only cases marked NeedsEncryption may need EncryptFor.
func TestNeedsEncryptionIsMarked(t *testing.T) {
	b := testBases(t)["substantial"]
	b.EncryptFor = nil
	for _, c := range Catalogue() {
		if c.NeedsEncryption {
			continue
		}
		_, err := c.Build(b)
		assert.NoError(t, err, c.ID)
	}
}

// TestCasesAreIndependent builds the catalogue twice from one Base: a case
// must not change the Base or depend on another having run.
func TestCasesAreIndependent(t *testing.T) {
	b := testBases(t)["low"]
	before := fmt.Sprintf("%+v", b.Params)
	for _, c := range Catalogue() {
		_, err := c.Build(b)
		require.NoError(t, err, c.ID)
	}
	assert.Equal(t, before, fmt.Sprintf("%+v", b.Params))
	assert.Empty(t, b.Params.ID, "generated IDs must not be written back")
}

func TestValidIsAccepted(t *testing.T) {
	b := testBases(t)["substantial"]
	doc, err := b.Valid()
	require.NoError(t, err)
	x, err := doc.WriteToBytes()
	require.NoError(t, err)
	v, exp := spFor(b)
	_, err = v.ValidateResponse(x, exp)
	require.NoError(t, err)
}

func TestSwapCase(t *testing.T) {
	assert.Equal(t, "_ABC1", swapCase("_abc1"))
	assert.Equal(t, "_123X", swapCase("_123"))
}
