# nslock — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is CMake; this file only drives it.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan run test test-fast test-long bench fuzz clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSL_WERROR=ON

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNSL_WERROR=ON -DNSL_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Starts the lock server in the foreground on the embedded default
# configuration (or CONFIG=file.yaml).
run: build
	$(BUILD)/nslock serve $(if $(CONFIG),--config $(CONFIG))

# The whole suite, twice: a normal build and an ASan+UBSan build.
test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

# The tests too long for every run (three-node ZooKeeper, ...).
test-long: build
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
