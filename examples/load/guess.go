package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pinAlphabet is what a Cl@ve PIN is made of (3 characters of it).
const pinAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// guessLegit is how many citizens, never attacked, log in during the
// widest phase of the attack.
const guessLegit = 20

// attacker is one browser of the attacker: a login flow at the gateway,
// opened from the agency like anyone's, and the Cl@ve PIN pages of that
// flow, used for identifier after identifier. It knows DNIs only: the
// contrast datum (the DNI's validity date) it guesses, like the PIN.
type attacker struct {
	b              *browser
	rnd            *rand.Rand
	request, check string
	restart        string
	// csrf is the flow's anti-CSRF token, as its forms carry it.
	csrf string
	st   *guessStats
}

// guessStats counts what the gateway answered an attack phase.
type guessStats struct {
	mu       sync.Mutex
	answers  map[string]int
	requests atomic.Int64
	attempts atomic.Int64
	taken    atomic.Int64
	flows    atomic.Int64
}

func newGuessStats() *guessStats { return &guessStats{answers: map[string]int{}} }

func (s *guessStats) count(kind string) {
	s.mu.Lock()
	s.answers[kind]++
	s.mu.Unlock()
}

func (h *harness) attacker(client string, seed uint64, st *guessStats) *attacker {
	return &attacker{b: h.browser(client), rnd: rand.New(rand.NewPCG(seed, 0x5eed)), st: st}
}

// open starts a login flow and finds its Cl@ve PIN form.
func (a *attacker) open(ctx context.Context) error {
	p, err := a.b.startLogin(ctx)
	if err != nil {
		return err
	}
	a.st.flows.Add(1)
	f, _ := p.form("/pin/request")
	a.csrf = f.fields.Get("csrf")
	base := strings.TrimSuffix(p.url.String(), "/") + "/"
	a.request, a.check, a.restart = base+"request", base+"verify", base+"new"
	return nil
}

// post posts the typed fields with the flow's token.
func (a *attacker) post(ctx context.Context, u string, typed url.Values) (page, error) {
	if a.csrf != "" {
		typed.Set("csrf", a.csrf)
	}
	return a.b.do(ctx, http.MethodPost, u, typed)
}

func (a *attacker) guessContrast() string {
	return validUntil(a.rnd.IntN(3650)).Format("02/01/2006")
}

func (a *attacker) guessPIN() string {
	b := make([]byte, 3)
	for i := range b {
		b[i] = pinAlphabet[a.rnd.IntN(len(pinAlphabet))]
	}
	return string(b)
}

// classify names an answer of the PIN pages by its status and message.
func classify(what string, p page) string {
	switch {
	case p.status == http.StatusOK && strings.Contains(p.body, `name="SAMLResponse"`):
		return what + ": ACCEPTED"
	case p.status == http.StatusOK && strings.Contains(p.body, `id="request-code"`):
		return what + ": PIN issued (real or decoy, alike)"
	case p.status == http.StatusOK:
		return what + ": 200 other page"
	}
	msg := "other"
	for _, m := range []struct{ text, name string }{
		{"Demasiados intentos desde esta conexión", "too many from this client or overall (429)"},
		{"Ha pedido demasiados PIN", "citizen's PIN requests limited"},
		{"Demasiados intentos fallidos", "citizen blocked"},
		{"indique también su teléfono", "wrong; registered phone now required"},
		{"El PIN no es correcto", "wrong PIN"},
	} {
		if strings.Contains(p.body, m.text) {
			msg = m.name
			break
		}
	}
	return fmt.Sprintf("%s: %s [%d]", what, msg, p.status)
}

// try goes after one target: asks a PIN for it with a guessed contrast
// datum and, if a PIN form comes back, types up to attempts guesses. It
// returns false when the flow is no longer usable.
func (a *attacker) try(ctx context.Context, target, attempts int) bool {
	a.st.requests.Add(1)
	p, err := a.post(ctx, a.request, url.Values{"document": {dniOf(target)}, "contrast": {a.guessContrast()}})
	if err != nil {
		a.st.count("request: " + errClass(err))
		return false
	}
	kind := classify("request", p)
	a.st.count(kind)
	if p.status == http.StatusNotFound {
		return false
	}
	if !strings.HasSuffix(kind, "(real or decoy, alike)") {
		return true
	}
	for range attempts {
		if ctx.Err() != nil {
			break
		}
		a.st.attempts.Add(1)
		p, err := a.post(ctx, a.check, url.Values{"pin": {a.guessPIN()}})
		if err != nil {
			a.st.count("attempt: " + errClass(err))
			return false
		}
		kind := classify("attempt", p)
		a.st.count(kind)
		if strings.HasSuffix(kind, "ACCEPTED") {
			a.st.taken.Add(1)
			return false // the flow is done
		}
		if p.status == http.StatusTooManyRequests || p.status == http.StatusForbidden || p.status == http.StatusNotFound {
			break
		}
	}
	p, err = a.post(ctx, a.restart, url.Values{})
	return err == nil && p.status == http.StatusOK
}

// guessResult is the outcome of the guess scenario.
type guessResult struct {
	taken          int
	legit, legitOK int
}

type guessPhase struct {
	name    string
	workers int
	// targets are the citizens attacked, in order.
	targets []int
	// perClient is how many targets one client address is used for
	// before the attacker moves to another; 0 means one address for all.
	perClient int
	attempts  int
	// maxPosts bounds the form posts of the phase.
	maxPosts int64
	// addrs numbers the client addresses, across phases, so that no
	// phase inherits another's per-client counts.
	addrs *atomic.Int64
}

func (ph guessPhase) run(ctx context.Context, w io.Writer, h *harness, d time.Duration, during func(ctx context.Context, attackDone <-chan struct{})) int {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	st := newGuessStats()
	before := h.logs.snapshot()
	var (
		next    atomic.Int64
		clients atomic.Int64
		wg      sync.WaitGroup
	)
	if ph.addrs == nil {
		ph.addrs = new(atomic.Int64)
	}
	t0 := time.Now()
	for wk := range ph.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a *attacker
			used := 0
			for ctx.Err() == nil && st.requests.Load()+st.attempts.Load() < ph.maxPosts {
				i := int(next.Add(1) - 1)
				if i >= len(ph.targets) {
					return
				}
				if a == nil || (ph.perClient > 0 && used >= ph.perClient) {
					addr := "198.51.100.7"
					if ph.perClient > 0 {
						clients.Add(1)
						n := ph.addrs.Add(1)
						addr = fmt.Sprintf("100.%d.%d.%d", 64+n>>16&63, n>>8&255, n&255)
					}
					a, used = h.attacker(addr, uint64(wk)<<32|uint64(i), st), 0
					if err := a.open(ctx); err != nil {
						st.count("opening a login: " + err.Error())
						a = nil
						continue
					}
				}
				used++
				if !a.try(ctx, ph.targets[i], ph.attempts) {
					a = nil
				}
			}
		}()
	}
	attackDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(attackDone)
	}()
	if during != nil {
		during(ctx, attackDone)
	}
	<-attackDone
	elapsed := time.Since(t0)
	fmt.Fprintf(w, "-- %s: %d targets offered, %d PIN requests and %d PIN attempts in %s (%d login flows, %d client addresses)\n",
		ph.name, len(ph.targets), st.requests.Load(), st.attempts.Load(), ms(elapsed), st.flows.Load(), max(1, clients.Load()))
	printCounts(w, "answers", st.answers)
	printCounts(w, "gateway warnings logged", h.logs.since(before))
	fmt.Fprintf(w, "accounts taken: %d\n", st.taken.Load())
	return int(st.taken.Load())
}

// scenarioGuess is -scenario guess.
func scenarioGuess(ctx context.Context, w io.Writer, h *harness, o *options) (guessResult, error) {
	if h.citizens < o.targets+guessLegit {
		if err := h.seed(ctx, h.citizens, o.targets+guessLegit); err != nil {
			return guessResult{}, err
		}
	}
	fmt.Fprintf(w, "== guess: an attacker knowing only the DNIs of %d citizens (contrast datum and PIN guessed); %d citizens registered\n", o.targets, h.citizens)
	all := make([]int, o.targets)
	for i := range all {
		all[i] = i
	}
	var (
		res   guessResult
		addrs atomic.Int64
	)
	// 1. One client address, identifier after identifier.
	res.taken += guessPhase{name: "one client", workers: 1, targets: all, attempts: 3, maxPosts: 400}.
		run(ctx, w, h, o.guessTime, nil)
	// 2. Many addresses, one target at a time, as many PIN attempts as the
	// gateway takes: the per-citizen counters (phone required, then blocked).
	deep := all[len(all)-50:]
	res.taken += guessPhase{name: "many clients, deep on 50 citizens", workers: 8, targets: deep, perClient: 1, attempts: 35, maxPosts: 4000, addrs: &addrs}.
		run(ctx, w, h, o.guessTime, nil)
	// 3. Many addresses, each within the per-client limits, across every
	// target: only the global limits stand in the way. Citizens who are not
	// attacked log in meanwhile.
	var legit bytes.Buffer
	res.taken += guessPhase{name: "many clients, spread over all targets", workers: 16, targets: all[:len(all)-50], perClient: 10, attempts: 3, maxPosts: 60000, addrs: &addrs}.
		run(ctx, w, h, o.guessTime, func(ctx context.Context, attackDone <-chan struct{}) {
			// They start once the attack has tripped the global limit, if it
			// does: that is when they might be refused with the attacker.
			wait := time.NewTicker(100 * time.Millisecond)
			defer wait.Stop()
			for tripped := false; !tripped; {
				select {
				case <-wait.C:
				case <-attackDone:
					fmt.Fprintf(&legit, "-- the attack never reached the global limit: citizens not attacked were not tried\n")
					return
				case <-ctx.Done():
					return
				}
				for k := range h.logs.snapshot() {
					tripped = tripped || strings.Contains(k, "global limit reached")
				}
			}
			lr := loginRun{clients: guessLegit, total: guessLegit, first: o.targets, addrPrefix: "172.16."}.run(ctx, h)
			res.legit, res.legitOK = lr.total, lr.completed
			fmt.Fprintf(&legit, "-- citizens not attacked, logging in during the spread attack once it reached the global limit (from %d addresses of their own):\n", guessLegit)
			lr.print(&legit)
		})
	_, _ = legit.WriteTo(w)
	fmt.Fprintf(w, "TOTAL accounts taken: %d (must be 0)\n", res.taken)
	return res, nil
}
