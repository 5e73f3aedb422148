// Command demo shows a whole Cl@ve login with one command and no external
// service: it runs the reference gateway (with the demo citizens and its SMS
// inbox page), the example agency site and the procedures app of
// examples/procedures in this process, each site's freshly generated key
// registered at the gateway and the gateway's certificate trusted by both.
// It prints what to open and type.
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
	code := exitCode(ctx, os.Args[1:], os.Stdout, log)
	stop()
	os.Exit(code)
}

// exitCode runs the demo and returns the process's exit status: 0 when it
// ran until stopped, or when -h asked for the usage; 1 otherwise.
func exitCode(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) int {
	err := run(ctx, args, stdout, log, nil)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		log.Error("demo", "error", err)
		return 1
	}
}

// demo is what run hands its caller once both servers accept connections.
type demo struct {
	gateway       *gateway.Gateway
	gatewayURL    string
	agencyURL     string
	proceduresURL string
	// proceduresDB is the procedures app's SQLite file; temporaryDB says
	// it goes when the demo stops.
	proceduresDB string
	temporaryDB  bool
}

// run serves the gateway and the agency until ctx ends, or until one of them
// fails. When ready is not nil it receives the running demo.
func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger, ready chan<- demo) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stdout)
	gatewayAddr := fs.String("gateway-addr", "127.0.0.1:9000", "reference gateway listen address host:port")
	agencyAddr := fs.String("agency-addr", "127.0.0.1:8080", "agency site listen address host:port")
	proceduresAddr := fs.String("procedures-addr", "127.0.0.1:8081", "procedures app listen address host:port")
	proceduresDBPath := fs.String("procedures-db", "", "procedures app SQLite file (default: one in a temporary directory, removed when the demo stops)")
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
	pln, err := net.Listen("tcp", *proceduresAddr)
	if err != nil {
		return err
	}
	defer pln.Close()
	d := demo{gatewayURL: baseURL(*gatewayAddr, gln), agencyURL: baseURL(*agencyAddr, aln), proceduresURL: baseURL(*proceduresAddr, pln)}
	acs := d.agencyURL + "/clave/acs"
	proceduresACS := d.proceduresURL + "/clave/acs"
	db, temporary, removeDB, err := proceduresDB(*proceduresDBPath)
	if err != nil {
		return err
	}
	defer removeDB()
	d.proceduresDB, d.temporaryDB = db, temporary

	// The gateway, with everything in memory, and the agency registered.
	gwKey, gwCert, err := selfSigned("clave reference gateway (demo)", 30*24*time.Hour)
	if err != nil {
		return err
	}
	spKey, spCert, err := selfSigned("agency demo (ephemeral)", 30*24*time.Hour)
	if err != nil {
		return err
	}
	procKey, procCert, err := selfSigned("procedures demo (ephemeral)", 30*24*time.Hour)
	if err != nil {
		return err
	}
	citizens, err := gateway.LoadCitizens(bytes.NewReader(citizensJSON))
	if err != nil {
		return fmt.Errorf("embedded citizens: %w", err)
	}
	gw, err := gateway.New(ctx, gateway.Config{BaseURL: d.gatewayURL, SigningKey: gwKey, SigningCertificate: gwCert,
		Personas: true, AdminToken: os.Getenv("CLAVE_ADMIN_TOKEN"), Logger: log,
		PIN: demoPIN, PINLimits: demoPINLimits, MobileLimits: demoMobileLimits, DemoInboxURL: inboxPath,
		ServiceProviders: []gateway.ServiceProvider{{SPID: spid, Name: "Sede electrónica de pruebas",
			Certificates: []*x509.Certificate{spCert}, ACSURLs: []string{acs}},
			proceduresProvider(procCert, proceduresACS)},
	})
	if err != nil {
		return err
	}
	if err := gw.SeedCitizens(ctx, citizens); err != nil {
		return err
	}
	d.gateway = gw
	gwMux := http.NewServeMux()
	gwMux.Handle("GET "+inboxPath, gw.Inbox().Page())
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

	procApp, err := newProcedures(ctx, gw, d.gatewayURL, proceduresACS, procKey, procCert, db, log)
	if err != nil {
		return err
	}
	defer procApp.Close() // after the servers below have stopped

	if err := greet(ctx, stdout, d, citizens); err != nil {
		return err
	}
	if ready != nil {
		ready <- d
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The gateway and every site of the demo (another is one more entry,
	// with its own listener and service registered at the gateway).
	servers := []struct {
		ln net.Listener
		h  http.Handler
	}{{gln, gwMux}, {aln, site(client)}, {pln, procApp}}
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- serve(ctx, s.ln, s.h) }()
	}
	all := []error{<-errs}
	cancel() // one server stopping stops the others
	for range len(servers) - 1 {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
