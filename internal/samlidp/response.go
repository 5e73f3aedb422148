package samlidp

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"

	"github.com/clave-go/clave/internal/samlcore"
	"github.com/clave-go/clave/saml"
)

// ResponsePrefixList is the InclusiveNamespaces prefix list the gateway signs
// with: both prefixes are used only inside xsi:type values.
const ResponsePrefixList = "eidas-natural xs"

// ResponseParams describes a Response as the gateway issues it.
type ResponseParams struct {
	// ID and AssertionID are generated when empty.
	ID, AssertionID string
	InResponseTo    string
	// Destination is the ACS URL; it is also the Recipient and the Audience.
	Destination  string
	Issuer       string
	IssueInstant time.Time
	// Validity is the assertion lifetime; 0 means 15 minutes.
	Validity time.Duration
	// Status is nil for success. A failure carries no assertion.
	Status *saml.StatusError
	NameID saml.NameID
	// SubjectAddress is written in SubjectConfirmationData/@Address; the gateway
	// writes an internal address there.
	SubjectAddress string
	LoA            saml.LoA
	AuthnInstant   time.Time
	Attributes     []saml.Attribute
	// Rand supplies IDs; nil means crypto/rand.
	Rand io.Reader
}

// BuildResponse builds an unsigned Response document shaped like the real
// gateway's: namespace prefixes saml2p/saml2/ds/eidas-natural/xs on the root,
// Consent obtained, Issuer, Status, then the Assertion with a transient NameID
// qualified by the issuer, a bearer confirmation, Conditions NotBefore =
// IssueInstant and NotOnOrAfter = +Validity, Audience = ACS, OneTimeUse, the
// AuthnStatement with the achieved LoA, and xsi-typed attribute values.
func BuildResponse(p ResponseParams) (*etree.Document, error) {
	if p.Destination == "" || p.Issuer == "" || p.InResponseTo == "" {
		return nil, errors.New("saml: response needs Destination, Issuer and InResponseTo")
	}
	var err error
	if p.ID == "" {
		if p.ID, err = saml.NewID(p.Rand); err != nil {
			return nil, err
		}
	}
	if p.AssertionID == "" {
		if p.AssertionID, err = saml.NewID(p.Rand); err != nil {
			return nil, err
		}
	}
	if p.Validity == 0 {
		p.Validity = 15 * time.Minute
	}
	issued := saml.FormatInstant(p.IssueInstant)
	until := saml.FormatInstant(p.IssueInstant.Add(p.Validity))

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	r := doc.CreateElement("saml2p:Response")
	r.CreateAttr("xmlns:saml2p", saml.NSProtocol)
	r.CreateAttr("xmlns:ds", saml.NSDSig)
	r.CreateAttr("xmlns:eidas", saml.NSEIDASNatural)
	r.CreateAttr("xmlns:eidas-natural", saml.NSEIDASNatural)
	r.CreateAttr("xmlns:saml2", saml.NSAssertion)
	r.CreateAttr("xmlns:xs", saml.NSXS)
	r.CreateAttr("Consent", saml.ConsentObtained)
	r.CreateAttr("Destination", p.Destination)
	r.CreateAttr("ID", p.ID)
	r.CreateAttr("InResponseTo", p.InResponseTo)
	r.CreateAttr("IssueInstant", issued)
	r.CreateAttr("Version", "2.0")
	samlcore.AppendIssuer(r, p.Issuer)

	st := r.CreateElement("saml2p:Status")
	if p.Status != nil {
		code := p.Status.Code
		sc := st.CreateElement("saml2p:StatusCode")
		sc.CreateAttr("Value", code)
		if p.Status.SubCode != "" {
			sc.CreateElement("saml2p:StatusCode").CreateAttr("Value", p.Status.SubCode)
		}
		if p.Status.Message != "" {
			st.CreateElement("saml2p:StatusMessage").SetText(p.Status.Message)
		}
		return doc, nil
	}
	st.CreateElement("saml2p:StatusCode").CreateAttr("Value", saml.StatusSuccess)
	st.CreateElement("saml2p:StatusMessage").SetText(saml.StatusSuccess)
	if !p.LoA.Valid() {
		return nil, errors.New("saml: a successful response needs a level of assurance")
	}

	a := r.CreateElement("saml2:Assertion")
	a.CreateAttr("ID", p.AssertionID)
	a.CreateAttr("IssueInstant", issued)
	a.CreateAttr("Version", "2.0")
	samlcore.AppendIssuer(a, p.Issuer)
	subj := a.CreateElement("saml2:Subject")
	nid := subj.CreateElement("saml2:NameID")
	format := p.NameID.Format
	if format == "" {
		format = saml.NameIDTransient
	}
	nid.CreateAttr("Format", format)
	nid.CreateAttr("NameQualifier", p.Issuer)
	nid.SetText(p.NameID.Value)
	sc := subj.CreateElement("saml2:SubjectConfirmation")
	sc.CreateAttr("Method", saml.BearerMethod)
	scd := sc.CreateElement("saml2:SubjectConfirmationData")
	if p.SubjectAddress != "" {
		scd.CreateAttr("Address", p.SubjectAddress)
	}
	scd.CreateAttr("InResponseTo", p.InResponseTo)
	scd.CreateAttr("NotOnOrAfter", until)
	scd.CreateAttr("Recipient", p.Destination)
	cond := a.CreateElement("saml2:Conditions")
	cond.CreateAttr("NotBefore", issued)
	cond.CreateAttr("NotOnOrAfter", until)
	cond.CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(p.Destination)
	cond.CreateElement("saml2:OneTimeUse")
	as := a.CreateElement("saml2:AuthnStatement")
	authn := p.AuthnInstant
	if authn.IsZero() {
		authn = p.IssueInstant
	}
	as.CreateAttr("AuthnInstant", saml.FormatInstant(authn))
	ac := as.CreateElement("saml2:AuthnContext")
	ac.CreateElement("saml2:AuthnContextClassRef").SetText(p.LoA.URI())
	ac.CreateElement("saml2:AuthnContextDecl")
	if len(p.Attributes) > 0 {
		ast := a.CreateElement("saml2:AttributeStatement")
		for _, at := range p.Attributes {
			ae := ast.CreateElement("saml2:Attribute")
			if at.FriendlyName != "" {
				ae.CreateAttr("FriendlyName", at.FriendlyName)
			}
			ae.CreateAttr("Name", at.Name)
			ae.CreateAttr("NameFormat", saml.AttrNameFormatURI)
			typ := at.XSIType
			if typ == "" {
				typ = "xs:string"
			}
			for _, val := range at.Values {
				v := ae.CreateElement("saml2:AttributeValue")
				v.CreateAttr("xmlns:xsi", saml.NSXSI)
				v.CreateAttr("xsi:type", typ)
				v.SetText(val)
			}
		}
	}
	return doc, nil
}

// ResponseSecurity says how an issued Response is protected.
type ResponseSecurity struct {
	// Signer signs what SignResponse and SignAssertion ask for.
	Signer *saml.Signer
	// SignResponse signs the root, as the real gateway does.
	SignResponse bool
	// SignAssertion also signs the Assertion (eIDAS style).
	SignAssertion bool
	// EncryptFor, when set, replaces the Assertion with an EncryptedAssertion for
	// this certificate (RSA-OAEP key transport, AES-256-GCM; AES-256-CBC when
	// EncryptCBC is set, for peers without GCM).
	EncryptFor *x509.Certificate
	EncryptCBC bool
}

// SecureResponse signs and encrypts a Response built by BuildResponse, in the
// order a receiver undoes it: assertion signature, encryption, response
// signature.
func SecureResponse(doc *etree.Document, sec ResponseSecurity) error {
	root := doc.Root()
	if root == nil {
		return errors.New("saml: empty document")
	}
	as := samlcore.ChildNS(root, saml.NSAssertion, "Assertion")
	if len(as) == 1 {
		a := as[0]
		if sec.SignAssertion || sec.EncryptFor != nil {
			// Work on a standalone copy that declares every prefix it uses, so it
			// can be signed and encrypted on its own.
			det, err := samlcore.Detach(a)
			if err != nil {
				return err
			}
			if sec.SignAssertion {
				if err := sign(sec.Signer, det, ResponsePrefixList); err != nil {
					return err
				}
			}
			var repl *etree.Element = det
			if sec.EncryptFor != nil {
				if repl, err = encryptAssertion(det, sec); err != nil {
					return err
				}
			}
			idx := a.Index()
			root.RemoveChildAt(idx)
			root.InsertChildAt(idx, repl)
		}
	}
	if sec.SignResponse {
		return sign(sec.Signer, root, ResponsePrefixList)
	}
	return nil
}

func encryptAssertion(a *etree.Element, sec ResponseSecurity) (*etree.Element, error) {
	d := etree.NewDocument()
	d.SetRoot(a)
	plain, err := d.WriteToBytes()
	if err != nil {
		return nil, err
	}
	enc := xmlenc.OAEP()
	enc.BlockCipher = xmlenc.AES256GCM
	if sec.EncryptCBC {
		enc.BlockCipher = xmlenc.AES256CBC
	}
	enc.DigestMethod = &xmlenc.SHA256
	ed, err := enc.Encrypt(sec.EncryptFor, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("saml: encrypting assertion: %w", err)
	}
	ea := etree.NewElement("saml2:EncryptedAssertion")
	ea.AddChild(ed)
	return ea, nil
}
