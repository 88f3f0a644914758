# syntax=docker/dockerfile:1
#
# Container images of cleanframe's three services, one target each:
#
#   docker build --target ingest   -t cleanframe/ingest:0.1.0   .
#   docker build --target denoiser -t cleanframe/denoiser:0.1.0 .
#   docker build --target trainer  -t cleanframe/trainer:0.1.0  .
#
# (deploy/docker/build-images builds and tags all three.) One build stage
# compiles the three static binaries (CGO_ENABLED=0: the GEMM kernels are Go
# assembly, no cgo); each image is scratch plus that binary, CA roots, a
# writable /tmp and the unprivileged user 65532 ("nonroot"). The default model
# is embedded in the binaries (ae/default.cfm, go:embed), so every image
# denoises out of the box. The build cross-compiles for the target platform
# (docker buildx build --platform linux/amd64,linux/arm64).

ARG GO_VERSION=1.26.8

# ---- build: the three binaries, built as deploy/docker/check-static does ----
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
# No separate `go mod download` layer: go.mod also lists the test-only Helm
# and Kubernetes modules, which the build does not need. The cache mounts
# keep modules and compiled packages between builds instead.
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# x86-64 level of the compiled Go code (v1 runs anywhere; the GEMM kernels
# pick AVX2 or AVX-512 at run time whatever this says)
ARG GOAMD64=v1
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH GOAMD64=$GOAMD64 \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/ \
        ./cmd/ingest ./cmd/denoiser ./cmd/trainer

# ---- rootfs: what every image holds besides its binary ----
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS rootfs
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib/cleanframe && \
    echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' > /rootfs/etc/passwd && \
    echo 'nonroot:x:65532:' > /rootfs/etc/group && \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ && \
    chmod 1777 /rootfs/tmp && \
    chown 65532:65532 /rootfs/var/lib/cleanframe

# ---- base: scratch, non-root ----
FROM scratch AS base
COPY --from=rootfs /rootfs/ /
# health, metrics (and the ingest API) on every interface of the container
ENV CF_LISTEN=:8080
USER 65532:65532
EXPOSE 8080
LABEL org.opencontainers.image.source="https://github.com/cleanframe/cleanframe" \
      org.opencontainers.image.title="cleanframe"

# ---- ingest: HTTP API and file publisher ----
FROM base AS ingest
COPY --from=build /out/ingest /usr/local/bin/ingest
ENTRYPOINT ["/usr/local/bin/ingest"]
CMD ["serve"]

# ---- denoiser: the consumer group ----
FROM base AS denoiser
COPY --from=build /out/denoiser /usr/local/bin/denoiser
ENTRYPOINT ["/usr/local/bin/denoiser"]
CMD ["serve"]

# ---- trainer: retraining; ships the example photographs as its default
# validation set (CC0 / public domain, see LICENSES.md there) ----
FROM base AS trainer
COPY --from=build /out/trainer /usr/local/bin/trainer
COPY examples/images/*.png /usr/share/cleanframe/valid/
COPY examples/images/LICENSES.md /usr/share/doc/cleanframe/valid-LICENSES.md
ENV CF_DATA_DIR=/var/lib/cleanframe
VOLUME ["/var/lib/cleanframe"]
ENTRYPOINT ["/usr/local/bin/trainer"]
CMD ["serve", "--valid=/usr/share/cleanframe/valid"]
