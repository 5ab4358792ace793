# The two set-up commands (README.md):
#   make run    installs what is needed, builds, fetches the default model and runs it
#   make test   installs what is needed, builds, and runs every test (CI calls this)
# Both can be run again; each step skips what is already done.

BUILD      ?= build
ASAN_BUILD ?= build-asan
KILN_MODELS ?= $(HOME)/.cache/kiln/models
MODEL      ?= $(KILN_MODELS)/SmolLM2-135M-Instruct.Q4_1.gguf
JOBS       ?= $(shell nproc)
# CI sets CI=true: warnings become errors there.
WERROR     := $(if $(CI),ON,OFF)

export KILN_MODELS

.PHONY: run test deps build asan-test model test-models clean

PROMPT ?= What is the capital of France? Answer in one sentence.

run: deps build model
	$(BUILD)/tools/kiln/kiln run -m $(MODEL) --chat --temp 0 -n 96 -p "$(PROMPT)"
	@echo

# Tests keep compiled kernels in the build folder, not in the user's ~/.cache/kiln/kernels.
test: deps build model test-models
	cd $(BUILD) && KILN_CACHE=$(abspath $(BUILD))/kernel-cache ctest --output-on-failure -j $(JOBS)
	$(MAKE) asan-test

deps:
	./scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -G Ninja -DKILN_WERROR=$(WERROR)
	cmake --build $(BUILD) -j $(JOBS)

# Everything that parses untrusted input, built and tested again under ASan and UBSan.
asan-test:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DKILN_WERROR=$(WERROR) -DKILN_SANITIZE=ON -DKILN_ONLY_PARSERS=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && KILN_CACHE=$(abspath $(ASAN_BUILD))/kernel-cache ctest --output-on-failure -j $(JOBS)

model:
	./scripts/fetch-models.py smollm2 >/dev/null

# Gemma 3 270M as well: the SentencePiece tokenizer's parity tests run on it.
test-models:
	./scripts/fetch-models.py gemma3 >/dev/null

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
