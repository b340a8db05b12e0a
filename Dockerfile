# syntax=docker/dockerfile:1
#
# The oktafed-gateway container image: a static binary on a distroless
# base, run as a non-root user, with no shell or package manager in the
# image. Build from the repository root:
#
#   docker build -t oktafed-gateway \
#     --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) .
#
# deploy/check's TestDockerfile parses this file and holds it to the rules
# above (stages, user, no RUN and no shell form in the final stage).

ARG GO_VERSION=1.26.8

# Build on the builder's own platform and cross-compile: no emulation
# for multi-platform builds (docker buildx build --platform linux/arm64).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# cmd/internal/buildinfo reports these (`oktafed-gateway version`); .git is
# not in the build context, so without them the binary says "dev".
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w \
        -X github.com/oktafed/oktafed/cmd/internal/buildinfo.version=${VERSION} \
        -X github.com/oktafed/oktafed/cmd/internal/buildinfo.commit=${COMMIT} \
        -X github.com/oktafed/oktafed/cmd/internal/buildinfo.date=${DATE}" \
      -o /out/oktafed-gateway ./cmd/oktafed-gateway

# distroless/static: CA certificates (for https issuers and rediss://),
# time zone data and /etc/passwd with the nonroot user (65532); no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/oktafed-gateway /usr/local/bin/oktafed-gateway
# The numeric id, so Kubernetes' runAsNonRoot can verify it without
# reading /etc/passwd.
USER 65532:65532
# Outside a container the gateway binds 127.0.0.1:8080; in one it must
# listen on every interface of its network namespace to be reachable.
ENV GATEWAY_LISTEN=:8080
# The proxy, /healthz, /readyz and /metrics share this port.
EXPOSE 8080
# No HEALTHCHECK: it would need a shell or a client program in the image.
# Orchestrators probe /healthz (liveness) and /readyz (readiness) over
# HTTP instead, as the Helm chart in deploy/helm/oktafed-gateway does.
ENTRYPOINT ["/usr/local/bin/oktafed-gateway"]
