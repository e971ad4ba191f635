# llmopt: build the dynamic module and the core, run the tests.
#
#   make              build build/nginx/objs/ngx_http_llmopt_module.so
#   make test         scripts/setup, then unit + integration tests (prove)
#   make check        the tests alone
#   make unit         C unit tests only
#   make bench        decision-path, trainer and translation benchmarks
#   make bench-proxy  nginx + llmopt beside plain nginx, under wrk
#   NGINX_SRC=/path   build against an upstream nginx source tree

NGINX_SRC  ?= /usr/share/nginx/src
BUILD      ?= build
NGX_BUILD  := $(BUILD)/nginx
CC         ?= cc
CFLAGS     ?= -O2 -g
CORE_CFLAGS = $(CFLAGS) -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Isrc -It/unit
LDLIBS_CORE = -lyaml -lm
PROVE_JOBS ?= 2
NGX_CC_OPT ?= -O2 -g
NGX_LD_OPT ?=

CORE_SRCS  := $(wildcard src/*.c)
CORE_HDRS  := $(wildcard src/*.h)
CORE_OBJS  := $(patsubst src/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
UNIT_SRCS  := $(wildcard t/unit/*.c)
UNIT_BINS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
GLUE_SRCS  := $(wildcard ngx_llmopt_module/*.c ngx_llmopt_module/*.h)
FUZZ_NAMES := fuzz_request fuzz_usage fuzz_catalog fuzz_feedback \
              fuzz_translate fuzz_responses
FUZZ_BINS  := $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_NAMES))
MODULE     := $(NGX_BUILD)/objs/ngx_http_llmopt_module.so

.PHONY: all module core unit test check itest bench bench-proxy clean setup \
        check-layers sanitize fuzz

all: module

module: $(MODULE)

# nginx is configured again only when the list of source files changes.
SRC_LIST   := $(BUILD)/sources.list
$(shell mkdir -p $(BUILD); \
    ls src/*.[ch] ngx_llmopt_module/*.[ch] 2>/dev/null > $(SRC_LIST).new; \
    cmp -s $(SRC_LIST).new $(SRC_LIST) || mv $(SRC_LIST).new $(SRC_LIST); \
    rm -f $(SRC_LIST).new)

# a release tarball has ./configure, a git checkout auto/configure
CONFIGURE  := $(if $(wildcard $(NGINX_SRC)/configure),./configure,auto/configure)

$(NGX_BUILD)/.configured: config $(NGINX_SRC)/src/core/nginx.h $(SRC_LIST)
	rm -rf $(NGX_BUILD)
	mkdir -p $(NGX_BUILD)
	cp -a $(NGINX_SRC)/. $(NGX_BUILD)/
	cd $(NGX_BUILD) && $(CONFIGURE) --with-compat \
	    --with-cc-opt='$(NGX_CC_OPT) -Werror' \
	    $(if $(NGX_LD_OPT),--with-ld-opt='$(NGX_LD_OPT)') \
	    --add-dynamic-module=$(CURDIR) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }
	touch $@

# the dashboard page, made at configure time, again when its sources change
DASHBOARD  := dashboard/index.html dashboard/package.json
PAGE       := $(NGX_BUILD)/objs/ngx_http_llmopt_page.h

$(PAGE): $(NGX_BUILD)/.configured $(DASHBOARD) scripts/embed-dashboard
	perl scripts/embed-dashboard $(CURDIR) $@

$(MODULE): $(NGX_BUILD)/.configured $(CORE_SRCS) $(CORE_HDRS) $(GLUE_SRCS) \
           $(PAGE)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules

core: $(BUILD)/libllmopt.a

$(BUILD)/core/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

$(BUILD)/libllmopt.a: $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(BUILD)/libllmopt.a
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libllmopt.a $(LDLIBS_CORE)

unit: $(UNIT_BINS) check-layers
	prove -j$(PROVE_JOBS) $(UNIT_BINS)

check-layers:
	@! grep -rlE '#include[[:space:]]*[<"](ngx_|hiredis)' src \
	    || { echo "src/ must not include nginx or hiredis headers"; exit 1; }
	@! grep -lE '#include[[:space:]]*<yaml.h>' src/*.c \
	    | grep -v 'src/llmopt_catalog_yaml.c' \
	    || { echo "only src/llmopt_catalog_yaml.c may include yaml.h"; exit 1; }
	@scripts/check-includes src ngx_llmopt_module scripts

# "make test" works on a fresh machine: it installs what is missing first
test:
	scripts/setup
	$(MAKE) check

check: module $(UNIT_BINS) $(FUZZ_BINS) $(BUILD)/replay $(BUILD)/replay-cache \
       check-layers
	LLMOPT_MODULE=$(CURDIR)/$(MODULE) prove -j$(PROVE_JOBS) $(UNIT_BINS) \
	    $(FUZZ_BINS) t/*.t

# the fuzz harnesses without libFuzzer: their regression inputs as tests
$(BUILD)/fuzz-replay/%: t/fuzz/%.c t/fuzz/replay.c t/unit/tap.h \
                        $(BUILD)/libllmopt.a
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -DREGRESS_DIR='"t/fuzz/regress/$*"' -o $@ \
	    t/fuzz/replay.c $< $(BUILD)/libllmopt.a $(LDLIBS_CORE)

fuzz:
	scripts/fuzz

itest: module
	LLMOPT_MODULE=$(CURDIR)/$(MODULE) prove -j$(PROVE_JOBS) t/*.t

$(BUILD)/bench-decision: scripts/bench-decision.c $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libllmopt.a $(LDLIBS_CORE)

REPLAY_SRCS := scripts/replay.c scripts/replay_data.c scripts/replay_run.c \
               scripts/replay_report.c scripts/replay_export.c \
               scripts/replay_catalog.c scripts/replay_cascade.c \
               scripts/replay_learner.c

$(BUILD)/replay: $(REPLAY_SRCS) scripts/replay.h $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -Iscripts -o $@ $(REPLAY_SRCS) \
	    $(BUILD)/libllmopt.a $(LDLIBS_CORE)

$(BUILD)/replay-cache: scripts/replay_cache.c scripts/replay_data.c \
                       scripts/replay.h $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -Iscripts -o $@ scripts/replay_cache.c \
	    scripts/replay_data.c $(BUILD)/libllmopt.a $(LDLIBS_CORE)

$(BUILD)/simulate: scripts/simulate.c $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libllmopt.a $(LDLIBS_CORE)

$(BUILD)/offline-eval: scripts/offline-eval.c $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libllmopt.a $(LDLIBS_CORE) -lhiredis

$(BUILD)/bench-trainer: scripts/bench-trainer.c $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libllmopt.a $(LDLIBS_CORE)

$(BUILD)/bench-translate: scripts/bench-translate.c $(BUILD)/libllmopt.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libllmopt.a $(LDLIBS_CORE)

bench-proxy: module
	scripts/bench-proxy

bench: $(BUILD)/bench-decision $(BUILD)/bench-trainer $(BUILD)/bench-translate
	$(BUILD)/bench-decision
	$(BUILD)/bench-trainer
	$(BUILD)/bench-translate

# The whole suite with AddressSanitizer and UBSan: the core and its unit
# tests built with them, the module too, loaded into the stock nginx with
# the sanitizer runtimes preloaded.  Any report fails the run.
SAN_FLAGS  = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined
SAN_PRELOAD = $(shell $(CC) -print-file-name=libasan.so) \
              $(shell $(CC) -print-file-name=libubsan.so)

sanitize:
	scripts/setup
	$(MAKE) BUILD=build/sanitize CFLAGS='$(SAN_FLAGS)' \
	    NGX_CC_OPT='$(SAN_FLAGS)' NGX_LD_OPT='-fsanitize=address,undefined' \
	    module build/sanitize/libllmopt.a
	$(MAKE) BUILD=build/sanitize CFLAGS='$(SAN_FLAGS)' \
	    LDLIBS_CORE='-lyaml -lm -fsanitize=address,undefined' \
	    $(patsubst $(BUILD)/%,build/sanitize/%,$(UNIT_BINS) $(FUZZ_BINS))
	ASAN_OPTIONS=detect_leaks=1 prove -j$(PROVE_JOBS) \
	    $(patsubst $(BUILD)/%,build/sanitize/%,$(UNIT_BINS) $(FUZZ_BINS))
	ASAN_OPTIONS=detect_leaks=0:log_path=$(CURDIR)/build/sanitize/asan \
	    UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build/sanitize/ubsan \
	    LLMOPT_NGINX_PRELOAD='$(SAN_PRELOAD)' \
	    LLMOPT_MODULE=$(CURDIR)/build/sanitize/nginx/objs/ngx_http_llmopt_module.so \
	    prove -j$(PROVE_JOBS) t/*.t
	@if ls build/sanitize/asan.* build/sanitize/ubsan.* >/dev/null 2>&1; then \
	    cat build/sanitize/asan.* build/sanitize/ubsan.* 2>/dev/null | head -50; \
	    echo "sanitizer reports above"; exit 1; fi

setup:
	scripts/setup

clean:
	rm -rf $(BUILD)
