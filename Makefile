# The README's commands. `make test` is what CI runs (via .ci/run).
GO ?= go

.PHONY: test build bench fuzz

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

build:
	$(GO) build ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./discovery/

fuzz:
	for f in FuzzParseServerData FuzzParseServerNodeName FuzzParseConnectString FuzzLatch; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s ./discovery/ || exit 1; done
