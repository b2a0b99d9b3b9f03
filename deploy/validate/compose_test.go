package validate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// loadCompose loads docker-compose.yml the way `docker compose` does (schema
// validation, interpolation, normalization, consistency checks) with the given
// profiles enabled.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv([]string{}),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	return p
}

func TestComposeProfiles(t *testing.T) {
	tests := []struct {
		profiles []string
		want     []string
	}{
		{nil, []string{"billing-bridge", "customer-sync", "field-service", "gateway", "hydra", "hydra-clients", "hydra-clients-field-service", "kafka", "provision-schemas", "provision-topics", "quote-to-order", "reconciler", "redis", "schema-registry"}},
		{[]string{"demo"}, []string{"billing-bridge", "customer-sync", "erp-simulator", "field-service", "gateway", "hydra", "hydra-clients", "hydra-clients-field-service", "kafka", "provision-schemas", "provision-topics", "quote-to-order", "reconciler", "redis", "schema-registry"}},
		{[]string{"observability"}, []string{"billing-bridge", "customer-sync", "field-service", "gateway", "grafana", "hydra", "hydra-clients", "hydra-clients-field-service", "kafka", "prometheus", "provision-schemas", "provision-topics", "quote-to-order", "reconciler", "redis", "schema-registry"}},
		{[]string{"legacy"}, []string{"billing-bridge", "customer-sync", "field-service", "gateway", "hydra", "hydra-clients", "hydra-clients-field-service", "kafka", "legacy-bridge", "provision-schemas", "provision-topics", "quote-to-order", "reconciler", "redis", "schema-registry"}},
		{[]string{"demo", "legacy"}, []string{"billing-bridge", "customer-sync", "erp-simulator", "field-service", "gateway", "hydra", "hydra-clients", "hydra-clients-field-service", "kafka", "legacy-bridge", "provision-schemas", "provision-topics", "quote-to-order", "reconciler", "redis", "schema-registry"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.profiles, ","), func(t *testing.T) {
			got := loadCompose(t, tc.profiles...).ServiceNames()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("services %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, "demo", "observability", "legacy")
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}

	// Every build is the root Dockerfile with the repository as its context, and
	// its PROGRAM build argument makes an image that runs the program the image's
	// name says (the name the chart uses too).
	for _, s := range p.Services {
		if s.Build == nil {
			continue
		}
		if s.Build.Context != root && s.Build.Context != "." {
			t.Errorf("%s: build context %s, want the repository root", s.Name, s.Build.Context)
		}
		df := s.Build.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if df != filepath.Join(root, "Dockerfile") {
			t.Errorf("%s: dockerfile %s, want the root Dockerfile", s.Name, s.Build.Dockerfile)
			continue
		}
		d, err := parseDockerfile(df)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		args := map[string]string{}
		for k, v := range s.Build.Args {
			if v != nil {
				args[k] = *v
			}
		}
		img, err := d.image(args)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if want := "/" + imageProgram(s.Image); !slices.Equal(img.entrypoint, []string{want}) {
			t.Errorf("%s: image %s built with args %v runs %v, want [%s]", s.Name, s.Image, args, img.entrypoint, want)
		}
	}
	// Every bind mount's source exists. A named volume mounted into an Isthmus
	// image starts out with the ownership of the image's directory at that path
	// (Docker copies it into the new volume): the image must create it owned by
	// its non-root user, or the service cannot write there.
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			switch {
			case v.Type == types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount source: %v", s.Name, err)
				}
			case v.Type == types.VolumeTypeVolume && s.Build != nil:
				img := programImage(t, imageProgram(s.Image))
				uid, _, _ := strings.Cut(img.user, ":")
				if owner, _, _ := strings.Cut(img.owner[v.Target], ":"); img.copied[v.Target] == "" || owner != uid {
					t.Errorf("%s: volume %s at %s: the image does not create %s owned by its user %s (COPY --chown, owner %q): the volume would be root's and unwritable",
						s.Name, v.Source, v.Target, v.Target, img.user, img.owner[v.Target])
				}
			}
		}
	}

	if img := svc("kafka").Image; !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %s, want the official apache/kafka", img)
	}
	if roles := svc("kafka").Environment["KAFKA_PROCESS_ROLES"]; roles == nil || *roles != "broker,controller" {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES = %v, want a KRaft combined node", roles)
	}

	// Provisioning: topics after Kafka, schemas after topics and the registry.
	wantDeps := map[string]map[string]string{
		"provision-topics":  {"kafka": types.ServiceConditionHealthy},
		"provision-schemas": {"provision-topics": types.ServiceConditionCompletedSuccessfully, "schema-registry": types.ServiceConditionHealthy},
	}
	for name, deps := range wantDeps {
		s := svc(name)
		for dep, cond := range deps {
			if got := s.DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends on %s with %q, want %q", name, dep, got, cond)
			}
		}
	}
	if got := svc("provision-topics").Command; !slices.Equal(got, []string{"topics", "apply"}) {
		t.Errorf("provision-topics command %v", got)
	}
	if got := svc("provision-schemas").Command; !slices.Equal(got, []string{"schemas", "apply"}) {
		t.Errorf("provision-schemas command %v", got)
	}

	for _, name := range services {
		s := svc(name)
		if s.Build == nil || s.Build.Args["PROGRAM"] == nil || *s.Build.Args["PROGRAM"] != name || s.Image != "isthmus/"+name+":dev" {
			t.Errorf("%s: image %s, build %+v, want isthmus/%s:dev built with PROGRAM=%s", name, s.Image, s.Build, name, name)
		}
		if s.HealthCheck == nil || !slices.Equal([]string(s.HealthCheck.Test), []string{"CMD", "/isthmus", "healthcheck", "http://localhost:9464/readyz"}) {
			t.Errorf("%s: healthcheck %v", name, s.HealthCheck)
		}
		if c := s.DependsOn["provision-schemas"].Condition; c != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: starts before provisioning completes (condition %q)", name, c)
		}
		for dep, d := range s.DependsOn {
			if d.Condition == "" || d.Condition == types.ServiceConditionStarted {
				t.Errorf("%s depends on %s without a health/completion condition", name, dep)
			}
		}
		for _, env := range []string{"ISTHMUS_KAFKA_BROKERS", "ISTHMUS_SCHEMA_REGISTRY_URL", "ISTHMUS_REDIS_URL", "ISTHMUS_ADMIN_ADDR"} {
			if v := s.Environment[env]; v == nil || *v == "" {
				t.Errorf("%s: %s not set", name, env)
			}
		}
		wantProfiles := []string(nil)
		switch name {
		case "erp-simulator":
			wantProfiles = []string{"demo"}
		case "legacy-bridge":
			wantProfiles = []string{"legacy"}
		}
		if !slices.Equal(s.Profiles, wantProfiles) {
			t.Errorf("%s: profiles %v, want %v", name, s.Profiles, wantProfiles)
		}
	}
	// Tokens: the gateway verifies Hydra's; each service that calls it gets
	// them by client credentials, as its own client, once the one-shot service
	// that creates that client in Hydra has completed.
	if v := svc("gateway").Environment["ISTHMUS_GATEWAY_JWKS_URL"]; v == nil || !strings.HasPrefix(*v, "http://hydra:4444/") {
		t.Errorf("gateway: ISTHMUS_GATEWAY_JWKS_URL = %v, want Hydra's JWKS", v)
	}
	for caller, provisioner := range map[string]string{"quote-to-order": "hydra-clients", "field-service": "hydra-clients-field-service"} {
		if addr := svc(caller).Environment["ISTHMUS_GATEWAY_ADDR"]; addr == nil || *addr != "gateway:9090" {
			t.Errorf("%s: ISTHMUS_GATEWAY_ADDR = %v, want gateway:9090", caller, addr)
		}
		for _, env := range []string{"ISTHMUS_OAUTH_TOKEN_URL", "ISTHMUS_OAUTH_CLIENT_ID", "ISTHMUS_OAUTH_CLIENT_SECRET", "ISTHMUS_OAUTH_AUDIENCE"} {
			if v := svc(caller).Environment[env]; v == nil || *v == "" {
				t.Errorf("%s: %s not set", caller, env)
			}
		}
		if c := svc(caller).DependsOn[provisioner].Condition; c != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s starts before its OAuth2 client exists (%s, condition %q)", caller, provisioner, c)
		}
		if c := svc(caller).DependsOn["gateway"].Condition; c != types.ServiceConditionHealthy {
			t.Errorf("%s starts before the gateway is healthy (condition %q)", caller, c)
		}
		id := svc(caller).Environment["ISTHMUS_OAUTH_CLIENT_ID"]
		if cmd := svc(provisioner).Command; id == nil || !slices.Contains([]string(cmd), *id) {
			t.Errorf("%s creates %v, not %s's client %v", provisioner, cmd, caller, id)
		}
	}
	// The drop folder: legacy-bridge and the simulator's legacy ERP see the same
	// named volume, each where its setting says.
	drop := map[string]string{}
	for name, env := range map[string]string{"legacy-bridge": "ISTHMUS_LEGACY_DIR", "erp-simulator": "ISTHMUS_SIM_LEGACY_DIR"} {
		s := svc(name)
		dir := s.Environment[env]
		if dir == nil || *dir == "" {
			t.Errorf("%s: %s not set", name, env)
			continue
		}
		for _, v := range s.Volumes {
			if v.Target == *dir {
				if v.Type != types.VolumeTypeVolume || v.ReadOnly {
					t.Errorf("%s: %s=%s is a %s mount (read-only %v), want a read-write named volume", name, env, *dir, v.Type, v.ReadOnly)
				}
				drop[name] = v.Source
			}
		}
		if drop[name] == "" {
			t.Errorf("%s: %s=%s is no volume mount", name, env, *dir)
		}
	}
	if drop["legacy-bridge"] != drop["erp-simulator"] {
		t.Errorf("drop folder: legacy-bridge mounts volume %q, erp-simulator %q: they must share one", drop["legacy-bridge"], drop["erp-simulator"])
	}
	if _, ok := p.Volumes[drop["legacy-bridge"]]; !ok {
		t.Errorf("drop folder volume %q is not a named volume of the project", drop["legacy-bridge"])
	}
	for _, name := range []string{"prometheus", "grafana"} {
		if got := svc(name).Profiles; !slices.Equal(got, []string{"observability"}) {
			t.Errorf("%s: profiles %v, want [observability]", name, got)
		}
	}
}

// TestObservabilityConfig: Prometheus scrapes every service's admin port, and
// Grafana's provisioning points at the mounted dashboard directory and the
// Prometheus service.
func TestObservabilityConfig(t *testing.T) {
	root := repoRoot(t)
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "prometheus.yml"), &prom)
	targets := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
			if _, ok := st.Labels["service"]; ok {
				t.Errorf("job %s: a target label \"service\" would clash with the metrics' own service label", sc.JobName)
			}
		}
	}
	for _, s := range services {
		if !targets[s+":9464"] {
			t.Errorf("prometheus.yml does not scrape %s:9464", s)
		}
	}

	p := loadCompose(t, "observability")
	g, err := p.GetService("grafana")
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, v := range g.Volumes {
		mounts[v.Target] = v.Source
	}
	var dash struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(root, "deploy", "grafana", "provisioning", "dashboards", "isthmus.yml"), &dash)
	if len(dash.Providers) != 1 {
		t.Fatalf("%d dashboard providers, want 1", len(dash.Providers))
	}
	src, ok := mounts[dash.Providers[0].Options.Path]
	if !ok {
		t.Fatalf("dashboard provider path %s is not mounted into grafana (mounts %v)", dash.Providers[0].Options.Path, mounts)
	}
	if _, err := os.Stat(filepath.Join(src, "isthmus.json")); err != nil {
		t.Errorf("dashboard not at the mounted path: %v", err)
	}
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("datasources %+v, want the compose prometheus service", ds.Datasources)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
