#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load cowdev, run its kselftests, unload it.  Prints TAP, with each
# binary's own TAP nested under "# " as kselftest's runner nests tests, and
# the plan at the end; exits 0 when every test passed, 4 (kselftest "skip")
# when the module cannot be found, 1 otherwise, and stops at once if the
# module does not load.  Run as root, in a kernel you can afford to break.
#
#   test_cowdev.sh [TEST_BINARY...]
#
# COWDEV_MODULE_PARAMS: module parameters for the modprobe ("name=value ...").

dir=$(dirname "$0")
ksft_skip=4
n=0
failed=0

result() {	# result STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n test_cowdev.sh: $2"
	else
		echo "not ok $n test_cowdev.sh: $2"
		failed=1
	fi
}

echo "TAP version 13"
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP must be run as root"
	exit $ksft_skip
fi
if ! modinfo cowdev > /dev/null 2>&1; then
	echo "1..0 # SKIP module cowdev not found"
	exit $ksft_skip
fi
exec 4>&1	# the binaries' nested TAP goes here (see below)
trap 'echo "1..$n"' EXIT
# shellcheck disable=SC2086
if ! modprobe cowdev ${COWDEV_MODULE_PARAMS:-}; then
	result 1 "modprobe cowdev"
	echo "Bail out! the module did not load"
	exit 1
fi
result 0 "modprobe cowdev"
[ -c /dev/cowdev ]
result $? "/dev/cowdev exists after load"

progs=${*:-"$dir/cowdev_device $dir/cowdev_mappings $dir/cowdev_clone $dir/cowdev_waits $dir/cowdev_pins $dir/cowdev_faultaround"}
for prog in $progs; do
	# The binary's TAP, nested; its exit status through descriptor 3.
	status=$({ { "$prog" 2>&1; echo $? >&3; } | sed 's/^/# /' >&4; } 3>&1)
	# A harness that crashed may not have printed its own failure.
	[ $status -eq 0 ] || [ $status -eq $ksft_skip ]
	result $? "$(basename "$prog") exit status $status"
done

# Read cowdemo's "page N: pfn X ... -> pfn Y ..." lines: the forked
# child starts on the parent's frames and its write moves to new ones; the
# source's write after CLONE moves to a new frame, and the clone, writing
# after it, stays on the frame both shared.
cowdemo_frames_move() {
	awk '
	function pfn(s) { if (s !~ /pfn 0x/) return ""; sub(/.*pfn /, "", s); sub(/ .*/, "", s); return s }
	/^== / { sec = $0 }
	/^   the parent/ { who = "parent" }
	/^   the child/ { who = "child" }
	/^   page [0-9]+: / {
		i = $2; sub(/:/, "", i)
		split($0, h, " -> ")
		b = pfn(h[1]); a = pfn(h[2])
		if (sec ~ /^== fork/ && who == "child") { cb[i] = b; ca[i] = a }
		else if (sec ~ /^== fork/) { pa[i] = b }
		else if (sec ~ /^== COWDEV_IOC_CLONE/) { sb[i] = b; sa[i] = a }
		else if (sec ~ /^== \.\.\. then write the same pages in the clone/) { kb[i] = b; ka[i] = a }
	}
	END {
		for (i = 0; i < 4; i++) {
			if (pa[i] == "" || cb[i] != pa[i] || ca[i] == "" || ca[i] == cb[i]) bad++
			if (sb[i] == "" || sa[i] == "" || sa[i] == sb[i]) bad++
			if (kb[i] != sb[i] || ka[i] != kb[i]) bad++
		}
		exit bad > 0
	}'
}

# The tools, as a user runs them (in the guest they are on PATH).
if command -v cowstat > /dev/null && command -v cowtrace > /dev/null; then
	cowstat | grep -q '^faults  *[0-9]'
	result $? "cowstat prints the counters"
	cowstat --json | grep -q '^{"objects": [0-9]*, "faults": [0-9]*, .*"pool_limit": [0-9]*}$'
	result $? "cowstat --json is name/number pairs"
	[ "$(cowstat -i 1 -c 2 | grep -c '^faults ')" -eq 2 ]
	result $? "cowstat -i 1 -c 2 prints two samples"
	exec 3<> /dev/cowdev
	id=$(ls /sys/kernel/debug/cowdev/objects)
	cowstat -o "$id" | grep -q "^id  *$id\$"
	result $? "cowstat -o shows one object"
	exec 3<&-
	trace=$(cowtrace -- cowdemo)
	status=$?
	echo "$trace" | sed 's/^/# /'
	[ $status -eq 0 ] && echo "$trace" | grep -q '^cowdev_copy ' &&
		echo "$trace" | grep -q '^bit = locked' &&
		echo "$trace" | grep -q '^bit = writeback'
	result $? "cowtrace -- cowdemo counts events and shows wait histograms"
	echo "$trace" | cowdemo_frames_move
	result $? "cowdemo's pagemap lines: fork and CLONE share a frame, a write moves it"
	[ "$(cat /sys/kernel/tracing/events/cowdev/enable)" = 0 ] &&
		[ "$(grep -c cowdev /sys/kernel/tracing/trace)" -eq 0 ]
	result $? "cowtrace leaves tracefs as it found it"
	# The benchmark, small: one CSV row per path and backing it applies to.
	rows=$(cowbench -p 16 -r 1 -t smoke paths)
	[ "$(echo "$rows" | grep -c ',smoke,1,')" -eq 38 ] &&
		echo "$rows" | grep -q '^clone_cow_write,anon,' &&
		scaling=$(cowbench -p 16 -r 1 scaling) &&
		[ "$(echo "$scaling" | grep -c '^first_touch_')" -eq 8 ] &&
		[ "$(echo "$scaling" | grep -c '^scaling_2_threads,')" -eq 4 ]
	result $? "cowbench measures every path on every backing"
else
	echo "# SKIP: cowstat and cowtrace not on PATH"
fi

# The torture tool: random operations from threads and processes, checked
# byte by byte.  COWDEV_TORTURE_SECONDS sets its length (0: none).
seconds=${COWDEV_TORTURE_SECONDS:-20}
if [ "$seconds" -gt 0 ] && command -v cowtorture > /dev/null; then
	log=$(mktemp)
	cowtorture -t "$seconds" ${COWDEV_TORTURE_SEED:+-s "$COWDEV_TORTURE_SEED"} \
		> "$log" 2>&1
	status=$?
	sed 's/^/# /' "$log"
	rm -f "$log"
	result $status "cowtorture for ${seconds}s: no mismatch"
	[ "$(awk '$1 == "pool_in_use" { print $2 }' /sys/kernel/debug/cowdev/stats)" = 0 ]
	result $? "pool_in_use back to 0 after cowtorture"
fi

# Every file is closed and unmapped now: the module must unload.
rmmod cowdev
result $? "rmmod cowdev after all files are closed"
[ ! -e /dev/cowdev ]
result $? "/dev/cowdev gone after unload"
out=$("$dir/cowdev_device")
[ $? -eq $ksft_skip ] && echo "$out" | grep -q '^1\.\.0 # SKIP /dev/cowdev missing'
result $? "a test binary skips (exit $ksft_skip) without the device"
# This script, with a parameter the module refuses: it must stop there.
out=$(COWDEV_MODULE_PARAMS=fill_delay_us=x "$0" 2> /dev/null)
status=$?
[ $status -eq 1 ] && echo "$out" | grep -q '^Bail out!' &&
	[ "$(echo "$out" | tail -n 1)" = "1..1" ]
result $? "test_cowdev.sh stops, with a plan, when the module does not load"

# A second life, after the unload and the refused load above: the module
# loads again, its hooks on the core's COW come back (a kernel with both
# symbols must have them), the private-mapping tests pass and it unloads.
# Re-arming a kprobe on do_wp_page() is what crashed the 7.2 debug kernel.
if modprobe cowdev; then
	[ "$(grep -cE ' (do_wp_page|wp_page_reuse)$' /proc/kallsyms)" -lt 2 ] ||
		grep -q '^core_probe available$' /sys/kernel/debug/cowdev/stats
	probe=$?
	status=$({ { "$dir/cowdev_mappings" 2>&1; echo $? >&3; } | sed 's/^/# /' >&4; } 3>&1)
	rmmod cowdev && [ $probe -eq 0 ] && [ "$status" -eq 0 ]
else
	false
fi
result $? "reloaded: core_probe back, cowdev_mappings passes, rmmod"

exit $failed
