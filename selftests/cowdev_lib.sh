#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# What test_cowdev.sh and test_tools.sh share, sourced by both: TAP output
# (each result numbered, the plan printed at exit), the checks that decide
# a skip, and loading and unloading the module.  Run as root, in a kernel
# you can afford to break.
#
# COWDEV_MODULE_PARAMS: module parameters for the modprobe ("name=value ...").

# shellcheck disable=SC2034	# dir and failed are the sourcing script's
dir=$(dirname "$0")
name=$(basename "$0")
ksft_skip=4
n=0
failed=0

result() {	# result STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n $name: $2"
	else
		echo "not ok $n $name: $2"
		failed=1
	fi
}

skip() {	# skip DESCRIPTION REASON
	n=$((n + 1))
	echo "ok $n $name: $1 # SKIP $2"
}

# Start the TAP stream; skip (exit 4, empty plan) when not root or when
# there is no module to load.
cowdev_begin() {
	echo "TAP version 13"
	if [ "$(id -u)" -ne 0 ]; then
		echo "1..0 # SKIP must be run as root"
		exit $ksft_skip
	fi
	if ! modinfo cowdev > /dev/null 2>&1; then
		echo "1..0 # SKIP module cowdev not found"
		exit $ksft_skip
	fi
	trap 'echo "1..$n"' EXIT
}

# Load the module, or stop the whole run: nothing after it could pass.
cowdev_load() {
	# shellcheck disable=SC2086
	if ! modprobe cowdev ${COWDEV_MODULE_PARAMS:-}; then
		result 1 "modprobe cowdev"
		echo "Bail out! the module did not load"
		exit 1
	fi
	result 0 "modprobe cowdev"
	[ -c /dev/cowdev ]
	result $? "/dev/cowdev exists after load"
}

# Every file is closed and unmapped now: the module must unload.
cowdev_unload() {
	rmmod cowdev
	result $? "rmmod cowdev after all files are closed"
	[ ! -e /dev/cowdev ]
	result $? "/dev/cowdev gone after unload"
}
