package redisstore_test

import (
	"log"
	"net/http"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/redisstore"
)

// serviceConfig stands for the service's usual configuration: gateway
// certificates, SPID, ACS URL, its registered key and certificate.
func serviceConfig() clave.Config { return clave.Config{} }

// Every replica of the service points its Client at the same Redis server
// and seals cookies with the same secret: a Cl@ve response is then accepted
// once in the whole cluster, restarts included, and logging out on any
// replica ends the session on all of them. (It needs a Redis server, so it
// is not run.)
func Example() {
	opts, err := redis.ParseURL(os.Getenv("SEDE_REDIS_URL")) // redis://user:password@host:6379/0
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	cfg := serviceConfig()
	cfg.CookieSecret = []byte(os.Getenv("SEDE_COOKIE_SECRET")) // ≥ 32 random bytes, the same on every replica
	store := redisstore.Options{KeyPrefix: "sede:"}
	cfg.ReplayCache = redisstore.NewReplayCache(rdb, store)
	cfg.SessionStore = redisstore.NewSessionStore(rdb, store)
	c, err := clave.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/clave/acs", c.ACSHandler())
	http.Handle("/clave/logout", c.LogoutHandler())
}
