# Bulwark: the two commands a fresh Debian 12 machine needs.
#   make demo   installs what is missing, builds, starts two demo origins and the gateway in front of them
#   make test   installs what is missing, builds, runs every test (unit, integration, fuzz smoke)
BUILD   ?= build
JOBS    ?= $(shell nproc)

.PHONY: all deps build demo test unit integration fuzz bench format clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh

test: deps
	@bash scripts/run-tests.sh

unit: deps
	@bash scripts/run-tests.sh unit

integration: build
	@bash scripts/run-tests.sh integration

fuzz: deps
	@bash fuzz/run.sh 60

bench: build
	@bash bench/run.sh proxy

format:
	@clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'fuzz/*.cc')

clean:
	rm -rf build build-asan build-fuzz
