package main

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clave-go/clave/saml"
)

// languages are the site's languages, in the order of the switch, each
// named in itself.
var languages = []struct{ Tag, Name string }{
	{"es", "Español"}, {"ca", "Català"}, {"ca-valencia", "Valencià"}, {"gl", "Galego"}, {"eu", "Euskara"}, {"en", "English"},
}

// langCookie keeps the language chosen with the switch.
const langCookie = "lang"

// texts are the site's texts by language and key; every language has every
// key (TestTextsComplete).
var texts = map[string]map[string]string{
	"es": {
		"site":            "Sede electrónica de pruebas",
		"skip":            "Saltar al contenido",
		"language":        "Idioma",
		"intro":           "Para hacer trámites debe identificarse.",
		"login":           "Entrar con Cl@ve",
		"welcome":         "Bienvenido/a, %s.",
		"yourdata":        "Sus datos",
		"document":        "Documento",
		"birth":           "Fecha de nacimiento",
		"loa":             "Nivel de seguridad",
		"method":          "Cómo se identificó",
		"when":            "Identificado/a el",
		"timezone":        "hora peninsular",
		"logout":          "Cerrar sesión",
		"logout.ask":      "¿Cerrar sesión?",
		"logout.info":     "Saldrá de este servicio y de Cl@ve. Los trámites a medias no se guardan.",
		"logout.no":       "Volver sin cerrar la sesión",
		"loa.low":         "bajo",
		"loa.substantial": "sustancial",
		"loa.high":        "alto",
		"m.AFIRMA":        "certificado electrónico o DNIe",
		"m.EIDAS":         "identidad europea (eIDAS)",
		"notfound":        "Esta página no existe.",
	},
	"ca": {
		"site":            "Seu electrònica de proves",
		"skip":            "Salta al contingut",
		"language":        "Idioma",
		"intro":           "Per fer tràmits s'ha d'identificar.",
		"login":           "Entri amb Cl@ve",
		"welcome":         "Benvingut/da, %s.",
		"yourdata":        "Les seves dades",
		"document":        "Document",
		"birth":           "Data de naixement",
		"loa":             "Nivell de seguretat",
		"method":          "Com s'ha identificat",
		"when":            "Identificat/da el",
		"timezone":        "hora peninsular",
		"logout":          "Tanqui la sessió",
		"logout.ask":      "Vol tancar la sessió?",
		"logout.info":     "Sortirà d'aquest servei i de Cl@ve. Els tràmits a mig fer no es desen.",
		"logout.no":       "Torni sense tancar la sessió",
		"loa.low":         "baix",
		"loa.substantial": "substancial",
		"loa.high":        "alt",
		"m.AFIRMA":        "certificat electrònic o DNIe",
		"m.EIDAS":         "identitat europea (eIDAS)",
		"notfound":        "Aquesta pàgina no existeix.",
	},
	"ca-valencia": {
		"site":            "Seu electrònica de proves",
		"skip":            "Bota al contingut",
		"language":        "Idioma",
		"intro":           "Per a fer tràmits s'ha d'identificar.",
		"login":           "Entre amb Cl@ve",
		"welcome":         "Benvingut/da, %s.",
		"yourdata":        "Les seues dades",
		"document":        "Document",
		"birth":           "Data de naixement",
		"loa":             "Nivell de seguretat",
		"method":          "Com s'ha identificat",
		"when":            "Identificat/da el",
		"timezone":        "hora peninsular",
		"logout":          "Tanque la sessió",
		"logout.ask":      "Vol tancar la sessió?",
		"logout.info":     "Eixirà d'este servei i de Cl@ve. Els tràmits a mig fer no es guarden.",
		"logout.no":       "Torne sense tancar la sessió",
		"loa.low":         "baix",
		"loa.substantial": "substancial",
		"loa.high":        "alt",
		"m.AFIRMA":        "certificat electrònic o DNIe",
		"m.EIDAS":         "identitat europea (eIDAS)",
		"notfound":        "Esta pàgina no existix.",
	},
	"gl": {
		"site":            "Sede electrónica de probas",
		"skip":            "Saltar ao contido",
		"language":        "Idioma",
		"intro":           "Para facer trámites debe identificarse.",
		"login":           "Entrar con Cl@ve",
		"welcome":         "Benvido/a, %s.",
		"yourdata":        "Os seus datos",
		"document":        "Documento",
		"birth":           "Data de nacemento",
		"loa":             "Nivel de seguridade",
		"method":          "Como se identificou",
		"when":            "Identificado/a o",
		"timezone":        "hora peninsular",
		"logout":          "Pechar sesión",
		"logout.ask":      "Pechar sesión?",
		"logout.info":     "Sairá deste servizo e de Cl@ve. Os trámites a medias non se gardan.",
		"logout.no":       "Volver sen pechar a sesión",
		"loa.low":         "baixo",
		"loa.substantial": "substancial",
		"loa.high":        "alto",
		"m.AFIRMA":        "certificado electrónico ou DNIe",
		"m.EIDAS":         "identidade europea (eIDAS)",
		"notfound":        "Esta páxina non existe.",
	},
	"eu": {
		"site":            "Probetako egoitza elektronikoa",
		"skip":            "Joan edukira",
		"language":        "Hizkuntza",
		"intro":           "Izapideak egiteko identifikatu egin behar duzu.",
		"login":           "Sartu Cl@ve bidez",
		"welcome":         "Ongi etorri, %s.",
		"yourdata":        "Zure datuak",
		"document":        "Dokumentua",
		"birth":           "Jaiotze-data",
		"loa":             "Segurtasun-maila",
		"method":          "Nola identifikatu zaren",
		"when":            "Identifikazio-data",
		"timezone":        "penintsulako ordua",
		"logout":          "Itxi saioa",
		"logout.ask":      "Saioa itxi nahi duzu?",
		"logout.info":     "Zerbitzu honetatik eta Cl@ve-tik irtengo zara. Amaitu gabeko izapideak ez dira gordetzen.",
		"logout.no":       "Itzuli saioa itxi gabe",
		"loa.low":         "baxua",
		"loa.substantial": "nabarmena",
		"loa.high":        "altua",
		"m.AFIRMA":        "ziurtagiri elektronikoa edo NAN elektronikoa",
		"m.EIDAS":         "Europako identitatea (eIDAS)",
		"notfound":        "Orri hau ez dago.",
	},
	"en": {
		"site":            "Test e-government office",
		"skip":            "Skip to content",
		"language":        "Language",
		"intro":           "You need to identify yourself to carry out procedures.",
		"login":           "Log in with Cl@ve",
		"welcome":         "Welcome, %s.",
		"yourdata":        "Your details",
		"document":        "Document",
		"birth":           "Date of birth",
		"loa":             "Level of assurance",
		"method":          "How you logged in",
		"when":            "Logged in on",
		"timezone":        "Madrid time",
		"logout":          "Log out",
		"logout.ask":      "Log out?",
		"logout.info":     "You will leave this service and Cl@ve. Unfinished procedures are not saved.",
		"logout.no":       "Go back without logging out",
		"loa.low":         "low",
		"loa.substantial": "substantial",
		"loa.high":        "high",
		"m.AFIRMA":        "electronic certificate or DNIe",
		"m.EIDAS":         "European identity (eIDAS)",
		"notfound":        "This page does not exist.",
	},
}

// text returns key in lang (Spanish if lang has none).
func text(lang, key string) string {
	if s, ok := texts[lang][key]; ok {
		return s
	}
	return texts["es"][key]
}

// loaName is the citizen's word for a level of assurance.
func loaName(lang string, l saml.LoA) string {
	if !l.Valid() {
		return ""
	}
	return text(lang, "loa."+l.String())
}

// methodName is how citizens know the method the gateway reports: the Cl@ve
// brand names, which are not translated, or a description.
func methodName(lang string, m saml.Method) string {
	switch m {
	case saml.MethodMovil:
		return "Cl@ve Móvil"
	case saml.MethodAEATPIN:
		return "Cl@ve PIN"
	case saml.MethodGISS:
		return "Cl@ve Permanente"
	case saml.MethodAfirma, saml.MethodEIDAS:
		return text(lang, "m."+string(m))
	}
	return string(m)
}

// madrid is the time zone of the login time: the citizen's, for most.
var madrid = func() *time.Location {
	l, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		return time.UTC
	}
	return l
}()

// pickLanguage is the language for r: the switch's cookie, then
// Accept-Language, then Spanish.
func pickLanguage(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil {
		if l := matchLanguage(ck.Value); l != "" {
			return l
		}
	}
	best, bestQ := "es", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		if l := matchLanguage(tag); l != "" && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// matchLanguage maps a language tag to one of languages, or "".
func matchLanguage(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	primary, _, _ := strings.Cut(tag, "-")
	switch {
	case primary == "ca" && strings.Contains(tag, "valencia"):
		return "ca-valencia"
	case primary == "ca", primary == "es", primary == "gl", primary == "eu", primary == "en":
		return primary
	}
	return ""
}
