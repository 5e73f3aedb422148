package permanente_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/clave-go/clave/permanente"
)

func Example() {
	ctx := context.Background()
	// A real gateway sets Config.Secret and uses a SQLStore.
	svc, err := permanente.New(permanente.Config{}, permanente.NewMemoryStore())
	if err != nil {
		panic(err)
	}

	// Registration: code.Grouped() goes on the citizen's letter.
	code, err := svc.Register(ctx, "12345678Z")
	if err != nil {
		panic(err)
	}

	// Activation: the typed code, then the SMS code sent to the phone.
	sms, err := svc.StartActivation(ctx, "12345678Z", code.Grouped())
	if err != nil {
		panic(err)
	}
	ticket, err := svc.VerifyActivationSMS(ctx, "12345678Z", sms.Value)
	if err != nil {
		panic(err)
	}

	// The form lists every broken rule at once.
	profile := permanente.Profile{GivenName: "Lucía", FirstSurname: "García", SecondSurname: "Núñez"}
	err = svc.CompleteActivation(ctx, "12345678Z", ticket, "garcia2024", profile)
	fmt.Println("weak:", errors.Is(err, permanente.ErrWeakPassword), permanente.BrokenRules(err))
	err = svc.CompleteActivation(ctx, "12345678Z", ticket, "Cuervo#Azul42", profile)
	fmt.Println("activated:", err)

	res, err := svc.Login(ctx, "12345678Z", "Cuervo#Azul42")
	fmt.Println("login:", res.Citizen, res.MustChange, err)
	_, err = svc.Login(ctx, "87654321X", "Cuervo#Azul42")
	fmt.Println("stranger:", err)
	// Output:
	// weak: true [no_upper no_special has_name]
	// activated: <nil>
	// login: 12345678Z false <nil>
	// stranger: permanente: wrong password
}
