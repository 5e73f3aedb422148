// Command demo shows a whole Cl@ve login with one command and no external
// service: it runs the reference gateway (with the demo citizens and its SMS
// inbox page) and the example agency site in this process, the agency's
// freshly generated key registered at the gateway and the gateway's
// certificate trusted by the agency. It prints what to open and type.
package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/examples/internal/agencyapp"
	"github.com/clave-go/clave/examples/internal/gatewayapp"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

const (
	spid    = "S0000000E_E00000000"
	appName = "AgenciaDemo"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, log, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Error("demo", "error", err)
		os.Exit(1)
	}
}

// demo is what run hands its caller once both servers accept connections.
type demo struct {
	gateway    *clave.Gateway
	gatewayURL string
	agencyURL  string
}

// run serves the gateway and the agency until ctx ends, or until one of them
// fails. When ready is not nil it receives the running demo.
func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger, ready chan<- demo) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	gatewayAddr := fs.String("gateway-addr", "127.0.0.1:9000", "reference gateway listen address host:port")
	agencyAddr := fs.String("agency-addr", "127.0.0.1:8080", "agency site listen address host:port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	gln, err := net.Listen("tcp", *gatewayAddr)
	if err != nil {
		return err
	}
	defer gln.Close()
	aln, err := net.Listen("tcp", *agencyAddr)
	if err != nil {
		return err
	}
	defer aln.Close()
	d := demo{gatewayURL: gatewayapp.BaseURL(*gatewayAddr, gln), agencyURL: gatewayapp.BaseURL(*agencyAddr, aln)}
	acs := d.agencyURL + "/clave/acs"

	sp, err := pki.Generate("agency demo (ephemeral)", 2048, time.Now().Add(-time.Hour), 30*24*time.Hour)
	if err != nil {
		return err
	}
	app, err := gatewayapp.New(ctx, gatewayapp.Config{Personas: true, AdminToken: os.Getenv("CLAVE_ADMIN_TOKEN"),
		BaseURL: d.gatewayURL, Logger: log,
		ServiceProviders: []clave.ServiceProvider{{SPID: spid, Name: "Sede electrónica de pruebas",
			Certificates: []*x509.Certificate{sp.Certificate}, ACSURLs: []string{acs}}},
	})
	if err != nil {
		return err
	}
	defer app.Close()
	d.gateway = app.Gateway

	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: d.gateway.Endpoint(), GatewayIssuer: d.gateway.Issuer(),
		GatewayCertificates: saml.StaticCertificates(d.gateway.TrustedCertificates()),
		SPID:                spid, ApplicationName: appName, ACSURL: acs,
		Key: sp.Key, Certificate: sp.Certificate, CookieSecret: cookieSecret,
		LoA: saml.LoALow, Logger: log,
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, `
Cl@ve demo: a reference gateway and an agency site, both in this process; nothing leaves it.

  1. Open %[1]s/ and follow "Entrar con Cl@ve".
  2. At the gateway choose Cl@ve PIN.
  3. Type DNI 12345678Z and validity date 01/01/2030; leave the request code empty.
  4. Read the PIN in the SMS at %[2]s%[3]s and type it.
  5. You are back at the agency as MARIA GARCIA LOPEZ.

Other demo citizens: README.md, "Reference gateway". Ctrl+C stops the demo.

`, d.agencyURL, d.gatewayURL, gatewayapp.InboxPath)
	if ready != nil {
		ready <- d
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- gatewayapp.Serve(ctx, gln, app.Handler) }()
	go func() { errs <- gatewayapp.Serve(ctx, aln, agencyapp.Handler(client)) }()
	first := <-errs
	cancel() // one server stopping stops the other
	return errors.Join(first, <-errs)
}
