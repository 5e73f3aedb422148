package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// greet prints what a person needs to use the demo: where each part is, how
// to log in, and who can: the demo citizens and the test personas, each with
// the contrast datum to type.
func greet(ctx context.Context, w io.Writer, d demo, citizens []gateway.Citizen) error {
	inbox := d.gatewayURL + inboxPath
	fmt.Fprintf(w, `
Cl@ve demo: a reference gateway, an agency site and a procedures app, all in this process; nothing leaves it.

  agency site     %s/
  procedures app  %s/   Cl@ve PIN through the gateway's PIN API (examples/procedures); %s
  gateway         %s (protocol at %s, certificates at %s)
  SMS inbox       %s   every SMS and app message the gateway "sends", PINs included

Log in:
  1. Open %s/ and follow "Entrar con Cl@ve".
  2. At the gateway choose Cl@ve PIN.
  3. Type DNI 12345678Z and validity date 01/01/2030; leave the request code empty.
  4. Read the PIN in the SMS at %s and type it.
  5. You are back at the agency as MARIA GARCIA LOPEZ.

Or, without leaving the procedures app: open %s/, save DNI 12345678Z with 01/01/2030 under
"Usuarios", choose a procedure with Cl@ve PIN, and type the PIN from the same SMS inbox.

With Cl@ve Móvil instead, make this computer María's phone first, in another terminal
(the SMS code is in the same inbox), then choose Cl@ve Móvil and answer on the "phone":

  CLAVE_APP_PASSPHRASE=demo go run ./examples/app -gateway %s -state /tmp/maria.json activate -citizen 12345678Z -contrast 01/01/2030
  CLAVE_APP_PASSPHRASE=demo go run ./examples/app -state /tmp/maria.json pending -wait 60s   (after "Acceder sin QR")
  CLAVE_APP_PASSPHRASE=demo go run ./examples/app -state /tmp/maria.json confirm <id>

`, d.agencyURL, d.proceduresURL, dbNote(d), d.gatewayURL, d.gateway.Endpoint(), d.gatewayURL+saml.CertificatesPath, inbox,
		d.agencyURL, inbox, d.proceduresURL, d.gatewayURL)

	fmt.Fprintln(w, "Demo citizens (type the DNI/NIE and its contrast datum at the gateway; the SMS go to the phone):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  DNI/NIE\tname\tcontrast datum\tphone\tlevel, status")
	for _, c := range citizens {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s, %s\n", c.ID, fullName(c), contrast(c), c.Phone, c.Level, c.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nTest personas (each behaves as its story says; with CLAVE_ADMIN_TOKEN set, armed at /admin/ they answer at once):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  DNI/NIE\tname\tcontrast datum\toutcome")
	for _, p := range gateway.Personas() {
		c, err := d.gateway.Citizen(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("persona %s: %w", p.ID, err)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.ID, p.Name, contrast(c), p.Outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n\nMore in README.md, \"Reference gateway\". Ctrl+C stops the demo.\n\n", limitsNote)
	return nil
}

// fullName is the citizen's name as the gateway asserts it.
func fullName(c gateway.Citizen) string {
	return strings.Join(strings.Fields(c.GivenName+" "+c.FirstSurname+" "+c.SecondSurname), " ")
}

// contrast is what the citizen types beside the DNI/NIE, as the gateway's
// form asks for it.
func contrast(c gateway.Citizen) string {
	switch {
	case c.SupportNumber != "":
		return "support number " + c.SupportNumber
	case c.IsPermanentDNI():
		return "permanent DNI: issue date " + c.IssuedOn.Format("02/01/2006")
	default:
		return "validity date " + c.ValidUntil.Format("02/01/2006")
	}
}

// dbNote says where the procedures app keeps its data, and for how long.
func dbNote(d demo) string {
	if d.temporaryDB {
		return "data in " + d.proceduresDB + ", removed when the demo stops"
	}
	return "data kept in " + d.proceduresDB
}
