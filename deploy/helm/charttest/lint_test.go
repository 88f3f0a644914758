package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
)

// TestLint runs what `helm lint` runs (the SDK's lint rules: Chart.yaml,
// values against the schema, templates, dependencies) on the defaults and
// every scenario. Errors and warnings fail; the info messages are logged.
func TestLint(t *testing.T) {
	kv, err := chartcommon.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			res := lint.RunAll(chartDir, s.vals(t), namespace, lint.WithKubeVersion(kv))
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m.Error())
				} else {
					t.Logf("helm lint: %s", m.Error())
				}
			}
			t.Logf("helm lint %s: %d messages, highest severity %d", s.name, len(res.Messages), res.HighestSeverity)
		})
	}
}

// TestKubeVersion checks the chart's kubeVersion constraint: the preStop
// sleep action needs Kubernetes 1.30.
func TestKubeVersion(t *testing.T) {
	c := loadChart(t).Metadata.KubeVersion
	for v, want := range map[string]bool{"v1.29.9": false, "v1.30.0": true, "v1.33.4-gke.1245000": true,
		"v1.36.0": true} {
		if got := chartv2util.IsCompatibleRange(c, v); got != want {
			t.Errorf("kubeVersion %q with %s: %v, want %v", c, v, got, want)
		}
	}
}

// TestSchemaRejects feeds values of the wrong type or out of range and
// wants the schema (not a template) to refuse each, naming the key.
func TestSchemaRejects(t *testing.T) {
	cases := []struct {
		name string
		vals map[string]any
		key  string // expected in the error
	}{
		{"partitions as string", m("kafka", m("partitions", "12")), "partitions"},
		{"partitions zero", m("kafka", m("partitions", 0)), "partitions"},
		{"partitions fraction", m("kafka", m("partitions", 2.5)), "partitions"},
		{"brokers as string", m("kafka", m("brokers", "kafka:9092")), "brokers"},
		{"broker without port", m("kafka", m("brokers", []any{"kafka"})), "brokers"},
		{"no brokers", m("kafka", m("brokers", []any{})), "brokers"},
		{"sasl enabled as string", m("kafka", m("sasl", m("enabled", "yes"))), "enabled"},
		{"unknown sasl mechanism", m("kafka", m("sasl", m("mechanism", "GSSAPI"))), "mechanism"},
		{"replication factor zero", m("kafka", m("replicationFactor", 0)), "replicationFactor"},
		{"max message bytes too small", m("kafka", m("maxMessageBytes", 1000)), "maxMessageBytes"},
		{"unknown top-level key", m("replicaCount", 3), "replicaCount"},
		{"misspelt key", m("denoiser", m("replica", 3)), "replica"},
		{"log level", m("logLevel", "verbose"), "logLevel"},
		{"memory limit word", m("ingest", m("resources", m("limits", m("memory", "lots")))), "memory"},
		{"cpu limit unit", m("denoiser", m("resources", m("limits", m("cpu", "2 cores")))), "cpu"},
		{"hosts as string", m("ingest", m("ingress", m("hosts", "api.example.com"))), "hosts"},
		{"keda lag negative", m("denoiser", m("keda", m("lagThreshold", -1))), "lagThreshold"},
		{"keda enabled as number", m("denoiser", m("keda", m("enabled", 1))), "enabled"},
		{"hpa max as string", m("ingest", m("autoscaling", m("maxReplicas", "10"))), "maxReplicas"},
		{"port as string", m("httpPort", "8080"), "httpPort"},
		{"privileged port", m("httpPort", 80), "httpPort"},
		{"trainer interval", m("trainer", m("interval", "ten minutes")), "interval"},
		{"relative validation dir", m("trainer", m("validationDir", "valid")), "validationDir"},
		{"memory ratio above 1", m("goMemLimitRatio", 1.5), "goMemLimitRatio"},
		{"extraEnv name", m("ingest", m("extraEnv", m("BAD NAME", "x"))), "BAD NAME"},
		{"extraEnv object", m("ingest", m("extraEnv", m("X", m("a", "b")))), "extraEnv"},
		{"otel endpoint scheme", m("otel", m("endpoint", "collector:4318")), "endpoint"},
		{"otel protocol", m("otel", m("protocol", "udp")), "protocol"},
		{"pull policy", m("image", m("pullPolicy", "Sometimes")), "pullPolicy"},
		{"service type", m("ingest", m("service", m("type", "ExternalName"))), "type"},
		{"pdb percentage word", m("ingest", m("pdb", m("maxUnavailable", "half"))), "maxUnavailable"},
		{"persistence size", m("trainer", m("persistence", m("size", "big"))), "size"},
		{"run as root", m("security", m("runAsUser", 0)), "runAsUser"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := renderValues(t, c.vals)
			if err == nil {
				t.Fatalf("values %v rendered; want a schema error", c.vals)
			}
			msg := err.Error()
			if !strings.Contains(msg, "schema") || !strings.Contains(msg, c.key) {
				t.Errorf("values %v: error %q: want a schema error naming %s", c.vals, msg, c.key)
			}
		})
	}
}

// TestSchemaAccepts renders values at the edges of what the schema allows.
func TestSchemaAccepts(t *testing.T) {
	cases := map[string]map[string]any{
		"cpu as number":        m("denoiser", m("resources", m("limits", m("cpu", 3)))),
		"memory as bytes":      m("ingest", m("resources", m("limits", m("memory", 536870912)))),
		"pdb percentage":       m("ingest", m("pdb", m("maxUnavailable", "50%"))),
		"one partition":        m("kafka", m("partitions", 1)),
		"extraEnv number":      m("denoiser", m("extraEnv", m("CF_BATCH", 64))),
		"global from a parent": m("global", m("imageRegistry", "x")),
	}
	for name, vals := range cases {
		t.Run(name, func(t *testing.T) {
			render(t, vals)
		})
	}
}

// TestRenderRefuses wants template errors for values the schema cannot
// judge alone.
func TestRenderRefuses(t *testing.T) {
	cases := []struct {
		name string
		vals map[string]any
		want string
	}{
		{"sasl without credentials", m("kafka", m("sasl", m("enabled", true))), "kafka.sasl.username is required"},
		{"sasl without password", m("kafka", m("sasl", m("enabled", true, "username", "u"))), "kafka.sasl.password is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := renderValues(t, c.vals)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestChecksumRollsPods changes one setting at a time and wants the pod
// template annotations, and so the pods, to change with it.
func TestChecksumRollsPods(t *testing.T) {
	base := render(t, m("ingest", m("auth", m("token", "t1"))))
	cases := map[string]struct {
		vals map[string]any
		ann  string
	}{
		"brokers":  {m("ingest", m("auth", m("token", "t1")), "kafka", m("brokers", []any{"other:9092"})), "checksum/config"},
		"otel":     {m("ingest", m("auth", m("token", "t1")), "otel", m("endpoint", "http://c:4318")), "checksum/config"},
		"sasl":     {m("ingest", m("auth", m("token", "t1")), "kafka", m("sasl", m("enabled", true, "username", "u", "password", "p"))), "checksum/secret"},
		"token":    {m("ingest", m("auth", m("token", "t2"))), "checksum/api-token"},
		"loglevel": {m("ingest", m("auth", m("token", "t1")), "logLevel", "debug"), "checksum/config"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := render(t, c.vals)
			for _, comp := range []string{"ingest", "denoiser", "trainer"} {
				if c.ann == "checksum/api-token" && comp != "ingest" {
					continue
				}
				before := base.deployment(comp).Spec.Template.Annotations[c.ann]
				after := r.deployment(comp).Spec.Template.Annotations[c.ann]
				if before == "" || before == after {
					t.Errorf("%s: %s %q before and %q after: the pods would not roll", comp, c.ann, before, after)
				}
			}
		})
	}
	again := render(t, m("ingest", m("auth", m("token", "t1"))))
	for _, comp := range []string{"ingest", "denoiser", "trainer"} {
		a, b := base.deployment(comp).Spec.Template.Annotations, again.deployment(comp).Spec.Template.Annotations
		for k := range a {
			if strings.HasPrefix(k, "checksum/") && a[k] != b[k] {
				t.Errorf("%s: %s differs between two renders of the same values", comp, k)
			}
		}
	}
}

// TestValuesDocumented wants a comment above every key of values.yaml.
func TestValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^\s*[A-Za-z][A-Za-z0-9]*:`)
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !key.MatchString(l) || i == 0 {
			continue
		}
		prev := strings.TrimSpace(lines[i-1])
		if !strings.HasPrefix(prev, "#") {
			t.Errorf("values.yaml:%d: %q has no comment above it", i+1, strings.TrimSpace(l))
		}
	}
}

// TestBinariesTakeFlags checks that every flag the chart passes is defined
// in the source of the command it runs, and lists the environment
// variables the chart sets that no binary reads yet.
func TestBinariesTakeFlags(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	src := func(dirs ...string) string {
		var b strings.Builder
		for _, d := range dirs {
			files, _ := filepath.Glob(filepath.Join(root, d, "*.go"))
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") {
					continue
				}
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(data)
			}
		}
		return b.String()
	}
	// the packages each command builds on
	uses := map[string][]string{
		"ingest":   {"cmd/ingest", "pipeline", "internal/ingest"},
		"denoiser": {"cmd/denoiser", "pipeline", "internal/worker"},
		"trainer":  {"cmd/trainer", "pipeline", "internal/retrain", "internal/dataset"},
	}
	flagName := regexp.MustCompile(`^--([a-z-]+)`)
	var unread []string
	for _, s := range scenarios {
		r := render(t, s.vals(t))
		for _, comp := range []string{"ingest", "denoiser", "trainer"} {
			d := r.deployment(comp)
			if d == nil {
				continue
			}
			code := src(uses[comp]...)
			c := d.Spec.Template.Spec.Containers[0]
			for _, a := range c.Args[1:] {
				f := flagName.FindStringSubmatch(a)
				if f == nil || !strings.Contains(code, `"`+f[1]+`"`) {
					t.Errorf("%s %s: %s serve has no flag %q", s.name, comp, comp, a)
				}
			}
			names := []string{}
			for _, e := range c.Env {
				names = append(names, e.Name)
			}
			for k := range r.configMap().Data {
				names = append(names, k)
			}
			for _, n := range names {
				if strings.HasPrefix(n, "OTEL_") || strings.HasPrefix(n, "GO") ||
					slices.Contains([]string{"POD_NAME", "POD_NAMESPACE", "NODE_NAME"}, n) {
					continue // read by the Go runtime and the OpenTelemetry SDK
				}
				if u := n + " (" + comp + ")"; !strings.Contains(code, `"`+n+`"`) && !slices.Contains(unread, u) {
					unread = append(unread, u)
				}
			}
		}
	}
	slices.Sort(unread)
	if len(unread) > 0 {
		t.Logf("set by the chart, read by no binary yet: %s", strings.Join(unread, ", "))
	}
}

// m builds a nested values map from key, value pairs.
func m(kv ...any) map[string]any {
	out := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
