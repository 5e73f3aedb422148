package method

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDNI returns the normalised DNI with number n and its check letter.
func testDNI(n int) string { return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23]) }

// testNIE returns the normalised X-series NIE with number n (below
// 10,000,000); X counts as a leading 0 for the check letter.
func testNIE(n int) string { return fmt.Sprintf("X%07d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23]) }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// testCitizen is a valid, already normalised DNI holder whose identifier and
// phone derive from n (below 100,000,000).
func testCitizen(n int) Citizen {
	return Citizen{
		ID:            testDNI(n),
		ValidUntil:    day(2031, time.March, 9),
		IssuedOn:      day(2021, time.March, 9),
		GivenName:     "MARÍA JOSÉ",
		FirstSurname:  "GARCÍA",
		SecondSurname: "LÓPEZ",
		DateOfBirth:   day(1980, time.May, 17),
		Phone:         fmt.Sprintf("+346%08d", n),
		Email:         fmt.Sprintf("citizen%d@example.es", n),
		Level:         LevelAdvanced,
		Status:        StatusActive,
		CreatedAt:     time.Date(2024, time.June, 1, 10, 30, 15, 123456789, time.UTC),
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, in := range []string{"600000000", "600 000 000", "600-00-00-00", "+34600000000", "+34 600 000 000",
		"0034600000000", "34600000000", " (+34) 600.000.000 "} {
		got, err := NormalizePhone(in)
		require.NoError(t, err, in)
		assert.Equal(t, "+34600000000", got, in)
	}
	for _, in := range []string{"710000000", "+34749999999"} {
		_, err := NormalizePhone(in)
		assert.NoError(t, err, in)
	}
	for _, in := range []string{"", "60000000", "6000000000", "+34910000000", "700000000", "750000000",
		"+33600000000", "600 000 00a", "60+0000000", "+0034600000000", "0600000000"} {
		_, err := NormalizePhone(in)
		require.ErrorIs(t, err, ErrInvalid, in)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, in)
		assert.Equal(t, "phone", fe.Field)
	}
}

func TestMatchContrast(t *testing.T) {
	dniHolder := testCitizen(1) // valid until 2031-03-09, issued 2021-03-09
	permanent := testCitizen(2)
	permanent.ValidUntil, permanent.IssuedOn = day(9999, time.January, 1), day(2015, time.February, 28)
	nie := testCitizen(3)
	nie.ID, nie.SupportNumber = testNIE(1234567), "E12345678"
	tests := []struct {
		name  string
		c     Citizen
		datum string
		want  bool
	}{
		{"DNI dd/mm/yyyy", dniHolder, "09/03/2031", true},
		{"DNI dd-mm-yyyy", dniHolder, "09-03-2031", true},
		{"DNI ISO", dniHolder, "2031-03-09", true},
		{"DNI with spaces", dniHolder, " 09/03/2031 ", true},
		{"DNI other day", dniHolder, "10/03/2031", false},
		{"DNI month and day swapped", dniHolder, "03/09/2031", false},
		{"DNI issue date is not its datum", dniHolder, "09/03/2021", false},
		{"DNI single digits", dniHolder, "9/3/2031", false},
		{"DNI impossible date", dniHolder, "31/02/2031", false},
		{"DNI empty", dniHolder, "", false},
		{"DNI support number", dniHolder, "E12345678", false},
		{"permanent issue date", permanent, "28/02/2015", true},
		{"permanent validity is public", permanent, "01/01/9999", false},
		{"permanent validity ISO", permanent, "9999-01-01", false},
		{"NIE exact", nie, "E12345678", true},
		{"NIE lowercase spaced", nie, " e 1234 5678 ", true},
		{"NIE other number", nie, "E12345679", false},
		{"NIE other letter", nie, "C12345678", false},
		{"NIE prefix only", nie, "E1234567", false},
		{"NIE a date", nie, "09/03/2031", false},
		{"NIE empty", nie, "", false},
		{"NIE without support number", Citizen{ID: nie.ID}, "", false},
		{"DNI without dates", Citizen{ID: dniHolder.ID}, "0001-01-01", false},
		{"eIDAS", Citizen{ID: "DE/ES/1", ValidUntil: dniHolder.ValidUntil}, "09/03/2031", false},
		{"zero", Citizen{}, "", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.c.MatchContrast(tc.datum), tc.name)
	}
}

func TestIsPermanentDNI(t *testing.T) {
	c := testCitizen(1)
	assert.False(t, c.IsPermanentDNI())
	c.ValidUntil = time.Date(9999, time.January, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	assert.True(t, c.IsPermanentDNI(), "a calendar date, whatever its location")
	c.ID = testNIE(1)
	assert.False(t, c.IsPermanentDNI(), "only a DNI can be permanent")
}

func TestFamilyNames(t *testing.T) {
	for _, tc := range []struct{ first, second, want string }{
		{"GARCÍA", "LÓPEZ", "GARCÍA LÓPEZ"},
		{"SCHMIDT", "", "SCHMIDT"},
		{" DE LA FUENTE ", " PÉREZ", "DE LA FUENTE PÉREZ"},
		{"", "", ""},
	} {
		assert.Equal(t, tc.want, Citizen{FirstSurname: tc.first, SecondSurname: tc.second}.FamilyNames())
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := Citizen{ID: testDNI(1)}.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		require.True(t, errors.As(e, &fe))
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"valid_until", "given_name", "first_surname", "date_of_birth", "phone", "email", "level", "status"}, fields)
	assert.NotContains(t, err.Error(), testDNI(1))

	assert.NoError(t, testCitizen(1).Validate())
	c := testCitizen(1)
	c.Phone = "600 000 001"
	c.ValidUntil = c.ValidUntil.In(time.FixedZone("CET", 3600))
	assert.NoError(t, c.Validate(), "forms the stores normalise are valid")
}
