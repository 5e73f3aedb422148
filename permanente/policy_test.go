package permanente_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
)

var policyProfile = permanente.Profile{
	GivenName:     "María José",
	FirstSurname:  "García-Pelayo",
	SecondSurname: "de la Núñez",
	ID:            "12345678Z",
}

func TestCheckPasswordRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		pw   string
		p    permanente.Profile
		want []permanente.Rule
	}{
		{"too short", "Ab1!xyz", policyProfile, []permanente.Rule{permanente.RuleTooShort}},
		{"no lower", "ABCDEF1!", policyProfile, []permanente.Rule{permanente.RuleNoLower}},
		{"no upper", "abcdef1!", policyProfile, []permanente.Rule{permanente.RuleNoUpper}},
		{"no digit", "Abcdefg!", policyProfile, []permanente.Rule{permanente.RuleNoDigit}},
		{"no special", "Abcdefg1", policyProfile, []permanente.Rule{permanente.RuleNoSpecial}},
		{"given name", "Xjose#2024", policyProfile, []permanente.Rule{permanente.RuleHasName}},
		{"given name accented", "MARÍA!2024x", policyProfile, []permanente.Rule{permanente.RuleHasName}},
		{"first surname part", "Pelayo#2024", policyProfile, []permanente.Rule{permanente.RuleHasName}},
		{"surname split by symbols", "GARC-IA#1a", policyProfile, []permanente.Rule{permanente.RuleHasName}},
		{"second surname without tilde", "1nunez!ABC", policyProfile, []permanente.Rule{permanente.RuleHasName}},
		{"decomposed accent", "Garci\u0301a#1x", policyProfile, []permanente.Rule{permanente.RuleHasName}},
		{"dni", "Ab!12345678Z", policyProfile, []permanente.Rule{permanente.RuleHasID}},
		{"dni without letter", "Ab!12345678", policyProfile, []permanente.Rule{permanente.RuleHasID}},
		{"dni lower case with separators", "Ab!12.345.678-z", policyProfile, []permanente.Rule{permanente.RuleHasID}},
		{"nie", "Ab!x1234567", permanente.Profile{ID: "X1234567L"}, []permanente.Rule{permanente.RuleHasID}},
		{"too long", "Aa1!" + strings.Repeat("x", 125), policyProfile, []permanente.Rule{permanente.RuleTooLong}},
		{"control", "Abc\tdef1!", policyProfile, []permanente.Rule{permanente.RuleControl}},
		{"not utf-8", "Abcdef1!\xff", policyProfile, []permanente.Rule{permanente.RuleControl}},
		{"many at once", "abc", policyProfile, []permanente.Rule{permanente.RuleTooShort, permanente.RuleNoUpper,
			permanente.RuleNoDigit, permanente.RuleNoSpecial}},
		{"classes, name and id", "garcia12345678", policyProfile, []permanente.Rule{permanente.RuleNoUpper,
			permanente.RuleNoSpecial, permanente.RuleHasName, permanente.RuleHasID}},
		{"fifteen without classes", "abcdefghijklmno", policyProfile, []permanente.Rule{permanente.RuleNoUpper,
			permanente.RuleNoDigit, permanente.RuleNoSpecial}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := permanente.CheckPassword(c.pw, c.p)
			require.Error(t, err)
			assert.ErrorIs(t, err, permanente.ErrWeakPassword)
			var pe *permanente.PolicyError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, c.want[0], pe.Rule)
			assert.Equal(t, c.want, permanente.BrokenRules(err))
			assert.NotContains(t, err.Error(), c.pw, "the message does not repeat the password")
		})
	}
}

func TestCheckPasswordAccepts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		pw   string
		p    permanente.Profile
	}{
		{"exactly 8", "Ab1!abcd", policyProfile},
		{"ñ as lower case", "Cañón#2024", policyProfile},
		{"Ñ as upper case", "Ñandú_77b", policyProfile},
		{"ç", "FAÇADE!9ç", policyProfile},
		{"accents", "ÉLÈVE-été9", policyProfile},
		{"space is special", "Mi clave 9", policyProfile},
		{"16 without classes", "abcdefghijklmnop", policyProfile},
		{"passphrase", "correct horse battery staple", policyProfile},
		{"exactly 128", "Aa1!" + strings.Repeat("x", 124), policyProfile},
		{"short name parts and particles ignored", "Modelo#la2de", permanente.Profile{GivenName: "Li",
			FirstSurname: "de la Vega", SecondSurname: "del Pino"}},
		{"no profile", "Garcia#2024", permanente.Profile{}},
		{"part of the id", "Ab!345678", policyProfile},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.NoError(t, permanente.CheckPassword(c.pw, c.p))
		})
	}
}

// TestCheckPasswordBoundsWork: a huge password is refused for its size alone.
func TestCheckPasswordBoundsWork(t *testing.T) {
	t.Parallel()
	err := permanente.CheckPassword(strings.Repeat("a", 1<<20), policyProfile)
	assert.Equal(t, []permanente.Rule{permanente.RuleTooLong}, permanente.BrokenRules(err))
	// 129 four-byte characters: over the limit by count, not by bytes.
	err = permanente.CheckPassword(strings.Repeat("😀", 129), policyProfile)
	assert.Contains(t, permanente.BrokenRules(err), permanente.RuleTooLong)
}

func TestPolicyError(t *testing.T) {
	t.Parallel()
	err := &permanente.PolicyError{Rule: permanente.RuleNoDigit}
	assert.ErrorIs(t, err, permanente.ErrWeakPassword)
	assert.Equal(t, "permanente: password has no digit", err.Error())
	wrapped := errors.Join(errors.New("other"), err)
	assert.Equal(t, []permanente.Rule{permanente.RuleNoDigit}, permanente.BrokenRules(wrapped))
	assert.Nil(t, permanente.BrokenRules(nil))
	assert.Nil(t, permanente.BrokenRules(permanente.ErrWrongPassword))
}
