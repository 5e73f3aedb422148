package dni

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refLetter recomputes the check letter independently of CheckLetter: it
// reduces the decimal string modulo 23 digit by digit and looks the letter
// up in a table spelled out separately, so a typo in either implementation
// shows up as a disagreement.
func refLetter(t *testing.T, digits string) byte {
	t.Helper()
	table := []byte{
		'T', 'R', 'W', 'A', 'G', 'M', 'Y', 'F', 'P', 'D', 'X', 'B',
		'N', 'J', 'Z', 'S', 'Q', 'V', 'H', 'L', 'C', 'K', 'E',
	}
	require.Len(t, table, 23)
	rem := 0
	for _, c := range digits {
		require.True(t, c >= '0' && c <= '9', "refLetter: non-digit in %q", digits)
		rem = (rem*10 + int(c-'0')) % 23
	}
	return table[rem]
}

// refNIELetter maps the NIE prefix independently of the parser.
func refNIELetter(t *testing.T, nie string) byte {
	t.Helper()
	prefix := map[byte]string{'X': "0", 'Y': "1", 'Z': "2"}[nie[0]]
	require.NotEmpty(t, prefix, "refNIELetter: bad prefix in %q", nie)
	return refLetter(t, prefix+nie[1:8])
}

func TestCheckLetterMatchesReference(t *testing.T) {
	for n := range 1000 {
		require.Equal(t, refLetter(t, strconv.Itoa(n)), CheckLetter(n), "n=%d", n)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		n := r.IntN(maxNumber + 1)
		require.Equal(t, refLetter(t, strconv.Itoa(n)), CheckLetter(n), "n=%d", n)
	}
	assert.Equal(t, refLetter(t, "99999999"), CheckLetter(maxNumber))
}

func TestCheckLetterPanicsOutOfRange(t *testing.T) {
	assert.Panics(t, func() { CheckLetter(-1) })
	assert.Panics(t, func() { CheckLetter(maxNumber + 1) })
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		kind Kind
	}{
		{"dni", "12345678Z", "12345678Z", KindDNI},
		{"dni all zeros", "00000000T", "00000000T", KindDNI},
		{"dni all nines", "99999999R", "99999999R", KindDNI},
		{"dni lowercase letter", "12345678z", "12345678Z", KindDNI},
		{"dni dots and dash", "12.345.678-z", "12345678Z", KindDNI},
		{"dni internal spaces", "12 345 678 Z", "12345678Z", KindDNI},
		{"dni surrounding whitespace", " \t12345678Z\n ", "12345678Z", KindDNI},
		{"dni padded 7 digits", "1234567L", "01234567L", KindDNI},
		{"dni padded 7 digits with separators", "1.234.567-l", "01234567L", KindDNI},
		{"dni padded single digit", "1R", "00000001R", KindDNI},
		{"dni zero single digit", "0T", "00000000T", KindDNI},
		{"nie X", "X1234567L", "X1234567L", KindNIE},
		{"nie Y", "Y1234567X", "Y1234567X", KindNIE},
		{"nie Z", "Z1234567R", "Z1234567R", KindNIE},
		{"nie lowercase", "x1234567l", "X1234567L", KindNIE},
		{"nie separators", "X-1234567-L", "X1234567L", KindNIE},
		{"nie spaces", " y 1234567 x ", "Y1234567X", KindNIE},
		{"eidas", "DE/ES/1234567890", "DE/ES/1234567890", KindEIDAS},
		{"eidas lowercase countries", "it/es/abcDEF", "IT/ES/abcDEF", KindEIDAS},
		{"eidas rest kept verbatim", "FR/ES/a-b.c d/e", "FR/ES/a-b.c d/e", KindEIDAS},
		{"eidas trimmed", "  PT/ES/xyz\t", "PT/ES/xyz", KindEIDAS},
		{"eidas non-ascii", "AT/ES/Jürgen-Ωμέγα", "AT/ES/Jürgen-Ωμέγα", KindEIDAS},
		{"eidas single char", "EL/ES/1", "EL/ES/1", KindEIDAS},
		{"eidas max length", "NL/ES/" + strings.Repeat("a", 256), "NL/ES/" + strings.Repeat("a", 256), KindEIDAS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, id.String())
			assert.Equal(t, tt.kind, id.Kind())
			assert.False(t, id.IsZero())
			assert.Equal(t, id, MustParse(tt.want), "normalised form must parse to the same ID")
		})
	}
}

// TestKnownLettersIndependently guards the fixtures above: each expected
// letter is recomputed without using the package under test.
func TestKnownLettersIndependently(t *testing.T) {
	for _, s := range []string{"12345678Z", "00000000T", "99999999R", "01234567L", "00000001R"} {
		assert.Equal(t, s[8], refLetter(t, s[:8]), s)
	}
	for _, s := range []string{"X1234567L", "Y1234567X", "Z1234567R"} {
		assert.Equal(t, s[8], refNIELetter(t, s), s)
	}
}

func TestParseWrongCheckLetter(t *testing.T) {
	for _, valid := range []string{"12345678Z", "00000000T", "99999999R", "X1234567L", "Y1234567X", "Z1234567R", "01234567L"} {
		for c := byte('A'); c <= 'Z'; c++ {
			if c == valid[8] {
				continue
			}
			in := valid[:8] + string(c)
			_, err := Parse(in)
			require.ErrorIs(t, err, ErrCheckLetter, in)
		}
	}
	_, err := Parse("1234567A") // padded, then the letter is wrong
	assert.ErrorIs(t, err, ErrCheckLetter)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrEmpty},
		{"whitespace", " \t\n ", ErrEmpty},
		{"only separators", "--..", ErrFormat},
		{"letter only", "Z", ErrFormat},
		{"digits only", "12345678", ErrFormat},
		{"nine digits", "123456789", ErrFormat},
		{"too many digits with letter", "123456789Z", ErrFormat},
		{"letter in middle", "1234A678Z", ErrFormat},
		{"two letters", "12345678ZZ", ErrFormat},
		{"nie short", "X123456L", ErrFormat},
		{"nie long", "X12345678L", ErrFormat},
		{"nie letter in digits", "X12A4567L", ErrFormat},
		{"nie bad prefix", "W1234567L", ErrFormat},
		{"nie prefix only", "XL", ErrFormat},
		{"slash in dni", "12345678/Z", ErrFormat},
		{"tab inside", "1234\t5678Z", ErrFormat},
		{"non-ascii letter", "12345678Ñ", ErrFormat},
		{"unicode digit", "١٢٣٤٥٦٧٨Z", ErrFormat},
		{"control char", "12345678\x00Z", ErrFormat},
		{"eidas empty rest", "ES/ES/", ErrFormat},
		{"eidas only spaces after prefix", "ES/ES/   ", ErrFormat},
		{"eidas control char", "DE/ES/abc\x01def", ErrFormat},
		{"eidas newline", "DE/ES/abc\ndef", ErrFormat},
		{"eidas bidi override", "DE/ES/abc\u202edef", ErrFormat},
		{"eidas nbsp", "DE/ES/abc\u00a0def", ErrFormat},
		{"eidas invalid utf8", "DE/ES/abc\xffdef", ErrFormat},
		{"eidas digit country", "D1/ES/abc", ErrFormat},
		{"eidas three-letter country", "DEU/ES/abc", ErrFormat},
		{"eidas too long rest", "DE/ES/" + strings.Repeat("a", 257), ErrTooLong},
		{"eidas too many runes", "DE/ES/" + strings.Repeat("é", 20) + strings.Repeat("a", 237), ErrTooLong},
		{"input too long", strings.Repeat(" ", 301), ErrTooLong},
		{"input too long despite valid", "12345678Z" + strings.Repeat(" ", 300), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Parse(tt.in)
			require.ErrorIs(t, err, tt.want)
			assert.True(t, id.IsZero())
			assert.True(t, strings.HasPrefix(err.Error(), "dni: "), err.Error())
		})
	}
}

func TestParseInputLengthBoundary(t *testing.T) {
	in := "12345678Z" + strings.Repeat(" ", 300-9)
	require.Len(t, in, 300)
	_, err := Parse(in)
	assert.NoError(t, err)
}

// TestErrorsDoNotLeakInput matters because errors end up in logs and
// responses, and identifiers are personal data.
func TestErrorsDoNotLeakInput(t *testing.T) {
	tests := []struct {
		in      string
		secrets []string // substrings that must not appear either
	}{
		{"12345678A", []string{"12345678", "2345678A"}},
		{"12.345.678-a", []string{"12345678", "12.345.678"}},
		{"X1234567A", []string{"1234567", "X1234567"}},
		{"x123456l", []string{"123456", "X123456"}},
		{"1234567890Z", []string{"1234567890"}},
		{"98765432\x00Z", []string{"98765432"}},
		{"DE/ES/secret-value-42\x01", []string{"secret", "value-42"}},
		{"DE/ES/" + strings.Repeat("s", 257), []string{strings.Repeat("s", 10)}},
		{"87654321Z" + strings.Repeat("q", 300), []string{"87654321", "qqqq"}},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		require.Error(t, err, tt.in)
		msg := err.Error()
		assert.NotContains(t, msg, tt.in)
		assert.NotContains(t, msg, strings.TrimSpace(tt.in))
		for _, s := range tt.secrets {
			assert.NotContains(t, msg, s, "input %q", tt.in)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	assert.PanicsWithError(t, "dni: NIE check letter does not match its number: check letter mismatch", func() {
		MustParse("X1234567A")
	})
	assert.NotPanics(t, func() { MustParse("12345678Z") })
}

func TestMasked(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"12345678Z", "*****678Z"},
		{"1234567L", "*****567L"},
		{"X1234567L", "*****567L"},
		{"DE/ES/1234567890", "DE/ES/*******890"},
		{"de/es/abcd", "DE/ES/*bcd"},
		{"DE/ES/abc", "DE/ES/*bc"},
		{"DE/ES/ab", "DE/ES/*b"},
		{"DE/ES/a", "DE/ES/*"},
		{"AT/ES/Jürgen-Ωμέγα", "AT/ES/*********έγα"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			id := MustParse(tt.in)
			got := id.Masked()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, len([]rune(id.String())), len([]rune(got)))
		})
	}
	assert.Empty(t, ID{}.Masked())
}

func TestZeroID(t *testing.T) {
	var id ID
	assert.True(t, id.IsZero())
	assert.Equal(t, KindUnknown, id.Kind())
	assert.Empty(t, id.String())
}

func TestKindString(t *testing.T) {
	assert.Equal(t, "unknown", KindUnknown.String())
	assert.Equal(t, "DNI", KindDNI.String())
	assert.Equal(t, "NIE", KindNIE.String())
	assert.Equal(t, "eIDAS", KindEIDAS.String())
	assert.Equal(t, "Kind(42)", Kind(42).String())
}

func TestIDsAreComparable(t *testing.T) {
	assert.True(t, MustParse("12.345.678-z") == MustParse(" 12345678Z "))
	assert.False(t, MustParse("12345678Z") == MustParse("X1234567L"))
}

func TestValidSupportNumber(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"E12345678", true},
		{"C12345678", true},
		{"e12345678", true},
		{"c 1234 5678", true},
		{"  E12345678\n", true},
		{"", false},
		{"E1234567", false},
		{"E123456789", false},
		{"A12345678", false},
		{"12345678E", false},
		{"E1234567X", false},
		{"E-12345678", false},
		{"E1234\t5678", false},
		{"E12345678" + strings.Repeat(" ", 300), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidSupportNumber(tt.in), "%q", tt.in)
	}
}
