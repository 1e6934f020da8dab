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

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define NPAGES		16
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
	const char *disk;
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
	char buf[DM_BUF] = { 0 }, params[PATH_MAX + 32];
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
	char buf[sizeof(struct fiemap) +
		 MAX_EXTENTS * sizeof(struct fiemap_extent)] = { 0 };
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
	/* The table lists them in order on the disk. */
	for (i = 1; i < (unsigned int)self->nr_ext; i++)
		if (self->ext_start[i] < self->ext_start[i - 1])
			return -ERANGE;
	return 0;
}

FIXTURE_SETUP(faulty)
{
	char buf[DM_BUF] = { 0 }, path[PATH_MAX + 16];
	struct dm_ioctl *io = (struct dm_ioctl *)buf;
	uint64_t bytes;
	int i, d;

	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->ctl = self->store = self->obj = self->ref = -1;
	self->p = self->q = MAP_FAILED;
	self->disk = getenv("COWDEV_SCRATCH_DISK");
	if (!self->disk)
		SKIP(return, "no scratch disk (COWDEV_SCRATCH_DISK)");
	d = open(self->disk, O_RDONLY);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, ioctl(d, BLKGETSIZE64, &bytes));
	close(d);
	self->sectors = bytes >> 9;

	self->ctl = open("/dev/mapper/control", O_RDWR);
	ASSERT_LE(0, self->ctl);
	snprintf(self->name, sizeof(self->name), "cowdev-faulty-%d", getpid());
	ASSERT_EQ(0, dm_ioctl(self->ctl, DM_DEV_CREATE, self->name, buf, 0, 0));
	snprintf(self->node, sizeof(self->node), "/tmp/%s.dev", self->name);
	ASSERT_EQ(0, mknod(self->node, S_IFBLK | 0600,
			   makedev(major(io->dev), minor(io->dev))));
	ASSERT_EQ(0, set_table(self, 0, 0));
	snprintf(self->mnt, sizeof(self->mnt), "/tmp/%s", self->name);
	ASSERT_EQ(0, mkdir(self->mnt, 0700));
	ASSERT_EQ(0, mount(self->node, self->mnt, "ext4", 0, NULL));
	self->mounted = true;

	/* The store's blocks, written and on the disk, so FIEMAP has them. */
	snprintf(path, sizeof(path), "%s/store", self->mnt);
	self->store = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->store);
	self->ref = memfd_create("reference", 0);
	ASSERT_LE(0, self->ref);
	ASSERT_EQ(0, ftruncate(self->ref, self->len));
	self->q = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->ref, 0);
	ASSERT_NE(MAP_FAILED, self->q);
	ASSERT_EQ((ssize_t)self->len, write(self->store, self->q, self->len));
	ASSERT_EQ(0, fsync(self->store));
	ASSERT_EQ(0, map_extents(self));

	self->obj = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, self->obj);
	ASSERT_EQ(0, cowdev_set_size(self->obj, self->len));
	if (ioctl(self->obj, COWDEV_IOC_SET_MODE, variant->mode))
		SKIP(return, "no pfn mode here");
	ASSERT_EQ(0, ioctl(self->obj, COWDEV_IOC_SET_BACKING, self->store));
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->obj, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	/* One page read a fault, so that a failed read is that page's. */
	ASSERT_EQ(0, madvise(self->p, self->len, MADV_RANDOM));
	for (i = 0; i < NPAGES; i++) {
		memset(self->p + i * self->ps, stamp(i, 0), self->ps);
		memset(self->q + i * self->ps, stamp(i, 0), self->ps);
	}
}

FIXTURE_TEARDOWN(faulty)
{
	char buf[DM_BUF] = { 0 };

	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	if (self->q != MAP_FAILED)
		munmap(self->q, self->len);
	if (self->obj >= 0)
		close(self->obj);	/* and so the module's file of the store */
	if (self->ref >= 0)
		close(self->ref);
	if (self->store >= 0)
		close(self->store);
	if (self->ctl < 0)
		return;
	/* The disk back, so that the unmount's writes do not fail. */
	set_table(self, 0, 0);
	if (self->mounted)
		EXPECT_EQ(0, umount(self->mnt));
	rmdir(self->mnt);
	unlink(self->node);
	EXPECT_EQ(0, dm_ioctl(self->ctl, DM_DEV_REMOVE, self->name, buf, 0, 0));
	close(self->ctl);
}

/* Drop the store's page cache, so that a read goes to the disk. */
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
 * A write to the store that fails on the disk, after kernel_write() has
 * put the page in the store's page cache, keeps the page dirty and in
 * memory: EVICT and WRITEBACK report EIO (once), and once the disk is
 * back, the page's bytes are the ones it had, not the disk's old ones.
 * Before the store's writeback was waited for, EVICT evicted every page,
 * and the store's failed writeback then left the disk's old bytes for the
 * read.
 */
TEST_F(faulty, failed_write_keeps_pages)
{
	struct cowdev_writeback wb = { .flags = COWDEV_WRITEBACK_WAIT };
	struct cowdev_info info;
	int i;

	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	ASSERT_TRUE(object_is_reference(self));	/* round 0, from the disk */
	for (i = 0; i < NPAGES; i++) {
		memset(self->p + i * self->ps, stamp(i, 1), self->ps);
		memset(self->q + i * self->ps, stamp(i, 1), self->ps);
	}

	ASSERT_EQ(0, set_table(self, 0, NPAGES));
	EXPECT_EQ(-EIO, cowdev_evict(self->obj, 0, self->len));
	/* Whatever the store's cache holds goes to the failing disk now. */
	fsync(self->store);
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_LE(1, info.io_errors);

	/* WRITEBACK meets the same disk, and says so. */
	EXPECT_EQ(-1, ioctl(self->obj, COWDEV_IOC_WRITEBACK, &wb));
	EXPECT_EQ(EIO, errno);

	ASSERT_EQ(0, set_table(self, 0, 0));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
	ASSERT_EQ(NPAGES, cowdev_evict(self->obj, 0, self->len));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
	ASSERT_EQ(0, cowdev_info(self->obj, &info));
	EXPECT_EQ(NPAGES, info.resident_pages);
	EXPECT_LE(NPAGES, info.pages_read);
}

/*
 * A read that fails on the disk is SIGBUS, for a read and a write
 * access, and leaves the page evicted, not half-read: once the disk is
 * back, every page reads as it was written.
 */
TEST_F(faulty, failed_read_sigbus)
{
	struct cowdev_info info;

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
	EXPECT_EQ(12, info.pages_read);

	ASSERT_EQ(0, set_table(self, 0, 0));
	drop_store_cache(self);
	EXPECT_TRUE(object_is_reference(self));
}

TEST_HARNESS_MAIN
