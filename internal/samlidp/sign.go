package samlidp

import (
	"errors"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlcore"
	"github.com/clave-go/clave/saml"
)

// sign adds an enveloped signature by s to el, referencing its ID attribute,
// right after el's first child element (the Issuer), as the gateway places it.
func sign(s *saml.Signer, el *etree.Element, prefixList string) error {
	if s == nil {
		return errors.New("saml: no signing key configured")
	}
	return samlcore.SignEnveloped(el, 1, prefixList, samlcore.Key{Signer: s.Key, Certificate: s.Certificate, Hash: s.Hash, Rand: s.Rand})
}
