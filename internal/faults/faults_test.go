package faults

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
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

// testBases are the catalogue's sample bases with the test keys. Package
// saml's tests run every case from them through its Validator; these tests
// only check the catalogue's shape and its builders.
func testBases(t testing.TB) map[string]*Base {
	keys, sp := testKit(t)
	return SampleBases(keys, sp.Certificate, testNow)
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
			assert.NotNil(t, c.Reason, "%s: refusal without the Reason our validator gives", c.ID)
			assert.Empty(t, c.Identity, c.ID)
		} else {
			assert.Nil(t, c.Reason, c.ID)
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

func TestSwapCase(t *testing.T) {
	assert.Equal(t, "_ABC1", swapCase("_abc1"))
	assert.Equal(t, "_123X", swapCase("_123"))
}
