package dni

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"12345678Z", "00000000T", "99999999R", "12.345.678-z", "1234567L", "1R",
		"X1234567L", "Y1234567X", "Z1234567R", "x-1234567-l", " y 1234567 x ",
		"DE/ES/1234567890", "it/es/abcDEF", "AT/ES/Jürgen-Ωμέγα", "EL/ES/1",
		"", " ", "--", "Z", "12345678A", "X123456L", "123456789Z", "12345678Ñ",
		"ES/ES/", "DE/ES/abc\x01", "DE/ES/\xff", "DE/ES/a\u202eb",
		"NL/ES/" + strings.Repeat("a", 256), "NL/ES/" + strings.Repeat("a", 257),
		strings.Repeat("1", 301),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			assert.True(t, id.IsZero())
			assert.True(t,
				errors.Is(err, ErrEmpty) || errors.Is(err, ErrFormat) ||
					errors.Is(err, ErrCheckLetter) || errors.Is(err, ErrTooLong),
				"unexpected error type: %v", err)
			if len(s) > maxInputLen {
				assert.ErrorIs(t, err, ErrTooLong)
			}
			return
		}

		require.NotEqual(t, KindUnknown, id.Kind())
		require.False(t, id.IsZero())

		again, err := Parse(id.String())
		require.NoError(t, err, "normalised form %q must parse", id.String())
		require.Equal(t, id, again, "Parse must be idempotent")

		str, masked := id.String(), id.Masked()
		require.Equal(t, utf8.RuneCountInString(str), utf8.RuneCountInString(masked))
		switch id.Kind() {
		case KindDNI, KindNIE:
			require.Len(t, str, 9)
			assert.Equal(t, strings.Repeat("*", 5)+str[5:], masked)
		case KindEIDAS:
			prefix, rest := str[:eidasPrefixLen], str[eidasPrefixLen:]
			require.True(t, strings.HasPrefix(masked, prefix), "masked %q lost prefix %q", masked, prefix)
			runes := []rune(rest)
			visible := min(maskVisibleEIDAS, len(runes)-1)
			assert.True(t, strings.HasSuffix(masked, string(runes[len(runes)-visible:])))
			assert.Equal(t, strings.Repeat("*", len(runes)-visible), strings.TrimSuffix(masked[eidasPrefixLen:], string(runes[len(runes)-visible:])))
		default:
			t.Fatalf("unexpected kind %v", id.Kind())
		}
	})
}
