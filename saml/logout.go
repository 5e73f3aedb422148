package saml

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"
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
	issuer(q, r.ReturnURL)
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
	if err := s.signEnveloped(doc.Root(), 1, ""); err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}

// LogoutResponseParams describes the gateway's answer to a LogoutRequest.
type LogoutResponseParams struct {
	ID           string
	InResponseTo string
	Destination  string
	IssueInstant time.Time
	// Status is nil for success.
	Status *StatusError
	Rand   io.Reader
}

// BuildLogoutResponse builds the gateway's unsigned LogoutResponse, Issuer
// "Cl@ve".
func BuildLogoutResponse(p LogoutResponseParams) (*etree.Document, error) {
	if p.Destination == "" || p.InResponseTo == "" {
		return nil, errors.New("saml: logout response needs Destination and InResponseTo")
	}
	if p.ID == "" {
		var err error
		if p.ID, err = NewID(p.Rand); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	r := doc.CreateElement("saml2p:LogoutResponse")
	r.CreateAttr("xmlns:saml2p", NSProtocol)
	r.CreateAttr("xmlns:saml2", NSAssertion)
	r.CreateAttr("Destination", p.Destination)
	r.CreateAttr("ID", p.ID)
	r.CreateAttr("InResponseTo", p.InResponseTo)
	r.CreateAttr("IssueInstant", FormatInstant(p.IssueInstant))
	r.CreateAttr("Version", "2.0")
	iss := r.CreateElement("saml2:Issuer")
	iss.SetText(LogoutIssuer)
	st := r.CreateElement("saml2p:Status")
	code, sub, msg := StatusSuccess, "", ""
	if p.Status != nil {
		code, sub, msg = p.Status.Code, p.Status.SubCode, p.Status.Message
	}
	sc := st.CreateElement("saml2p:StatusCode")
	sc.CreateAttr("Value", code)
	if sub != "" {
		sc.CreateElement("saml2p:StatusCode").CreateAttr("Value", sub)
	}
	if msg != "" {
		st.CreateElement("saml2p:StatusMessage").SetText(msg)
	}
	return doc, nil
}

// SignDocument signs the root of a document built by this package (logout
// responses, gateway error responses), the signature placed after the Issuer.
func SignDocument(doc *etree.Document, s *Signer) ([]byte, error) {
	if err := s.signEnveloped(doc.Root(), 1, ""); err != nil {
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
	root, _, err := openMessage(data, v.MaxSize, "LogoutResponse")
	if err != nil {
		return err
	}
	now := v.now()
	if err := verifyEnveloped(root, v.Trust.Certificates(), v.Algorithms, now); err != nil {
		return err
	}
	if requestID == "" || attr(root, "InResponseTo") != requestID {
		return fmt.Errorf("%w: logout response answers %q", ErrInResponseTo, attr(root, "InResponseTo"))
	}
	if d := attr(root, "Destination"); d != returnURL {
		return fmt.Errorf("%w: %q", ErrDestination, d)
	}
	iss, err := oneChild(root, NSAssertion, "Issuer", true)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIssuer, err)
	}
	if t, _ := textOf(iss); strings.TrimSpace(t) != LogoutIssuer {
		return fmt.Errorf("%w: %q", ErrIssuer, t)
	}
	if err := v.checkInstant(root, now, true); err != nil {
		return err
	}
	return readStatus(root)
}
