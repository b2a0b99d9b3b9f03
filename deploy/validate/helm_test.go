package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	networkingv1 "k8s.io/api/networking/v1"
)

// kubeVersion is the oldest Kubernetes the chart supports (Chart.yaml kubeVersion).
var kubeVersion = &chartutil.KubeVersion{Version: "v1.27.0", Major: "1", Minor: "27"}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "helm", "isthmus") }

// ciValues are the example values files every check renders the chart with.
func ciValues(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"minimal", "production", "region", "legacy"} {
		if !slices.Contains(files, filepath.Join(chartDir(t), "ci", want+"-values.yaml")) {
			t.Fatalf("helm/isthmus/ci/%s-values.yaml is missing", want)
		}
	}
	return files
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

var (
	chartOnce sync.Once
	chartObj  *chart.Chart
	chartErr  error
)

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	chartOnce.Do(func() { chartObj, chartErr = loader.Load(chartDir(t)) })
	if chartErr != nil {
		t.Fatalf("load chart: %v", chartErr)
	}
	return chartObj
}

// render does what `helm template` does: a client-only dry-run install. It
// returns the main manifest and the hook manifests. Values are validated
// against values.schema.json on the way.
func render(t *testing.T, vals map[string]any, releaseName, namespace string) (string, error) {
	t.Helper()
	rel, err := renderRelease(t, vals, releaseName, namespace)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

// renderRelease is render's release: its manifest, hooks and NOTES.
func renderRelease(t *testing.T, vals map[string]any, releaseName, namespace string) (*release.Release, error) {
	t.Helper()
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	install := action.NewInstall(cfg)
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kubeVersion
	return install.Run(loadChart(t), vals)
}

// TestHelmLint is `helm lint` (Helm's own lint rules: Chart.yaml, values and
// schema, template rendering, YAML of every object, deprecated APIs) with each
// CI values file, as chart-testing runs it.
func TestHelmLint(t *testing.T) {
	for _, file := range ciValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			linter := lint.AllWithKubeVersion(chartDir(t), readValues(t, file), "isthmus", kubeVersion)
			for _, m := range linter.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestHelmLintWithoutValues: the chart's own defaults name no Kafka and no
// registry; lint must say exactly that, not render a half-configured release.
func TestHelmLintWithoutValues(t *testing.T) {
	linter := lint.AllWithKubeVersion(chartDir(t), nil, "isthmus", kubeVersion)
	var errs []string
	for _, m := range linter.Messages {
		if m.Severity == support.ErrorSev {
			errs = append(errs, m.Err.Error())
		}
	}
	all := strings.Join(errs, "\n")
	for _, want := range []string{"/kafka/brokers", "/schemaRegistry/url"} {
		if !strings.Contains(all, want) {
			t.Errorf("lint without values: errors %q do not name %s", all, want)
		}
	}
}

// TestHelmTemplate renders the chart with every CI values file and checks every
// object: strict decoding into the Kubernetes (and prometheus-operator, KEDA)
// API types, then the house rules for workloads.
func TestHelmTemplate(t *testing.T) {
	for _, file := range ciValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			vals := readValues(t, file)
			manifest, err := render(t, vals, "isthmus", "integration")
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			if os.Getenv("ISTHMUS_DUMP_MANIFESTS") != "" {
				t.Log(manifest)
			}
			objs := decodeManifest(t, manifest)
			checkObjects(t, objs, vals)
		})
	}
}

// decodeManifest splits a rendered manifest and strict-decodes every document.
func decodeManifest(t *testing.T, manifest string) []object {
	t.Helper()
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var objs []object
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, err := decodeStrict([]byte(doc))
		if err != nil {
			t.Errorf("%v\n%s", err, doc)
			continue
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		t.Fatal("the chart rendered no object")
	}
	return objs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// badValues are values a user gets wrong; values.schema.json must reject each
// with a message that points at the setting.
func TestValuesSchemaRejectsBadValues(t *testing.T) {
	base := func(t *testing.T) map[string]any {
		return readValues(t, filepath.Join(chartDir(t), "ci", "minimal-values.yaml"))
	}
	tests := []struct {
		name  string
		edit  func(v map[string]any)
		wants []string
	}{
		{"missing brokers", func(v map[string]any) { delete(v, "kafka") }, []string{"kafka", "brokers"}},
		{"empty brokers", func(v map[string]any) { v["kafka"] = map[string]any{"brokers": []any{}} }, []string{"/kafka/brokers", "minItems"}},
		{"broker without port", func(v map[string]any) { v["kafka"] = map[string]any{"brokers": []any{"kafka"}} }, []string{"/kafka/brokers/0", "does not match pattern"}},
		{"brokers as a string", func(v map[string]any) { v["kafka"] = map[string]any{"brokers": "kafka:9092"} }, []string{"/kafka/brokers", "want array"}},
		{"replicas wrong type", func(v map[string]any) {
			v["services"] = map[string]any{"gateway": map[string]any{"replicas": "three"}}
		}, []string{"/services/gateway/replicas", "want integer"}},
		{"unknown SASL mechanism", func(v map[string]any) {
			v["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "sasl": map[string]any{"mechanism": "GSSAPI", "existingSecret": "s"}}
		}, []string{"/kafka/sasl/mechanism"}},
		{"misspelt setting", func(v map[string]any) { v["topicPrefx"] = "eu." }, []string{"topicPrefx"}},
		{"root file system made writable", func(v map[string]any) {
			v["securityContext"] = map[string]any{"readOnlyRootFilesystem": false}
		}, []string{"/securityContext/readOnlyRootFilesystem"}},
		{"registry URL without scheme", func(v map[string]any) { v["schemaRegistry"] = map[string]any{"url": "registry:8081"} }, []string{"/schemaRegistry/url"}},
		{"SASL without a Secret", func(v map[string]any) {
			v["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "sasl": map[string]any{"mechanism": "PLAIN"}}
		}, []string{"kafka.sasl.existingSecret is required"}},
		{"gateway without a verification source", func(v map[string]any) { delete(v, "gateway") },
			[]string{"/gateway/auth", "the gateway refuses to start without token verification keys"}},
		{"gateway with an empty JWKS URL", func(v map[string]any) {
			v["gateway"] = map[string]any{"auth": map[string]any{"jwksUrl": "", "issuer": "https://idp"}}
		}, []string{"/gateway/auth", "jwksUrl or publicKeys.existingSecret"}},
		{"operations JWKS URL without scheme", func(v map[string]any) {
			v["operations"] = map[string]any{"auth": map[string]any{"jwksUrl": "idp/jwks.json"}}
		}, []string{"/operations/auth/jwksUrl"}},
		{"negative four-eyes threshold", func(v map[string]any) { v["operations"] = map[string]any{"fourEyesMinor": -1} }, []string{"/operations/fourEyesMinor"}},
		{"more replicas than input partitions", func(v map[string]any) {
			v["services"] = map[string]any{"quote-to-order": map[string]any{"autoscaling": map[string]any{"enabled": true, "maxReplicas": 7}}}
		}, []string{"/services/quote-to-order", "at most 6", "more replicas get no partition and idle"}},
		{"fixed replicas above the partitions", func(v map[string]any) {
			v["services"] = map[string]any{"reconciler": map[string]any{"replicas": 8}}
		}, []string{"/services/reconciler", "at most 6"}},
		{"OAUTHBEARER without a token URL", func(v map[string]any) {
			v["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "sasl": map[string]any{"mechanism": "OAUTHBEARER", "existingSecret": "s"}}
		}, []string{"kafka.sasl.oauth.tokenUrl is required"}},
		{"service credentials without a Secret", func(v map[string]any) {
			v["serviceCredentials"] = map[string]any{"oauth": map[string]any{"tokenUrl": "https://idp/token"}}
		}, []string{"serviceCredentials.oauth.existingSecret"}},
		{"field-service credentials without a Secret", func(v map[string]any) {
			v["serviceCredentials"] = map[string]any{"oauth": map[string]any{"tokenUrl": "https://idp/token", "existingSecret": "q2o"}}
		}, []string{"serviceCredentials.oauth.fieldService.existingSecret", "field-service is enabled"}},
		{"legacy-bridge without its drop folder", func(v map[string]any) {
			v["services"] = map[string]any{"legacy-bridge": map[string]any{"enabled": true}}
		}, []string{"legacyBridge.dropFolder.existingClaim is required", "services.legacy-bridge.enabled", "ReadWriteMany"}},
		{"drop folder subPath leaving the claim", func(v map[string]any) {
			v["services"] = map[string]any{"legacy-bridge": map[string]any{"enabled": true}}
			v["legacyBridge"] = map[string]any{"dropFolder": map[string]any{"existingClaim": "erp-share", "subPath": "isthmus/../../etc"}}
		}, []string{"/legacyBridge/dropFolder/subPath"}},
		{"drop folder subPath absolute", func(v map[string]any) {
			v["legacyBridge"] = map[string]any{"dropFolder": map[string]any{"existingClaim": "erp-share", "subPath": "/isthmus"}}
		}, []string{"/legacyBridge/dropFolder/subPath"}},
		{"legacy-bridge above its input partitions", func(v map[string]any) {
			v["services"] = map[string]any{"legacy-bridge": map[string]any{"enabled": true, "replicas": 7}}
			v["legacyBridge"] = map[string]any{"dropFolder": map[string]any{"existingClaim": "erp-share"}}
		}, []string{"/services/legacy-bridge", "at most 6"}},
		{"KEDA without Prometheus", func(v map[string]any) {
			v["services"] = map[string]any{"customer-sync": map[string]any{"autoscaling": map[string]any{"keda": map[string]any{"enabled": true}}}}
		}, []string{"keda.prometheusServerAddress is required", "services.customer-sync"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := base(t)
			tc.edit(v)
			_, err := render(t, v, "isthmus", "isthmus")
			if err == nil {
				t.Fatal("rendered without error")
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestTopicPrefixReachesEveryContainer: the region install's prefix is what
// every service and both provisioning Jobs see.
func TestTopicPrefixReachesEveryContainer(t *testing.T) {
	file := filepath.Join(chartDir(t), "ci", "region-values.yaml")
	vals := readValues(t, file)
	manifest, err := render(t, vals, "isthmus-eu", "isthmus")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range decodeManifest(t, manifest) {
		for _, c := range containersOf(o) {
			n++
			if got := envValue(c, "ISTHMUS_TOPIC_PREFIX"); got != "eu-west-1.staging." {
				t.Errorf("%s container %s: ISTHMUS_TOPIC_PREFIX = %q", o.name(), c.Name, got)
			}
		}
	}
	if want := 2 + len(enabledServices(t, vals)); n != want {
		t.Errorf("%d containers, want one per enabled service and two provisioning Jobs (%d)", n, want)
	}
}

// TestNetworkPolicyEgressForIdentityAndTracing: with the production profile the
// gateway and the reconciler's operations API may reach the identity provider
// (JWKS) and quote-to-order and field-service its token endpoint, on the configured ports and peers; every service may reach the
// OTLP collector; a service with no use for the identity provider may not.
func TestNetworkPolicyEgressForIdentityAndTracing(t *testing.T) {
	vals := readValues(t, filepath.Join(chartDir(t), "ci", "production-values.yaml"))
	manifest, err := render(t, vals, "isthmus", "isthmus")
	if err != nil {
		t.Fatal(err)
	}
	allows := func(np *networkingv1.NetworkPolicy, port int32, peer string) bool {
		for _, r := range np.Spec.Egress {
			for _, p := range r.Ports {
				if p.Port != nil && p.Port.IntVal == port {
					if peer == "" {
						return true
					}
					for _, to := range r.To {
						if (to.IPBlock != nil && to.IPBlock.CIDR == peer) || (to.NamespaceSelector != nil && to.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == peer) {
							return true
						}
					}
				}
			}
		}
		return false
	}
	n := 0
	for _, o := range decodeManifest(t, manifest) {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		n++
		comp := np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"]
		wantIdP := comp == "gateway" || comp == "quote-to-order" || comp == "field-service" || comp == "reconciler"
		if got := allows(np, 443, "10.40.0.0/24"); got != wantIdP {
			t.Errorf("%s: egress to the identity provider (443, 10.40.0.0/24) = %v, want %v", o.name(), got, wantIdP)
		}
		if !allows(np, 4317, "monitoring") {
			t.Errorf("%s: no egress to the OTLP collector (4317, namespace monitoring)", o.name())
		}
	}
	if n == 0 {
		t.Fatal("no NetworkPolicy rendered")
	}
}

// TestPartitionBoundMatchesCatalog: the replica bound values.schema.json puts
// on stateful services is the partition count of their input topics in
// schemas/topics.yaml, so the two cannot drift apart.
func TestPartitionBoundMatchesCatalog(t *testing.T) {
	var catalog struct {
		Topics []struct {
			Name       string   `yaml:"name"`
			Partitions int      `yaml:"partitions"`
			Consumers  []string `yaml:"consumers"`
		} `yaml:"topics"`
	}
	readYAML(t, filepath.Join(repoRoot(t), "schemas", "topics.yaml"), &catalog)
	var schema struct {
		Definitions struct {
			PartitionBound struct {
				Properties struct {
					Replicas    struct{ Maximum int } `json:"replicas"`
					Autoscaling struct {
						Properties struct {
							MaxReplicas struct{ Maximum int } `json:"maxReplicas"`
						} `json:"properties"`
					} `json:"autoscaling"`
				} `json:"properties"`
			} `json:"partitionBound"`
		} `json:"definitions"`
	}
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	pb := schema.Definitions.PartitionBound.Properties
	bound := pb.Replicas.Maximum
	if bound == 0 || pb.Autoscaling.Properties.MaxReplicas.Maximum != bound {
		t.Fatalf("partitionBound: replicas maximum %d, maxReplicas maximum %d: want one bound", bound, pb.Autoscaling.Properties.MaxReplicas.Maximum)
	}
	if !strings.Contains(string(raw), fmt.Sprintf("at most %d", bound)) {
		t.Errorf("values.schema.json's refusal message does not say \"at most %d\"", bound)
	}
	// The catalog names the ERP, not its adapter, as the consumer of the ERP's
	// command topics: legacy-bridge consumes those of the routed flows
	// (pkg/flowmode), which the catalog must list as the ERP's.
	adapterInputs := map[string][]string{"legacy-bridge": {"erp.customer-commands.v1", "erp.order-commands.v1"}}
	for _, svc := range statefulServices {
		least := 0
		for _, tp := range catalog.Topics {
			consumes := slices.Contains(tp.Consumers, svc)
			if slices.Contains(adapterInputs[svc], tp.Name) {
				if !slices.Contains(tp.Consumers, "erp") {
					t.Errorf("%s: consumers %v in schemas/topics.yaml do not name the ERP, whose adapter %s consumes it", tp.Name, tp.Consumers, svc)
				}
				consumes = true
			}
			if consumes && (least == 0 || tp.Partitions < least) {
				least = tp.Partitions
			}
		}
		if least != bound {
			t.Errorf("%s: its input topics have %d partitions (schemas/topics.yaml), the chart bounds its replicas at %d", svc, least, bound)
		}
	}
}

// TestNotesNameTheDropFolder: with legacy-bridge on, the install notes say which
// claim (and folder in it) is the drop folder and where the bridge mounts it;
// without it they do not mention it.
func TestNotesNameTheDropFolder(t *testing.T) {
	for file, want := range map[string][]string{
		"legacy-values.yaml":  {"isthmus-legacy-bridge", "PersistentVolumeClaim erp-file-gateway, folder isthmus", "/var/lib/isthmus/legacy"},
		"minimal-values.yaml": nil,
	} {
		rel, err := renderRelease(t, readValues(t, filepath.Join(chartDir(t), "ci", file)), "isthmus", "isthmus")
		if err != nil {
			t.Fatal(err)
		}
		notes := rel.Info.Notes
		for _, w := range want {
			if !strings.Contains(notes, w) {
				t.Errorf("%s: NOTES do not mention %q:\n%s", file, w, notes)
			}
		}
		if want == nil && strings.Contains(notes, "drop folder") {
			t.Errorf("%s: NOTES mention a drop folder, but legacy-bridge is off:\n%s", file, notes)
		}
	}
}
