package saml

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlcore"
)

// LogoutRequest is the Cl@ve logout request. Unlike standard SAML it is posted in
// the form field logoutRequest, its Issuer is the URL where the service wants the
// answer, and its NameID holds the service's SPID, not the citizen.
type LogoutRequest struct {
	ID           string
	IssueInstant time.Time
	Destination  string
	// ReturnURL receives the LogoutResponse; it is sent as the Issuer.
	ReturnURL string
	SPID      string
	Rand      io.Reader
}

// Build returns the unsigned request document.
func (r *LogoutRequest) Build() (*etree.Document, error) {
	if r.Destination == "" || r.ReturnURL == "" || r.SPID == "" {
		return nil, errors.New("saml: logout request needs Destination, ReturnURL and SPID")
	}
	if r.ID == "" {
		var err error
		if r.ID, err = NewID(r.Rand); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	q := doc.CreateElement("saml2p:LogoutRequest")
	q.CreateAttr("xmlns:saml2p", NSProtocol)
	q.CreateAttr("xmlns:saml2", NSAssertion)
	q.CreateAttr("Consent", ConsentUnspecified)
	q.CreateAttr("Destination", r.Destination)
	q.CreateAttr("ID", r.ID)
	q.CreateAttr("IssueInstant", FormatInstant(r.IssueInstant))
	q.CreateAttr("Version", "2.0")
	samlcore.AppendIssuer(q, r.ReturnURL)
	nid := q.CreateElement("saml2:NameID")
	nid.CreateAttr("Format", NameIDUnspecified)
	nid.SetText(r.SPID)
	return doc, nil
}

// Sign builds and signs the request (signature after the Issuer).
func (r *LogoutRequest) Sign(s *Signer) ([]byte, error) {
	doc, err := r.Build()
	if err != nil {
		return nil, err
	}
	if err := s.sign(doc.Root(), 1); err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}

// ValidateLogoutResponse validates the gateway's signed answer to the logout
// request requestID, posted to returnURL. A non-success status is returned as a
// *StatusError.
func (v *Validator) ValidateLogoutResponse(data []byte, requestID, returnURL string) error {
	if v.Trust == nil {
		return errors.New("saml: validator needs Trust")
	}
	root, _, err := samlcore.OpenMessage(data, v.MaxSize, "LogoutResponse")
	if err != nil {
		return err
	}
	now := v.now()
	if err := samlcore.VerifyEnveloped(root, v.Trust.Certificates(), v.Algorithms.core(), now); err != nil {
		return err
	}
	if requestID == "" || samlcore.Attr(root, "InResponseTo") != requestID {
		return fmt.Errorf("%w: logout response answers %q", ErrInResponseTo, samlcore.Attr(root, "InResponseTo"))
	}
	if d := samlcore.Attr(root, "Destination"); d != returnURL {
		return fmt.Errorf("%w: %q", ErrDestination, d)
	}
	iss, err := samlcore.OneChild(root, NSAssertion, "Issuer", true)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIssuer, err)
	}
	if t, _ := samlcore.TextOf(iss); strings.TrimSpace(t) != LogoutIssuer {
		return fmt.Errorf("%w: %q", ErrIssuer, t)
	}
	if err := v.checkInstant(root, now, true); err != nil {
		return err
	}
	return readStatus(root)
}
