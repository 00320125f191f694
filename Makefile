# nslock — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is CMake; this file only drives it.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?=
FUZZ_SECONDS ?= 60
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps deps-test build build-asan tests-on run install test test-fast test-long bench fuzz clean

all: build

# What building and serving need; deps-test adds what the tests need.
deps:
	@scripts/install-deps

deps-test:
	@scripts/install-deps --test

# A first build leaves the test suite out (it needs deps-test); the test
# targets switch it on.
$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSL_WERROR=ON -DNSL_TESTS=OFF

$(ASAN_BUILD)/CMakeCache.txt: | deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNSL_WERROR=ON -DNSL_SANITIZE=ON -DNSL_TESTS=ON

tests-on: deps-test $(BUILD)/CMakeCache.txt
	@grep -q '^NSL_TESTS:BOOL=ON' $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DNSL_TESTS=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Starts the lock server in the foreground on the embedded default
# configuration (or CONFIG=file.yaml).
run: build
	$(BUILD)/nslock serve $(if $(CONFIG),--config $(CONFIG))

# make install [PREFIX=/usr/local] [DESTDIR=staging]: the binary, libnslock,
# nslock.h and nslock.pc, man pages, bash completion, the systemd unit and
# the documentation (README.md, "Installing it").
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

# The whole suite, twice: a normal build and an ASan+UBSan build.
test: tests-on build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

test-fast: tests-on build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

# The tests too long for every run (three-node ZooKeeper, ...).
test-long: tests-on build
	cd $(BUILD) && ctest --output-on-failure -L long

bench: build
	cmake --build $(BUILD) -j $(JOBS) --target benchmarks
	bench/run-all $(BUILD)

# libFuzzer targets (clang). FUZZ_SECONDS per target.
fuzz: deps
	@scripts/install-deps --fuzz
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSL_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	tests/fuzz/run-all $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
