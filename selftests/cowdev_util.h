/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the cowdev selftests: opening objects, reading their
 * counters, catching SIGBUS, and reading debugfs.
 */
#ifndef _COWDEV_UTIL_H
#define _COWDEV_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "kselftest.h"
#include "uapi/cowdev.h"

#define COWDEV_DEV "/dev/cowdev"
#define COWDEV_DEBUGFS "/sys/kernel/debug/cowdev"
#define COWDEV_PARAMS "/sys/module/cowdev/parameters"

/*
 * Every test needs the device.  Without it (the module is not loaded) say
 * so once and exit with kselftest's skip code, as a kselftest does for a
 * feature the kernel lacks, instead of failing every test.
 */
static void __attribute__((constructor)) cowdev_require_device(void)
{
	if (access(COWDEV_DEV, F_OK) == 0)
		return;
	printf("TAP version 13\n1..0 # SKIP %s missing (modprobe cowdev)\n",
	       COWDEV_DEV);
	exit(KSFT_SKIP);
}

static inline long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/* The /proc/self/pagemap entry of @addr (bit 63: present); 0 if unread. */
static inline uint64_t pagemap_entry(const volatile void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t entry = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, sizeof(entry),
		  (uintptr_t)addr / page_size() * sizeof(entry)) != sizeof(entry))
		entry = 0;
	close(fd);
	return entry;
}

/*
 * pfn mode is built on x86 and on arm64 kernels that export a zap of one
 * mapping's PTE (Documentation/cowdev.rst, *Architectures*): elsewhere
 * SET_MODE refuses it with EOPNOTSUPP, and its tests skip.
 */
#define COWDEV_NO_PFN_MODE "no pfn mode on this architecture or kernel"

/* SET_MODE; returns 0 or -errno. */
static inline int cowdev_set_mode(int fd, enum cowdev_mode mode)
{
	return ioctl(fd, COWDEV_IOC_SET_MODE, mode) ? -errno : 0;
}

/* Is @ret, from cowdev_set_mode(@mode), the architecture's "no pfn mode"? */
static inline bool cowdev_no_pfn_mode(enum cowdev_mode mode, int ret)
{
	return mode == COWDEV_MODE_PFN && ret == -EOPNOTSUPP;
}

/*
 * Put the object behind @fd in @mode, for a fixture's setup: 0, with
 * *@skip set to why the test cannot run where the architecture has no
 * such mode (see COWDEV_SKIP_UNLESS_READY()), or -errno.
 */
static inline int cowdev_fixture_mode(int fd, enum cowdev_mode mode,
				      const char **skip)
{
	int ret = cowdev_set_mode(fd, mode);

	if (cowdev_no_pfn_mode(mode, ret)) {
		*skip = COWDEV_NO_PFN_MODE;
		return 0;
	}
	return ret;
}

/* GET_INFO into @info; returns 0 or -errno. */
static inline int cowdev_info(int fd, struct cowdev_info *info)
{
	memset(info, 0, sizeof(*info));
	return ioctl(fd, COWDEV_IOC_GET_INFO, info) ? -errno : 0;
}

static inline int cowdev_set_size(int fd, uint64_t size)
{
	return ioctl(fd, COWDEV_IOC_SET_SIZE, &size) ? -errno : 0;
}

/* What a test compares: a memfd, the reference, and an object in each mode. */
enum test_backing { BACKING_MEMFD, BACKING_PAGE, BACKING_PFN };

/* A memfd or object of @len bytes: its fd, -EOPNOTSUPP (no pfn mode), or -1. */
static inline int open_backing(enum test_backing b, size_t len)
{
	enum cowdev_mode mode = b == BACKING_PFN ? COWDEV_MODE_PFN :
						   COWDEV_MODE_PAGE;
	int fd, ret;

	if (b == BACKING_MEMFD) {
		fd = memfd_create("cowdev-ref", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, len)) {
			close(fd);
			return -1;
		}
		return fd;
	}
	fd = open(COWDEV_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = cowdev_set_mode(fd, mode);
	if (ret || cowdev_set_size(fd, len)) {
		close(fd);
		return cowdev_no_pfn_mode(mode, ret) ? -EOPNOTSUPP : -1;
	}
	return fd;
}

/*
 * The value of "name value" line @name in @path, or -1 if the file or the
 * line is missing.  Values that are words (core_probe) read as -2.
 */
static inline long long read_stat(const char *path, const char *name)
{
	char line[256], key[128], val[64];
	long long ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %63s", key, val) != 2 || strcmp(key, name))
			continue;
		ret = (val[0] >= '0' && val[0] <= '9') ? atoll(val) : -2;
		break;
	}
	fclose(f);
	return ret;
}

static inline long long global_stat(const char *name)
{
	return read_stat(COWDEV_DEBUGFS "/stats", name);
}

static inline long long object_stat(int fd, const char *name)
{
	struct cowdev_info info;
	char path[128];

	if (cowdev_info(fd, &info))
		return -1;
	snprintf(path, sizeof(path), COWDEV_DEBUGFS "/objects/%llu",
		 (unsigned long long)info.id);
	return read_stat(path, name);
}

static inline int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static inline int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -errno;
}

static inline int delete_module(const char *name, int flags)
{
	return syscall(__NR_delete_module, name, flags) ? -errno : 0;
}

/*
 * SIGBUS catching: access_sigbus() returns true if the access raised
 * SIGBUS, and leaves its si_code in cowdev_sigbus_code.
 */
static sigjmp_buf cowdev_sigbus_jmp;
static volatile int cowdev_sigbus_code;

static inline void cowdev_sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	cowdev_sigbus_code = si->si_code;
	siglongjmp(cowdev_sigbus_jmp, 1);
}

static inline bool access_sigbus(volatile char *p, bool write)
{
	struct sigaction sa = {
		.sa_sigaction = cowdev_sigbus_handler,
		.sa_flags = SA_SIGINFO,
	};
	struct sigaction old;
	bool faulted = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(cowdev_sigbus_jmp, 1))
		faulted = true;
	else if (write)
		*p = 1;
	else
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return faulted;
}

/* Touch each page of [p, p + len): read or write one byte. */
static inline void touch_pages(volatile char *p, size_t len, bool write,
			       char val)
{
	size_t off;

	for (off = 0; off < len; off += page_size()) {
		if (write)
			p[off] = val;
		else
			(void)p[off];
	}
}

/* Keep the calling thread on the CPU it runs on now; 0 or -1. */
static inline int stay_on_this_cpu(void)
{
	cpu_set_t cpu;

	CPU_ZERO(&cpu);
	CPU_SET(sched_getcpu(), &cpu);
	return sched_setaffinity(0, sizeof(cpu), &cpu);
}

/*
 * This process's minor faults so far (the kernel's count, not cowdev's).
 * They include faults anywhere in the process: a test that counts them
 * calls no_stray_faults() first.
 */
static inline long minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_minflt;
}

/*
 * Keep khugepaged away from this process: collapsing its heap or stack
 * into a huge page unmaps them, and the next touch there is a minor fault
 * that the test did not make.  0 or -1.
 */
static inline int no_stray_faults(void)
{
	return prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

/*
 * For a fixture with a "skip" member, set by its setup to why its tests
 * cannot run here: skip in the test's body, since a SKIP in the setup of
 * 6.1's harness still runs the body.
 */
#define COWDEV_SKIP_UNLESS_READY() do {				\
	if (self->skip)						\
		SKIP(return, "%s", self->skip);			\
} while (0)

/* Evict [@offset, @offset + @len): the pages evicted, or -errno. */
static inline long cowdev_evict(int fd, uint64_t offset, uint64_t len)
{
	struct cowdev_evict e = { .offset = offset, .len = len };

	return ioctl(fd, COWDEV_IOC_EVICT, &e) ? -errno : (long)e.pages;
}

static inline long major_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_majflt;
}

static inline int cowdev_punch(int fd, uint64_t offset, uint64_t len)
{
	struct cowdev_range r = { .offset = offset, .len = len };

	return ioctl(fd, COWDEV_IOC_PUNCH_HOLE, &r) ? -errno : 0;
}

/* True if every byte of [p, p + len) is @c. */
static inline bool all_bytes(const char *p, size_t len, char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

/*
 * Wait until the counter at @field (offsetof(struct cowdev_info, ...)) of
 * the object's info reaches @n, from below or, with @down, from above:
 * the work of a readahead or of the reclaimer has moved it.  True if it
 * did within 30 s.
 */
static inline bool wait_info(int fd, size_t field, uint64_t n, bool down)
{
	struct timespec t0, t;
	struct cowdev_info info;
	uint64_t v;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (cowdev_info(fd, &info))
			return false;
		v = *(uint64_t *)((char *)&info + field);
		if (down ? v <= n : v >= n)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 30);
	return false;
}

/* A new, unlinked file in COWDEV_DIRECT_DIR (ext4 on a disk); or -1. */
static inline int open_disk_store(void)
{
	const char *dir = getenv("COWDEV_DIRECT_DIR");
	char path[PATH_MAX];
	int fd;

	if (!dir)
		return -1;
	snprintf(path, sizeof(path), "%s/cowdev-store-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* Is the task whose kernel stack is at @path in kernel function @fn? */
static inline bool stack_has(const char *path, const char *fn)
{
	char line[256];
	bool found = false;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, fn);
	fclose(f);
	return found;
}

/*
 * Is thread @tid of this process in kernel function @fn?  The tests use
 * it to order themselves against a task asleep in the kernel
 * (/proc/PID/stack: root, CONFIG_STACKTRACE).
 */
static inline bool thread_in(pid_t tid, const char *fn)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
	return stack_has(path, fn);
}

/* Is process @pid in kernel function @fn? */
static inline bool process_in(pid_t pid, const char *fn)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	return stack_has(path, fn);
}

/* <linux/fs.h>'s, which clashes with <sys/mount.h> in older C libraries. */
#ifndef FIFREEZE
#define FIFREEZE	_IOWR('X', 119, int)
#define FITHAW		_IOWR('X', 120, int)
#endif

/* Freeze or thaw the filesystem of directory @dir: 0 or -errno. */
static inline int freeze_fs(const char *dir, bool freeze)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY), ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, freeze ? FIFREEZE : FITHAW, 0) ? -errno : 0;
	close(fd);
	return ret;
}

/*
 * fork() for a test: the child dies with the thread that forked it.  A
 * child left blocked (reading a pipe its parent will never write, after
 * the parent failed an ASSERT) would keep the harness's output pipe open,
 * and the whole suite would wait for it with its output unseen.  Fork
 * from the test's main thread: the signal follows the forking thread.
 */
static inline pid_t fork_child(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0 &&
	    (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
		_exit(3);
	return pid;
}

/*
 * A child that thaws @dir in @secs, from a session of its own, in case
 * the harness kills the test (and its process group) before the test
 * could: every later test on that filesystem would hang.  Its pid.
 */
static inline pid_t thaw_guard(const char *dir, unsigned int secs)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		sleep(secs);
		_exit(freeze_fs(dir, false) ? 1 : 0);
	}
	return pid;
}

/*
 * A userfaultfd-registered buffer whose first touch stalls until released:
 * a kernel copy from it (process_vm_writev's) stops there, after the GUP
 * of the remote side and before the data is copied.
 */
struct stall {
	int uffd;
	char *buf;
	size_t len;
};

/* The stalling buffer goes at @at if not NULL, anywhere otherwise. */
static inline bool stall_init_at(struct stall *s, void *at, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	s->len = len;
	s->uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (s->uffd < 0 || ioctl(s->uffd, UFFDIO_API, &api))
		return false;
	s->buf = mmap(at, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);
	if (s->buf == MAP_FAILED)
		return false;
	reg.range.start = (unsigned long)s->buf;
	reg.range.len = len;
	return !ioctl(s->uffd, UFFDIO_REGISTER, &reg);
}

static inline bool stall_init(struct stall *s, size_t len)
{
	return stall_init_at(s, NULL, len);
}

/*
 * Wait until someone is stalled on the buffer; false if nobody is within
 * 10 s (the access failed before it reached the buffer).
 */
static inline bool stall_wait(struct stall *s)
{
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg msg;

	return poll(&pfd, 1, 10000) == 1 &&
	       read(s->uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	       msg.event == UFFD_EVENT_PAGEFAULT;
}

/* Fill the buffer with @c, which lets the stalled copy go on. */
static inline bool stall_release(struct stall *s, char c)
{
	char *src = malloc(s->len);
	struct uffdio_copy copy = {
		.dst = (unsigned long)s->buf,
		.len = s->len,
	};
	bool ok;

	if (!src)
		return false;
	memset(src, c, s->len);
	copy.src = (unsigned long)src;
	ok = !ioctl(s->uffd, UFFDIO_COPY, &copy);
	free(src);
	return ok;
}

static inline void stall_fini(struct stall *s)
{
	munmap(s->buf, s->len);
	close(s->uffd);
}

/*
 * A file's inode lock held from userspace: a write(2) to the file from a
 * stalling buffer, in a thread of its own, holds i_rwsem while it faults
 * the buffer in (ext4's ext4_buffered_write_iter() takes it first).
 */
struct inode_holder {
	struct stall stall;
	pthread_t thread;
	int fd;
	off_t off;
	ssize_t ret;
	bool held;	/* until inode_release() */
};

static inline void *inode_holder_write(void *arg)
{
	struct inode_holder *h = arg;

	h->ret = pwrite(h->fd, h->stall.buf, h->stall.len, h->off);
	return NULL;
}

/*
 * Take @fd's inode lock with a one-page write at @off, which must be
 * somewhere nothing else reads; true once the write is stalled holding it.
 */
static inline bool inode_hold(struct inode_holder *h, int fd, off_t off)
{
	h->fd = fd;
	h->off = off;
	h->ret = -1;
	h->held = false;
	if (!stall_init(&h->stall, page_size()))
		return false;
	if (!pthread_create(&h->thread, NULL, inode_holder_write, h)) {
		if (stall_wait(&h->stall)) {
			h->held = true;
			return true;
		}
		stall_release(&h->stall, 'W');
		pthread_join(h->thread, NULL);
	}
	stall_fini(&h->stall);
	return false;
}

/*
 * Let the write go on; what it returned (a page, written), or -1 if the
 * lock is not held: a fixture's teardown may call it whatever happened.
 */
static inline ssize_t inode_release(struct inode_holder *h)
{
	if (!h->held)
		return -1;
	h->held = false;
	stall_release(&h->stall, 'W');
	pthread_join(h->thread, NULL);
	stall_fini(&h->stall);
	return h->ret;
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Long enough that a test finishing before it proves nobody waited it out. */
#define LONG_WAIT_US 8000000
#define KILL_BOUND_MS 4000

/*
 * Is @pid asleep in the kernel (state S or D)?  A child that already
 * exited (Z) counts too, so that no caller waits for it forever; its
 * reaping then tells the caller it was not killed.
 */
static inline bool sleeping(pid_t pid)
{
	char path[64], buf[512], *s;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_text(path, buf, sizeof(buf)))
		return false;
	s = strrchr(buf, ')');
	return s && (s[2] == 'S' || s[2] == 'D' || s[2] == 'Z');
}

/* Is process @pid in kernel function @fn within 10 s?  Asked every ms. */
static inline bool process_in_within(pid_t pid, const char *fn)
{
	uint64_t start = now_ms();

	while (!process_in(pid, fn))
		if (now_ms() - start > 10000 || usleep(1000))
			return false;
	return true;
}

/* Kill @pid once it sleeps; the milliseconds until it was reaped. */
static inline long kill_when_asleep(pid_t pid)
{
	uint64_t start;
	int status;

	while (!sleeping(pid))
		sched_yield();
	start = now_ms();
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
		return -1;
	return now_ms() - start;
}

#endif /* _COWDEV_UTIL_H */
