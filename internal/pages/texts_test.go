package pages

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests read texts after init, so they cover every map merged into it
// (texts.go, texts_site.go, and any added later).

// productNames are the names of Cl@ve's methods: brands, never translated.
var productNames = []string{"Cl@ve Móvil", "Cl@ve PIN", "Cl@ve Permanente"}

// nameWord is the word after "Cl@ve" ("Cl@ve Móvil", "Cl@ve app").
var nameWord = regexp.MustCompile(`Cl@ve[ -](\pL+)`)

// translatedProductNames lists the product names s translates or
// half-translates (Cl@ve Mobile, Cl@ve Mòbil, Cl@ve Móbil, Cl@ve Permanent,
// Cl@ve Mugikorra, Cl@ve Iraunkorra...): "Cl@ve" then a word that starts
// like one of the names but is none of them.
func translatedProductNames(s string) []string {
	var out []string
	for _, m := range nameWord.FindAllStringSubmatch(s, -1) {
		w := m[1]
		if w == "Móvil" || w == "Permanente" || w == "PIN" {
			continue
		}
		l := strings.ToLower(w)
		for _, p := range []string{"mob", "mòb", "mób", "mov", "mòv", "móv", "mugikor", "iraunkor", "permanen", "pin"} {
			if strings.HasPrefix(l, p) {
				out = append(out, m[0])
			}
		}
	}
	return out
}

// TestTextsEveryKeyInEveryLanguage: every language has every key of every
// language, none empty, and no language has texts without being offered.
func TestTextsEveryKeyInEveryLanguage(t *testing.T) {
	all := map[string]bool{}
	for _, m := range texts {
		for k := range m {
			all[k] = true
		}
	}
	require.NotEmpty(t, all)
	for _, l := range Languages {
		m, ok := texts[l]
		require.True(t, ok, "no texts for %q", l)
		var missing []string
		for k := range all {
			if strings.TrimSpace(m[k]) == "" {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		assert.Empty(t, missing, "keys missing or empty in %q", l)
	}
	for l := range texts {
		assert.True(t, supported(l), "texts for %q, which is not in Languages", l)
	}
}

// TestTextsKeepProductNames: a product name in the Spanish text is in every
// translation of it, as is, and no text anywhere translates one.
func TestTextsKeepProductNames(t *testing.T) {
	for _, l := range Languages {
		for k, s := range texts[l] {
			assert.Empty(t, translatedProductNames(s), "%s/%s translates a product name: %q", l, k, s)
			for _, name := range productNames {
				if strings.Contains(texts["es"][k], name) {
					assert.Contains(t, s, name, "%s/%s lost %q", l, k, name)
				}
			}
		}
		assert.Equal(t, "Cl@ve Móvil", texts[l]["method.CLVMOVIL"], l)
		assert.Equal(t, "Cl@ve PIN", texts[l]["method.AEAT"], l)
		assert.Equal(t, "Cl@ve Permanente", texts[l]["method.GISS"], l)
	}
	for _, bad := range []string{"Cl@ve Mobile", "Cl@ve Mòbil", "Cl@ve Móbil", "Cl@ve Permanent.", "Cl@ve Permanent,",
		"Cl@ve Pin", "Cl@ve Mugikorrarekin", "Cl@ve Iraunkorra"} {
		assert.NotEmpty(t, translatedProductNames(bad), bad)
	}
	for _, good := range []string{"Cl@ve Móvil", "Cl@ve Permanente", "Cl@ve Permanente-n", "Cl@ve PIN", "Cl@ve app", "Cl@ve Móvil-en"} {
		assert.Empty(t, translatedProductNames(good), good)
	}
}

// verbs lists the fmt verbs of a text, in order: a translation must take
// the same arguments as the Spanish text, or a message loses its code.
var verbRe = regexp.MustCompile(`%(\[\d+\])?[-+#0]*[0-9]*(\.[0-9]+)?[vTtbcdoOqxXUeEfFgGsp%]`)

func TestTextsSameVerbsAsSpanish(t *testing.T) {
	verbs := func(s string) []string {
		vs := verbRe.FindAllString(s, -1)
		sort.Strings(vs)
		return slices.Compact(vs) // a language may name an argument once where Spanish does twice
	}
	for k, es := range texts["es"] {
		for _, l := range Languages {
			assert.Equal(t, verbs(es), verbs(texts[l][k]), "%s/%s", l, k)
		}
	}
}

// centralCatalan are forms of Catalan that standard Valencian writes
// otherwise (este, eixir, -ix-, vosté's imperatives): one of them in the
// Valencian texts means a Catalan text was copied.
var centralCatalan = regexp.MustCompile(`(?i)\b(aquest|aquesta|aquests|aquestes|vostre|vostra|vostres|sortir|surt|` +
	`ofereix|serveix|existeix|compleix|coincideixen|obtenir|tenir|` +
	`torneu|espereu|introduïu|trieu|seleccioneu|comproveu|confirmeu|demaneu|marqueu|activeu|guardeu|feu|podeu|rebreu)\b`)

func TestValencianIsNotCatalan(t *testing.T) {
	same := 0
	for k, s := range texts["ca-valencia"] {
		assert.Empty(t, centralCatalan.FindAllString(s, -1), "ca-valencia/%s: %q", k, s)
		if s == texts["ca"][k] {
			same++
		}
	}
	assert.Less(t, same, len(texts["ca-valencia"])/2, "most Valencian texts are the Catalan ones")
	assert.Equal(t, "Torne-ho a intentar més tard.", strings.TrimPrefix(T("ca-valencia", "pin.ratelimited"), "Ha demanat massa PIN. "))
}

// TestMessages: each SMS and app message, in each language, carries every
// fact its arguments give, and keeps the shape scripts read.
func TestMessages(t *testing.T) {
	pinSMS := regexp.MustCompile(`^Cl@ve PIN: ([A-Z2-7]{3})\. [^:]*: ([A-Z0-9]{4})\. `)
	for _, l := range Languages {
		t.Run(l, func(t *testing.T) {
			s := Textf(l, "sms.pin", "K7Q", "AB12", "14:05")
			m := pinSMS.FindStringSubmatch(s)
			require.NotNil(t, m, s)
			assert.Equal(t, []string{"K7Q", "AB12"}, m[1:])
			assert.Contains(t, s, "14:05")

			for key, args := range map[string][]any{
				"sms.movil.push":          {"Agencia de pruebas", "427"},
				"sms.movil.pin":           {"Agencia de pruebas", "834201", "14:05"},
				"sms.movil.activation":    {"QZ7K2M", 10},
				"sms.permanente.login":    {"Agencia de pruebas", "550123", "14:05"},
				"sms.permanente.activate": {"550123", "14:05"},
				"sms.permanente.reset":    {"550123", "14:05"},
			} {
				s := Textf(l, key, args...)
				assert.NotContains(t, s, "%!", "%s/%s: %q", l, key, s)
				for _, a := range args {
					assert.Contains(t, s, fmt.Sprint(a), "%s/%s", l, key)
				}
				assert.Contains(t, s, "Cl@ve", "%s/%s", l, key)
			}
		})
	}
	assert.Equal(t, "Cl@ve PIN: K7Q. Código de solicitud: AB12. Válido hasta las 14:05.", Textf("es", "sms.pin", "K7Q", "AB12", "14:05"))
	assert.Equal(t, "Cl@ve PIN: K7Q. Request code: AB12. Valid until 14:05.", Textf("en", "sms.pin", "K7Q", "AB12", "14:05"))
	assert.Equal(t, Textf("es", "sms.pin", "K7Q", "AB12", "14:05"), Textf("fr", "sms.pin", "K7Q", "AB12", "14:05"), "Spanish for any other language")
}
