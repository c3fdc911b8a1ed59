# mtls-sidecar — plain Makefile.  `make`, `make test`, `make demo`, `make deps`.
# SANITIZE=address,undefined (or thread) builds into build/san-*/, DEBUG=1
# into build/debug/, so that sanitized, debug and plain objects never mix.

# `make` alone builds the programs, whatever rule comes first below
.DEFAULT_GOAL := all

CC      ?= cc
PKGS    = libevent_core libevent_openssl libevent_pthreads openssl yaml-0.1 libprotobuf-c libnghttp2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libevent_openssl.pc asks for all of libevent; nothing here uses its
# extras (evhttp, evdns, evrpc), and not mapping them is ~0.3 MiB less RSS
PKG_LIBS   := $(patsubst -levent,-levent_core,$(shell pkg-config --libs $(PKGS) 2>/dev/null))
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
LLHTTP_SRC_DIR ?= /usr/share/llhttp
LLHTTP_INC_DIR ?= /usr/share/include/llhttp

WARN    = -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings \
          -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
          -Wimplicit-fallthrough -Wundef -Wvla -Werror
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -g -fno-omit-frame-pointer \
          -fstack-protector-strong -fPIE -pthread
CFLAGS  ?=
LDFLAGS ?=
ALL_CFLAGS  = $(BASE_CFLAGS) $(WARN) $(CFLAGS) -Icommon $(PROXY_INC) -Iagent -Ictl \
              -I$(LLHTTP_INC_DIR) -I$(BUILD)/gen $(PKG_CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -pthread $(LDFLAGS)

# Sanitizer and DEBUG=1 builds also check the magic numbers of the big
# asynchronous objects (common/magic.h), so a use after free aborts there.
ifdef SANITIZE
BUILD   = build/san-$(subst $(comma),-,$(SANITIZE))
ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -O1 -DSC_DEBUG_MAGIC
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
else ifdef DEBUG
BUILD   = build/debug
ALL_CFLAGS  += -O1 -DSC_DEBUG_MAGIC
else
BUILD   = build
ALL_CFLAGS  += -O2 -D_FORTIFY_SOURCE=2
endif
comma := ,
BIN     = $(BUILD)/bin

COMMON_SRC = $(wildcard common/*.c)
# proxy/: the worker's core (accept → decision → upstream) at the top,
# io/ (raw sockets), l4/ (relay), http/ (HTTP/1.1 session, pool), hbone/
# (HTTP/2 CONNECT tunnels) and control/ (the main thread's side)
PROXY_DIRS = proxy proxy/io proxy/l4 proxy/http proxy/hbone proxy/control
PROXY_INC  = $(PROXY_DIRS:%=-I%)
PROXY_SRC  = $(filter-out proxy/main.c,$(wildcard $(PROXY_DIRS:%=%/*.c)))
AGENT_SRC  = $(filter-out agent/main.c,$(wildcard agent/*.c))
CTL_SRC    = $(filter-out ctl/main.c,$(wildcard ctl/*.c))
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
PROXY_OBJ  = $(PROXY_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_OBJ  = $(AGENT_SRC:%.c=$(BUILD)/obj/%.o)
CTL_OBJ    = $(CTL_SRC:%.c=$(BUILD)/obj/%.o)
LLHTTP_OBJ = $(patsubst $(LLHTTP_SRC_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(wildcard $(LLHTTP_SRC_DIR)/*.c))

LIBS = $(BUILD)/libproxy.a $(BUILD)/libcommon.a $(BUILD)/libllhttp.a

# ---- SDS protobuf messages (common/sdsproto.c) -------------------------
# protoc-c generates C from our minimal Envoy .proto files (proto/) into
# $(BUILD)/gen/ at build time; nothing generated is committed.  The objects
# go into their own archive (their symbols are protobuf-c's names, not sc_),
# linked after libcommon.a.
PROTO_SRC = $(shell find proto -name '*.proto' 2>/dev/null | sort)
PROTO_C   = $(PROTO_SRC:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_H   = $(PROTO_SRC:proto/%.proto=$(BUILD)/gen/%.pb-c.h)
PROTO_OBJ = $(PROTO_SRC:proto/%.proto=$(BUILD)/obj/gen/%.pb-c.o)
LIBS += $(BUILD)/libsdspb.a

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto $*.proto
$(BUILD)/obj/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(if $(SANITIZE),-fsanitize=$(SANITIZE) -O1,-O2) -I$(BUILD)/gen $(PKG_CFLAGS) -w -c -o $@ $<
$(BUILD)/libsdspb.a: $(PROTO_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
# every object may include a generated header (sdsproto.c does)
$(COMMON_OBJ) $(PROXY_OBJ) $(AGENT_OBJ) $(CTL_OBJ): | $(PROTO_H)
.SECONDARY: $(PROTO_C) $(PROTO_H)
# test tools that use the shared library (the pattern rule below links none)
$(BUILD)/tools/sds-fetch: test/tools/sds-fetch.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(LIBS) $(ALL_LDFLAGS) $(PKG_LIBS)

UNIT_SRC   = $(wildcard test/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
FUZZ_SRC   = $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BIN   = $(FUZZ_SRC:test/fuzz/%.c=$(BUILD)/fuzz/%)
TOOL_SRC   = $(wildcard test/tools/*.c)
TOOL_BIN   = $(TOOL_SRC:test/tools/%.c=$(BUILD)/tools/%)

PROGRAMS = $(BIN)/sidecar $(if $(wildcard agent/main.c),$(BIN)/sds-agent) $(BIN)/sidecarctl

.PHONY: all deps test unit integration fuzz-replay fuzz demo clean lint fmt test-lint tsan \
        test-plain test-sanitize tools bench e2e demo-netns fuzz-long format-check \
        test-build test-build-plain test-build-san test-build-tsan test-build-fuzz test-bins \
        test-quick test-fuzz test-it-plain test-it-san test-it-tsan unit-bins
all: $(PROGRAMS) $(if $(SANITIZE),,bin-links)

bin-links: $(PROGRAMS)
	@mkdir -p bin
	@for p in $(PROGRAMS); do ln -sf ../$$p bin/; done

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(if $(SANITIZE),-fsanitize=$(SANITIZE) -O1,-O2) -I$(LLHTTP_INC_DIR) -DLLHTTP_STRICT_MODE=1 -w -c -o $@ $<

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(BUILD)/libproxy.a: $(PROXY_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $(if $^,$^,)
$(BUILD)/libagent.a: $(AGENT_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $(if $^,$^,)
# sidecarctl's own modules (ctl/): the admin API client and its tables
$(BUILD)/libctl.a: $(CTL_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(BUILD)/libllhttp.a: $(LLHTTP_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

$(BIN)/sidecar: $(BUILD)/obj/proxy/main.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBS) $(ALL_LDFLAGS) $(PKG_LIBS)
$(BIN)/sidecarctl: $(BUILD)/obj/ctl/main.o $(BUILD)/libctl.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libctl.a $(BUILD)/libcommon.a $(ALL_LDFLAGS) $(PKG_LIBS)
$(BIN)/sds-agent: $(BUILD)/obj/agent/main.o $(BUILD)/libagent.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libagent.a $(LIBS) $(ALL_LDFLAGS) $(PKG_LIBS)

$(BUILD)/test/%: test/unit/%.c $(LIBS) $(BUILD)/libctl.a $(if $(AGENT_SRC),$(BUILD)/libagent.a)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libctl.a $(if $(AGENT_SRC),$(BUILD)/libagent.a) $(LIBS) $(ALL_LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

# Fuzz targets built with gcc and a replay main(), so they run in `make test`.
$(BUILD)/fuzz/%: test/fuzz/%.c test/fuzz/replay_main.c $(LIBS) $(if $(AGENT_SRC),$(BUILD)/libagent.a)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< test/fuzz/replay_main.c $(if $(AGENT_SRC),$(BUILD)/libagent.a) $(LIBS) $(ALL_LDFLAGS) $(PKG_LIBS)

$(BUILD)/tools/%: test/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(ALL_LDFLAGS) $(PKG_LIBS)

tools: $(TOOL_BIN)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

fuzz-replay: $(FUZZ_BIN)
	@scripts/run-fuzz-replay.sh $(FUZZ_BIN)

integration: all $(TOOL_BIN)
	@SC_BUILD=$(BUILD) test/integration/run.sh

e2e: all $(TOOL_BIN)
	@SC_BUILD=$(BUILD) test/e2e/run.sh

# The whole suite (what .ci/run runs), within 25 minutes on 2 cores:
#   1. every build, two compilers at a time: plain, ASan/UBSan, TSan and
#      the libFuzzer targets (build/libfuzzer/);
#   2. side by side: every libFuzzer target for FUZZ_CI_SECONDS (30 s), two
#      at a time, beside lint, format-check, and the unit tests and fuzz
#      replays of each build;
#   3. side by side: integration + e2e plain, the same under ASan/UBSan, and
#      the integration tests that run several workers (TSAN_TESTS) under
#      TSan, each suite two tests at a time (test/suite.sh; a test marked
#      "# exclusive:" runs alone across all three).
# Each group's output is printed when it ends; the last line is
# "N passed, N failed" (scripts/summarize-tests.sh).
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
TSAN_TESTS = 74-resumption 90-http-pooling 84-rotation-leaf
FUZZ_CI_SECONDS ?= 30
SUBMAKE = $(MAKE) --no-print-directory
test: deps
	@scripts/summarize-tests.sh --reset
	+@$(SUBMAKE) -k -j2 test-build; a=$$?; \
	  $(SUBMAKE) -k -j2 --output-sync=recurse test-fuzz test-quick; b=$$?; \
	  $(SUBMAKE) -k -j3 --output-sync=recurse test-it-plain test-it-san test-it-tsan; c=$$?; \
	  scripts/summarize-tests.sh; d=$$?; \
	  [ $$a = 0 ] && [ $$b = 0 ] && [ $$c = 0 ] && [ $$d = 0 ]

# a build that fails is recorded as "build/<flavour> FAIL"
RECORD_BUILD = || { scripts/results.sh add build/$(1) FAIL; exit 1; }
test-bins: all tools $(UNIT_BIN) $(FUZZ_BIN)
test-build: test-build-plain test-build-san test-build-tsan test-build-fuzz
test-build-plain:
	+@$(SUBMAKE) test-bins $(call RECORD_BUILD,plain)
test-build-san:
	+@$(SUBMAKE) SANITIZE=address,undefined test-bins $(call RECORD_BUILD,san-address-undefined)
test-build-tsan:
	+@$(SUBMAKE) SANITIZE=thread all tools unit-bins $(call RECORD_BUILD,san-thread)
# after the plain build: both use build/gen/
test-build-fuzz: test-build-plain
	+@$(SUBMAKE) fuzz $(call RECORD_BUILD,libfuzzer)
unit-bins: $(UNIT_BIN)

test-fuzz:
	@scripts/run-fuzz-long.sh -j 2 --suite fuzz $(FUZZ_CI_SECONDS) $(LIBFUZZER_BIN)

# lint, format and the unit tests and fuzz replays of the three builds
test-quick:
	+@$(SUBMAKE) -k test-lint; a=$$?; \
	  if scripts/format-check.sh $(FMT_FILES) >$(BUILD)/format.log 2>&1; then \
	    scripts/results.sh add lint/format PASS; echo "PASS format-check"; \
	  else scripts/results.sh add lint/format FAIL; cat $(BUILD)/format.log; false; fi; f=$$?; \
	  scripts/run-unit.sh $(UNIT_BIN); u=$$?; \
	  scripts/run-fuzz-replay.sh $(FUZZ_BIN); r=$$?; \
	  $(SAN_ENV) $(SUBMAKE) -k SANITIZE=address,undefined unit fuzz-replay; s=$$?; \
	  $(TSAN_ENV) $(SUBMAKE) -k SANITIZE=thread unit; t=$$?; \
	  [ $$a$$f$$u$$r$$s$$t = 000000 ]

test-it-plain:
	@SC_BUILD=build test/integration/run.sh; a=$$?; SC_BUILD=build test/e2e/run.sh; b=$$?; \
	  [ $$a$$b = 00 ]
test-it-san:
	@export $(SAN_ENV); SC_BUILD=build/san-address-undefined test/integration/run.sh; a=$$?; \
	  SC_BUILD=build/san-address-undefined test/e2e/run.sh; b=$$?; [ $$a$$b = 00 ]
test-it-tsan:
	@$(TSAN_ENV) SC_BUILD=build/san-thread test/integration/run.sh $(TSAN_TESTS)

# make lint inside make test, recorded as the suite "lint" in the summary
test-lint: all
	@if scripts/lint.sh >$(BUILD)/lint.log 2>&1; then \
	  scripts/results.sh add lint/lint PASS; echo "PASS lint"; \
	else \
	  scripts/results.sh add lint/lint FAIL; cat $(BUILD)/lint.log; exit 1; \
	fi

# ThreadSanitizer on its own: the unit tests, and the integration tests
# that run several workers (make test runs the same).
tsan:
	+@$(SUBMAKE) SANITIZE=thread all tools unit-bins
	@$(TSAN_ENV) $(SUBMAKE) SANITIZE=thread unit
	@$(TSAN_ENV) SC_BUILD=build/san-thread test/integration/run.sh $(TSAN_TESTS)

# The old sequential order, one flavour at a time (make test runs both).
test-plain: all
	@$(MAKE) --no-print-directory unit fuzz-replay integration e2e

test-sanitize:
	@$(SAN_ENV) \
	  $(MAKE) --no-print-directory SANITIZE=address,undefined all unit fuzz-replay integration e2e

# libFuzzer builds (clang): every source is compiled once with clang's
# sanitizer coverage into build/libfuzzer/libfuzzed.a, then each target is
# linked against it with libFuzzer's main.
LIBFUZZER_BIN = $(FUZZ_SRC:test/fuzz/%.c=build/libfuzzer/%)
LF_CFLAGS = -std=c11 -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1 -g -O1 \
            -Icommon $(PROXY_INC) -Iagent -I$(LLHTTP_INC_DIR) -Ibuild/gen $(PKG_CFLAGS)
LF_OBJ = $(patsubst %.c,build/libfuzzer/obj/%.o,$(COMMON_SRC) $(PROXY_SRC) $(AGENT_SRC)) \
         $(patsubst build/gen/%.c,build/libfuzzer/obj/gen/%.o,$(PROTO_SRC:proto/%.proto=build/gen/%.pb-c.c)) \
         $(patsubst $(LLHTTP_SRC_DIR)/%.c,build/libfuzzer/obj/llhttp/%.o,$(wildcard $(LLHTTP_SRC_DIR)/*.c))
fuzz: $(LIBFUZZER_BIN)
build/libfuzzer/obj/gen/%.o: build/gen/%.c $(PROTO_SRC:proto/%.proto=build/gen/%.pb-c.h)
	@mkdir -p $(dir $@)
	clang $(LF_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -w -c -o $@ $<
build/libfuzzer/obj/llhttp/%.o: $(LLHTTP_SRC_DIR)/%.c
	@mkdir -p $(dir $@)
	clang $(LF_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -w -c -o $@ $<
build/libfuzzer/obj/%.o: %.c | $(PROTO_SRC:proto/%.proto=build/gen/%.pb-c.h)
	@mkdir -p $(dir $@)
	clang $(LF_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<
build/libfuzzer/libfuzzed.a: $(LF_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
build/libfuzzer/%: test/fuzz/%.c build/libfuzzer/libfuzzed.a $(wildcard test/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang $(LF_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< build/libfuzzer/libfuzzed.a $(PKG_LIBS)

# Every libFuzzer target for FUZZ_SECONDS (default 600) each, from its
# seeds; stops at the first crash and says where the input is
# (scripts/run-fuzz-long.sh).  Not part of `make test`.
FUZZ_SECONDS ?= 600
fuzz-long: fuzz
	@scripts/run-fuzz-long.sh $(FUZZ_SECONDS) $(FUZZ_SRC:test/fuzz/%.c=build/libfuzzer/%)

demo: deps all $(TOOL_BIN)
	@SC_BUILD=$(BUILD) scripts/demo.sh

demo-netns: deps all $(TOOL_BIN)
	@SC_BUILD=$(BUILD) scripts/demo-netns.sh

bench: all $(TOOL_BIN)
	@SC_BUILD=$(BUILD) bench/run.sh

lint:
	@scripts/lint.sh

# .clang-format's style; format-check fails on any difference.
FMT_FILES = $(wildcard common/*.[ch] $(PROXY_DIRS:%=%/*.[ch]) ctl/*.[ch] agent/*.[ch] test/unit/*.c test/fuzz/*.[ch] test/tools/*.c)
fmt:
	clang-format -i $(FMT_FILES)

format-check:
	@scripts/format-check.sh $(FMT_FILES)

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
