// Package check holds the tests of the deployment files: the gateway's
// Dockerfile (parsed with BuildKit's own parser) and the Helm chart
// (helm lint, helm template, and every rendered manifest decoded strictly
// into the Kubernetes API types). It is a module of its own so that the
// oktafed module does not depend on BuildKit or the Kubernetes API.
package check
