package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/clave-go/clave/internal/calendar"
	"github.com/clave-go/clave/internal/dni"
)

// maxSeedSize bounds what LoadSeed reads; a demo seed is a few kilobytes.
const maxSeedSize = 8 << 20

// seedFile is the JSON shape of a seed, kept apart from Citizen so that the
// file format can stay stable while the Go type evolves.
type seedFile struct {
	Citizens []seedCitizen `json:"citizens"`
}

type seedCitizen struct {
	ID            string `json:"id"`
	ValidUntil    string `json:"valid_until"`
	IssuedOn      string `json:"issued_on"`
	SupportNumber string `json:"support_number"`
	GivenName     string `json:"given_name"`
	FirstSurname  string `json:"first_surname"`
	SecondSurname string `json:"second_surname"`
	DateOfBirth   string `json:"date_of_birth"`
	Phone         string `json:"phone"`
	Email         string `json:"email"`
	Level         string `json:"level"`
	Status        string `json:"status"`
}

// LoadSeed reads the demo and test citizens from JSON of the form
//
//	{"citizens": [{"id": "12345678Z", "valid_until": "2030-01-01", "issued_on": "",
//	  "support_number": "", "given_name": "MARIA", "first_surname": "GARCIA",
//	  "second_surname": "LOPEZ", "date_of_birth": "1980-05-17", "phone": "+34600000001",
//	  "email": "maria@example.es", "level": "advanced", "status": "active"}]}
//
// with dates as yyyy-mm-dd and "" for unset. It is strict, because a typo in
// a seed should fail the demo at start-up rather than yield a citizen who
// cannot log in: unknown fields, trailing data, invalid entries and two
// entries sharing an identifier or a phone are errors, which name the
// entry by its 0-based index. The citizens are returned normalised, with
// CreatedAt left for the store to set.
func LoadSeed(r io.Reader) ([]Citizen, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("registry: seed: %w", err)
	}
	if len(data) > maxSeedSize {
		return nil, fmt.Errorf("registry: seed: larger than %d bytes", maxSeedSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f seedFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("registry: seed: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("registry: seed: unexpected data after the JSON object")
	}
	if f.Citizens == nil {
		return nil, errors.New(`registry: seed: missing "citizens" array`)
	}

	out := make([]Citizen, 0, len(f.Citizens))
	seenID := make(map[string]int, len(f.Citizens))
	seenPhone := make(map[string]int, len(f.Citizens))
	for i, e := range f.Citizens {
		c, err := e.citizen()
		if err == nil {
			c = c.Normalized()
			err = c.Validate()
		}
		if err != nil {
			return nil, fmt.Errorf("registry: seed citizen %d: %w", i, err)
		}
		if j, ok := seenID[c.ID]; ok {
			return nil, fmt.Errorf("registry: seed citizen %d: same id as citizen %d: %w", i, j, ErrInvalid)
		}
		if j, ok := seenPhone[c.Phone]; ok {
			return nil, fmt.Errorf("registry: seed citizen %d: same phone as citizen %d (one DNI/NIE per mobile): %w", i, j, ErrInvalid)
		}
		seenID[c.ID], seenPhone[c.Phone] = i, i
		out = append(out, c)
	}
	return out, nil
}

// citizen converts the fields that need parsing; Validate judges the rest.
func (e seedCitizen) citizen() (Citizen, error) {
	id, err := dni.Parse(e.ID)
	if err != nil {
		// dni errors never quote the input, so this is safe to show.
		return Citizen{}, errors.Join(&FieldError{Field: "id", Reason: "not a valid DNI or NIE"}, err)
	}
	c := Citizen{
		ID:            id.String(),
		SupportNumber: e.SupportNumber,
		GivenName:     e.GivenName,
		FirstSurname:  e.FirstSurname,
		SecondSurname: e.SecondSurname,
		Phone:         e.Phone,
		Email:         e.Email,
		Level:         Level(e.Level),
		Status:        Status(e.Status),
	}
	for _, f := range []struct {
		name string
		text string
		dst  *time.Time
	}{{"valid_until", e.ValidUntil, &c.ValidUntil}, {"issued_on", e.IssuedOn, &c.IssuedOn}, {"date_of_birth", e.DateOfBirth, &c.DateOfBirth}} {
		if *f.dst, err = calendar.Parse(f.text); err != nil {
			return Citizen{}, &FieldError{Field: f.name, Reason: "want yyyy-mm-dd or an empty string"}
		}
	}
	return c, nil
}

// SeedStore puts every citizen into st, in order. Put replaces existing
// records, so seeding at each start of a demo restores the personas to
// their seeded state (status included) without duplicating them. It stops
// at the first failure, naming the entry by index.
func SeedStore(ctx context.Context, st Store, citizens []Citizen) error {
	for i, c := range citizens {
		if err := st.Put(ctx, c); err != nil {
			return fmt.Errorf("registry: seed citizen %d: %w", i, err)
		}
	}
	return nil
}
