package registry

import (
	"context"

	"github.com/clave-go/clave/internal/dni"
)

// Store keeps the registry. Implementations pass the suite of package
// internal/registry/registrytest (registrytest.RunStoreTests), so the
// gateway can run on [MemoryStore] in tests and on [SQLStore] in a demo or
// staging deployment without behaving differently.
//
// Errors wrap [store.ErrNotFound] for a missing citizen, [store.ErrConflict]
// when a mobile number is already someone else's, and [ErrInvalid] for a
// citizen or status that fails validation.
type Store interface {
	// Get returns the citizen with id, in normalised form.
	Get(ctx context.Context, id dni.ID) (Citizen, error)
	// Put inserts or replaces the citizen with c.ID after validating and
	// normalising c. It is atomic: of concurrent Puts claiming the same
	// phone for different citizens, at most one succeeds.
	Put(ctx context.Context, c Citizen) error
	// Delete removes the citizen, freeing their phone number.
	Delete(ctx context.Context, id dni.ID) error
	// List returns every citizen sorted by identifier, so listings and
	// tests are deterministic.
	List(ctx context.Context) ([]Citizen, error)
	// SetStatus changes only the status, so that blocking a citizen cannot
	// race with, and undo, an unrelated update of their data.
	SetStatus(ctx context.Context, id dni.ID, s Status) error
}
