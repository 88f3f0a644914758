package charttest

import (
	"path"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// varRef matches a $(VAR) reference in an environment value.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// lookup walks a dotted path ("kafka.sasl.enabled") through nested maps.
func lookup(m map[string]any, key string) (any, bool) {
	var v any = m
	for _, k := range strings.Split(key, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func str(m map[string]any, key string) string {
	v, _ := lookup(m, key)
	s, _ := v.(string)
	return s
}

func str2bool(m map[string]any, key string) bool {
	v, _ := lookup(m, key)
	b, _ := v.(bool)
	return b
}

func num(t testing.TB, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := lookup(m, key)
	if !ok {
		t.Fatalf("no value %s", key)
	}
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	t.Fatalf("value %s = %v (%T): not a number", key, v, v)
	return 0
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func hasMount(c corev1.Container, dir string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			return true
		}
	}
	return false
}

// fileMounted reports whether file lies in a read-only mount of c.
func fileMounted(c corev1.Container, file string) bool {
	for _, m := range c.VolumeMounts {
		if file != "" && path.Dir(file) == m.MountPath && m.ReadOnly {
			return true
		}
	}
	return false
}

func containerPort(d *appsv1.Deployment, name string) *corev1.ContainerPort {
	for _, c := range d.Spec.Template.Spec.Containers {
		for i := range c.Ports {
			if c.Ports[i].Name == name {
				return &c.Ports[i]
			}
		}
	}
	return nil
}

func volume(ps corev1.PodSpec, name string) *corev1.Volume {
	for i := range ps.Volumes {
		if ps.Volumes[i].Name == name {
			return &ps.Volumes[i]
		}
	}
	return nil
}

// selects counts the rendered Deployments whose pods match a label set.
func selects(t testing.TB, r *rendered, match map[string]string) int {
	t.Helper()
	sel := labels.SelectorFromSet(match)
	n := 0
	for _, o := range r.all("Deployment") {
		if sel.Matches(labels.Set(o.value.(*appsv1.Deployment).Spec.Template.Labels)) {
			n++
		}
	}
	return n
}

func deepCopyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			v = deepCopyMap(mm)
		}
		out[k] = v
	}
	return out
}

// mergeInto overlays src on dst as Helm merges values files: maps merge
// key by key, anything else replaces.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		sm, ok1 := v.(map[string]any)
		dm, ok2 := dst[k].(map[string]any)
		if ok1 && ok2 {
			mergeInto(dm, sm)
			continue
		}
		dst[k] = v
	}
}
