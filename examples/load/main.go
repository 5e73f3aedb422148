// Command load puts the reference gateway under load and attack, in process
// and on loopback only: it starts a gateway on a SQLite file database with
// synthetic citizens, an agency registered at it, and then runs one scenario:
//
//	go run ./examples/load -scenario logins   # C browsers log in at once through Cl@ve PIN
//	go run ./examples/load -scenario guess    # an attacker guesses PINs across 10,000 DNIs
//	go run ./examples/load -scenario junk     # junk requests claiming SPIDs; Go heap before/after
//	go run ./examples/load -scenario slow     # thousands of slow connections while citizens log in
//	go run ./examples/load -scenario movil    # 10,000 Cl@ve Móvil logins held open, then confirmed on the phone
//	go run ./examples/load -scenario all      # all but movil
//	go run ./examples/load -gateways 2 -db postgres://...   # logins on 2 gateway processes sharing PostgreSQL
//
// Every loop is bounded in count and by -timeout, and the command stops by
// itself. Results are printed as plain text. Browsers claim a client address
// in a header that the gateway's Config.ClientAddress reads, so one process
// can play many clients (or one attacker) for the per-client limits.
//
// With -gateways N the logins scenario runs the gateway as N child
// processes on the -db database (a SQLite file, or PostgreSQL, which
// several processes share as one gateway), reached through one public name
// as behind a load balancer without affinity: each request of a login goes
// to the next process in turn, so a PIN requested on one process is
// verified on another. Their SMS reach the load generator as a shared SMS
// provider would. The CPU of the gateway processes is reported beside the
// generator's; the database server's is not.
//
// The movil scenario is different: its gateway runs in a child process, so
// that the memory it reports is the gateway's alone, with the default
// per-client limits, and every browser and phone connects from a loopback
// address of its own. It holds -logins logins (default 10,000), each with
// its waiting page's event stream and its phone's long-poll open, reports
// the gateway's resident memory, Go heap and goroutines, then confirms
// -movil-confirm of them on the phone, timing each from the phone's decision
// to its waiting page's "confirmed". Both processes need a file-descriptor
// limit of twice the logins plus 1,024: it is raised where allowed (root
// may raise the hard limit), and the scenario fails up front otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(slowChildEnv) != "" {
		os.Exit(slowChild(os.Stdin, os.Stdout))
	}
	if os.Getenv(movilChildEnv) != "" {
		os.Exit(movilChild(os.Stdin, os.Stdout))
	}
	if os.Getenv(clusterChildEnv) != "" {
		os.Exit(clusterChild(os.Stdin, os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// scenarios are the scenarios of -scenario, in the order "all" runs them.
// movil is not among them: it needs a file-descriptor limit above twice its
// logins, and runs only when asked for.
var scenarios = []string{"logins", "guess", "junk", "slow"}

type options struct {
	scenario string
	db       string
	citizens int
	clients  int
	logins   int
	rate     float64
	timeout  time.Duration

	targets   int
	guessTime time.Duration

	junk, junkSPIDs int

	slow, slowLogins int
	slowHold         time.Duration

	movilConfirm int
	movilRate    float64
	movilPprof   string
	movilIdle    time.Duration

	cpuProfile  string
	plainServer bool
	gateways    int
}

func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.scenario, "scenario", "logins", "logins, guess, junk, slow, movil, or all (all but movil)")
	fs.StringVar(&o.db, "db", "", "gateway database: a SQLite file or a postgres:// URL (default: a new SQLite file in a temporary directory, removed at exit)")
	fs.IntVar(&o.gateways, "gateways", 0, "logins: run the gateway as this many processes on -db, each request of a login going to the next process in turn (0: one gateway in this process)")
	fs.IntVar(&o.citizens, "citizens", 5000, "synthetic citizens registered at the gateway")
	fs.IntVar(&o.clients, "clients", 500, "logins: concurrent browsers")
	fs.IntVar(&o.logins, "logins", 0, "logins: logins in all (default -clients), each as its own citizen; movil: Cl@ve Móvil logins held at once (default 10000)")
	fs.Float64Var(&o.rate, "rate", 0, "logins: start logins at this many a second instead of all at once")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound of the whole run")
	fs.IntVar(&o.targets, "targets", 10000, "guess: DNIs the attacker knows (all registered)")
	fs.DurationVar(&o.guessTime, "guess-time", 90*time.Second, "guess: bound of each attack phase")
	fs.IntVar(&o.junk, "junk", 10000, "junk: junk POSTs to /Proxy2/ServiceProvider")
	fs.IntVar(&o.junkSPIDs, "junk-spids", 250, "junk: distinct SPIDs the junk claims")
	fs.IntVar(&o.slow, "slow", 10000, "slow: slow and idle connections to hold (bounded by the file-descriptor limit)")
	fs.IntVar(&o.slowLogins, "slow-logins", 200, "slow: real logins run while the connections are held")
	fs.DurationVar(&o.slowHold, "slow-hold", 60*time.Second, "slow: longest time the connections are held")
	fs.IntVar(&o.movilConfirm, "movil-confirm", 1000, "movil: held logins then confirmed on the phone, timed (at most -logins)")
	fs.Float64Var(&o.movilRate, "movil-rate", 20, "movil: confirmations started a second")
	fs.DurationVar(&o.movilIdle, "movil-idle", 10*time.Second, "movil: how long the logins are held with nothing else happening, for what holding costs in CPU (and, with -movil-pprof, a CPU profile)")
	fs.StringVar(&o.movilPprof, "movil-pprof", "", "movil: save the gateway's heap and goroutine profiles, while it holds the logins, in this directory")
	fs.BoolVar(&o.plainServer, "plain-server", false, "serve the gateway on an http.Server with only ReadHeaderTimeout (10 s), instead of as examples/gateway does (clave.NewServer timeouts, at most 2,048 connections and 32 per client address)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the scenarios (not the setup) to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.citizens < 1 || o.clients < 1 || o.timeout <= 0 {
		return nil, errors.New("-citizens, -clients and -timeout must be positive")
	}
	if o.gateways < 0 || o.gateways > 16 {
		return nil, errors.New("-gateways: want 0 to 16")
	}
	if o.gateways > 0 && o.scenario != "logins" {
		return nil, errors.New("-gateways runs the logins scenario only")
	}
	if strings.HasPrefix(o.db, "postgres") && o.gateways == 0 {
		return nil, errors.New("-db postgres://...: run the gateway as processes (-gateways 1 or more)")
	}
	if o.scenario != "all" && o.scenario != "movil" && !slices.Contains(scenarios, o.scenario) {
		return nil, fmt.Errorf("unknown scenario %q (want %s, movil or all)", o.scenario, strings.Join(scenarios, ", "))
	}
	return o, nil
}

// run parses args and runs the scenarios they ask for, writing results to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	run := []string{o.scenario}
	if o.scenario == "all" {
		run = scenarios
	}
	for _, s := range run {
		if err := runScenario(ctx, s, o, out); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func runScenario(ctx context.Context, name string, o *options, out io.Writer) error {
	if name == "movil" {
		// Its gateway runs in a child process of its own, with as many
		// citizens as logins.
		_, err := scenarioMovil(ctx, out, o)
		return err
	}
	n := o.citizens
	if name == "guess" {
		n = max(n, o.targets)
	}
	t0 := time.Now()
	h, err := start(ctx, setup{dbPath: o.db, citizens: n, plainServer: o.plainServer, gateways: o.gateways})
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintf(out, "gateway %s, agency %s, %d citizens seeded in %s\n", h.gwURL, h.agencyURL, h.citizens, ms(time.Since(t0)))
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch name {
	case "logins":
		_, err = scenarioLogins(ctx, out, h, o)
	case "guess":
		_, err = scenarioGuess(ctx, out, h, o)
	case "junk":
		_, err = scenarioJunk(ctx, out, h, o)
	case "slow":
		_, err = scenarioSlow(ctx, out, h, o)
	}
	return err
}
