package samlidp

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/saml"
)

// MarshalCertificatesDocument writes the certificates document our reference
// gateway serves. The real gateway's envelope is not documented, so this one
// borrows SAML metadata's vocabulary, where KeyDescriptor and its use attribute
// come from: the root is md:Certificates (named after saml.CertificatesPath) with md =
// SAML 2.0 metadata and ds = XML-DSig, and each entry is an md:KeyDescriptor
// holding ds:KeyInfo with ds:KeyName, ds:MgmtData and ds:X509Data. Empty KeyName,
// State and Use are omitted. The output round-trips through
// saml.ParseCertificatesDocument, so inputs it would refuse are refused here.
func MarshalCertificatesDocument(certs []saml.PublishedCertificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("saml: no certificate to publish")
	}
	if len(certs) > saml.MaxPublishedCertificates {
		return nil, fmt.Errorf("saml: %d certificates to publish, at most %d", len(certs), saml.MaxPublishedCertificates)
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("md:Certificates")
	root.CreateAttr("xmlns:md", nsMetadata)
	root.CreateAttr("xmlns:ds", saml.NSDSig)
	for i, pc := range certs {
		switch pc.Use {
		case saml.UseSigning, saml.UseEncryption, "":
		default:
			return nil, fmt.Errorf("saml: certificate #%d: unknown use %q", i+1, pc.Use)
		}
		if pc.Certificate == nil || len(pc.Certificate.Raw) == 0 {
			return nil, fmt.Errorf("saml: certificate #%d has no DER", i+1)
		}
		kd := root.CreateElement("md:KeyDescriptor")
		if pc.Use != "" {
			kd.CreateAttr("use", pc.Use)
		}
		ki := kd.CreateElement("ds:KeyInfo")
		if pc.KeyName != "" {
			ki.CreateElement("ds:KeyName").SetText(pc.KeyName)
		}
		if pc.State != "" {
			ki.CreateElement("ds:MgmtData").SetText(pc.State)
		}
		ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(pc.Certificate.Raw))
	}
	doc.Indent(2)
	return doc.WriteToBytes()
}

// nsMetadata is SAML 2.0 metadata, the namespace of the KeyDescriptor we publish.
const nsMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"
