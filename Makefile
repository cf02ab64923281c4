# tcpeek — build, test, demo and benchmark entry points.
# Every target installs the Debian packages it needs when they are missing.

SWIFT ?= swift
APT_PACKAGES := libpcap-dev libsqlite3-dev pkg-config iproute2 nftables python3 procps sqlite3 tcpdump ganglia-monitor libcap2-bin time prometheus tcpreplay binutils adduser clickhouse-server clickhouse-client openssl
TEST_FLAGS ?=
# The suites that start a private clickhouse-server run in a test process of
# their own: once clickhouse-server has been a child of the test process,
# every child later started with Foundation's Process stays an unreaped
# zombie (isRunning stays true), and the other suites' children wait out
# their timeouts. These suites spawn and reap their children themselves.
CLICKHOUSE_TESTS ?= ClickHouse|Fleet

.PHONY: all deps build release install deb test demo bench clean schema

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

# Release binaries carry the Swift runtime (static standard library and
# Foundation): they need only libc, libstdc++, libpcap, libsqlite3 (check-linkage.sh),
# and run without the toolchain and as a setcap binary, for which the loader
# ignores $$ORIGIN.
RELEASE_FLAGS := -c release --static-swift-stdlib
RELEASE_DIR := .build/release
release: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product tcpeek
	$(SWIFT) build $(RELEASE_FLAGS) --product tcpeekstat
	bash Scripts/check-linkage.sh $(RELEASE_DIR)/tcpeek $(RELEASE_DIR)/tcpeekstat

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system

# Installs the binaries and the systemd unit (enable it with
# `systemctl enable $(UNITDIR)/tcpeek.service`; it runs as the user
# tcpeek, which `make install` does not create: `make deb` does).
install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(RELEASE_DIR)/tcpeek $(RELEASE_DIR)/tcpeekstat $(DESTDIR)$(BINDIR)/
	sed 's|@BINDIR@|$(BINDIR)|' contrib/systemd/tcpeek.service > $(DESTDIR)$(UNITDIR)/tcpeek.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tcpeek.service

# The Debian package (dpkg-deb only): Scripts/build-deb.sh, contrib/debian/.
DEB := .build/tcpeek.deb
deb: release
	bash Scripts/build-deb.sh $(RELEASE_DIR) $(DEB)

# The package install test (Tests/EndToEndTests/PackageInstallTests.swift)
# runs on the package built here.
test: deps deb
	$(SWIFT) build --build-tests
	TCPEEK_DEB=$(CURDIR)/$(DEB) $(SWIFT) test --skip-build --skip "$(CLICKHOUSE_TESTS)" $(TEST_FLAGS)
	$(SWIFT) test --skip-build --filter "$(CLICKHOUSE_TESTS)" $(TEST_FLAGS)

# The whole product on a capture of the last half hour (Scripts/demo.sh):
# recorded into .build/demo/tcpeek.db, never the host's history, then
# queried with tcpeek query and sqlite3.
demo: deps
	$(SWIFT) build --product tcpeek
	$(SWIFT) build --product tcpeek-synth
	bash Scripts/demo.sh .build/debug .build/demo

bench: deps
	bash Bench/run.sh

clean:
	rm -rf .build

# Regenerates the schemas compiled into the binary from Schema/*.sql and
# contrib/clickhouse/*.sql.
schema:
	bash Scripts/generate-schema.sh
	bash Scripts/generate-clickhouse-schema.sh

# --- Reliability (issue 6): fuzzing, sanitizers, the full-size SYN flood ---
.PHONY: fuzz sanitize flood

FUZZ_SECONDS ?= 60

# Builds the libFuzzer targets (Fuzz/README.md) and runs each for
# FUZZ_SECONDS; fails on any crash, leak or sanitizer report.
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Fuzz/run.sh

# The test suite under ThreadSanitizer, then under AddressSanitizer, each
# in its own scratch path (docs/testing.md, "Sanitizers"). Every process, the test
# runner and the tcpeek binaries it starts, writes its sanitizer reports to
# .build-sanitize/<kind>/; any report fails the target. Test failures alone
# do not: under a sanitizer's slowdown some timing and memory limits cannot
# hold, and `make test` is the functional gate. LeakSanitizer is off here
# (Foundation's Process and the test runners leak by design); the fuzzers
# check the core for leaks.
SANITIZE_REPORTS := $(CURDIR)/.build-sanitize
# The floods measure memory (file) and count every packet live (namespace): a
# sanitizer's slowdown breaks both, and they add no sharing that the rest lacks.
SANITIZE_SKIP ?= SynFloodTests|SynFloodLiveTests
.PHONY: sanitize-thread sanitize-address
sanitize: sanitize-thread sanitize-address

sanitize-thread: deps
	rm -rf $(SANITIZE_REPORTS)/thread && mkdir -p $(SANITIZE_REPORTS)/thread
	$(SWIFT) build --build-tests --scratch-path .build-tsan --sanitize=thread
	-TSAN_OPTIONS="log_path=$(SANITIZE_REPORTS)/thread/report suppressions=$(CURDIR)/Fuzz/tsan-suppressions.txt $(TSAN_OPTIONS)" \
		$(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread --skip "$(SANITIZE_SKIP)|$(CLICKHOUSE_TESTS)" $(TEST_FLAGS)
	-TSAN_OPTIONS="log_path=$(SANITIZE_REPORTS)/thread/report suppressions=$(CURDIR)/Fuzz/tsan-suppressions.txt $(TSAN_OPTIONS)" \
		$(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread --filter "$(CLICKHOUSE_TESTS)" $(TEST_FLAGS)
	@bash Fuzz/sanitizer-reports.sh ThreadSanitizer $(SANITIZE_REPORTS)/thread

sanitize-address: deps
	rm -rf $(SANITIZE_REPORTS)/address && mkdir -p $(SANITIZE_REPORTS)/address
	$(SWIFT) build --build-tests --scratch-path .build-asan --sanitize=address
	-ASAN_OPTIONS="log_path=$(SANITIZE_REPORTS)/address/report:detect_leaks=0:suppressions=$(CURDIR)/Fuzz/asan-suppressions.txt:$(ASAN_OPTIONS)" \
		$(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address --skip "$(SANITIZE_SKIP)|$(CLICKHOUSE_TESTS)" $(TEST_FLAGS)
	-ASAN_OPTIONS="log_path=$(SANITIZE_REPORTS)/address/report:detect_leaks=0:suppressions=$(CURDIR)/Fuzz/asan-suppressions.txt:$(ASAN_OPTIONS)" \
		$(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address --filter "$(CLICKHOUSE_TESTS)" $(TEST_FLAGS)
	@bash Fuzz/sanitizer-reports.sh AddressSanitizer $(SANITIZE_REPORTS)/address

# The SYN flood test at full size: 3,000,000 unanswered SYNs within 10 s.
FLOOD_SYNS ?= 3000000
flood: deps
	$(SWIFT) build --build-tests
	TCPEEK_FLOOD_SYNS=$(FLOOD_SYNS) $(SWIFT) test --skip-build --filter SynFloodTests

# --- Soak (issue 6, item 7) ---
.PHONY: soak
SOAK_SECONDS ?= 600

# Replays generated captures into a private two-namespace veth for
# SOAK_SECONDS (at most 86400) while socket clients poll and queries run;
# fails on unrecorded sessions, database rows != counted sessions, any
# client failure or RSS growth after warm-up (Soak/out/report.txt).
soak: deps
	SWIFT=$(SWIFT) SOAK_SECONDS=$(SOAK_SECONDS) bash Soak/run.sh
