package samlidp

import (
	"errors"
	"io"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/saml"
)

// LogoutResponseParams describes the gateway's answer to a LogoutRequest.
type LogoutResponseParams struct {
	ID           string
	InResponseTo string
	Destination  string
	IssueInstant time.Time
	// Status is nil for success.
	Status *saml.StatusError
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
		if p.ID, err = saml.NewID(p.Rand); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	r := doc.CreateElement("saml2p:LogoutResponse")
	r.CreateAttr("xmlns:saml2p", saml.NSProtocol)
	r.CreateAttr("xmlns:saml2", saml.NSAssertion)
	r.CreateAttr("Destination", p.Destination)
	r.CreateAttr("ID", p.ID)
	r.CreateAttr("InResponseTo", p.InResponseTo)
	r.CreateAttr("IssueInstant", saml.FormatInstant(p.IssueInstant))
	r.CreateAttr("Version", "2.0")
	iss := r.CreateElement("saml2:Issuer")
	iss.SetText(saml.LogoutIssuer)
	st := r.CreateElement("saml2p:Status")
	code, sub, msg := saml.StatusSuccess, "", ""
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
func SignDocument(doc *etree.Document, s *saml.Signer) ([]byte, error) {
	if err := sign(s, doc.Root(), ""); err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}
