package pipeline

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all generated now, as PEM files in dir.
type testPKI struct {
	dir                   string
	caFile, certFile      string
	keyFile               string
	server                tls.Certificate
	caPool                *x509.CertPool
	clientCert, clientKey []byte
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1),
		Subject: pkix.Name{CommonName: "cleanframe test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial),
			Subject: pkix.Name{CommonName: "broker"}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"kafka.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	}
	p := &testPKI{dir: dir, caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	sc, sk := leaf(2, x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	p.clientCert, p.clientKey = leaf(3, x509.ExtKeyUsageClientAuth)
	write := func(name string, b []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p.caFile = write("ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	p.certFile = write("tls.crt", p.clientCert)
	p.keyFile = write("tls.key", p.clientKey)
	return p
}

func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.caPool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

// configFromEnv registers flags with the environment as set and validates.
func configFromEnv(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &c, c.Validate()
}

// secretFree fails when any rendering of c or its logs shows secret.
func secretFree(t *testing.T, c *Config, logs *bytes.Buffer, secret string) {
	t.Helper()
	for _, s := range []string{fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", *c),
		fmt.Sprintf("%#v", *c), fmt.Sprint(c.SASL), fmt.Sprintf("%#v", c.SASL),
		c.Security.String(), fmt.Sprintf("%+v %#v", c.Security, c.Security), logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("secret printed in %q", s)
		}
	}
}

func TestSecurityFromEnv(t *testing.T) {
	pki := newTestPKI(t)
	const pass = "pa55-w0rd-in-file"
	passFile := filepath.Join(pki.dir, "password")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:9092")
	t.Setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
	t.Setenv("KAFKA_SASL_USERNAME", "cf")
	t.Setenv("KAFKA_SASL_PASSWORD_FILE", passFile)
	t.Setenv("KAFKA_TLS", "true")
	t.Setenv("KAFKA_TLS_CA_FILE", pki.caFile)
	t.Setenv("KAFKA_TLS_CERT_FILE", pki.certFile)
	t.Setenv("KAFKA_TLS_KEY_FILE", pki.keyFile)
	t.Setenv("KAFKA_TLS_SERVER_NAME", "kafka.test")
	t.Setenv("KAFKA_TLS_INSECURE_SKIP_VERIFY", "false")
	c, err := configFromEnv(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.SASL == nil || c.SASL.Name() != "SCRAM-SHA-512" {
		t.Fatalf("SASL = %v", c.SASL)
	}
	tc := c.TLS
	if tc == nil || tc.ServerName != "kafka.test" || tc.InsecureSkipVerify ||
		len(tc.Certificates) != 1 || tc.RootCAs == nil {
		t.Fatalf("TLS = %+v", tc)
	}
	if d, tr := c.dialer(), c.transport(); d.TLS != tc || d.SASLMechanism != c.SASL ||
		tr.TLS != tc || tr.SASL != c.SASL {
		t.Error("dialer or transport does not carry TLS and SASL")
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("config", "security", c.Security, "sasl", c.SASL, "cfg", c)
	secretFree(t, c, &logs, pass)
	if !strings.Contains(logs.String(), "password redacted") {
		t.Errorf("logs do not show the mechanism: %s", logs.String())
	}

	// a flag wins over the environment; the password may come from env
	t.Setenv("KAFKA_SASL_PASSWORD_FILE", "")
	t.Setenv("KAFKA_SASL_PASSWORD", "env-secret-42")
	c, err = configFromEnv(t, "--sasl-mechanism", "PLAIN", "--tls=false",
		"--tls-ca-file=", "--tls-cert-file=", "--tls-key-file=", "--tls-server-name=")
	if err != nil {
		t.Fatal(err)
	}
	if c.SASL.Name() != "PLAIN" || c.TLS != nil {
		t.Fatalf("SASL %v TLS %v", c.SASL, c.TLS)
	}
	secretFree(t, c, &logs, "env-secret-42")
}

func TestSecurityErrors(t *testing.T) {
	pki := newTestPKI(t)
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:9092")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI",
			"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "GSSAPI"},
		{"no user", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN"}, "user name"},
		{"no password", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN",
			"KAFKA_SASL_USERNAME": "u"}, "password"},
		{"missing password file", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN",
			"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"},
			"password file"},
		{"bad bool", map[string]string{"KAFKA_TLS": "yes please"}, "KAFKA_TLS"},
		{"ca not pem", map[string]string{"KAFKA_TLS_CA_FILE": pki.keyFile + ".none"}, "ca file"},
		{"cert without key", map[string]string{"KAFKA_TLS_CERT_FILE": pki.certFile},
			"set both"},
		{"key is not the cert's", map[string]string{"KAFKA_TLS_CERT_FILE": pki.caFile,
			"KAFKA_TLS_KEY_FILE": pki.keyFile}, "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := configFromEnv(t)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

// TestSecurityHandshake proves the TLS config verifies a loopback listener
// signed by the configured CA and presents the client certificate, and
// that a wrong server name is refused.
func TestSecurityHandshake(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.serverTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	for _, tt := range []struct {
		name, server string
		ok           bool
	}{{"ip", "", true}, {"server name", "kafka.test", true}, {"wrong name", "other.test", false}} {
		s := Security{TLSCAFile: pki.caFile, TLSCertFile: pki.certFile,
			TLSKeyFile: pki.keyFile, TLSServerName: tt.server}
		tc, _, err := s.Build()
		if err != nil {
			t.Fatal(err)
		}
		if tc.ServerName == "" {
			tc.ServerName = "127.0.0.1"
		}
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), tc)
		if (err == nil) != tt.ok {
			t.Errorf("%s: handshake error %v, want ok=%t", tt.name, err, tt.ok)
		}
		if err == nil {
			conn.Close()
		}
	}
}

// TestSecurityBroker produces and reads a record through an embedded
// broker on 127.0.0.1 that demands mutual TLS and SASL, for each
// mechanism, with the settings taken from the environment; a wrong
// password is refused.
func TestSecurityBroker(t *testing.T) {
	pki := newTestPKI(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
				kfake.Superuser(mech, "cf", "right-pass"), kfake.TLS(pki.serverTLS()),
				kfake.SeedTopics(1, "secure"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			t.Setenv("KAFKA_BROKERS", strings.Join(cluster.ListenAddrs(), ","))
			t.Setenv("KAFKA_SASL_MECHANISM", mech)
			t.Setenv("KAFKA_SASL_USERNAME", "cf")
			t.Setenv("KAFKA_TLS_CA_FILE", pki.caFile)
			t.Setenv("KAFKA_TLS_CERT_FILE", pki.certFile)
			t.Setenv("KAFKA_TLS_KEY_FILE", pki.keyFile)
			for _, pass := range []string{"wrong-pass", "right-pass"} {
				t.Setenv("KAFKA_SASL_PASSWORD", pass)
				var logs bytes.Buffer
				c, err := configFromEnv(t)
				if err != nil {
					t.Fatal(err)
				}
				c.Logger = slog.New(slog.NewTextHandler(&logs,
					&slog.HandlerOptions{Level: slog.LevelDebug}))
				err = produceAndRead(t, c)
				if (err == nil) != (pass == "right-pass") {
					t.Errorf("password %s: %v", pass, err)
				}
				secretFree(t, c, &logs, pass)
			}
		})
	}
}

func produceAndRead(t *testing.T, c *Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewProducer(c)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Produce(ctx, &Record{Topic: "secure", Key: []byte("k"),
		Value: []byte("v")}); err != nil {
		return err
	}
	r, err := NewPartitionReader(c, "secure", 0, FirstOffset)
	if err != nil {
		return err
	}
	defer r.Close()
	rec, err := r.Read(ctx)
	if err != nil {
		return err
	}
	if string(rec.Value) != "v" {
		t.Errorf("read %q", rec.Value)
	}
	return nil
}

// TestValidateConcurrent checks that Validate may run from several
// goroutines once the first call has built the security settings, and
// always when there are none (run with -race).
func TestValidateConcurrent(t *testing.T) {
	pki := newTestPKI(t)
	for _, sec := range []Security{{}, {TLSCAFile: pki.caFile, SASLMechanism: "PLAIN",
		SASLUsername: "u", password: "p"}} {
		c := &Config{Brokers: []string{"127.0.0.1:9092"}, Security: sec}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		for range 4 {
			go func() { done <- c.Validate() }()
		}
		for range 4 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
