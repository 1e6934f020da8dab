# SPDX-License-Identifier: GPL-2.0
#
# cowdev top-level Makefile.
#
#   make               build module/cowdev.ko, the selftests and the tools
#   make demo          boot a guest kernel and show the device at work
#   make check         run the selftests in a guest kernel
#   make lint          checkpatch --strict, sparse (C=2) and W=1 builds
#
# KERNEL names the guest kernel (default 6.1).  KDIR overrides the kbuild
# tree: on a real machine, make KDIR=/lib/modules/$(uname -r)/build.

KERNEL ?= 6.1
KDIR ?=
VM := tools/vm/run -k $(KERNEL)

# The kbuild tree: KDIR if given, else the guest kernel's headers
# (installed on first use).
kdir = $(if $(KDIR),$(KDIR),$$(tools/vm/setup kdir $(KERNEL)))

.PHONY: all module selftests tools demo check lint clean

all: module selftests tools

module:
	@kdir="$(kdir)" && $(MAKE) -C "$$kdir" M=$(CURDIR) modules

selftests:
	@$(MAKE) -C selftests KSFT_DIR="$$(tools/vm/setup ksft)"

tools:
	@$(MAKE) -C tools

demo: all
	@$(VM) -- sh -c 'set -e; modprobe cowdev; modinfo cowdev; echo; \
		echo "# /sys/kernel/debug/cowdev:"; find /sys/kernel/debug/cowdev; \
		cowdemo; echo; cat /sys/kernel/debug/cowdev/stats; rmmod cowdev'

check: all
	@tools/check -k $(KERNEL)

lint:
	@tools/lint -k $(KERNEL)

clean:
	@kdir="$(kdir)" && $(MAKE) -C "$$kdir" M=$(CURDIR) clean
	@$(MAKE) -C selftests clean
	@$(MAKE) -C tools clean
