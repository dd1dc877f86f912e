# tconv — one build system: this Makefile.
#   make            library (build/libtconv.a, build/libtconv.so) and the tool (build/tconv)
#   make test       everything the README's test command runs
#   make sanitize   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make install PREFIX=/usr/local DESTDIR=
CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wvla
BASEFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -DTCONV_BUILDING -Iinclude -Isrc \
             -MMD -MP $(WARN)
LDLIBS   += -lm -lpthread
PREFIX   ?= /usr/local
# The version has one source, include/tconv.h; the shared library is libtconv.so.$(VERSION) with
# soname libtconv.so.$(SOVERSION) (packaging/install.mk installs it with its symlinks).
VERSION  := $(shell sed -n 's/^\#define TCONV_VERSION_STRING "\([0-9.]*\)"$$/\1/p' include/tconv.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))

# Optional system libraries, found with pkg-config; the I/O modules that need them check
# TCONV_HAVE_* and report TCONV_UNSUPPORTED when built without.
define optional_lib
ifeq ($$(shell pkg-config --exists $(1) 2>/dev/null && echo yes),yes)
BASEFLAGS += -DTCONV_HAVE_$(2) $$(shell pkg-config --cflags $(1))
LDLIBS    += $$(shell pkg-config --libs $(1))
endif
endef
$(eval $(call optional_lib,libpng,PNG))
$(eval $(call optional_lib,libjpeg,JPEG))
$(eval $(call optional_lib,zlib,ZLIB))
$(eval $(call optional_lib,libcjson,CJSON))
$(eval $(call optional_lib,snappy,SNAPPY))
$(eval $(call optional_lib,libzip,LIBZIP))
$(eval $(call optional_lib,hdf5-serial,HDF5))

LIB_SRC  := $(shell find src -name '*.c' | sort)
TOOL_SRC := $(shell find tools/tconv -name '*.c' | sort)
TEST_SRC := $(shell find tests/unit -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

# ISA flags per source file, never globally: a file named *-avx2-fma.c gets AVX2+FMA.
$(BUILD)/%-avx2-fma.o: ISAFLAGS := -mavx2 -mfma
$(BUILD)/%-avx512f.o: ISAFLAGS := -mavx512f -mavx512vl -mavx2 -mfma
# clang 14 needs many minutes to compile the fully unrolled intrinsics kernels with ASan and
# UBSan together (f32-prow-avx2-fma.c: over 7 minutes); the sanitizer builds keep ASan on the
# x86 kernels and UBSan everywhere else.
$(BUILD)/src/kernels/x86/%.o: KERNEL_SANFLAGS := $(if $(findstring undefined,$(CFLAGS)),-fno-sanitize=undefined)

all: $(BUILD)/libtconv.a $(BUILD)/libtconv.so $(BUILD)/tconv

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(ISAFLAGS) $(KERNEL_SANFLAGS) -c $< -o $@

$(BUILD)/libtconv.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libtconv.so.$(VERSION): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libtconv.so.$(SOVERSION) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libtconv.so.$(SOVERSION) $(BUILD)/libtconv.so: $(BUILD)/libtconv.so.$(VERSION)
	ln -sf libtconv.so.$(VERSION) $@

$(BUILD)/tconv: $(TOOL_OBJ) $(BUILD)/libtconv.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libtconv.a $(LDLIBS)

$(BUILD)/unit-tests: $(TEST_OBJ) $(BUILD)/libtconv.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libtconv.a $(LDLIBS)

test: $(BUILD)/tconv $(BUILD)/unit-tests
	BUILD=$(BUILD) sh tests/run.sh

sanitize:
	$(MAKE) BUILD=build-asan CC=clang OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" test

# ThreadSanitizer over the threaded unit tests (pools of 2-3 threads, concurrent layer use).
TSAN_TESTS ?= threadpool concurrency kernels backward_fast
tsan:
	$(MAKE) BUILD=build-tsan CC=clang OPT=-O1 CFLAGS="-O1 -g -fsanitize=thread" \
	  LDFLAGS="-fsanitize=thread" build-tsan/unit-tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/unit-tests $(TSAN_TESTS)

# Library allocations, then writes, failing in turn under each unit test (ASan build; up to 48
# spread-out failure points per test, `--fail-alloc=all` / `--fail-write=all` for every one).
fault-injection:
	$(MAKE) BUILD=build-asan CC=clang OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" build-asan/unit-tests
	build-asan/unit-tests --fail-alloc
	build-asan/unit-tests --fail-write
.PHONY: tsan fault-injection

clean:
	rm -rf build build-*

.PHONY: all test sanitize clean
-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
include packaging/install.mk

# Fuzz targets: fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput.  Each is built twice: as a
# replay binary (any compiler; runs fuzz/corpus/NAME/ in the test suite) and, with `make fuzz`,
# as a libFuzzer binary (clang).  Run one for N seconds: make fuzz && sh fuzz/run.sh NAME N
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay-%)
$(BUILD)/fuzz-replay-%: fuzz/fuzz_%.c fuzz/replay_main.c $(BUILD)/libtconv.a
	$(CC) $(BASEFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< fuzz/replay_main.c $(BUILD)/libtconv.a $(LDLIBS)
fuzz-replay: $(FUZZ_REPLAY)
test: fuzz-replay
test: examples
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" \
	  $(FUZZ_NAMES:%=build-fuzz/fuzzer-%)
build-fuzz/fuzzer-%: fuzz/fuzz_%.c build-fuzz/libtconv.a
	clang $(BASEFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< build-fuzz/libtconv.a $(LDLIBS)
.PHONY: fuzz fuzz-replay

# The seed's uses (the README's main command).
EXAMPLES := $(patsubst examples/%/main.c,%,$(wildcard examples/*/main.c))
$(BUILD)/examples/%: examples/%/main.c $(BUILD)/libtconv.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtconv.a $(LDLIBS)
examples: $(EXAMPLES:%=$(BUILD)/examples/%)
run: $(BUILD)/tconv $(BUILD)/examples/use1_feature_map
	$(BUILD)/examples/use1_feature_map
	@mkdir -p $(BUILD)/out && echo "use 2: a 224x224 photo through Conv2DTranspose(filters=3, strides=2, 'same')"
	$(BUILD)/tconv upsample data/photos/astronaut_224.png $(BUILD)/out/astronaut_448.png --compare data/photos/heldout/astronaut.png
	@echo "use 3: MNIST 2x super-resolution: train, save, restore, view a 28x28 digit at 56x56"
	$(BUILD)/tconv mnist train --epochs 2 --out $(BUILD)/out/mnist_sr.safetensors
	$(BUILD)/tconv mnist show --checkpoint $(BUILD)/out/mnist_sr.safetensors --index 0 -o $(BUILD)/out/mnist_digit_sheet.png --raw $(BUILD)/out/mnist_digit_56x56.png
.PHONY: examples run
