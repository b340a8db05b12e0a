// Package check holds the tests of the deployment files: the gateway's
// Dockerfile (parsed with BuildKit's own parser) and the Helm chart
// (linted and rendered through Helm's own packages as helm lint --strict
// and helm template do, and every rendered manifest decoded strictly
// into the Kubernetes API types). It is a module of its own so that the
// oktafed module does not depend on BuildKit or the Kubernetes API.
package check
