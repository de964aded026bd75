# Thin driver over CMake: `make`, `make check` (every test), `make demo`
# (the main job end to end on the bundled example), `make check-asan`.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2

.PHONY: all check check-asan demo fuzz clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

check: all
	ctest --test-dir $(BUILD) --output-on-failure

check-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPD_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -L asan

demo: all
	sh examples/demo.sh $(BUILD)/speedster

fuzz:
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPD_SANITIZE=ON -DSPD_FUZZ=ON -DSPD_WERROR=ON
	cmake --build build-fuzz --target fuzz_onnx -j$(JOBS)
	sh tests/fuzz/run_fuzz.sh build-fuzz/fuzz_onnx $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
