# SPDX-License-Identifier: GPL-2.0
#
# cowdev top-level Makefile.
#
#   make               build module/cowdev.ko, the selftests and the tools
#                      for this machine's kernel (see below)
#   make demo          boot a guest kernel and show the device at work
#   make check         run the selftests in a guest kernel
#   make check-all     build, dkms and selftests on every kernel: 6.1, 6.12,
#                      the newest Debian ships, debug builds of 6.1 and
#                      the newest, and arm64 6.1, 6.12 (16 KiB pages) and
#                      the newest
#   make fuzz          cowfuzz, trinity and stress-ng against the device
#   make bench         fault-path costs against memfd and anonymous memory
#   make lint          checkpatch --strict, sparse (C=2) and W=1 builds
#
# The build targets install nothing and need no root, as an out-of-tree
# module's should: `make module` builds against KDIR, by default the
# running kernel's headers (/lib/modules/$(uname -r)/build) when they are
# installed; `make selftests` against KSFT_DIR, a kernel tree's
# tools/testing/selftests (by default KDIR's, when it is a full tree).
#
# The guest targets (demo, check, check-all, fuzz, bench, lint) set this
# machine up (packages, guest kernels, kernel source, chroots) and build for
# the guest kernel they boot.  KERNEL names it: 6.1 (default), 6.12, newest
# (or its version, 7.2 today), debug, debug-newest, arm64-6.1,
# arm64-6.12-16k (Debian 12's arm64 kernels, the second with 16 KiB pages)
# or arm64-newest (sid's), on QEMU's virt machine, everything cross-built.
# `make guest-build KERNEL=...` builds for one without booting it.

KERNEL ?= 6.1
RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
KDIR ?= $(if $(wildcard $(RUNNING_KDIR)/Makefile),$(RUNNING_KDIR))
KSFT_DIR ?= $(if $(wildcard $(KDIR)/tools/testing/selftests/kselftest_harness.h),$(KDIR)/tools/testing/selftests)
VM := tools/vm/run -k $(KERNEL)

.PHONY: all module selftests tools guest-build guest-selftests demo check \
	check-all fuzz bench lint clean

all: module selftests tools

module:
ifneq ($(KDIR),)
	$(MAKE) -C "$(KDIR)" M=$(CURDIR) modules
else
	@echo "make module: no headers for the running kernel $$(uname -r):" \
		"install linux-headers-$$(uname -r), or set KDIR to a kbuild" \
		"tree (make guest-build KERNEL=... builds for a guest kernel)" >&2
	@exit 1
endif

selftests:
ifneq ($(KSFT_DIR),)
	@$(MAKE) -C selftests KSFT_DIR="$(KSFT_DIR)"
else
	@echo "make selftests: set KSFT_DIR to a kernel tree's" \
		"tools/testing/selftests (kselftest_harness.h)" >&2
	@exit 1
endif

tools:
	@$(MAKE) -C tools

# The selftests against the kernel source the guest targets install, and
# installed as kselftest installs them, for the guest to run.
guest-selftests:
	@ksft=$$(tools/vm/setup ksft) && rm -rf selftests/build/kselftest && \
		$(MAKE) -s -C selftests KSFT_DIR="$$ksft" install \
		INSTALL_PATH="$(CURDIR)/selftests/build/kselftest"

guest-build: guest-selftests tools
	@tools/vm/build-userspace -k $(KERNEL)
	@tools/vm/build-module -k $(KERNEL)

demo: guest-build
	@$(VM) -- sh -c 'set -e; modprobe cowdev; modinfo cowdev; echo; \
		echo "# /sys/kernel/debug/cowdev:"; find /sys/kernel/debug/cowdev; \
		cowtrace -- cowdemo; echo; cowstat; rmmod cowdev'

check: guest-build
	@tools/check -k $(KERNEL)

check-all:
	@tools/check-all

fuzz: guest-build
	@tools/fuzz -k $(KERNEL)

bench:
	@tools/bench -k $(KERNEL)

lint:
	@tools/lint -k $(KERNEL)

clean:
	@find module \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o \
		-name '*.mod.c' -o -name '.*.cmd' \) -delete
	@rm -f Module.symvers modules.order module/modules.order
	@rm -rf selftests/build
	@$(MAKE) -C tools clean
