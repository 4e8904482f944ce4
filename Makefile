# Weft's build. `make test` is what CI runs; see README.md.
GO            ?= go
BIN           := $(CURDIR)/bin
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT        ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS       := -X github.com/weft-mesh/weft/pkg/version.Version=$(VERSION) \
                 -X github.com/weft-mesh/weft/pkg/version.GitCommit=$(COMMIT)

CONTROLLER_GEN_VERSION := v0.23.0
GATEWAY_CRDS           := gatewayclasses gateways httproutes grpcroutes referencegrants
STATICCHECK_VERSION    := v0.8.2
CONTROLLER_GEN         := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
STATICCHECK            := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

# Generated from Go types; the SMI CRDs (manifests/crds/smi-*.yaml) are hand-written.
API_PATHS := paths=./pkg/apis/config/... paths=./pkg/apis/policy/...

.PHONY: all build images test demo demo-cluster bench bench-scale bench-scale-smoke fuzz kube-assets kwok test-deps lint manifests verify-generated clean

all: build

# weft-init is static (no cgo): its image holds nothing else.
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/weftd ./cmd/weftd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/weft ./cmd/weft
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/weft-init ./cmd/weft-init

# Image archives in bin/images, built in Go without a container engine
# (internal/images): per image and arch a tarball for `docker load` and
# `kind load image-archive`, and a multi-arch OCI layout for pushing.
IMAGE_ARCHES ?= amd64,arm64
images:
	$(GO) run ./hack/images --out $(BIN)/images --version '$(VERSION)' --revision '$(COMMIT)' \
	  --ldflags '$(LDFLAGS)' --arch '$(IMAGE_ARCHES)'

# Every unit and integration test. Integration tests run a real kube-apiserver
# and etcd, built once from the Go module proxy and cached (hack/kube-assets.sh);
# some run kwok as the kubelet (hack/kwok.sh).
test: kube-assets kwok test-deps
	KUBEBUILDER_ASSETS="$$(hack/kube-assets.sh)" KWOK="$$(hack/kwok.sh)" $(GO) test -count=1 ./...

# The bookstore story with real gRPC traffic and no cluster: weftd on the YAML
# of demo/mesh, the pods as local proxyless gRPC processes (demo/main.go).
demo:
	$(GO) run ./demo

# The bookstore story end to end on a real API server: weftd injects the pods,
# sidecars (xDS clients with their pods' certificates) get their configuration,
# and a TrafficSplit edit reaches bookbuyer's sidecar (timed).
demo-cluster: kube-assets
	KUBEBUILDER_ASSETS="$$(hack/kube-assets.sh)" $(GO) test -count=1 -run '^TestBookstoreDemo$$' -v ./e2e/

# Benchmarks (figures in BENCHMARKS.md); not part of `make test`.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./ca/ ./catalog/
	$(GO) test -run '^$$' -bench . -benchtime 20x -timeout 30m ./bench/

# The scale benchmark (bench/scale, BENCHMARKS.md): a real kube-apiserver and
# etcd, a generated mesh, weftd as a process and PROXIES simulated Envoys
# (SCALE_FLAGS=-delta for delta ADS). At the default size it takes minutes and
# both cores: run it on a quiet machine.
PROXIES  ?= 5000
SERVICES ?= 1000
bench-scale: kube-assets
	KUBEBUILDER_ASSETS="$$(hack/kube-assets.sh)" $(GO) run ./bench/scale -proxies $(PROXIES) -services $(SERVICES) $(SCALE_FLAGS)

# The same harness at 20 proxies and 10 services, SotW and delta, checking the
# summary line and that no proxy NACKed (about a minute; not in `make test`).
bench-scale-smoke: kube-assets
	WEFT_SCALE_SMOKE=1 KUBEBUILDER_ASSETS="$$(hack/kube-assets.sh)" $(GO) test -count=1 -run '^TestSmoke$$' -v -timeout 10m ./bench/scale/

# Each fuzz target for FUZZTIME (default 10m); crashers land in testdata/fuzz.
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzBuild$$' -fuzztime $(FUZZTIME) ./catalog/
	$(GO) test -run '^$$' -fuzz '^FuzzGenerate$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./pkg/envoy/
	$(GO) test -run '^$$' -fuzz '^FuzzChangeDetection$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1x ./pkg/envoy/
	$(GO) test -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime $(FUZZTIME) ./injector/
	$(GO) test -run '^$$' -fuzz '^FuzzAdmissionReview$$' -fuzztime $(FUZZTIME) ./injector/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateAdmissionReview$$' -fuzztime $(FUZZTIME) ./pkg/validation/
	$(GO) test -run '^$$' -fuzz '^FuzzDiscoveryRequest$$' -fuzztime $(FUZZTIME) ./pkg/xds/

kube-assets:
	@hack/kube-assets.sh >/dev/null

kwok:
	@hack/kwok.sh >/dev/null

# iptables, iproute2 and nftables for the redirection tests (installed when root, else advised).
test-deps:
	@hack/test-deps.sh

lint: $(STATICCHECK)
	$(GO) vet ./...
	$(STATICCHECK) ./...

manifests: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object:headerFile=/dev/null paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd:crdVersions=v1 $(API_PATHS) output:crd:dir=./manifests/crds
	@# Helm reads a chart's crds/ literally (no templating, no links out of the chart): a copy.
	rm -f manifests/charts/weft/crds/*.yaml
	cp manifests/crds/*.yaml manifests/charts/weft/crds/
	@# Gateway API's standard-channel CRDs Weft reads, from the module go.mod names;
	@# installed only where the cluster has none (Helm's crds/, and weft install).
	for r in $(GATEWAY_CRDS); do \
	  install -m 0644 "$$($(GO) list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard/gateway.networking.k8s.io_$$r.yaml" manifests/charts/weft/crds/; \
	done

# Fails when generated files differ from what `make manifests` writes.
verify-generated: manifests
	@git diff --exit-code -- manifests pkg/apis || \
	  { echo "generated files are stale: run 'make manifests' and commit the result"; exit 1; }
	@test -z "$$(git status --porcelain -- manifests pkg/apis)" || \
	  { git status --porcelain -- manifests pkg/apis; echo "untracked generated files: run 'make manifests' and commit them"; exit 1; }

$(CONTROLLER_GEN):
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

clean:
	rm -rf $(BIN)
