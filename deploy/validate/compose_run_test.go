//go:build deployrun

package validate

// docker-compose.yml, run: what `docker compose --profile demo up` starts,
// as processes. There is no container engine here; the infrastructure images
// (Kafka, the registry, Redis, Hydra) are the local real ones, the Isthmus
// images are the binaries of their Dockerfile builds' PROGRAM, and the
// one-shot hydra-clients runs the same Hydra program as its image. Each
// service gets exactly its compose environment with the compose network's
// host names mapped, one-shot services run to completion in depends_on
// order, and every service's own healthcheck command decides readiness. A
// named volume is one folder of the test, shared by every service that
// mounts it, and paths under its mount point are mapped into it.

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/twmb/franz-go/pkg/kgo"
	corev1 "k8s.io/api/core/v1"
)

// composeInfra are the compose services the local infrastructure stands in for.
var composeInfra = []string{"kafka", "schema-registry", "redis", "hydra", "prometheus", "grafana"}

func TestComposeRuns(t *testing.T) {
	in := newLocalInfra(t)
	bins := buildBinaries(t)
	bins["hydra"] = hydraBinary(t)
	root := repoRoot(t)
	prefix := fmt.Sprintf("run-compose-%s.", strconv.FormatInt(time.Now().Unix()%1_000_000, 36))
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		// The one variable the run sets: its own topics and consumer groups.
		cli.WithEnv([]string{"ISTHMUS_TOPIC_PREFIX=" + prefix}),
		cli.WithProfiles([]string{"demo", "legacy"}),
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
	admin := []kgo.Opt{kgo.SeedBrokers(strings.Split(in.brokers, ",")...)}
	t.Cleanup(func() { deleteTopics(t, admin, prefix) })

	hydraAdmin := in.oauth["ISTHMUS_OAUTH_ADMIN_URL"]
	// hydra-clients and hydra-clients-field-service create quote-to-order's and
	// field-service's clients; Hydra outlives one run.
	for _, id := range []string{"quote-to-order", "field-service"} {
		deleteHydraClient(hydraAdmin, id)
		t.Cleanup(func() { deleteHydraClient(hydraAdmin, id) })
	}
	issuer := in.oauth["ISTHMUS_OAUTH_ISSUER"]
	c := &composeRun{t: t, p: p, bins: bins, listen: map[string]map[string]string{},
		volumes: map[string]string{}, mounts: map[string]map[string]string{},
		endpoints: map[string]string{
			"kafka:19092":                             in.brokers,
			"http://schema-registry:8081":             in.registry,
			"redis://redis:6379/0":                    in.redis,
			"http://hydra:4444":                       issuer,
			"http://hydra:4445":                       hydraAdmin,
			"http://hydra:4444/.well-known/jwks.json": in.oauth["ISTHMUS_OAUTH_JWKS_URL"],
			"http://hydra:4444/oauth2/token":          in.oauth["ISTHMUS_OAUTH_TOKEN_URL"],
		}}
	c.run()
	for _, name := range slices.Sorted(maps.Keys(c.started)) {
		if s, _ := c.p.GetService(name); s.HealthCheck != nil && !s.HealthCheck.Disable {
			c.waitHealthy(s, c.started[name])
		}
	}
	waitOrderCommand(t, admin, prefix, 3*time.Minute)
	// The drop folder, as legacy-bridge's ISTHMUS_LEGACY_DIR resolves: both the
	// bridge and the simulator's legacy ERP work on it.
	lb, err := p.GetService("legacy-bridge")
	if err != nil {
		t.Fatal(err)
	}
	dir := lb.Environment["ISTHMUS_LEGACY_DIR"]
	if dir == nil {
		t.Fatal("legacy-bridge: no ISTHMUS_LEGACY_DIR")
	}
	waitDropFolderFiled(t, c.mapValue("legacy-bridge", "ISTHMUS_LEGACY_DIR", *dir), true)
}

type composeRun struct {
	t         *testing.T
	p         *types.Project
	bins      map[string]string
	endpoints map[string]string
	listen    map[string]map[string]string // service -> ":port" -> local address
	volumes   map[string]string            // named volume -> local folder
	mounts    map[string]map[string]string // service -> mount target -> local folder
	started   map[string]*pod
}

// mount maps the service's volumes: a named volume to the project's one
// folder for it, a bind mount to its source.
func (c *composeRun) mount(s types.ServiceConfig) {
	t := c.t
	c.mounts[s.Name] = map[string]string{}
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			dir, ok := c.volumes[v.Source]
			if !ok {
				dir = t.TempDir()
				c.volumes[v.Source] = dir
			}
			c.mounts[s.Name][v.Target] = dir
		case types.VolumeTypeBind:
			c.mounts[s.Name][v.Target] = v.Source
		default:
			t.Fatalf("%s: volume %s of type %s is not run here", s.Name, v.Target, v.Type)
		}
	}
}

// run starts the project's services in depends_on order: one-shot services
// (restart "no") to completion, the others until their healthcheck passes.
func (c *composeRun) run() {
	t := c.t
	c.started = map[string]*pod{}
	names := slices.Sorted(slices.Values(c.p.ServiceNames()))
	for _, name := range names {
		s, _ := c.p.GetService(name)
		if slices.Contains(composeInfra, name) {
			continue
		}
		c.listen[name] = map[string]string{}
		for _, v := range s.Environment {
			if v != nil && listenAddr.MatchString(*v) {
				c.listen[name][*v] = testinfra.FreeAddr(t)
			}
		}
	}
	for len(c.started) < len(names)-len(composeInfra) {
		progressed := false
		for _, name := range names {
			if c.started[name] != nil || slices.Contains(composeInfra, name) {
				continue
			}
			s, _ := c.p.GetService(name)
			if !c.depsMet(s) {
				continue
			}
			c.started[name] = c.start(s)
			progressed = true
		}
		if !progressed {
			t.Fatalf("compose: services %v wait on each other", names)
		}
	}
}

// depsMet waits for every dependency's condition; false while one is not started yet.
func (c *composeRun) depsMet(s types.ServiceConfig) bool {
	t := c.t
	for dep, d := range s.DependsOn {
		if slices.Contains(composeInfra, dep) {
			continue // the local infrastructure is up
		}
		p := c.started[dep]
		if p == nil {
			return false
		}
		switch d.Condition {
		case types.ServiceConditionCompletedSuccessfully:
			p.wait(t, "a service depending on it would never start", 3*time.Minute)
		case types.ServiceConditionHealthy:
			ds, _ := c.p.GetService(dep)
			c.waitHealthy(ds, p)
		default:
			t.Fatalf("%s depends on %s with condition %q, which this test does not run", s.Name, dep, d.Condition)
		}
	}
	return true
}

func (c *composeRun) start(s types.ServiceConfig) *pod {
	t := c.t
	bin := c.binary(s)
	c.mount(s)
	if s.Build != nil && filepath.Base(bin) != "isthmus" {
		var decl []corev1.EnvVar
		for k := range s.Environment {
			decl = append(decl, corev1.EnvVar{Name: k})
		}
		checkSettingsKnown(t, s.Name, bin, decl)
	}
	var env []string
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		env = append(env, k+"="+c.mapValue(s.Name, k, *v))
	}
	slices.Sort(env)
	var args []string
	for _, a := range s.Command {
		args = append(args, c.mapValue(s.Name, "command", a))
	}
	grace := 10 * time.Second
	if s.StopGracePeriod != nil {
		grace = time.Duration(*s.StopGracePeriod)
	}
	p := launch(t, "compose-"+s.Name, filepath.Join(t.TempDir(), s.Name), bin, args, env, grace)
	t.Logf("started %s", s.Name)
	return p
}

// binary is the program of the service's image: its PROGRAM build argument for
// Isthmus images, the local Hydra for oryd/hydra.
func (c *composeRun) binary(s types.ServiceConfig) string {
	t := c.t
	name := ""
	switch {
	case s.Build != nil:
		if p := s.Build.Args["PROGRAM"]; p != nil {
			name = *p // the root Dockerfile's image of that program
		}
	case strings.HasPrefix(s.Image, "oryd/hydra:"):
		name = "hydra"
	}
	bin, ok := c.bins[name]
	if !ok {
		t.Fatalf("%s: image %s (build %+v) is built from no binary known here", s.Name, s.Image, s.Build)
	}
	if len(s.Entrypoint) > 0 {
		t.Fatalf("%s: entrypoint %v overrides the image's; map it here first", s.Name, s.Entrypoint)
	}
	return bin
}

func (c *composeRun) mapValue(service, name, v string) string {
	t := c.t
	if addr, ok := c.listen[service][v]; ok {
		return addr
	}
	for target, dir := range c.mounts[service] {
		if v == target || strings.HasPrefix(v, target+"/") {
			return dir + strings.TrimPrefix(v, target)
		}
	}
	if s, _ := c.p.GetService(service); s.Build != nil && strings.HasPrefix(v, "/") {
		t.Fatalf("%s: %s=%s is a path under no volume: the image holds only its binaries", service, name, v)
	}
	if local, ok := c.endpoints[v]; ok {
		return local
	}
	if host, port, err := net.SplitHostPort(v); err == nil {
		// Another compose service's port: its local listener.
		if l, ok := c.listen[host][":"+port]; ok {
			return l
		}
	}
	if h := endpointHost(v); h != "" && h != "localhost" && h != "127.0.0.1" {
		t.Fatalf("%s: %s=%s names %s, which this test does not map", service, name, v, h)
	}
	if host, _, err := net.SplitHostPort(v); err == nil && !strings.ContainsAny(host, ".") && host != "" && host != "localhost" && slices.Contains(c.p.ServiceNames(), host) {
		t.Fatalf("%s: %s=%s names service %s, whose port is not a listen address of it", service, name, v, host)
	}
	return v
}

// waitHealthy runs the service's own healthcheck command until it succeeds:
// `/isthmus healthcheck http://localhost:9464/readyz` with the service's
// admin address.
func (c *composeRun) waitHealthy(s types.ServiceConfig, p *pod) {
	t := c.t
	hc := s.HealthCheck
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		t.Fatalf("%s: healthcheck %v is not a CMD this test runs", s.Name, hc)
	}
	bin := strings.TrimPrefix(hc.Test[1], "/")
	prog, ok := c.bins[bin]
	if !ok {
		t.Fatalf("%s: healthcheck runs %s, which the image does not have", s.Name, hc.Test[1])
	}
	var args []string
	for _, a := range hc.Test[2:] {
		for l, local := range c.listen[s.Name] {
			a = strings.Replace(a, "localhost"+l, local, 1)
		}
		args = append(args, a)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var out []byte
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before becoming healthy: a restart loop; log:\n%s", s.Name, p.err, tail(p.log, 25))
		default:
		}
		var err error
		out, err = exec.Command(prog, args...).CombinedOutput()
		if err == nil {
			t.Logf("%s healthy", s.Name)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not healthy within 2m (healthcheck: %s); log:\n%s", s.Name, out, tail(p.log, 25))
}

// hydraBinary is the Ory Hydra that scripts/infra/hydra.sh built.
func hydraBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HYDRA_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), ".cache", "bin", "hydra")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("hydra binary: %v (scripts/infra/hydra.sh build makes it)", err)
	}
	return bin
}

// deleteHydraClient removes an OAuth2 client from Hydra (absent is fine).
func deleteHydraClient(adminURL, id string) {
	req, _ := http.NewRequest(http.MethodDelete, adminURL+"/admin/clients/"+id, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}
