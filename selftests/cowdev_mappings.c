// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev mapping tests: shared and private semantics, SIGBUS past the end,
 * mmap bounds, the counters each path moves, the page pool, and GUP on
 * device pages.
 *
 * Counter checks use the test's own object (GET_INFO or its debugfs file),
 * so they do not depend on what other tests did.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define NPAGES 16

FIXTURE(obj)
{
	int fd;
	long ps;
	size_t len;
};

FIXTURE_SETUP(obj)
{
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(obj)
{
	close(self->fd);
}

static char *map(int fd, size_t len, int flags, off_t off)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
}

/* Run @fn in a child; true if it exited 0. */
static bool in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork_child();

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(obj, zero_fill_shared_and_private)
{
	char *s = map(self->fd, self->len, MAP_SHARED, 0);
	char *p = map(self->fd, self->len, MAP_PRIVATE, 0);

	ASSERT_NE(MAP_FAILED, s);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(all_bytes(s, self->len, 0));
	EXPECT_TRUE(all_bytes(p, self->len, 0));
	munmap(s, self->len);
	munmap(p, self->len);
}

TEST_F(obj, shared_visible_across_two_mmaps)
{
	char *a = map(self->fd, self->len, MAP_SHARED, 0);
	char *b = map(self->fd, self->len, MAP_SHARED, 0);

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_NE(a, b);
	memset(a, 'a', self->len);
	EXPECT_TRUE(all_bytes(b, self->len, 'a'));
	memset(b + self->ps, 'b', self->ps);
	EXPECT_TRUE(all_bytes(a + self->ps, self->ps, 'b'));
	/* An offset mapping sees the same pages. */
	munmap(b, self->len);
	b = map(self->fd, self->ps, MAP_SHARED, 3 * self->ps);
	ASSERT_NE(MAP_FAILED, b);
	b[0] = 'o';
	EXPECT_EQ('o', a[3 * self->ps]);
	munmap(a, self->len);
	munmap(b, self->ps);
}

/*
 * Two shared mappings of one object take turns writing pages that both
 * have read, in each mode and in a memfd: every byte written shows in both,
 * and every write fault is decided once (reuse, never a copy: nothing is
 * shared with a clone).  In pfn mode a write after a read makes the PTE
 * writable in place on x86, and on arm64 zaps it and sets a writable one
 * (COWDEV_PTE_UPGRADE_IN_PLACE in module/compat.h), in the faulting
 * mapping alone: the other mapping's writable PTEs stay, and its writes
 * after that take no fault, as in a memfd.
 */
FIXTURE(two_maps)
{
	int fd;
	long ps;
	size_t len;
	const char *skip;
};

FIXTURE_VARIANT(two_maps)
{
	enum test_backing backing;
};

FIXTURE_VARIANT_ADD(two_maps, memfd)
{
	.backing = BACKING_MEMFD,
};

FIXTURE_VARIANT_ADD(two_maps, page)
{
	.backing = BACKING_PAGE,
};

FIXTURE_VARIANT_ADD(two_maps, pfn)
{
	.backing = BACKING_PFN,
};

FIXTURE_SETUP(two_maps)
{
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->fd = open_backing(variant->backing, self->len);
	if (self->fd == -EOPNOTSUPP)
		self->skip = COWDEV_NO_PFN_MODE;
	else
		ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(two_maps)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* The object's faults of every kind; 0 for a memfd, which counts none. */
static __u64 object_faults(int fd, enum test_backing backing)
{
	struct cowdev_info info;

	if (backing == BACKING_MEMFD)
		return 0;
	return cowdev_info(fd, &info) ? ~0ULL : info.faults;
}

/* Decisions on shared writes, and the write faults they were made in. */
static void write_decisions(int fd, enum test_backing backing,
			    __u64 *decided, __u64 *faults)
{
	struct cowdev_info info;

	if (cowdev_info(fd, &info)) {
		*decided = *faults = ~0ULL;
		return;
	}
	*decided = info.reuse + info.copy;
	/*
	 * Page mode decides every shared write in ->page_mkwrite, which a
	 * first-touch write reaches too; pfn mode decides a first touch in
	 * ->fault and a write after a read in ->pfn_mkwrite.
	 */
	*faults = backing == BACKING_PAGE ? info.mkwrite :
					    info.pfn_mkwrite + info.write_faults;
}

TEST_F(two_maps, writes_after_reads_land_once)
{
	const size_t n = NPAGES;
	__u64 decided, faults, object_before;
	char *a, *b;
	long before;
	size_t i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/*
	 * One CPU throughout: x86 makes a PTE writable without a TLB flush,
	 * so a CPU that read b and did not take the write fault could take a
	 * spurious fault on its stale read-only entry when b is written again.
	 */
	ASSERT_EQ(0, stay_on_this_cpu());
	a = map(self->fd, self->len, MAP_SHARED, 0);
	b = map(self->fd, self->len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	touch_pages(a, self->len, false, 0);
	touch_pages(b, self->len, false, 0);

	/* b writes every page, then a reads and writes the even ones. */
	touch_pages(b, self->len, true, 'b');
	for (i = 0; i < n; i += 2) {
		EXPECT_EQ('b', a[i * self->ps]);
		a[i * self->ps] = 'a';
	}
	for (i = 0; i < n; i++) {
		EXPECT_EQ(i % 2 ? 'b' : 'a', a[i * self->ps]);
		EXPECT_EQ(i % 2 ? 'b' : 'a', b[i * self->ps]);
	}
	if (variant->backing != BACKING_MEMFD) {
		write_decisions(self->fd, variant->backing, &decided, &faults);
		EXPECT_EQ(n + n / 2, decided);
		EXPECT_EQ(decided, faults);
		EXPECT_EQ(0, object_stat(self->fd, "copy"));
	}

	/*
	 * b again: its PTEs are still writable, whatever a's writes did, so
	 * no write faults, as in the memfd.  The object's own count says so
	 * exactly.  The process's may also hold a fault elsewhere in it (one
	 * run on arm64 saw one in each variant, memfd's too), never one for
	 * each page that a wrote.
	 */
	ASSERT_EQ(0, no_stray_faults());
	object_before = object_faults(self->fd, variant->backing);
	before = minor_faults();
	touch_pages(b, self->len, true, 'c');
	EXPECT_GT((long)n / 2, minor_faults() - before);
	EXPECT_EQ(object_before, object_faults(self->fd, variant->backing));
	for (i = 0; i < n; i++)
		EXPECT_EQ('c', a[i * self->ps]);
	if (variant->backing != BACKING_MEMFD) {
		write_decisions(self->fd, variant->backing, &decided, &faults);
		EXPECT_EQ(n + n / 2, decided);
		EXPECT_EQ(decided, faults);
		EXPECT_EQ(0, object_stat(self->fd, "copy"));
	}
	munmap(a, self->len);
	munmap(b, self->len);
}

struct shared_arg {
	char *p;
	size_t len;
	char expect, write;
};

static int check_then_write(void *arg)
{
	struct shared_arg *a = arg;

	if (!all_bytes(a->p, a->len, a->expect))
		return 1;
	memset(a->p, a->write, a->len);
	return 0;
}

/*
 * msync(MS_SYNC), fsync() and fdatasync() of a written shared mapping
 * succeed, as on a memfd (shmem's noop_fsync): a program that syncs its
 * shared mapping must not fail on the object.  Without ->fsync the VFS
 * says EINVAL.
 */
TEST_F(two_maps, sync_succeeds_as_on_memfd)
{
	char *p;

	COWDEV_SKIP_UNLESS_READY();
	p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x6b, self->len);
	EXPECT_EQ(0, msync(p, self->len, MS_SYNC));
	EXPECT_EQ(0, msync(p, self->len, MS_ASYNC));
	EXPECT_EQ(0, fsync(self->fd));
	EXPECT_EQ(0, fdatasync(self->fd));
	EXPECT_TRUE(all_bytes(p, self->len, 0x6b));
	munmap(p, self->len);
}

#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC	(1 << 15)	/* 6.7 */
#endif
#define PM_UFFD_WP_BIT		57

/* Does userfaultfd write-protect the page at @addr?  (pagemap bit 57) */
static bool uffd_wp_at(const void *addr)
{
	return pagemap_entry(addr) & (1ULL << PM_UFFD_WP_BIT);
}

/*
 * Write tracking by an asynchronous userfaultfd write-protect (6.7, what
 * CRIU and PAGEMAP_SCAN use): after UFFDIO_WRITEPROTECT of a mapping half
 * of whose pages are mapped, every page can still be read and written; a
 * read leaves its page protected and a write lifts the protection, as on
 * a memfd.  Page mode gets there through the core's own paths (the
 * markers in empty PTEs, set_pte_range(), do_wp_page()) and its
 * ->page_mkwrite; pfn mode cannot register.
 */
TEST_F(two_maps, uffd_wp_async_tracks_writes)
{
	struct uffdio_api api = {
		.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC,
	};
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	bool written;
	char *p, want;
	int uffd, i;

	COWDEV_SKIP_UNLESS_READY();
	p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x11, self->len / 2);		/* pages 8-15 stay unmapped */
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	ASSERT_LE(0, uffd);
	if (ioctl(uffd, UFFDIO_API, &api)) {
		close(uffd);
		munmap(p, self->len);
		SKIP(return, "no asynchronous userfaultfd write-protect here");
	}
	reg.range.start = (uintptr_t)p;
	reg.range.len = self->len;
	/*
	 * Any VMA may register for it but special ones (vma_can_userfault()
	 * refuses VM_SPECIAL on 6.12 and 7.2): pfn mode's VM_MIXEDMAP.  On
	 * a kernel that let one in, a fault on a write-protect marker would
	 * loop, since vmf_insert_mixed() leaves a PTE that is not none
	 * alone: pfn mode would have to replace markers itself first.
	 */
	if (variant->backing == BACKING_PFN) {
		EXPECT_EQ(-1, ioctl(uffd, UFFDIO_REGISTER, &reg));
		EXPECT_EQ(EINVAL, errno);
		close(uffd);
		munmap(p, self->len);
		return;
	}
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	wp.range = reg.range;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));

	/* Every page read, the middle half (pages 4-11) written. */
	for (i = 0; i < NPAGES; i++)
		(void)*(volatile char *)(p + i * self->ps);
	memset(p + self->len / 4, 0x22, self->len / 2);
	for (i = 0; i < NPAGES; i++) {
		written = i >= NPAGES / 4 && i < NPAGES * 3 / 4;
		want = written ? 0x22 : i < NPAGES / 2 ? 0x11 : 0;
		EXPECT_TRUE(all_bytes(p + i * self->ps, self->ps, want))
			TH_LOG("page %d", i);
		EXPECT_EQ(!written, uffd_wp_at(p + i * self->ps))
			TH_LOG("page %d", i);
	}
	close(uffd);
	munmap(p, self->len);
}

TEST_F(obj, shared_visible_across_fork)
{
	char *p = map(self->fd, self->len, MAP_SHARED, 0);
	struct shared_arg arg = { .len = self->len, .expect = 'p', .write = 'c' };

	ASSERT_NE(MAP_FAILED, p);
	arg.p = p;
	memset(p, 'p', self->len);
	ASSERT_TRUE(in_child(check_then_write, &arg));
	EXPECT_TRUE(all_bytes(p, self->len, 'c'));
	munmap(p, self->len);
}

static int receive_fd_and_write(void *arg)
{
	int sock = *(int *)arg, fd;
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	char *p;

	if (recvmsg(sock, &msg, 0) != 1 || !CMSG_FIRSTHDR(&msg))
		return 1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || p[0] != 's')
		return 2;
	p[0] = 'r';
	return 0;
}

TEST_F(obj, shared_visible_through_fd_passing)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	int sv[2], status;
	char *p;
	pid_t pid;

	p = map(self->fd, self->ps, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 's';
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(self->fd);
		close(sv[0]);
		_exit(receive_fd_and_write(&sv[1]));
	}
	close(sv[1]);
	CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &self->fd, sizeof(int));
	ASSERT_EQ(1, sendmsg(sv[0], &msg, 0));
	close(sv[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ('r', p[0]);
	munmap(p, self->ps);
}

TEST_F(obj, private_writes_stay_private)
{
	char *s = map(self->fd, self->len, MAP_SHARED, 0);
	char *p = map(self->fd, self->len, MAP_PRIVATE, 0);
	char *q = map(self->fd, self->len, MAP_PRIVATE, 0);

	ASSERT_NE(MAP_FAILED, s);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	memset(p, 'p', self->len);
	EXPECT_TRUE(all_bytes(s, self->len, 0));
	EXPECT_TRUE(all_bytes(q, self->len, 0));
	/* Pages a private mapping has not written show the object's data. */
	memset(s, 's', self->len);
	EXPECT_TRUE(all_bytes(q, self->len, 's'));
	EXPECT_TRUE(all_bytes(p, self->len, 'p'));
	munmap(s, self->len);
	munmap(p, self->len);
	munmap(q, self->len);
}

TEST_F(obj, private_isolated_across_fork)
{
	char *p = map(self->fd, self->len, MAP_PRIVATE, 0);
	struct shared_arg arg = { .len = self->len, .expect = 'a', .write = 'c' };
	int go[2], status;
	char byte;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	arg.p = p;
	memset(p, 'a', self->len);
	/* The child's writes do not reach the parent. */
	ASSERT_TRUE(in_child(check_then_write, &arg));
	EXPECT_TRUE(all_bytes(p, self->len, 'a'));

	/* The parent's writes after fork do not reach the child. */
	ASSERT_EQ(0, pipe(go));
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &byte, 1) != 1)
			_exit(2);
		_exit(all_bytes(p, self->len, 'a') ? 0 : 1);
	}
	close(go[0]);
	memset(p, 'P', self->len);
	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap(p, self->len);
}

TEST_F(obj, sigbus_past_the_end)
{
	char *s, *p;

	ASSERT_EQ(0, cowdev_set_size(self->fd, self->ps));
	s = map(self->fd, 2 * self->ps, MAP_SHARED, 0);
	p = map(self->fd, 2 * self->ps, MAP_PRIVATE, 0);
	ASSERT_NE(MAP_FAILED, s);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_FALSE(access_sigbus(s, true));
	EXPECT_TRUE(access_sigbus(s + self->ps, false));
	EXPECT_TRUE(access_sigbus(s + self->ps, true));
	EXPECT_TRUE(access_sigbus(p + self->ps, false));
	EXPECT_TRUE(access_sigbus(p + self->ps, true));
	munmap(s, 2 * self->ps);
	munmap(p, 2 * self->ps);
}

TEST_F(obj, shrink_unmaps_and_frees)
{
	struct cowdev_info info;
	char *s = map(self->fd, 4 * self->ps, MAP_SHARED, 0);
	char *p = map(self->fd, 4 * self->ps, MAP_PRIVATE, 0);

	ASSERT_NE(MAP_FAILED, s);
	ASSERT_NE(MAP_FAILED, p);
	memset(s, 'x', 4 * self->ps);
	p[3 * self->ps] = 'c';		/* a private copy past the new end */
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	ASSERT_EQ(4, info.resident_pages);

	ASSERT_EQ(0, cowdev_set_size(self->fd, self->ps));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.resident_pages);
	EXPECT_EQ('x', s[0]);
	EXPECT_TRUE(access_sigbus(s + self->ps, false));
	EXPECT_TRUE(access_sigbus(s + 3 * self->ps, true));
	EXPECT_TRUE(access_sigbus(p + 3 * self->ps, false));

	/* Growing again brings zeroes, not the old data. */
	ASSERT_EQ(0, cowdev_set_size(self->fd, 4 * self->ps));
	EXPECT_TRUE(all_bytes(s + self->ps, 3 * self->ps, 0));
	EXPECT_TRUE(all_bytes(p + 3 * self->ps, self->ps, 0));
	munmap(s, 4 * self->ps);
	munmap(p, 4 * self->ps);
}

TEST_F(obj, mmap_past_max_size_einval)
{
	char *p;

	p = mmap(NULL, self->ps, PROT_READ, MAP_SHARED, self->fd,
		 COWDEV_MAX_SIZE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 2 * self->ps, PROT_READ, MAP_SHARED, self->fd,
		 COWDEV_MAX_SIZE - self->ps);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* The last page below the maximum can be mapped; it is past the end. */
	p = mmap(NULL, self->ps, PROT_READ, MAP_SHARED, self->fd,
		 COWDEV_MAX_SIZE - self->ps);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(access_sigbus(p, false));
	munmap(p, self->ps);
}

TEST_F(obj, mmap_overflowing_length)
{
	char *p = mmap(NULL, 1ULL << 62, PROT_READ, MAP_SHARED, self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_TRUE(errno == ENOMEM || errno == EINVAL) TH_LOG("errno %d", errno);
}

TEST(shared_write_on_read_only_fd_eacces)
{
	int fd = open(COWDEV_DEV, O_RDONLY);
	char *p;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	/* Read-only shared and writable private mappings are fine. */
	p = mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, page_size(), PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(p, page_size());
	p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	munmap(p, page_size());
	close(fd);
}

/*
 * The script of issue #4: N read faults, then N first writes to the same
 * pages (N mkwrite, N reuse, no new fault), then N first-touch writes.
 */
TEST_F(obj, counters_shared_script)
{
	const int n = NPAGES / 2;
	struct cowdev_info info;
	char *p = map(self->fd, self->len, MAP_SHARED, 0);

	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, n * self->ps, false, 0);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(n, info.faults);
	EXPECT_EQ(n, info.read_faults);
	EXPECT_EQ(0, info.write_faults);
	EXPECT_EQ(0, info.mkwrite);
	EXPECT_EQ(n, info.resident_pages);

	touch_pages(p, n * self->ps, true, 'w');
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(n, info.faults);
	EXPECT_EQ(n, info.mkwrite);
	EXPECT_EQ(n, info.reuse);
	EXPECT_EQ(0, info.copy);

	/* Writable now: no more faults. */
	touch_pages(p, n * self->ps, true, 'v');
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(n, info.faults);
	EXPECT_EQ(n, info.mkwrite);

	/* First touch by a write: ->fault then ->page_mkwrite, one fault. */
	touch_pages(p + n * self->ps, n * self->ps, true, 'f');
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(2 * n, info.faults);
	EXPECT_EQ(n, info.write_faults);
	EXPECT_EQ(2 * n, info.mkwrite);
	EXPECT_EQ(2 * n, info.reuse);
	EXPECT_EQ(0, info.cow_faults);
	EXPECT_EQ(0, info.pfn_mkwrite);
	EXPECT_EQ(2 * n, info.resident_pages);
	EXPECT_EQ(2 * n, object_stat(self->fd, "shared_faults"));
	EXPECT_EQ(0, object_stat(self->fd, "private_faults"));
	munmap(p, self->len);
}

TEST_F(obj, counters_private_script)
{
	const int n = NPAGES / 2;
	struct cowdev_info info;
	char *p = map(self->fd, self->len, MAP_PRIVATE, 0);

	ASSERT_NE(MAP_FAILED, p);
	/* First-touch writes: do_cow_fault, seen by ->fault. */
	touch_pages(p, n * self->ps, true, 'w');
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(n, info.faults);
	EXPECT_EQ(n, info.write_faults);
	EXPECT_EQ(n, info.cow_faults);
	EXPECT_EQ(0, info.mkwrite);
	EXPECT_EQ(0, info.reuse);
	EXPECT_EQ(n, object_stat(self->fd, "private_faults"));

	/* Read then write: the second is wp_page_copy, unseen by vm_ops. */
	touch_pages(p + n * self->ps, n * self->ps, false, 0);
	touch_pages(p + n * self->ps, n * self->ps, true, 'r');
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(2 * n, info.faults);
	EXPECT_EQ(n, info.read_faults);
	EXPECT_EQ(n, info.cow_faults);
	EXPECT_EQ(0, info.mkwrite);
	munmap(p, self->len);
}

static bool core_probe_available(void)
{
	char buf[4096];

	return !read_text(COWDEV_DEBUGFS "/stats", buf, sizeof(buf)) &&
	       strstr(buf, "core_probe available");
}

TEST_F(obj, core_copy_after_read_in_private_mapping)
{
	const int n = 4;
	char *p = map(self->fd, self->len, MAP_PRIVATE, 0);
	char *s = map(self->fd, self->len, MAP_SHARED, 0);

	if (!core_probe_available())
		SKIP(return, "core_probe unavailable (see dmesg)");
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, s);
	memset(s, 'o', n * self->ps);
	touch_pages(p, n * self->ps, false, 0);
	touch_pages(p, n * self->ps, true, 'c');
	EXPECT_EQ(n, object_stat(self->fd, "core_copy"));
	EXPECT_EQ(0, object_stat(self->fd, "core_reuse"));
	EXPECT_TRUE(all_bytes(s, n * self->ps, 'o'));
	munmap(p, self->len);
	munmap(s, self->len);
}

static int do_nothing(void *arg)
{
	return 0;
}

/*
 * do_wp_page() reuses an anonymous page only when nothing else holds it,
 * and a page still sitting in another CPU's LRU batch is held (it drains
 * only the local batch): on one CPU the decision is deterministic.
 */
TEST_F(obj, core_reuse_after_fork_child_exits)
{
	const int n = 4;
	char *p = map(self->fd, self->len, MAP_PRIVATE, 0);
	cpu_set_t one;

	if (!core_probe_available())
		SKIP(return, "core_probe unavailable (see dmesg)");
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, n * self->ps, true, 'a');	/* anonymous copies */
	/* fork write-protects them; the child leaves without writing. */
	ASSERT_TRUE(in_child(do_nothing, NULL));
	touch_pages(p, n * self->ps, true, 'b');
	EXPECT_EQ(n, object_stat(self->fd, "core_reuse"));
	EXPECT_EQ(0, object_stat(self->fd, "core_copy"));
	munmap(p, self->len);
}

struct toucher {
	char *p;
	size_t len;
	pthread_barrier_t *barrier;
	bool write;
};

static void *toucher_thread(void *arg)
{
	struct toucher *t = arg;

	pthread_barrier_wait(t->barrier);
	touch_pages(t->p, t->len, t->write, 't');
	return NULL;
}

/* Racing first touches of the same pages allocate each page once. */
TEST_F(obj, concurrent_first_touch_one_page_each)
{
	enum { THREADS = 4 };
	pthread_t th[THREADS];
	pthread_barrier_t barrier;
	struct toucher t[THREADS];
	struct cowdev_info info;
	char *p = map(self->fd, self->len, MAP_SHARED, 0);
	int i;

	ASSERT_NE(MAP_FAILED, p);
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		t[i] = (struct toucher){ p, self->len, &barrier, i & 1 };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, toucher_thread, &t[i]));
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	for (i = 0; i < NPAGES; i++)
		EXPECT_EQ('t', p[i * self->ps]);
	munmap(p, self->len);
}

/* Pages of a dead object come back zeroed. */
TEST(recycled_pages_are_zero)
{
	const size_t len = 64 * page_size();
	int a = open(COWDEV_DEV, O_RDWR), b;
	char *p;

	ASSERT_GE(a, 0);
	p = map(a, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0xaa, len);
	munmap(p, len);
	close(a);
	EXPECT_LT(0, global_stat("pool_cached"));

	b = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(b, 0);
	p = map(b, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(all_bytes(p, len, 0));
	munmap(p, len);
	close(b);
}

/* The pfn a PTE maps at @addr (/proc/self/pagemap); 0 if none. */
static uint64_t pfn_at(const volatile void *addr)
{
	uint64_t entry = pagemap_entry(addr);

	return entry >> 63 ? entry & ((1ULL << 55) - 1) : 0;
}

/* May /dev/cowdev be mapped executable at all (not a noexec /dev)? */
static bool device_exec_ok(void)
{
	struct statvfs st;

	return !statvfs(COWDEV_DEV, &st) && !(st.f_flag & ST_NOEXEC);
}

/* Is bit @bit of @pfn's /proc/kpageflags set?  -1 if unreadable. */
static int kpageflag(uint64_t pfn, int bit)
{
	int fd = open("/proc/kpageflags", O_RDONLY);
	uint64_t flags;
	int ret = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &flags, 8, pfn * 8) == 8)
		ret = !!(flags & (1ULL << bit));
	close(fd);
	return ret;
}

#define KPF_ARCH_BIT	38	/* PG_arch_1: arm64's PG_dcache_clean */

/*
 * A page the pool takes back is cleared, so the next executable mapping
 * of it must sync the instruction cache again.  Where the kernel keeps
 * that per page (arm64: PG_dcache_clean, KPF_ARCH in /proc/kpageflags),
 * the flag an executable mapping set is clear once the page is back in
 * the pool, as the page allocator clears it on a free; the pool used to
 * keep it, and a page's old instructions could run in its next object.
 * Where no executable mapping sets it (x86), there is nothing to check;
 * nor when the page went back to the page allocator (the pool's cache
 * was full), which clears the flag itself.
 */
TEST(recycled_pages_lose_their_icache_sync)
{
	int fd = open(COWDEV_DEV, O_RDWR);
	long ps = page_size();
	long long cached;
	volatile char *p;
	uint64_t pfn;

	ASSERT_GE(fd, 0);
	if (!device_exec_ok()) {
		close(fd);
		SKIP(return, COWDEV_DEV " is on a noexec mount");
	}
	ASSERT_EQ(0, cowdev_set_mode(fd, COWDEV_MODE_PAGE));
	p = mmap(NULL, ps, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	(void)p[0];
	pfn = pfn_at(p);
	ASSERT_NE(0, pfn);
	ASSERT_LE(0, kpageflag(pfn, KPF_ARCH_BIT));
	if (!kpageflag(pfn, KPF_ARCH_BIT)) {
		munmap((void *)p, ps);
		close(fd);
		SKIP(return, "no per-page instruction-cache flag here");
	}
	munmap((void *)p, ps);
	cached = global_stat("pool_cached");
	ASSERT_EQ(0, cowdev_punch(fd, 0, ps));
	if (global_stat("pool_cached") != cached + 1) {
		close(fd);
		SKIP(return, "the page went back to the page allocator");
	}
	EXPECT_EQ(0, kpageflag(pfn, KPF_ARCH_BIT));
	close(fd);
}

/*
 * arm64 syncs the instruction cache for a page the kernel wrote only when
 * it maps the page executable under a normal PTE, never a special one:
 * a shared pfn-mode mapping may not be executable there (mmap EPERM,
 * mprotect EACCES).  x86 keeps its caches coherent and maps it; private
 * mappings map pages in either mode.
 */
#ifdef __aarch64__
#define PFN_MODE_EXEC	false
#else
#define PFN_MODE_EXEC	true
#endif

TEST(pfn_mode_exec_only_where_synced)
{
	const bool synced = PFN_MODE_EXEC;
	long ps = page_size();
	int fd = open_backing(BACKING_PFN, ps);
	void *p;

	if (fd == -EOPNOTSUPP)
		SKIP(return, COWDEV_NO_PFN_MODE);
	ASSERT_GE(fd, 0);
	if (!device_exec_ok()) {
		close(fd);
		SKIP(return, COWDEV_DEV " is on a noexec mount");
	}
	p = mmap(NULL, ps, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	EXPECT_EQ(synced ? 0 : EPERM, p == MAP_FAILED ? errno : 0);
	if (p != MAP_FAILED)
		munmap(p, ps);
	/* A refused mapping leaves the mode free. */
	if (!synced) {
		ASSERT_EQ(0, cowdev_set_mode(fd, COWDEV_MODE_PAGE));
		ASSERT_EQ(0, cowdev_set_mode(fd, COWDEV_MODE_PFN));
	}
	p = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(synced ? 0 : -1, mprotect(p, ps, PROT_READ | PROT_EXEC));
	if (!synced)
		EXPECT_EQ(EACCES, errno);
	munmap(p, ps);
	p = mmap(NULL, ps, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	EXPECT_NE(MAP_FAILED, p);
	if (p != MAP_FAILED)
		munmap(p, ps);
	close(fd);
}

/* drop_caches=2 runs every shrinker: the pool's gives its cache back. */
TEST(shrinker_returns_cached_pages)
{
	const size_t len = 32 * page_size();
	int fd = open(COWDEV_DEV, O_RDWR);
	char *p;

	ASSERT_GE(fd, 0);
	p = map(fd, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, len, true, 'x');
	munmap(p, len);
	close(fd);
	ASSERT_LT(0, global_stat("pool_cached"));
	ASSERT_EQ(0, write_text("/proc/sys/vm/drop_caches", "2"));
	EXPECT_EQ(0, global_stat("pool_cached"));
	EXPECT_EQ(0, global_stat("pool_in_use"));
}

TEST(pool_empty_after_objects_close)
{
	int fds[3], i;
	char *p;

	for (i = 0; i < 3; i++) {
		fds[i] = open(COWDEV_DEV, O_RDWR);
		ASSERT_GE(fds[i], 0);
		p = map(fds[i], 8 * page_size(), MAP_SHARED, 0);
		ASSERT_NE(MAP_FAILED, p);
		touch_pages(p, 8 * page_size(), true, 'x');
		munmap(p, 8 * page_size());
	}
	EXPECT_EQ(24, global_stat("pool_in_use"));
	for (i = 0; i < 3; i++)
		close(fds[i]);
	EXPECT_EQ(0, global_stat("pool_in_use"));
	EXPECT_EQ(0, global_stat("objects"));
}

FIXTURE(pool_limit)
{
	char saved[32];
};

FIXTURE_SETUP(pool_limit)
{
	ASSERT_EQ(0, read_text(COWDEV_PARAMS "/pool_limit_pages", self->saved,
			       sizeof(self->saved)));
}

FIXTURE_TEARDOWN(pool_limit)
{
	write_text(COWDEV_PARAMS "/pool_limit_pages", self->saved);
}

TEST_F(pool_limit, exhausted_pool_sigbus_then_recovers)
{
	long long fails = global_stat("alloc_fail");
	int fd = open(COWDEV_DEV, O_RDWR);
	size_t len = 16 * page_size();
	char *p;
	int i;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, global_stat("pool_in_use"));
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/pool_limit_pages", "8"));
	EXPECT_EQ(8, global_stat("pool_limit"));
	p = map(fd, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 8; i++)
		EXPECT_FALSE(access_sigbus(p + i * page_size(), i & 1));
	EXPECT_TRUE(access_sigbus(p + 8 * page_size(), false));
	EXPECT_TRUE(access_sigbus(p + 9 * page_size(), true));
	EXPECT_EQ(fails + 2, global_stat("alloc_fail"));
	EXPECT_EQ(8, global_stat("pool_in_use"));
	munmap(p, len);
	close(fd);
	EXPECT_EQ(0, global_stat("pool_in_use"));

	/* A new object gets pages again up to the limit. */
	fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(fd, 0);
	p = map(fd, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 8; i++)
		EXPECT_FALSE(access_sigbus(p + i * page_size(), true));
	munmap(p, len);
	close(fd);
}

/* GUP: process_vm_readv/writev pin device pages of a shared mapping. */
TEST_F(obj, gup_process_vm_rw)
{
	char *p = map(self->fd, 4 * self->ps, MAP_SHARED, 0);
	char *buf = malloc(4 * self->ps);
	struct iovec local = { buf, 4 * self->ps }, remote = { p, 4 * self->ps };
	struct cowdev_info info;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(NULL, buf);
	memset(p, 'g', 4 * self->ps);
	ASSERT_EQ(4 * self->ps, process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
	EXPECT_TRUE(all_bytes(buf, 4 * self->ps, 'g'));

	/* A GUP write into pages never touched: fault + mkwrite via GUP. */
	munmap(p, 4 * self->ps);
	p = map(self->fd, 4 * self->ps, MAP_SHARED, 4 * self->ps);
	ASSERT_NE(MAP_FAILED, p);
	remote.iov_base = p;
	memset(buf, 'w', 4 * self->ps);
	ASSERT_EQ(4 * self->ps, process_vm_writev(getpid(), &local, 1, &remote, 1, 0));
	EXPECT_TRUE(all_bytes(p, 4 * self->ps, 'w'));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(8, info.resident_pages);
	EXPECT_EQ(8, info.mkwrite);
	free(buf);
	munmap(p, 4 * self->ps);
}

/*
 * vmsplice pins device pages into a pipe.  The object dies while the pipe
 * still holds them: the pool must not hand them to a new object, and the
 * pipe must still read the old data.
 */
TEST(gup_vmsplice_outlives_object)
{
	const size_t len = 4 * page_size();
	int fd = open(COWDEV_DEV, O_RDWR), pipefd[2], fd2;
	char *p, *q, *buf = malloc(len);
	struct iovec iov;

	ASSERT_GE(fd, 0);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_LE(len, fcntl(pipefd[1], F_SETPIPE_SZ, len));
	p = map(fd, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 'v', len);
	iov = (struct iovec){ p, len };
	ASSERT_EQ(len, vmsplice(pipefd[1], &iov, 1, 0));
	munmap(p, len);
	close(fd);
	EXPECT_EQ(0, global_stat("pool_in_use"));

	fd2 = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(fd2, 0);
	q = map(fd2, len, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_TRUE(all_bytes(q, len, 0));
	memset(q, 'n', len);
	ASSERT_EQ(len, read(pipefd[0], buf, len));
	EXPECT_TRUE(all_bytes(buf, len, 'v'));
	munmap(q, len);
	close(fd2);
	close(pipefd[0]);
	close(pipefd[1]);
	free(buf);
}

TEST_HARNESS_MAIN
