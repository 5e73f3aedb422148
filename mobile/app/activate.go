package app

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/clave-go/clave/mobile"
)

// activationIn is the body of POST /activation; the fields of the other
// methods are left out, since the server refuses unknown ones.
type activationIn struct {
	Method           string   `json:"method"`
	Citizen          string   `json:"citizen"`
	PublicKey        string   `json:"public_key"`
	Code             string   `json:"code,omitempty"`
	CertificateChain []string `json:"certificate_chain,omitempty"`
	Challenge        string   `json:"challenge,omitempty"`
	Proof            string   `json:"proof,omitempty"`
	CAN              string   `json:"can,omitempty"`
}

// ActivateSMS activates this phone for citizen with the 6-digit code that
// [Client.RequestActivationCode] had sent by SMS, and returns it with a
// fresh key pair whose private half is sealed under passphrase. The
// citizen's previous phone, if any, stops working.
//
// A wrong code gives [ErrWrongCode] while attempts remain, then
// [ErrTooManyAttempts]; an old one [ErrExpired].
func (c *Client) ActivateSMS(ctx context.Context, citizen, code string, passphrase []byte) (*Phone, error) {
	return c.activate(ctx, passphrase, activationIn{Method: string(mobile.BySMS), Citizen: citizen, Code: code}, nil)
}

// ActivateCertificate activates this phone for citizen with an electronic
// certificate: chain is its certificate first, then any intermediates, and
// key its private key, which signs a fresh challenge of the gateway together
// with the phone's new public key. The certificate must name citizen and
// chain to a root the gateway trusts; otherwise [ErrBadProof].
func (c *Client) ActivateCertificate(ctx context.Context, citizen string, chain []*x509.Certificate, key crypto.Signer, passphrase []byte) (*Phone, error) {
	return c.activate(ctx, passphrase, activationIn{Method: string(mobile.ByCertificate), Citizen: citizen}, &prover{chain: chain, key: key})
}

// ActivateDNIe activates this phone for citizen with the DNIe read over NFC:
// chain is the card's authentication certificate and its intermediates, key
// the card's key, and can the 6-digit card access number printed on it.
// A wrong CAN or a card the gateway does not trust gives [ErrBadProof].
func (c *Client) ActivateDNIe(ctx context.Context, citizen, can string, chain []*x509.Certificate, key crypto.Signer, passphrase []byte) (*Phone, error) {
	return c.activate(ctx, passphrase, activationIn{Method: string(mobile.ByDNIe), Citizen: citizen, CAN: can}, &prover{chain: chain, key: key})
}

// prover is a certificate and its key, which vouch for a new device key.
type prover struct {
	chain []*x509.Certificate
	key   crypto.Signer
}

// check fails early, before the gateway is asked for anything, on a chain
// and key that cannot make a proof.
func (p *prover) check() error {
	if len(p.chain) == 0 || p.chain[0] == nil || p.key == nil {
		return errors.New("app: a certificate and its private key are required")
	}
	for _, c := range p.chain {
		if c == nil {
			return errors.New("app: nil certificate in the chain")
		}
	}
	return nil
}

// sign signs msg, a [mobile.ActivationProof], with SHA-256 as the API wants it (RSA PKCS #1 v1.5 or
// ECDSA) and checks the signature against the certificate, which catches a
// key that is not the certificate's.
func (p *prover) sign(msg []byte) ([]byte, error) {
	var alg x509.SignatureAlgorithm
	switch p.chain[0].PublicKey.(type) {
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSA
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	default:
		return nil, fmt.Errorf("app: certificate key of type %T: want RSA or ECDSA", p.chain[0].PublicKey)
	}
	digest := sha256.Sum256(msg)
	sig, err := p.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("app: signing the activation proof: %w", err)
	}
	if err := p.chain[0].CheckSignature(alg, msg, sig); err != nil {
		return nil, fmt.Errorf("app: the private key is not the certificate's: %w", err)
	}
	return sig, nil
}

// activate makes the phone's key pair, has the gateway activate its public
// half, and seals the private half under passphrase.
func (c *Client) activate(ctx context.Context, passphrase []byte, in activationIn, p *prover) (*Phone, error) {
	if p != nil {
		if err := p.check(); err != nil {
			return nil, err
		}
	}
	// The slow derivation comes first: once the gateway has activated the
	// key, nothing should be left that could fail and lose it.
	dk, err := deriveNew(passphrase, c.KDF)
	if err != nil {
		return nil, err
	}
	defer clear(dk.key)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("app: making the device key: %w", err)
	}
	defer clear(priv)
	in.PublicKey = b64.EncodeToString(pub)
	if p != nil {
		if in.Challenge, _, err = c.Challenge(ctx); err != nil {
			return nil, err
		}
		sig, err := p.sign(mobile.ActivationProof(in.Challenge, pub, mobile.ActivationMethod(in.Method)))
		if err != nil {
			return nil, err
		}
		in.Proof = b64.EncodeToString(sig)
		for _, cert := range p.chain {
			in.CertificateChain = append(in.CertificateChain, b64.EncodeToString(cert.Raw))
		}
	}
	var out struct {
		DeviceID    string    `json:"device_id"`
		Citizen     string    `json:"citizen"`
		Method      string    `json:"method"`
		ActivatedAt time.Time `json:"activated_at"`
	}
	if err := c.call(ctx, http.MethodPost, "/activation", nil, in, nil, &out); err != nil {
		return nil, err
	}
	if out.DeviceID == "" || out.Citizen == "" {
		return nil, fmt.Errorf("%w: activation without device ID or citizen", ErrBadAnswer)
	}
	method := mobile.ActivationMethod(out.Method)
	if method == "" {
		method = mobile.ActivationMethod(in.Method)
	}
	key, err := dk.seal(priv, out.DeviceID, out.Citizen)
	if err != nil {
		return nil, err
	}
	client := *c
	return &Phone{Gateway: c.BaseURL, DeviceID: out.DeviceID, Citizen: out.Citizen, Method: method,
		ActivatedAt: out.ActivatedAt, PublicKey: pub, key: key, client: &client}, nil
}
