# tcpeek — build, test, demo and benchmark entry points.
# Every target installs the Debian packages it needs when they are missing.

SWIFT ?= swift
APT_PACKAGES := libpcap-dev pkg-config iproute2 nftables python3 procps sqlite3 tcpdump
TEST_FLAGS ?=

.PHONY: all deps build release test demo bench clean schema

all: build

# Installs what is missing (needs root, as CI and the quick start have).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(TEST_FLAGS)

# Records the capture shipped in Demo/: live lines, then the summary.
demo: deps
	$(SWIFT) build --product tcpeek
	TZ=UTC .build/debug/tcpeek record -r Demo/gnutella.pcap

bench: deps
	bash Bench/run.sh

clean:
	rm -rf .build

# Regenerates the schema compiled into the binary from Schema/*.sql.
schema:
	bash Scripts/generate-schema.sh
