package clave

import (
	"log/slog"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/saml"
)

// DocumentType classifies a PersonIdentifier.
type DocumentType string

// Document types.
const (
	DocumentDNI     DocumentType = "DNI"
	DocumentNIE     DocumentType = "NIE"
	DocumentEIDAS   DocumentType = "eIDAS" // a citizen of another EU state, "CC/ES/..."
	DocumentUnknown DocumentType = "unknown"
)

// Identity is the citizen a validated response speaks for.
type Identity struct {
	// PersonIdentifier is the bare, normalised NIF/NIE ("12345678Z") or the
	// eIDAS identifier ("IT/ES/...").
	PersonIdentifier string
	DocumentType     DocumentType
	GivenName        string
	// FamilyNames holds both surnames, space-separated, as the gateway sends them.
	FamilyNames  string
	FirstSurname string
	// DateOfBirth is zero when the gateway did not send it.
	DateOfBirth time.Time
	// LoA is the level achieved, never below the one requested.
	LoA saml.LoA
	// Method is the gateway's SelectedIdP (CLVMOVIL, AEAT, GISS, AFIRMA, EIDAS).
	Method       saml.Method
	AuthnInstant time.Time
	// AssertionID identifies the assertion, for audit logs.
	AssertionID string
	// Attributes holds every attribute received, by name, including those
	// mapped above and Cl@ve specifics such as PartialAfirma.
	Attributes map[string][]string `json:"-"`
}

// LogValue keeps full identifiers and names out of logs.
func (id *Identity) LogValue() slog.Value {
	masked := "(none)"
	if p, err := dni.Parse(id.PersonIdentifier); err == nil {
		masked = p.Masked()
	}
	return slog.GroupValue(
		slog.String("person", masked),
		slog.String("loa", id.LoA.String()),
		slog.String("method", string(id.Method)),
		slog.String("assertion", id.AssertionID),
	)
}

// identityFrom maps a validated assertion. The PersonIdentifier attribute is the
// gateway's canonical identifier; the NameID carries the same value and is used
// only when the attribute is missing.
func identityFrom(a *saml.Assertion) *Identity {
	id := &Identity{
		LoA:          a.LoA,
		AuthnInstant: a.AuthnInstant,
		AssertionID:  a.ID,
		Attributes:   make(map[string][]string, len(a.Attributes)),
	}
	for _, at := range a.Attributes {
		id.Attributes[at.Name] = at.Values
	}
	first := func(name string) string {
		v, _ := a.Attribute(name)
		return strings.TrimSpace(v)
	}
	pid := first(saml.AttrPersonIdentifier)
	if pid == "" {
		pid = strings.TrimSpace(a.NameID.Value)
	}
	id.PersonIdentifier, id.DocumentType = classify(pid)
	id.GivenName = first(saml.AttrCurrentGivenName)
	id.FamilyNames = first(saml.AttrCurrentFamilyName)
	id.FirstSurname = first(saml.AttrFirstSurname)
	id.Method = saml.Method(first(saml.AttrSelectedIdP))
	if dob := first(saml.AttrDateOfBirth); dob != "" {
		if t, err := time.Parse("2006-01-02", dob); err == nil {
			id.DateOfBirth = t
		}
	}
	return id
}

func classify(pid string) (string, DocumentType) {
	p, err := dni.Parse(pid)
	if err != nil {
		return pid, DocumentUnknown
	}
	switch p.Kind() {
	case dni.KindDNI:
		return p.String(), DocumentDNI
	case dni.KindNIE:
		return p.String(), DocumentNIE
	case dni.KindEIDAS:
		return p.String(), DocumentEIDAS
	}
	return pid, DocumentUnknown
}
