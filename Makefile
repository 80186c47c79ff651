# Skiff: one binary, a Kubernetes-compatible cluster.
GO        ?= go
BIN       := bin/skiff
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/skiff-sh/skiff/internal/version.Version=$(VERSION) \
             -X github.com/skiff-sh/skiff/internal/version.GitCommit=$(COMMIT)
FUZZTIME  ?= 10s

.PHONY: help build run test lint test-unit test-e2e fuzz bench bench-api bench-scale bench-pods bench-services images clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/skiff
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/skiff

run: build ## run a single-node cluster in the foreground (data in /var/lib/skiff as root)
	./$(BIN) server

test: lint test-unit test-e2e fuzz ## everything CI runs: lint, unit+integration, end-to-end, brief fuzzing

lint: ## gofmt and go vet must be clean
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test-unit: ## unit and integration tests (no root needed)
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/e2e)

test-e2e: build ## end-to-end tests of the built binary with kubectl
	SKIFF_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m ./test/e2e/...

fuzz: ## run each fuzz target briefly (FUZZTIME, default 10s)
	$(GO) test -run '^$$' -fuzz '^FuzzKeys$$' -fuzztime $(FUZZTIME) ./internal/storage/bolt/
	$(GO) test -run '^$$' -fuzz '^FuzzRequestDecoding$$' -fuzztime $(FUZZTIME) ./internal/apiserver/

bench: bench-api bench-scale bench-pods bench-services ## all benchmarks

bench-api: build ## API server benchmark (issue 2 targets)
	$(GO) run ./bench/api -skiff $(BIN)

bench-scale: build ## control plane benchmark: 100 simulated nodes, a 10,000-replica Deployment (issue 3 targets)
	$(GO) run ./bench/scale -skiff $(BIN)

bench-pods: build images ## pod startup benchmark on a real node, as root: 100 pods, agent RSS and idle CPU (issue 4 targets)
	$(GO) run ./bench/pods -skiff $(BIN)

bench-services: build images ## service networking on a real node, as root: direct vs ClusterIP vs Ingress, endpoint change latency (issue 5 targets)
	$(GO) run ./bench/services -skiff $(BIN)

images: ## build the test images (testserver, busybox, pause) into build/images
	$(GO) run ./test/images/build build/images

clean: ## remove build output
	rm -rf bin build
