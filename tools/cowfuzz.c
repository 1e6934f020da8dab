// SPDX-License-Identifier: GPL-2.0
/*
 * cowfuzz: every cowdev ioctl with random, boundary and hostile arguments,
 * interleaved with the mm system calls, on objects in both modes.
 *
 *   cowfuzz [-s SEED] [-n CALLS]
 *
 * Arguments: NULL, small, unaligned, kernel and unmapped pointers, structs
 * placed inside the objects' own mappings (shared, private, pfn-mode,
 * punched, past the end: faulting on the argument itself), every reserved
 * field and flag bit, huge and unaligned sizes, random command numbers;
 * and, run as root, a pool limit of a few pages and the shrinker, so that
 * faults wait for the reclaimer.  Clones take an object's place now and
 * then, and children forked from time to time fuzz the same objects at
 * once, so that ioctls race ioctls and faults of other processes (their
 * calls are not in the counts).
 * Every call must succeed or fail with an errno the ABI names; any other
 * answer is counted and printed.  The kernel's side (no WARN, oops, leak
 * or splat) is the guest runner's to check.  Ends with "cowfuzz: seed S:
 * N ioctls, M mm calls, C children, K unexpected"; exits 1 if K is not 0
 * (a child's unexpected errnos, or a child that did not exit 0, count).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/cowdev.h"

#define NOBJ 4
#define MAP_PAGES 8
#define MAX_CHILDREN 2
#define CHILD_CALLS 500

static long ps;
static uint64_t rng;
static long unexpected;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct object {
	int fd;
	int store;	/* a memfd to offer as its backing store */
	char *shared, *private;
};

static struct object objs[NOBJ];
static sigjmp_buf fault_jmp;
static unsigned int children;	/* alive */
static unsigned long forked;

/* Map @o's fd shared and private; NULL where that fails (size 0 is fine). */
static void map_object(struct object *o)
{
	o->shared = mmap(NULL, MAP_PAGES * ps, PROT_READ | PROT_WRITE,
			 MAP_SHARED, o->fd, 0);
	o->private = mmap(NULL, MAP_PAGES * ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE, o->fd, 0);
	if (o->shared == MAP_FAILED)
		o->shared = NULL;
	if (o->private == MAP_FAILED)
		o->private = NULL;
}

/*
 * A clone takes a random object's place half the time, so that clones are
 * written, punched, cloned and evicted while their source lives on in
 * whoever still maps or holds it; otherwise it is closed at once.
 */
static void adopt_clone(int fd)
{
	struct object *o = &objs[rnd() % NOBJ];

	if (rnd() % 2) {
		close(fd);
		return;
	}
	if (o->shared)
		munmap(o->shared, MAP_PAGES * ps);
	if (o->private)
		munmap(o->private, MAP_PAGES * ps);
	close(o->fd);
	o->fd = fd;
	map_object(o);
}

static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

/* A value worth trying as a size, offset or length. */
static uint64_t boundary(void)
{
	static const uint64_t v[] = {
		0, 1, 4095, 4096, 4097, 8192, 1ULL << 20, 64ULL << 20,
		COWDEV_MAX_SIZE - 4096, COWDEV_MAX_SIZE, COWDEV_MAX_SIZE + 1,
		COWDEV_MAX_SIZE + 4096, 1ULL << 63, ~0ULL, ~0ULL - 4095,
	};

	return rnd() % 3 ? v[rnd() % (sizeof(v) / sizeof(v[0]))] : rnd();
}

/* Where to put an ioctl's argument: somewhere good, bad or tricky. */
static void *arg_place(void *good, size_t len)
{
	struct object *o = &objs[rnd() % NOBJ];

	switch (rnd() % 12) {
	case 0:
		return NULL;
	case 1:
		return (void *)(uintptr_t)(rnd() % 4096);
	case 2:
		return (void *)0xffffffff81000000UL;	/* kernel text */
	case 3:
		return (char *)good + 1;		/* unaligned */
	case 4:
		return (void *)(uintptr_t)rnd();
	case 5:		/* in the object's own shared mapping */
		if (!o->shared)
			return good;
		return o->shared + (rnd() % MAP_PAGES) * ps + ps - len * (rnd() % 2);
	case 6:		/* in a private mapping of it */
		if (!o->private)
			return good;
		return o->private + (rnd() % MAP_PAGES) * ps;
	default:
		return good;
	}
}

static void expect(long ret, const char *what)
{
	static const int known[] = {
		EINVAL, EFAULT, ENOTTY, EBADF, EBUSY, EMFILE, ENOMEM, ENOSPC, EOPNOTSUPP,
		EINTR,
	};
	unsigned int i;

	if (ret >= 0)
		return;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (errno == known[i])
			return;
	unexpected++;
	fprintf(stderr, "cowfuzz: %s: unexpected errno %d (%s)\n", what, errno,
		strerror(errno));
}

static void fuzz_ioctl(void)
{
	struct object *o = &objs[rnd() % NOBJ];
	struct cowdev_writeback wb;
	struct cowdev_evict evict;
	struct cowdev_range range;
	struct cowdev_info info;
	unsigned int cmd;
	uint64_t size;
	long ret;
	void *a;

	switch (rnd() % 10) {
	case 0:
		size = rnd() % 2 ? (rnd() % 64) * ps : boundary();
		a = arg_place(&size, sizeof(size));
		ret = ioctl(o->fd, COWDEV_IOC_SET_SIZE, a);
		expect(ret, "SET_SIZE");
		break;
	case 1:
		memset(&info, 0, sizeof(info));
		if (rnd() % 4 == 0)
			info.flags = rnd();
		if (rnd() % 4 == 0)
			info.reserved[rnd() % (sizeof(info.reserved) /
					   sizeof(info.reserved[0]))] = rnd();
		a = arg_place(&info, sizeof(info));
		ret = ioctl(o->fd, COWDEV_IOC_GET_INFO, a);
		expect(ret, "GET_INFO");
		break;
	case 2:
		ret = ioctl(o->fd, COWDEV_IOC_CLONE, rnd() % 4 ? 0 : rnd());
		expect(ret, "CLONE");
		if (ret >= 0)
			adopt_clone(ret);
		break;
	case 3:
		ret = ioctl(o->fd, COWDEV_IOC_SET_MODE, rnd() % 4 ? rnd() % 2 : rnd());
		expect(ret, "SET_MODE");
		break;
	case 4:
		memset(&wb, 0, sizeof(wb));
		wb.flags = rnd() % 4 ? rnd() % 2 : rnd();
		/* Valid delays stay short: a 10 s writeback would stall us. */
		wb.delay_us = rnd() % 4 ? rnd() % 1000 : boundary() | 1ULL << 40;
		if (rnd() % 4 == 0)
			wb.reserved[rnd() % 5] = rnd();
		a = arg_place(&wb, sizeof(wb));
		ret = ioctl(o->fd, COWDEV_IOC_WRITEBACK, a);
		expect(ret, "WRITEBACK");
		break;
	case 5:
		range.offset = rnd() % 2 ? (rnd() % 64) * ps : boundary();
		range.len = rnd() % 2 ? (rnd() % 8 + 1) * ps : boundary();
		a = arg_place(&range, sizeof(range));
		ret = ioctl(o->fd, COWDEV_IOC_PUNCH_HOLE, a);
		expect(ret, "PUNCH_HOLE");
		break;
	case 6:
		/* Its own store, another's, a cowdev, nothing, anything. */
		switch (rnd() % 5) {
		case 0:
		case 1:
			ret = o->store;
			break;
		case 2:
			ret = objs[rnd() % NOBJ].store;
			break;
		case 3:
			ret = objs[rnd() % NOBJ].fd;
			break;
		default:
			ret = rnd() % 2 ? -1 : (long)rnd();
		}
		ret = ioctl(o->fd, COWDEV_IOC_SET_BACKING, ret);
		expect(ret, "SET_BACKING");
		break;
	case 7:
		memset(&evict, 0, sizeof(evict));
		evict.offset = rnd() % 2 ? (rnd() % MAP_PAGES) * ps : boundary();
		evict.len = rnd() % 2 ? (rnd() % MAP_PAGES + 1) * ps : boundary();
		if (rnd() % 4 == 0)
			evict.reserved[rnd() % 5] = rnd();
		a = arg_place(&evict, sizeof(evict));
		ret = ioctl(o->fd, COWDEV_IOC_EVICT, a);
		expect(ret, "EVICT");
		break;
	default:
		/* Any command number, our magic or not, any size and direction. */
		cmd = rnd() % 2 ? (uint32_t)rnd() :
			_IOC(rnd() % 4, COWDEV_IOC_MAGIC, rnd() % 16, rnd() % 512);
		a = arg_place(&info, sizeof(info));
		ret = ioctl(o->fd, cmd, a);
		expect(ret, "random command");
		if (cmd == COWDEV_IOC_CLONE && ret >= 0)
			close(ret);
	}
}

#define POOL_LIMIT "/sys/module/cowdev/parameters/pool_limit_pages"
static char pool_limit_saved[32];

static void write_knob(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0)
		unexpected++;
	close(fd);
}

/*
 * The pool's limit, now and then a few pages (faults at it wait for the
 * reclaimer to evict from the objects with a store, or get SIGBUS), and
 * the shrinker (drop_caches) asking the reclaimer as pressure would.
 */
static void fuzz_pool(void)
{
	static const char *const limits[] = { "8", "24", "64" };

	if (!pool_limit_saved[0])
		return;
	if (rnd() % 2)
		write_knob("/proc/sys/vm/drop_caches", "2");
	else if (rnd() % 2)
		write_knob(POOL_LIMIT, limits[rnd() % 3]);
	else
		write_knob(POOL_LIMIT, pool_limit_saved);
}

/* The mm calls the ioctls interleave with. */
static void fuzz_mm(void)
{
	struct object *o = &objs[rnd() % NOBJ];
	static const int advice[] = {
		MADV_DONTNEED, MADV_WILLNEED, MADV_NORMAL, MADV_RANDOM,
		MADV_SEQUENTIAL,
	};
	size_t off = (rnd() % MAP_PAGES) * ps;
	int prot;

	switch (rnd() % 7) {
	case 5:
		fuzz_pool();
		break;
	case 0:
		prot = rnd() % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
		if (o->shared)
			mprotect(o->shared + off, ps, prot);
		break;
	case 1:
		/* The last three steer readahead from the backing store. */
		if (o->shared)
			madvise(o->shared + off, (rnd() % 4 + 1) * ps,
				advice[rnd() % (sizeof(advice) / sizeof(advice[0]))]);
		break;
	case 2:
		munmap(o->private, MAP_PAGES * ps);
		o->private = mmap(NULL, MAP_PAGES * ps, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE, o->fd, 0);
		if (o->private == MAP_FAILED)
			o->private = NULL;
		break;
	default:
		/* Touch a page: it may be past the end (SIGBUS) or read-only. */
		if (!sigsetjmp(fault_jmp, 1)) {
			char *p = (rnd() % 2 ? o->shared : o->private);

			if (p) {
				if (rnd() % 2)
					p[off] = (char)rnd();
				else
					(void)*(volatile char *)(p + off);
			}
		}
	}
}

/*
 * A child fuzzing the same objects (their fds and mappings, inherited) at
 * the same time as its parent; its unexpected errnos are its exit status.
 */
static void spawn_child(void)
{
	pid_t pid;
	int i;

	if (children >= MAX_CHILDREN)
		return;
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return;
	if (pid) {
		children++;
		forked++;
		return;
	}
	rng ^= (uint64_t)getpid() << 32;
	unexpected = 0;		/* its own, not the parent's so far */
	for (i = 0; i < CHILD_CALLS; i++) {
		fuzz_ioctl();
		if (rnd() % 2)
			fuzz_mm();
	}
	_exit(unexpected ? 1 : 0);
}

/* Collect children that are done, or all of them with @all. */
static void reap_children(bool all)
{
	int status;
	pid_t pid;

	while (children &&
	       (pid = waitpid(-1, &status, all ? 0 : WNOHANG)) > 0) {
		children--;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		unexpected++;
		fprintf(stderr, "cowfuzz: child %d: status %#x\n", pid, status);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };
	unsigned long n = 100000, i, mm = 0;
	uint64_t seed = time(NULL);
	int opt, k;

	while ((opt = getopt(argc, argv, "s:n:")) != -1) {
		if (opt == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (opt == 'n')
			n = strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	rng = seed ? seed : 1;
	ps = sysconf(_SC_PAGESIZE);
	printf("cowfuzz: seed %llu, %lu ioctls\n", (unsigned long long)seed, n);
	fflush(stdout);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	/* Root in a guest: the pool's limit is fuzzed too, and put back. */
	k = open(POOL_LIMIT, O_RDWR | O_CLOEXEC);
	if (k >= 0) {
		if (read(k, pool_limit_saved, sizeof(pool_limit_saved) - 1) <= 0)
			pool_limit_saved[0] = 0;
		close(k);
	}

	for (k = 0; k < NOBJ; k++) {
		objs[k].fd = open("/dev/cowdev", O_RDWR | O_CLOEXEC);
		if (objs[k].fd < 0) {
			perror("cowfuzz: /dev/cowdev");
			return 2;
		}
		ioctl(objs[k].fd, COWDEV_IOC_SET_MODE, k % 2);
		objs[k].store = memfd_create("cowfuzz-store", MFD_CLOEXEC);
		if (objs[k].store < 0) {
			perror("cowfuzz: memfd_create");
			return 2;
		}
		map_object(&objs[k]);
		if (!objs[k].shared || !objs[k].private) {
			perror("cowfuzz: mmap");
			return 2;
		}
	}
	for (i = 0; i < n; i++) {
		fuzz_ioctl();
		if (rnd() % 2) {
			fuzz_mm();
			mm++;
		}
		if (rnd() % 1000 == 0)
			spawn_child();
		reap_children(false);
	}
	reap_children(true);
	if (pool_limit_saved[0])
		write_knob(POOL_LIMIT, pool_limit_saved);
	printf("cowfuzz: seed %llu: %lu ioctls, %lu mm calls, %lu children, %ld unexpected\n",
	       (unsigned long long)seed, n, mm, forked, unexpected);
	return unexpected ? 1 : 0;
}
