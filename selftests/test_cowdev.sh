#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load cowdev, run its kselftest binaries, unload it.  Prints TAP, with each
# binary's own TAP nested under "# " as kselftest's runner nests tests, and
# the plan at the end; exits 0 when every test passed, 4 (kselftest "skip")
# when the module cannot be found, 1 otherwise, and stops at once if the
# module does not load.  The tools have their own test, test_tools.sh.
#
#   test_cowdev.sh [TEST_BINARY...]

lib=$(dirname "$0")/cowdev_lib.sh
# shellcheck source=selftests/cowdev_lib.sh source-path=SCRIPTDIR/..
. "$lib"

cowdev_begin
exec 4>&1	# the binaries' nested TAP goes here (see run_nested)

# run_nested PROG: PROG's TAP, nested under "# "; its exit status through
# descriptor 3 (a pipeline's status would be sed's).
run_nested() {
	return "$({ { "$1" 2>&1; echo $? >&3; } | sed 's/^/# /' >&4; } 3>&1)"
}
cowdev_load
probe_state=$(grep '^core_probe ' /sys/kernel/debug/cowdev/stats)
# On x86-64 the hooks on the core's COW must be in place when the kernel
# has both functions; unnoticed, "unavailable" would only skip the tests
# of core_copy and core_reuse.
case "$(uname -m) ${COWDEV_MODULE_PARAMS:-}" in
x86_64*core_probe*) ;;
x86_64*)
	[ "$(grep -cE ' (do_wp_page|wp_page_reuse)$' /proc/kallsyms)" -lt 2 ] ||
		[ "$probe_state" = "core_probe available" ]
	result $? "core_probe available where do_wp_page and wp_page_reuse are" ;;
esac

progs=${*:-"$dir/cowdev_device $dir/cowdev_mappings $dir/cowdev_clone $dir/cowdev_waits $dir/cowdev_pins $dir/cowdev_faultaround $dir/cowdev_backing $dir/cowdev_readahead $dir/cowdev_reclaim $dir/cowdev_store_errors"}
for prog in $progs; do
	start=$(date +%s)
	run_nested "$prog"
	status=$?
	echo "# $(basename "$prog") took $(($(date +%s) - start))s"
	# A harness that crashed may not have printed its own failure.
	[ $status -eq 0 ] || [ $status -eq $ksft_skip ]
	result $? "$(basename "$prog") exit status $status"
done

cowdev_unload
out=$("$dir/cowdev_device")
[ $? -eq $ksft_skip ] && echo "$out" | grep -q '^1\.\.0 # SKIP /dev/cowdev missing'
result $? "a test binary skips (exit $ksft_skip) without the device"
# This script, with a parameter the module refuses: it must stop there.
out=$(COWDEV_MODULE_PARAMS=fill_delay_us=x "$0" 2> /dev/null)
status=$?
[ $status -eq 1 ] && echo "$out" | grep -q '^Bail out!' &&
	[ "$(echo "$out" | tail -n 1)" = "1..1" ]
result $? "test_cowdev.sh stops, with a plan, when the module does not load"

# A second life, after the unload and the refused load above (refused
# while its parameters are parsed, before any init code runs): the module
# loads again with the same parameters, its hooks on the core's COW are
# as they were the first time, the private-mapping tests pass and it
# unloads.  Arming a kprobe on do_wp_page() a second time is what crashed
# the 7.2 debug kernel.
# shellcheck disable=SC2086
if modprobe cowdev ${COWDEV_MODULE_PARAMS:-}; then
	[ "$(grep '^core_probe ' /sys/kernel/debug/cowdev/stats)" = "$probe_state" ]
	probe=$?
	run_nested "$dir/cowdev_mappings"
	status=$?
	rmmod cowdev && [ $probe -eq 0 ] && [ $status -eq 0 ]
else
	false
fi
result $? "reloaded: $probe_state again, cowdev_mappings passes, rmmod"

exit $failed
