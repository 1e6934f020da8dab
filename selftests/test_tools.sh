#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load cowdev, run its tools as a user runs them (cowstat, cowtrace,
# cowdemo, cowbench, cowtorture: on PATH, as in the guest), check what they
# print against what the device did, unload it.  Prints TAP; skips the
# tools that are not on PATH.
#
#   test_tools.sh

lib=$(dirname "$0")/cowdev_lib.sh
# shellcheck source=selftests/cowdev_lib.sh source-path=SCRIPTDIR/..
. "$lib"

cowdev_begin
cowdev_load

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

cowdev_unload
exit $failed
