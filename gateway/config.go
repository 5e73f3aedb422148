package gateway

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/clave-go/clave/internal/pki"
)

// maxSPConfigSize bounds what LoadServiceProviders reads; inline certificates
// make a config a few kilobytes per service.
const maxSPConfigSize = 4 << 20

// ServiceProviderConfigError is returned by LoadServiceProviders. Index is the
// 0-based entry the problem is about, -1 for the file as a whole; SPID is that
// entry's SPID when it has one.
type ServiceProviderConfigError struct {
	File  string
	Index int
	SPID  string
	Err   error
}

// Error reads "gateway: <file>: service provider <i> (<spid>): <reason>".
func (e *ServiceProviderConfigError) Error() string {
	switch {
	case e.Index < 0:
		return fmt.Sprintf("gateway: %s: %v", e.File, e.Err)
	case e.SPID == "":
		return fmt.Sprintf("gateway: %s: service provider %d: %v", e.File, e.Index, e.Err)
	default:
		return fmt.Sprintf("gateway: %s: service provider %d (%s): %v", e.File, e.Index, e.SPID, e.Err)
	}
}

func (e *ServiceProviderConfigError) Unwrap() error { return e.Err }

// spConfigFile is the JSON shape of a services file, kept apart from
// ServiceProvider so the file format stays stable while the Go type evolves.
type spConfigFile struct {
	ServiceProviders []spConfigEntry `json:"service_providers"`
}

type spConfigEntry struct {
	SPID                  string   `json:"spid"`
	Name                  string   `json:"name"`
	Certificates          []string `json:"certificates"`
	ACSURLs               []string `json:"acs_urls"`
	SignAssertion         bool     `json:"sign_assertion"`
	EncryptionCertificate string   `json:"encryption_certificate"`
}

// LoadServiceProviders reads the services registered at a reference gateway
// from a JSON file of the form
//
//	{"service_providers": [{"spid": "S0000000E_E00000000", "name": "Sede de pruebas",
//	  "certificates": ["sp.pem"], "acs_urls": ["https://sede.example.es/clave/acs"],
//	  "sign_assertion": false, "encryption_certificate": ""}]}
//
// Each certificate is either inline PEM (text containing "-----BEGIN") or the
// path of a PEM file, relative to the config file's directory; a file may hold
// several certificates (a rollover). encryption_certificate, optional, must
// hold exactly one.
//
// It is strict, because a typo in a registration should stop the gateway at
// start rather than make it refuse the service's requests later: unknown
// fields, trailing data, a missing SPID, certificate or ACS URL, an ACS URL
// that is not absolute and two entries sharing an SPID are errors, reported as
// a *ServiceProviderConfigError naming the entry by index and SPID.
func LoadServiceProviders(path string) ([]ServiceProvider, error) {
	fail := func(i int, spid string, err error) error {
		return &ServiceProviderConfigError{File: path, Index: i, SPID: spid, Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSPConfigSize+1))
	if err != nil {
		return nil, fail(-1, "", err)
	}
	if len(data) > maxSPConfigSize {
		return nil, fail(-1, "", fmt.Errorf("larger than %d bytes", maxSPConfigSize))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cf spConfigFile
	if err := dec.Decode(&cf); err != nil {
		return nil, fail(-1, "", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fail(-1, "", errors.New("unexpected data after the JSON object"))
	}
	if cf.ServiceProviders == nil {
		return nil, fail(-1, "", errors.New(`missing "service_providers" array`))
	}

	dir := filepath.Dir(path)
	out := make([]ServiceProvider, 0, len(cf.ServiceProviders))
	seen := make(map[string]int, len(cf.ServiceProviders))
	for i, e := range cf.ServiceProviders {
		sp, err := e.serviceProvider(dir)
		if err != nil {
			return nil, fail(i, e.SPID, err)
		}
		if j, ok := seen[sp.SPID]; ok {
			return nil, fail(i, e.SPID, fmt.Errorf("same spid as service provider %d", j))
		}
		seen[sp.SPID] = i
		out = append(out, sp)
	}
	return out, nil
}

func (e spConfigEntry) serviceProvider(dir string) (ServiceProvider, error) {
	sp := ServiceProvider{SPID: strings.TrimSpace(e.SPID), Name: e.Name, SignAssertion: e.SignAssertion}
	if sp.SPID == "" || strings.Contains(sp.SPID, ";") {
		return sp, errors.New(`"spid" is required and must not contain ';'`)
	}
	if len(e.Certificates) == 0 {
		return sp, errors.New(`"certificates" needs at least one certificate`)
	}
	for j, ref := range e.Certificates {
		certs, err := readCertificates(dir, ref)
		if err != nil {
			return sp, fmt.Errorf("certificates[%d]: %w", j, err)
		}
		sp.Certificates = append(sp.Certificates, certs...)
	}
	if len(e.ACSURLs) == 0 {
		return sp, errors.New(`"acs_urls" needs at least one URL`)
	}
	for j, u := range e.ACSURLs {
		if err := absoluteURL(u); err != nil {
			return sp, fmt.Errorf("acs_urls[%d] %q: %w", j, u, err)
		}
		sp.ACSURLs = append(sp.ACSURLs, u)
	}
	if e.EncryptionCertificate != "" {
		certs, err := readCertificates(dir, e.EncryptionCertificate)
		if err != nil {
			return sp, fmt.Errorf("encryption_certificate: %w", err)
		}
		if len(certs) != 1 {
			return sp, fmt.Errorf("encryption_certificate: want one certificate, found %d", len(certs))
		}
		sp.EncryptionCertificate = certs[0]
	}
	return sp, nil
}

// readCertificates reads inline PEM or a PEM file named relative to dir.
func readCertificates(dir, ref string) ([]*x509.Certificate, error) {
	data := []byte(ref)
	if !strings.Contains(ref, "-----BEGIN") {
		p := ref
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		var err error
		if data, err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	return pki.ParseCertificates(data)
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}
