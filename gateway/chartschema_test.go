package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
)

// The Helm chart's values.schema.json checks `config` (the gateway's YAML
// file, rendered into a ConfigMap) with a schema generated here from the
// configuration types' yaml tags, so a misspelt key fails `helm lint`
// instead of crash-looping the pod, and secret-bearing keys are refused
// with the value to use instead. TestChartConfigSchema fails when the
// committed schema and the types differ; regenerate it with
//
//	UPDATE_CHART_SCHEMA=1 go test ./gateway/ -run TestChartConfigSchema

var chartSchema = filepath.Join("..", "deploy", "helm", "oktafed-gateway", "values.schema.json")

// chartRefused are the keys of `config` a chart user must not set, with
// the chart value that replaces each. Secret-bearing keys end up in a
// ConfigMap, readable by anyone who can read the namespace's ConfigMaps.
var chartRefused = map[string]string{
	"listen":                    "the chart sets it from containerPort",
	"redis.url":                 "use redis.host (the chart's Secret) or redis.existingSecret; a URL can carry a password",
	"redis.password":            "secret: use redis.password or redis.existingSecret (a Secret), not config.redis.password",
	"redis.sentinel_password":   "secret: use redis.sentinel.existingSecret (a Secret), not config.redis.sentinel_password",
	"redis.key_file":            "use redis.clientCertSecret (a kubernetes.io/tls Secret the chart mounts), not config.redis.key_file",
	"redis.ca_file":             "use redis.caSecret (a Secret the chart mounts), not config.redis.ca_file",
	"redis.cert_file":           "use redis.clientCertSecret (a kubernetes.io/tls Secret the chart mounts), not config.redis.cert_file",
	"redis.addrs":               "use redis.cluster.addrs or redis.sentinel.addrs",
	"redis.cluster":             "use redis.cluster.addrs",
	"redis.master_name":         "use redis.sentinel.masterName",
	"redis.username":            "use redis.username",
	"redis.sentinel_username":   "use redis.sentinel.username",
	"redis.tls":                 "use redis.tls",
	"issuers[].client_secret":   "secret: use introspection.clientSecrets and client_secret_file: /etc/oktafed-gateway/secrets/<name>",
	"issuers[].private_key_pem": "secret: mount the key from a Secret with extraVolumes and set private_key_file",
}

// chartExtra are constraints beyond the types', checked by the gateway at
// start and worth refusing at lint time.
var chartExtra = map[string]map[string]any{
	"upstream":          {"pattern": "^(https?|h2c)://"},
	"routes[].upstream": {"pattern": "^(https?|h2c)://"},
}

// looksSecret matches keys that hold a secret: every such key must be in
// chartRefused with a replacement, so a new one cannot slip into the
// ConfigMap unnoticed.
func looksSecret(key string) bool {
	k := key[strings.LastIndex(key, ".")+1:]
	if strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_id") {
		return false
	}
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "private_key")
}

// schemaFor builds the JSON schema of a type as gateway.ParseConfig reads
// it (strictly: no unknown keys). path names the key for chartRefused.
func schemaFor(t *testing.T, typ reflect.Type, path string) map[string]any {
	t.Helper()
	if typ == reflect.TypeOf(time.Duration(0)) {
		return map[string]any{"type": "string", "pattern": `^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`}
	}
	switch typ.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaFor(t, typ.Elem(), path+"[]")}
	case reflect.Pointer:
		return schemaFor(t, typ.Elem(), path)
	case reflect.Struct:
		props := map[string]any{}
		addFields(t, typ, path, props)
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	}
	t.Fatalf("%s: no schema for %s; teach schemaFor this kind", path, typ)
	return nil
}

func addFields(t *testing.T, typ reflect.Type, path string, props map[string]any) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, _ := strings.CutSuffix(f.Tag.Get("yaml"), ",omitempty")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") || (f.Anonymous && name == "") {
			addFields(t, f.Type, path, props)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // the yaml package's default
		}
		key := name
		if path != "" {
			key = path + "." + name
		}
		if why, ok := chartRefused[key]; ok && why != "" {
			// "not": {} refuses any value; the description names the
			// replacement, and the enum makes helm print it in its error.
			props[name] = map[string]any{"description": "refused in config: " + why, "enum": []any{"(refused in config: " + why + ")"}}
			continue
		}
		if looksSecret(key) {
			t.Errorf("config key %s looks secret-bearing: add it to chartRefused with the chart value to use instead", key)
		}
		props[name] = schemaFor(t, f.Type, key)
		for k, v := range chartExtra[key] {
			props[name].(map[string]any)[k] = v
		}
	}
}

func generatedConfigSchema(t *testing.T) map[string]any {
	s := schemaFor(t, reflect.TypeOf(gateway.Config{}), "")
	s["description"] = "The gateway's YAML configuration (oktafed-gateway --config), generated from the gateway's configuration types by gateway.TestChartConfigSchema: unknown keys and secret-bearing keys are refused."
	return s
}

func TestChartConfigSchema(t *testing.T) {
	raw, err := os.ReadFile(chartSchema)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("%s: %v", chartSchema, err)
	}
	props := schema["properties"].(map[string]any)
	want := generatedConfigSchema(t)
	// Refused keys that the generator did not meet are stale entries.
	for key, why := range chartRefused {
		if why == "" {
			continue
		}
		if !strings.Contains(fmt.Sprint(want), "refused in config: "+why) {
			t.Errorf("chartRefused names %s, which the configuration types do not have", key)
		}
	}
	if os.Getenv("UPDATE_CHART_SCHEMA") == "1" {
		props["config"] = want
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(schema); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(chartSchema, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, _ := json.Marshal(props["config"])
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) {
		t.Fatalf("the chart's config schema differs from the gateway's configuration types; regenerate it:\n  UPDATE_CHART_SCHEMA=1 go test ./gateway/ -run TestChartConfigSchema")
	}
	// Every secret-bearing key the issue found in a ConfigMap is refused.
	for _, key := range []string{"redis.password", "redis.sentinel_password", "issuers[].private_key_pem", "issuers[].client_secret"} {
		if chartRefused[key] == "" || !slices.Contains(strings.Fields(chartRefused[key]), "secret:") {
			t.Errorf("%s is not refused as a secret", key)
		}
	}
}
