# The two front-door commands: `make run` (set-up, build, main demo) and
# `make test` (set-up, build, test suite). Both install what they need.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all setup configure build run test bench clean

all: build

setup:
	bash scripts/setup.sh

configure: setup
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	ninja -C $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/moekit demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	$(BUILD)/bench/moekit_bench

clean:
	rm -rf $(BUILD)
