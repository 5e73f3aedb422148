package clave

import (
	"fmt"
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

// identityFrom maps a validated assertion. The identity is the assertion's
// PersonIdentifier, which the validator has checked (exactly one well-formed
// value); it is parsed again here so that nothing else, the NameID least of
// all, can ever stand in for it.
func identityFrom(a *saml.Assertion) (*Identity, error) {
	p, err := dni.Parse(a.PersonIdentifier)
	if err != nil {
		return nil, fmt.Errorf("%w: PersonIdentifier: %v", saml.ErrIdentity, err)
	}
	id := &Identity{
		PersonIdentifier: p.String(),
		DocumentType:     documentType(p.Kind()),
		LoA:              a.LoA,
		AuthnInstant:     a.AuthnInstant,
		AssertionID:      a.ID,
		Attributes:       make(map[string][]string, len(a.Attributes)),
	}
	if id.DocumentType == DocumentUnknown {
		return nil, fmt.Errorf("%w: PersonIdentifier of unknown kind", saml.ErrIdentity)
	}
	for _, at := range a.Attributes {
		id.Attributes[at.Name] = at.Values
	}
	first := func(name string) string {
		v, _ := a.Attribute(name)
		return strings.TrimSpace(v)
	}
	id.GivenName = first(saml.AttrCurrentGivenName)
	id.FamilyNames = first(saml.AttrCurrentFamilyName)
	id.FirstSurname = first(saml.AttrFirstSurname)
	id.Method = saml.Method(first(saml.AttrSelectedIdP))
	if dob := first(saml.AttrDateOfBirth); dob != "" {
		if t, err := time.Parse("2006-01-02", dob); err == nil {
			id.DateOfBirth = t
		}
	}
	return id, nil
}

func documentType(k dni.Kind) DocumentType {
	switch k {
	case dni.KindDNI:
		return DocumentDNI
	case dni.KindNIE:
		return DocumentNIE
	case dni.KindEIDAS:
		return DocumentEIDAS
	}
	return DocumentUnknown
}
