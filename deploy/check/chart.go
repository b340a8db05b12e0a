package check

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// The chart is checked through Helm's own packages — the loader, the
// linter and the template engine that `helm lint` and `helm template` run
// — so the checks need no helm binary (building one from source was the
// longest part of a first test run) and no cluster.

// ReadValues reads a values file as `helm --values` does; "" gives none.
func ReadValues(file string) (map[string]any, error) {
	if file == "" {
		return map[string]any{}, nil
	}
	v, err := common.ReadValuesFile(file)
	if err != nil {
		return nil, err
	}
	return v.AsMap(), nil
}

// LintChart is `helm lint --strict`: every message at warning level or
// above is an error, all of them joined.
func LintChart(dir, namespace string, values map[string]any) error {
	l := lint.RunAll(dir, values, namespace)
	var errs []error
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, fmt.Errorf("[%s] %s: %w", sevName(m.Severity), m.Path, m.Err))
		}
	}
	return errors.Join(errs...)
}

func sevName(s int) string {
	switch s {
	case support.ErrorSev:
		return "ERROR"
	case support.WarningSev:
		return "WARNING"
	}
	return "INFO"
}

// RenderChart is `helm template release dir --namespace namespace`: the
// values checked against values.schema.json, then every template
// rendered, as one YAML stream of documents each headed by its source
// file (in file order; NOTES.txt and partials left out, as helm does).
func RenderChart(dir, release, namespace string, values map[string]any) ([]byte, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, err
	}
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	opts := common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, values, opts, common.DefaultCapabilities, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		base := path.Base(name)
		if base == "NOTES.txt" || strings.HasPrefix(base, "_") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, name := range names {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, files[name])
	}
	return b.Bytes(), nil
}
