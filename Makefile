# The two commands of the README: `make demo` and `make test`.  Both bootstrap
# the machine first (only what is missing): `make demo` and `make install`
# what building needs, `make bench` that and a PostgreSQL server, `make test`
# what the tests need too.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
FUZZ_RUNS ?= 20000
FUZZ_SEED ?= 1
FUZZ_FLAGS ?=
PREFIX ?= /usr/local
RELEASE_DIR ?= build-release

.PHONY: all bootstrap-build bootstrap-bench bootstrap-test build release demo install test check-layers \
	test-normal test-asan fuzz bench screenshot clean

all: build

bootstrap-build:
	@scripts/bootstrap build

bootstrap-bench:
	@scripts/bootstrap bench

bootstrap-test:
	@scripts/bootstrap test

# The benchmarks are built (not run) with the tests, so that they keep compiling.
build: bootstrap-test
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGENTRT_BENCH=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

release: bootstrap-build
	@cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DAGENTRT_TESTS=OFF >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS) >/dev/null

demo: release
	@$(RELEASE_DIR)/agentrt demo

# The library, its headers, agentrt.pc, the CMake package and the agentrt command.
install: release
	@cmake --install $(RELEASE_DIR) --prefix $(PREFIX)

test: check-layers test-normal test-asan fuzz

# The arrows of DESIGN.md section 2 over the #include lines: nothing in
# src/core includes an adapter, a driver or the CLI.
check-layers:
	@scripts/check-layers

test-normal: build
	@echo "== tests: -Wall -Wextra -Werror =="
	@cd build && ctest --output-on-failure -j $(JOBS)

test-asan: bootstrap-test
	@echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer =="
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAGENTRT_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Each libFuzzer target runs FUZZ_RUNS inputs (60 s at most) from a copy of its
# seed corpus, so the seeds in tests/fuzz/corpus/ stay as they are.  The seed is
# fixed so `make test` is repeatable (FUZZ_SEED=0: a random one).  A crash, leak
# or sanitizer report fails the target; the input is kept in build-fuzz/.
fuzz: bootstrap-test
	@echo "== fuzz: libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer =="
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGENTRT_FUZZ=ON \
	  -DAGENTRT_SANITIZE=ON -DAGENTRT_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers >/dev/null
	@for f in build-fuzz/fuzz_*; do \
	  [ -f $$f ] && [ -x $$f ] || continue; \
	  name=$${f#build-fuzz/fuzz_}; corpus=$$(mktemp -d); \
	  [ ! -d tests/fuzz/corpus/$$name ] || cp -R tests/fuzz/corpus/$$name/. $$corpus/; \
	  start=$$(date +%s); \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $$f $$corpus -runs=$(FUZZ_RUNS) \
	    -seed=$(FUZZ_SEED) -max_total_time=60 -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/$$name- $(FUZZ_FLAGS) >build-fuzz/$$name.log 2>&1; \
	  rc=$$?; rm -rf $$corpus; \
	  if [ $$rc -ne 0 ]; then tail -n 60 build-fuzz/$$name.log; \
	    echo "fuzz_$$name: FAILED (log: build-fuzz/$$name.log)"; exit 1; fi; \
	  echo "fuzz_$$name: $$(grep -o 'Done [0-9]* runs' build-fuzz/$$name.log || echo done) in $$(( $$(date +%s) - start )) s"; \
	done

bench: bootstrap-bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAGENTRT_TESTS=OFF -DAGENTRT_BENCH=ON >/dev/null
	@cmake --build build-bench -j $(JOBS) >/dev/null
	@for b in build-bench/bench_*; do $$b || exit 1; done

# The console's screenshot in the README: the one its test in headless
# Chromium takes (test_serve, the_console_in_headless_chromium).
screenshot: build
	@cd build && ./test_serve >/dev/null
	@mkdir -p docs && cp build/console.png docs/console.png

clean:
	rm -rf build build-asan build-release build-bench build-fuzz
