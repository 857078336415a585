# spyglass - build, test, demo.
#
#   make            build build/spyglass (B=DIR builds elsewhere)
#   make demo       install what is missing, build, profile the example web app
#   make test       install what is missing, build, run every test (lint, unit, ASan/UBSan, e2e)
#   make sid        Debian sid's python3.14/3.15 under build/sid/ (make test does it)
#   make e2e-offsets  dump and record tests on 3.13 with SPYGLASS_LAYOUT=offsets
#   make bench      print benchmark figures (never pass/fail on time)
#   make fuzz       run the libFuzzer harnesses for a while
#   make soak       the long reliability runs (30 min; SOAK_SECONDS=120 for a short one)
#
# Sources are found by wildcard: a new module is a new file, no Makefile edit.

CC      ?= gcc
B       ?= build
VERSION := 0.1.0
CSTD    := -std=c17 -D_GNU_SOURCE -DSPYGLASS_VERSION='"$(VERSION)"'
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -Isrc -MMD -MP
LDLIBS  := -lz -lncursesw -lm -ldw -lelf

# Generated sources: the flame graph's script and style sheet as C arrays.
GEN_SRC  := $(B)/gen/flamegraph_assets.c
SRC      := $(shell find src -name '*.c' | sort) $(GEN_SRC)
LIB_SRC  := $(filter-out src/cmd/main.c,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
# Built into the unit tests, tools/ and fuzz/, never into spyglass itself
# (tests/support/capture.c: a walk recorded to a file, replayed as a fake process).
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))

OBJ      := $(SRC:%.c=$(B)/obj/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
TEST_OBJ := $(LIB_OBJ) $(SUPPORT_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(B)/tools/%)

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ   := $(SRC:%.c=$(B)/asan/%.o)
ASAN_LIB   := $(LIB_SRC:%.c=$(B)/asan/%.o) $(SUPPORT_SRC:%.c=$(B)/asan/%.o)
ASAN_UNIT  := $(UNIT_SRC:tests/unit/%.c=$(B)/asan-tests/%)

PYTEST := /usr/bin/python3 -m pytest

# Quiet by default ("CC src/x.c"); V=1 prints whole commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

.PHONY: tools soak all clean deps test unit unit-asan e2e e2e-offsets sid browser fuzz-replay fuzz-bins demo bench fuzz asan lint format

all: $(B)/spyglass

$(B)/spyglass: $(OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/gen/flamegraph_assets.c: src/format/flamegraph.js src/format/flamegraph.css tools/embed.sh
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sh tools/embed.sh flamegraph_js=src/format/flamegraph.js \
		flamegraph_css=src/format/flamegraph.css > $@.tmp && mv $@.tmp $@

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(TEST_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -Itests/support -o $@ $< $(TEST_OBJ) -lcmocka $(LDLIBS)

# Native programs the unwinder's tests stop and unwind (tests/targets/native_chain.c):
# with symbols; stripped with its functions exported (.dynsym only); stripped bare.
NATIVE_CFLAGS  := -std=c17 -D_GNU_SOURCE -O0 -g -Wall -Wextra -Werror -pthread
NATIVE_TARGETS := $(B)/targets/native_chain $(B)/targets/native_chain_dynsym $(B)/targets/native_chain_stripped

$(B)/targets/native_chain: tests/targets/native_chain.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(NATIVE_CFLAGS) -o $@ $<

$(B)/targets/native_chain_dynsym: tests/targets/native_chain.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(NATIVE_CFLAGS) -rdynamic -s -o $@ $<

$(B)/targets/native_chain_stripped: tests/targets/native_chain.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(NATIVE_CFLAGS) -s -o $@ $<

# Developer tools linked against the library (tools/walk_capture: fuzz_walk's corpus).
tools: $(TOOL_BIN)

$(B)/tools/%: tools/%.c $(TEST_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/support -o $@ $< $(TEST_OBJ) $(LDLIBS)

# The sanitizer build: the same sources, instrumented.
asan: $(B)/spyglass-asan $(ASAN_UNIT)

$(B)/spyglass-asan: $(ASAN_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-ASAN,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

$(B)/asan-tests/%: tests/unit/%.c $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -Itests/unit -Itests/support -o $@ $< $(ASAN_LIB) -lcmocka $(LDLIBS)

deps:
	@bash tools/deps.sh

unit: $(B)/spyglass $(UNIT_BIN) $(NATIVE_TARGETS)
	@bash tools/run_unit.sh $(UNIT_BIN)

unit-asan: asan $(NATIVE_TARGETS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		bash tools/run_unit.sh $(ASAN_UNIT)

# C drivers the e2e tests run beside the real binary: value.c against live
# interpreters (plain and sanitized), every writer on a fixed profile.
E2E_DRIVERS := $(B)/tests/value_driver $(B)/tests/value_driver-asan $(B)/tests/format_driver-asan

$(B)/tests/value_driver: tests/e2e/value_driver.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(B)/tests/%-asan: tests/e2e/%.c $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -o $@ $< $(ASAN_LIB) $(LDLIBS)

# E2E_JOBS parallel pytest workers (python3-pytest-xdist); most e2e time is targets sleeping.
E2E_JOBS ?= 3
e2e: $(B)/spyglass $(B)/spyglass-asan $(E2E_DRIVERS)
	@GOCACHE=$(abspath build)/gocache go tool pprof -h >/dev/null 2>&1 || true
	@/usr/bin/python3 tools/pydeps.py || echo "pydeps: the tests that need these packages will fail"
	@bash tools/otelcol.sh wait || true  # a failed build fails test_agent.py with its reason
	$(PYTEST) -q -ra -n $(E2E_JOBS) tests/e2e

# Debian sid's python3.14 and python3.15 under build/sid/ (no package here has them);
# the e2e tests skip them if this fails (offline).
sid:
	@bash tools/sid_pythons.sh || echo "spyglass: no Debian sid Pythons; their e2e tests will skip"

# The dump and record tests on 3.13.0 with every offset _Py_DebugOffsets has read from the
# target and none from spyglass's table (SPYGLASS_LAYOUT=offsets).
e2e-offsets: $(B)/spyglass $(B)/spyglass-asan
	SPYGLASS_LAYOUT=offsets $(PYTEST) -q -ra -n $(E2E_JOBS) -k 'py3.13 and not py3.13t' \
		tests/e2e/test_dump.py tests/e2e/test_record.py

browser: $(B)/spyglass
	bash tests/browser/run.sh

# libFuzzer harnesses: the library is compiled once with clang's
# instrumentation, then each fuzz/fuzz_*.c is linked against it.
FUZZ_CC    ?= clang
FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
FUZZ_LIB   := $(filter-out src/cmd/%.c,$(LIB_SRC)) $(SUPPORT_SRC)
FUZZ_OBJ   := $(FUZZ_LIB:%.c=$(B)/fuzzobj/%.o)
FUZZ_FLAGS := -g -O1 -fno-sanitize-recover=undefined

fuzz-bins: $(FUZZ_BIN)

$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-FUZZ,$<)
	$(Q)$(FUZZ_CC) $(CSTD) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -Isrc -Itests/support -MMD -MP -c -o $@ $<

$(B)/fuzz/%: fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(FUZZ_CC) $(CSTD) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -Isrc -Itests/support -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

fuzz-replay:
	bash fuzz/run.sh --replay

# Parallel compiles for the build steps of make test (tests themselves pace their own).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Two slow set-ups start in the background so that they overlap lint, the
# builds and unit: tools/pydeps.py (PyPI packages for the pyenv interpreters,
# mostly network time) and the agent tests' OpenTelemetry Collector, built
# from Go modules (tools/otelcol.sh). e2e waits for both.
test: deps
	@mkdir -p build && (/usr/bin/python3 tools/pydeps.py >build/pydeps.log 2>&1 &)
	@bash tools/otelcol.sh background
	$(MAKE) lint
	$(MAKE) -j$(JOBS) all asan tools $(UNIT_BIN)
	$(MAKE) -j$(JOBS) fuzz-bins
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) fuzz-replay
	$(MAKE) sid
	$(MAKE) e2e
	$(MAKE) browser

demo: deps
	$(MAKE) all
	@bash examples/demo.sh

bench: deps all
	@bash bench/run.sh

fuzz: deps
	@bash fuzz/run.sh

soak: deps all
	@bash tools/soak.sh

# Every C file we write: sources, headers, unit tests, fuzz harnesses, tools.
FORMATTED = $(filter-out $(GEN_SRC),$(SRC)) $(wildcard src/*/*.h src/*.h) $(UNIT_SRC) $(FUZZ_SRC) $(TOOL_SRC) \
	$(SUPPORT_SRC) $(wildcard tests/support/*.h)

# cppcheck reports (it fails nothing); clang-format fails on any unformatted file.
lint:
	$(call say,LINT,cppcheck)
	$(Q)cppcheck --quiet --inline-suppr --enable=warning,performance,portability --std=c11 -D_GNU_SOURCE -Isrc src tests/support
	$(call say,LINT,clang-format)
	$(Q)clang-format --dry-run --Werror $(FORMATTED)
	$(call say,LINT,node-check)
	$(Q)node --check src/format/flamegraph.js

format:
	clang-format -i $(FORMATTED)

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(ASAN_LIB:.o=.d) $(ASAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
