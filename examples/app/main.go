// Command app is the citizen's Cl@ve app on the command line: it activates
// this computer as the citizen's Cl@ve Móvil phone, then lists, scans and
// answers the logins waiting for it, shows the Cl@ve PINs sent to the app
// and the history, and manages the citizen's Cl@ve Permanente, all through
// a gateway's app API (package mobile/app).
//
//	go run ./examples/app activate -citizen 12345678Z -contrast 01/01/2040
//	go run ./examples/app pending -wait 30s
//	go run ./examples/app scan qr.png
//	go run ./examples/app confirm <request ID> -code 123
//	go run ./examples/app permanente change -password-file passwords.txt
//
// The phone's state (device ID, and its key encrypted under the unlock
// passphrase) is kept in $HOME/.clave-app.json, or the file -state names.
// The passphrase comes from -passphrase-file, the CLAVE_APP_PASSPHRASE
// environment variable, or else a line of standard input. Cl@ve Permanente
// passwords are never given as flags: they come one per line from
// -password-file, the CLAVE_APP_PASSWORD environment variable, or else
// standard input. Run with -h for every command and flag.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed: the gateway refused, a file is missing
	exitUsage = 2 // the command line is wrong
)

const (
	defaultGateway = "http://127.0.0.1:9000"
	defaultState   = ".clave-app.json"
	passphraseEnv  = "CLAVE_APP_PASSPHRASE"
)

// command is one of the app's commands. setup adds its flags to fs and
// returns what runs it with its positional arguments once fs is parsed.
type command struct {
	name, args, summary string
	setup               func(a *cli, fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

// commands lists the commands in the order the usage shows them.
var commands = []command{
	{"activate", "-citizen DNI (-contrast DATE [-code CODE] | -certificate FILE -key FILE | -dnie FILE -can CAN)",
		"activate this phone for a citizen, by SMS code, certificate or DNIe", cmdActivate},
	{"status", "", "show the phone's state and how the gateway sees it", cmdStatus},
	{"pending", "[-wait 30s]", "list the logins waiting for this phone", cmdPending},
	{"scan", "(FILE.png | -payload TEXT) [-code NNN] [-confirm | -decline]", "scan a login page's QR code and answer it", cmdScan},
	{"confirm", "ID [-code NNN]", "confirm a pending login", cmdConfirm},
	{"decline", "ID", "decline a pending login", cmdDecline},
	{"pins", "", "show the Cl@ve PINs sent to the app", cmdPINs},
	{"history", "[-state confirmed|declined|expired] [-kind qr|push] [-requester NAME] [-from DATE] [-to DATE] [-order newest|oldest] [-limit N] [-offset N]",
		"show the history of logins", cmdHistory},
	{"permanente", "(status | regenerate | change | recover | delete) [-password-file FILE] [-yes]",
		"manage Cl@ve Permanente: status, new activation code, change or recover the password, delete", cmdPermanente},
	{"deactivate", "", "switch this phone off for good and delete its state", cmdDeactivate},
}

// cli is one run of the app: its streams and the options every command
// shares.
type cli struct {
	stdin          *bufio.Reader
	stdout, stderr io.Writer

	statePath, gateway, passphraseFile string
	jsonOut                            bool
	// gatewaySet records that -gateway was given, which then overrides the
	// gateway kept in the state.
	gatewaySet bool
}

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run runs the app with args (without the program name) and returns its exit
// status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &cli{stdin: bufio.NewReader(stdin), stdout: stdout, stderr: stderr, gateway: defaultGateway}
	if home, err := os.UserHomeDir(); err == nil {
		a.statePath = filepath.Join(home, defaultState)
	} else {
		a.statePath = defaultState
	}
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	a.commonFlags(fs, true)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "app: %v\n", err)
		a.usage(stderr)
		return exitUsage
	}
	a.noteGateway(fs)
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "app: no command given")
		a.usage(stderr)
		return exitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		a.usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			return a.runCommand(ctx, c, fs.Args()[1:])
		}
	}
	fmt.Fprintf(stderr, "app: unknown command %q\n", name)
	a.usage(stderr)
	return exitUsage
}

// runCommand parses c's flags from args and runs it.
func (a *cli) runCommand(ctx context.Context, c command, args []string) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	a.commonFlags(fs, c.name != "history")
	act := c.setup(a, fs)
	pos, err := a.parse(fs, args)
	if err == nil {
		err = act(ctx, pos)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		a.commandUsage(a.stdout, c, fs)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "app %s: %s\n", c.name, ue.msg)
		a.commandUsage(a.stderr, c, fs)
		return exitUsage
	default:
		fmt.Fprintln(a.stderr, oneLine(err))
		return exitError
	}
}

// oneLine is err as one line that starts with "app: ", for the terminal.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if !strings.HasPrefix(s, "app: ") {
		s = "app: " + s
	}
	return s
}

// commonFlags adds the options every command shares to fs, defaulting to
// what the command line already set. withState is false for history, whose
// -state selects an outcome: its state file is given before the command.
func (a *cli) commonFlags(fs *flag.FlagSet, withState bool) {
	if withState {
		fs.StringVar(&a.statePath, "state", a.statePath, "the phone's state `file`")
	}
	fs.StringVar(&a.gateway, "gateway", a.gateway, "the gateway's base `URL` (kept in the state at activation)")
	fs.StringVar(&a.passphraseFile, "passphrase-file", a.passphraseFile,
		"read the unlock passphrase from the first line of `file` (else $"+passphraseEnv+", else standard input)")
	fs.BoolVar(&a.jsonOut, "json", a.jsonOut, "print JSON for machines")
}

// noteGateway records whether fs set -gateway.
func (a *cli) noteGateway(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "gateway" {
			a.gatewaySet = true
		}
	})
}

// parse parses a command's flags, which may come before or after its
// positional arguments ("confirm ID -code 123"), and returns the positional
// ones.
func (a *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	a.noteGateway(fs)
	return pos, nil
}

func (a *cli) usage(w io.Writer) {
	fmt.Fprint(w, `Usage: app [-state FILE] [-gateway URL] [-passphrase-file FILE] [-json] <command> [flags]

The citizen's Cl@ve app: activate this computer as a Cl@ve Móvil phone, then
answer logins with it.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, `
Common flags (before or after the command; for history, give -state FILE before it):
  -state FILE            the phone's state (default $HOME/%s)
  -gateway URL           the gateway (default %s; kept in the state at activation)
  -passphrase-file FILE  the unlock passphrase (else $%s, else a line of standard input)
  -json                  print JSON for machines

Run "app <command> -h" for a command's flags.
`, defaultState, defaultGateway, passphraseEnv)
}

// commandUsage prints c's usage with its flags fs.
func (a *cli) commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: app %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
