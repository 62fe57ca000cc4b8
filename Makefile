# The two commands of the README: `make demo` and `make test`.  Both bootstrap
# the machine first (apt packages, only when missing).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all bootstrap build demo test test-normal test-asan bench clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

demo: bootstrap
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DAGENTRT_TESTS=OFF >/dev/null
	@cmake --build build-release -j $(JOBS) --target agentrt_cli >/dev/null
	@build-release/agentrt demo

test: test-normal test-asan

test-normal: build
	@echo "== tests: -Wall -Wextra -Werror =="
	@cd build && ctest --output-on-failure -j $(JOBS)

test-asan: bootstrap
	@echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer =="
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAGENTRT_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

bench: bootstrap
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAGENTRT_TESTS=OFF -DAGENTRT_BENCH=ON >/dev/null
	@cmake --build build-bench -j $(JOBS) >/dev/null
	@for b in build-bench/bench_*; do $$b || exit 1; done

clean:
	rm -rf build build-asan build-release build-bench
