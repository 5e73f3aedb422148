package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The gateway's settings come from four sources, the first that has one
// winning: a flag, an environment variable CLAVE_<KEY>, the JSON file named
// by -config (or CLAVE_CONFIG), and the default. Secrets come only from the
// environment or the file (a flag would show them in the process list),
// except -pin-secret, kept for the scripts that use it.

// options are the gateway's settings, validated.
type options struct {
	addr, baseURL, db, spConfig, citizens, keyFile, certFile string
	// pinSecret is the hex secret keying stored PINs; adminToken enables
	// /admin/. Never printed.
	pinSecret, adminToken string
	personas              bool
	maxConns              int
	logFormat             string
	logLevel              slog.Level
	shutdownTimeout       time.Duration
	// from tells where each setting (by file key) came from.
	from map[string]source
}

// source is where a setting's value came from.
type source struct {
	kind string // "flag", "env", "file" or "default"
	name string // the flag, the variable or the file
	key  string // the file's key
}

func (s source) String() string {
	switch s.kind {
	case "flag":
		return "flag -" + s.name
	case "env":
		return "env " + s.name
	case "file":
		return fmt.Sprintf("file %s, key %q", s.name, s.key)
	}
	return "default"
}

// settingError is a setting whose value is not what the gateway needs: it
// names the setting, its source and its value (secrets only by length), and
// says what is wanted.
type settingError struct {
	key    string
	from   source
	value  string
	secret bool
	want   string
}

func (e *settingError) Error() string {
	v := strconv.Quote(e.value)
	if e.key == "db" {
		v = strconv.Quote(redactDB(e.value))
	}
	if e.secret {
		v = fmt.Sprintf("(secret, %d characters)", len(e.value))
	}
	if e.from.kind == "default" && e.value == "" {
		return fmt.Sprintf("%s: %s", e.key, e.want)
	}
	return fmt.Sprintf("%s = %s (%s): want %s", e.key, v, e.from, e.want)
}

// configError holds every problem of the configuration, so that one run
// shows them all; main exits 2 on it.
type configError struct{ errs []error }

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString("configuration:")
	for _, err := range e.errs {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n    "))
	}
	return b.String()
}

func (e *configError) Unwrap() []error { return e.errs }

// setting is one of the gateway's settings. Its flag is -key with '-' for
// '_', its variable CLAVE_KEY.
type setting struct {
	key   string
	arg   string // what the value is, for -h
	def   string
	usage string
	// secret settings are never printed; a flag only when legacyFlag.
	secret, legacyFlag bool
	isBool             bool
	// path values in the file are relative to the file's directory.
	path bool
	// set parses v into o; its error says what is wanted.
	set func(o *options, v string) error
}

func (s *setting) flagName() string { return strings.ReplaceAll(s.key, "_", "-") }
func (s *setting) envName() string  { return "CLAVE_" + strings.ToUpper(s.key) }
func (s *setting) hasFlag() bool    { return !s.secret || s.legacyFlag }

const (
	defaultAddr            = "127.0.0.1:9000"
	defaultShutdownTimeout = 20 * time.Second
	minPINSecret           = 32
	minAdminToken          = 16
)

// settings lists every setting, in the order -h shows them.
var settings = []*setting{
	{key: "addr", arg: "host:port", def: defaultAddr, usage: "listen address",
		set: func(o *options, v string) error { o.addr = v; return checkAddr(v) }},
	{key: "base_url", arg: "url", usage: "public URL of the gateway, the Issuer and base of its endpoint (default http://<addr>)",
		set: func(o *options, v string) error { o.baseURL = v; return checkBaseURL(v) }},
	{key: "db", arg: "path|url", def: ":memory:", path: true,
		usage: `SQLite database file, or a postgres:// URL; ":memory:" forgets everything at exit`,
		set:   func(o *options, v string) error { o.db = v; return checkDB(v) }},
	{key: "sp_config", arg: "file", path: true, usage: "JSON file of the registered services (see README)",
		set: func(o *options, v string) error { o.spConfig = v; return checkFile(v) }},
	{key: "citizens", arg: "file", path: true, usage: "JSON seed of citizens (default: the embedded demo citizens)",
		set: func(o *options, v string) error { o.citizens = v; return checkFile(v) }},
	{key: "key", arg: "file", path: true, usage: "PEM signing key (default: synthetic, kept beside a -db file)",
		set: func(o *options, v string) error { o.keyFile = v; return checkFile(v) }},
	{key: "cert", arg: "file", path: true, usage: "PEM certificate of -key",
		set: func(o *options, v string) error { o.certFile = v; return checkFile(v) }},
	{key: "personas", def: "true", isBool: true, usage: "register the reserved test personas (see README)",
		set: func(o *options, v string) (err error) {
			if o.personas, err = strconv.ParseBool(v); err != nil {
				return errors.New("true or false")
			}
			return nil
		}},
	{key: "max_connections", arg: "n", def: strconv.Itoa(defaultMaxConnections),
		usage: "connections served at once; a Cl@ve Móvil login waiting for the phone holds two (its page's and the phone's)",
		set: func(o *options, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < maxPerClient || n > 1<<20 {
				return fmt.Errorf("a whole number from %d to %d", maxPerClient, 1<<20)
			}
			o.maxConns = n
			return nil
		}},
	{key: "log_format", arg: "text|json", def: "text", usage: "log lines as text or as JSON objects",
		set: func(o *options, v string) error {
			if v != "text" && v != "json" {
				return errors.New(`"text" or "json"`)
			}
			o.logFormat = v
			return nil
		}},
	{key: "log_level", arg: "level", def: "info", usage: "least severe level logged: debug, info, warn or error",
		set: func(o *options, v string) error {
			switch strings.ToLower(v) {
			case "debug", "info", "warn", "error":
				return o.logLevel.UnmarshalText([]byte(v))
			}
			return errors.New("debug, info, warn or error")
		}},
	{key: "shutdown_timeout", arg: "duration", def: defaultShutdownTimeout.String(),
		usage: "at SIGTERM or SIGINT, how long requests in flight may take to finish before they are cut",
		set: func(o *options, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > time.Hour {
				return errors.New("a duration from 1s to 1h, such as 20s")
			}
			o.shutdownTimeout = d
			return nil
		}},
	{key: "pin_secret", secret: true, legacyFlag: true, arg: "hex",
		usage: "hex secret (≥ 32 bytes) keying stored PINs and Cl@ve Móvil codes; keep it across restarts so that pending codes survive (default random). The flag shows it in the process list: prefer the variable or the file",
		set: func(o *options, v string) error {
			b, err := hex.DecodeString(v)
			if err != nil || len(b) < minPINSecret {
				return fmt.Errorf("hexadecimal of at least %d bytes (%d hex digits)", minPINSecret, 2*minPINSecret)
			}
			o.pinSecret = v
			return nil
		}},
	{key: "admin_token", secret: true,
		usage: "enables the test controls at /admin/ (Authorization: Bearer <token>); empty: no /admin/",
		set: func(o *options, v string) error {
			if len(v) < minAdminToken || strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
				return fmt.Errorf("at least %d printable characters without spaces", minAdminToken)
			}
			o.adminToken = v
			return nil
		}},
}

// rawFlag is a flag that keeps its text and whether it was given.
type rawFlag struct {
	v      string
	given  bool
	isBool bool
}

func (f *rawFlag) String() string     { return f.v }
func (f *rawFlag) Set(v string) error { f.v, f.given = v, true; return nil }
func (f *rawFlag) IsBoolFlag() bool   { return f.isBool }

// parseFlags reads the settings from args, the process environment and the
// configuration file, and validates them.
func parseFlags(args []string) (*options, error) {
	return loadOptions(args, os.LookupEnv, os.Stderr)
}

// loadOptions reads the settings from args, lookupEnv and the configuration
// file, and validates them all, before anything listens or opens. It
// returns flag.ErrHelp after printing the usage to usageOut for -h, and a
// *configError listing every problem otherwise.
func loadOptions(args []string, lookupEnv func(string) (string, bool), usageOut io.Writer) (*options, error) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.Usage = func() { printUsage(fs.Output()) }
	flags := map[string]*rawFlag{}
	for _, s := range settings {
		if s.hasFlag() {
			f := &rawFlag{isBool: s.isBool}
			flags[s.key] = f
			fs.Var(f, s.flagName(), s.usage)
		}
	}
	configFlag := &rawFlag{}
	fs.Var(configFlag, "config", "JSON file of settings")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &configError{[]error{err}}
	}
	if fs.NArg() > 0 {
		return nil, &configError{[]error{fmt.Errorf("unexpected argument %q (settings are flags, variables or keys of -config)", fs.Arg(0))}}
	}
	env := func(name string) (string, bool) {
		v, ok := lookupEnv(name)
		return v, ok && v != "" // an empty variable is an unset one
	}

	var file map[string]string
	var fileName string
	switch {
	case configFlag.given:
		fileName = configFlag.v
	default:
		fileName, _ = env("CLAVE_CONFIG")
	}
	if fileName != "" {
		var err error
		if file, err = readConfigFile(fileName); err != nil {
			return nil, &configError{[]error{err}}
		}
	}

	o := &options{from: map[string]source{}}
	var errs []error
	for _, s := range settings {
		// An empty value counts as not given there.
		v, from := s.def, source{kind: "default"}
		if f := flags[s.key]; f != nil && f.given && f.v != "" {
			v, from = f.v, source{kind: "flag", name: s.flagName()}
		} else if ev, ok := env(s.envName()); ok {
			v, from = ev, source{kind: "env", name: s.envName()}
		} else if fv, ok := file[s.key]; ok && fv != "" {
			v, from = fv, source{kind: "file", name: fileName, key: s.key}
			if s.path && v != "" && !filepath.IsAbs(v) && !isURL(v) && v != ":memory:" {
				v = filepath.Join(filepath.Dir(fileName), v)
			}
		}
		o.from[s.key] = from
		if v == "" {
			continue // unset, optional
		}
		if err := s.set(o, v); err != nil {
			errs = append(errs, &settingError{key: s.key, from: from, value: v, secret: s.secret, want: err.Error()})
		}
	}
	errs = append(errs, o.crossCheck()...)
	if len(errs) > 0 {
		return nil, &configError{errs}
	}
	return o, nil
}

// crossCheck validates the settings that depend on each other.
func (o *options) crossCheck() []error {
	var errs []error
	if (o.keyFile == "") != (o.certFile == "") {
		missing, given := "cert", "key"
		if o.certFile != "" {
			missing, given = "key", "cert"
		}
		errs = append(errs, fmt.Errorf("%s: required with %s (from %s): the signing key and its certificate go together", missing, given, o.from[given]))
	}
	if isPostgres(o.db) {
		if o.keyFile == "" {
			errs = append(errs, fmt.Errorf("key, cert: required with a PostgreSQL database (db from %s): every gateway sharing it must sign with the same key, so no synthetic one", o.from["db"]))
		}
		if o.pinSecret == "" {
			errs = append(errs, fmt.Errorf("pin_secret: required with a PostgreSQL database (db from %s): every gateway sharing it must key PINs alike; set CLAVE_PIN_SECRET or the file's pin_secret", o.from["db"]))
		}
	}
	return errs
}

// readConfigFile reads a JSON object of settings: known keys only, each
// once, with a string, boolean or number value.
func readConfigFile(name string) (map[string]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("config (-config or CLAVE_CONFIG): %w", err)
	}
	fail := func(off int64, format string, args ...any) error {
		line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
		return fmt.Errorf("config file %s, line %d: %s", name, line, fmt.Sprintf(format, args...))
	}
	known := map[string]*setting{}
	for _, s := range settings {
		known[s.key] = s
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fail(dec.InputOffset(), "want a JSON object of settings")
	}
	out := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fail(dec.InputOffset(), "%v", err)
		}
		key := t.(string) // an object's names are strings
		if _, ok := known[key]; !ok {
			return nil, fail(dec.InputOffset(), "unknown setting %q (known: %s)", key, knownKeys())
		}
		if _, dup := out[key]; dup {
			return nil, fail(dec.InputOffset(), "setting %q given twice", key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fail(dec.InputOffset(), "%q: %v", key, err)
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fail(dec.InputOffset(), "%q: %v", key, err)
		}
		switch v := v.(type) {
		case string:
			out[key] = v
		case bool:
			out[key] = strconv.FormatBool(v)
		case json.Number:
			out[key] = v.String()
		default:
			return nil, fail(dec.InputOffset(), "%q: want a string, a number or true/false", key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(dec.InputOffset(), "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail(dec.InputOffset(), "want nothing after the object")
	}
	return out, nil
}

func knownKeys() string {
	keys := make([]string, len(settings))
	for i, s := range settings {
		keys[i] = s.key
	}
	return strings.Join(keys, ", ")
}

// printUsage writes -h: every setting with its flag, variable and file key.
// It prints no value from the environment or a file, so no secret.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: gateway [flags]

Runs the reference Cl@ve gateway. Each setting is read from its flag, else
its environment variable, else the JSON file named by -config (or
CLAVE_CONFIG: an object whose keys are the settings' keys below; relative
paths in it are relative to the file), else its default. Secrets come from the
environment or the file only.

  -config file  (CLAVE_CONFIG)
	JSON file of settings
`)
	for _, s := range settings {
		name := "-" + s.flagName()
		if !s.hasFlag() {
			name = "(no flag)"
		}
		if s.arg != "" && s.hasFlag() {
			name += " " + s.arg
		}
		fmt.Fprintf(w, "  %s  (%s, key %q)\n\t%s", name, s.envName(), s.key, s.usage)
		if s.def != "" {
			fmt.Fprintf(w, " (default %s)", s.def)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, `
Endpoints besides the gateway's: /healthz (the process is up), /readyz (the
database answers and the gateway is not shutting down), /metrics (Prometheus).
`)
}

// checkAddr wants host:port, the host an IP address, a host name or empty.
func checkAddr(v string) error {
	const want = "host:port, the host an IP address, a host name or empty (all interfaces), the port from 0 to 65535"
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New(want)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New(want)
	}
	if host == "" || net.ParseIP(host) != nil || validHostName(host) {
		return nil
	}
	return errors.New(want)
}

// validHostName reports whether h is a DNS name that is not made of digits
// and dots only (which would be a mistyped IPv4 address).
func validHostName(h string) bool {
	if len(h) > 253 || strings.Trim(h, "0123456789.") == "" {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// checkBaseURL wants an absolute http(s) URL of a host: the gateway's
// routes and redirects start at the root, so it cannot live under a path.
func checkBaseURL(v string) error {
	const want = "an absolute http or https URL without path, query or fragment, such as https://pasarela.example.es"
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New(want)
	}
	return nil
}

// checkDB wants ":memory:", a PostgreSQL URL, or a file whose directory
// exists.
func checkDB(v string) error {
	switch {
	case v == ":memory:":
		return nil
	case isPostgres(v):
		if u, err := url.Parse(v); err != nil || u.Host == "" {
			return errors.New("a PostgreSQL URL such as postgres://user@host:5432/clave")
		}
		return nil
	case isURL(v):
		return errors.New(`":memory:", a SQLite file, or a postgres:// URL`)
	case looksLikeDSN(v):
		return errors.New("a postgres:// URL (a key=value connection string is not accepted)")
	}
	if st, err := os.Stat(v); err == nil && !st.Mode().IsRegular() {
		return errors.New("a SQLite file (this is not a regular file)")
	}
	dir := filepath.Dir(v)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("a SQLite file in an existing directory (%s is not one)", dir)
	}
	return nil
}

// checkFile wants a readable regular file.
func checkFile(v string) error {
	f, err := os.Open(v)
	if err != nil {
		return fmt.Errorf("a readable file (%v)", errors.Unwrap(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return errors.New("a regular file")
	}
	return nil
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

func isURL(v string) bool { return strings.Contains(v, "://") }

// looksLikeDSN reports whether v is a key=value connection string
// ("host=db user=gw password=..."), which would otherwise pass for a file
// name, password and all.
func looksLikeDSN(v string) bool {
	for _, k := range []string{"host=", "dbname=", "user=", "password="} {
		if strings.Contains(v, k) {
			return true
		}
	}
	return false
}

// redactDB is db fit for a log line: a URL's password, in its user info or
// its query, replaced.
func redactDB(db string) string {
	if looksLikeDSN(db) && !isURL(db) {
		return "(connection string)"
	}
	if !isURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// logValue is the configuration for the log line at start: each setting's
// value and source, secrets only as whether they are set.
func (o *options) logValue() slog.Value {
	values := map[string]string{
		"addr": o.addr, "base_url": o.baseURL, "db": redactDB(o.db), "sp_config": o.spConfig,
		"citizens": o.citizens, "key": o.keyFile, "cert": o.certFile,
		"personas": strconv.FormatBool(o.personas), "max_connections": strconv.Itoa(o.maxConns),
		"log_format": o.logFormat, "log_level": strings.ToLower(o.logLevel.String()),
		"shutdown_timeout": o.shutdownTimeout.String(),
	}
	var attrs []slog.Attr
	for _, s := range settings {
		v := values[s.key]
		if v == "" {
			v = "(none)"
		}
		if s.secret {
			v = "(not set)"
			if (s.key == "pin_secret" && o.pinSecret != "") || (s.key == "admin_token" && o.adminToken != "") {
				v = "(set)"
			}
		}
		attrs = append(attrs, slog.String(s.key, v+" ["+o.from[s.key].String()+"]"))
	}
	return slog.GroupValue(attrs...)
}
