# The two front-door commands: `make run` (set-up, build, main demo: a gate
# comparison on MultiFashionMNIST) and `make test` (set-up, build, test suite).
# Both install what they need.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all setup configure build build-cli run test bench clean test-sanitize test-torch2 bench-torch2

all: build

setup:
	bash scripts/setup.sh

configure: setup
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	ninja -C $(BUILD) -j$(JOBS)

# The command-line tool alone: what `make run` needs, without the test suite.
build-cli: configure
	ninja -C $(BUILD) -j$(JOBS) moekit_cli

# The main demo: every gate that MultiFashionMNIST supports (hash needs ids) on
# a slice of it, one seed; prints the table and where the plot is.
DEMO_GATES ?= softmax,topk,switch,random,dselectk,comet
run: build-cli
	$(BUILD)/moekit data multifashion --out data/multifashion
	$(BUILD)/moekit compare configs/multifashion-quick.yaml --gates $(DEMO_GATES) --seeds 1 \
	  --out runs/demo-multifashion

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	$(BUILD)/bench/moekit_bench

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own
# build tree. LibTorch is not instrumented: the suppressions cover only its and
# OpenBLAS's own reports (tests/sanitize/), never moekit code.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/ubsan.supp:print_stacktrace=1:halt_on_error=1

test-sanitize: setup
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_SANITIZE=ON \
	  -DMOEKIT_BUILD_BENCH=OFF -DMOEKIT_BUILD_PYTHON=OFF
	$(SANITIZE_ENV) ninja -C $(SANITIZE_BUILD) -j$(JOBS)  # test discovery runs the ASan binary
	cd $(SANITIZE_BUILD) && $(SANITIZE_ENV) ctest --output-on-failure -j$(JOBS) -E '^InstallFindPackage'

# The whole suite against LibTorch 2.x (issue #16): configured, built and run
# inside a chroot of Debian's development suite (scripts/torch2-env.sh creates
# it on first use, about 2.5 GB, and reuses it after), with its own build tree.
TORCH2_DIR ?= build-torch2
# The build tree must lie in the source tree (the only host path the chroot sees).
TORCH2_BUILD ?= build-torch2/build
TORCH2_ENV = bash scripts/torch2-env.sh --dir $(TORCH2_DIR) --

test-torch2:
	$(TORCH2_ENV) cmake -S . -B $(TORCH2_BUILD) -G Ninja $(CMAKE_FLAGS)
	$(TORCH2_ENV) ninja -C $(TORCH2_BUILD) -j$(JOBS)
	$(TORCH2_ENV) bash -c 'cd $(TORCH2_BUILD) && ctest --output-on-failure -j$(JOBS)'

# `moekit bench moe-layer` against LibTorch 1.13 and 2.x and the plain-PyTorch
# peer (bench/grouped_moe_peer.py), one after the other for 1 and 2 threads.
bench-torch2: build
	TORCH2_BUILD=$(TORCH2_BUILD) BUILD=$(BUILD) bash scripts/bench-torch2.sh 1 2

# libFuzzer harnesses (fuzz/) for every reader of outside data, built with clang
# in their own tree; each runs FUZZ_SECONDS on build-fuzz/corpus/<name>, seeded
# with valid files, and its executions are printed. Inputs that crash are kept
# as build-fuzz/findings/<name>/crash-*.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES = idx_reader multi_fashion_mnist movielens bible_corpus config checkpoint

.PHONY: fuzz
fuzz:
	bash scripts/setup.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DMOEKIT_FUZZ=ON -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_BENCH=OFF
	ninja -C $(FUZZ_BUILD) -j$(JOBS) moekit_fuzz
	$(FUZZ_BUILD)/fuzz/moekit_fuzz_seeds $(FUZZ_BUILD)/corpus $(CURDIR)
	@status=0; for h in $(FUZZ_HARNESSES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$h $(FUZZ_BUILD)/findings/$$h; \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp \
	  $(FUZZ_BUILD)/fuzz/$${h}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2560 -malloc_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/findings/$$h/ $(FUZZ_BUILD)/corpus/$$h \
	    > $(FUZZ_BUILD)/fuzz-$$h.log 2>&1 || status=1; \
	  printf '%-22s %12s executions  %s\n' $$h \
	    "$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz-$$h.log)" \
	    "$$(grep -q -E '^==[0-9]+==.*ERROR|^SUMMARY' $(FUZZ_BUILD)/fuzz-$$h.log && echo FINDING: see $(FUZZ_BUILD)/fuzz-$$h.log)"; \
	done; exit $$status

clean:
	rm -rf $(BUILD)
