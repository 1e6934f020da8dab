# SPDX-License-Identifier: GPL-2.0
#
# cowdev top-level Makefile.
#
#   make               build module/cowdev.ko, the selftests and the tools
#   make demo          boot a guest kernel and show the device at work
#   make check         run the selftests in a guest kernel
#   make check-all     build, dkms and selftests on every kernel: 6.1, 6.12,
#                      the newest Debian ships, and debug builds of 6.1 and
#                      the newest
#   make fuzz          cowfuzz, trinity and stress-ng against the device
#   make bench         fault-path costs against memfd and anonymous memory
#   make lint          checkpatch --strict, sparse (C=2) and W=1 builds
#
# KERNEL names the guest kernel: 6.1 (default), 6.12, newest (or its
# version, 7.2 today), debug or debug-newest.  KDIR overrides the kbuild
# tree: on a real machine, make KDIR=/lib/modules/$(uname -r)/build.

KERNEL ?= 6.1
KDIR ?=
VM := tools/vm/run -k $(KERNEL)

.PHONY: all module selftests tools demo check check-all fuzz bench lint clean

all: module selftests tools

module:
ifneq ($(KDIR),)
	$(MAKE) -C "$(KDIR)" M=$(CURDIR) modules
else
	@tools/vm/build-module -k $(KERNEL)
endif

selftests:
	@$(MAKE) -C selftests KSFT_DIR="$$(tools/vm/setup ksft)"

tools:
	@$(MAKE) -C tools

demo: all
	@$(VM) -- sh -c 'set -e; modprobe cowdev; modinfo cowdev; echo; \
		echo "# /sys/kernel/debug/cowdev:"; find /sys/kernel/debug/cowdev; \
		cowtrace -- cowdemo; echo; cowstat; rmmod cowdev'

check: all
	@tools/check -k $(KERNEL)

check-all:
	@tools/check-all

fuzz: all
	@tools/fuzz -k $(KERNEL)

bench:
	@tools/bench -k $(KERNEL)

lint:
	@tools/lint -k $(KERNEL)

clean:
	@find module \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o \
		-name '*.mod.c' -o -name '.*.cmd' \) -delete
	@rm -f Module.symvers modules.order module/modules.order
	@$(MAKE) -C selftests clean
	@$(MAKE) -C tools clean
