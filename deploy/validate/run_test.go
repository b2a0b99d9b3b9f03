//go:build deployrun

package validate

// The rendered deployments, run (issue 15). Every chart profile and the
// compose file are turned into real processes: each container's binary
// (built here with go build) started with exactly the rendered command,
// environment and mounted files, against the local real Kafka, schema
// registry, Redis and Ory Hydra. A change that would crash-loop a pod fails
// here: a missing Secret key, a file the binary cannot read, a setting it
// refuses, a probe on a port nothing serves.
//
// What the test changes, and why (a cluster's network, not the release):
//   - Endpoints outside the release (brokers, registry, Redis, identity
//     provider, collector) are replaced by the local ones, whole value for
//     whole value (endpoints below). A value naming a host that is not mapped
//     fails the test.
//   - Listen addresses (":9090") get a free local port each: pods have their
//     own network namespace, processes on one host do not. In-release
//     addresses (<release>-gateway:9090) go through the rendered Service to the
//     pod's port.
//   - Mount paths are rewritten to a temp dir holding the Secret and
//     ConfigMap files, as the kubelet would write them; a read-only mount is
//     a read-only directory. A PersistentVolumeClaim the release expects to
//     exist (existingClaim) is a folder of the test, shared by every pod that
//     mounts it, at the mount's subPath.
//   - Secrets the release expects to exist (existingSecret values) are made
//     here from the local infrastructure's credentials and certificates.
//   - topicPrefix gets a unique run suffix, so runs never share topics or
//     consumer groups with each other or with other tests on the shared broker.
//
// Run it with `make deploy-run` (starts the secured broker and Hydra).

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// localInfra is what the processes reach instead of the cluster's services.
type localInfra struct {
	brokers, registry, redis string            // plain broker, registry and Redis of infra-up
	scram, oauth, mtls       map[string]string // settings of the secured broker's listeners (secure.sh)
	certs                    string            // the secured broker's CA and client certificate
	internal                 *testCA           // a CA for the gateway's TLS, "internal" services
	noCollector              string            // a local port nothing listens on (OTLP collector)
}

func newLocalInfra(t *testing.T) *localInfra {
	t.Helper()
	need := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is unset: run this test with `make deploy-run`", k)
		}
		return v
	}
	dir := need("ISTHMUS_SECURE_DIR")
	in := &localInfra{
		brokers:  need("ISTHMUS_KAFKA_BROKERS"),
		registry: need("ISTHMUS_SCHEMA_REGISTRY_URL"),
		redis:    need("ISTHMUS_REDIS_URL"),
		scram:    readEnvFile(t, filepath.Join(dir, "scram.env")),
		oauth:    readEnvFile(t, filepath.Join(dir, "oauth.env")),
		mtls:     readEnvFile(t, filepath.Join(dir, "mtls.env")),
		certs:    filepath.Join(dir, "certs"),
		internal: newTestCA(t),
	}
	in.noCollector = "http://" + testinfra.FreeAddr(t)
	return in
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("secured infrastructure not up (%v): run `make deploy-run` or `make infra-up-secure`", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env
}

func (in *localInfra) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(in.certs, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hydraJWKS fetches the identity provider's signing keys (a JWKS document).
func (in *localInfra) hydraJWKS(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(in.oauth["ISTHMUS_OAUTH_JWKS_URL"])
	if err != nil {
		t.Fatalf("Hydra JWKS: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Hydra JWKS: HTTP %d", resp.StatusCode)
	}
	return string(b)
}

// hydraClient creates a client-credentials client for one service on the
// local Hydra (audience isthmus-gateway, the given scopes), as a cluster's
// identity provider holds one per service, and deletes it when the test ends.
func (in *localInfra) hydraClient(t *testing.T, service string, scopes ...string) (id, secret string) {
	t.Helper()
	admin := in.oauth["ISTHMUS_OAUTH_ADMIN_URL"]
	if admin == "" {
		t.Fatal("no ISTHMUS_OAUTH_ADMIN_URL in the secured infrastructure's oauth.env")
	}
	id = fmt.Sprintf("run-%s-%d", service, time.Now().UnixNano())
	secret = fmt.Sprintf("secret-%d-%d", os.Getpid(), time.Now().UnixNano())
	body := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_types":["client_credentials"],`+
		`"token_endpoint_auth_method":"client_secret_basic","audience":["isthmus-gateway"],"scope":%q}`,
		id, secret, strings.Join(scopes, " "))
	resp, err := http.Post(admin+"/admin/clients", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("create Hydra client for %s: %v", service, err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create Hydra client for %s: HTTP %d: %s", service, resp.StatusCode, msg)
	}
	t.Cleanup(func() { deleteHydraClient(admin, id) })
	return id, secret
}

// profile is one chart values file with what a cluster would provide for it.
type profile struct {
	file      string
	secrets   map[string]map[string]string // existing Secrets, name -> key -> content
	endpoints map[string]string            // endpoint outside the release -> local endpoint
	claims    map[string]string            // existing PersistentVolumeClaims, name -> local folder
	admin     []kgo.Opt                    // client of the profile's broker (the run's topics are deleted after)
	endToEnd  bool                         // wait for a quote to become an ERP order command
	// dropFolder is legacy-bridge's drop folder as the ERP's file gateway sees
	// it (in claims): the bridge must lay it out and quarantine a bad file.
	dropFolder string
}

func profiles(t *testing.T, in *localInfra) []profile {
	t.Helper()
	hydraIssuer := in.oauth["ISTHMUS_OAUTH_ISSUER"]
	hydraToken := in.oauth["ISTHMUS_OAUTH_TOKEN_URL"]
	hydraJWKS := in.oauth["ISTHMUS_OAUTH_JWKS_URL"]
	clientID, clientSecret := in.oauth["ISTHMUS_OAUTH_CLIENT_ID"], in.oauth["ISTHMUS_OAUTH_CLIENT_SECRET"]
	// field-service has its own client, as in a cluster's identity provider:
	// scope service:read, which the infrastructure's shared client lacks.
	fsID, fsSecret := in.hydraClient(t, "field-service", "service:read")
	gwCert, gwKey := in.internal.issue(t, "isthmus-gateway", true)
	q2oCert, q2oKey := in.internal.issue(t, "quote-to-order", false)
	plainRedis := in.redis
	secured := []kgo.Opt{kgo.SeedBrokers(in.mtls["ISTHMUS_KAFKA_BROKERS"]), kgo.DialTLSConfig(in.clientTLS(t))}
	plain := []kgo.Opt{kgo.SeedBrokers(strings.Split(in.brokers, ",")...)}
	// The endpoints of minimal-values.yaml, which legacy-values.yaml shares.
	minimal := map[string]string{
		"kafka.kafka.svc:9092":                  in.brokers,
		"http://schema-registry.kafka.svc:8081": in.registry,
		"redis://redis.redis.svc:6379/0":        plainRedis,
		"http://keycloak.identity.svc:8080/realms/isthmus/protocol/openid-connect/certs": hydraJWKS,
	}
	erpShare := t.TempDir() // the ERP file gateway's ReadWriteMany share
	return []profile{
		{file: "minimal-values.yaml", admin: plain, endpoints: minimal},
		{
			file:  "production-values.yaml",
			admin: secured,
			secrets: map[string]map[string]string{
				"isthmus-kafka-tls":            {"ca.crt": in.file(t, "ca.pem"), "tls.crt": in.file(t, "client.pem"), "tls.key": in.file(t, "client.key")},
				"isthmus-kafka-sasl":           {"username": in.scram["ISTHMUS_KAFKA_SASL_USER"], "password": in.scram["ISTHMUS_KAFKA_SASL_PASSWORD"]},
				"isthmus-schema-registry":      {"username": "isthmus", "password": "registry-password"},
				"isthmus-internal-ca":          {"ca.crt": in.internal.certPEM},
				"isthmus-redis":                {"url": plainRedis},
				"isthmus-gateway-tls":          {"tls.crt": gwCert, "tls.key": gwKey},
				"isthmus-quote-to-order-oauth": {"client-id": clientID, "client-secret": clientSecret},
				"isthmus-field-service-oauth":  {"client-id": fsID, "client-secret": fsSecret},
				"isthmus-gateway-client":       {"ca.crt": in.internal.certPEM, "tls.crt": q2oCert, "tls.key": q2oKey},
			},
			endpoints: map[string]string{
				"b-1.kafka.internal:9096":                                            in.scram["ISTHMUS_KAFKA_BROKERS"],
				"b-2.kafka.internal:9096":                                            in.scram["ISTHMUS_KAFKA_BROKERS"],
				"b-3.kafka.internal:9096":                                            in.scram["ISTHMUS_KAFKA_BROKERS"],
				"https://schema-registry.internal:8081":                              in.registry,
				"https://auth.internal/realms/isthmus":                               hydraIssuer,
				"https://auth.internal/realms/isthmus/protocol/openid-connect/certs": hydraJWKS,
				"https://auth.internal/realms/isthmus/protocol/openid-connect/token": hydraToken,
				"http://otel-collector.monitoring.svc:4317":                          in.noCollector,
			},
		},
		{
			file: "region-values.yaml",
			secrets: map[string]map[string]string{
				"kafka-eu-west-1-ca":               {"ca.crt": in.file(t, "ca.pem")},
				"isthmus-eu-west-1-kafka":          {"client-id": clientID, "client-secret": clientSecret},
				"isthmus-eu-west-1-registry":       {"user": "isthmus", "pass": "registry-password"},
				"isthmus-eu-west-1-token-keys":     {"jwks.json": in.hydraJWKS(t)},
				"isthmus-eu-west-1-quote-to-order": {"client-id": clientID, "client-secret": clientSecret},
				"isthmus-eu-west-1-field-service":  {"client-id": fsID, "client-secret": fsSecret},
			},
			endpoints: map[string]string{
				"kafka-0.kafka-headless.kafka-eu-west-1.svc:9093":  in.oauth["ISTHMUS_KAFKA_BROKERS"],
				"kafka-1.kafka-headless.kafka-eu-west-1.svc:9093":  in.oauth["ISTHMUS_KAFKA_BROKERS"],
				"https://schema-registry.kafka-eu-west-1.svc:8081": in.registry,
				"rediss://redis-master.redis-eu-west-1.svc:6379/2": strings.TrimSuffix(plainRedis, "/0") + "/2",
				"https://login.eu-west-1.example.com/oauth2/token": hydraToken,
				"https://login.eu-west-1.example.com":              hydraIssuer,
			},
			admin: secured,
			// The erp-simulator of this profile drives CRM and ERP traffic.
			endToEnd: true,
		},
		{
			file:      "legacy-values.yaml",
			admin:     plain,
			endpoints: minimal,
			claims:    map[string]string{"erp-file-gateway": erpShare},
			// The profile's subPath: the folder "isthmus" of the share.
			dropFolder: filepath.Join(erpShare, "isthmus"),
		},
	}
}

// clientTLS is the secured broker's mutual-TLS client configuration.
func (in *localInfra) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(in.file(t, "ca.pem"))) {
		t.Fatal("no CA in the secured broker's ca.pem")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(in.certs, "client.pem"), filepath.Join(in.certs, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func TestRenderedDeploymentsRun(t *testing.T) {
	in := newLocalInfra(t)
	bins := buildBinaries(t)
	run := strconv.FormatInt(time.Now().Unix()%1_000_000, 36)
	for _, p := range profiles(t, in) {
		t.Run(p.file, func(t *testing.T) {
			vals := readValues(t, filepath.Join(chartDir(t), "ci", p.file))
			base, _ := vals["topicPrefix"].(string)
			prefix := fmt.Sprintf("%srun-%s-%s.", base, strings.TrimSuffix(p.file, "-values.yaml"), run)
			vals["topicPrefix"] = prefix
			t.Cleanup(func() { deleteTopics(t, p.admin, prefix) })
			manifest, err := render(t, vals, "isthmus", "isthmus")
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			c := &cluster{t: t, bins: bins, infra: in, secrets: p.secrets, claims: p.claims, endpoints: p.endpoints, namespace: "isthmus"}
			c.load(decodeManifest(t, manifest))
			c.runJobs()
			c.startWorkloads()
			c.waitReady(2 * time.Minute)
			if p.endToEnd {
				waitOrderCommand(t, p.admin, prefix, 3*time.Minute)
			}
			if p.dropFolder != "" {
				waitDropFolderFiled(t, p.dropFolder, false)
			}
		})
	}
}

// cluster runs one rendered release as local processes.
type cluster struct {
	t         *testing.T
	bins      map[string]string
	infra     *localInfra
	secrets   map[string]map[string]string
	claims    map[string]string
	endpoints map[string]string
	namespace string

	configMaps map[string]map[string]string
	services   []*corev1.Service
	jobs       []*batchv1.Job
	workloads  []workload
	ports      map[string]map[int32]string // component -> container port -> local address
	pods       []*pod
}

type pod struct {
	name, component string
	cmd             *exec.Cmd
	log             string
	done            chan struct{}
	err             error
	ready           *corev1.Probe
	ports           map[int32]string
	container       corev1.Container
}

func (c *cluster) load(objs []object) {
	c.configMaps = map[string]map[string]string{}
	c.ports = map[string]map[int32]string{}
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *corev1.ConfigMap:
			c.configMaps[x.Name] = x.Data
		case *corev1.Service:
			c.services = append(c.services, x)
		case *batchv1.Job:
			c.jobs = append(c.jobs, x)
		case *appsv1.Deployment, *appsv1.StatefulSet:
			w, _ := workloadOf(o)
			c.workloads = append(c.workloads, w)
			ports := map[int32]string{}
			for _, ct := range w.template.Spec.Containers {
				for _, p := range ct.Ports {
					ports[p.ContainerPort] = testinfra.FreeAddr(c.t)
				}
			}
			c.ports[w.template.Labels["app.kubernetes.io/component"]] = ports
		}
	}
	slices.SortFunc(c.jobs, func(a, b *batchv1.Job) int {
		wa, _ := strconv.Atoi(a.Annotations["helm.sh/hook-weight"])
		wb, _ := strconv.Atoi(b.Annotations["helm.sh/hook-weight"])
		return wa - wb
	})
}

// runJobs runs the provisioning hooks in weight order; each must succeed.
func (c *cluster) runJobs() {
	t := c.t
	for _, j := range c.jobs {
		p := c.start(j.Name+"-x7k2q", j.Labels["app.kubernetes.io/component"], &j.Spec.Template.Spec, nil)
		p.wait(t, "the release would fail its pre-install hook", 3*time.Minute)
		t.Logf("Job %s completed", j.Name)
	}
}

func (c *cluster) startWorkloads() {
	for _, w := range c.workloads {
		comp := w.template.Labels["app.kubernetes.io/component"]
		name := w.name + "-0" // the StatefulSet's first pod
		if w.kind == "Deployment" {
			name = w.name + "-5d8c7b9f4-q2x9z"
		}
		c.start(name, comp, &w.template.Spec, c.ports[comp])
	}
}

// start launches the pod's (only) container as a process.
func (c *cluster) start(podName, component string, spec *corev1.PodSpec, ports map[int32]string) *pod {
	t := c.t
	t.Helper()
	if len(spec.Containers) != 1 || len(spec.InitContainers) > 0 {
		t.Fatalf("%s: %d containers, %d init containers; this test runs one container per pod", podName, len(spec.Containers), len(spec.InitContainers))
	}
	ct := spec.Containers[0]
	root := filepath.Join(t.TempDir(), podName)
	mounts := c.mount(podName, spec, ct, root)

	env := c.env(podName, ct, mounts, ports)

	bin, args := c.command(podName, ct)
	if ports != nil { // a service (the CLI's verbs do not list every setting)
		checkSettingsKnown(t, podName, bin, ct.Env)
	}
	p := launch(t, podName, root, bin, args, env, time.Duration(gracePeriod(spec))*time.Second)
	p.component, p.ready, p.ports, p.container = component, ct.ReadinessProbe, ports, ct
	c.pods = append(c.pods, p)
	return p
}

// launch starts one process in dir with exactly env, logging to dir/log. At
// the end of the test it is stopped like the kubelet or compose stop a
// container: SIGTERM, then SIGKILL after grace (which fails the test).
func launch(t *testing.T, name, dir, bin string, args, env []string, grace time.Duration) *pod {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &pod{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			t.Errorf("%s did not stop within %s after SIGTERM", name, grace)
		}
	})
	return p
}

// wait waits for a run-to-completion process (a Job, a one-shot compose
// service) and fails the test unless it exits 0.
func (p *pod) wait(t *testing.T, what string, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%s did not finish within %s; log:\n%s", p.name, limit, tail(p.log, 30))
	}
	if p.err != nil {
		t.Fatalf("%s failed (%v): %s; log:\n%s", p.name, p.err, what, tail(p.log, 30))
	}
}

func gracePeriod(spec *corev1.PodSpec) int64 {
	if spec.TerminationGracePeriodSeconds != nil {
		return *spec.TerminationGracePeriodSeconds
	}
	return 30
}

// command maps the container image to the binary built from this repository
// (the images' ENTRYPOINT is the binary) and appends the rendered command/args.
func (c *cluster) command(podName string, ct corev1.Container) (string, []string) {
	t := c.t
	bin, ok := c.bins[imageProgram(ct.Image)]
	if !ok {
		t.Fatalf("%s: image %s is built from no binary of this repository", podName, ct.Image)
	}
	if len(ct.Command) > 0 {
		t.Fatalf("%s: command %v overrides the image's entrypoint; map it here first", podName, ct.Command)
	}
	return bin, ct.Args
}

// mount writes every volume the container mounts under root, as the kubelet
// would, and returns mount path -> local directory. A read-only mount of the
// pod's own volumes is a directory the process cannot write to; a claim is the
// profile's folder for it, at the mount's subPath.
func (c *cluster) mount(podName string, spec *corev1.PodSpec, ct corev1.Container, root string) map[string]string {
	t := c.t
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	out := map[string]string{}
	for _, m := range ct.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Fatalf("%s: volumeMount %s has no volume", podName, m.Name)
		}
		if pvc := v.PersistentVolumeClaim; pvc != nil {
			share, ok := c.claims[pvc.ClaimName]
			if !ok {
				t.Fatalf("%s: PersistentVolumeClaim %s (volume %s) does not exist: the pod would stay Pending", podName, pvc.ClaimName, m.Name)
			}
			if m.ReadOnly || pvc.ReadOnly {
				t.Fatalf("%s: claim %s mounted read-only: a shared folder is not made read-only for one process here", podName, pvc.ClaimName)
			}
			dir := filepath.Join(share, m.SubPath) // the kubelet creates a missing subPath
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			out[m.MountPath] = dir
			continue
		}
		if m.SubPath != "" {
			t.Fatalf("%s: volumeMount %s: subPath on a volume other than a claim is not run here", podName, m.Name)
		}
		dir := filepath.Join(root, "mnt", strings.TrimPrefix(m.MountPath, "/"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out[m.MountPath] = dir
		if m.ReadOnly {
			defer readOnlyDir(t, dir) // once its files are written
		}
		var data map[string]string
		var items []corev1.KeyToPath
		switch {
		case v.EmptyDir != nil:
			continue
		case v.Secret != nil:
			d, ok := c.secrets[v.Secret.SecretName]
			if !ok {
				t.Fatalf("%s: Secret %s (volume %s) does not exist: the pod would stay in ContainerCreating", podName, v.Secret.SecretName, m.Name)
			}
			data, items = d, v.Secret.Items
		case v.ConfigMap != nil:
			d, ok := c.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("%s: ConfigMap %s (volume %s) is neither rendered nor provided", podName, v.ConfigMap.Name, m.Name)
			}
			data, items = d, v.ConfigMap.Items
		default:
			t.Fatalf("%s: volume %s: only emptyDir, Secret and ConfigMap volumes are run here", podName, m.Name)
		}
		if len(items) == 0 {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			val, ok := data[it.Key]
			if !ok {
				t.Fatalf("%s: volume %s: key %q is not in its Secret/ConfigMap: the pod would not start", podName, m.Name, it.Key)
			}
			if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(val), 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// readOnlyDir makes dir read-only for the process, as a read-only mount is,
// and writable again before the test's temp dir is removed.
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
}

// waitDropFolderFiled checks, through the drop folder as the ERP sees it, that
// legacy-bridge works on it: it has laid out its folders, and a malformed file
// the ERP drops into inbound/ ends in quarantine/ with its report. With erp
// (the simulator plays the legacy ERP at the same folder) a malformed request
// file in outbound/ also ends in outbound/rejected/ with its reason.
func waitDropFolderFiled(t *testing.T, dir string, erp bool) {
	t.Helper()
	for _, sub := range []string{"inbound", "outbound", "processed", "quarantine"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err != nil || !st.IsDir() {
			t.Fatalf("drop folder %s: legacy-bridge did not lay out %s/ (%v)", dir, sub, err)
		}
	}
	drop := func(sub, name string) {
		// Written under a dot name and renamed, as both sides do.
		tmp := filepath.Join(dir, sub, "."+name)
		if err := os.WriteFile(tmp, []byte("not a batch file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, sub, name)); err != nil {
			t.Fatal(err)
		}
	}
	name := fmt.Sprintf("CUSTMAS_run-%d.csv", time.Now().UnixNano())
	drop("inbound", name)
	want := map[string]string{filepath.Join(dir, "quarantine", name+".report.json"): `"reason": "missing_header"`}
	if erp {
		req := fmt.Sprintf("CUSTREQ_run-%d.csv", time.Now().UnixNano())
		drop("outbound", req)
		want[filepath.Join(dir, "outbound", "rejected", req+".reason.txt")] = "reason: missing_header"
	}
	// The refused file itself leaves inbound/ for quarantine/ once reported.
	want[filepath.Join(dir, "quarantine", name)] = "not a batch file"
	deadline := time.Now().Add(time.Minute)
	for path, content := range want {
		for {
			b, err := os.ReadFile(path)
			if err == nil && strings.Contains(string(b), content) {
				t.Logf("drop folder: %s", strings.TrimPrefix(path, dir+"/"))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("drop folder %s: no %s with %q within a minute (%v, %q)", dir, path, content, err, b)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "inbound", name)); !os.IsNotExist(err) {
		t.Errorf("drop folder: %s is in quarantine/ and still in inbound/ (%v)", name, err)
	}
}

var listenAddr = regexp.MustCompile(`^:(\d+)$`)

// env resolves the container's environment: literal values, Secret and
// ConfigMap keys, the downward API; then maps endpoints, listen addresses,
// in-release Service addresses and mount paths. Nothing of the test's own
// environment leaks in.
func (c *cluster) env(podName string, ct corev1.Container, mounts map[string]string, ports map[int32]string) []string {
	t := c.t
	var out []string
	for _, e := range ct.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.SecretKeyRef != nil:
				s, ok := c.secrets[f.SecretKeyRef.Name]
				if !ok {
					t.Fatalf("%s: %s: Secret %s does not exist: CreateContainerConfigError", podName, e.Name, f.SecretKeyRef.Name)
				}
				if v, ok = s[f.SecretKeyRef.Key]; !ok {
					t.Fatalf("%s: %s: Secret %s has no key %q: CreateContainerConfigError", podName, e.Name, f.SecretKeyRef.Name, f.SecretKeyRef.Key)
				}
			case f.ConfigMapKeyRef != nil:
				cm, ok := c.configMaps[f.ConfigMapKeyRef.Name]
				if !ok {
					t.Fatalf("%s: %s: ConfigMap %s is not rendered", podName, e.Name, f.ConfigMapKeyRef.Name)
				}
				if v, ok = cm[f.ConfigMapKeyRef.Key]; !ok {
					t.Fatalf("%s: %s: ConfigMap %s has no key %q", podName, e.Name, f.ConfigMapKeyRef.Name, f.ConfigMapKeyRef.Key)
				}
			case f.FieldRef != nil:
				switch f.FieldRef.FieldPath {
				case "metadata.name":
					v = podName
				case "metadata.namespace":
					v = c.namespace
				default:
					t.Fatalf("%s: %s: fieldRef %s is not run here", podName, e.Name, f.FieldRef.FieldPath)
				}
			default:
				t.Fatalf("%s: %s: unsupported valueFrom %+v", podName, e.Name, f)
			}
		}
		out = append(out, e.Name+"="+c.mapValue(podName, e.Name, v, mounts, ports))
	}
	return out
}

func (c *cluster) mapValue(podName, name, v string, mounts map[string]string, ports map[int32]string) string {
	t := c.t
	if m := listenAddr.FindStringSubmatch(v); m != nil {
		port, _ := strconv.Atoi(m[1])
		if ports == nil { // a Job: no Service reaches it, but it must not collide
			return testinfra.FreeAddr(t)
		}
		addr, ok := ports[int32(port)]
		if !ok {
			t.Fatalf("%s: %s=%s listens on a port the container does not declare", podName, name, v)
		}
		return addr
	}
	for mp, dir := range mounts {
		if v == mp || strings.HasPrefix(v, mp+"/") {
			return dir + strings.TrimPrefix(v, mp)
		}
	}
	if strings.HasPrefix(v, "/") {
		t.Fatalf("%s: %s=%s is a path under no volume mount: the binary cannot read it (read-only root file system)", podName, name, v)
	}
	if local, ok := c.endpoints[v]; ok {
		return local
	}
	if strings.Contains(v, ",") {
		parts := strings.Split(v, ",")
		for i, p := range parts {
			parts[i] = c.mapValue(podName, name, p, mounts, ports)
		}
		return strings.Join(parts, ",")
	}
	if addr, ok := c.serviceAddr(v); ok {
		return addr
	}
	if host := endpointHost(v); host != "" && host != "127.0.0.1" && host != "localhost" {
		t.Fatalf("%s: %s=%s names %s, an endpoint this test does not map to local infrastructure (add it to the profile)", podName, name, v, host)
	}
	return v
}

// endpointHost returns the host of a URL or host:port value, or "".
func endpointHost(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Hostname()
	}
	if h, p, err := net.SplitHostPort(v); err == nil && h != "" {
		if _, err := strconv.Atoi(p); err == nil && strings.ContainsAny(h, ".-") {
			return h
		}
	}
	return ""
}

// serviceAddr resolves <service>[.<namespace>[.svc[.cluster.local]]]:<port>
// through the rendered Service to the local address of its pod's port.
func (c *cluster) serviceAddr(v string) (string, bool) {
	host, portStr, err := net.SplitHostPort(v)
	if err != nil {
		return "", false
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", false
	}
	name, rest, _ := strings.Cut(host, ".")
	if rest != "" && rest != c.namespace && rest != c.namespace+".svc" && rest != c.namespace+".svc.cluster.local" {
		return "", false
	}
	for _, s := range c.services {
		if s.Name != name {
			continue
		}
		for _, sp := range s.Spec.Ports {
			if sp.Port != int32(port) {
				continue
			}
			comp := s.Spec.Selector["app.kubernetes.io/component"]
			target := c.targetPort(comp, sp.TargetPort)
			if addr, ok := c.ports[comp][target]; ok {
				return addr, true
			}
			c.t.Fatalf("Service %s port %d targets %s, which no container of %s declares", s.Name, port, sp.TargetPort.String(), comp)
		}
		c.t.Fatalf("%s: Service %s has no port %d", v, s.Name, port)
	}
	return "", false
}

func (c *cluster) targetPort(comp string, tp intstr.IntOrString) int32 {
	if tp.Type == intstr.Int {
		return tp.IntVal
	}
	for _, w := range c.workloads {
		if w.template.Labels["app.kubernetes.io/component"] != comp {
			continue
		}
		for _, ct := range w.template.Spec.Containers {
			for _, p := range ct.Ports {
				if p.Name == tp.StrVal {
					return p.ContainerPort
				}
			}
		}
	}
	return -1
}

// waitReady polls every pod's rendered readiness probe until it answers 200.
// A process that exits first is a pod that would crash-loop.
func (c *cluster) waitReady(limit time.Duration) {
	t := c.t
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for _, p := range c.pods {
		if p.ready == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.waitReady(deadline); err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %v; log:\n%s", p.name, err, tail(p.log, 25)))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("not every pod became ready:\n%s", strings.Join(failures, "\n\n"))
	}
	t.Logf("%d pods ready", len(c.pods)-len(c.jobs))
}

func (p *pod) waitReady(deadline time.Time) error {
	h := p.ready.HTTPGet
	if h == nil {
		return fmt.Errorf("readiness probe is not an HTTP GET")
	}
	port := h.Port.IntVal
	if h.Port.Type == intstr.String {
		port = -1
		for _, cp := range p.container.Ports {
			if cp.Name == h.Port.StrVal {
				port = cp.ContainerPort
			}
		}
	}
	addr, ok := p.ports[port]
	if !ok {
		return fmt.Errorf("readiness probe on port %s, which the container does not declare", h.Port.String())
	}
	cl := &http.Client{Timeout: 3 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited (%v) before becoming ready: CrashLoopBackOff", p.err)
		default:
		}
		resp, err := cl.Get("http://" + addr + h.Path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready in time (last: %s)", h.Path, last)
}

// waitOrderCommand waits until quote-to-order has turned a quote into an ERP
// order command: a committed record on <prefix>erp.order-commands.v1.
func waitOrderCommand(t *testing.T, opts []kgo.Opt, prefix string, limit time.Duration) {
	t.Helper()
	topic := prefix + "erp.order-commands.v1"
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		var got *kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			if got == nil {
				got = r
			}
		})
		if got != nil {
			t.Logf("order command for %s on %s (partition %d, offset %d)", got.Key, topic, got.Partition, got.Offset)
			return
		}
	}
	t.Fatalf("no ERP order command on %s within %s: no quote went through quote-to-order", topic, limit)
}

// deleteTopics removes the run's topics from a broker.
func deleteTopics(t *testing.T, opts []kgo.Opt, prefix string) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return
	}
	var mine []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, prefix) {
			mine = append(mine, name)
		}
	}
	if len(mine) > 0 {
		if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
			t.Logf("delete %d topics of %s: %v", len(mine), prefix, err)
		}
	}
}

// buildBinaries builds every service and the CLI into a temp dir.
func buildBinaries(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	out := map[string]string{}
	pkgs := map[string]string{"isthmus": "./cmd/isthmus"}
	for _, s := range services {
		pkgs[s] = "./services/" + s
	}
	args := []string{"build", "-o", dir + "/"}
	for _, p := range pkgs {
		args = append(args, p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	for name, p := range pkgs {
		out[name] = filepath.Join(dir, filepath.Base(p))
	}
	return out
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testCA is a CA for the release's "internal" certificates: the gateway's
// server certificate and quote-to-order's client certificate.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "isthmus internal test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a certificate and key signed by the CA: a server certificate
// for name (and 127.0.0.1, where the test serves it), or a client certificate.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{name, "localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

var (
	settingName  = regexp.MustCompile(`\((ISTHMUS_[A-Z0-9_]+)\)`)
	settingsMu   sync.Mutex
	settingsSeen = map[string]map[string]bool{}
)

// checkSettingsKnown fails when the rendered environment sets an ISTHMUS_*
// variable the binary does not read (its --help lists every setting): a
// misspelt setting would otherwise be ignored in silence.
// ISTHMUS_INSTANCE_STABLE is new (issue 13): a binary without it ignores it.
func checkSettingsKnown(t *testing.T, who, bin string, env []corev1.EnvVar) {
	t.Helper()
	settingsMu.Lock()
	known, ok := settingsSeen[bin]
	if !ok {
		out, _ := exec.Command(bin, "--help").CombinedOutput()
		known = map[string]bool{}
		for _, m := range settingName.FindAllStringSubmatch(string(out), -1) {
			known[m[1]] = true
		}
		settingsSeen[bin] = known
	}
	settingsMu.Unlock()
	if len(known) == 0 {
		t.Fatalf("%s: %s --help lists no setting", who, bin)
	}
	for _, e := range env {
		if !strings.HasPrefix(e.Name, "ISTHMUS_") || known[e.Name] {
			continue
		}
		if e.Name == "ISTHMUS_INSTANCE_STABLE" {
			t.Logf("%s: %s does not read ISTHMUS_INSTANCE_STABLE yet", who, filepath.Base(bin))
			continue
		}
		t.Errorf("%s: %s is set, but %s has no such setting", who, e.Name, filepath.Base(bin))
	}
}
