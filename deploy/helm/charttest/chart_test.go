package charttest

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
)

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata")

// scenario is one realistic values set and what it must render.
type scenario struct {
	name   string
	values string   // file in testdata/values; empty: the chart defaults
	want   []string // "Kind/name" of every object, sorted
	check  func(t *testing.T, r *rendered)
}

const p = releaseName + "-cleanframe-" // object name prefix

var scenarios = []scenario{
	{
		name: "default",
		want: []string{
			"ConfigMap/cf-cleanframe-config",
			"Deployment/" + p + "denoiser", "Deployment/" + p + "ingest", "Deployment/" + p + "trainer",
			"HorizontalPodAutoscaler/" + p + "denoiser", "HorizontalPodAutoscaler/" + p + "ingest",
			"PersistentVolumeClaim/" + p + "trainer",
			"PodDisruptionBudget/" + p + "denoiser", "PodDisruptionBudget/" + p + "ingest",
			"Secret/cf-cleanframe-api-token",
			"Service/" + p + "ingest",
			"ServiceAccount/cf-cleanframe",
		},
		check: checkDefault,
	},
	{
		name:   "production",
		values: "production.yaml",
		want: []string{
			"ConfigMap/cf-cleanframe-config",
			"Deployment/" + p + "denoiser", "Deployment/" + p + "ingest", "Deployment/" + p + "trainer",
			"HorizontalPodAutoscaler/" + p + "ingest",
			"Ingress/" + p + "ingest",
			"PersistentVolumeClaim/" + p + "trainer",
			"PodDisruptionBudget/" + p + "denoiser", "PodDisruptionBudget/" + p + "ingest",
			"ScaledObject/" + p + "denoiser",
			"Service/" + p + "ingest",
			"ServiceAccount/cf-cleanframe",
			"TriggerAuthentication/" + p + "denoiser",
		},
		check: checkProduction,
	},
	{
		name:   "keda-sasl-inline",
		values: "keda-sasl-inline.yaml",
		want: []string{
			"ConfigMap/cf-cleanframe-config",
			"Deployment/" + p + "denoiser", "Deployment/" + p + "ingest", "Deployment/" + p + "trainer",
			"HorizontalPodAutoscaler/" + p + "ingest",
			"PersistentVolumeClaim/" + p + "trainer",
			"PodDisruptionBudget/" + p + "denoiser", "PodDisruptionBudget/" + p + "ingest",
			"ScaledObject/" + p + "denoiser",
			"Secret/cf-cleanframe-api-token", "Secret/cf-cleanframe-secret",
			"Service/" + p + "ingest",
			"ServiceAccount/cf-cleanframe",
			"TriggerAuthentication/" + p + "denoiser",
		},
		check: checkKEDAInline,
	},
	{
		name:   "trainer-disabled",
		values: "trainer-disabled.yaml",
		want: []string{
			"ConfigMap/cf-cleanframe-config",
			"Deployment/" + p + "denoiser", "Deployment/" + p + "ingest",
			"HorizontalPodAutoscaler/" + p + "denoiser",
			"PodDisruptionBudget/" + p + "denoiser", "PodDisruptionBudget/" + p + "ingest",
			"Secret/cf-cleanframe-api-token",
			"Service/" + p + "ingest",
			"ServiceAccount/cf-cleanframe",
		},
		check: checkTrainerDisabled,
	},
	{
		name:   "dev",
		values: "dev.yaml",
		want: []string{
			"ConfigMap/cf-cleanframe-config",
			"Deployment/" + p + "denoiser", "Deployment/" + p + "ingest", "Deployment/" + p + "trainer",
			"Service/" + p + "ingest",
		},
		check: checkDev,
	},
	{
		name:   "denoiser-only",
		values: "denoiser-only.yaml",
		want: []string{
			"ConfigMap/cf-cleanframe-config",
			"Deployment/" + p + "denoiser",
			"HorizontalPodAutoscaler/" + p + "denoiser",
			"PodDisruptionBudget/" + p + "denoiser",
			"ServiceAccount/cf-cleanframe",
		},
		check: checkDenoiserOnly,
	},
}

func (s scenario) vals(t testing.TB) map[string]any {
	if s.values == "" {
		return nil
	}
	return readValues(t, s.values)
}

// merged returns the chart's default values overlaid with the scenario's.
func (s scenario) merged(t testing.TB) map[string]any {
	t.Helper()
	ch := loadChart(t)
	out := deepCopyMap(ch.Values)
	mergeInto(out, s.vals(t))
	return out
}

// TestRender renders every scenario, decodes every manifest strictly into
// Kubernetes API types, checks the set of objects, the invariants every
// release must keep, and the scenario's own properties.
func TestRender(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			r := render(t, s.vals(t))
			if got := r.kinds(); !slices.Equal(got, s.want) {
				t.Errorf("objects:\n got  %q\n want %q", got, s.want)
			}
			checkInvariants(t, r, s.merged(t))
			s.check(t, r)
		})
	}
}

// TestGolden compares the manifests of the default and production values
// with testdata/*.golden.yaml; go test -update rewrites them.
func TestGolden(t *testing.T) {
	for _, s := range scenarios {
		if s.name != "default" && s.name != "production" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			got := render(t, s.vals(t)).manifest()
			path := filepath.Join("testdata", s.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("rendered manifests differ from %s; run go test -update and review the diff",
					path)
			}
		})
	}
}

// checkInvariants asserts what every release must keep, whatever its values.
func checkInvariants(t *testing.T, r *rendered, vals map[string]any) {
	partitions := int32(num(t, vals, "kafka.partitions"))

	names := map[string]bool{}
	for _, o := range r.objects {
		key := o.kind + "/" + o.name
		if names[key] {
			t.Errorf("%s rendered twice", key)
		}
		names[key] = true
	}

	for _, c := range []string{"ingest", "denoiser", "trainer"} {
		d := r.deployment(c)
		if enabled := vals[c].(map[string]any)["enabled"].(bool); (d != nil) != enabled {
			t.Errorf("%s: deployment rendered %v, enabled %v", c, d != nil, enabled)
		}
		if d != nil {
			checkDeployment(t, r, vals, c, d)
		}
	}

	for _, o := range r.all("HorizontalPodAutoscaler") {
		h := o.value.(*autoscalingv2.HorizontalPodAutoscaler)
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || !names["Deployment/"+h.Spec.ScaleTargetRef.Name] {
			t.Errorf("HPA %s targets %+v, which is not rendered", h.Name, h.Spec.ScaleTargetRef)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HPA %s: min %v, max %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].Resource == nil ||
			h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
			t.Errorf("HPA %s: want a CPU metric, got %+v", h.Name, h.Spec.Metrics)
		}
		if h.Spec.ScaleTargetRef.Name == p+"denoiser" && h.Spec.MaxReplicas > partitions {
			t.Errorf("denoiser HPA max %d above the %d partitions", h.Spec.MaxReplicas, partitions)
		}
		if d := r.deployment(strings.TrimPrefix(h.Spec.ScaleTargetRef.Name, p)); d != nil &&
			d.Spec.Replicas != nil {
			t.Errorf("deployment %s sets replicas although HPA %s scales it", d.Name, h.Name)
		}
	}

	for _, o := range r.all("ScaledObject") {
		so := o.value.(*ScaledObject)
		target := so.Spec.ScaleTargetRef.Name
		if !names["Deployment/"+target] {
			t.Errorf("ScaledObject %s targets %s, which is not rendered", so.Name, target)
		}
		if names["HorizontalPodAutoscaler/"+target] {
			t.Errorf("both an HPA and a ScaledObject scale %s", target)
		}
		if d := r.deployment("denoiser"); d != nil && d.Spec.Replicas != nil {
			t.Errorf("denoiser sets replicas although KEDA scales it")
		}
		if max := *so.Spec.MaxReplicaCount; max > partitions || max < 1 {
			t.Errorf("ScaledObject max %d: want 1 to the %d partitions", max, partitions)
		}
		if *so.Spec.MinReplicaCount > *so.Spec.MaxReplicaCount {
			t.Errorf("ScaledObject min %d above max %d", *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
		}
		checkKafkaTrigger(t, r, vals, so)
	}

	for _, o := range r.all("PodDisruptionBudget") {
		pdb := o.value.(*policyv1.PodDisruptionBudget)
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			t.Errorf("PDB %s allows nothing and everything: no budget", pdb.Name)
		}
		if n := selects(t, r, pdb.Spec.Selector.MatchLabels); n != 1 {
			t.Errorf("PDB %s selects the pods of %d deployments, want 1", pdb.Name, n)
		}
		if pdb.Name == p+"trainer" {
			t.Errorf("the single trainer must have no PDB: it would block node drains")
		}
	}

	for _, o := range r.all("Service") {
		svc := o.value.(*corev1.Service)
		d := r.deployment("ingest")
		if d == nil || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Service %s selects no ingest pods", svc.Name)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if containerPort(d, sp.TargetPort.String()) == nil {
				t.Errorf("Service %s targets port %s, which ingest does not name", svc.Name, sp.TargetPort.String())
			}
		}
	}

	for _, o := range r.all("Ingress") {
		checkIngress(t, r, o.value.(*networkingv1.Ingress))
	}

	for _, o := range r.objects {
		raw := string(o.raw)
		for _, l := range []string{"app.kubernetes.io/instance: " + releaseName, "app.kubernetes.io/name: cleanframe",
			"app.kubernetes.io/managed-by: Helm", "helm.sh/chart: cleanframe-"} {
			if !strings.Contains(raw, l) {
				t.Errorf("%s %s lacks label %q", o.kind, o.name, l)
			}
		}
	}
}

// checkDeployment asserts the pod properties of one component.
func checkDeployment(t *testing.T, r *rendered, vals map[string]any, component string, d *appsv1.Deployment) {
	cv := vals[component].(map[string]any)
	ps := d.Spec.Template.Spec
	where := "deployment " + d.Name

	// selector and pod labels
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: selector %v does not match its pod labels", where, d.Spec.Selector.MatchLabels)
	}
	if got := d.Spec.Selector.MatchLabels["app.kubernetes.io/component"]; got != component {
		t.Errorf("%s: selector component %q", where, got)
	}

	// security
	psc := ps.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		psc.FSGroup == nil {
		t.Errorf("%s: pod security context %+v: want non-root, fsGroup, seccomp RuntimeDefault", where, psc)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token must not be mounted", where)
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		t.Errorf("%s: host namespaces in use", where)
	}
	if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
		t.Fatalf("%s: want one container, got %d (+%d init)", where, len(ps.Containers), len(ps.InitContainers))
	}
	c := ps.Containers[0]
	if c.Name != component {
		t.Errorf("%s: container %q, want %q", where, c.Name, component)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Privileged == nil || *sc.Privileged ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: container security context %+v: want non-root, read-only root, no escalation, "+
			"drop ALL, seccomp RuntimeDefault", where, sc)
	}
	if !hasMount(c, "/tmp") {
		t.Errorf("%s: no writable /tmp although the root filesystem is read-only", where)
	}

	// image
	tag := str(vals, "image.tag")
	if tag == "" {
		tag = loadChart(t).Metadata.AppVersion
	}
	wantImage := str(cv, "repository") + ":" + tag
	if reg := str(vals, "image.registry"); reg != "" {
		wantImage = reg + "/" + wantImage
	}
	if c.Image != wantImage {
		t.Errorf("%s: image %q, want %q", where, c.Image, wantImage)
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("%s: args %q, want serve first", where, c.Args)
	}
	// trainer serve has no --no-create-topics yet: it always ensures topics
	if component != "trainer" && !str2bool(vals, "kafka.createTopics") != slices.Contains(c.Args, "--no-create-topics") {
		t.Errorf("%s: args %q and kafka.createTopics %v disagree", where, c.Args, vals["kafka"].(map[string]any)["createTopics"])
	}

	// resources, GOMAXPROCS and GOMEMLIMIT
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("%s: no %s request", where, res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("%s: no %s limit", where, res)
		}
	}
	gmp := env(c, "GOMAXPROCS")
	if gmp == nil || gmp.ValueFrom == nil || gmp.ValueFrom.ResourceFieldRef == nil ||
		gmp.ValueFrom.ResourceFieldRef.Resource != "limits.cpu" ||
		gmp.ValueFrom.ResourceFieldRef.ContainerName != c.Name ||
		!gmp.ValueFrom.ResourceFieldRef.Divisor.Equal(resource.MustParse("1")) {
		t.Errorf("%s: GOMAXPROCS %+v: want limits.cpu of %s with divisor 1", where, gmp, c.Name)
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		ratio := num(t, vals, "goMemLimitRatio")
		want := fmt.Sprint(int64(math.Floor(float64(lim.Value()) * ratio)))
		if e := env(c, "GOMEMLIMIT"); e == nil || e.Value != want {
			t.Errorf("%s: GOMEMLIMIT %+v, want %s (%v of %s)", where, e, want, ratio, lim.String())
		}
	}

	// configuration: the ConfigMap, the checksum, the Kafka secrets
	cm := r.configMap()
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || cm == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("%s: envFrom %+v, want the chart's ConfigMap", where, c.EnvFrom)
	}
	ann := d.Spec.Template.Annotations
	if got, want := ann["checksum/config"], r.fileSum(t, "configmap.yaml"); got != want {
		t.Errorf("%s: checksum/config %q, want sha256 of the rendered ConfigMap %q", where, got, want)
	}
	if got, want := ann["checksum/secret"], r.fileSum(t, "secret.yaml"); got != want {
		t.Errorf("%s: checksum/secret %q, want %q", where, got, want)
	}
	if e := env(c, "OTEL_SERVICE_NAME"); e == nil || e.Value != "cleanframe-"+component {
		t.Errorf("%s: OTEL_SERVICE_NAME %+v", where, e)
	}
	if e := env(c, "OTEL_RESOURCE_ATTRIBUTES"); e == nil || !strings.Contains(e.Value, "k8s.pod.name=$(POD_NAME)") {
		t.Errorf("%s: OTEL_RESOURCE_ATTRIBUTES %+v: want the pod name", where, e)
	}
	checkEnvOrder(t, where, c)
	checkSecretRefs(t, r, vals, where, ps)
	if str2bool(vals, "kafka.sasl.enabled") {
		if e := env(c, "KAFKA_SASL_PASSWORD_FILE"); e == nil || !fileMounted(c, e.Value) {
			t.Errorf("%s: KAFKA_SASL_PASSWORD_FILE %+v is not a mounted file", where, e)
		}
		if e := env(c, "KAFKA_SASL_PASSWORD"); e != nil {
			t.Errorf("%s: the SASL password must come from a file, not the environment", where)
		}
	}
	if str2bool(vals, "kafka.tls.enabled") && str(vals, "kafka.tls.existingSecret") != "" {
		if !fileMounted(c, cm.Data["KAFKA_TLS_CA_FILE"]) {
			t.Errorf("%s: KAFKA_TLS_CA_FILE %q is not mounted", where, cm.Data["KAFKA_TLS_CA_FILE"])
		}
	}

	// ports and probes
	port := containerPort(d, "http")
	if port == nil || port.ContainerPort != int32(num(t, vals, "httpPort")) {
		t.Errorf("%s: port http %+v, want %v", where, port, vals["httpPort"])
	}
	if cm != nil && cm.Data["CF_LISTEN"] != fmt.Sprintf(":%d", int(num(t, vals, "httpPort"))) {
		t.Errorf("CF_LISTEN %q does not match httpPort", cm.Data["CF_LISTEN"])
	}
	if str2bool(vals, "probes.enabled") {
		checkProbe(t, where+" liveness", c.LivenessProbe, "/healthz")
		checkProbe(t, where+" startup", c.StartupProbe, "/healthz")
		checkProbe(t, where+" readiness", c.ReadinessProbe, "/readyz")
	} else if c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil {
		t.Errorf("%s: probes rendered with probes.enabled false", where)
	}
	if str2bool(vals, "prometheusAnnotations") != (ann["prometheus.io/scrape"] == "true") {
		t.Errorf("%s: prometheus.io/scrape %q", where, ann["prometheus.io/scrape"])
	}

	// shutdown: the grace period covers the preStop sleep and the drain
	grace := int64(30)
	if ps.TerminationGracePeriodSeconds != nil {
		grace = *ps.TerminationGracePeriodSeconds
	}
	var sleep int64
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Exec != nil {
			t.Errorf("%s: preStop must be a sleep action (the image has no shell)", where)
		} else {
			sleep = c.Lifecycle.PreStop.Sleep.Seconds
		}
	}
	if _, ok := cv["drainSeconds"]; ok {
		drain := int64(num(t, cv, "drainSeconds"))
		if grace < sleep+drain+5 {
			t.Errorf("%s: grace %ds < preStop %ds + drain %ds + 5", where, grace, sleep, drain)
		}
	} else if grace < 30 {
		t.Errorf("%s: grace %ds too short to checkpoint", where, grace)
	}
	if component == "denoiser" {
		want := fmt.Sprintf("--drain-timeout=%ds", int64(num(t, cv, "drainSeconds")))
		if !slices.Contains(c.Args, want) {
			t.Errorf("%s: args %q lack %s", where, c.Args, want)
		}
	}

	// every volume is mounted and every mount has a volume
	vols := map[string]bool{}
	for _, v := range ps.Volumes {
		vols[v.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if !vols[m.Name] {
			t.Errorf("%s: mount %s has no volume", where, m.Name)
		}
		delete(vols, m.Name)
	}
	for v := range vols {
		t.Errorf("%s: volume %s is not mounted", where, v)
	}

	// the trainer: one replica, its volume, Recreate
	if component == "trainer" {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: want 1 replica and Recreate, got %v %s", where, d.Spec.Replicas, d.Spec.Strategy.Type)
		}
		if !hasMount(c, "/var/lib/cleanframe") {
			t.Errorf("%s: the data volume is not mounted", where)
		}
		if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--valid=/") }) {
			t.Errorf("%s: args %q lack --valid", where, c.Args)
		}
	} else if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("%s: rolling updates must keep every pod until its successor is up", where)
	}
}

func checkProbe(t *testing.T, where string, pr *corev1.Probe, path string) {
	t.Helper()
	if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != path || pr.HTTPGet.Port.String() != "http" {
		t.Errorf("%s probe %+v: want GET %s on port http", where, pr, path)
		return
	}
	if pr.TimeoutSeconds < 1 || pr.PeriodSeconds < 1 || pr.FailureThreshold < 1 {
		t.Errorf("%s probe timings %+v", where, pr)
	}
}

// checkEnvOrder asserts that $(VAR) references point at variables defined
// before them, as Kubernetes expands only those.
func checkEnvOrder(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range c.Env {
		for _, m := range varRef.FindAllStringSubmatch(e.Value, -1) {
			if !seen[m[1]] {
				t.Errorf("%s: %s refers to $(%s) before it is defined", where, e.Name, m[1])
			}
		}
		if seen[e.Name] {
			t.Errorf("%s: %s set twice", where, e.Name)
		}
		seen[e.Name] = true
	}
}

// checkSecretRefs asserts that every Secret a pod uses is rendered by the
// release or named in the values as an existing one.
func checkSecretRefs(t *testing.T, r *rendered, vals map[string]any, where string, ps corev1.PodSpec) {
	t.Helper()
	existing := map[string]bool{}
	for _, k := range []string{"kafka.sasl.existingSecret", "kafka.tls.existingSecret",
		"ingest.auth.existingSecret", "otel.headersSecret"} {
		if s := str(vals, k); s != "" {
			existing[s] = true
		}
	}
	ok := func(name string) bool {
		_, rendered := r.find("Secret", name)
		return rendered || existing[name]
	}
	for _, v := range ps.Volumes {
		if v.Secret != nil && !ok(v.Secret.SecretName) {
			t.Errorf("%s: volume %s uses Secret %s, neither rendered nor given", where, v.Name, v.Secret.SecretName)
		}
	}
	for _, c := range ps.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !ok(e.ValueFrom.SecretKeyRef.Name) {
				t.Errorf("%s: %s uses Secret %s, neither rendered nor given", where, e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
			if e.ValueFrom == nil && strings.Contains(strings.ToLower(e.Name), "password") &&
				!strings.HasSuffix(e.Name, "_FILE") {
				t.Errorf("%s: %s holds a password in plain text", where, e.Name)
			}
		}
	}
}

// checkKafkaTrigger asserts that the KEDA trigger watches the denoiser's
// group on its input topic with the denoiser's brokers and credentials.
func checkKafkaTrigger(t *testing.T, r *rendered, vals map[string]any, so *ScaledObject) {
	t.Helper()
	var kt *ScaleTriggers
	for i := range so.Spec.Triggers {
		if so.Spec.Triggers[i].Type == "kafka" {
			kt = &so.Spec.Triggers[i]
		}
	}
	if kt == nil {
		t.Fatalf("ScaledObject %s has no kafka trigger", so.Name)
	}
	d := r.deployment("denoiser")
	md := kt.Metadata
	if g := env(d.Spec.Template.Spec.Containers[0], "CF_GROUP"); g == nil || md["consumerGroup"] != g.Value {
		t.Errorf("trigger group %q, denoiser CF_GROUP %+v", md["consumerGroup"], g)
	}
	topic := "images.noisy"
	if pre := str(vals, "kafka.topicPrefix"); pre != "" {
		topic = pre + "." + topic
	}
	if md["topic"] != topic {
		t.Errorf("trigger topic %q, want %q", md["topic"], topic)
	}
	if cm := r.configMap(); md["bootstrapServers"] != cm.Data["KAFKA_BROKERS"] {
		t.Errorf("trigger brokers %q, ConfigMap %q", md["bootstrapServers"], cm.Data["KAFKA_BROKERS"])
	}
	if md["allowIdleConsumers"] != "false" {
		t.Errorf("allowIdleConsumers %q: replicas beyond the partitions would idle", md["allowIdleConsumers"])
	}
	if str2bool(vals, "kafka.tls.enabled") != (md["tls"] == "enable") {
		t.Errorf("trigger tls %q, kafka.tls.enabled %v", md["tls"], str2bool(vals, "kafka.tls.enabled"))
	}
	wantSASL := map[string]string{"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256",
		"SCRAM-SHA-512": "scram_sha512"}[str(vals, "kafka.sasl.mechanism")]
	if !str2bool(vals, "kafka.sasl.enabled") {
		wantSASL = ""
	}
	if md["sasl"] != wantSASL {
		t.Errorf("trigger sasl %q, want %q", md["sasl"], wantSASL)
	}
	if wantSASL != "" {
		if kt.AuthenticationRef == nil {
			t.Fatalf("SASL on but the trigger has no authenticationRef")
		}
		o, ok := r.find("TriggerAuthentication", kt.AuthenticationRef.Name)
		if !ok {
			t.Fatalf("TriggerAuthentication %s not rendered", kt.AuthenticationRef.Name)
		}
		params := map[string]string{}
		for _, ref := range o.value.(*TriggerAuthentication).Spec.SecretTargetRef {
			params[ref.Parameter] = ref.Name + "/" + ref.Key
		}
		sec := str(vals, "kafka.sasl.existingSecret")
		if sec == "" {
			sec = releaseName + "-cleanframe-secret"
		}
		if params["username"] != sec+"/username" || params["password"] != sec+"/password" {
			t.Errorf("TriggerAuthentication params %v, want username and password of %s", params, sec)
		}
	}
}

func checkIngress(t *testing.T, r *rendered, ing *networkingv1.Ingress) {
	t.Helper()
	o, ok := r.find("Service", p+"ingest")
	if !ok {
		t.Fatalf("Ingress %s without the ingest Service", ing.Name)
	}
	svc := o.value.(*corev1.Service)
	for _, rule := range ing.Spec.Rules {
		var paths []string
		for _, hp := range rule.HTTP.Paths {
			paths = append(paths, hp.Path)
			b := hp.Backend.Service
			if b == nil || b.Name != svc.Name || !slices.ContainsFunc(svc.Spec.Ports,
				func(sp corev1.ServicePort) bool { return sp.Name == b.Port.Name }) {
				t.Errorf("Ingress path %s: backend %+v is not a port of %s", hp.Path, b, svc.Name)
			}
		}
		if !slices.Equal(paths, []string{"/v1", "/openapi.yaml"}) {
			t.Errorf("Ingress routes %q: want only the API, never /metrics or the probes", paths)
		}
	}
}

func checkDefault(t *testing.T, r *rendered) {
	cm := r.configMap()
	want := map[string]string{"KAFKA_BROKERS": "kafka:9092", "CF_TOPIC_PREFIX": "",
		"CF_PARTITIONS": "12", "CF_REPLICATION_FACTOR": "3", "CF_MAX_MESSAGE_BYTES": "8388608",
		"CF_LISTEN": ":8080", "CF_LOG_LEVEL": "info", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
	for k, v := range want {
		if got, ok := cm.Data[k]; !ok || got != v {
			t.Errorf("ConfigMap %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "KAFKA_SASL_MECHANISM", "KAFKA_TLS"} {
		if _, ok := cm.Data[k]; ok {
			t.Errorf("ConfigMap sets %s with default values", k)
		}
	}

	// the API token: generated, 40 characters, mounted into ingest as a file
	o, _ := r.find("Secret", releaseName+"-cleanframe-api-token")
	if tok := o.value.(*corev1.Secret).Data["token"]; len(tok) != 40 {
		t.Errorf("generated API token has %d bytes, want 40", len(tok))
	}
	ing := r.deployment("ingest")
	c := ing.Spec.Template.Spec.Containers[0]
	if e := env(c, "CF_API_TOKEN_FILE"); e == nil || !fileMounted(c, e.Value) {
		t.Errorf("ingest: CF_API_TOKEN_FILE %+v is not a mounted file", e)
	}
	if ing.Spec.Template.Annotations["checksum/api-token"] != r.fileSum(t, "api-token-secret.yaml") {
		t.Errorf("ingest: checksum/api-token does not match the token Secret")
	}

	// GOMEMLIMIT is 90% of the limits: 512Mi, 2Gi, 4Gi
	for c, want := range map[string]string{"ingest": "483183820", "denoiser": "1932735283", "trainer": "3865470566"} {
		if e := env(r.deployment(c).Spec.Template.Spec.Containers[0], "GOMEMLIMIT"); e == nil || e.Value != want {
			t.Errorf("%s GOMEMLIMIT %+v, want %s", c, e, want)
		}
	}

	// HPAs: denoiser capped at 12 partitions, ingest 2 to 10
	checkHPA(t, r, "denoiser", 1, 12, 75)
	checkHPA(t, r, "ingest", 2, 10, 70)

	// trainer: a 10Gi claim kept on uninstall
	pvcObj, _ := r.find("PersistentVolumeClaim", p+"trainer")
	pvc := pvcObj.value.(*corev1.PersistentVolumeClaim)
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" || pvc.Spec.Resources.Requests.Storage().String() != "10Gi" ||
		pvc.Spec.StorageClassName != nil {
		t.Errorf("trainer claim %+v", pvc)
	}
	tr := r.deployment("trainer").Spec.Template.Spec
	if tr.Volumes[len(tr.Volumes)-1].PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Errorf("trainer does not mount its claim")
	}

	// grace periods: ingest 5+15+10, denoiser 0+30+10
	for c, want := range map[string]int64{"ingest": 30, "denoiser": 40, "trainer": 60} {
		if got := *r.deployment(c).Spec.Template.Spec.TerminationGracePeriodSeconds; got != want {
			t.Errorf("%s grace %d, want %d", c, got, want)
		}
	}
	if !strings.Contains(r.notes, "port-forward svc/cf-cleanframe-ingest") {
		t.Errorf("NOTES.txt lacks the port-forward hint:\n%s", r.notes)
	}
}

func checkProduction(t *testing.T, r *rendered) {
	cm := r.configMap()
	want := map[string]string{
		"KAFKA_BROKERS":               "kafka-0.kafka.example.com:9093,kafka-1.kafka.example.com:9093,kafka-2.kafka.example.com:9093",
		"CF_TOPIC_PREFIX":             "prod",
		"CF_PARTITIONS":               "24",
		"CF_MAX_MESSAGE_BYTES":        "16777216",
		"KAFKA_SASL_MECHANISM":        "SCRAM-SHA-512",
		"KAFKA_TLS":                   "true",
		"KAFKA_TLS_CA_FILE":           "/etc/cleanframe/kafka-tls/ca.crt",
		"KAFKA_TLS_CERT_FILE":         "/etc/cleanframe/kafka-tls/tls.crt",
		"KAFKA_TLS_KEY_FILE":          "/etc/cleanframe/kafka-tls/tls.key",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.1",
	}
	for k, v := range want {
		if got := cm.Data[k]; got != v {
			t.Errorf("ConfigMap %s = %q, want %q", k, got, v)
		}
	}
	if strings.Contains(fmt.Sprint(cm.Data), "password") {
		t.Errorf("a password in the ConfigMap: %v", cm.Data)
	}
	for _, c := range []string{"ingest", "denoiser", "trainer"} {
		d := r.deployment(c)
		ctr := d.Spec.Template.Spec.Containers[0]
		if !strings.HasPrefix(ctr.Image, "registry.example.com/imaging/cleanframe/"+c+":1.4.2") {
			t.Errorf("%s image %q", c, ctr.Image)
		}
		if c != "trainer" && !slices.Contains(ctr.Args, "--no-create-topics") {
			t.Errorf("%s args %q: topics are managed elsewhere", c, ctr.Args)
		}
		if e := env(ctr, "KAFKA_SASL_USERNAME"); e == nil || e.ValueFrom.SecretKeyRef.Name != "cleanframe-kafka-user" {
			t.Errorf("%s KAFKA_SASL_USERNAME %+v", c, e)
		}
		if e := env(ctr, "OTEL_EXPORTER_OTLP_HEADERS"); e == nil || e.ValueFrom.SecretKeyRef.Name != "otel-auth" {
			t.Errorf("%s OTEL_EXPORTER_OTLP_HEADERS %+v", c, e)
		}
		if e := env(ctr, "OTEL_RESOURCE_ATTRIBUTES"); e == nil || !strings.Contains(e.Value, "deployment.environment=production") {
			t.Errorf("%s OTEL_RESOURCE_ATTRIBUTES %+v", c, e)
		}
		if len(d.Spec.Template.Spec.ImagePullSecrets) != 1 {
			t.Errorf("%s pull secrets %+v", c, d.Spec.Template.Spec.ImagePullSecrets)
		}
	}
	d := r.deployment("denoiser")
	if e := env(d.Spec.Template.Spec.Containers[0], "CF_GROUP"); e == nil || e.Value != "prod.denoiser" {
		t.Errorf("denoiser CF_GROUP %+v, want prod.denoiser", e)
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 55 {
		t.Errorf("denoiser grace %d, want 45+10", g)
	}
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].LabelSelector == nil ||
		tsc[0].LabelSelector.MatchLabels["app.kubernetes.io/component"] != "denoiser" {
		t.Errorf("denoiser spread %+v: want the chart's selector filled in", tsc)
	}
	if len(d.Spec.Template.Spec.Tolerations) != 1 || d.Spec.Template.Spec.NodeSelector == nil {
		t.Errorf("denoiser scheduling lost")
	}

	so := mustScaledObject(t, r)
	if *so.Spec.MaxReplicaCount != 24 || *so.Spec.MinReplicaCount != 2 {
		t.Errorf("ScaledObject replicas %d..%d, want 2..24 (maxReplicas 48 capped at 24 partitions)",
			*so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
	}
	if so.Spec.Triggers[0].Metadata["lagThreshold"] != "50" {
		t.Errorf("lagThreshold %q", so.Spec.Triggers[0].Metadata["lagThreshold"])
	}
	ta, _ := r.find("TriggerAuthentication", p+"denoiser")
	params := map[string]string{}
	for _, ref := range ta.value.(*TriggerAuthentication).Spec.SecretTargetRef {
		params[ref.Parameter] = ref.Name + "/" + ref.Key
	}
	for k, v := range map[string]string{"ca": "cleanframe-kafka-tls/ca.crt", "cert": "cleanframe-kafka-tls/tls.crt",
		"key": "cleanframe-kafka-tls/tls.key"} {
		if params[k] != v {
			t.Errorf("TriggerAuthentication %s = %q, want %q", k, params[k], v)
		}
	}

	io, _ := r.find("Ingress", p+"ingest")
	ing := io.value.(*networkingv1.Ingress)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.Rules[0].Host != "denoise.example.com" ||
		ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "16m" {
		t.Errorf("Ingress %+v", ing.Spec)
	}
	ingest := r.deployment("ingest").Spec.Template
	if _, ok := ingest.Annotations["checksum/api-token"]; ok {
		t.Errorf("checksum/api-token with an existing token Secret")
	}
	if v := volume(ingest.Spec, "api-token"); v == nil || v.Secret.SecretName != "cleanframe-api-token" {
		t.Errorf("ingest token volume %+v, want Secret cleanframe-api-token", v)
	}
	checkHPA(t, r, "ingest", 3, 12, 70)
	pvcObj, _ := r.find("PersistentVolumeClaim", p+"trainer")
	if sc := pvcObj.value.(*corev1.PersistentVolumeClaim).Spec.StorageClassName; sc == nil || *sc != "fast-ssd" {
		t.Errorf("trainer storage class %v", sc)
	}
	tr := r.deployment("trainer").Spec.Template.Spec.Containers[0]
	if !slices.Contains(tr.Args, "--interval=30m") || !slices.Contains(tr.Args, "--steps=4000") {
		t.Errorf("trainer args %q", tr.Args)
	}
}

func checkKEDAInline(t *testing.T, r *rendered) {
	so := mustScaledObject(t, r)
	if *so.Spec.MaxReplicaCount != 4 || *so.Spec.MinReplicaCount != 0 {
		t.Errorf("ScaledObject replicas %d..%d, want 0..4 (maxReplicas 50 capped at 4 partitions)",
			*so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
	}
	if len(so.Spec.Triggers) != 2 || so.Spec.Triggers[1].Type != "cpu" || so.Spec.Triggers[1].Metadata["value"] != "80" {
		t.Errorf("triggers %+v: want kafka then cpu 80", so.Spec.Triggers)
	}
	if md := so.Spec.Triggers[0].Metadata; md["activationLagThreshold"] != "5" {
		t.Errorf("activationLagThreshold %q", md["activationLagThreshold"])
	}
	o, _ := r.find("Secret", releaseName+"-cleanframe-secret")
	sec := o.value.(*corev1.Secret)
	if string(sec.Data["username"]) != "cleanframe" || string(sec.Data["password"]) != "s3cret-password" {
		t.Errorf("SASL Secret %v", sec.Data)
	}
	cm := r.configMap()
	if cm.Data["KAFKA_TLS"] != "true" || cm.Data["KAFKA_TLS_SERVER_NAME"] != "broker.kafka.svc" ||
		cm.Data["KAFKA_SASL_MECHANISM"] != "PLAIN" {
		t.Errorf("ConfigMap %v", cm.Data)
	}
	if _, ok := cm.Data["KAFKA_TLS_CA_FILE"]; ok {
		t.Errorf("KAFKA_TLS_CA_FILE set without a TLS Secret")
	}
	d := r.deployment("denoiser").Spec.Template
	if got, want := d.Annotations["checksum/secret"], r.fileSum(t, "secret.yaml"); got != want {
		t.Errorf("checksum/secret %q, want %q", got, want)
	}
}

func checkTrainerDisabled(t *testing.T, r *rendered) {
	for _, o := range r.objects {
		if strings.Contains(o.name, "trainer") {
			t.Errorf("%s %s rendered with the trainer disabled", o.kind, o.name)
		}
	}
	ing := r.deployment("ingest")
	if ing.Spec.Replicas == nil || *ing.Spec.Replicas != 3 {
		t.Errorf("ingest replicas %v, want 3", ing.Spec.Replicas)
	}
	o, _ := r.find("Secret", releaseName+"-cleanframe-api-token")
	if got := string(o.value.(*corev1.Secret).Data["token"]); got != "fixed-token-for-tests" {
		t.Errorf("token %q", got)
	}
	checkHPA(t, r, "denoiser", 2, 6, 75)
}

func checkDev(t *testing.T, r *rendered) {
	cm := r.configMap()
	if cm.Data["CF_LOG_LEVEL"] != "debug" || cm.Data["CF_REPLICATION_FACTOR"] != "1" {
		t.Errorf("ConfigMap %v", cm.Data)
	}
	for _, c := range []string{"ingest", "denoiser", "trainer"} {
		ps := r.deployment(c).Spec.Template.Spec
		if ps.ServiceAccountName != "default" {
			t.Errorf("%s service account %q", c, ps.ServiceAccountName)
		}
	}
	ing := r.deployment("ingest").Spec.Template.Spec
	if env(ing.Containers[0], "CF_API_TOKEN_FILE") != nil || volume(ing, "api-token") != nil {
		t.Errorf("ingest uses a token with auth disabled")
	}
	// 1.5Gi and 2G: GOMEMLIMIT handles fractions and decimal suffixes
	for c, want := range map[string]string{"denoiser": "1449551462", "trainer": "1800000000"} {
		if e := env(r.deployment(c).Spec.Template.Spec.Containers[0], "GOMEMLIMIT"); e == nil || e.Value != want {
			t.Errorf("%s GOMEMLIMIT %+v, want %s", c, e, want)
		}
	}
	if v := volume(r.deployment("trainer").Spec.Template.Spec, "data"); v == nil || v.EmptyDir == nil {
		t.Errorf("trainer data %+v, want an emptyDir", v)
	}
	o, _ := r.find("Service", p+"ingest")
	if o.value.(*corev1.Service).Spec.Type != corev1.ServiceTypeNodePort {
		t.Errorf("ingest Service type")
	}
}

func checkDenoiserOnly(t *testing.T, r *rendered) {
	c := r.deployment("denoiser").Spec.Template.Spec.Containers[0]
	for _, a := range []string{"--no-create-topics", "--workers=6", "--max-in-flight=16", "--max-pixels=20000000"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("denoiser args %q lack %s", c.Args, a)
		}
	}
	if e := env(c, "CF_GROUP"); e == nil || e.Value != "run7-denoisers-eu" {
		t.Errorf("CF_GROUP %+v", e)
	}
	if e := env(c, "CF_MODEL_NAME"); e == nil || e.Value != "default" {
		t.Errorf("CF_MODEL_NAME %+v", e)
	}
	if e := env(c, "CF_MODEL"); e == nil || e.Value != "quality" {
		t.Errorf("CF_MODEL %+v", e)
	}
	if e := env(c, "CF_ENSEMBLE"); e == nil || e.Value != "2" {
		t.Errorf("CF_ENSEMBLE %+v", e)
	}
	if r.configMap().Data["CF_TOPIC_PREFIX"] != "run7" {
		t.Errorf("CF_TOPIC_PREFIX %q", r.configMap().Data["CF_TOPIC_PREFIX"])
	}
	if strings.Contains(r.notes, "port-forward") {
		t.Errorf("NOTES.txt mentions ingest, which is disabled")
	}
}

func checkHPA(t *testing.T, r *rendered, component string, min, max, cpu int32) {
	t.Helper()
	o, ok := r.find("HorizontalPodAutoscaler", p+component)
	if !ok {
		t.Fatalf("no HPA for %s", component)
	}
	h := o.value.(*autoscalingv2.HorizontalPodAutoscaler)
	if *h.Spec.MinReplicas != min || h.Spec.MaxReplicas != max ||
		*h.Spec.Metrics[0].Resource.Target.AverageUtilization != cpu {
		t.Errorf("%s HPA %d..%d at %d%%, want %d..%d at %d%%", component, *h.Spec.MinReplicas,
			h.Spec.MaxReplicas, *h.Spec.Metrics[0].Resource.Target.AverageUtilization, min, max, cpu)
	}
}

func mustScaledObject(t *testing.T, r *rendered) *ScaledObject {
	t.Helper()
	o, ok := r.find("ScaledObject", p+"denoiser")
	if !ok {
		t.Fatal("no ScaledObject")
	}
	return o.value.(*ScaledObject)
}
