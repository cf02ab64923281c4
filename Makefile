# tcpeek — build, test, demo and benchmark entry points.
# Every target installs the Debian packages it needs when they are missing.

SWIFT ?= swift
APT_PACKAGES := libpcap-dev pkg-config iproute2 nftables python3 procps sqlite3 tcpdump ganglia-monitor libcap2-bin time prometheus
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

# --- Reliability (issue 6): fuzzing, sanitizers, the full-size SYN flood ---
.PHONY: fuzz sanitize flood

FUZZ_SECONDS ?= 60

# Builds the libFuzzer targets (Fuzz/README.md) and runs each for
# FUZZ_SECONDS; fails on any crash, leak or sanitizer report.
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Fuzz/run.sh

# The test suite under ThreadSanitizer, then under AddressSanitizer, each
# in its own scratch path (README, "Sanitizers").
sanitize: deps
	$(SWIFT) build --build-tests --scratch-path .build-tsan --sanitize=thread
	TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" $(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread $(TEST_FLAGS)
	$(SWIFT) build --build-tests --scratch-path .build-asan --sanitize=address
	ASAN_OPTIONS="halt_on_error=1:detect_leaks=0 $(ASAN_OPTIONS)" $(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address $(TEST_FLAGS)

# The SYN flood test at full size: 3,000,000 unanswered SYNs within 10 s.
FLOOD_SYNS ?= 3000000
flood: deps
	$(SWIFT) build --build-tests
	TCPEEK_FLOOD_SYNS=$(FLOOD_SYNS) $(SWIFT) test --skip-build --filter SynFloodTests
