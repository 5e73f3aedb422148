package dni_test

import (
	"errors"
	"fmt"

	"github.com/clave-go/clave/internal/dni"
)

func Example() {
	for _, in := range []string{"12.345.678-z", "1234567l", "x-1234567-l", "de/es/1234567890"} {
		id, err := dni.Parse(in)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(id.Kind(), id, id.Masked())
	}
	// Output:
	// DNI 12345678Z *****678Z
	// DNI 01234567L *****567L
	// NIE X1234567L *****567L
	// eIDAS DE/ES/1234567890 DE/ES/*******890
}

func ExampleParse_error() {
	_, err := dni.Parse("12345678A")
	fmt.Println(errors.Is(err, dni.ErrCheckLetter))
	fmt.Println(err)
	// Output:
	// true
	// dni: DNI check letter does not match its number: check letter mismatch
}

func ExampleCheckLetter() {
	fmt.Printf("%c\n", dni.CheckLetter(12345678))
	// Output: Z
}

func ExampleValidSupportNumber() {
	fmt.Println(dni.ValidSupportNumber("e 1234 5678"), dni.ValidSupportNumber("X12345678"))
	// Output: true false
}
