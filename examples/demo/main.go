// Command demo shows a whole Cl@ve login with one command and no external
// service: it runs the reference gateway (with the demo citizens and its SMS
// inbox page) and the example agency site in this process, the agency's
// freshly generated key registered at the gateway and the gateway's
// certificate trusted by the agency. It prints what to open and type.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

const (
	spid    = "S0000000E_E00000000"
	appName = "AgenciaDemo"
	// inboxPath is where the gateway's demo inbox page is served.
	inboxPath = "/demo/inbox"
)

// citizensJSON is the demo citizens' seed (the table in README.md).
//
//go:embed citizens.json
var citizensJSON []byte

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
	gateway    *gateway.Gateway
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
	d := demo{gatewayURL: baseURL(*gatewayAddr, gln), agencyURL: baseURL(*agencyAddr, aln)}
	acs := d.agencyURL + "/clave/acs"

	// The gateway, with everything in memory, and the agency registered.
	gwKey, gwCert, err := selfSigned("clave reference gateway (demo)", 30*24*time.Hour)
	if err != nil {
		return err
	}
	spKey, spCert, err := selfSigned("agency demo (ephemeral)", 30*24*time.Hour)
	if err != nil {
		return err
	}
	citizens, err := gateway.LoadCitizens(bytes.NewReader(citizensJSON))
	if err != nil {
		return fmt.Errorf("embedded citizens: %w", err)
	}
	gw, err := gateway.New(ctx, gateway.Config{BaseURL: d.gatewayURL, SigningKey: gwKey, SigningCertificate: gwCert,
		Personas: true, AdminToken: os.Getenv("CLAVE_ADMIN_TOKEN"), Logger: log,
		ServiceProviders: []gateway.ServiceProvider{{SPID: spid, Name: "Sede electrónica de pruebas",
			Certificates: []*x509.Certificate{spCert}, ACSURLs: []string{acs}}},
	})
	if err != nil {
		return err
	}
	if err := gw.SeedCitizens(ctx, citizens); err != nil {
		return err
	}
	d.gateway = gw
	gwMux := http.NewServeMux()
	gwMux.Handle("GET "+inboxPath, inboxHandler(gw.Inbox()))
	gwMux.Handle("/", gw)

	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: d.gateway.Endpoint(), GatewayIssuer: d.gateway.Issuer(),
		GatewayCertificates: saml.StaticCertificates(d.gateway.TrustedCertificates()),
		SPID:                spid, ApplicationName: appName, ACSURL: acs,
		Key: spKey, Certificate: spCert, CookieSecret: cookieSecret,
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

With Cl@ve Móvil instead, make this computer María's phone first, in another terminal
(the SMS code is in the same inbox), then choose Cl@ve Móvil and answer on the "phone":

  CLAVE_APP_PASSPHRASE=demo go run ./examples/app -gateway %[2]s -state /tmp/maria.json activate -citizen 12345678Z -contrast 01/01/2030
  CLAVE_APP_PASSPHRASE=demo go run ./examples/app -state /tmp/maria.json pending -wait 60s   (after "Acceder sin QR")
  CLAVE_APP_PASSPHRASE=demo go run ./examples/app -state /tmp/maria.json confirm <id>

Other demo citizens: README.md, "Reference gateway". Ctrl+C stops the demo.

`, d.agencyURL, d.gatewayURL, inboxPath)
	if ready != nil {
		ready <- d
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- serve(ctx, gln, gwMux) }()
	go func() { errs <- serve(ctx, aln, site(client)) }()
	first := <-errs
	cancel() // one server stopping stops the other
	return errors.Join(first, <-errs)
}
