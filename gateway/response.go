package gateway

import (
	"bytes"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// buildResponse issues the signed Response for a flow: the citizen's identity at
// loa, or the status st. Attributes follow the real gateway: PersonIdentifier,
// names and SelectedIdP always; DateOfBirth when asked for.
func (g *Gateway) buildResponse(f *flow.Flow, c *Citizen, loa saml.LoA, st *saml.StatusError) ([]byte, error) {
	p, err := g.responseParams(f, c, loa, st)
	if err != nil {
		return nil, err
	}
	doc, err := samlidp.BuildResponse(p)
	if err != nil {
		return nil, err
	}
	sec := samlidp.ResponseSecurity{Signer: g.signer, SignResponse: true}
	if sp, ok := g.serviceProvider(f.SPID); ok && c != nil {
		sec.SignAssertion = sp.SignAssertion
		sec.EncryptFor = sp.EncryptionCertificate
	}
	if err := samlidp.SecureResponse(doc, sec); err != nil {
		return nil, err
	}
	// A login's response is 5 to 15 KB: starting there spares the buffer the
	// dozen doublings WriteToBytes goes through from empty.
	var out bytes.Buffer
	out.Grow(16 << 10)
	if _, err := doc.WriteTo(&out); err != nil {
		return nil, err
	}
	// An armed fault starts from exactly this response (see applyArmedFault).
	g.controls.built(f.ID, p, c != nil && st == nil)
	return out.Bytes(), nil
}

// responseParams are the fields of a flow's Response, IDs included, so that
// the genuine response and an armed fault's variant of it agree.
func (g *Gateway) responseParams(f *flow.Flow, c *Citizen, loa saml.LoA, st *saml.StatusError) (samlidp.ResponseParams, error) {
	rid, err := saml.NewID(nil)
	if err != nil {
		return samlidp.ResponseParams{}, err
	}
	aid, err := saml.NewID(nil)
	if err != nil {
		return samlidp.ResponseParams{}, err
	}
	p := samlidp.ResponseParams{
		ID:             rid,
		AssertionID:    aid,
		InResponseTo:   f.RequestID,
		Destination:    f.ACSURL,
		Issuer:         g.cfg.Issuer,
		IssueInstant:   g.cfg.Now(),
		Status:         st,
		SubjectAddress: g.cfg.SubjectAddress,
		LoA:            loa,
	}
	if c != nil {
		id := c.ID
		format := f.NameIDFormat
		if format == "" || format == saml.NameIDUnspecified {
			format = saml.NameIDTransient
		}
		p.NameID = saml.NameID{Value: id, Format: format}
		p.AuthnInstant = p.IssueInstant
		p.Attributes = []saml.Attribute{
			{Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName", XSIType: "eidas-natural:CurrentFamilyNameType", Values: []string{c.FamilyNames()}},
			{Name: saml.AttrCurrentGivenName, FriendlyName: "FirstName", XSIType: "eidas-natural:CurrentGivenNameType", Values: []string{c.GivenName}},
			{Name: saml.AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{id}},
			{Name: saml.AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{c.FirstSurname}},
		}
		for _, a := range f.Attributes {
			if a == saml.AttrDateOfBirth && !c.DateOfBirth.IsZero() {
				p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrDateOfBirth, FriendlyName: "DateOfBirth",
					XSIType: "eidas-natural:DateOfBirthType", Values: []string{c.DateOfBirth.Format("2006-01-02")}})
			}
		}
		p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{string(f.Method)}})
	}
	return p, nil
}
