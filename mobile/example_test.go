package mobile_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/clave-go/clave/mobile"
)

func Example() {
	ctx := context.Background()
	// A real gateway sets Config.Secret and uses a SQLStore.
	svc, err := mobile.New(mobile.Config{}, mobile.NewMemoryStore())
	if err != nil {
		panic(err)
	}

	// The phone makes its key pair at activation; the gateway has checked
	// the certificate's proof before calling Activate.
	pub, priv, _ := ed25519.GenerateKey(nil)
	dev, err := svc.Activate(ctx, "12345678Z", mobile.ByCertificate, pub)
	if err != nil {
		panic(err)
	}

	// A login without QR: the page shows req.VerificationCode() and the
	// push reaches the phone, which shows the same code.
	req, err := svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-1", Requester: "Agencia Tributaria",
		Kind: mobile.KindPush, Citizen: "12345678Z"})
	if err != nil {
		panic(err)
	}

	// The citizen confirms, and the unlock factor releases the key.
	payload, sig, err := mobile.SignConfirmation(priv, req.Confirmation(mobile.Confirm, time.Now()))
	if err != nil {
		panic(err)
	}
	req, err = svc.Decide(ctx, dev.ID, payload, sig)
	fmt.Println(req.State, err)

	_, err = svc.Decide(ctx, dev.ID, payload, sig)
	fmt.Println("replay refused:", errors.Is(err, mobile.ErrAlreadyDecided))
	// Output:
	// confirmed <nil>
	// replay refused: true
}
