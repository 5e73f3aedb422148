package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

// registry is a citizen registry of one: the citizen whose phone this is.
type registry map[string]method.Citizen

func (r registry) Citizen(_ context.Context, id string) (method.Citizen, error) {
	c, ok := r[strings.ToUpper(strings.TrimSpace(id))]
	if !ok {
		return method.Citizen{}, method.ErrUnknownCitizen
	}
	return c, nil
}

// outbox stands in for the SMS provider: the citizen reads the codes here.
type outbox struct {
	mu   sync.Mutex
	msgs []method.Message
}

func (o *outbox) Send(_ context.Context, m method.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) lastCode() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == 0 {
		return ""
	}
	return o.msgs[len(o.msgs)-1].Code
}

func Example() {
	ctx := context.Background()

	// The gateway's side: Cl@ve Móvil and its app API, in process.
	svc, err := mobile.New(mobile.Config{}, mobile.NewMemoryStore())
	if err != nil {
		panic(err)
	}
	sms := &outbox{}
	api, err := mobile.NewAPI(mobile.APIConfig{
		Service: svc,
		Citizens: registry{"12345678Z": {ID: "12345678Z", ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
			Phone: "+34600000001", Status: method.StatusActive, Level: method.LevelAdvanced}},
		Notifier: sms,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	gateway := httptest.NewServer(api)
	defer gateway.Close()

	// The phone: activation by an SMS code, once.
	passphrase := []byte("unlock factor of this phone")
	c := &app.Client{BaseURL: gateway.URL}
	if _, err := c.RequestActivationCode(ctx, "12345678Z", "01/01/2040"); err != nil {
		panic(err)
	}
	phone, err := c.ActivateSMS(ctx, "12345678Z", sms.lastCode(), passphrase)
	if err != nil {
		panic(err)
	}

	// A service asks for a login without QR: the gateway pushes it.
	login, err := svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-1", Requester: "Agencia Tributaria",
		Kind: mobile.KindPush, Citizen: "12345678Z"})
	if err != nil {
		panic(err)
	}

	// The citizen unlocks the phone, checks who asks and the code the
	// login page shows, and confirms.
	s, err := phone.Unlock(passphrase)
	if err != nil {
		panic(err)
	}
	defer s.Lock()
	reqs, err := s.Pending(ctx, 30*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println(reqs[0].Requester, reqs[0].VerificationCode == login.VerificationCode())
	if err := s.ConfirmCode(ctx, reqs[0], login.VerificationCode()); err != nil {
		panic(err)
	}

	login, err = svc.Request(ctx, login.ID)
	fmt.Println(login.State, err)
	// Output:
	// Agencia Tributaria true
	// confirmed <nil>
}
