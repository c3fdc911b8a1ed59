# mtls-sidecar — plain Makefile.  `make`, `make test`, `make demo`, `make deps`.
# SANITIZE=address,undefined (or thread) builds into build/san-*/, DEBUG=1
# into build/debug/, so that sanitized, debug and plain objects never mix.

# `make` alone builds the programs, whatever rule comes first below
.DEFAULT_GOAL := all

CC      ?= cc
PKGS    = libevent libevent_openssl libevent_pthreads openssl yaml-0.1 libprotobuf-c libnghttp2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
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
ALL_CFLAGS  = $(BASE_CFLAGS) $(WARN) $(CFLAGS) -Icommon -Iproxy -Iagent -Ictl \
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
PROXY_SRC  = $(filter-out proxy/main.c,$(wildcard proxy/*.c))
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
        test-plain test-sanitize tools bench e2e demo-netns fuzz-long
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

# The whole suite: plain, then unit + fuzz replay + integration again under
# AddressSanitizer and UBSan.  Must stay well under 20 minutes on 2 cores.
test: deps
	@scripts/summarize-tests.sh --reset
	@$(MAKE) -k --no-print-directory test-plain; a=$$?; \
	  $(MAKE) -k --no-print-directory test-lint; l=$$?; \
	  $(MAKE) -k --no-print-directory test-sanitize; b=$$?; \
	  scripts/summarize-tests.sh; c=$$?; \
	  [ $$a = 0 ] && [ $$l = 0 ] && [ $$b = 0 ] && [ $$c = 0 ]

# make lint inside make test, recorded as the suite "lint" in the summary
test-lint: all
	@if scripts/lint.sh >$(BUILD)/lint.log 2>&1; then \
	  echo "lint/lint PASS" >>$${SC_RESULTS:-build/test-results.txt}; echo "PASS lint"; \
	else \
	  echo "lint/lint FAIL" >>$${SC_RESULTS:-build/test-results.txt}; cat $(BUILD)/lint.log; exit 1; \
	fi

# ThreadSanitizer: the unit tests, and the integration tests that run
# several workers.  Not part of `make test` (it would take CI past its
# time budget); run it before touching the data path's threading.
tsan:
	@$(MAKE) --no-print-directory SANITIZE=thread all tools unit
	@SC_BUILD=build/san-thread test/integration/run.sh 74-resumption 90-http-pooling 84-rotation-leaf

test-plain: all
	@$(MAKE) --no-print-directory unit fuzz-replay integration e2e

test-sanitize:
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory SANITIZE=address,undefined all unit fuzz-replay integration e2e

# libFuzzer builds (clang), not part of `make test`: one binary per target,
# each compiled from every source (clang's sanitizer coverage on all of
# it), rebuilt when a source changes.
LIBFUZZER_BIN = $(FUZZ_SRC:test/fuzz/%.c=build/libfuzzer/%)
LIBFUZZER_SRC = $(COMMON_SRC) $(PROXY_SRC) $(AGENT_SRC) $(PROTO_C) $(wildcard $(LLHTTP_SRC_DIR)/*.c)
fuzz: $(LIBFUZZER_BIN)
build/libfuzzer/%: test/fuzz/%.c $(LIBFUZZER_SRC) $(PROTO_H) \
                   $(wildcard common/*.h proxy/*.h agent/*.h test/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1 -g -O1 -fsanitize=fuzzer,address,undefined \
	    -Icommon -Iproxy -Iagent -I$(LLHTTP_INC_DIR) -I$(BUILD)/gen $< $(LIBFUZZER_SRC) \
	    -o $@ $(PKG_LIBS)

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

fmt:
	clang-format -i common/*.[ch] proxy/*.[ch] ctl/*.[ch] $(wildcard agent/*.[ch]) test/unit/*.c

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
