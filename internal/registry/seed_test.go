package registry_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/registry"
)

func loadTestSeed(t *testing.T) []registry.Citizen {
	t.Helper()
	f, err := os.Open("testdata/seed.json")
	require.NoError(t, err)
	defer f.Close()
	citizens, err := registry.LoadSeed(f)
	require.NoError(t, err)
	return citizens
}

func TestSeedFile(t *testing.T) {
	citizens := loadTestSeed(t)
	require.Len(t, citizens, 6)

	var nie, permanent, basic, blocked int
	for _, c := range citizens {
		require.NoError(t, c.Validate(), c.Masked())
		assert.True(t, c.CreatedAt.IsZero(), "the store stamps registration time")
		switch {
		case dni.MustParse(c.ID).Kind() == dni.KindNIE:
			nie++
			assert.True(t, c.MatchContrast(strings.ToLower(c.SupportNumber)))
		case c.IsPermanentDNI():
			permanent++
			assert.True(t, c.MatchContrast(c.IssuedOn.Format("02/01/2006")))
			assert.False(t, c.MatchContrast("01/01/9999"))
		default:
			assert.True(t, c.MatchContrast(c.ValidUntil.Format("02-01-2006")))
		}
		if c.Level == registry.LevelBasic {
			basic++
		}
		if c.Status == registry.StatusBlocked {
			blocked++
		}
	}
	assert.Positive(t, nie, "a NIE with support number")
	assert.Positive(t, permanent, "a permanent DNI with issue date")
	assert.Positive(t, basic, "a basic-level citizen")
	assert.Positive(t, blocked, "a blocked citizen")

	s := registry.NewMemoryStore()
	require.NoError(t, registry.SeedStore(t.Context(), s, citizens))
	require.NoError(t, registry.SeedStore(t.Context(), s, citizens), "seeding twice is harmless")
	all, err := s.List(t.Context())
	require.NoError(t, err)
	assert.Len(t, all, len(citizens))

	maria, err := s.Get(t.Context(), dni.MustParse("12345678Z"))
	require.NoError(t, err)
	assert.Equal(t, "GARCIA LOPEZ", maria.FamilyNames())
	assert.Equal(t, "+34600000001", maria.Phone)
}

func TestLoadSeedErrors(t *testing.T) {
	const good = `{"id":"12345678Z","valid_until":"2030-01-01","issued_on":"","support_number":"",` +
		`"given_name":"MARIA","first_surname":"GARCIA","second_surname":"LOPEZ","date_of_birth":"1980-05-17",` +
		`"phone":"+34600000001","email":"maria@example.es","level":"advanced","status":"active"}`
	other := strings.NewReplacer(`12345678Z`, `23456789D`, `+34600000001`, `+34600000002`).Replace(good)
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `{"citizens":`, "seed"},
		{"unknown top-level field", `{"citizens":[],"extra":1}`, "unknown field"},
		{"unknown citizen field", `{"citizens":[` + strings.Replace(good, `"email"`, `"mail"`, 1) + `]}`, "unknown field"},
		{"trailing data", `{"citizens":[]} {}`, "after the JSON object"},
		{"no citizens", `{}`, "missing"},
		{"bad check letter", `{"citizens":[` + good + `,` + strings.Replace(other, "23456789D", "23456789A", 1) + `]}`, "citizen 1: method: invalid citizen id"},
		{"bad date", `{"citizens":[` + strings.Replace(good, "2030-01-01", "01/01/2030", 1) + `]}`, "citizen 0: method: invalid citizen valid_until"},
		{"invalid entry", `{"citizens":[` + good + `,` + strings.Replace(other, `"advanced"`, `"gold"`, 1) + `]}`, "citizen 1: method: invalid citizen level"},
		{"duplicate id", `{"citizens":[` + good + `,` + strings.Replace(good, "+34600000001", "+34600000009", 1) + `]}`, "citizen 1: same id as citizen 0"},
		{"duplicate phone", `{"citizens":[` + good + `,` + strings.Replace(other, "+34600000002", "600 000 001", 1) + `]}`, "citizen 1: same phone as citizen 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.LoadSeed(strings.NewReader(tc.json))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "12345678Z")
			assert.NotContains(t, err.Error(), "23456789")
		})
	}

	citizens, err := registry.LoadSeed(strings.NewReader(`{"citizens":[]}`))
	require.NoError(t, err)
	assert.Empty(t, citizens)
}
