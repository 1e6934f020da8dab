# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared helpers for the guest tools: where the cache lives, which kernel a
# name stands for, and how to fetch what is missing.  Sourced, not run.
#
# Everything large (kernel images, unpacked source, initramfs work trees) is
# cached outside the checkout, keyed by version, and recreated when missing.

COWDEV_CACHE=${COWDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cowdev}
COWDEV_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

die() { echo "cowdev: $*" >&2; exit 1; }
note() { echo "cowdev: $*" >&2; }

# Host packages the project needs; installed on first use.
COWDEV_HOST_PKGS="qemu-system-x86 busybox-static kmod cpio gzip xz-utils
	sparse dkms linux-headers-amd64 linux-source-6.1 gcc make libc6-dev rsync
	debootstrap"

# cowdev_apt_missing PKG...: those of PKG that are not installed, one a line.
cowdev_apt_missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			echo "$p"
	done
}

cowdev_apt_updated=
cowdev_apt_install() {
	local missing lock
	mapfile -t missing < <(cowdev_apt_missing "$@")
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	# check-all builds the debug kernels in the background: one apt-get
	# at a time, and what the other one installed is not installed twice.
	mkdir -p "$COWDEV_CACHE" || exit 1
	exec {lock}> "$(cowdev_apt_lock "")"
	flock "$lock"
	mapfile -t missing < <(cowdev_apt_missing "$@")
	if [ ${#missing[@]} -gt 0 ]; then
		note "installing ${missing[*]}"
		if [ -z "$cowdev_apt_updated" ]; then
			apt-get update -q >/dev/null || die "apt-get update failed"
			cowdev_apt_updated=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
	exec {lock}>&-
}

cowdev_host_setup() {
	# shellcheck disable=SC2086
	cowdev_apt_install $COWDEV_HOST_PKGS
}

# Kernel names and where each comes from:
#   6.1     Debian 12's kernel; headers on this machine (linux-headers-amd64)
#   6.12    Debian 12's 6.12 backport; headers in a cached bookworm chroot
#   newest  whatever sid's linux-headers-amd64 points at (7.2 today), in a
#           cached sid chroot; its version ("7.2") is accepted as a name too
#   debug   6.1 built from Debian's linux-source-6.1 with KASAN, lockdep,
#           DEBUG_VM, kmemleak and KFENCE (tools/vm/debug.config)
#   debug-newest
#           the same checkers on the newest kernel's source (sid's
#           linux-source), where faults run under the per-VMA lock
#   arm64-6.1
#           Debian 12's arm64 kernel (the same version as 6.1), booted on
#           QEMU's virt machine; the module is cross-built against its
#           headers, unpacked into the cache (see cowdev_cross_headers)
#   arm64-6.12-16k
#           the arm64 build of 6.12 with 16 KiB pages (Debian's arm64-16k
#           flavour), the same way
#   arm64-newest
#           sid's arm64 build of the newest kernel, the same way, cross-built
#           in the sid chroot
COWDEV_KERNELS="6.1 6.12 newest debug debug-newest arm64-6.1 arm64-6.12-16k arm64-newest"

# cowdev_kernel_arch NAME: the guest's architecture, as Debian names it.
cowdev_kernel_arch() {
	case "$1" in
	arm64-*) echo arm64 ;;
	*) echo amd64 ;;
	esac
}

# cowdev_cross_spec NAME: "BASE FLAVOUR" of cross kernel NAME: the x86
# kernel name whose version it shares, and Debian's flavour of it.
cowdev_cross_spec() {
	case "$1" in
	arm64-*-16k) local base=${1#arm64-}; echo "${base%-16k} arm64-16k" ;;
	arm64-*) echo "${1#arm64-} arm64" ;;
	esac
}

# cowdev_in_root ROOT COMMAND...: run COMMAND here (ROOT empty) or in the
# chroot ROOT.
cowdev_in_root() {
	local root=$1
	shift
	if [ -z "$root" ]; then
		"$@"
	else
		chroot "$root" "$@"
	fi
}

# cowdev_foreign_arch ARCH [ROOT]: let apt here, or in the chroot ROOT,
# fetch ARCH's packages (dpkg's multiarch), for the cross kernels' images,
# headers and guest programs.  dpkg lists the architecture before apt has
# its package lists: a marker in the cache, made under ROOT's apt lock once
# an apt-get update with the architecture has succeeded, says when another
# caller (check-all's other lane) may go ahead without the lock.  Without
# the marker the update is made again: the architecture may have been
# added by a run stopped before its update ended.
cowdev_foreign_arch() {
	local arch=$1 root=${2:-} lock marker
	if [ -z "$root" ]; then
		marker=$COWDEV_CACHE/.arch-$arch
	else
		marker=$root.arch-$arch
	fi
	[ -f "$marker" ] &&
		cowdev_in_root "$root" dpkg --print-foreign-architectures | grep -qx "$arch" &&
		return 0
	[ "$(id -u)" -eq 0 ] || die "need root to add the $arch architecture"
	mkdir -p "$COWDEV_CACHE" || exit 1
	exec {lock}> "$(cowdev_apt_lock "$root")"
	flock "$lock"
	if [ ! -f "$marker" ]; then
		note "adding the $arch architecture to dpkg${root:+ in the $(basename "$root") chroot}"
		cowdev_in_root "$root" dpkg --add-architecture "$arch" ||
			die "cannot add the $arch architecture"
		# Without its package lists every later apt-get update there
		# would fail: take it back out.
		cowdev_in_root "$root" apt-get update -q >/dev/null ||
			{ cowdev_in_root "$root" dpkg --remove-architecture "$arch";
			  die "apt-get update for $arch failed"; }
		touch "$marker"
	fi
	exec {lock}>&-
}

# cowdev_download ROOT DIR PKG...: the .debs of PKG (arch-qualified for
# another architecture: pkg:arm64) into DIR, from the archive apt knows
# here (ROOT empty) or in the chroot ROOT, without installing them: the
# arm64 headers depend on an arm64 compiler that cannot be installed beside
# this machine's.  Fails, saying nothing, when apt has no such package (or
# fails otherwise): apt's output is kept in DIR.log.
cowdev_download() {
	local root=$1 dir=$2 tmp status lock
	shift 2
	mkdir -p "$dir" || return 1
	# In a chroot: in a directory of its own there, for two lanes.  One
	# an hour old is a killed run's: no download takes that long.
	tmp=$dir
	if [ -n "$root" ]; then
		find "$root/tmp" -maxdepth 1 -name 'cowdev-download.*' -mmin +60 \
			-exec rm -rf {} +
		tmp=$(mktemp -d "$root/tmp/cowdev-download.XXXXXX") || return 1
	fi
	# Not while an apt-get update there rewrites the package lists;
	# downloads may run side by side.
	exec {lock}> "$(cowdev_apt_lock "$root")"
	flock -s "$lock"
	# apt's sandbox user may not write to the cache: download as root.
	cowdev_in_root "$root" sh -c 'cd "$1" && shift &&
		exec apt-get download -q -o APT::Sandbox::User=root "$@"' \
		sh "${tmp#"$root"}" "$@" > "$dir.log" 2>&1
	status=$?
	exec {lock}>&-
	[ $status -ne 0 ] || rm -f "$dir.log"
	if [ "$tmp" != "$dir" ]; then
		[ $status -ne 0 ] || mv "$tmp"/*.deb "$dir/" || status=1
		rm -rf "$tmp"
	fi
	return $status
}

# cowdev_download_failed ROOT DIR WHAT: die for a failed cowdev_download
# ROOT DIR of WHAT, with apt's last words.  A chroot's kernel is the one
# its meta package named when it was made; sid's archive drops a version
# soon after the next one comes.
cowdev_download_failed() {
	tail -n 3 "$2.log" >&2
	[ -z "$1" ] || note "the $(basename "$1") chroot may be older than its archive: remove $1/.done to make it again"
	die "cannot download $3"
}

# cowdev_mirror SUITE: the archive URL this machine's apt uses for SUITE's
# main component, so that chroots use the same archive the host does.
cowdev_mirror() {
	apt-cache policy | awk -v s="$1/main" '$3 == s { print $2; exit }'
}

# cowdev_chroot SUITE: a cached minimal Debian SUITE with a compiler and
# dkms, for building against kernels whose headers this machine lacks.
cowdev_chroot() {
	local suite=$1 dir=$COWDEV_CACHE/chroots/$1 mirror security lock
	# Made already: no lock, which an apt-get in the chroot may hold.
	[ -f "$dir/.done" ] && { echo "$dir"; return 0; }
	mkdir -p "$COWDEV_CACHE/chroots" || exit 1
	exec {lock}> "$COWDEV_CACHE/chroots/.lock-$suite"
	flock "$lock"
	if [ ! -f "$dir/.done" ]; then
		cowdev_apt_install debootstrap
		mirror=$(cowdev_mirror bookworm)
		[ -n "$mirror" ] || die "no Debian archive in this machine's apt sources"
		note "creating the $suite chroot"
		rm -rf "$dir" && mkdir -p "$dir" || exit 1
		debootstrap --variant=minbase --include=gcc,make,libc6-dev \
			"$suite" "$dir" "$mirror" >/dev/null ||
			die "debootstrap $suite failed"
		if [ "$suite" = bookworm ]; then
			security=$(cowdev_mirror bookworm-security)
			echo "deb $security bookworm-security main" >> "$dir/etc/apt/sources.list"
		fi
		# The archive may be a snapshot whose Release files have expired.
		echo 'Acquire::Check-Valid-Until "false";' > "$dir/etc/apt/apt.conf.d/99cowdev"
		# Headers pull in their kernel image, whose initramfs nobody
		# boots (the runner makes its own): skip building it.
		chroot "$dir" dpkg-divert --local --rename \
			--add /usr/sbin/update-initramfs >/dev/null &&
			ln -sf /bin/true "$dir/usr/sbin/update-initramfs" ||
			die "cannot divert update-initramfs in the $suite chroot"
		# apt inside a bare chroot grumbles about /dev/pts and /proc:
		# keep its output for when something fails.
		{ chroot "$dir" apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -q \
				--no-install-recommends dkms kmod; } > "$dir.log" 2>&1 ||
			{ tail -n 20 "$dir.log" >&2; die "cannot install dkms in the $suite chroot"; }
		touch "$dir/.done"
	fi
	exec {lock}>&-
	echo "$dir"
}

# cowdev_chroot_run ROOT COMMAND...: run COMMAND in ROOT with /proc mounted
# (objtool needs it) in a private mount namespace, so nothing leaks out.
cowdev_chroot_run() {
	local root=$1
	shift
	unshare -m /bin/sh -c 'mount -t proc proc "$0/proc" && exec chroot "$@"' \
		"$root" "$root" "$@"
}

# The chroot suite and headers meta package behind a kernel name.
cowdev_chroot_spec() {
	case "$1" in
	6.12) echo "bookworm linux-headers-6.12-amd64" ;;
	*) echo "sid linux-headers-amd64" ;;
	esac
}

# cowdev_chroot_meta ROOT META PATTERN: install the meta package META in
# the chroot ROOT if it is missing; prints the first package META depends on
# that matches the grep PATTERN, or dies.
cowdev_chroot_meta() {
	local root=$1 meta=$2 dep
	cowdev_chroot_install "$root" "$meta"
	dep=$(chroot "$root" dpkg-query -W -f='${Depends}' "$meta" |
		grep -o "$3" | head -n 1)
	[ -n "$dep" ] || die "$meta in $root depends on nothing like $3"
	echo "$dep"
}

# cowdev_apt_lock ROOT: the lock that apt-get in ROOT runs under: this
# machine's (cowdev_apt_install) for an empty ROOT, else the chroot's
# (cowdev_chroot_install).  check-all tests two kernels at a time, and
# dpkg refuses a second apt-get on the same root instead of waiting.
cowdev_apt_lock() {
	if [ -z "$1" ]; then
		echo "$COWDEV_CACHE/.lock-apt"
	else
		echo "$(dirname "$1")/.lock-$(basename "$1")"
	fi
}

# cowdev_chroot_missing ROOT PKG...: those of PKG not installed in ROOT.
cowdev_chroot_missing() {
	local root=$1 p
	shift
	for p in "$@"; do
		chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || echo "$p"
	done
}

# cowdev_chroot_install ROOT PKG...: install those of PKG that are missing
# in the chroot ROOT, under the chroot's lock (cowdev_chroot): one apt-get
# in it at a time.
cowdev_chroot_install() {
	local root=$1 lock missing
	shift
	# Installed already: no lock, which a long apt-get there may hold.
	mapfile -t missing < <(cowdev_chroot_missing "$root" "$@")
	[ ${#missing[@]} -eq 0 ] && return 0
	exec {lock}> "$(cowdev_apt_lock "$root")"
	flock "$lock"
	mapfile -t missing < <(cowdev_chroot_missing "$root" "$@")
	if [ ${#missing[@]} -gt 0 ]; then
		note "installing ${missing[*]} in the $(basename "$root") chroot"
		DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q \
			--no-install-recommends "${missing[@]}" > "$root.log" 2>&1 ||
			{ tail -n 20 "$root.log" >&2; die "cannot install ${missing[*]} in $root"; }
	fi
	exec {lock}>&-
}

# cowdev_chroot_kernel NAME: set up NAME's chroot and headers; prints
# "ROOT RELEASE".
cowdev_chroot_kernel() {
	local suite meta root headers
	read -r suite meta <<< "$(cowdev_chroot_spec "$1")"
	root=$(cowdev_chroot "$suite") || exit 1
	headers=$(cowdev_chroot_meta "$root" "$meta" 'linux-headers-[^ ,]*') ||
		exit 1
	echo "$root ${headers#linux-headers-}"
}

# cowdev_kernel_kind NAME: host, chroot, debug or cross; dies for unknown
# names.
cowdev_kernel_kind() {
	case "$1" in
	6.1) echo host ;;
	debug | debug-newest) echo debug ;;
	6.12 | newest) echo chroot ;;
	arm64-6.1 | arm64-6.12-16k | arm64-newest) echo cross ;;
	[0-9]*.[0-9]*)
		# A version name means the newest kernel if that is its version.
		local kver
		kver=$(cowdev_chroot_kernel newest | cut -d' ' -f2) || exit 1
		case "$kver" in
		"$1".*) echo chroot ;;
		*) die "unknown KERNEL=$1 (known: $COWDEV_KERNELS; newest is $kver)" ;;
		esac
		;;
	*) die "unknown KERNEL=$1 (known: $COWDEV_KERNELS)" ;;
	esac
}

# cowdev_kernel_release NAME: the uname -r of the guest kernel NAME stands for.
cowdev_kernel_release() {
	case "$(cowdev_kernel_kind "$1")" in
	host)
		# Whatever the Debian 12 meta package points at: a point
		# release needs no change here.
		cowdev_apt_install linux-headers-amd64
		dpkg-query -W -f='${Depends}' linux-headers-amd64 |
			sed -n 's/.*linux-headers-\([^ ,]*\).*/\1/p'
		;;
	chroot) cowdev_chroot_kernel "$1" | cut -d' ' -f2 ;;
	debug) cat "$(cowdev_debug_kernel "$1")/include/config/kernel.release" ;;
	cross)
		# The same build of the same source as the x86 kernel.
		local base flavour release
		read -r base flavour <<< "$(cowdev_cross_spec "$1")"
		release=$(cowdev_kernel_release "$base") || exit 1
		echo "${release%-amd64}-$flavour"
		;;
	esac
}

# cowdev_kdir NAME: the kbuild tree for NAME, as seen where the build runs
# (inside the chroot for chroot kernels).
cowdev_kdir() {
	case "$(cowdev_kernel_kind "$1")" in
	debug) cowdev_debug_kernel "$1" ;;
	cross) cowdev_cross_headers "$1" ;;
	*) echo "/lib/modules/$(cowdev_kernel_release "$1")/build" ;;
	esac
}

# cowdev_kbuild_args NAME: what kbuild needs besides the tree to build
# for NAME: the architecture, cross compiler and tree of a cross kernel,
# nothing for the others.  The tree is given as O= because newer headers
# name their installed place, /usr/src/linux-headers-*, in KBUILD_OUTPUT,
# and a cross kernel's headers are unpacked elsewhere.
cowdev_kbuild_args() {
	local kdir
	[ "$(cowdev_kernel_kind "$1")" = cross ] || return 0
	kdir=$(cowdev_kdir "$1") || exit 1
	echo "ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- O=$kdir"
}

# cowdev_cross_root NAME: where cross kernel NAME is built: the chroot of
# the x86 kernel it shares its version with (whose linux-kbuild its
# headers use), or nothing for this machine.
cowdev_cross_root() {
	local base root
	read -r base _ <<< "$(cowdev_cross_spec "$1")"
	[ "$(cowdev_kernel_kind "$base")" = chroot ] || return 0
	root=$(cowdev_chroot_kernel "$base") || exit 1
	echo "${root%% *}"
}

# cowdev_cross_install ROOT PKG...: install PKG here (ROOT empty) or in
# the chroot ROOT.
cowdev_cross_install() {
	local root=$1
	shift
	if [ -z "$root" ]; then
		cowdev_apt_install "$@"
	else
		cowdev_chroot_install "$root" "$@"
	fi
}

# cowdev_cross_headers NAME: the kbuild tree of cross kernel NAME, as seen
# where it is built (cowdev_cross_root): its headers package unpacked
# there, under cross/, not installed (it depends on an arm64 compiler,
# which cannot be installed beside an x86 one).  Its Makefile includes the
# architecture-independent -common headers and its scripts link to
# linux-kbuild (Multi-Arch: foreign), both of this version, installed
# there as themselves (the x86 headers would pull in a kernel image),
# with the cross compiler.
cowdev_cross_headers() {
	local kver arch root dir kbuild common
	kver=$(cowdev_kernel_release "$1") || exit 1
	arch=$(cowdev_kernel_arch "$1")
	root=$(cowdev_cross_root "$1") || exit 1
	if [ -n "$root" ]; then
		dir=$root/cross/$kver
	else
		dir=$COWDEV_CACHE/cross/$kver
	fi
	if [ ! -f "$dir/.done" ]; then
		cowdev_foreign_arch "$arch" "$root"
		note "fetching the headers of $kver"
		rm -rf "$dir" || exit 1
		cowdev_download "$root" "$dir/debs" "linux-headers-$kver:$arch" ||
			cowdev_download_failed "$root" "$dir/debs" "linux-headers-$kver:$arch"
		dpkg-deb -x "$dir"/debs/*.deb "$dir/root" || die "cannot unpack the headers of $kver"
		kbuild=$(readlink "$dir/root/usr/src/linux-headers-$kver/scripts")
		kbuild=${kbuild#../../lib/}
		kbuild=${kbuild%/scripts}
		common=$(sed -n 's|^include /usr/src/\(linux-headers-.*-common\)/Makefile$|\1|p' \
			"$dir/root/usr/src/linux-headers-$kver/Makefile")
		[ -n "$kbuild" ] && [ -n "$common" ] ||
			die "the headers of $kver name no kbuild or -common headers"
		cowdev_cross_install "$root" "$kbuild" "$common" gcc-aarch64-linux-gnu
		mkdir -p "$dir/root/usr/lib" &&
			ln -s "/usr/lib/$kbuild" "$dir/root/usr/lib/$kbuild" &&
			rm -rf "$dir/debs" && touch "$dir/.done" || exit 1
	fi
	echo "${dir#"$root"}/root/usr/src/linux-headers-$kver"
}

# cowdev_cross_tree ARCH NAME PKG...: a cached tree of ARCH's packages PKG
# and everything they depend on, unpacked, not installed; fetched again
# when any of their versions changes.  Prints its root.
cowdev_cross_tree() {
	local arch=$1 name=$2 deps key dir deb lock
	shift 2
	cowdev_foreign_arch "$arch"
	mapfile -t deps < <(apt-cache depends --recurse --no-recommends \
		--no-suggests --no-conflicts --no-breaks --no-replaces \
		--no-enhances "${@/%/:$arch}" | grep "^[a-z0-9].*:$arch$" | sort -u)
	[ ${#deps[@]} -gt 0 ] || die "no $arch packages for $*"
	key=$(apt-cache policy "${deps[@]}" | awk '/Candidate:/ { print $2 }' |
		md5sum | cut -c1-12)
	dir=$COWDEV_CACHE/userland/$arch-$name-$key
	mkdir -p "$COWDEV_CACHE/userland" || exit 1
	exec {lock}> "$COWDEV_CACHE/userland/.lock-$arch-$name"
	flock "$lock"
	if [ ! -f "$dir/.done" ]; then
		rm -rf "$dir" || exit 1
		cowdev_download "" "$dir/debs" "${deps[@]}" ||
			cowdev_download_failed "" "$dir/debs" "the $arch packages of $name"
		for deb in "$dir"/debs/*.deb; do
			dpkg-deb -x "$deb" "$dir/root" || die "cannot unpack $deb"
		done
		rm -rf "$dir/debs" "$dir/root/usr/share" && touch "$dir/.done" || exit 1
		# Trees of older versions are stale now.
		find "$COWDEV_CACHE/userland" -mindepth 1 -maxdepth 1 \
			-name "$arch-$name-*" ! -path "$dir" -exec rm -rf {} +
	fi
	exec {lock}>&-
	echo "$dir/root"
}

# cowdev_cross_userland ARCH: ARCH's busybox (static) and kmod with the
# libraries and loader it needs, for the guest's initramfs.
cowdev_cross_userland() {
	cowdev_cross_tree "$1" guest busybox-static kmod
}

# Modules of a distribution kernel the guest loads itself: the virtio disk
# and ext4 on it (O_DIRECT tests), with what they depend on, and
# device-mapper (a table that fails a store's I/O) and overlayfs (a
# stacked filesystem, which cannot be a store).  Patterns for paths
# under lib/modules/RELEASE/kernel; the debug kernels build these in.
COWDEV_GUEST_MODULES="drivers/virtio/virtio.* drivers/virtio/virtio_ring.*
	drivers/virtio/virtio_pci* drivers/block/virtio_blk.* fs/ext4/*
	fs/jbd2/* fs/mbcache.* lib/crc16.* lib/libcrc32c.* lib/crc/*
	crypto/crc32c* drivers/md/dm-mod.* fs/overlayfs/*"
# arm64: dm-mod needs dax, which x86 builds in; and the virt machine has
# one serial port, the console, so the command's output and the report go
# through virtio-serial ports (see tools/vm/run).
# shellcheck disable=SC2034	# read through ${!var} (cowdev_guest_modules)
COWDEV_GUEST_MODULES_arm64="$COWDEV_GUEST_MODULES drivers/char/virtio_console.*
	drivers/dax/dax.*"

# cowdev_guest_modules NAME: the module patterns for NAME's architecture.
cowdev_guest_modules() {
	local var
	var=COWDEV_GUEST_MODULES_$(cowdev_kernel_arch "$1")
	echo "${!var:-$COWDEV_GUEST_MODULES}"
}

# cowdev_kernel_fetch NAME: the cache directory of distribution kernel NAME,
# with its vmlinuz and, under modules/, the COWDEV_GUEST_MODULES it has;
# fetched from Debian's archive on first use.
cowdev_kernel_fetch() {
	local kind kver dir root arch='' deb tree pattern patterns f wanted
	kind=$(cowdev_kernel_kind "$1") || exit 1
	kver=$(cowdev_kernel_release "$1") || exit 1
	wanted=$(cowdev_guest_modules "$1")
	dir=$COWDEV_CACHE/kernels/$kver
	# A cache taken with other patterns is taken again.
	if [ ! -s "$dir/vmlinuz" ] ||
	   [ "$(cat "$dir/modules.patterns" 2>/dev/null)" != "$wanted" ]; then
		note "fetching guest kernel $kver"
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" || exit 1
		# From the archive the kernel's headers come from: this
		# machine's, or its chroot's.
		case "$kind" in
		host) root= ;;
		chroot) root=$(cowdev_chroot_kernel "$1") || exit 1; root=${root%% *} ;;
		cross) root=$(cowdev_cross_root "$1") || exit 1 ;;
		*) die "$1 is not a distribution kernel" ;;
		esac
		if [ "$kind" = cross ]; then
			arch=$(cowdev_kernel_arch "$1")
			cowdev_foreign_arch "$arch" "$root"
		fi
		# Newer kernels split the image into linux-binary-* and the
		# modules into linux-modules-*.
		cowdev_download "$root" "$dir.tmp" "linux-binary-$kver${arch:+:$arch}" \
			"linux-modules-$kver${arch:+:$arch}" ||
			cowdev_download "$root" "$dir.tmp" \
				"linux-image-$kver-unsigned${arch:+:$arch}" ||
			cowdev_download_failed "$root" "$dir.tmp" "the image of $kver"
		for deb in "$dir.tmp"/*.deb; do
			dpkg-deb -x "$deb" "$dir.tmp/x" || die "cannot unpack $deb"
		done
		for f in "$dir.tmp/x/boot/vmlinuz-$kver" "$dir.tmp/x/usr/lib/modules/$kver/vmlinuz"; do
			[ -f "$f" ] && mv "$f" "$dir.tmp/vmlinuz"
		done
		[ -s "$dir.tmp/vmlinuz" ] || die "no vmlinuz for $kver"
		# Split without globbing here: the patterns are for $tree.
		read -r -d '' -a patterns <<< "$wanted"
		for tree in "$dir.tmp/x/lib/modules/$kver/kernel" \
			    "$dir.tmp/x/usr/lib/modules/$kver/kernel"; do
			[ -d "$tree" ] || continue
			for pattern in "${patterns[@]}"; do
				for f in "$tree"/$pattern; do
					[ -f "$f" ] || continue
					mkdir -p "$dir.tmp/modules/$(dirname "${f#"$tree"/}")"
					mv "$f" "$dir.tmp/modules/${f#"$tree"/}"
				done
			done
		done
		[ -n "$(ls "$dir.tmp/modules/fs/ext4" 2>/dev/null)" ] ||
			die "no ext4 module for $kver"
		rm -rf "$dir.tmp/x" "$dir.tmp"/*.deb
		printf '%s\n' "$wanted" > "$dir.tmp/modules.patterns"
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

# cowdev_kernel_image NAME: path of the vmlinuz for NAME: cached from
# Debian's archive, or the debug kernel's build.
cowdev_kernel_image() {
	local dir
	if [ "$(cowdev_kernel_kind "$1")" = debug ]; then
		echo "$(cowdev_debug_kernel "$1")/arch/x86/boot/bzImage"
		return
	fi
	dir=$(cowdev_kernel_fetch "$1") || exit 1
	echo "$dir/vmlinuz"
}

# cowdev_kernel_modules NAME: the tree of COWDEV_GUEST_MODULES for NAME, to
# go under lib/modules/RELEASE/kernel in the guest; empty for the debug
# kernels, which have them built in.
cowdev_kernel_modules() {
	local dir
	[ "$(cowdev_kernel_kind "$1")" = debug ] && return
	dir=$(cowdev_kernel_fetch "$1") || exit 1
	echo "$dir/modules"
}

# cowdev_disk: a small ext4 image for the guest's virtio disk, made once;
# the guest writes to a throwaway overlay (QEMU's snapshot=on).
cowdev_disk() {
	local img=$COWDEV_CACHE/disk/ext4-32M-4k.img lock
	cowdev_apt_install e2fsprogs
	mkdir -p "$(dirname "$img")" || exit 1
	exec {lock}> "$(dirname "$img")/.lock"
	flock "$lock"
	if [ ! -s "$img" ]; then
		rm -f "$img.tmp"
		truncate -s 32M "$img.tmp" &&
			mkfs.ext4 -q -F -b 4096 -L cowdev "$img.tmp" &&
			mv "$img.tmp" "$img" || die "cannot make $img"
	fi
	exec {lock}>&-
	echo "$img"
}

# cowdev_tracers ARCH: an ext4 image of Debian's tracing tools and gnuplot
# for the guest's second virtio disk, made once per architecture and set of
# package versions.  The busybox guest has no C library of its own, so the
# image holds each program with its libraries, at their usual paths, and a
# wrapper per program in bin/ that starts it through the image's own
# dynamic loader; the guest mounts it at /opt/tracers and puts bin/ on
# PATH.  amd64's are this machine's programs, with every library ldd
# finds for them; another architecture's are its packages and everything
# they depend on, unpacked (cowdev_cross_tree), not installed.
cowdev_tracers() {
	local arch=$1
	local pkgs="linux-perf trace-cmd bpftrace gnuplot-nox"
	local progs="perf trace-cmd bpftrace gnuplot-nox"
	local key img dir p path lib lock tree="" loader triplet
	# One lock per architecture, held throughout: a lane that finds the
	# versions changed must not replace the tree another lane is making
	# its image from (cowdev_cross_tree removes older trees).
	mkdir -p "$COWDEV_CACHE/tracers" || exit 1
	exec {lock}> "$COWDEV_CACHE/tracers/.lock-$arch"
	flock "$lock"
	if [ "$arch" = amd64 ]; then
		# shellcheck disable=SC2086
		cowdev_apt_install $pkgs fonts-dejavu-core
		# The packages' versions and this function's text.
		# shellcheck disable=SC2086
		key=$({ dpkg-query -W $pkgs fonts-dejavu-core; declare -f cowdev_tracers; } |
			md5sum | cut -c1-12)
		loader=/lib64/ld-linux-x86-64.so.2 triplet=x86_64-linux-gnu
	else
		cowdev_apt_install fonts-dejavu-core
		# shellcheck disable=SC2086
		tree=$(cowdev_cross_tree "$arch" tracers $pkgs) || exit 1
		# The tree's name has its packages' versions.
		key=$({ dirname "$tree"; dpkg-query -W fonts-dejavu-core;
			declare -f cowdev_tracers; } | md5sum | cut -c1-12)
		loader=/lib/$(cd "$tree/lib" && ls ld-linux-*.so.*) || die "no loader in $tree"
		triplet=$(cd "$tree/usr/lib" && ls -d ./*-linux-gnu) || die "no libraries in $tree"
		triplet=${triplet#./}
	fi
	img=$COWDEV_CACHE/tracers/tracers-$arch-$key.img
	cowdev_apt_install e2fsprogs
	if [ ! -s "$img" ]; then
		# Beside the cache's trees, so that they can be linked.
		dir=$(mktemp -d "$COWDEV_CACHE/tracers/.build.XXXXXX") || exit 1
		if [ -n "$tree" ]; then
			# Links, not copies: mkfs.ext4 -d reads them all the same.
			# The tree's own bin/ would only shadow busybox's applets.
			cp -al "$tree/." "$dir/" && rm -rf "${dir:?}/bin" ||
				die "cannot link $tree"
		else
			for p in $progs; do
				p=$(command -v "$p") || die "$p not installed"
				for lib in $p $(ldd "$p" | grep -o '/[^ ]*'); do
					mkdir -p "$dir$(dirname "$lib")" &&
						cp -L "$lib" "$dir$lib" || die "cannot copy $lib"
				done
			done
		fi
		# libtraceevent's plugins need a matching library: none, quietly.
		mkdir -p "$dir/bin" "$dir/plugins" "$dir/etc" "$dir/usr/share/fonts/truetype" || exit 1
		# Text in gnuplot's PNGs: one font and a fontconfig file naming it.
		cp -a /usr/share/fonts/truetype/dejavu "$dir/usr/share/fonts/truetype/" ||
			die "cannot copy the fonts"
		printf '%s\n' '<?xml version="1.0"?>' '<fontconfig>' \
			'<dir>/opt/tracers/usr/share/fonts</dir>' \
			'<cachedir>/tmp/fontconfig</cachedir>' '</fontconfig>' \
			> "$dir/etc/fonts.conf"
		for p in $progs; do
			if [ -n "$tree" ]; then
				path=/usr/bin/$p
			else
				path=$(command -v "$p")
			fi
			[ -x "$dir$path" ] || die "no $p for $arch"
			cat > "$dir/bin/${p%-nox}" <<-WRAP
			#!/bin/sh
			t=/opt/tracers
			export TRACEEVENT_PLUGIN_DIR=\$t/plugins FONTCONFIG_FILE=\$t/etc/fonts.conf
			exec \$t$loader --argv0 ${p%-nox} \\
				--library-path \$t/lib/$triplet:\$t/usr/lib/$triplet \\
				\$t$path "\$@"
			WRAP
			chmod 0755 "$dir/bin/${p%-nox}"
		done
		mkdir -p "$(dirname "$img")" && rm -f "$img.tmp" &&
			truncate -s "$(( $(du -sm "$dir" | cut -f1) * 5 / 4 + 16 ))M" "$img.tmp" &&
			mkfs.ext4 -q -F -b 4096 -L tracers -d "$dir" "$img.tmp" &&
			mv "$img.tmp" "$img" || die "cannot make $img"
		rm -rf "$dir"
	fi
	# An image is touched when it is handed out; one no run has used for
	# a week is another version's.  (Not sooner: a run that took it just
	# before the versions changed may not have booted with it yet.)
	touch "$img" &&
		find "$(dirname "$img")" -maxdepth 1 -name "tracers-$arch-*.img" \
			-mtime +7 -delete
	exec {lock}>&-
	echo "$img"
}

# cowdev_debug_source NAME: "TARBALL VERSION" of the Debian linux-source
# package a debug kernel is built from: 6.1 on this machine for debug, the
# newest in the sid chroot for debug-newest.
cowdev_debug_source() {
	local root pkg
	if [ "$1" = debug ]; then
		cowdev_apt_install linux-source-6.1
		echo "/usr/src/linux-source-6.1.tar.xz $(dpkg-query -W -f='${Version}' linux-source-6.1)"
		return
	fi
	root=$(cowdev_chroot sid) || exit 1
	pkg=$(cowdev_chroot_meta "$root" linux-source 'linux-source-[0-9.]*') ||
		exit 1
	echo "$root/usr/src/$pkg.tar.xz $(chroot "$root" dpkg-query -W -f='${Version}' "$pkg")"
}

# cowdev_config_wanted FRAGMENT...: each option the config fragments set,
# as merge_config.sh leaves it, the last fragment to name it winning:
# "CONFIG_X=VALUE" or "# CONFIG_X is not set", a line each, in the order
# the options first appear.
cowdev_config_wanted() {
	awk 'match($0, /^CONFIG_[A-Za-z0-9_]+=/) { name = substr($0, 1, RLENGTH - 1) }
	     /^# CONFIG_[A-Za-z0-9_]+ is not set$/ { name = $2 }
	     name != "" {
		if (!(name in line)) order[++n] = name
		line[name] = $0
		name = ""
	     }
	     END { for (i = 1; i <= n; i++) print line[order[i]] }' "$@"
}

# cowdev_config_check WHAT SRC CONFIG FRAGMENT...: check that the .config
# CONFIG, made from the fragments by olddefconfig in the source tree SRC,
# has every option as the fragments left it (a select can turn one back
# on, an unmet dependency off), and that each option they turn off is one
# SRC knows: an option a newer source renamed would be "off" whatever it
# is called now.  Says which option is wrong, and fails.
cowdev_config_check() {
	local what=$1 src=$2 config=$3 known opt name
	shift 3
	known=$(grep -rhoE '^[[:space:]]*(menu)?config [A-Za-z0-9_]+' \
		--include='Kconfig*' "$src" | awk '{ print "CONFIG_" $2 }' | sort -u)
	while read -r opt; do
		case "$opt" in
		"# "*)
			name=${opt#\# }
			name=${name%% *}
			grep -qxF "$name" <<< "$known" ||
				{ note "$what: $name, which the config turns off, is no option of $src"; return 1; }
			! grep -q "^$name=" "$config" ||
				{ note "$what: $name is on, though the config turns it off"; return 1; }
			;;
		*)
			grep -qxF "$opt" "$config" ||
				{ note "$what: $opt did not stick"; return 1; }
			;;
		esac
	done < <(cowdev_config_wanted "$@")
}

# cowdev_debug_kernel NAME: build the debug kernel NAME from its Debian
# source (cowdev_debug_source) with tools/vm/debug.config and, for names
# other than debug, tools/vm/NAME.config if there is one; once per source
# version and config.  Prints the build (O=) directory, which is also the
# kbuild tree for the module.
cowdev_debug_kernel() {
	local src tarball ver hash dir top old start lock
	local configs=("$COWDEV_TOP/tools/vm/debug.config")
	src=$(cowdev_debug_source "$1") || exit 1
	read -r tarball ver <<< "$src"
	[ -f "$tarball" ] || die "no $tarball"
	cowdev_apt_install bc flex bison libelf-dev libssl-dev cpio python3 make gcc
	[ "$1" != debug ] && [ -f "$COWDEV_TOP/tools/vm/$1.config" ] &&
		configs+=("$COWDEV_TOP/tools/vm/$1.config")
	# Keyed by the options, not the comments around them.
	hash=$(cowdev_config_wanted "${configs[@]}" | sha256sum | cut -c1-12)
	top=$COWDEV_CACHE/$1
	dir=$top/$ver-$hash
	mkdir -p "$top" || exit 1
	# One builder at a time; a second caller waits and finds it done.
	exec {lock}> "$top/.lock"
	flock "$lock"
	if [ ! -f "$dir/.done" ]; then
		note "building the $1 kernel ($(basename "$tarball" .tar.xz) $ver, config $hash); this takes a while"
		start=$(date +%s)
		rm -rf "$dir" && mkdir -p "$dir/src" "$dir/out" || exit 1
		tar -xJf "$tarball" -C "$dir/src" --strip-components=1 ||
			die "cannot unpack $tarball"
		make -s -C "$dir/src" O="$dir/out" tinyconfig >/dev/null &&
			"$dir/src/scripts/kconfig/merge_config.sh" -m -O "$dir/out" \
				"$dir/out/.config" "${configs[@]}" >/dev/null &&
			make -s -C "$dir/src" O="$dir/out" olddefconfig >/dev/null ||
			die "cannot configure the $1 kernel"
		cowdev_config_check "$1 kernel" "$dir/src" "$dir/out/.config" \
			"${configs[@]}" || exit 1
		make -s -C "$dir/src" O="$dir/out" -j"$(nproc)" \
			LOCALVERSION=-cowdev-debug > "$dir/build.log" 2>&1 ||
			{ tail -n 30 "$dir/build.log" >&2; die "$1 kernel build failed"; }
		note "$1 kernel built in $(($(date +%s) - start))s"
	fi
	# A build is touched when it is handed out; one no run has used for a
	# week is another source's or config's, or an interrupted build.  (Not
	# sooner: another checkout, with another config, may be using it.)
	touch "$dir/.done" || exit 1
	for old in "$top"/*/; do
		old=${old%/}
		[ "$old" = "$dir" ] ||
			[ -n "$(find "$old/.done" -mtime -7 2> /dev/null)" ] ||
			rm -rf "$old"
	done
	exec {lock}>&-
	echo "$dir/out"
}

# cowdev_kernel_source: the unpacked parts of Debian's linux-source-6.1 the
# project uses (kselftest headers, lib.mk and runner, checkpatch), extracted
# once per version.
cowdev_kernel_source() {
	local tarball=/usr/src/linux-source-6.1.tar.xz ver dir f stale=
	local files="tools/testing/selftests/kselftest.h
		tools/testing/selftests/kselftest_harness.h
		tools/testing/selftests/lib.mk
		tools/testing/selftests/run_kselftest.sh
		tools/testing/selftests/kselftest/runner.sh
		tools/testing/selftests/kselftest/prefix.pl scripts/checkpatch.pl
		scripts/spelling.txt scripts/const_structs.checkpatch
		scripts/kernel-doc"
	[ -f "$tarball" ] || cowdev_apt_install linux-source-6.1
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
	dir=$COWDEV_CACHE/src/linux-source-$ver
	for f in $files; do
		[ -f "$dir/$f" ] || stale=1
	done
	if [ -n "$stale" ]; then
		rm -rf "$dir" && mkdir -p "$dir" || exit 1
		# shellcheck disable=SC2046,SC2086
		tar -xJf "$tarball" -C "$dir" --strip-components=1 \
			$(printf 'linux-source-6.1/%s ' $files) ||
			die "cannot unpack $tarball"
	fi
	echo "$dir"
}
