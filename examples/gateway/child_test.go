package main

import (
	"os"
	"testing"
)

// childEnv makes the test binary run the gateway's main instead of the
// tests, so that a test can run the gateway as a separate process and kill
// it.
const childEnv = "CLAVE_GATEWAY_AS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Args = append([]string{os.Args[0]}, childArgs(os.Args[1:])...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childArgs drops the test binary's own flags (-test.*) that go test may put
// before the gateway's.
func childArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if len(a) > 6 && a[:6] == "-test." {
			continue
		}
		out = append(out, a)
	}
	return out
}
