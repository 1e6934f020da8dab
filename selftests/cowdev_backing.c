// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev backing-store tests: COWDEV_IOC_SET_BACKING refuses what cannot
 * be a store, COWDEV_IOC_EVICT pushes pages out to it, and faults read
 * them back as major faults, with nothing lost: not the data of an
 * evicted page, not a write that failed, not a page a clone shares or a
 * pipe holds.
 *
 * The reference is a memfd, which the kernel pages out with MADV_PAGEOUT
 * (to swap, where the guest has any; otherwise it stays): every test that
 * has a meaning for it runs on it too, and reads back what cowdev must.
 * The store is a memfd (tmpfs) and, where the guest has a disk
 * (COWDEV_DIRECT_DIR), a file on ext4 too.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/uio.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define NPAGES 32


enum backing { MEMFD, COWDEV };
enum store { STORE_MEMFD, STORE_DISK };

/* The stamp of page @i, in every byte. */
static char stamp(int i)
{
	return 'a' + i % 26;
}

static int set_backing(int fd, int store)
{
	return ioctl(fd, COWDEV_IOC_SET_BACKING, store) ? -errno : 0;
}

/* Write back and wait: 0 or -errno (the store's error, once). */
static int writeback(int fd)
{
	struct cowdev_writeback wb = { .flags = COWDEV_WRITEBACK_WAIT };

	return ioctl(fd, COWDEV_IOC_WRITEBACK, &wb) ? -errno : 0;
}

/* A store of @kind: a memfd, or a new file in COWDEV_DIRECT_DIR; or -1. */
static int open_store(enum store kind)
{
	if (kind == STORE_MEMFD)
		return memfd_create("cowdev-store", 0);
	return open_disk_store();
}

/* Every byte of page @i of @p is @c. */
static bool page_is(const char *p, int i, char c)
{
	return all_bytes(p + (size_t)i * page_size(), page_size(), c);
}

/* Size @obj to NPAGES pages, map them shared and stamp each. */
static char *map_stamped(int obj)
{
	long ps = page_size();
	char *p;
	int i;

	if (cowdev_set_size(obj, NPAGES * ps))
		return MAP_FAILED;
	p = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
	if (p != MAP_FAILED)
		for (i = 0; i < NPAGES; i++)
			memset(p + i * ps, stamp(i), ps);
	return p;
}

#define OVL "/tmp/cowdev-ovl"

/*
 * Mount an overlayfs at OVL/merged over directories of OVL: 0, or -errno
 * from mount(2) (ENODEV: the kernel has none).
 */
static int mount_overlay(void)
{
	static const char *const dirs[] = {
		OVL, OVL "/lower", OVL "/upper", OVL "/work", OVL "/merged",
	};
	unsigned int i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdir(dirs[i], 0700) && errno != EEXIST)
			return -errno;
	return mount("overlay", OVL "/merged", "overlay", 0,
		     "lowerdir=" OVL "/lower,upperdir=" OVL "/upper,workdir="
		     OVL "/work") ? -errno : 0;
}

/*
 * A file on a stacked filesystem is no store: overlayfs hands its I/O to
 * the file in the upper directory, whose writeback the object could not
 * wait for.  The very same file through the upper directory is one.
 */
TEST(set_backing_refuses_stacked)
{
	int obj = open(COWDEV_DEV, O_RDWR), other = open(COWDEV_DEV, O_RDWR);
	int ret, fd;

	ASSERT_LE(0, obj);
	ASSERT_LE(0, other);
	ret = mount_overlay();
	if (ret == -ENODEV || ret == -EPERM)
		SKIP(goto out, "no overlayfs here: %s", strerror(-ret));
	EXPECT_EQ(0, ret);
	if (ret)
		goto out;
	fd = open(OVL "/merged/store", O_RDWR | O_CREAT, 0600);
	EXPECT_LE(0, fd);
	EXPECT_EQ(-EINVAL, set_backing(obj, fd));
	close(fd);
	fd = open(OVL "/upper/store", O_RDWR);
	EXPECT_LE(0, fd);
	EXPECT_EQ(0, set_backing(other, fd));
	close(fd);
out:
	close(obj);
	close(other);
	umount2(OVL "/merged", MNT_DETACH);
}

TEST(set_backing_refuses)
{
	int obj = open(COWDEV_DEV, O_RDWR), other = open(COWDEV_DEV, O_RDWR);
	int ro = open(COWDEV_DEV, O_RDONLY), pipefd[2], store, fd;
	char path[64];

	ASSERT_LE(0, obj);
	ASSERT_LE(0, other);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, pipe(pipefd));
	store = memfd_create("store", 0);
	ASSERT_LE(0, store);

	EXPECT_EQ(-EBADF, set_backing(obj, -1));
	EXPECT_EQ(-EBADF, set_backing(obj, 100000));
	EXPECT_EQ(-EBADF, set_backing(ro, store));	/* read-only object */
	EXPECT_EQ(-EINVAL, set_backing(obj, obj));	/* itself */
	EXPECT_EQ(-EINVAL, set_backing(obj, other));	/* another cowdev */
	EXPECT_EQ(-EINVAL, set_backing(obj, pipefd[0]));
	fd = open("/", O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, set_backing(obj, fd));
	close(fd);
	/* A kernel interface (sysfs), not storage: writes go to a handler. */
	fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDWR);
	if (fd >= 0) {		/* no THP, or a read-only sysfs: nothing to try */
		EXPECT_EQ(-EINVAL, set_backing(obj, fd));
		close(fd);
	}

	/* The same memfd through read-only, write-only and O_APPEND opens. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", store);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBADF, set_backing(obj, fd));
	close(fd);
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBADF, set_backing(obj, fd));
	close(fd);
	fd = open(path, O_RDWR | O_APPEND);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, set_backing(obj, fd));
	close(fd);
	fd = open_store(STORE_DISK);
	if (fd >= 0) {
		ASSERT_EQ(0, fcntl(fd, F_SETFL, O_DIRECT));
		EXPECT_EQ(-EINVAL, set_backing(obj, fd));
		close(fd);
	}

	/* Without a store there is nothing to evict to. */
	EXPECT_EQ(-EOPNOTSUPP, cowdev_evict(obj, 0, page_size()));

	EXPECT_EQ(0, set_backing(obj, store));
	EXPECT_EQ(-EBUSY, set_backing(obj, store));	/* once, for life */
	/* One store, one object, however the file is opened again. */
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, set_backing(other, fd));
	close(fd);
	/* Free again once its object is gone. */
	close(obj);
	obj = -1;
	EXPECT_EQ(0, set_backing(other, store));
	close(pipefd[0]);
	close(pipefd[1]);
	close(store);
	close(ro);
	close(other);
	close(obj);
}

TEST(evict_refuses)
{
	int obj = open(COWDEV_DEV, O_RDWR), ro = open(COWDEV_DEV, O_RDONLY);
	int store = memfd_create("store", 0);
	long ps = page_size();
	struct cowdev_evict e = { .len = ps };

	ASSERT_LE(0, obj);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, set_backing(obj, store));
	EXPECT_EQ(-EINVAL, cowdev_evict(obj, 0, 0));
	EXPECT_EQ(-EINVAL, cowdev_evict(obj, 1, ps));
	EXPECT_EQ(-EINVAL, cowdev_evict(obj, 0, ps + 1));
	EXPECT_EQ(-EINVAL, cowdev_evict(obj, COWDEV_MAX_SIZE, ps));
	EXPECT_EQ(-EINVAL, cowdev_evict(obj, ps, COWDEV_MAX_SIZE));
	e.reserved[4] = 1;
	EXPECT_EQ(-1, ioctl(obj, COWDEV_IOC_EVICT, &e));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(obj, COWDEV_IOC_EVICT, (void *)16));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-EBADF, cowdev_evict(ro, 0, ps));
	/* Past the end is ignored, as PUNCH_HOLE ignores it. */
	EXPECT_EQ(0, cowdev_evict(obj, COWDEV_MAX_SIZE - ps, ps));
	close(store);
	close(ro);
	close(obj);
}

/* An object or memfd of NPAGES pages, mapped shared, each page stamped. */
FIXTURE(store)
{
	const char *skip;	/* why the tests cannot run, or NULL */
	int fd;
	int store;
	long ps;
	size_t len;
	char *p;
};

FIXTURE_VARIANT(store)
{
	enum backing backing;
	enum cowdev_mode mode;
	enum store store;
};

FIXTURE_VARIANT_ADD(store, memfd)
{
	.backing = MEMFD,
};

FIXTURE_VARIANT_ADD(store, page)
{
	.backing = COWDEV, .mode = COWDEV_MODE_PAGE, .store = STORE_MEMFD,
};

FIXTURE_VARIANT_ADD(store, pfn)
{
	.backing = COWDEV, .mode = COWDEV_MODE_PFN, .store = STORE_MEMFD,
};

FIXTURE_VARIANT_ADD(store, page_disk)
{
	.backing = COWDEV, .mode = COWDEV_MODE_PAGE, .store = STORE_DISK,
};

FIXTURE_VARIANT_ADD(store, pfn_disk)
{
	.backing = COWDEV, .mode = COWDEV_MODE_PFN, .store = STORE_DISK,
};

FIXTURE_SETUP(store)
{
	int i;

	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->store = -1;
	if (variant->backing == MEMFD) {
		self->fd = memfd_create("reference", 0);
		ASSERT_LE(0, self->fd);
		ASSERT_EQ(0, ftruncate(self->fd, self->len));
	} else {
		self->fd = open(COWDEV_DEV, O_RDWR);
		ASSERT_LE(0, self->fd);
		ASSERT_EQ(0, cowdev_set_size(self->fd, self->len));
		ASSERT_EQ(0, cowdev_fixture_mode(self->fd, variant->mode,
						 &self->skip));
		if (self->skip)
			return;
		self->store = open_store(variant->store);
		if (self->store < 0) {
			self->skip = "no disk in this guest (COWDEV_DIRECT_DIR)";
			return;
		}
		ASSERT_EQ(0, set_backing(self->fd, self->store));
	}
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	/*
	 * One page read a fault: these tests count reads and waits page by
	 * page.  Readahead has its own (cowdev_readahead.c).
	 */
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_RANDOM));
	for (i = 0; i < NPAGES; i++)
		memset(self->p + i * self->ps, stamp(i), self->ps);
}

FIXTURE_TEARDOWN(store)
{
	if (self->p && self->p != MAP_FAILED)
		munmap(self->p, self->len);
	if (self->store >= 0)
		close(self->store);
	close(self->fd);
}

/* Page out [first, first + n) of the fixture; the pages cowdev evicted. */
static long page_out(FIXTURE_DATA(store) *self,
		     const FIXTURE_VARIANT(store) *variant, int first, int n)
{
	if (variant->backing == MEMFD)
		return madvise(self->p + first * self->ps, n * self->ps,
			       MADV_PAGEOUT) ? -errno : n;
	return cowdev_evict(self->fd, first * self->ps, n * self->ps);
}

/*
 * Every page goes out and comes back by a major fault of its own, read
 * once: the kernel's and the object's counters agree.
 */
TEST_F(store, evict_and_fault_back)
{
	struct cowdev_info info;
	long majflt;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	if (variant->backing == COWDEV) {
		ASSERT_EQ(0, cowdev_info(self->fd, &info));
		EXPECT_EQ(0, info.resident_pages);
		EXPECT_EQ(NPAGES, info.evicted_pages);
		EXPECT_EQ(NPAGES, info.evictions);
		EXPECT_EQ(NPAGES, info.pages_written);	/* all were dirty */
	}
	majflt = major_faults();
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
	if (variant->backing == MEMFD)
		return;
	/* The kernel counts the process's other major faults too. */
	EXPECT_LE(NPAGES, major_faults() - majflt);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_EQ(NPAGES, info.major_faults);
	EXPECT_EQ(NPAGES, info.pages_read);
	EXPECT_EQ(0, info.io_errors);

	/* Read back and not written since: clean, evicted without a write. */
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.pages_written);
	/* A write reads its page back, and dirties it: written again. */
	self->p[3 * self->ps] = '!';
	ASSERT_EQ(1, page_out(self, variant, 0, NPAGES));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES + 1, info.pages_written);
	EXPECT_EQ('!', self->p[3 * self->ps]);
	EXPECT_TRUE(all_bytes(self->p + 3 * self->ps + 1, self->ps - 1,
			      stamp(3)));
}

/* Written back first: eviction has nothing left to write. */
TEST_F(store, writeback_then_evict)
{
	struct cowdev_info info;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD) {
		ASSERT_EQ(0, fsync(self->fd));
	} else {
		ASSERT_EQ(0, writeback(self->fd));
	}
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	if (variant->backing == COWDEV) {
		ASSERT_EQ(0, cowdev_info(self->fd, &info));
		EXPECT_EQ(NPAGES, info.pages_written);
		EXPECT_EQ(NPAGES, info.evictions);
	}
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
}

/* The store's old contents never show: a page the object made is dirty. */
TEST_F(store, stale_store_never_read)
{
	long ps = self->ps;
	char *junk;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	junk = malloc(self->len);
	ASSERT_NE(NULL, junk);
	memset(junk, 'X', self->len);
	ASSERT_EQ((ssize_t)self->len, pwrite(self->store, junk, self->len, 0));
	free(junk);
	/* A hole read as zeroes, then evicted. */
	ASSERT_EQ(0, cowdev_punch(self->fd, 0, 4 * ps));
	touch_pages(self->p, 4 * ps, false, 0);
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	for (i = 0; i < 4; i++)
		EXPECT_TRUE(page_is(self->p, i, 0)) TH_LOG("page %d", i);
	for (; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
}

/* An object given its store when it already holds pages writes them all. */
TEST(set_backing_late)
{
	int obj = open(COWDEV_DEV, O_RDWR), store = memfd_create("store", 0);
	long ps = page_size();
	struct cowdev_info info;
	char *p;
	int i;

	ASSERT_LE(0, obj);
	p = map_stamped(obj);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, writeback(obj));		/* clean, but on no store */
	ASSERT_EQ(0, set_backing(obj, store));
	ASSERT_EQ(NPAGES, cowdev_evict(obj, 0, NPAGES * ps));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(NPAGES, info.pages_written);
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(p, i, stamp(i))) TH_LOG("page %d", i);
	munmap(p, NPAGES * ps);
	close(store);
	close(obj);
}

/* A punched or truncated evicted range reads as zeroes, as memfd's does. */
TEST_F(store, punch_and_shrink_forget)
{
	long ps = self->ps;
	struct cowdev_info info;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	if (variant->backing == MEMFD) {
		ASSERT_EQ(0, fallocate(self->fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE, 0, 8 * ps));
		ASSERT_EQ(0, ftruncate(self->fd, 16 * ps));
		ASSERT_EQ(0, ftruncate(self->fd, self->len));
	} else {
		ASSERT_EQ(0, cowdev_punch(self->fd, 0, 8 * ps));
		ASSERT_EQ(0, cowdev_set_size(self->fd, 16 * ps));
		ASSERT_EQ(0, cowdev_info(self->fd, &info));
		EXPECT_EQ(8, info.evicted_pages);
		ASSERT_EQ(0, cowdev_set_size(self->fd, self->len));
	}
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, i >= 8 && i < 16 ? stamp(i) : 0))
			TH_LOG("page %d", i);
	if (variant->backing == COWDEV) {
		ASSERT_EQ(0, cowdev_info(self->fd, &info));
		EXPECT_EQ(8, info.pages_read);
		EXPECT_EQ(0, info.evicted_pages);
	}
}

/*
 * A private mapping's copies are the process's own: eviction leaves them,
 * and the pages it had not copied come back from the store.
 */
TEST_F(store, private_copies_stay)
{
	char *q = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->fd, 0);
	int i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < NPAGES; i += 2)
		q[i * self->ps] = '#';
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	for (i = 0; i < NPAGES; i++) {
		EXPECT_EQ(i % 2 ? stamp(i) : '#', q[i * self->ps]);
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
	}
	munmap(q, self->len);
}

/*
 * A page a pipe holds (vmsplice) stays: the pipe reads it, and writes to
 * it through the mapping are not lost.  memfd's pages stay as well.
 */
TEST_F(store, held_page_stays)
{
	struct iovec iov = { .iov_base = self->p, .iov_len = self->ps };
	struct cowdev_info info;
	char *buf = malloc(self->ps);
	int pipefd[2];

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == COWDEV && variant->mode == COWDEV_MODE_PFN)
		SKIP(return, "GUP takes no pfn-mode page");
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(self->ps, vmsplice(pipefd[1], &iov, 1, 0));
	if (variant->backing == COWDEV) {
		ASSERT_EQ(NPAGES - 1, page_out(self, variant, 0, NPAGES));
		ASSERT_EQ(0, cowdev_info(self->fd, &info));
		EXPECT_EQ(1, info.resident_pages);
	}
	self->p[0] = '@';
	ASSERT_EQ(self->ps, read(pipefd[0], buf, self->ps));
	EXPECT_EQ('@', buf[0]);
	EXPECT_TRUE(all_bytes(buf + 1, self->ps - 1, stamp(0)));
	EXPECT_EQ('@', self->p[0]);
	free(buf);
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * GUP of an evicted page: /proc/self/mem (a fault that may not drop its
 * lock on older kernels, which reads in place) and process_vm_readv.
 */
TEST_F(store, gup_reads_back)
{
	char *buf = malloc(self->len);
	struct iovec local = { .iov_base = buf, .iov_len = self->len };
	struct iovec remote = { .iov_base = self->p, .iov_len = self->len };
	int mem = open("/proc/self/mem", O_RDONLY), i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == COWDEV && variant->mode == COWDEV_MODE_PFN)
		SKIP(return, "GUP takes no pfn-mode page");
	ASSERT_NE(NULL, buf);
	ASSERT_LE(0, mem);
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	ASSERT_EQ((ssize_t)self->len / 2,
		  pread(mem, buf, self->len / 2, (uintptr_t)self->p));
	for (i = 0; i < NPAGES / 2; i++)
		EXPECT_TRUE(page_is(buf, i, stamp(i))) TH_LOG("page %d", i);
	ASSERT_LE(0, page_out(self, variant, 0, NPAGES));
	memset(buf, 0, self->len);
	ASSERT_EQ((ssize_t)self->len,
		  process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(buf, i, stamp(i))) TH_LOG("page %d", i);
	close(mem);
	free(buf);
}

/*
 * CLONE of an object with evicted pages: each object sees the snapshot,
 * and a page they shared, kept by the clone alone once the source copied
 * it, is written to the clone's own store before it is evicted.
 */
TEST_F(store, clone_of_evicted)
{
	struct cowdev_info info;
	int clone, store2, i;
	char *q;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	clone = ioctl(self->fd, COWDEV_IOC_CLONE, 0);
	ASSERT_LE(0, clone);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.pages_read);	/* read back to be shared */
	EXPECT_EQ(0, info.evicted_pages);
	/* Shared pages stay in memory. */
	EXPECT_EQ(0, cowdev_evict(self->fd, 0, self->len));

	store2 = memfd_create("store2", 0);
	ASSERT_LE(0, store2);
	ASSERT_EQ(0, set_backing(clone, store2));
	q = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, clone, 0);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < NPAGES; i++)
		self->p[i * self->ps] = '+';	/* the source copies */
	ASSERT_EQ(NPAGES, cowdev_evict(clone, 0, self->len));
	ASSERT_EQ(NPAGES, cowdev_evict(self->fd, 0, self->len));
	ASSERT_EQ(0, cowdev_info(clone, &info));
	EXPECT_EQ(NPAGES, info.pages_written);
	for (i = 0; i < NPAGES; i++) {
		EXPECT_TRUE(page_is(q, i, stamp(i))) TH_LOG("clone page %d", i);
		EXPECT_EQ('+', self->p[i * self->ps]);
		EXPECT_TRUE(all_bytes(self->p + i * self->ps + 1,
				      self->ps - 1, stamp(i)));
	}
	munmap(q, self->len);
	close(store2);
	close(clone);
}

/*
 * A writeback in flight on a page CLONE then shares: the source's write
 * copies the page without waiting, and the copy is evicted, written to the
 * store, before the writeback ends.  The writeback must not then write the
 * old page, now the clone's, over the copy in the source's store.  Its
 * delay (2 s) keeps it in flight for the few calls in between.
 */
TEST_F(store, writeback_of_replaced_page)
{
	struct cowdev_writeback wb = { .delay_us = 2000000 };
	struct timespec t0, t1;
	int clone, i;
	char *q;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, ioctl(self->fd, COWDEV_IOC_WRITEBACK, &wb));
	ASSERT_EQ(NPAGES, wb.pages);
	clone = ioctl(self->fd, COWDEV_IOC_CLONE, 0);
	ASSERT_LE(0, clone);
	for (i = 0; i < NPAGES; i++)
		self->p[i * self->ps] = '+';
	ASSERT_EQ(NPAGES, cowdev_evict(self->fd, 0, self->len));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(0, writeback(self->fd));	/* waits for the first one */
	for (i = 0; i < NPAGES; i++) {
		EXPECT_EQ('+', self->p[i * self->ps]) TH_LOG("page %d", i);
		EXPECT_TRUE(all_bytes(self->p + i * self->ps + 1,
				      self->ps - 1, stamp(i)));
	}
	q = mmap(NULL, self->len, PROT_READ, MAP_SHARED, clone, 0);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(q, i, stamp(i))) TH_LOG("clone page %d", i);
	munmap(q, self->len);
	close(clone);
	/* The race needs the writeback still in flight at the eviction. */
	if (t1.tv_sec - t0.tv_sec >= 2)
		SKIP(return, "too slow to evict within the writeback's 2 s");
}

/*
 * A clone without a store writes back a page it shares with the source:
 * the page stays dirty, so the source, keeping it alone once the clone has
 * copied it, still writes it before evicting it.
 */
TEST_F(store, storeless_clone_writeback)
{
	struct cowdev_info info;
	int clone, i;
	char *q;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	clone = ioctl(self->fd, COWDEV_IOC_CLONE, 0);
	ASSERT_LE(0, clone);
	ASSERT_EQ(0, writeback(clone));
	q = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, clone, 0);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < NPAGES; i++)
		q[i * self->ps] = '-';		/* the clone copies */
	ASSERT_EQ(NPAGES, cowdev_evict(self->fd, 0, self->len));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.pages_written);
	for (i = 0; i < NPAGES; i++) {
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
		EXPECT_EQ('-', q[i * self->ps]);
	}
	munmap(q, self->len);
	close(clone);
}

/* fcntl() on the caller's fd cannot change the object's own open. */
TEST_F(store, fcntl_after_set_backing)
{
	int i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	ASSERT_EQ(0, fcntl(self->store, F_SETFL, O_APPEND));
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
}

/*
 * A read back that fails (the store cut behind the object's back): the
 * access gets SIGBUS, the page stays evicted rather than half-read, and a
 * punch makes it a hole again.
 */
TEST_F(store, read_error_sigbus)
{
	struct cowdev_info info;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	ASSERT_EQ(0, ftruncate(self->store, self->ps));
	EXPECT_FALSE(access_sigbus(self->p, false));	/* page 0 is there */
	EXPECT_TRUE(page_is(self->p, 0, stamp(0)));
	EXPECT_TRUE(access_sigbus(self->p + self->ps, false));
	EXPECT_TRUE(access_sigbus(self->p + self->ps, true));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES - 1, info.evicted_pages);
	EXPECT_EQ(1, info.resident_pages);
	EXPECT_LE(2, info.io_errors);
	ASSERT_EQ(0, cowdev_punch(self->fd, self->ps, self->ps));
	EXPECT_FALSE(access_sigbus(self->p + self->ps, false));
	EXPECT_TRUE(page_is(self->p, 1, 0));
}

/* How many of the @n pages of @fd's page cache from page @first are in it. */
static int cached_pages(int fd, int first, int n)
{
	long ps = page_size();
	unsigned char vec[NPAGES];
	int i, got = 0;
	char *m;

	if (n > NPAGES)
		return -1;
	m = mmap(NULL, n * ps, PROT_READ, MAP_SHARED, fd, first * ps);
	if (m == MAP_FAILED)
		return -1;
	if (mincore(m, n * ps, vec))
		got = -1;
	for (i = 0; got >= 0 && i < n; i++)
		got += vec[i] & 1;
	munmap(m, n * ps);
	return got;
}

/*
 * Evict the whole fixture and empty the store's page cache of it: clean
 * there once eviction returns, so POSIX_FADV_DONTNEED drops it.
 */
static bool evict_uncached(FIXTURE_DATA(store) *self,
			   const FIXTURE_VARIANT(store) *variant)
{
	return page_out(self, variant, 0, NPAGES) == NPAGES &&
	       !posix_fadvise(self->store, 0, 0, POSIX_FADV_DONTNEED) &&
	       cached_pages(self->store, 0, NPAGES) == 0;
}

/*
 * A store on ext4 is read directly into the object's pages, as swap reads
 * into its own, not through the store's page cache: that stays empty
 * while every page comes back.  A memfd store is read through its page
 * cache.
 */
TEST_F(store, disk_reads_are_direct)
{
	bool disk = variant->store == STORE_DISK;
	struct cowdev_info info;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	if (disk) {
		ASSERT_TRUE(evict_uncached(self, variant));
	} else {
		ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	}
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
	if (disk)
		EXPECT_EQ(0, cached_pages(self->store, 0, NPAGES));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.pages_read);
	EXPECT_EQ(NPAGES, info.major_faults);
	EXPECT_EQ(0, info.io_errors);
	EXPECT_EQ(disk ? NPAGES : 0, object_stat(self->fd, "pages_read_direct"));
}

/*
 * Pages the store's page cache still holds, as it does right after an
 * eviction, are read from there, not from the disk.
 */
TEST_F(store, cached_store_pages_are_copied)
{
	int i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD || variant->store != STORE_DISK)
		SKIP(return, "a cowdev store on a disk only");
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	ASSERT_EQ(NPAGES, cached_pages(self->store, 0, NPAGES));
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(self->p, i, stamp(i))) TH_LOG("page %d", i);
	EXPECT_EQ(NPAGES, object_stat(self->fd, "pages_read"));
	EXPECT_EQ(0, object_stat(self->fd, "pages_read_direct"));
}

/*
 * A direct read only tries the store's locks (a write(2) from a buffer
 * that maps the object takes them before it faults on the object).  With
 * the store's i_rwsem held by a write(2) to it, stalled on a userfaultfd
 * page past the object's end, a page still comes back, through the store's
 * page cache, which then holds it; once the write is over and on the
 * disk, the next page is read directly again.
 */
TEST_F(store, locked_store_is_read_through_its_cache)
{
	struct inode_holder h;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD || variant->store != STORE_DISK)
		SKIP(return, "a cowdev store on a disk only");
	ASSERT_TRUE(evict_uncached(self, variant));
	ASSERT_TRUE(inode_hold(&h, self->store, 2 * self->len));

	EXPECT_TRUE(page_is(self->p, 0, stamp(0)));
	EXPECT_EQ(1, cached_pages(self->store, 0, 1));
	EXPECT_EQ(0, object_stat(self->fd, "pages_read_direct"));

	EXPECT_EQ(self->ps, inode_release(&h));
	/* Before 6.6 a store with dirty pages is read through its cache. */
	ASSERT_EQ(0, fsync(self->store));
	EXPECT_TRUE(page_is(self->p, 1, stamp(1)));
	EXPECT_EQ(0, cached_pages(self->store, 1, 1));
	EXPECT_EQ(1, object_stat(self->fd, "pages_read_direct"));
	EXPECT_EQ(0, object_stat(self->fd, "io_errors"));
}

struct toucher {
	volatile char *p;
	pthread_barrier_t *barrier;
};

static void *touch_thread(void *arg)
{
	struct toucher *t = arg;

	pthread_barrier_wait(t->barrier);
	(void)*t->p;
	return NULL;
}

/*
 * Two threads fault on one evicted page while it is read back slowly
 * (fill_delay_us, standing for a slow device, is the behaviour under test):
 * one reads it, the other waits on its page lock; it is read once.
 */
TEST_F(store, major_fault_one_read_one_wait)
{
	pthread_barrier_t barrier;
	struct cowdev_info info;
	struct toucher t[2];
	pthread_t th[2];
	int i;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->backing == MEMFD)
		SKIP(return, "a cowdev store only");
	ASSERT_EQ(NPAGES, page_out(self, variant, 0, NPAGES));
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "200000"));
	pthread_barrier_init(&barrier, NULL, 2);
	for (i = 0; i < 2; i++) {
		t[i] = (struct toucher){ self->p, &barrier };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, touch_thread, &t[i]));
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "0"));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.major_faults);
	EXPECT_EQ(1, info.pages_read);
	/* The read's, and maybe one more behind the first mapping. */
	EXPECT_LE(1, info.lock_waits);
	EXPECT_GE(2, info.lock_waits);
	EXPECT_EQ(1, info.resident_pages);
	EXPECT_TRUE(page_is(self->p, 0, stamp(0)));
}

/*
 * A store that refuses writes (a sealed memfd: EPERM): the writeback
 * reports the error once, the pages stay dirty and in memory, and
 * eviction keeps them.
 */
TEST(write_error_keeps_pages)
{
	int obj = open(COWDEV_DEV, O_RDWR);
	int store = memfd_create("sealed", MFD_ALLOW_SEALING);
	long ps = page_size();
	struct cowdev_info info;
	char *p;
	int i;

	ASSERT_LE(0, obj);
	ASSERT_LE(0, store);
	ASSERT_EQ(0, fcntl(store, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK));
	ASSERT_EQ(0, set_backing(obj, store));
	p = map_stamped(obj);
	ASSERT_NE(MAP_FAILED, p);

	EXPECT_EQ(-EPERM, writeback(obj));
	/* The first write that fails ends an eviction. */
	EXPECT_EQ(-EPERM, cowdev_evict(obj, 0, NPAGES * ps));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(NPAGES + 1, info.io_errors);
	EXPECT_EQ(0, info.pages_written);
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(0, info.evicted_pages);
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(p, i, stamp(i))) TH_LOG("page %d", i);

	/* Each error is reported once: with nothing dirty left, none. */
	ASSERT_EQ(0, cowdev_punch(obj, 0, NPAGES * ps));
	EXPECT_EQ(0, writeback(obj));
	close(store);
	munmap(p, NPAGES * ps);
	close(obj);
}

/*
 * EVICT writes on its caller's behalf, within the caller's RLIMIT_FSIZE,
 * as the caller's own write(2) to the store would be: a dirty page past
 * the limit stays, dirty, and EVICT fails with EFBIG, as a write to a
 * memfd there does.  That is not the store's error: io_errors and the
 * next WRITEBACK do not report it, and without the limit the page goes.
 */
TEST(evict_within_callers_file_size_limit)
{
	int obj = open(COWDEV_DEV, O_RDWR), store = memfd_create("store", 0);
	int ref = memfd_create("reference", 0);
	long ps = page_size();
	struct cowdev_info info;
	struct rlimit rl;
	char *p;
	int i;

	ASSERT_LE(0, obj);
	ASSERT_LE(0, store);
	ASSERT_LE(0, ref);
	ASSERT_EQ(0, set_backing(obj, store));
	p = map_stamped(obj);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &rl));
	rl.rlim_cur = 2 * ps;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
	signal(SIGXFSZ, SIG_IGN);

	EXPECT_EQ(-1, pwrite(ref, p + 2 * ps, ps, 2 * ps));
	EXPECT_EQ(EFBIG, errno);
	EXPECT_EQ(-EFBIG, cowdev_evict(obj, 0, NPAGES * ps));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(2, info.evicted_pages);
	EXPECT_EQ(0, info.io_errors);
	EXPECT_EQ(0, writeback(obj));	/* writes what it can: no error */

	rl.rlim_cur = RLIM_INFINITY;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
	EXPECT_EQ(NPAGES - 2, cowdev_evict(obj, 0, NPAGES * ps));
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(p, i, stamp(i))) TH_LOG("page %d", i);
	munmap(p, NPAGES * ps);
	close(ref);
	close(store);
	close(obj);
}

/*
 * A write to the store that a fatal signal cuts short is not the store's
 * error.  An EVICT waits for a page that another process's fault keeps
 * locked (fill_delay_us) and is killed meanwhile; its write of that page
 * then stops at once (generic_perform_write()).  The page stays dirty and
 * in memory, and neither io_errors nor the next WRITEBACK call it a
 * failed write.
 */
TEST(killed_evict_is_no_store_error)
{
	int obj = open(COWDEV_DEV, O_RDWR), store = memfd_create("store", 0);
	long ps = page_size();
	pid_t filler, evictor;
	struct cowdev_info info;
	char *p;

	ASSERT_LE(0, obj);
	ASSERT_LE(0, store);
	if (access("/proc/self/stack", R_OK))
		SKIP(return, "no /proc/PID/stack in this kernel");
	ASSERT_EQ(0, set_backing(obj, store));
	ASSERT_EQ(0, cowdev_set_size(obj, 2 * ps));
	p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, stamp(0), ps);

	/* Page 1 is made by a fault that holds its lock for two seconds. */
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "2000000"));
	filler = fork_child();
	ASSERT_LE(0, filler);
	if (!filler) {
		p[ps] = stamp(1);
		_exit(0);
	}
	while (!process_in(filler, "msleep") &&
	       !waitpid(filler, NULL, WNOHANG))
		sched_yield();
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "0"));
	ASSERT_TRUE(process_in(filler, "msleep"));

	evictor = fork_child();
	ASSERT_LE(0, evictor);
	if (!evictor)
		_exit(cowdev_evict(obj, 0, 2 * ps) < 0);
	while (!process_in(evictor, "cowdev_lock_page_stable") &&
	       !waitpid(evictor, NULL, WNOHANG))
		sched_yield();
	ASSERT_TRUE(process_in(evictor, "cowdev_lock_page_stable"));
	ASSERT_EQ(0, kill(evictor, SIGKILL));
	ASSERT_EQ(evictor, waitpid(evictor, NULL, 0));
	ASSERT_EQ(filler, waitpid(filler, NULL, 0));

	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(0, info.io_errors);
	EXPECT_EQ(1, info.resident_pages);	/* page 1; page 0 went */
	EXPECT_EQ(0, writeback(obj));
	EXPECT_EQ(stamp(0), p[0]);
	EXPECT_EQ(stamp(1), p[ps]);
	munmap(p, 2 * ps);
	close(obj);
	close(store);
}

/*
 * Run @fn(@obj) in a child, which a wait of more than five seconds kills
 * (a bound for a call that never returns, not a delay): its exit status,
 * or -1 if it had to be killed.
 */
static int child_within(int (*fn)(int obj), int obj)
{
	struct timespec start, now;
	int status;
	pid_t pid = fork_child();

	if (pid == 0)
		_exit(fn(obj));
	if (pid < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < 5);
	/* Not reaped: a child asleep in the kernel dies when it wakes. */
	kill(pid, SIGKILL);
	return -1;
}

/* Evict all of @obj: 0 if nothing went (every page dirty, the store frozen). */
static int evict_none(int obj)
{
	return cowdev_evict(obj, 0, NPAGES * page_size()) != 0;
}

/* Write @obj back, and wait: 0 if that succeeded. */
static int writeback_ok(int obj)
{
	return writeback(obj) != 0;
}

/* Read every page of @obj's mapping, stamped, then write a '#' to each. */
static char *touched;

static int touch_all(int obj)
{
	long ps = page_size();
	int i;

	for (i = 0; i < NPAGES; i++) {
		if (!all_bytes(touched + i * ps + 1, ps - 1, stamp(i)))
			return 1;
		touched[i * ps] = '#';
	}
	return 0;
}

/*
 * cowdev never waits for a frozen store, holding a page locked or under
 * writeback: a write(2) to its filesystem from a buffer in the object
 * holds the freeze protection while it faults on the object, and the
 * freeze waits for that writer.  The store's dirty pages stay dirty, in
 * memory, as a frozen file's do under MADV_PAGEOUT: EVICT leaves them and
 * returns at once, the pages are read and written meanwhile, and a
 * writeback ends without writing them, leaving them dirty: after the
 * thaw, EVICT writes every one of them.  The bounds (three of 5 s) and
 * the guard's thaw (25 s) come before the harness's 30 s.
 */
TEST(frozen_store_is_not_waited_for)
{
	const char *dir = getenv("COWDEV_DIRECT_DIR");
	int obj, store, evicted, written, wrote, i;
	long ps = page_size();
	struct cowdev_info info;
	pid_t guard;
	char *p;

	if (!dir)
		SKIP(return, "no disk in this guest (COWDEV_DIRECT_DIR)");
	obj = open(COWDEV_DEV, O_RDWR);
	store = open_disk_store();
	ASSERT_LE(0, obj);
	ASSERT_LE(0, store);
	ASSERT_EQ(0, set_backing(obj, store));
	p = map_stamped(obj);
	ASSERT_NE(MAP_FAILED, p);
	touched = p;

	guard = thaw_guard(dir, 25);
	ASSERT_LT(0, guard);
	ASSERT_EQ(0, freeze_fs(dir, true));
	/* Nothing that can stop the test before the thaw. */
	evicted = child_within(evict_none, obj);
	wrote = child_within(touch_all, obj);
	written = child_within(writeback_ok, obj);
	cowdev_info(obj, &info);
	ASSERT_EQ(0, freeze_fs(dir, false));
	kill(guard, SIGKILL);
	waitpid(guard, NULL, 0);

	EXPECT_EQ(0, evicted) TH_LOG("EVICT evicted a dirty page or waited");
	EXPECT_EQ(0, written) TH_LOG("WRITEBACK failed or waited");
	EXPECT_EQ(0, wrote) TH_LOG("a page was held");
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(0, info.pages_written);
	EXPECT_EQ(0, info.io_errors);
	/* Still dirty after the writeback that could not write them. */
	EXPECT_EQ(NPAGES, cowdev_evict(obj, 0, NPAGES * ps));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(NPAGES, info.pages_written);
	for (i = 0; i < NPAGES; i++) {
		EXPECT_EQ('#', p[i * ps]);
		EXPECT_TRUE(all_bytes(p + i * ps + 1, ps - 1, stamp(i)))
			TH_LOG("page %d", i);
	}
	munmap(p, NPAGES * ps);
	close(obj);
	close(store);
}

struct shrinker {
	int obj;
	pid_t tid;
	int ret;
};

/*
 * Is thread @tid of this process asleep uninterruptibly (a lock's wait)
 * in @fn?  The lock's own functions are scheduler functions, which
 * /proc/PID/stack leaves out.
 */
static bool thread_sleeps_in(pid_t tid, const char *fn)
{
	char path[64], stat[256], *state;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if (read_text(path, stat, sizeof(stat)))
		return false;
	state = strrchr(stat, ')');
	return state && state[1] == ' ' && state[2] == 'D' &&
	       thread_in(tid, fn);
}

static void *shrink_to_one_page(void *arg)
{
	struct shrinker *sh = arg;

	__atomic_store_n(&sh->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	sh->ret = cowdev_set_size(sh->obj, page_size());
	return NULL;
}

/*
 * A shrink takes the invalidate lock before it sets the size, as a
 * filesystem's setattr takes it before i_size: while a read back holds
 * the lock (fill_delay_us stands for its slow device), a write through a
 * read-only PTE to a page the shrink is about to cut lands at once, as
 * before any shrink.  It used to meet a size already cut and a PTE not
 * yet unmapped, so ->page_mkwrite refused it and it faulted again and
 * again until the shrink got the lock, and then got SIGBUS.
 */
TEST(shrink_waits_before_it_sets_the_size)
{
	int obj = open(COWDEV_DEV, O_RDWR), store = memfd_create("store", 0);
	struct shrinker sh = { .obj = obj };
	long ps = page_size(), last = NPAGES - 1;
	long long mkwrites;
	pthread_t thread;
	bool landed;
	pid_t reader;
	char *p;

	ASSERT_LE(0, obj);
	ASSERT_LE(0, store);
	if (access("/proc/self/stack", R_OK))
		SKIP(return, "no /proc/PID/stack in this kernel");
	ASSERT_EQ(0, set_backing(obj, store));
	p = map_stamped(obj);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, NPAGES * ps, MADV_RANDOM));
	/* Clean, unmapped: the read maps the last page read-only. */
	ASSERT_EQ(0, writeback(obj));
	ASSERT_EQ(stamp(last), p[last * ps]);
	ASSERT_EQ(1, cowdev_evict(obj, 0, ps));

	/* Page 0 read back by a child, slowly, under the invalidate lock. */
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "2000000"));
	reader = fork_child();
	ASSERT_LE(0, reader);
	if (!reader)
		_exit(p[0] != stamp(0));
	while (!process_in(reader, "msleep") && !waitpid(reader, NULL, WNOHANG))
		sched_yield();
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "0"));
	ASSERT_TRUE(process_in(reader, "msleep"));

	/* The shrink, waiting for the lock. */
	ASSERT_EQ(0, pthread_create(&thread, NULL, shrink_to_one_page, &sh));
	while (!__atomic_load_n(&sh.tid, __ATOMIC_ACQUIRE) ||
	       !thread_sleeps_in(sh.tid, "cowdev_object_set_size"))
		sched_yield();

	mkwrites = object_stat(obj, "mkwrite");
	landed = !access_sigbus(p + last * ps, true);
	EXPECT_TRUE(thread_sleeps_in(sh.tid, "cowdev_object_set_size"))
		TH_LOG("the shrink got the lock first: a slow guest, or the write waited");
	EXPECT_TRUE(landed) TH_LOG("SIGBUS: the write met the cut size");
	EXPECT_EQ(mkwrites + 1, object_stat(obj, "mkwrite"));

	pthread_join(thread, NULL);
	EXPECT_EQ(0, sh.ret);
	ASSERT_EQ(reader, waitpid(reader, NULL, 0));
	/* Cut now, as memfd's page would be by ftruncate(). */
	EXPECT_TRUE(access_sigbus(p + last * ps, false));
	EXPECT_EQ(stamp(0), p[0]);
	munmap(p, NPAGES * ps);
	close(obj);
	close(store);
}

/* A full filesystem (a tmpfs of 4 pages): ENOSPC, and nothing lost. */
TEST(enospc_keeps_pages)
{
	char dir[] = "/tmp/cowdev-full-XXXXXX", opts[32], path[64];
	int obj = open(COWDEV_DEV, O_RDWR), store, i;
	long ps = page_size();
	struct cowdev_info info;
	long evicted;
	char *p;

	ASSERT_LE(0, obj);
	if (!mkdtemp(dir))
		SKIP(return, "no /tmp: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "size=%ld", 4 * ps);
	if (mount("cowdev-full", dir, "tmpfs", 0, opts)) {
		rmdir(dir);
		SKIP(return, "cannot mount a tmpfs: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/store", dir);
	store = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, store);
	ASSERT_EQ(0, set_backing(obj, store));
	p = map_stamped(obj);
	ASSERT_NE(MAP_FAILED, p);

	evicted = cowdev_evict(obj, 0, NPAGES * ps);
	EXPECT_EQ(-ENOSPC, evicted);
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(4, info.evicted_pages);
	EXPECT_EQ(NPAGES - 4, info.resident_pages);
	EXPECT_EQ(1, info.io_errors);
	EXPECT_EQ(-ENOSPC, writeback(obj));
	for (i = 0; i < NPAGES; i++)
		EXPECT_TRUE(page_is(p, i, stamp(i))) TH_LOG("page %d", i);
	munmap(p, NPAGES * ps);
	close(obj);
	close(store);
	umount(dir);
	rmdir(dir);
}

TEST_HARNESS_MAIN
