// Package app is the procedures app's server: the citizen chooses how to
// identify (Cl@ve PIN through the gateway's app-native PIN API, or the other
// methods through the gateway's own pages), an entity and one of its
// procedures, and gets an online consultation on screen or a generated
// document kept in a Downloads area. The command one directory up builds its
// Config from flags; another program (the demo) can serve it beside its own.
//
//	a, err := app.New(ctx, app.Config{Client: client, PIN: pinClient, ACSURL: acs, DB: "procedures.db"})
//	if err != nil { ... }
//	defer a.Close()
//	http.ListenAndServe(addr, a)
package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/saml"
)

// Config is what the app needs. Client, PIN, ACSURL and DB are required.
type Config struct {
	// Client validates the gateway's responses (and runs the browser login
	// when SAML is set).
	Client *clave.Client
	// PIN calls the gateway's app-native Cl@ve PIN API.
	PIN *clave.PINClient
	// ACSURL is the Client's ACS URL, registered with the gateway: the
	// gateway addresses the Responses of PIN logins to it, and the Client
	// accepts no other.
	ACSURL string
	// LoA is asked of every PIN login; default low, the most Cl@ve PIN
	// reaches being substantial.
	LoA saml.LoA
	// SAML also offers the other methods through the gateway's own pages.
	SAML bool
	// DB is the SQLite file keeping saved Cl@ve PIN users and downloads,
	// created (with its directory) when missing.
	DB string
	// Now is the clock; default time.Now. Tests share the gateway's.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// App serves the procedures app. Close it to close its database.
type App struct {
	h  http.Handler
	db interface{ Close() error }
}

// New opens the database and makes the app.
func New(ctx context.Context, cfg Config) (*App, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("procedures: Config.Client is required")
	case cfg.PIN == nil:
		return nil, errors.New("procedures: Config.PIN is required")
	case cfg.ACSURL == "":
		return nil, errors.New("procedures: Config.ACSURL is required")
	case cfg.DB == "":
		return nil, errors.New("procedures: Config.DB is required")
	}
	if cfg.LoA == 0 {
		cfg.LoA = saml.LoALow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if dir := filepath.Dir(cfg.DB); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	db, err := openDB(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	h := newSite(appConfig{Client: cfg.Client, PIN: cfg.PIN, ACSURL: cfg.ACSURL, LoA: cfg.LoA, SAML: cfg.SAML,
		Store: &store{db: db, now: cfg.Now}, Now: cfg.Now, Log: cfg.Logger})
	return &App{h: h, db: db}, nil
}

// ServeHTTP serves the app's pages.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.h.ServeHTTP(w, r) }

// Close closes the database; the handler must not be serving any more.
func (a *App) Close() error { return a.db.Close() }
