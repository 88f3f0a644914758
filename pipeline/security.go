package pipeline

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Security holds the SASL and TLS settings of the broker connections as
// flags and the environment give them. [Config.Validate] loads the files it
// names and builds Config.TLS and Config.SASL from it, unless those are
// already set. The SASL password is read from a file or from the
// environment, never from a flag (flags show in process listings), and
// String, GoString and LogValue never print it.
type Security struct {
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	// (sasl.mechanism); empty means no SASL. Flag --sasl-mechanism,
	// environment KAFKA_SASL_MECHANISM.
	SASLMechanism string

	// SASLUsername is the SASL user (sasl.jaas.config username). Flag
	// --sasl-username, environment KAFKA_SASL_USERNAME.
	SASLUsername string

	// SASLPasswordFile names a file holding the SASL password; a final
	// newline is dropped. Flag --sasl-password-file, environment
	// KAFKA_SASL_PASSWORD_FILE. Without it the password comes from the
	// environment variable KAFKA_SASL_PASSWORD.
	SASLPasswordFile string

	// TLS turns TLS on (security.protocol SSL, or SASL_SSL with SASL).
	// Default false; naming any TLS file below turns it on too. Flag
	// --tls, environment KAFKA_TLS.
	TLS bool

	// TLSCAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates (ssl.truststore); default the system's roots. Flag
	// --tls-ca-file, environment KAFKA_TLS_CA_FILE.
	TLSCAFile string

	// TLSCertFile and TLSKeyFile are the PEM client certificate and key for
	// mutual TLS (ssl.keystore); both or neither. Flags --tls-cert-file and
	// --tls-key-file, environment KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE.
	TLSCertFile, TLSKeyFile string

	// TLSServerName overrides the name checked in the brokers'
	// certificates (ssl.endpoint.identification). Default: the host of
	// each broker address. Flag --tls-server-name, environment
	// KAFKA_TLS_SERVER_NAME.
	TLSServerName string

	// TLSInsecureSkipVerify turns off certificate verification; for tests
	// only. Default false. Flag --tls-insecure-skip-verify, environment
	// KAFKA_TLS_INSECURE_SKIP_VERIFY.
	TLSInsecureSkipVerify bool

	password string // from KAFKA_SASL_PASSWORD, when no file is named
}

// registerFlags defines the flags of s on fs, with environment fallbacks.
func (s *Security) registerFlags(fs *flag.FlagSet, c *Config) {
	s.SASLMechanism = envOr("KAFKA_SASL_MECHANISM", s.SASLMechanism)
	fs.StringVar(&s.SASLMechanism, "sasl-mechanism", s.SASLMechanism,
		"SASL `mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none "+
			"(env KAFKA_SASL_MECHANISM)")
	s.SASLUsername = envOr("KAFKA_SASL_USERNAME", s.SASLUsername)
	fs.StringVar(&s.SASLUsername, "sasl-username", s.SASLUsername,
		"SASL `user` (env KAFKA_SASL_USERNAME)")
	s.SASLPasswordFile = envOr("KAFKA_SASL_PASSWORD_FILE", s.SASLPasswordFile)
	fs.StringVar(&s.SASLPasswordFile, "sasl-password-file", s.SASLPasswordFile,
		"`file` holding the SASL password (env KAFKA_SASL_PASSWORD_FILE; "+
			"else env KAFKA_SASL_PASSWORD)")
	s.password = os.Getenv("KAFKA_SASL_PASSWORD")

	s.TLS = c.envBool("KAFKA_TLS", s.TLS)
	fs.BoolVar(&s.TLS, "tls", s.TLS, "TLS to the brokers (env KAFKA_TLS)")
	for _, f := range []struct {
		p          *string
		flag, env  string
		help, what string
	}{
		{&s.TLSCAFile, "tls-ca-file", "KAFKA_TLS_CA_FILE", "PEM CA bundle", "file"},
		{&s.TLSCertFile, "tls-cert-file", "KAFKA_TLS_CERT_FILE", "PEM client certificate", "file"},
		{&s.TLSKeyFile, "tls-key-file", "KAFKA_TLS_KEY_FILE", "PEM client key", "file"},
		{&s.TLSServerName, "tls-server-name", "KAFKA_TLS_SERVER_NAME",
			"broker certificate name to verify", "name"},
	} {
		*f.p = envOr(f.env, *f.p)
		fs.StringVar(f.p, f.flag, *f.p, fmt.Sprintf("%s `%s` (env %s)", f.help, f.what, f.env))
	}
	s.TLSInsecureSkipVerify = c.envBool("KAFKA_TLS_INSECURE_SKIP_VERIFY",
		s.TLSInsecureSkipVerify)
	fs.BoolVar(&s.TLSInsecureSkipVerify, "tls-insecure-skip-verify",
		s.TLSInsecureSkipVerify, "skip broker certificate checks; tests only "+
			"(env KAFKA_TLS_INSECURE_SKIP_VERIFY)")
}

func (c *Config) envBool(name string, def bool) bool {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		c.envErr = errors.Join(c.envErr, fmt.Errorf("environment %s=%q: want true or false",
			name, v))
		return def
	}
	return b
}

// tlsOn reports whether s asks for TLS.
func (s *Security) tlsOn() bool {
	return s.TLS || s.TLSCAFile != "" || s.TLSCertFile != "" || s.TLSKeyFile != "" ||
		s.TLSServerName != "" || s.TLSInsecureSkipVerify
}

// Build loads the files s names and returns the TLS config (nil without
// TLS) and SASL mechanism (nil without SASL). Errors name files, never
// their contents.
func (s *Security) Build() (*tls.Config, sasl.Mechanism, error) {
	var tc *tls.Config
	if s.tlsOn() {
		var err error
		if tc, err = s.buildTLS(); err != nil {
			return nil, nil, fmt.Errorf("kafka tls: %w", err)
		}
	}
	mech, err := s.buildSASL()
	if err != nil {
		return nil, nil, fmt.Errorf("kafka sasl: %w", err)
	}
	return tc, mech, nil
}

func (s *Security) buildTLS() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.TLSServerName,
		InsecureSkipVerify: s.TLSInsecureSkipVerify}
	if s.TLSCAFile != "" {
		pem, err := os.ReadFile(s.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificate", s.TLSCAFile)
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return nil, errors.New("client certificate and key files go together: set both or neither")
	}
	if s.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile)
		if err != nil {
			// the error of LoadX509KeyPair never quotes key material
			return nil, fmt.Errorf("client certificate %s, key %s: %w", s.TLSCertFile,
				s.TLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s *Security) buildSASL() (sasl.Mechanism, error) {
	name := strings.ToUpper(strings.TrimSpace(s.SASLMechanism))
	if name == "" {
		return nil, nil
	}
	if s.SASLUsername == "" {
		return nil, fmt.Errorf("%s needs a user name (KAFKA_SASL_USERNAME)", name)
	}
	pass := s.password
	if s.SASLPasswordFile != "" {
		b, err := os.ReadFile(s.SASLPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if pass == "" {
		return nil, fmt.Errorf("%s needs a password (KAFKA_SASL_PASSWORD_FILE)", name)
	}
	var m sasl.Mechanism
	var err error
	switch name {
	case "PLAIN":
		m = plain.Mechanism{Username: s.SASLUsername, Password: pass}
	case "SCRAM-SHA-256":
		m, err = scram.Mechanism(scram.SHA256, s.SASLUsername, pass)
	case "SCRAM-SHA-512":
		m, err = scram.Mechanism(scram.SHA512, s.SASLUsername, pass)
	default:
		return nil, fmt.Errorf("mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
			s.SASLMechanism)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return redacted{Mechanism: m, user: s.SASLUsername}, nil
}

// String describes s without the password.
func (s Security) String() string {
	pass := "none"
	switch {
	case s.SASLPasswordFile != "":
		pass = "file " + s.SASLPasswordFile
	case s.password != "":
		pass = "from environment"
	}
	return fmt.Sprintf("sasl=%q user=%q password=%s tls=%t ca=%q cert=%q key=%q "+
		"server_name=%q insecure_skip_verify=%t", s.SASLMechanism, s.SASLUsername, pass,
		s.tlsOn(), s.TLSCAFile, s.TLSCertFile, s.TLSKeyFile, s.TLSServerName,
		s.TLSInsecureSkipVerify)
}

// GoString is String, so that %#v does not print the password either.
func (s Security) GoString() string { return s.String() }

// LogValue logs s as String does.
func (s Security) LogValue() slog.Value { return slog.StringValue(s.String()) }

// redacted is a SASL mechanism that prints without its secret: kafka-go's
// mechanisms are structs that %v would print whole.
type redacted struct {
	sasl.Mechanism
	user string
}

func (r redacted) String() string {
	return fmt.Sprintf("%s user %q (password redacted)", r.Name(), r.user)
}

func (r redacted) GoString() string { return r.String() }

func (r redacted) LogValue() slog.Value { return slog.StringValue(r.String()) }

// applySecurity builds TLS and SASL from c.Security unless either is set
// already, as Validate does on its first call. It writes c only when it
// builds something, so that Validate on a Config without security settings
// stays read-only and safe from several goroutines.
func (c *Config) applySecurity() error {
	if c.TLS != nil || c.SASL != nil || (!c.Security.tlsOn() && c.Security.SASLMechanism == "") {
		return nil
	}
	tc, mech, err := c.Security.Build()
	if err != nil {
		return err
	}
	c.TLS, c.SASL = tc, mech
	return nil
}
