package pin

import (
	"bytes"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	pinFormat  = regexp.MustCompile(`^[A-Z2-7]{3}$`)
	codeFormat = regexp.MustCompile(`^[A-Z2-7]{4}$`)
)

func TestNewPINFormatAndDistribution(t *testing.T) {
	seen := map[rune]int{}
	for range 2000 {
		p, err := newPIN(rand.Reader)
		require.NoError(t, err)
		require.Regexp(t, pinFormat, p)
		for _, c := range p {
			seen[c]++
		}
	}
	assert.Len(t, seen, len(alphabet), "every symbol appears over 6000 draws")
	for c, n := range seen {
		// Expected 187.5 each; a symbol this far off means a biased draw,
		// not bad luck (over 7 standard deviations: odds below 1e-10).
		assert.InDelta(t, 187.5, n, 100, "symbol %c", c)
	}
	c, err := newRequestCode(rand.Reader)
	require.NoError(t, err)
	assert.Regexp(t, codeFormat, c)
}

// TestRandomStringIsUnbiased feeds every byte value once: an unbiased
// mapping gives every symbol the same number of hits.
func TestRandomStringIsUnbiased(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	s, err := randomString(bytes.NewReader(all), alphabet, 256)
	require.NoError(t, err)
	for _, c := range alphabet {
		assert.Equal(t, 8, strings.Count(s, string(c)), "symbol %c", c)
	}
}

func TestRandomStringRejectsBiasedBytes(t *testing.T) {
	// With 10 symbols the bytes 250-255 would favour the first six.
	s, err := randomString(bytes.NewReader([]byte{250, 255, 7, 253, 249}), "0123456789", 2)
	require.NoError(t, err)
	assert.Equal(t, "79", s)

	_, err = randomString(iotest.ErrReader(errors.New("dry")), alphabet, 3)
	assert.ErrorContains(t, err, "dry")
	_, err = randomString(bytes.NewReader([]byte{255, 255}), "0123456789", 1)
	assert.Error(t, err, "a reader that runs out is an error, not a short code")
}

func TestNormaliseRequestCode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"AB2Z", "AB2Z", true},
		{" ab1z\t", "AB1Z", true},
		{"2024", "2024", true},
		{"abc", "", false},
		{"ABCDE", "", false},
		{"AB C", "", false},
		{"AB-1", "", false},
		{"ÁBCD", "", false},
		{"ABCÑ", "", false},
		{"", "", false},
	} {
		got, ok := normaliseRequestCode(c.in)
		assert.Equal(t, c.ok, ok, "%q", c.in)
		assert.Equal(t, c.want, got, "%q", c.in)
	}
}

func TestNormalisePIN(t *testing.T) {
	for in, want := range map[string]string{
		"AB2":                    "AB2",
		" ab2 ":                  "AB2",
		"0I8":                    "OIB",
		"a1b":                    "AIB",
		strings.Repeat("A", 100): "",
	} {
		assert.Equal(t, want, normalisePIN(in), "%q", in)
	}
}

func TestPhoneMatches(t *testing.T) {
	for _, c := range []struct {
		typed, registered string
		want              bool
	}{
		{"612345678", "612345678", true},
		{"+34 612 34 56 78", "612345678", true},
		{"0034-612-345-678", "+34612345678", true},
		{"34612345678", "612345678", true},
		{"(612) 345.678", "612345678", true},
		{"612345679", "612345678", false},
		{"", "612345678", false},
		{"", "", false},
		{"612345678", "", false},
		{"61234567x", "61234567x", false},
		{"+44 7700 900123", "612345678", false},
	} {
		assert.Equal(t, c.want, phoneMatches(c.typed, c.registered), "%q vs %q", c.typed, c.registered)
	}
}
