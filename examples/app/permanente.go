package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/clave-go/clave/mobile/app"
	"github.com/clave-go/clave/permanente"
)

// passwordEnv holds the Cl@ve Permanente passwords, one per line, when no
// -password-file is given.
const passwordEnv = "CLAVE_APP_PASSWORD"

// permanenteActions are the subcommands of permanente, in the order the
// usage shows them.
var permanenteActions = []string{"status", "regenerate", "change", "recover", "delete"}

func cmdPermanente(a *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	passwordFile := fs.String("password-file", "",
		"read the passwords from `file`, one per line: for change the current one then the new one, for recover the new one (else $"+passwordEnv+", else standard input)")
	yes := fs.Bool("yes", false, "delete: do not ask for confirmation")
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return usagef("give what to do: %s", strings.Join(permanenteActions, ", "))
		}
		if len(args) > 1 {
			return usagef("unexpected argument %q", args[1])
		}
		action := args[0]
		switch {
		case !slices.Contains(permanenteActions, action):
			return usagef("unknown action %q: want %s", action, strings.Join(permanenteActions, ", "))
		case *passwordFile != "" && action != "change" && action != "recover":
			return usagef("-password-file is for change and recover")
		case *yes && action != "delete":
			return usagef("-yes is for delete")
		}
		_, s, err := a.unlock()
		if err != nil {
			return err
		}
		defer s.Lock()
		switch action {
		case "status":
			st, err := s.PermanenteStatus(ctx)
			if err != nil {
				return err
			}
			return a.showPermanente(st)
		case "regenerate":
			return a.regenerate(ctx, s)
		case "change":
			current, next, err := a.passwords(*passwordFile, true)
			if err != nil {
				return err
			}
			st, err := s.ChangePassword(ctx, current, next)
			if err != nil {
				return explainWeak(err)
			}
			return a.passwordSet(st, "Password changed")
		case "recover":
			_, next, err := a.passwords(*passwordFile, false)
			if err != nil {
				return err
			}
			st, err := s.RecoverPassword(ctx, next)
			if err != nil {
				return explainWeak(err)
			}
			return a.passwordSet(st, "New password set, and unblocked if it was blocked")
		default:
			return a.deletePermanente(ctx, s, *yes)
		}
	}
}

// statusJSON is a Cl@ve Permanente status as -json prints it.
func statusJSON(st app.PermanenteStatus) map[string]any {
	out := map[string]any{"registered": st.Registered, "activated": st.Activated,
		"activation_blocked": st.ActivationBlocked, "password_blocked": st.PasswordBlocked,
		"password_expired": st.PasswordExpired}
	if st.Activated {
		out["password_set_at"], out["password_expires_at"] = st.PasswordSetAt, st.PasswordExpiresAt
	}
	return out
}

func (a *cli) showPermanente(st app.PermanenteStatus) error {
	if a.jsonOut {
		return a.printJSON(statusJSON(st))
	}
	if !st.Registered {
		a.out("You have no Cl@ve Permanente.")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	state := "activated"
	if !st.Activated {
		state = "registered, not activated: set a password with the activation code on the gateway's pages"
	}
	fmt.Fprintf(tw, "Cl@ve Permanente:\t%s\n", state)
	if st.ActivationBlocked {
		fmt.Fprintf(tw, "Activation code:\tblocked by wrong entries (app permanente regenerate gives a new one)\n")
	}
	if st.Activated {
		password := "valid"
		switch {
		case st.PasswordBlocked:
			password = "blocked by failed attempts (app permanente recover sets a new one)"
		case st.PasswordExpired:
			password = "expired (app permanente change sets a new one)"
		}
		fmt.Fprintf(tw, "Password:\t%s\n", password)
		fmt.Fprintf(tw, "Set on:\t%s\n", when(st.PasswordSetAt))
		fmt.Fprintf(tw, "Expires on:\t%s\n", when(st.PasswordExpiresAt))
	}
	return tw.Flush()
}

// regenerate shows a new activation code: the citizen's to keep, shown
// this once.
func (a *cli) regenerate(ctx context.Context, s *app.Session) error {
	code, err := s.RegenerateActivationCode(ctx)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(map[string]any{"activation_code": code.Grouped(), "issued_at": code.IssuedAt})
	}
	a.out("New activation code: %s", code.Grouped())
	a.out("Keep it: it is shown only this once, it is the only valid one from now on, and it also lets you reset a forgotten password.")
	return nil
}

func (a *cli) passwordSet(st app.PermanenteStatus, what string) error {
	if a.jsonOut {
		return a.printJSON(statusJSON(st))
	}
	a.out("%s; it expires on %s.", what, when(st.PasswordExpiresAt))
	return nil
}

func (a *cli) deletePermanente(ctx context.Context, s *app.Session, yes bool) error {
	if !yes {
		line, err := a.readLine("Delete your Cl@ve Permanente (password and activation code)? Type yes to delete: ")
		if err != nil {
			return err
		}
		if answer := strings.ToLower(strings.TrimSpace(line)); answer != "yes" && answer != "y" && answer != "sí" && answer != "si" {
			if a.jsonOut {
				return a.printJSON(map[string]any{"deleted": false})
			}
			a.out("Nothing deleted.")
			return nil
		}
	}
	if err := s.DeletePermanente(ctx); err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(map[string]any{"deleted": true})
	}
	a.out("Your Cl@ve Permanente was deleted; this phone and Cl@ve Móvil are unchanged.")
	return nil
}

// explainWeak spells out the rules a refused password breaks, for the
// terminal.
func explainWeak(err error) error {
	var weak *app.WeakPasswordError
	if !errors.As(err, &weak) || len(weak.Rules) == 0 {
		return err
	}
	why := make([]string, len(weak.Rules))
	for i, r := range weak.Rules {
		why[i] = strings.TrimPrefix((&permanente.PolicyError{Rule: r}).Error(), "permanente: password ")
	}
	return fmt.Errorf("app: the new password was refused: it %s (weak_password)", strings.Join(why, "; it "))
}

// passwords returns the current password (when withCurrent) and the new
// one: the lines of file, else of $CLAVE_APP_PASSWORD, else lines typed
// on standard input, where the new one is asked twice. Passwords are taken
// as they are, spaces included; only line ends are cut.
func (a *cli) passwords(file string, withCurrent bool) (current, next string, err error) {
	want := 1
	if withCurrent {
		want = 2
	}
	var lines []string
	switch {
	case file != "":
		data, err := readSmall(file)
		if err != nil {
			return "", "", err
		}
		lines = splitLines(string(data))
	case os.Getenv(passwordEnv) != "":
		lines = splitLines(os.Getenv(passwordEnv))
	default:
		a.info("Reading the passwords from standard input; they are shown as you type " +
			"(use -password-file or $" + passwordEnv + " to avoid that).")
		if withCurrent {
			if current, err = a.readLine("Current Cl@ve Permanente password: "); err != nil {
				return "", "", err
			}
		}
		if next, err = a.readLine("New Cl@ve Permanente password: "); err != nil {
			return "", "", err
		}
		again, err := a.readLine("New password again: ")
		if err != nil {
			return "", "", err
		}
		if again != next {
			return "", "", errors.New("app: the two new passwords differ")
		}
		return current, next, nil
	}
	if len(lines) < want {
		if withCurrent {
			return "", "", errors.New("app: change needs two lines, the current password and then the new one")
		}
		return "", "", errors.New("app: recover needs the new password on the first line")
	}
	if withCurrent {
		return lines[0], lines[1], nil
	}
	return "", lines[0], nil
}

// splitLines cuts s into lines without their "\n" or "\r\n"; a last empty
// line is no line.
func splitLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
