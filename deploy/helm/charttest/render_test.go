package charttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../cleanframe"

// Release settings of every render.
const (
	releaseName = "cf"
	namespace   = "images"
	kubeVersion = "v1.33.0"
)

// object is one decoded manifest: its source template and the typed value.
type object struct {
	source string // template file, e.g. cleanframe/templates/pdb.yaml
	kind   string
	name   string
	value  any // pointer to a k8s.io/api type or a KEDA type below
	raw    []byte
}

// rendered is everything a release renders, decoded.
type rendered struct {
	objects []object
	notes   string
	files   map[string]string // template file -> rendered text
}

// loadChart loads the chart directory with the Helm SDK.
func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart %s: %v", chartDir, err)
	}
	return ch
}

// readValues reads a values file of testdata/values.
func readValues(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "values", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("values %s: %v", name, err)
	}
	return v
}

// renderValues renders the chart as `helm template` would (schema checked,
// strict templates: a missing value is an error) and returns the raw files.
func renderValues(t testing.TB, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	kv, err := chartcommon.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := chartcommon.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	opts := chartcommon.ReleaseOptions{Name: releaseName, Namespace: namespace,
		Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.Render(ch, rv)
}

// render renders and decodes every manifest strictly, failing the test on
// any error.
func render(t testing.TB, vals map[string]any) *rendered {
	t.Helper()
	files, err := renderValues(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	r := &rendered{files: files}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			r.notes = files[name]
			continue
		case !strings.HasSuffix(name, ".yaml"):
			continue
		}
		for i, doc := range splitDocs(files[name]) {
			obj, err := decode(doc)
			if err != nil {
				t.Fatalf("%s, document %d: %v\n%s", name, i, err, doc)
			}
			obj.source = name
			r.objects = append(r.objects, obj)
		}
	}
	return r
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// splitDocs splits a YAML stream into its non-empty documents.
func splitDocs(s string) []string {
	var out []string
	for _, d := range docSep.Split(s, -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decode decodes one manifest into the Go type of its apiVersion and kind;
// an unknown field, a duplicate key or a wrong type is an error, as is a
// kind the chart is not expected to render.
func decode(doc string) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return object{}, err
	}
	var v any
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/ConfigMap":
		v = &corev1.ConfigMap{}
	case "v1/Secret":
		v = &corev1.Secret{}
	case "v1/Service":
		v = &corev1.Service{}
	case "v1/ServiceAccount":
		v = &corev1.ServiceAccount{}
	case "v1/PersistentVolumeClaim":
		v = &corev1.PersistentVolumeClaim{}
	case "apps/v1/Deployment":
		v = &appsv1.Deployment{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		v = &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1/PodDisruptionBudget":
		v = &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/Ingress":
		v = &networkingv1.Ingress{}
	case "keda.sh/v1alpha1/ScaledObject":
		v = &ScaledObject{}
	case "keda.sh/v1alpha1/TriggerAuthentication":
		v = &TriggerAuthentication{}
	default:
		return object{}, fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		return object{}, fmt.Errorf("strict decode %s: %w", tm.Kind, err)
	}
	var om struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &om); err != nil {
		return object{}, err
	}
	if om.Metadata.Name == "" {
		return object{}, fmt.Errorf("%s without a name", tm.Kind)
	}
	return object{kind: tm.Kind, name: om.Metadata.Name, value: v, raw: []byte(doc)}, nil
}

// kinds returns "Kind/name" of every object, sorted.
func (r *rendered) kinds() []string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.kind+"/"+o.name)
	}
	sort.Strings(out)
	return out
}

func (r *rendered) find(kind, name string) (object, bool) {
	for _, o := range r.objects {
		if o.kind == kind && o.name == name {
			return o, true
		}
	}
	return object{}, false
}

func (r *rendered) all(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// deployment returns the Deployment of a component, or nil.
func (r *rendered) deployment(component string) *appsv1.Deployment {
	if o, ok := r.find("Deployment", releaseName+"-cleanframe-"+component); ok {
		return o.value.(*appsv1.Deployment)
	}
	return nil
}

func (r *rendered) configMap() *corev1.ConfigMap {
	if o, ok := r.find("ConfigMap", releaseName+"-cleanframe-config"); ok {
		return o.value.(*corev1.ConfigMap)
	}
	return nil
}

// fileSum is the sha256 of a rendered template, as the chart's checksum
// annotations compute it.
func (r *rendered) fileSum(t testing.TB, base string) string {
	t.Helper()
	name := "cleanframe/templates/" + base
	s, ok := r.files[name]
	if !ok {
		t.Fatalf("no rendered file %s", name)
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// manifest joins the decoded objects into one YAML stream, as `helm
// template` prints it, with the random API token masked.
func (r *rendered) manifest() []byte {
	var b bytes.Buffer
	for _, o := range r.objects {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", o.source, strings.TrimSpace(string(o.raw)))
	}
	return maskRandom(b.Bytes())
}

var (
	tokenLine    = regexp.MustCompile(`(?m)^(  token: )"[^"]*"$`)
	tokenSumLine = regexp.MustCompile(`(?m)^( +checksum/api-token: )[0-9a-f]{64}$`)
)

// maskRandom hides the generated API token and its checksum, which change
// on every render made without a cluster to look the old one up in.
func maskRandom(b []byte) []byte {
	b = tokenLine.ReplaceAll(b, []byte(`${1}"<random>"`))
	return tokenSumLine.ReplaceAll(b, []byte(`${1}<random>`))
}
