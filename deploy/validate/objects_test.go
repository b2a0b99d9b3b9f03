package validate

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one rendered, strictly decoded Kubernetes object.
type object struct {
	gvk  schema.GroupVersionKind
	obj  runtime.Object
	meta metav1.Object
}

func (o object) name() string { return o.gvk.Kind + "/" + o.meta.GetName() }

// decodeStrict decodes one YAML document into its Go API type. Unknown or
// duplicate fields, wrong types and unknown kinds are errors, as they are for
// `kubectl apply --validate=strict`.
func decodeStrict(doc []byte) (object, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return object{}, fmt.Errorf("yaml: %w", err)
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return object{}, fmt.Errorf("type meta: %w", err)
	}
	gvk := tm.GroupVersionKind()
	var obj runtime.Object
	switch gvk {
	case monitoringv1.SchemeGroupVersion.WithKind("ServiceMonitor"):
		obj = &monitoringv1.ServiceMonitor{}
	case kedav1alpha1.SchemeGroupVersion.WithKind("ScaledObject"):
		obj = &kedav1alpha1.ScaledObject{}
	default:
		obj, err = scheme.Scheme.New(gvk)
		if err != nil {
			return object{}, fmt.Errorf("%s: not a known API type: %w", gvk, err)
		}
	}
	strict, err := kjson.UnmarshalStrict(js, obj)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", gvk.Kind, err)
	}
	if len(strict) > 0 {
		return object{}, fmt.Errorf("%s: strict decoding: %v", gvk.Kind, strict)
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s has no object metadata", gvk)
	}
	if m.GetName() == "" {
		return object{}, fmt.Errorf("%s without metadata.name", gvk.Kind)
	}
	return object{gvk: gvk, obj: obj, meta: m}, nil
}

func TestDecodeStrictRejects(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selectr: {a: b}}\n", "unknown field"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: two}\n", "Deployment"},
		{"unknown kind", "apiVersion: v1\nkind: Servise\nmetadata: {name: a}\n", "not a known API type"},
		{"unknown CRD field", "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {scaleTargetRef: {name: a}, minReplicas: 1}\n", "unknown field"},
		{"ServiceMonitor typo", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: a}\nspec: {selector: {}, endpoint: []}\n", "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeStrict error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := decodeStrict([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selector: {a: b}}\n")); err != nil {
		t.Fatalf("valid Service: %v", err)
	}
}

// podSpecOf returns the pod template of a workload, or nil.
func podSpecOf(o object) (*corev1.PodSpec, map[string]string) {
	switch x := o.obj.(type) {
	case *appsv1.Deployment:
		return &x.Spec.Template.Spec, x.Spec.Template.Labels
	case *appsv1.StatefulSet:
		return &x.Spec.Template.Spec, x.Spec.Template.Labels
	case *batchv1.Job:
		return &x.Spec.Template.Spec, x.Spec.Template.Labels
	}
	return nil, nil
}

// workload is a long-running controller the chart renders for a service: a
// Deployment, or a StatefulSet for the stateful services.
type workload struct {
	kind, name  string
	serviceName string // StatefulSet: the governing headless Service
	replicas    *int32
	selector    *metav1.LabelSelector
	template    *corev1.PodTemplateSpec
}

func workloadOf(o object) (workload, bool) {
	switch x := o.obj.(type) {
	case *appsv1.Deployment:
		return workload{"Deployment", x.Name, "", x.Spec.Replicas, x.Spec.Selector, &x.Spec.Template}, true
	case *appsv1.StatefulSet:
		return workload{"StatefulSet", x.Name, x.Spec.ServiceName, x.Spec.Replicas, x.Spec.Selector, &x.Spec.Template}, true
	}
	return workload{}, false
}

// statefulServices keep partitioned state: StatefulSets whose pod name is a
// stable instance id (DESIGN.md §8).
var statefulServices = []string{"billing-bridge", "customer-sync", "field-service", "legacy-bridge", "quote-to-order", "reconciler"}

func containersOf(o object) []corev1.Container {
	ps, _ := podSpecOf(o)
	if ps == nil {
		return nil
	}
	return append(slices.Clone(ps.InitContainers), ps.Containers...)
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

var requiredLabels = []string{
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
	"app.kubernetes.io/part-of", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart",
}

// checkObjects applies the house rules to a rendered release.
func checkObjects(t *testing.T, objs []object, vals map[string]any) {
	t.Helper()
	deployments := map[string]workload{}
	kinds := map[string]int{}
	headless := map[string]bool{}
	for _, o := range objs {
		kinds[o.gvk.Kind]++
		for _, l := range requiredLabels {
			if o.meta.GetLabels()[l] == "" {
				t.Errorf("%s: label %s missing", o.name(), l)
			}
		}
		if w, ok := workloadOf(o); ok {
			deployments[w.name] = w
		}
		if s, ok := o.obj.(*corev1.Service); ok && s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless[s.Name] = true
		}
		checkWorkload(t, o)
	}
	for _, k := range []string{"Service", "PodDisruptionBudget", "NetworkPolicy", "Job"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rendered", k)
		}
	}
	if kinds["Job"] != 2 {
		t.Errorf("%d provisioning Jobs, want 2 (topics, schemas)", kinds["Job"])
	}

	// The rendered services are exactly the enabled ones.
	enabled := enabledServices(t, vals)
	var got []string
	for _, d := range deployments {
		comp := d.template.Labels["app.kubernetes.io/component"]
		got = append(got, comp)
		checkIdentity(t, d, headless)
		if comp == "legacy-bridge" {
			checkDropFolder(t, d, vals)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, enabled) {
		t.Errorf("workloads for %v, want the enabled services %v", got, enabled)
	}

	// Provisioning: topics before schemas, each with its CLI verb.
	jobs := map[string]*batchv1.Job{}
	for _, o := range objs {
		if j, ok := o.obj.(*batchv1.Job); ok {
			jobs[j.Labels["app.kubernetes.io/component"]] = j
		}
	}
	weight := map[string]int{}
	for comp, args := range map[string][]string{"provision-topics": {"topics", "apply"}, "provision-schemas": {"schemas", "apply"}} {
		j := jobs[comp]
		if j == nil {
			t.Errorf("no %s Job", comp)
			continue
		}
		if got := j.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, args) {
			t.Errorf("Job %s runs %v, want isthmus %v", j.Name, got, args)
		}
		w, err := strconv.Atoi(j.Annotations["helm.sh/hook-weight"])
		if err != nil {
			t.Errorf("Job %s: hook weight: %v", j.Name, err)
		}
		weight[comp] = w
	}
	if weight["provision-topics"] >= weight["provision-schemas"] {
		t.Errorf("hook weights %v: topics must be applied before schemas", weight)
	}

	scaled := map[string]string{}
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			checkScaleTarget(t, o, x.Spec.ScaleTargetRef.Kind, x.Spec.ScaleTargetRef.Name, deployments, scaled)
			if x.Spec.MinReplicas == nil || *x.Spec.MinReplicas > x.Spec.MaxReplicas {
				t.Errorf("%s: minReplicas %v > maxReplicas %d", o.name(), x.Spec.MinReplicas, x.Spec.MaxReplicas)
			}
		case *kedav1alpha1.ScaledObject:
			checkScaleTarget(t, o, x.Spec.ScaleTargetRef.Kind, x.Spec.ScaleTargetRef.Name, deployments, scaled)
			var lag bool
			for _, tr := range x.Spec.Triggers {
				if tr.Type == "prometheus" && strings.Contains(tr.Metadata["query"], "isthmus_processor_consumer_lag") && tr.Metadata["serverAddress"] != "" {
					lag = true
					if _, err := MetricNames(tr.Metadata["query"]); err != nil {
						t.Errorf("%s: lag query: %v", o.name(), err)
					}
				}
			}
			if !lag {
				t.Errorf("%s: no consumer-lag trigger", o.name())
			}
		case *policyv1.PodDisruptionBudget:
			selects(t, o, x.Spec.Selector, deployments)
		case *networkingv1.NetworkPolicy:
			selects(t, o, &x.Spec.PodSelector, deployments)
			if len(x.Spec.PolicyTypes) != 2 {
				t.Errorf("%s: policyTypes %v, want Ingress and Egress", o.name(), x.Spec.PolicyTypes)
			}
		case *corev1.Service:
			d := selects(t, o, &metav1.LabelSelector{MatchLabels: x.Spec.Selector}, deployments)
			if d == nil {
				continue
			}
			for _, p := range x.Spec.Ports {
				if !hasPort(d.template.Spec.Containers, p.TargetPort.String()) {
					t.Errorf("%s: targetPort %s is no container port of %s", o.name(), p.TargetPort.String(), d.name)
				}
			}
		case *monitoringv1.ServiceMonitor:
			if len(x.Spec.Endpoints) == 0 || x.Spec.Endpoints[0].Port != "admin" || x.Spec.Endpoints[0].Path != "/metrics" {
				t.Errorf("%s: endpoints %+v, want port admin path /metrics", o.name(), x.Spec.Endpoints)
			}
			selects(t, o, &x.Spec.Selector, deployments)
		case *corev1.ConfigMap:
			if o.meta.GetLabels()["grafana_dashboard"] != "" {
				if _, err := DashboardMetrics([]byte(x.Data["isthmus.json"])); err != nil {
					t.Errorf("%s: %v", o.name(), err)
				}
			}
		}
	}
	for name, d := range deployments {
		if _, ok := scaled[name]; ok && d.replicas != nil {
			t.Errorf("%s/%s sets replicas although an autoscaler owns them", d.kind, name)
		}
	}
}

func enabledServices(t *testing.T, vals map[string]any) []string {
	t.Helper()
	defaults := loadChart(t).Values["services"].(map[string]any)
	override, _ := vals["services"].(map[string]any)
	var out []string
	for name, v := range defaults {
		on := v.(map[string]any)["enabled"].(bool)
		if o, ok := override[name].(map[string]any); ok {
			if e, ok := o["enabled"].(bool); ok {
				on = e
			}
		}
		if on {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func checkScaleTarget(t *testing.T, o object, kind, name string, deployments map[string]workload, scaled map[string]string) {
	t.Helper()
	if w, ok := deployments[name]; !ok || w.kind != kind {
		t.Errorf("%s: scales %s/%s, which the chart does not render", o.name(), kind, name)
	}
	if prev, ok := scaled[name]; ok {
		t.Errorf("%s and %s both scale Deployment/%s", prev, o.name(), name)
	}
	scaled[name] = o.name()
}

// selects checks that a selector picks exactly one of the chart's workloads
// and returns it.
func selects(t *testing.T, o object, sel *metav1.LabelSelector, deployments map[string]workload) *workload {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		t.Errorf("%s: selector %v: %v", o.name(), sel, err)
		return nil
	}
	var hit []*workload
	for _, name := range slices.Sorted(maps.Keys(deployments)) {
		d := deployments[name]
		if s.Matches(labels.Set(d.template.Labels)) {
			hit = append(hit, &d)
		}
	}
	if len(hit) != 1 {
		t.Errorf("%s: selector %s matches %d workloads, want 1", o.name(), s, len(hit))
		return nil
	}
	return hit[0]
}

func hasPort(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name || fmt.Sprint(p.ContainerPort) == name {
				return true
			}
		}
	}
	return false
}

// checkWorkload: every container has resources and the restricted security
// context; long-running containers (Deployments) also have probes on the
// admin port; Jobs are Helm hooks that never restart in place.
func checkWorkload(t *testing.T, o object) {
	t.Helper()
	ps, podLabels := podSpecOf(o)
	if ps == nil {
		return
	}
	if d, ok := workloadOf(o); ok {
		s, err := metav1.LabelSelectorAsSelector(d.selector)
		if err != nil || !s.Matches(labels.Set(podLabels)) {
			t.Errorf("%s: selector %v does not match the pod labels %v", o.name(), d.selector, podLabels)
		}
	}
	if j, ok := o.obj.(*batchv1.Job); ok {
		a := j.Annotations
		if !strings.Contains(a["helm.sh/hook"], "pre-install") || !strings.Contains(a["helm.sh/hook"], "pre-upgrade") {
			t.Errorf("%s: helm.sh/hook = %q, want pre-install,pre-upgrade", o.name(), a["helm.sh/hook"])
		}
		if ps.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %s", o.name(), ps.RestartPolicy)
		}
	}
	psc := ps.SecurityContext
	if len(ps.Containers) == 0 {
		t.Errorf("%s: no containers", o.name())
	}
	for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
		where := o.name() + " container " + c.Name
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", where, r)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", where)
		}
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runAsUser 0", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities %v, want drop ALL and add none", where, sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil && psc != nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile %v, want RuntimeDefault", where, seccomp)
		}
		if c.Image == "" || strings.HasSuffix(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %q has no pinned tag", where, c.Image)
		}
		if prog := imageProgram(c.Image); !slices.Equal(programImage(t, prog).entrypoint, []string{"/" + prog}) {
			t.Errorf("%s: image %q: the Dockerfile builds no image of %s (--build-arg PROGRAM=%s)", where, c.Image, prog, prog)
		}
		if envValue(c, "ISTHMUS_KAFKA_BROKERS") == "" {
			t.Errorf("%s: ISTHMUS_KAFKA_BROKERS not set", where)
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && (e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "") {
				t.Errorf("%s: %s refers to a Secret without name or key", where, e.Name)
			}
		}
		if _, long := workloadOf(o); !long {
			continue
		}
		for probe, want := range map[string]struct {
			p    *corev1.Probe
			path string
		}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
			if want.p == nil || want.p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", where, probe)
				continue
			}
			if want.p.HTTPGet.Path != want.path || !hasPort([]corev1.Container{c}, want.p.HTTPGet.Port.String()) {
				t.Errorf("%s: %s probe %s on port %s, want %s on a container port", where, probe, want.p.HTTPGet.Path, want.p.HTTPGet.Port.String(), want.path)
			}
		}
		if !hasPort([]corev1.Container{c}, "9464") {
			t.Errorf("%s: admin port 9464 not declared", where)
		}
		mountsTmp := false
		for _, m := range c.VolumeMounts {
			mountsTmp = mountsTmp || m.MountPath == "/tmp"
		}
		if !mountsTmp {
			t.Errorf("%s: read-only root file system but no writable /tmp", where)
		}
	}
}

// checkIdentity: stateful services are StatefulSets governed by a rendered
// headless Service, whose pods take their name as ISTHMUS_INSTANCE_ID with
// ISTHMUS_INSTANCE_STABLE=true; the others are Deployments without a stable id.
func checkIdentity(t *testing.T, w workload, headless map[string]bool) {
	t.Helper()
	comp := w.template.Labels["app.kubernetes.io/component"]
	stateful := slices.Contains(statefulServices, comp)
	want := "Deployment"
	if stateful {
		want = "StatefulSet"
	}
	if w.kind != want {
		t.Errorf("%s is a %s, want a %s", comp, w.kind, want)
		return
	}
	c := w.template.Spec.Containers[0]
	var id *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "ISTHMUS_INSTANCE_ID" {
			id = &c.Env[i]
		}
	}
	if !stateful {
		if id != nil || envValue(c, "ISTHMUS_INSTANCE_STABLE") != "" {
			t.Errorf("%s: a Deployment's pods have no stable identity, yet ISTHMUS_INSTANCE_ID/STABLE are set", comp)
		}
		return
	}
	if id == nil || id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("%s: ISTHMUS_INSTANCE_ID %+v, want the pod name (fieldRef metadata.name)", comp, id)
	}
	if got := envValue(c, "ISTHMUS_INSTANCE_STABLE"); got != "true" {
		t.Errorf("%s: ISTHMUS_INSTANCE_STABLE = %q, want true", comp, got)
	}
	if !headless[w.serviceName] {
		t.Errorf("%s: serviceName %q is no headless Service of the release", comp, w.serviceName)
	}
}

// checkDropFolder: legacy-bridge's ISTHMUS_LEGACY_DIR is where it mounts, read-write,
// the drop folder's claim (legacyBridge.dropFolder) with its subPath, and every
// other mount but /tmp stays read-only.
func checkDropFolder(t *testing.T, w workload, vals map[string]any) {
	t.Helper()
	drop, _ := vals["legacyBridge"].(map[string]any)
	drop, _ = drop["dropFolder"].(map[string]any)
	claim, _ := drop["existingClaim"].(string)
	subPath, _ := drop["subPath"].(string)
	c := w.template.Spec.Containers[0]
	dir := envValue(c, "ISTHMUS_LEGACY_DIR")
	if dir == "" {
		t.Errorf("legacy-bridge: ISTHMUS_LEGACY_DIR not set")
		return
	}
	var found bool
	for _, m := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range w.template.Spec.Volumes {
			if w.template.Spec.Volumes[i].Name == m.Name {
				vol = &w.template.Spec.Volumes[i]
			}
		}
		if vol == nil {
			t.Errorf("legacy-bridge: volumeMount %s has no volume", m.Name)
			continue
		}
		if m.MountPath != dir {
			if !m.ReadOnly && m.MountPath != "/tmp" {
				t.Errorf("legacy-bridge: %s mounted read-write at %s", m.Name, m.MountPath)
			}
			continue
		}
		found = true
		got := "no PersistentVolumeClaim"
		if pvc := vol.PersistentVolumeClaim; pvc != nil {
			got = fmt.Sprintf("claim %q (volume readOnly %v)", pvc.ClaimName, pvc.ReadOnly)
			if pvc.ClaimName == claim && !pvc.ReadOnly && !m.ReadOnly && m.SubPath == subPath {
				continue
			}
		}
		t.Errorf("legacy-bridge: %s at ISTHMUS_LEGACY_DIR %s: %s, mount readOnly %v, subPath %q; want claim %q read-write with subPath %q",
			m.Name, dir, got, m.ReadOnly, m.SubPath, claim, subPath)
	}
	if !found {
		t.Errorf("legacy-bridge: ISTHMUS_LEGACY_DIR %s is no volume mount: the drop folder would be the read-only root file system", dir)
	}
}
