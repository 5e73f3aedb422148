// Command conformance runs the Cl@ve service-provider conformance kit against
// a running service: it plays the gateway, answers logins the service starts
// with each response of the catalogue (valid, forged, wrapped, expired,
// replayed, ...) and reports which ones the service mishandled.
//
//	go run ./examples/conformance -sp http://127.0.0.1:8080/perfil -keys ./kit-keys \
//	    -json report.json -html report.html [-cases XSW,ALG-01] [-addr 127.0.0.1:9100]
//
// Configure the service once with the certificates it prints (or, with -addr,
// let it fetch the kit's certificates document) and the pre-production
// gateway Issuer. The exit status is 0 when every case passed (or -h asked
// for help), 1 when any case failed, and 2 when the kit could not run: a
// usage error, or a service that does not answer (checked before the first
// case, and the run stops at the first case it stops answering).
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/conformance"
	"github.com/clave-go/clave/saml"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := exitCode(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode runs the command and returns its exit status (see the package
// doc): main's logic, minus the process.
func exitCode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ok, err := run(ctx, args, stdout)
	switch {
	case errors.Is(err, flag.ErrHelp): // the usage is printed: what was asked
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "conformance:", err)
		return 2
	case !ok:
		return 1
	}
	return 0
}

// checkTimeout bounds the first request to the service, made before any case
// to tell "the service is not running" apart from failed cases: a service
// that is up answers its login page in well under a second.
const checkTimeout = 5 * time.Second

type options struct {
	sp, keys, jsonOut, htmlOut, cases, addr, issuer, encCert string
}

func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.sp, "sp", "", "a page of the service that requires a login, e.g. http://127.0.0.1:8080/perfil (required)")
	fs.StringVar(&o.keys, "keys", "kit-keys", "directory of the kit's gateway keys, made on first use; the service must trust "+conformance.TrustedCertificatesFile+" in it")
	fs.StringVar(&o.jsonOut, "json", "", "write the JSON report to this file")
	fs.StringVar(&o.htmlOut, "html", "", "write the HTML report to this file")
	fs.StringVar(&o.cases, "cases", "", "comma-separated case IDs, ID families (XSW) or groups to run; default all")
	fs.StringVar(&o.addr, "addr", "", "also serve the kit's certificates document at http://<addr>"+saml.CertificatesPath+" while running")
	fs.StringVar(&o.issuer, "issuer", saml.PreproductionIssuer, "gateway Issuer the responses carry")
	fs.StringVar(&o.encCert, "enc-cert", "", "PEM encryption certificate of the service; enables the encrypted-assertion cases")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.sp == "" {
		return nil, errors.New("-sp is required")
	}
	return o, nil
}

// run runs the kit as the flags say and reports whether every case passed.
func run(ctx context.Context, args []string, out io.Writer) (bool, error) {
	o, err := parseFlags(args, out)
	if err != nil {
		return false, err
	}
	cfg := conformance.KitConfig{Issuer: o.issuer, KeyDir: o.keys}
	if o.cases != "" {
		cfg.Cases = strings.Split(o.cases, ",")
	}
	if o.encCert != "" {
		if cfg.EncryptionCertificate, err = readCertificate(o.encCert); err != nil {
			return false, err
		}
	}
	k, err := conformance.NewKit(cfg)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "gateway Issuer: %s\ntrusted certificates (configure the service with them): %s\n",
		k.Issuer(), filepath.Join(o.keys, conformance.TrustedCertificatesFile))
	if o.addr != "" {
		stop, url, err := serveCertificates(k, o.addr)
		if err != nil {
			return false, err
		}
		defer stop()
		fmt.Fprintf(out, "certificates document: %s\n", url)
	}

	target := conformance.HTTPTarget{StartURL: o.sp}
	check, cancel := context.WithTimeout(ctx, checkTimeout)
	err = target.Check(check)
	cancel()
	if err != nil {
		return false, err
	}
	rep, err := k.Run(ctx, target)
	if err != nil {
		return false, err
	}
	for _, r := range rep.Cases {
		if !r.Pass && !r.Skipped {
			fmt.Fprintf(out, "FAIL %-8s %s: %s\n", r.ID, r.Title, r.Detail)
		}
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped of %d cases\n", rep.Passed, rep.Failed, rep.Skipped, len(rep.Cases))
	if err := writeFile(o.jsonOut, rep.WriteJSON); err != nil {
		return false, err
	}
	if err := writeFile(o.htmlOut, rep.WriteHTML); err != nil {
		return false, err
	}
	return rep.OK(), nil
}

func readCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs[0], nil
}

// parseCertificates reads every CERTIFICATE block of a PEM file.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// certificatesHandler serves the kit's certificates document, as the gateway
// serves its own, for services that follow it with saml.CertificateFetcher.
func certificatesHandler(k *conformance.Kit) (http.Handler, error) {
	doc, err := k.CertificatesDocument()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+saml.CertificatesPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(doc)
	})
	return mux, nil
}

func serveCertificates(k *conformance.Kit, addr string) (stop func(), url string, err error) {
	h, err := certificatesHandler(k)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	// Only the service under test fetches this document: a few connections
	// are plenty.
	srv := clave.NewServer(addr, h)
	go func() { _ = srv.Serve(clave.LimitListener(ln, 16, 0)) }()
	return func() { _ = srv.Close() }, "http://" + ln.Addr().String() + saml.CertificatesPath, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
