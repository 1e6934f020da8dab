// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev store-error tests, on a disk that fails for real: a device-mapper
 * table under the store's ext4 (on the guest's scratch disk,
 * COWDEV_SCRATCH_DISK) maps the store file's blocks to dm's "error" target
 * on demand, and back to the disk.  The filesystem's own blocks (its
 * journal, its inodes) stay on the disk, so only the store's data I/O
 * fails, as a bad sector under it would.
 *
 * What must hold, as for swap: a page whose write failed, whether the
 * failure came back from kernel_write() or from the store's own writeback
 * after it, stays dirty and in memory, and nothing reads the disk's old
 * bytes in its place; a read that fails is SIGBUS and leaves the page
 * evicted, to be read again once the disk is back.  The expected bytes
 * are each page's stamp, written alike into a memfd that the test checks
 * too.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sched.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

/* More than an eviction's batch (16 pages): two batches, one short. */
#define NPAGES		20
#define MAX_EXTENTS	8
#define DM_BUF		16384

/* The stamp of page @i, for round @round, in every byte. */
static char stamp(int i, int round)
{
	return (round ? 'A' : 'a') + i % 26;
}

/*
 * A device-mapper ioctl on @ctl for the device @name, with @nr_targets
 * target specs already laid out in @buf after the header.  0 or -errno;
 * the header, as the kernel left it, in @buf.
 */
static int dm_ioctl(int ctl, unsigned long cmd, const char *name, char *buf,
		    unsigned int nr_targets, unsigned int flags)
{
	struct dm_ioctl *io = (struct dm_ioctl *)buf;

	/* Named by @name alone: a dev left from the last call is refused. */
	memset(io, 0, sizeof(*io));
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = DM_BUF;
	io->data_start = sizeof(*io);
	io->target_count = nr_targets;
	io->flags = flags;
	snprintf(io->name, sizeof(io->name), "%s", name);
	return ioctl(ctl, cmd, io) ? -errno : 0;
}

/* Lay out a target spec at @*off in @buf: @type over [@start, +@len). */
static void dm_target(char *buf, size_t *off, uint64_t start, uint64_t len,
		      const char *type, const char *params)
{
	struct dm_target_spec *t = (struct dm_target_spec *)(buf + *off);
	size_t plen = strlen(params) + 1;

	memset(t, 0, sizeof(*t));
	t->sector_start = start;
	t->length = len;
	snprintf(t->target_type, sizeof(t->target_type), "%s", type);
	memcpy(t + 1, params, plen);
	/* The next spec is 8-byte aligned, counted from this one. */
	t->next = (sizeof(*t) + plen + 7) & ~7UL;
	*off += t->next;
}

FIXTURE(faulty)
{
	int ctl;
	char name[64];
	char node[PATH_MAX];
	char mnt[PATH_MAX];
	bool mounted;
	bool created;
	char saved_limit[32];	/* pool_limit_pages to restore, or "" */
	const char *disk;
	const char *skip;	/* why the tests cannot run, or NULL */
	uint64_t sectors;
	/* The store file's extents: offset and length in bytes of the file,
	 * start in sectors of the disk.
	 */
	uint64_t ext_logical[MAX_EXTENTS], ext_len[MAX_EXTENTS];
	uint64_t ext_start[MAX_EXTENTS];
	int nr_ext;
	int store;	/* the test's own fd of the store */
	int obj;
	int ref;	/* a memfd written alike */
	long ps;
	size_t len;
	char *p, *q;
};

FIXTURE_VARIANT(faulty)
{
	enum cowdev_mode mode;
};

FIXTURE_VARIANT_ADD(faulty, page)
{
	.mode = COWDEV_MODE_PAGE,
};

FIXTURE_VARIANT_ADD(faulty, pfn)
{
	.mode = COWDEV_MODE_PFN,
};

/*
 * Make the dm device's table the disk, with the blocks of the store's
 * pages [@first, @first + @nr) mapped to "error" (none if @nr is 0); load,
 * suspend (without freezing the filesystem or waiting for it: only
 * in-flight I/O ends) and resume.  0 or -errno.
 */
static int set_table(FIXTURE_DATA(faulty) *self, int first, int nr)
{
	uint64_t buf64[DM_BUF / 8] = { 0 };
	char *buf = (char *)buf64, params[PATH_MAX + 32];
	uint64_t lo = first * self->ps, hi = (first + nr) * self->ps;
	size_t off = sizeof(struct dm_ioctl);
	uint64_t at = 0, a, b, from, to;
	unsigned int n = 0;
	int i, ret;

	for (i = 0; i < self->nr_ext; i++) {
		/* The part of extent i in [lo, hi), in bytes of the file... */
		a = self->ext_logical[i] > lo ? self->ext_logical[i] : lo;
		b = self->ext_logical[i] + self->ext_len[i];
		b = b < hi ? b : hi;
		if (a >= b)
			continue;
		/* ...and in sectors of the disk. */
		from = self->ext_start[i] + ((a - self->ext_logical[i]) >> 9);
		to = from + ((b - a) >> 9);
		if (from > at) {
			snprintf(params, sizeof(params), "%s %llu", self->disk,
				 (unsigned long long)at);
			dm_target(buf, &off, at, from - at, "linear", params);
			n++;
		}
		dm_target(buf, &off, from, to - from, "error", "");
		n++;
		at = to;
	}
	if (at < self->sectors) {
		snprintf(params, sizeof(params), "%s %llu", self->disk,
			 (unsigned long long)at);
		dm_target(buf, &off, at, self->sectors - at, "linear", params);
		n++;
	}
	ret = dm_ioctl(self->ctl, DM_TABLE_LOAD, self->name, buf, n, 0);
	if (!ret)
		ret = dm_ioctl(self->ctl, DM_DEV_SUSPEND, self->name, buf, 0,
			       DM_SUSPEND_FLAG | DM_SKIP_LOCKFS_FLAG |
			       DM_NOFLUSH_FLAG);
	if (!ret)
		ret = dm_ioctl(self->ctl, DM_DEV_SUSPEND, self->name, buf, 0, 0);
	return ret;
}

/* Record where the store's NPAGES pages are on the disk. */
static int map_extents(FIXTURE_DATA(faulty) *self)
{
	uint64_t buf[(sizeof(struct fiemap) +
		      MAX_EXTENTS * sizeof(struct fiemap_extent)) / 8] = { 0 };
	struct fiemap *fm = (struct fiemap *)buf;
	unsigned int i;

	fm->fm_length = self->len;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = MAX_EXTENTS;
	if (ioctl(self->store, FS_IOC_FIEMAP, fm))
		return -errno;
	if (!fm->fm_mapped_extents)
		return -ENODATA;
	for (i = 0; i < fm->fm_mapped_extents; i++) {
		if (fm->fm_extents[i].fe_flags & (FIEMAP_EXTENT_UNKNOWN |
						  FIEMAP_EXTENT_UNWRITTEN))
			return -EINVAL;
		self->ext_logical[i] = fm->fm_extents[i].fe_logical;
		self->ext_start[i] = fm->fm_extents[i].fe_physical >> 9;
		self->ext_len[i] = fm->fm_extents[i].fe_length;
	}
	self->nr_ext = fm->fm_mapped_extents;
	/* All of them, covering the whole store. */
	if (!(fm->fm_extents[self->nr_ext - 1].fe_flags & FIEMAP_EXTENT_LAST) ||
	    self->ext_logical[self->nr_ext - 1] +
	    self->ext_len[self->nr_ext - 1] < self->len)
		return -E2BIG;
	/* The table lists them in order on the disk. */
	for (i = 1; i < (unsigned int)self->nr_ext; i++)
		if (self->ext_start[i] < self->ext_start[i - 1])
			return -ERANGE;
	return 0;
}

/* Undo what faulty_build() did, in reverse; false if something stuck. */
static bool faulty_unbuild(FIXTURE_DATA(faulty) *self)
{
	uint64_t buf[DM_BUF / 8] = { 0 };
	bool ok = true;

	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	if (self->q != MAP_FAILED)
		munmap(self->q, self->len);
	self->p = self->q = MAP_FAILED;
	if (self->obj >= 0)
		close(self->obj);	/* and so the module's file of the store */
	if (self->ref >= 0)
		close(self->ref);
	if (self->store >= 0)
		close(self->store);
	self->obj = self->ref = self->store = -1;
	if (self->saved_limit[0] &&
	    write_text(COWDEV_PARAMS "/pool_limit_pages", self->saved_limit))
		ok = false;
	self->saved_limit[0] = '\0';
	if (self->ctl < 0)
		return ok;
	/* The disk back, so that the unmount's writes do not fail. */
	if (self->created && set_table(self, 0, 0))
		ok = false;
	if (self->mounted && umount(self->mnt))
		ok = false;
	self->mounted = false;
	rmdir(self->mnt);
	unlink(self->node);
	if (self->created &&
	    dm_ioctl(self->ctl, DM_DEV_REMOVE, self->name, (char *)buf, 0, 0))
		ok = false;
	self->created = false;
	close(self->ctl);
	self->ctl = -1;
	return ok;
}

/*
 * The dm device over the scratch disk, its ext4 mounted, an NPAGES store
 * file written on it, an object of @mode with that store, mapped and
 * stamped, and a memfd stamped alike.  Returns NULL, or what failed; the
 * caller then undoes what was done (faulty_unbuild()), since a setup that
 * fails gets no teardown from the harness.
 */
static const char *faulty_build(FIXTURE_DATA(faulty) *self,
				enum cowdev_mode mode)
{
	uint64_t buf[DM_BUF / 8] = { 0 };
	struct dm_ioctl *io = (struct dm_ioctl *)buf;
	char path[PATH_MAX + 16];
	uint64_t bytes;
	int i, d;

	/* Exclusive: a device left over from an earlier run holds it. */
	d = open(self->disk, O_RDONLY | O_EXCL);
	if (d < 0)
		return "the scratch disk is in use";
	i = ioctl(d, BLKGETSIZE64, &bytes);
	close(d);
	if (i)
		return "BLKGETSIZE64";
	self->sectors = bytes >> 9;

	self->ctl = open("/dev/mapper/control", O_RDWR);
	if (self->ctl < 0)
		return "/dev/mapper/control";
	snprintf(self->name, sizeof(self->name), "cowdev-faulty-%d", getpid());
	if (dm_ioctl(self->ctl, DM_DEV_CREATE, self->name, (char *)buf, 0, 0))
		return "DM_DEV_CREATE";
	self->created = true;
	snprintf(self->node, sizeof(self->node), "/tmp/%s.dev", self->name);
	if (mknod(self->node, S_IFBLK | 0600,
		  makedev(major(io->dev), minor(io->dev))))
		return "mknod";
	if (set_table(self, 0, 0))
		return "the disk's table";
	snprintf(self->mnt, sizeof(self->mnt), "/tmp/%s", self->name);
	if (mkdir(self->mnt, 0700) ||
	    mount(self->node, self->mnt, "ext4", 0, NULL))
		return "mount";
	self->mounted = true;

	/* The store's blocks, written and on the disk, so FIEMAP has them. */
	snprintf(path, sizeof(path), "%s/store", self->mnt);
	self->store = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	self->ref = memfd_create("reference", 0);
	if (self->store < 0 || self->ref < 0 ||
	    ftruncate(self->ref, self->len))
		return "the store or the reference";
	self->q = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->ref, 0);
	if (self->q == MAP_FAILED ||
	    write(self->store, self->q, self->len) != (ssize_t)self->len ||
	    fsync(self->store) || map_extents(self))
		return "the store's blocks";

	self->obj = open(COWDEV_DEV, O_RDWR);
	if (self->obj < 0 || cowdev_set_size(self->obj, self->len) ||
	    ioctl(self->obj, COWDEV_IOC_SET_MODE, mode) ||
	    ioctl(self->obj, COWDEV_IOC_SET_BACKING, self->store))
		return "the object";
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->obj, 0);
	/* One page read a fault, so that a failed read is that page's. */
	if (self->p == MAP_FAILED ||
	    madvise(self->p, self->len, MADV_RANDOM))
		return "the mapping";
	for (i = 0; i < NPAGES; i++) {
		memset(self->p + i * self->ps, stamp(i, 0), self->ps);
		memset(self->q + i * self->ps, stamp(i, 0), self->ps);
	}
	return NULL;
}

/*
 * What a test cannot run without is looked at in its body
 * (COWDEV_SKIP_UNLESS_READY()).
 */
FIXTURE_SETUP(faulty)
{
	const char *failed;
	int obj, ret;

	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->ctl = self->store = self->obj = self->ref = -1;
	self->p = self->q = MAP_FAILED;
	self->disk = getenv("COWDEV_SCRATCH_DISK");
	if (!self->disk) {
		self->skip = "no scratch disk (COWDEV_SCRATCH_DISK)";
		return;
	}
	obj = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, obj);
	ret = cowdev_fixture_mode(obj, variant->mode, &self->skip);
	close(obj);
	ASSERT_EQ(0, ret);
	if (self->skip)
		return;
	failed = faulty_build(self, variant->mode);
	if (failed) {
		faulty_unbuild(self);
		TH_LOG("setting up: %s: %s", failed, strerror(errno));
		ASSERT_TRUE(false);
	}
}

FIXTURE_TEARDOWN(faulty)
{
	EXPECT_TRUE(faulty_unbuild(self));
}

/*
 * Drop the store's page cache, so that a read goes to the disk.  It holds
 * nothing dirty (the object waits for its writes), so nothing stays.
 */
static void drop_store_cache(FIXTURE_DATA(faulty) *self)
{
	posix_fadvise(self->store, 0, 0, POSIX_FADV_DONTNEED);
}

/* Every page of the object reads as the reference does. */
static bool object_is_reference(FIXTURE_DATA(faulty) *self)
{
	return !memcmp(self->p, self->q, self->len);
}

/*
 * An EVICT leaves nothing of its pages in the store's page cache for the
 * disk to fail later: once it returns, the store has nothing dirty, so an
 * fsync() of the store against a failing disk succeeds.  Before the
 * store's writeback was waited for, the pages were still dirty there.
 */
/*
 * Nothing of the store is left for its disk to fail: an fsync() against a
 * failing disk succeeds; and the disk, healthy again, holds the object.
 */
static void expect_on_the_disk(struct __test_metadata *const _metadata,
			       FIXTURE_DATA(faulty) *self)
{
	ASSERT_EQ(0, set_table(self, 0, NPAGES));
	EXPECT_EQ(0, fsync(self->store));
	ASSERT_EQ(0, set_table(self, 0, 0));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
}

TEST_F(faulty, evicted_pages_are_on_the_disk)
{
	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	expect_on_the_disk(_metadata, self);
}

/*
 * A batch whose pages are not all at consecutive offsets is written out
 * run by run: with page CLEAN_PAGE read back clean and every other page
 * written to, the first batch is pages 0-4 and 6-16, two runs, and each
 * is on the disk when EVICT returns (an fsync() against a failing disk
 * succeeds, and the disk holds round 1 around the clean page's round 0).
 */
#define CLEAN_PAGE	5

TEST_F(faulty, runs_around_a_clean_page_are_on_the_disk)
{
	struct cowdev_info info;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	for (i = 0; i < NPAGES; i++) {
		if (i == CLEAN_PAGE) {
			ASSERT_EQ(stamp(i, 0), self->p[i * self->ps]);
			continue;
		}
		memset(self->p + i * self->ps, stamp(i, 1), self->ps);
		memset(self->q + i * self->ps, stamp(i, 1), self->ps);
	}
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	ASSERT_EQ(NPAGES, info.resident_pages);
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	expect_on_the_disk(_metadata, self);
}

/*
 * A write to the store that fails on the disk, after kernel_write() has
 * put the page in the store's page cache, keeps the page dirty and in
 * memory: EVICT and WRITEBACK report EIO, and once the disk is back, the
 * page's bytes are the ones it had, not the disk's old ones.  Before the
 * store's writeback was waited for, EVICT evicted every page, and the
 * store's failed writeback then left the disk's old bytes for the read.
 */
TEST_F(faulty, failed_write_keeps_pages)
{
	struct cowdev_writeback wb = { .flags = COWDEV_WRITEBACK_WAIT };
	struct cowdev_info info;
	uint64_t read_before;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	drop_store_cache(self);
	ASSERT_TRUE(object_is_reference(self));	/* round 0, from the disk */
	for (i = 0; i < NPAGES; i++) {
		memset(self->p + i * self->ps, stamp(i, 1), self->ps);
		memset(self->q + i * self->ps, stamp(i, 1), self->ps);
	}

	ASSERT_EQ(0, set_table(self, 0, NPAGES));
	EXPECT_EQ(-EIO, cowdev_evict(self->obj, 0, self->len));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_LE(1, info.io_errors);
	/* WRITEBACK meets the same disk, and says so, for every page. */
	EXPECT_EQ(-1, ioctl(self->obj, COWDEV_IOC_WRITEBACK, &wb));
	EXPECT_EQ(EIO, errno);
	wb.pages = 0;
	EXPECT_EQ(-1, ioctl(self->obj, COWDEV_IOC_WRITEBACK, &wb));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(NPAGES, wb.pages);	/* all dirty again */
	/* And the bytes are still the object's, failed writes or not. */
	EXPECT_TRUE(object_is_reference(self));

	ASSERT_EQ(0, set_table(self, 0, 0));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	read_before = info.pages_read;
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));	/* round 1, from the disk */
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(read_before + NPAGES, info.pages_read);
}

/*
 * An eviction's batches fail or succeed each on its own: the first 16
 * pages are written, on the disk and evicted; the last 4, whose blocks
 * fail, stay dirty and in memory, and go once the disk is back.
 */
TEST_F(faulty, failed_batch_keeps_its_pages)
{
	struct cowdev_info info;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	for (i = 0; i < NPAGES; i++) {
		memset(self->p + i * self->ps, stamp(i, 1), self->ps);
		memset(self->q + i * self->ps, stamp(i, 1), self->ps);
	}
	ASSERT_EQ(0, set_table(self, 16, NPAGES - 16));
	EXPECT_EQ(-EIO, cowdev_evict(self->obj, 0, self->len));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(16, info.evicted_pages);
	EXPECT_EQ(NPAGES - 16, info.resident_pages);
	EXPECT_EQ(16, info.pages_written);

	ASSERT_EQ(0, set_table(self, 0, 0));
	EXPECT_EQ(NPAGES - 16, cowdev_evict(self->obj, 0, self->len));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
}

/*
 * The reclaimer meets the failing disk: with the pool at its limit, a
 * fault of another object (without a store) waits for it to evict pages
 * of this one, whose writes all fail.  The fault gets SIGBUS once the
 * bounded wait is over; every page of this object stays dirty, in memory
 * and intact; and once the disk is back the same fault gets its page.
 */
TEST_F(faulty, reclaimer_keeps_what_it_cannot_write)
{
	struct cowdev_writeback wb = { .flags = COWDEV_WRITEBACK_WAIT };
	char limit[32];
	struct cowdev_info info;
	int other;
	char *q;

	COWDEV_SKIP_UNLESS_READY();
	other = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, other);
	ASSERT_EQ(0, cowdev_set_size(other, self->ps));
	q = mmap(NULL, self->ps, PROT_READ | PROT_WRITE, MAP_SHARED, other, 0);
	ASSERT_NE(MAP_FAILED, q);
	/* No room but for what this object holds. */
	ASSERT_EQ(0, read_text(COWDEV_PARAMS "/pool_limit_pages", limit,
			       sizeof(limit)));
	memcpy(self->saved_limit, limit, sizeof(limit));
	snprintf(limit, sizeof(limit), "%lld", global_stat("pool_in_use"));
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/pool_limit_pages", limit));

	ASSERT_EQ(0, set_table(self, 0, NPAGES));
	EXPECT_TRUE(access_sigbus(q, true));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_LE(1, info.io_errors);
	EXPECT_TRUE(object_is_reference(self));

	ASSERT_EQ(0, set_table(self, 0, 0));
	/* Still every page dirty: WRITEBACK writes them all. */
	ioctl(self->obj, COWDEV_IOC_WRITEBACK, &wb);	/* EIO: the reclaimer's */
	EXPECT_EQ(NPAGES, wb.pages);
	EXPECT_FALSE(access_sigbus(q, true));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_LE(1, info.evicted_pages);
	/* Room again, for reading the evicted pages back. */
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/pool_limit_pages",
				self->saved_limit));
	self->saved_limit[0] = '\0';
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
	munmap(q, self->ps);
	close(other);
}

/*
 * A read that fails on the disk is SIGBUS, for a read and a write
 * access, and leaves the page evicted, not half-read: once the disk is
 * back, every page reads as it was written.
 */
TEST_F(faulty, failed_read_sigbus)
{
	struct cowdev_info info;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	drop_store_cache(self);
	ASSERT_EQ(0, set_table(self, 0, NPAGES));
	EXPECT_TRUE(access_sigbus(self->p, false));
	EXPECT_TRUE(access_sigbus(self->p + self->ps, true));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.evicted_pages);
	EXPECT_EQ(0, info.resident_pages);
	EXPECT_LE(2, info.io_errors);

	ASSERT_EQ(0, set_table(self, 0, 0));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
}

/*
 * A readahead window whose middle fails on the disk: the pages read
 * before the failure are the object's, the ones that failed are SIGBUS
 * for the faults that need them and stay evicted, and the ones after it
 * are read by their own faults; nothing half-read is ever mapped.
 */
TEST_F(faulty, failed_window_leaves_the_rest)
{
	struct cowdev_info info;
	int i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	drop_store_cache(self);
	ASSERT_EQ(0, set_table(self, 8, 4));
	/* Read in order, the readahead way. */
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_SEQUENTIAL));
	for (i = 0; i < NPAGES; i++) {
		bool bad = i >= 8 && i < 12;

		EXPECT_EQ(bad, access_sigbus(self->p + i * self->ps, false))
			TH_LOG("page %d", i);
		if (!bad)
			EXPECT_EQ(0, memcmp(self->p + i * self->ps,
					    self->q + i * self->ps, self->ps))
				TH_LOG("page %d", i);
	}
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES - 4, info.resident_pages);
	EXPECT_EQ(4, info.evicted_pages);
	EXPECT_LE(4, info.io_errors);
	/* The first fault's window took pages 1-7 with it, in one read. */
	EXPECT_LE(7, info.readahead_pages);
	EXPECT_EQ(NPAGES - 4, info.pages_read);

	ASSERT_EQ(0, set_table(self, 0, 0));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
}

#define NOMEM_CGROUP	"/sys/fs/cgroup/cowdev-nomem"

/* Write @text to NOMEM_CGROUP's file @name; 0 or -errno. */
static int nomem_set(const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), NOMEM_CGROUP "/%s", name);
	return write_text(path, text);
}

/* What a reader at the limit and its test tell each other. */
enum { NOMEM_START, NOMEM_LIMITED, NOMEM_GO };

FIXTURE(nomem)
{
	const char *skip;
	pid_t child;		/* the reader, while there is one */
};

/*
 * A child that faults page 1 of @p with its memory cgroup's limit below
 * what it holds, and nobody its OOM killer may kill: exit 0 if the page
 * holds @want, 1 if not, 2 if it could not start.  Everything it touches
 * is touched, and every file it writes opened, before it joins the
 * cgroup, so that nothing is charged to the cgroup ahead (a CPU's cached
 * charges could pay for the read, and the limit's write drains only what
 * it can).  @flag, in memory shared with the test, says NOMEM_LIMITED
 * once the limit is set, and the child reads once the test says
 * NOMEM_GO.
 */
static pid_t nomem_reader(const char *p, const char *want, int *flag)
{
	int procs, max, ps = page_size();
	char pid[32], pad[16384];
	char c;
	pid_t child = fork_child();

	if (child)
		return child;
	memset(pad, 0, sizeof(pad));	/* its stack, there before */
	snprintf(pid, sizeof(pid), "%d", getpid());
	madvise((void *)p, 2 * ps, MADV_RANDOM);
	c = __atomic_load_n(p, __ATOMIC_RELAXED) +
	    __atomic_load_n(want, __ATOMIC_RELAXED) +
	    __atomic_load_n(want + ps - 1, __ATOMIC_RELAXED) +
	    __atomic_load_n(pad + sizeof(pad) - 1, __ATOMIC_RELAXED);
	__atomic_store_n(flag, NOMEM_START, __ATOMIC_RELAXED);
	procs = open(NOMEM_CGROUP "/cgroup.procs", O_WRONLY);
	max = open(NOMEM_CGROUP "/memory.max", O_WRONLY);
	if (procs < 0 || max < 0 ||
	    write_text("/proc/self/oom_score_adj", "-1000") ||
	    write(procs, pid, strlen(pid)) < 0 || write(max, "0", 1) != 1)
		_exit(2);
	__atomic_store_n(flag, NOMEM_LIMITED, __ATOMIC_RELEASE);
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != NOMEM_GO)
		sched_yield();
	c = __atomic_load_n(p + ps, __ATOMIC_RELAXED);
	_exit(memcmp(p + ps, want, ps) || c != want[0] ? 1 : 0);
}

/* Wait up to @secs for @child to end, or @until() to hold; its pid or 0. */
static pid_t nomem_wait(pid_t child, int *status, int secs,
			bool (*until)(long long), long long arg)
{
	struct timespec t0, t;
	pid_t ended;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ended = waitpid(child, status, WNOHANG);
		if (ended || until(arg))
			return ended;
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < secs);
	return 0;
}

static bool nomem_flag_is(long long flag)
{
	return __atomic_load_n((int *)(uintptr_t)flag, __ATOMIC_ACQUIRE) ==
	       NOMEM_LIMITED;
}

static bool nomem_ooms_reach(long long n)
{
	return read_stat(NOMEM_CGROUP "/memory.events", "oom") >= n;
}

/*
 * Fault page 1 of @p, whose bytes are @want, from a reader at its memory
 * cgroup's limit: the fault cannot have memory for the page cache its
 * read needs.  The reader must still be there, trying again, after its
 * fault has failed for memory, and read @want once the limit is lifted.
 */
static void read_at_the_limit(struct __test_metadata *const _metadata,
			      FIXTURE_DATA(nomem) *self, const char *p,
			      const char *want)
{
	int *flag, status = 0;
	long long ooms;
	pid_t ended;

	flag = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, flag);
	*flag = NOMEM_START;
	self->child = nomem_reader(p, want, flag);
	ASSERT_LT(0, self->child);
	ended = nomem_wait(self->child, &status, 60, nomem_flag_is,
			   (uintptr_t)flag);
	ASSERT_EQ(0, ended) TH_LOG("the reader could not start: %#x", status);
	ASSERT_TRUE(nomem_flag_is((uintptr_t)flag));
	ooms = read_stat(NOMEM_CGROUP "/memory.events", "oom");
	ASSERT_LE(0, ooms);
	__atomic_store_n(flag, NOMEM_GO, __ATOMIC_RELEASE);
	/*
	 * Each try to charge the page cache counts an OOM event before it
	 * fails: three mean the fault has failed for memory and come back
	 * (a fault tries twice here: once, then once more after a retry;
	 * kernels that retried under the per-VMA lock without
	 * FAULT_FLAG_TRIED, 6.4 to 6.7, try three times, and the test then
	 * proves less).  A try may take seconds: reclaim that makes no
	 * progress throttles.
	 */
	ended = nomem_wait(self->child, &status, 90, nomem_ooms_reach,
			   ooms + 3);
	EXPECT_LE(ooms + 3, read_stat(NOMEM_CGROUP "/memory.events", "oom"));
	EXPECT_EQ(0, ended)
		TH_LOG("the reader ended (status %#x) before memory came back",
		       status);
	EXPECT_EQ(0, nomem_set("memory.max", "max"));
	if (!ended)
		ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("status %#x", status);
	munmap(flag, page_size());
}

FIXTURE_SETUP(nomem)
{
	self->child = 0;
	self->skip = NULL;
	/* A guest with nothing mounted there: cgroup2, as systemd mounts it. */
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK))
		mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	if (!getenv("COWDEV_DIRECT_DIR"))
		self->skip = "no disk in this guest (COWDEV_DIRECT_DIR)";
	else if (write_text("/sys/fs/cgroup/cgroup.subtree_control",
			    "+memory") ||
		 (mkdir(NOMEM_CGROUP, 0755) && errno != EEXIST) ||
		 nomem_set("memory.max", "max"))
		self->skip = "no memory cgroup here";
}

/* Also after a failed assertion or a timeout: nothing stays limited. */
FIXTURE_TEARDOWN(nomem)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	if (!self->skip) {
		nomem_set("memory.max", "max");
		rmdir(NOMEM_CGROUP);
	}
}

/*
 * A major fault whose read of the store cannot have memory for the
 * store's page cache is no I/O error and no SIGBUS: the fault returns
 * VM_FAULT_OOM and the access is retried until memory comes back, then
 * reads the page, as a fault on a file of the same ext4 does
 * (filemap_fault() when it cannot get a folio).  Before, the reader got
 * SIGBUS and io_errors counted it.  A direct read needs no page cache:
 * the store's inode lock, held by a write past the object's end, makes
 * the read go through it.
 */
static void no_memory_no_sigbus(struct __test_metadata *const _metadata,
				FIXTURE_DATA(nomem) *self,
				enum cowdev_mode mode)
{
	long ps = page_size(), len = 2 * ps;
	int obj, store, ref, file, ret;
	struct inode_holder holder;
	struct cowdev_info info;
	long long fails;
	char *p, *q, *f;

	obj = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, obj);
	ASSERT_EQ(0, cowdev_set_size(obj, len));
	ret = cowdev_set_mode(obj, mode);
	if (cowdev_no_pfn_mode(mode, ret)) {
		close(obj);
		SKIP(return, COWDEV_NO_PFN_MODE);
	}
	ASSERT_EQ(0, ret);
	store = open_disk_store();
	ASSERT_LE(0, store);
	ASSERT_EQ(0, ioctl(obj, COWDEV_IOC_SET_BACKING, store));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
	ASSERT_NE(MAP_FAILED, p);
	ref = memfd_create("reference", 0);
	ASSERT_EQ(0, ftruncate(ref, len));
	q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ref, 0);
	ASSERT_NE(MAP_FAILED, q);
	/* The reference the kernel's own way: a file on the same disk. */
	file = open_disk_store();
	ASSERT_LE(0, file);
	ASSERT_EQ(0, ftruncate(file, len));
	f = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, f);
	memset(p, stamp(0, 1), ps);
	memset(q, stamp(0, 1), ps);
	memset(f, stamp(0, 1), ps);
	memset(p + ps, stamp(1, 1), ps);
	memset(q + ps, stamp(1, 1), ps);
	memset(f + ps, stamp(1, 1), ps);
	ASSERT_EQ(1, cowdev_evict(obj, ps, ps));
	/* On the disk only: a read must allocate page cache. */
	ASSERT_EQ(0, fsync(file));
	ASSERT_EQ(0, munmap(f, len));
	ASSERT_EQ(0, posix_fadvise(store, 0, 0, POSIX_FADV_DONTNEED));
	ASSERT_EQ(0, posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED));
	f = mmap(NULL, len, PROT_READ, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, f);

	read_at_the_limit(_metadata, self, f, q + ps);
	fails = object_stat(obj, "alloc_fail");
	ASSERT_TRUE(inode_hold(&holder, store, 2 * len));
	read_at_the_limit(_metadata, self, p, q + ps);
	EXPECT_EQ(ps, inode_release(&holder));
	EXPECT_LT(fails, object_stat(obj, "alloc_fail"));
	EXPECT_EQ(0, object_stat(obj, "pages_read_direct"));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(0, info.io_errors);
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_EQ(0, memcmp(p, q, len));
	munmap(f, len);
	munmap(q, len);
	munmap(p, len);
	close(file);
	close(ref);
	close(store);
	close(obj);
}

/* A try at the limit may take seconds: the harness's 30 s are short. */
TEST_F_TIMEOUT(nomem, no_sigbus_page, 400)
{
	COWDEV_SKIP_UNLESS_READY();
	no_memory_no_sigbus(_metadata, self, COWDEV_MODE_PAGE);
}

TEST_F_TIMEOUT(nomem, no_sigbus_pfn, 400)
{
	COWDEV_SKIP_UNLESS_READY();
	no_memory_no_sigbus(_metadata, self, COWDEV_MODE_PFN);
}

/*
 * A page past the largest file the store's filesystem can hold.  On ext2
 * with 1 KiB blocks, made on the scratch disk (whose bytes are put back
 * afterwards, for the other tests of this boot), a file without extents
 * stops near 16 GiB: a write(2) there gets EFBIG.  An EVICT over such a
 * page is the store's failure, as on a full store: EIO, the page stays
 * with its bytes, and the pages before it are evicted.  It used to be
 * EFBIG, which means the caller's RLIMIT_FSIZE, with the error left
 * recorded for the next WRITEBACK to report a second time.
 */
#define SMALL_FS_PAST	(20ULL << 30)
#define SMALL_FS_SIZE	(32ULL << 30)

FIXTURE(small_fs)
{
	const char *disk;
	char mnt[32];
	char *saved;		/* the scratch disk's bytes, to put back */
	uint64_t bytes;
	bool mounted;
	const char *skip;
};

/* The scratch disk's bytes, read (@write false) or put back. */
static bool scratch_copy(FIXTURE_DATA(small_fs) *self, bool write)
{
	int d = open(self->disk, (write ? O_WRONLY : O_RDONLY) | O_EXCL);
	uint64_t done = 0;
	ssize_t n = 1;

	if (d < 0)
		return false;
	while (done < self->bytes && n > 0) {
		n = write ? pwrite(d, self->saved + done, self->bytes - done, done)
			  : pread(d, self->saved + done, self->bytes - done, done);
		done += n > 0 ? n : 0;
	}
	if (write && fsync(d))
		done = 0;
	close(d);
	return done == self->bytes;
}

/*
 * What a failed setup did is undone here: the harness runs no teardown
 * after it.  Busybox's mke2fs makes ext2, whose files have no extents.
 */
static const char *small_fs_build(FIXTURE_DATA(small_fs) *self)
{
	char cmd[128];
	int status;

	snprintf(cmd, sizeof(cmd), "mke2fs -b 1024 %s > /dev/null 2>&1",
		 self->disk);
	status = system(cmd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		self->skip = "no mke2fs";
		return NULL;
	}
	if (status)
		return "mke2fs";
	strcpy(self->mnt, "/tmp/cowdev-small-XXXXXX");
	if (!mkdtemp(self->mnt)) {
		self->mnt[0] = '\0';
		return "mkdtemp";
	}
	if (mount(self->disk, self->mnt, "ext4", 0, NULL))
		return "mount";
	self->mounted = true;
	return NULL;
}

/* Undo small_fs_build(), and put the disk's bytes back; false if stuck. */
static bool small_fs_unbuild(FIXTURE_DATA(small_fs) *self)
{
	bool ok = !self->mounted || !umount(self->mnt);

	self->mounted = false;
	if (self->mnt[0])
		rmdir(self->mnt);
	if (self->saved)
		ok = scratch_copy(self, true) && ok;
	free(self->saved);
	self->saved = NULL;
	return ok;
}

FIXTURE_SETUP(small_fs)
{
	const char *failed;
	int d;

	self->disk = getenv("COWDEV_SCRATCH_DISK");
	if (!self->disk) {
		self->skip = "no scratch disk (COWDEV_SCRATCH_DISK)";
		return;
	}
	d = open(self->disk, O_RDONLY | O_EXCL);
	ASSERT_LE(0, d) TH_LOG("the scratch disk: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(d, BLKGETSIZE64, &self->bytes));
	close(d);
	self->saved = malloc(self->bytes);
	ASSERT_NE(NULL, self->saved);
	if (!scratch_copy(self, false)) {
		free(self->saved);
		self->saved = NULL;
		ASSERT_TRUE(false) TH_LOG("reading the scratch disk");
	}
	failed = small_fs_build(self);
	if (failed) {
		small_fs_unbuild(self);
		TH_LOG("setting up: %s: %s", failed, strerror(errno));
		ASSERT_TRUE(false);
	}
}

FIXTURE_TEARDOWN(small_fs)
{
	EXPECT_TRUE(small_fs_unbuild(self));
}

TEST_F(small_fs, page_past_the_largest_file_is_a_store_error)
{
	struct cowdev_info info;
	long ps = page_size();
	int file, store, obj;
	char path[64], *p, *q;

	COWDEV_SKIP_UNLESS_READY();
	/* The reference: a write there to a file on that filesystem. */
	snprintf(path, sizeof(path), "%s/file", self->mnt);
	file = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, file);
	EXPECT_EQ(-1, pwrite(file, path, sizeof(path), SMALL_FS_PAST));
	EXPECT_EQ(EFBIG, errno);
	close(file);

	snprintf(path, sizeof(path), "%s/store", self->mnt);
	store = open(path, O_RDWR | O_CREAT, 0600);
	obj = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, store);
	ASSERT_LE(0, obj);
	ASSERT_EQ(0, cowdev_set_size(obj, SMALL_FS_SIZE));
	ASSERT_EQ(0, ioctl(obj, COWDEV_IOC_SET_BACKING, store));
	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
	q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, obj,
		 SMALL_FS_PAST);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	memset(p, 0x33, ps);
	memset(q, 0x44, ps);

	EXPECT_EQ(-EIO, cowdev_evict(obj, 0, SMALL_FS_SIZE));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(1, info.resident_pages);	/* the page past the limit */
	EXPECT_TRUE(all_bytes(q, ps, 0x44));
	EXPECT_TRUE(all_bytes(p, ps, 0x33));	/* read back from the store */
	munmap(p, ps);
	munmap(q, ps);
	close(obj);		/* and so the module's file of the store */
	close(store);
}

TEST_HARNESS_MAIN
