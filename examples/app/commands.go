package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

func cmdActivate(a *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	citizen := fs.String("citizen", "", "the citizen's DNI or NIE (required)")
	contrast := fs.String("contrast", "", "SMS: the DNI's validity date (dd/mm/yyyy) or the NIE's support number")
	code := fs.String("code", "", "SMS: the activation code already received (else one is sent and asked for)")
	certFile := fs.String("certificate", "", "certificate: PEM `file` of the citizen's certificate, then its intermediates")
	keyFile := fs.String("key", "", "certificate: PEM `file` of the certificate's private key (PKCS #8)")
	dnieFile := fs.String("dnie", "", "DNIe: PEM `file` of the card's certificate chain and private key")
	can := fs.String("can", "", "DNIe: the card access number printed on the card (6 digits)")
	force := fs.Bool("force", false, "replace an existing state file")
	kdfMemory := fs.Uint("kdf-memory", 0, "memory of the passphrase derivation in `KiB` (default 65536; lower only for tests)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *citizen == "" {
			return usagef("-citizen is required")
		}
		bySMS, byCert, byDNIe := *contrast != "" || *code != "", *certFile != "" || *keyFile != "", *dnieFile != "" || *can != ""
		switch {
		case btoi(bySMS)+btoi(byCert)+btoi(byDNIe) != 1:
			return usagef("give one way to activate: -contrast (SMS), -certificate with -key, or -dnie with -can")
		case byCert && (*certFile == "" || *keyFile == ""):
			return usagef("-certificate and -key go together")
		case byDNIe && (*dnieFile == "" || *can == ""):
			return usagef("-dnie and -can go together")
		case *kdfMemory > math.MaxUint32:
			return usagef("-kdf-memory %d is too large", *kdfMemory)
		}
		if _, err := os.Stat(a.statePath); err == nil && !*force {
			return fmt.Errorf("app: %s exists: this phone is activated already (use -force to replace it, or -state for another file)", a.statePath)
		}
		// A state that cannot be saved would lose the key the gateway
		// has just activated: find out before activating.
		if err := checkWritable(filepath.Dir(a.statePath)); err != nil {
			return err
		}
		pass, err := a.newPassphrase()
		if err != nil {
			return err
		}
		defer clear(pass)
		c := &app.Client{BaseURL: a.gateway, KDF: app.KDFParams{MemoryKiB: uint32(*kdfMemory)}}
		var phone *app.Phone
		switch {
		case byCert:
			chain, _, err := readPEM(*certFile)
			if err != nil {
				return err
			}
			_, key, err := readPEM(*keyFile)
			if err != nil {
				return err
			}
			if len(chain) == 0 || key == nil {
				return errors.New("app: -certificate needs a CERTIFICATE block and -key a PRIVATE KEY block")
			}
			phone, err = c.ActivateCertificate(ctx, *citizen, chain, key, pass)
			if err != nil {
				return err
			}
		case byDNIe:
			chain, key, err := readPEM(*dnieFile)
			if err != nil {
				return err
			}
			if len(chain) == 0 || key == nil {
				return fmt.Errorf("app: %s needs CERTIFICATE blocks and a PRIVATE KEY block", *dnieFile)
			}
			if phone, err = c.ActivateDNIe(ctx, *citizen, *can, chain, key, pass); err != nil {
				return err
			}
		default:
			typed := *code
			if typed == "" {
				expires, err := c.RequestActivationCode(ctx, *citizen, *contrast)
				if err != nil {
					return err
				}
				a.info("If %s is registered and the contrast datum is right, an activation code was sent by SMS "+
					"to the mobile phone registered for it; it is valid until %s.", masked(*citizen), when(expires))
				if typed, err = a.readLine("SMS activation code: "); err != nil {
					return err
				}
			}
			if phone, err = c.ActivateSMS(ctx, *citizen, strings.TrimSpace(typed), pass); err != nil {
				return err
			}
		}
		if err := phone.Save(a.statePath); err != nil {
			return err
		}
		if a.jsonOut {
			return a.printJSON(map[string]any{"device_id": phone.DeviceID, "citizen": phone.Citizen,
				"method": phone.Method, "activated_at": phone.ActivatedAt, "gateway": phone.Gateway, "state_file": a.statePath})
		}
		a.out("Phone activated for %s by %s on %s; any phone activated before is now off.", masked(phone.Citizen), phone.Method, when(phone.ActivatedAt))
		a.out("Device %s, state saved in %s.", phone.DeviceID, a.statePath)
		return nil
	}
}

// checkWritable fails unless a file can be created in dir.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".clave-app-check-*")
	if err != nil {
		return fmt.Errorf("app: the state cannot be saved: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmdStatus(a *cli, _ *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		phone, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		var status string
		dev, err := s.Device(ctx)
		switch {
		case errors.Is(err, app.ErrDeviceInactive):
			status = "inactive"
		case err != nil:
			return err
		default:
			status = string(dev.Status)
		}
		if a.jsonOut {
			return a.printJSON(map[string]any{"gateway": s.Client.BaseURL, "device_id": phone.DeviceID,
				"citizen_masked": masked(phone.Citizen), "method": phone.Method, "activated_at": phone.ActivatedAt,
				"status": status, "state_file": a.statePath})
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "Gateway:\t%s\n", s.Client.BaseURL)
		fmt.Fprintf(tw, "Device:\t%s\n", phone.DeviceID)
		fmt.Fprintf(tw, "Citizen:\t%s\n", masked(phone.Citizen))
		fmt.Fprintf(tw, "Activated:\t%s, by %s\n", when(phone.ActivatedAt), phone.Method)
		if status == "inactive" {
			status = "inactive: deactivated, or replaced by a phone activated later"
		}
		fmt.Fprintf(tw, "Status:\t%s\n", status)
		fmt.Fprintf(tw, "State file:\t%s\n", a.statePath)
		return tw.Flush()
	}
}

// requestOut is a request as the app prints it: without its nonce and
// secret, which only the signature needs.
type requestOut struct {
	ID               string      `json:"id"`
	Requester        string      `json:"requester"`
	Kind             mobile.Kind `json:"kind"`
	VerificationCode string      `json:"verification_code"`
	CreatedAt        time.Time   `json:"created_at"`
	ExpiresAt        time.Time   `json:"expires_at"`
}

func toOut(r app.Request) requestOut {
	return requestOut{ID: r.ID, Requester: r.Requester, Kind: r.Kind, VerificationCode: r.VerificationCode,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
}

func kindName(k mobile.Kind) string {
	if k == mobile.KindQR {
		return "QR"
	}
	return string(k)
}

func cmdPending(a *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	wait := fs.Duration("wait", 0, "when none is waiting, wait up to this long for one (at most 60s)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *wait < 0 || *wait > app.MaxWait {
			return usagef("-wait must be between 0 and %s", app.MaxWait)
		}
		_, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		reqs, err := s.Pending(ctx, *wait)
		if err != nil {
			return err
		}
		if a.jsonOut {
			out := make([]requestOut, 0, len(reqs))
			for _, r := range reqs {
				out = append(out, toOut(r))
			}
			return a.printJSON(map[string]any{"requests": out})
		}
		if len(reqs) == 0 {
			a.out("No login is waiting for this phone.")
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tREQUESTER\tKIND\tCODE\tVALID UNTIL")
		for _, r := range reqs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Requester, kindName(r.Kind), r.VerificationCode, when(r.ExpiresAt))
		}
		return tw.Flush()
	}
}

// showRequest prints what the citizen checks before answering.
func (a *cli) showRequest(r app.Request) {
	if a.jsonOut {
		return
	}
	a.out("Login requested by: %s", r.Requester)
	a.out("Verification code:  %s (it must be the code on the login page)", r.VerificationCode)
	a.out("Valid until:        %s", when(r.ExpiresAt))
	a.out("Request:            %s", r.ID)
}

// answer confirms or declines r and reports it. typed is the code the
// citizen read on the page, checked before confirming when not empty.
func (a *cli) answer(ctx context.Context, s *app.Session, r app.Request, d mobile.Decision, typed string) error {
	var err error
	state := mobile.StateDeclined
	if d == mobile.Confirm {
		state = mobile.StateConfirmed
		err = s.ConfirmCode(ctx, r, typed)
	} else {
		err = s.Decline(ctx, r)
	}
	if errors.Is(err, app.ErrCodeMismatch) {
		return fmt.Errorf("%w: not confirmed; if this is not your login, decline it (app decline %s)", err, r.ID)
	}
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(map[string]any{"request": toOut(r), "state": state})
	}
	a.out("Login %s for %s.", state, r.Requester)
	return nil
}

func cmdScan(a *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	payload := fs.String("payload", "", "the QR code's text (CLAVEMOVIL:1:…) instead of an image")
	code := fs.String("code", "", "the verification code shown on the login page, checked before confirming")
	confirm := fs.Bool("confirm", false, "confirm without asking")
	decline := fs.Bool("decline", false, "decline without asking")
	return func(ctx context.Context, args []string) error {
		switch {
		case len(args) > 1:
			return usagef("unexpected argument %q", args[1])
		case (len(args) == 1) == (*payload != ""):
			return usagef("give an image file or -payload")
		case *confirm && *decline:
			return usagef("-confirm and -decline exclude each other")
		}
		text := *payload
		if len(args) == 1 {
			var err error
			if text, err = decodeQR(args[0]); err != nil {
				return err
			}
		}
		_, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		r, err := s.Scan(ctx, text)
		if err != nil {
			return err
		}
		a.showRequest(r)
		switch {
		case *confirm:
			return a.answer(ctx, s, r, mobile.Confirm, *code)
		case *decline:
			return a.answer(ctx, s, r, mobile.Decline, "")
		}
		line, err := a.readLine("Type confirm or decline (anything else leaves the login waiting): ")
		if err != nil {
			return err
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "confirm", "c", "yes", "y", "s", "sí", "si":
			return a.answer(ctx, s, r, mobile.Confirm, *code)
		case "decline", "d", "no", "n":
			return a.answer(ctx, s, r, mobile.Decline, "")
		}
		if a.jsonOut {
			return a.printJSON(map[string]any{"request": toOut(r), "state": mobile.StatePending})
		}
		a.out("Left waiting: answer with app confirm %s, or app decline %s.", r.ID, r.ID)
		return nil
	}
}

// pendingByID finds the pending request id.
func pendingByID(ctx context.Context, s *app.Session, id string) (app.Request, error) {
	reqs, err := s.Pending(ctx, 0)
	if err != nil {
		return app.Request{}, err
	}
	for _, r := range reqs {
		if r.ID == id {
			return r, nil
		}
	}
	return app.Request{}, fmt.Errorf("app: no login %s is waiting for this phone (answered, expired, or a QR code not scanned yet)", id)
}

func cmdConfirm(a *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	code := fs.String("code", "", "the verification code shown on the login page, checked before confirming")
	return func(ctx context.Context, args []string) error {
		return a.decideByID(ctx, args, mobile.Confirm, *code)
	}
}

func cmdDecline(a *cli, _ *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		return a.decideByID(ctx, args, mobile.Decline, "")
	}
}

func (a *cli) decideByID(ctx context.Context, args []string, d mobile.Decision, typed string) error {
	if len(args) != 1 {
		return usagef("give the ID of one request (see app pending)")
	}
	_, s, err := a.unlock()
	if err != nil {
		return err
	}
	defer s.Lock()
	r, err := pendingByID(ctx, s, args[0])
	if err != nil {
		return err
	}
	return a.answer(ctx, s, r, d, typed)
}

func cmdPINs(a *cli, _ *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		_, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		pins, err := s.PINs(ctx)
		if err != nil {
			return err
		}
		if a.jsonOut {
			out := make([]map[string]any, 0, len(pins))
			for _, p := range pins {
				out = append(out, map[string]any{"pin": p.Code, "text": p.Text, "sent_at": p.SentAt,
					"expires_at": p.ExpiresAt, "seconds_left": p.SecondsLeft})
			}
			return a.printJSON(map[string]any{"pins": out})
		}
		if len(pins) == 0 {
			a.out("No Cl@ve PIN in the app's inbox.")
			return nil
		}
		for _, p := range pins {
			left := (time.Duration(p.SecondsLeft) * time.Second).Round(time.Second)
			a.out("%s  valid until %s (%s left)  %s", p.Code, when(p.ExpiresAt), left, p.Text)
		}
		return nil
	}
}

func cmdHistory(a *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	outcome := fs.String("state", "", "keep the logins that ended so: confirmed, declined or expired")
	kind := fs.String("kind", "", "keep the logins of one kind: qr or push")
	requester := fs.String("requester", "", "keep the logins of one requesting body (exact name)")
	from := fs.String("from", "", "keep the logins from this `date` (yyyy-mm-dd, Madrid time)")
	to := fs.String("to", "", "keep the logins up to this `date` included")
	order := fs.String("order", "newest", "newest or oldest first")
	limit := fs.Int("limit", 0, "at most this many entries (default: the gateway's page size)")
	offset := fs.Int("offset", 0, "skip this many entries, for the next pages")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		q := app.HistoryQuery{Requester: *requester, Limit: *limit, Offset: *offset}
		switch s := mobile.State(*outcome); s {
		case "", mobile.StateConfirmed, mobile.StateDeclined, mobile.StateExpired:
			q.Outcome = s
		default:
			return usagef("-state %q: want confirmed, declined or expired", *outcome)
		}
		switch k := mobile.Kind(*kind); k {
		case "", mobile.KindQR, mobile.KindPush:
			q.Kind = k
		default:
			return usagef("-kind %q: want qr or push", *kind)
		}
		switch *order {
		case "newest":
			q.Order = mobile.NewestFirst
		case "oldest":
			q.Order = mobile.OldestFirst
		default:
			return usagef("-order %q: want newest or oldest", *order)
		}
		var err error
		if q.From, err = parseDate("from", *from); err != nil {
			return err
		}
		if q.To, err = parseDate("to", *to); err != nil {
			return err
		}
		if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
			return usagef("-to %s is before -from %s", *to, *from)
		}
		if *limit < 0 || *offset < 0 {
			return usagef("-limit and -offset cannot be negative")
		}
		_, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		entries, err := s.History(ctx, q)
		if err != nil {
			return err
		}
		if a.jsonOut {
			out := make([]map[string]any, 0, len(entries))
			for _, e := range entries {
				out = append(out, map[string]any{"request_id": e.RequestID, "at": e.At, "requester": e.Requester,
					"kind": e.Kind, "outcome": e.Outcome})
			}
			return a.printJSON(map[string]any{"entries": out})
		}
		if len(entries) == 0 {
			a.out("No logins in the history match.")
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DATE\tREQUESTER\tKIND\tOUTCOME")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", when(e.At), e.Requester, kindName(e.Kind), e.Outcome)
		}
		return tw.Flush()
	}
}

// parseDate reads a -from or -to date, "" being none.
func parseDate(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, madrid)
	if err != nil {
		return time.Time{}, usagef("-%s %q: want a date as yyyy-mm-dd", flagName, s)
	}
	return t, nil
}

func cmdDeactivate(a *cli, _ *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		phone, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		status := "deactivated"
		if err := s.Deactivate(ctx); errors.Is(err, app.ErrDeviceInactive) {
			status = "already inactive"
		} else if err != nil {
			return err
		}
		if err := os.Remove(a.statePath); err != nil {
			return fmt.Errorf("app: the phone is off, but its state remains: %w", err)
		}
		if a.jsonOut {
			return a.printJSON(map[string]any{"device_id": phone.DeviceID, "status": "deactivated"})
		}
		a.out("Device %s %s; its state file %s was deleted.", phone.DeviceID, status, a.statePath)
		return nil
	}
}
