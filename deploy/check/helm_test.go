package check

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

var chart = filepath.Join(root, "deploy", "helm", "oktafed-gateway")

// program finds a program the checks run: under CI=true a missing one
// fails (scripts/test installs it), elsewhere the test skips and says how
// to get it.
func program(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " not found in PATH; scripts/test installs it into .cache/bin"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

const release, namespace = "gw", "edge"

// render lints the chart as helm lint --strict does and renders it as
// helm template does, with a values file ("" for the chart's defaults),
// and decodes the result strictly.
func render(t *testing.T, values string) Manifests {
	t.Helper()
	file := ""
	if values != "" {
		file = filepath.Join("testdata", "values", values)
	}
	vals, err := ReadValues(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := LintChart(chart, namespace, vals); err != nil {
		t.Fatalf("helm lint --strict: %v", err)
	}
	out, err := RenderChart(chart, release, namespace, vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	m, err := DecodeManifests(out)
	if err != nil {
		t.Fatalf("rendered manifests: %v", err)
	}
	return m
}

func get[T any](t *testing.T, m Manifests, kind, name string) T {
	t.Helper()
	o, ok := m[Key(kind, name)]
	if !ok {
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Fatalf("%s/%s not rendered; have %v", kind, name, keys)
	}
	return o.(T)
}

const full = "gw-oktafed-gateway"

// checkCommon holds every rendering to the rules that do not depend on
// the values: probes, security context, selectors that select, secrets
// only in Secrets.
func checkCommon(t *testing.T, m Manifests) *appsv1.Deployment {
	t.Helper()
	d := get[*appsv1.Deployment](t, m, "Deployment", full)
	pod := d.Spec.Template
	sel, err := metav1LabelSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("Deployment selector %v does not select its pods %v (%v)", d.Spec.Selector, pod.Labels, err)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || ports[p.HTTPGet.Port.String()] == 0 {
			t.Errorf("%s probe %+v: want HTTP GET %s on a declared port (%v)", name, p, path, ports)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	// Probes go to the admin listener, which the proxy port never serves.
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.String() != "admin" {
			t.Errorf("probe on port %s, want the admin port", p.HTTPGet.Port.String())
		}
	}
	var listen string
	for _, e := range c.Env {
		if e.Name == "GATEWAY_LISTEN" {
			listen = e.Value
		}
		if e.Name == "GATEWAY_ADMIN_LISTEN" && e.Value != ":"+itoa(ports["admin"]) {
			t.Errorf("GATEWAY_ADMIN_LISTEN=%q, want the admin port %d", e.Value, ports["admin"])
		}
		if e.Name == "REDIS_URL" && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("REDIS_URL is not taken from a Secret: %+v", e)
		}
	}
	if want := ":" + itoa(ports["http"]); listen != want {
		t.Errorf("GATEWAY_LISTEN=%q, want %q (the http port)", listen, want)
	}
	if !slices.Contains(c.Args, "--config=/etc/oktafed-gateway/config/gateway.yaml") {
		t.Errorf("args %q do not name the mounted config", c.Args)
	}
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token; the gateway never calls the API")
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 25 {
		t.Errorf("terminationGracePeriodSeconds %v: must cover the 5s drain and the 15s shutdown", g)
	}

	svc := get[*corev1.Service](t, m, "Service", full)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v: want one targeting http", svc.Spec.Ports)
	}

	// Every volume mounted, every Secret key the volumes name exists.
	mounted := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		mounted[vm.Name] = true
		if !vm.ReadOnly {
			t.Errorf("volume %s mounted writable", vm.Name)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if !mounted[v.Name] {
			t.Errorf("volume %s is not mounted", v.Name)
		}
		if v.ConfigMap != nil {
			cm := get[*corev1.ConfigMap](t, m, "ConfigMap", v.ConfigMap.Name)
			if _, ok := cm.Data["gateway.yaml"]; !ok {
				t.Errorf("ConfigMap %s has no gateway.yaml", cm.Name)
			}
		}
		if v.Secret != nil && v.Secret.SecretName == full {
			s := get[*corev1.Secret](t, m, "Secret", full)
			for _, it := range v.Secret.Items {
				if _, ok := s.Data[it.Key]; !ok {
					t.Errorf("volume %s names key %s, not in the Secret", v.Name, it.Key)
				}
			}
		}
	}
	return d
}

func itoa(i int32) string { b, _ := json.Marshal(i); return string(b) }

func TestChartDefaults(t *testing.T) {
	m := render(t, "")
	d := checkCommon(t, m)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	pdb := get[*policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", full)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB %+v: want maxUnavailable 1", pdb.Spec)
	}
	sel, _ := metav1LabelSelector(pdb.Spec.Selector)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("the PodDisruptionBudget does not select the pods")
	}
	for _, k := range []string{"Secret", "HorizontalPodAutoscaler", "ServiceMonitor", "Ingress"} {
		if _, ok := m[Key(k, full)]; ok {
			t.Errorf("%s rendered by default", k)
		}
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "REDIS_URL" {
			t.Error("REDIS_URL set without Redis configured")
		}
	}
	checkGatewayAccepts(t, m, nil)
}

func TestChartFull(t *testing.T) {
	m := render(t, "full.yaml")
	d := checkCommon(t, m)
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %d set while the autoscaler owns them", *d.Spec.Replicas)
	}
	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler", full)
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Name ||
		*hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 12 || len(hpa.Spec.Metrics) != 2 {
		t.Errorf("HPA %+v", hpa.Spec)
	}
	pdb := get[*policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", full)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB %+v: want minAvailable 2 only", pdb.Spec)
	}
	sm := get[*ServiceMonitor](t, m, "ServiceMonitor", full)
	svc := get[*corev1.Service](t, m, "Service", full)
	smSel, _ := metav1LabelSelector(&sm.Spec.Selector)
	admin := get[*corev1.Service](t, m, "Service", full+"-admin")
	if smSel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor selects the Service the Ingress targets (%v); it must scrape the admin Service only", svc.Labels)
	}
	if len(admin.Spec.Ports) != 1 || admin.Spec.Ports[0].TargetPort.String() != "admin" || admin.Spec.Type != corev1.ServiceTypeClusterIP ||
		!labels.SelectorFromSet(admin.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("admin Service %+v: want one ClusterIP port targeting admin, selecting the pods", admin.Spec)
	}
	if !smSel.Matches(labels.Set(admin.Labels)) || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" ||
		sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != "15s" || sm.Labels["release"] != "prometheus" ||
		!slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
		t.Errorf("ServiceMonitor %+v does not scrape the Service's /metrics", sm)
	}
	ing := get[*networkingv1.Ingress](t, m, "Ingress", full)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.Rules) != 1 ||
		ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != svc.Name || ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name != "http" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "orders-tls" {
		t.Errorf("Ingress %+v", ing.Spec)
	}

	// The Redis password and the introspection secret are in the Secret
	// only, and the URL the gateway gets gives them back exactly.
	const password, introSecret = "p@ss:w/rd #1+2 %", "intro-s3cret"
	s := get[*corev1.Secret](t, m, "Secret", full)
	u, err := url.Parse(string(s.Data["redis-url"]))
	if err != nil {
		t.Fatalf("redis-url: %v", err)
	}
	if pw, _ := u.User.Password(); u.Scheme != "rediss" || u.User.Username() != "gateway" || pw != password ||
		u.Host != "redis-master.redis.svc:6380" || u.Path != "/2" {
		t.Errorf("redis-url %s: user %q password ok %t", u.Redacted(), u.User.Username(), pw == password)
	}
	if string(s.Data["introspection-corp"]) != introSecret {
		t.Errorf("introspection-corp = %q", s.Data["introspection-corp"])
	}
	for k, o := range m {
		if strings.HasPrefix(k, "Secret/") {
			continue
		}
		b, _ := json.Marshal(o)
		for _, secret := range []string{"p@ss", url.QueryEscape(password), introSecret} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s contains a secret", k)
			}
		}
	}
	cm := get[*corev1.ConfigMap](t, m, "ConfigMap", full)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["gateway.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if r, _ := cfg["redis"].(map[string]any); r["on_failure"] != "open" || r["prefix"] != "shop:gateway:" || r["max_stale"] != "2m" || r["url"] != nil {
		t.Errorf("config redis %v", r)
	}
	// The secret files where the config says the issuer finds them.
	var secrets *corev1.Volume
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "secrets" {
			secrets = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if secrets == nil || secrets.Secret == nil || len(secrets.Secret.Items) != 1 || secrets.Secret.Items[0].Path != "corp" {
		t.Fatalf("secrets volume %+v", secrets)
	}
	checkGatewayAccepts(t, m, map[string][]byte{"corp": s.Data["introspection-corp"]})
	// Configuration changes are reloaded in place (reload.watchInterval);
	// secrets, read at start, roll the pods.
	if ann := d.Spec.Template.Annotations; ann["checksum/config"] != "" || ann["checksum/secret"] == "" {
		t.Errorf("pod annotations %v: want a secret checksum only (the config is reloaded)", ann)
	}
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--watch-config=10s") {
		t.Errorf("args %q: want --watch-config=10s", d.Spec.Template.Spec.Containers[0].Args)
	}
}

func TestChartExistingSecrets(t *testing.T) {
	m := render(t, "existing-secrets.yaml")
	d := checkCommon(t, m)
	if _, ok := m[Key("Secret", full)]; ok {
		t.Error("the chart renders a Secret although both secrets are external")
	}
	if _, ok := m[Key("ServiceAccount", "gateway")]; ok {
		t.Error("a ServiceAccount rendered with serviceAccount.create=false")
	}
	if _, ok := m[Key("PodDisruptionBudget", full)]; ok {
		t.Error("PDB rendered while disabled")
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != "gateway" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range pod.Containers[0].Env {
		if e.Name == "REDIS_URL" {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != "shop-redis" || ref.Key != "url" {
		t.Errorf("REDIS_URL from %+v, want shop-redis/url", ref)
	}
	var found bool
	for _, v := range pod.Volumes {
		if v.Name == "secrets" && v.Secret != nil && v.Secret.SecretName == "shop-introspection" && len(v.Secret.Items) == 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("volumes %+v: want the whole shop-introspection Secret mounted", pod.Volumes)
	}
}

// TestChartRefusesBadValues: values.schema.json (helm template and helm
// lint --strict alike) turns away what would
// leak a secret, run as root or break the gateway, before anything is
// rendered.
func TestChartRefusesBadValues(t *testing.T) {
	bad, err := filepath.Glob(filepath.Join("testdata", "values", "bad", "*.yaml"))
	if err != nil || len(bad) == 0 {
		t.Fatalf("no bad values files: %v", err)
	}
	// Where in the values each file must be refused.
	at := map[string]string{
		"config-listen.yaml": "at '/config/listen'", "config-redis-url.yaml": "at '/config/redis/url'", "env-redis-url.yaml": "at '/extraEnv/0/name'",
		"failure-mode.yaml": "at '/redis/failureMode'", "ingress-path-type.yaml": "at '/ingress/hosts/0/paths/0/pathType'",
		"inline-client-secret.yaml": "at '/config/issuers/0/client_secret'", "interval-number.yaml": "at '/serviceMonitor/interval'",
		"misspelt-key.yaml": "'replicas' not allowed", "redis-host-url.yaml": "at '/redis/host'",
		"run-as-root.yaml": "at '/securityContext/runAsNonRoot'", "uid-zero.yaml": "at '/podSecurityContext/runAsUser'",
		"upstream-no-scheme.yaml": "at '/config/upstream'",
		// Secret-bearing keys of config: refused, naming the value to use.
		"config-redis-password.yaml":    "at '/config/redis/password': value must be '(refused in config: secret: use redis.password or redis.existingSecret",
		"config-sentinel-password.yaml": "at '/config/redis/sentinel_password': value must be '(refused in config: secret: use redis.sentinel.existingSecret",
		"config-private-key-pem.yaml":   "at '/config/issuers/0/private_key_pem': value must be '(refused in config: secret: mount the key from a Secret with extraVolumes",
		// Misspelt keys of config, which the pod would crash-loop on,
		// and the retired issuer sections.
		"config-retired-okta.yaml":       "at '/config': additional properties 'okta' not allowed",
		"config-misspelt-redis-key.yaml": "at '/config/redis': additional properties 'mastr_name' not allowed",
		"config-misspelt-route-key.yaml": "at '/config/routes/0': additional properties 'role' not allowed",
		// The Prometheus Operator CRD's duration format.
		"interval-fraction.yaml":  "at '/serviceMonitor/interval'",
		"env-literal-secret.yaml": "at '/extraEnv/0'", "mount-writable.yaml": "at '/extraVolumeMounts/0/readOnly'",
		"volume-hostpath.yaml": "at '/extraVolumes/0/hostPath'", "redis-host-and-cluster.yaml": "at '/redis'",
	}
	for _, f := range bad {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, ok := at[filepath.Base(f)]
			if !ok {
				t.Fatal("add this file to the table above with where it must be refused")
			}
			vals, err := ReadValues(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := RenderChart(chart, release, namespace, vals)
			if err == nil {
				t.Fatalf("helm template accepted %s:\n%s", f, out)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), want) {
				t.Errorf("refused, but not by the values schema %s: %v", want, err)
			}
			if err := LintChart(chart, namespace, vals); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("helm lint --strict: %v, want a refusal %s", err, want)
			}
		})
	}
}

// TestDecodeManifestsStrict: the decoder itself refuses what the API
// server's strict validation refuses, so a chart typo cannot pass.
func TestDecodeManifestsStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field":  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n",
		"misplaced field": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  selector: {a: b}\n",
		"wrong type":      "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports: 80\n",
		"duplicate key":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n  a: c\n",
		"unknown kind":    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n",
		"monitor typo":    "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: x\nspec:\n  endpoints:\n    - port: http\n      intervall: 5s\n",
		"no name":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
		"twice":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	} {
		if _, err := DecodeManifests([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	m, err := DecodeManifests([]byte("---\n# Source: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"))
	if err != nil || len(m) != 1 {
		t.Errorf("empty documents: %v %v", m, err)
	}
}

var (
	gatewayOnce sync.Once
	gatewayPath string
	gatewayErr  error
)

// checkGatewayAccepts runs `oktafed-gateway --check` on the rendered
// ConfigMap's gateway.yaml, with the Secret's files where the pod mounts
// them, so a chart value the gateway refuses fails here and not in a pod.
func checkGatewayAccepts(t *testing.T, m Manifests, secretFiles map[string][]byte) {
	t.Helper()
	program(t, "go")
	gatewayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "oktafed-gateway-check")
		if err != nil {
			gatewayErr = err
			return
		}
		gatewayPath = filepath.Join(dir, "oktafed-gateway")
		// Built as the release builds it (-trimpath, no cgo), so the
		// compilation is shared with the release snapshot.
		cmd := exec.Command("go", "build", "-trimpath", "-o", gatewayPath, "./cmd/oktafed-gateway")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			gatewayErr = err
			t.Logf("%s", out)
		}
	})
	if gatewayErr != nil {
		t.Fatalf("building oktafed-gateway: %v", gatewayErr)
	}
	cm := get[*corev1.ConfigMap](t, m, "ConfigMap", full)
	dir := t.TempDir()
	cfg := cm.Data["gateway.yaml"]
	if secretFiles != nil {
		sdir := filepath.Join(dir, "secrets")
		if err := os.Mkdir(sdir, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, b := range secretFiles {
			if err := os.WriteFile(filepath.Join(sdir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg = strings.ReplaceAll(cfg, "/etc/oktafed-gateway/secrets/", sdir+"/")
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gatewayPath, "--config", path, "--check", "--output", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("oktafed-gateway --check refuses the chart's configuration: %v\n%s\n%s", err, out, cfg)
	}
}

// TestChartRedisSentinelTLS: Sentinel, a private CA and a client
// certificate through first-class values, with an extra volume: the
// gateway gets them as files and variables, the passwords only from
// Secrets.
func TestChartRedisSentinelTLS(t *testing.T) {
	m := render(t, "redis-sentinel.yaml")
	d := checkCommon(t, m)
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for name, want := range map[string]string{
		"REDIS_ADDRS": "s1.redis.svc:26379,s2.redis.svc:26379", "REDIS_MASTER_NAME": "mymaster", "REDIS_TLS": "true",
		"REDIS_USERNAME": "gateway", "REDIS_CA_FILE": "/etc/oktafed-gateway/redis-ca/ca.pem",
		"REDIS_CERT_FILE": "/etc/oktafed-gateway/redis-client-cert/tls.crt", "REDIS_KEY_FILE": "/etc/oktafed-gateway/redis-client-cert/tls.key",
	} {
		if env[name].Value != want {
			t.Errorf("%s=%q, want %q", name, env[name].Value, want)
		}
	}
	for name, secret := range map[string]string{"REDIS_PASSWORD": full, "REDIS_SENTINEL_PASSWORD": "sentinel-auth"} {
		e := env[name]
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret {
			t.Errorf("%s: %+v, want it from Secret %s", name, e, secret)
		}
	}
	if _, ok := env["REDIS_URL"]; ok {
		t.Error("REDIS_URL set for a Sentinel deployment")
	}
	s := get[*corev1.Secret](t, m, "Secret", full)
	if string(s.Data["redis-password"]) != "redis-pass" {
		t.Errorf("redis-password in the Secret: %q", s.Data["redis-password"])
	}
	vols := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if v := vols["redis-ca"]; v.Secret == nil || v.Secret.SecretName != "redis-ca" {
		t.Errorf("redis-ca volume %+v", v)
	}
	if v := vols["redis-client-cert"]; v.Secret == nil || v.Secret.SecretName != "gateway-redis-cert" {
		t.Errorf("redis-client-cert volume %+v", v)
	}
	if v := vols["signing-key"]; v.Secret == nil || v.Secret.SecretName != "issuer-key" {
		t.Errorf("extra volume %+v", v)
	}
	cm := get[*corev1.ConfigMap](t, m, "ConfigMap", full)
	if strings.Contains(cm.Data["gateway.yaml"], "redis-pass") || strings.Contains(cm.Data["gateway.yaml"], "sentinel") {
		t.Errorf("the ConfigMap carries Redis credentials or settings:\n%s", cm.Data["gateway.yaml"])
	}
}
