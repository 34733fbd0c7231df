# A thin index of go commands; CI runs .ci/run, which calls `make test`.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     ?= bin/capstatic
ADDR    ?= 127.0.0.1:8080
TREE    ?= demo-tree
# The example app's native version is 1.0.0, so a device built from it
# running its builtin bundle is offered this one.
DEMO_VERSION ?= 1.0.1

.PHONY: build test test-short demo bench fuzz lint fmt examples tools clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/capstatic

# Installs the outside tools the tests use (capgo CLI, versitygw) into .cache
# when missing, then runs every test with the race detector.
test: tools
	PATH="$(CURDIR)/.cache/bin:$$PATH" CAPGO_CLI="$(CURDIR)/.cache/capgo/node_modules/.bin/capgo" \
		$(GO) test -race -count=1 -timeout 15m ./...

test-short:
	$(GO) test -short ./...

tools:
	bash .ci/tools.sh

# Publish the example app to ./demo-tree and serve it on $(ADDR).
demo: build
	cd examples/app && ../../$(BIN) publish --store ../../$(TREE) --version $(DEMO_VERSION) --channel production
	@echo
	@echo "Put these in capacitor.config.json (plugins.CapacitorUpdater):"
	@echo "  \"updateUrl\":  \"http://$(ADDR)/updates\","
	@echo "  \"statsUrl\":   \"http://$(ADDR)/stats\","
	@echo "  \"channelUrl\": \"http://$(ADDR)/channel_self\""
	@echo
	@echo "Or play a device from another shell:"
	@echo "  curl -s http://$(ADDR)/updates -d '{\"app_id\":\"com.example.capstatic\",\"device_id\":\"6f1c2d3e-0000-4000-8000-000000000001\",\"version_name\":\"builtin\",\"version_build\":\"1.0.0\",\"plugin_version\":\"8.51.23\",\"platform\":\"android\",\"is_emulator\":false,\"is_prod\":true,\"defaultChannel\":\"\"}'"
	@echo
	$(BIN) serve --store $(TREE) --addr $(ADDR)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./delta/... ./publish/... ./resolver/...

fuzz:
	bash .ci/fuzz.sh 10s

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)

fmt:
	gofmt -w .

examples:
	$(GO) build ./examples/...

clean:
	rm -rf bin $(TREE)
