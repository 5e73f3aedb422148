package pin_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/clave-go/clave/pin"
)

func Example() {
	ctx := context.Background()
	// A real gateway sets Config.Secret and uses a SQLStore, so that
	// pending PINs survive a restart.
	svc, err := pin.New(pin.Config{}, pin.NewMemoryStore())
	if err != nil {
		panic(err)
	}
	issued, err := svc.Request(ctx, "12345678Z", "")
	if err != nil {
		panic(err)
	}
	// issued.PIN goes to the citizen's device or by SMS; the page shows
	// issued.RequestCode and the time left until issued.ExpiresAt.
	err = svc.Verify(ctx, "12345678Z", issued.RequestCode, issued.PIN, "", "")
	fmt.Println("first use:", err)
	err = svc.Verify(ctx, "12345678Z", issued.RequestCode, issued.PIN, "", "")
	fmt.Println("second use refused:", errors.Is(err, pin.ErrUsed))
	// Output:
	// first use: <nil>
	// second use refused: true
}
