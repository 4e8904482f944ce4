# syntax=docker/dockerfile:1
# weft-init's image for those with Docker. `make images` builds the same image without
# an engine (internal/images; its test checks this file): keep the binary's
# path, user, entrypoint and labels alike.
#
#   docker buildx build -f build/weft-init.Dockerfile --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse --short HEAD) \
#     -t ghcr.io/weft-mesh/weft-init:latest .

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo): the image has no dynamic loader.
RUN CGO_ENABLED=0 GOOS=linux GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X github.com/weft-mesh/weft/pkg/version.Version=$VERSION -X github.com/weft-mesh/weft/pkg/version.GitCommit=$REVISION" \
    -o /out/weft-init ./cmd/weft-init

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="weft-init" \
      org.opencontainers.image.description="Weft's init container: installs the traffic redirection rules" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.source="https://github.com/weft-mesh/weft"
COPY --from=build --chown=0:0 --chmod=0755 /out/weft-init /usr/local/bin/weft-init
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 0:0
ENTRYPOINT ["/usr/local/bin/weft-init"]
