package registry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/registry"
)

func Example() {
	ctx := context.Background()
	st := registry.NewMemoryStore()
	err := st.Put(ctx, registry.Citizen{
		ID:            "12345678Z",
		ValidUntil:    time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC),
		GivenName:     "MARIA",
		FirstSurname:  "GARCIA",
		SecondSurname: "LOPEZ",
		DateOfBirth:   time.Date(1980, time.May, 17, 0, 0, 0, 0, time.UTC),
		Phone:         "600 000 001",
		Email:         "maria@example.es",
		Level:         registry.LevelAdvanced,
		Status:        registry.StatusActive,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := st.Get(ctx, dni.MustParse("12345678z"))
	fmt.Println(c.Masked(), c.FamilyNames(), c.Phone)
	fmt.Println(c.MatchContrast("01/01/2030"), c.MatchContrast("02/01/2030"))
	// Output:
	// *****678Z GARCIA LOPEZ +34600000001
	// true false
}

func ExampleCitizen_Validate() {
	c := registry.Citizen{
		ID:            "X1234567L",
		SupportNumber: "E1234",
		GivenName:     "ANNA",
		FirstSurname:  "SCHMIDT",
		DateOfBirth:   time.Date(1990, time.February, 28, 0, 0, 0, 0, time.UTC),
		Phone:         "910 000 000",
		Email:         "anna@example.es",
		Level:         registry.LevelBasic,
		Status:        registry.StatusActive,
	}
	err := c.Validate()
	fmt.Println(errors.Is(err, registry.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// method: invalid citizen support_number: a NIE needs its support number: E or C followed by 8 digits
	// method: invalid citizen phone: not a Spanish mobile number (6XX or 71X-74X)
}
