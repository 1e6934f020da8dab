// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev readahead tests: a fault on an evicted page reads a window of
 * pages with it, a fault on the window's mark reads the next one
 * asynchronously, MADV_RANDOM and MADV_SEQUENTIAL change the window as they
 * change filemap_fault()'s, random access collapses it, and none of it
 * reads a page twice, loses a write or brings back a punched page.
 *
 * Every test keeps a memfd with the same contents, put through the same
 * steps (MADV_PAGEOUT for an eviction, the same punch): each page read
 * back from the object must equal the memfd's.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define NPAGES 256

static char stamp(long i)
{
	return 'a' + i % 26;
}

/* The object's largest window, in pages: its store's, within limits. */
static long ra_max(int fd)
{
	return object_stat(fd, "readahead_max_pages");
}

#define AROUND_KNOB "/sys/kernel/debug/fault_around_bytes"

/* Knobs a test changed, put back when it ends, however it ends. */
static struct {
	char path[96];
	char value[32];
} saved[2];

static void restore_knobs(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (saved[i].path[0])
			write_text(saved[i].path, saved[i].value);
		saved[i].path[0] = 0;
	}
}

static int set_knob(const char *path, const char *value)
{
	static bool registered;
	int i;

	for (i = 0; i < 2 && saved[i].path[0] &&
		    strcmp(saved[i].path, path); i++)
		;
	if (i == 2)
		return -1;
	if (!saved[i].path[0]) {
		if (read_text(path, saved[i].value, sizeof(saved[i].value)))
			return -1;
		snprintf(saved[i].path, sizeof(saved[i].path), "%s", path);
	}
	if (!registered)
		registered = !atexit(restore_knobs);
	return write_text(path, value);
}

static int set_param(const char *name, const char *value)
{
	char path[96];

	snprintf(path, sizeof(path), COWDEV_PARAMS "/%s", name);
	return set_knob(path, value);
}

/*
 * No fault-around: a page read ahead is then used only by a fault on it,
 * which makes the counts of tests that leave pages unused exact.
 */
static int no_fault_around(void)
{
	char value[32];

	snprintf(value, sizeof(value), "%ld", page_size());
	return set_knob(AROUND_KNOB, value);
}

FIXTURE(ra)
{
	int fd;
	int store;
	int ref;
	long ps;
	long npages;
	char *p;
	char *r;
	const char *skip;
};

FIXTURE_VARIANT(ra)
{
	enum cowdev_mode mode;
	int flags;
};

FIXTURE_VARIANT_ADD(ra, page)
{
	.mode = COWDEV_MODE_PAGE, .flags = MAP_SHARED,
};

FIXTURE_VARIANT_ADD(ra, pfn)
{
	.mode = COWDEV_MODE_PFN, .flags = MAP_SHARED,
};

FIXTURE_VARIANT_ADD(ra, page_private)
{
	.mode = COWDEV_MODE_PAGE, .flags = MAP_PRIVATE,
};

FIXTURE_VARIANT_ADD(ra, pfn_private)
{
	.mode = COWDEV_MODE_PFN, .flags = MAP_PRIVATE,
};

/*
 * @npages pages of the object and of the reference memfd, stamped through
 * shared mappings, then mapped as the variant says, all evicted (the
 * memfd's paged out).
 */
static void ra_open(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ra) *self, const FIXTURE_VARIANT(ra) *variant,
		     long npages)
{
	size_t len;
	char *w;
	long i;

	self->ps = page_size();
	self->npages = npages;
	len = npages * self->ps;
	self->fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, cowdev_set_size(self->fd, len));
	ASSERT_EQ(0, cowdev_fixture_mode(self->fd, variant->mode, &self->skip));
	if (self->skip)
		return;
	self->store = memfd_create("cowdev-store", 0);
	ASSERT_LE(0, self->store);
	ASSERT_EQ(0, ioctl(self->fd, COWDEV_IOC_SET_BACKING, self->store));
	self->ref = memfd_create("reference", 0);
	ASSERT_LE(0, self->ref);
	ASSERT_EQ(0, ftruncate(self->ref, len));

	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, w);
	for (i = 0; i < npages; i++)
		memset(w + i * self->ps, stamp(i), self->ps);
	munmap(w, len);
	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->ref, 0);
	ASSERT_NE(MAP_FAILED, w);
	for (i = 0; i < npages; i++)
		memset(w + i * self->ps, stamp(i), self->ps);
	munmap(w, len);

	self->p = mmap(NULL, len, PROT_READ | PROT_WRITE, variant->flags,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	self->r = mmap(NULL, len, PROT_READ | PROT_WRITE, variant->flags,
		       self->ref, 0);
	ASSERT_NE(MAP_FAILED, self->r);
	ASSERT_EQ(npages, cowdev_evict(self->fd, 0, len));
	madvise(self->r, len, MADV_PAGEOUT);	/* no swap: it stays */
}

FIXTURE_SETUP(ra)
{
	self->p = self->r = NULL;
	self->fd = self->store = self->ref = -1;
	ra_open(_metadata, self, variant, NPAGES);
}

static void ra_close(FIXTURE_DATA(ra) *self)
{
	if (self->p && self->p != MAP_FAILED)
		munmap(self->p, self->npages * self->ps);
	if (self->r && self->r != MAP_FAILED)
		munmap(self->r, self->npages * self->ps);
	close(self->ref);
	close(self->store);
	close(self->fd);
	self->p = self->r = NULL;
	self->fd = self->store = self->ref = -1;
}

FIXTURE_TEARDOWN(ra)
{
	restore_knobs();
	ra_close(self);
}

/* Read page @i of the object and of the reference; true if they agree. */
static bool same_page(FIXTURE_DATA(ra) *self, long i)
{
	return !memcmp(self->p + i * self->ps, self->r + i * self->ps,
		       self->ps);
}

static bool page_is_zero(FIXTURE_DATA(ra) *self, long i)
{
	return all_bytes(self->p + i * self->ps, self->ps, 0);
}

/* Both advised alike. */
static int advise(FIXTURE_DATA(ra) *self, int advice)
{
	size_t len = self->npages * self->ps;

	return madvise(self->p, len, advice) || madvise(self->r, len, advice);
}

/*
 * A sequential reader: one major fault, then each mark sends the next
 * window ahead, and every later fault finds its page read or waits for the
 * window being read.  Each page is read once, and every page read ahead is
 * used.
 */
TEST_F(ra, sequential_one_major_fault)
{
	struct cowdev_info info;
	long i, majflt = major_faults();

	COWDEV_SKIP_UNLESS_READY();
	if (!ra_max(self->fd))
		SKIP(return, "readahead is off");
	for (i = 0; i < NPAGES; i++)
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	EXPECT_LE(1, major_faults() - majflt);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.major_faults);
	EXPECT_EQ(NPAGES, info.pages_read);
	EXPECT_EQ(NPAGES - 1, info.readahead_pages);
	EXPECT_EQ(NPAGES - 1, info.readahead_hits);
	EXPECT_EQ(0, info.readahead_unused);
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_EQ(NPAGES, info.resident_pages);
}

/* MADV_RANDOM: each major fault reads its own page, nothing more. */
TEST_F(ra, madv_random_one_page_a_fault)
{
	struct cowdev_info info;
	long i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(0, advise(self, MADV_RANDOM));
	for (i = 0; i < NPAGES; i++)
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.major_faults);
	EXPECT_EQ(NPAGES, info.pages_read);
	EXPECT_EQ(0, info.readahead_pages);
	EXPECT_EQ(0, info.readahead_hits);
}

/* readahead_kb=0 turns it off: as MADV_RANDOM. */
TEST_F(ra, readahead_off)
{
	struct cowdev_info info;
	long i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_EQ(0, set_param("readahead_kb", "0"));
	for (i = 0; i < NPAGES; i++)
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.major_faults);
	EXPECT_EQ(0, info.readahead_pages);
}

/*
 * A first miss reads the largest window centred on the fault, as
 * filemap_fault()'s read-around does; pages read ahead and evicted again
 * without a fault count as unused, and cost no write.
 */
TEST_F(ra, read_around_then_unused)
{
	long around = ra_max(self->fd);
	struct cowdev_info info;

	COWDEV_SKIP_UNLESS_READY();
	if (!around)
		SKIP(return, "readahead is off");
	if (around > 100)
		SKIP(return, "a window of %ld pages around page 100", around);
	ASSERT_EQ(0, no_fault_around());
	ASSERT_TRUE(same_page(self, 100));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.major_faults);
	EXPECT_EQ(around - 1, info.readahead_pages);
	/* Centred: half before the fault.  Nothing else came in. */
	EXPECT_EQ(0, cowdev_evict(self->fd, 0, (100 - around / 2) * self->ps));
	EXPECT_EQ(0, cowdev_evict(self->fd, (100 - around / 2 + around) * self->ps,
			   (NPAGES - 100) * self->ps));
	EXPECT_EQ(around, cowdev_evict(self->fd, 0, NPAGES * self->ps));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(around - 1, info.readahead_unused);
	EXPECT_EQ(0, info.readahead_hits);
	EXPECT_EQ(NPAGES, info.pages_written);	/* the first eviction's only */
	EXPECT_TRUE(same_page(self, 99));
}

/*
 * MADV_SEQUENTIAL: the largest window, from the fault on, none behind; the
 * mark on its first page sends the next window ahead at once.
 */
TEST_F_TIMEOUT(ra, madv_sequential_reads_ahead_only, 90)
{
	long max = ra_max(self->fd), ahead;
	struct cowdev_info info;
	long i;

	COWDEV_SKIP_UNLESS_READY();
	if (!max)
		SKIP(return, "readahead is off");
	ahead = (100 + 2 * max < NPAGES ? 100 + 2 * max : NPAGES) - 100 - 1;
	ASSERT_EQ(0, advise(self, MADV_SEQUENTIAL));
	ASSERT_TRUE(same_page(self, 100));
	ASSERT_TRUE(wait_info(self->fd, offsetof(struct cowdev_info,
						 readahead_pages), ahead, false));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(ahead, info.readahead_pages);
	EXPECT_EQ(0, cowdev_evict(self->fd, 0, 100 * self->ps));
	for (i = 100; i < NPAGES; i++)
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.major_faults);
	EXPECT_EQ(NPAGES - 100, info.pages_read);
}

/*
 * Misses far apart: read-around at first, then, once misses far outnumber
 * pages read ahead and used, a miss reads its own page only; misses in
 * order again grow the window back.  Four thousand pages with 4 KiB ones:
 * time for the KASAN kernels.
 */
TEST_F_TIMEOUT(ra, random_access_collapses, 90)
{
	/*
	 * Far enough apart that no window reaches the next miss, nor ends
	 * just before it (which would be a sequential reader's miss).
	 */
	long max = ra_max(self->fd), stride = max + 1, i, before;
	struct cowdev_info info;

	COWDEV_SKIP_UNLESS_READY();
	if (!max)
		SKIP(return, "readahead is off");
	ASSERT_EQ(0, no_fault_around());
	ra_close(self);
	ra_open(_metadata, self, variant, 129 * stride + 8);
	/* The first: the largest window, from 0 (centred, cut at 0). */
	ASSERT_TRUE(same_page(self, 0));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.major_faults);
	EXPECT_EQ(max - 1, info.readahead_pages);
	for (i = 1; i < 120; i++)
		ASSERT_TRUE(same_page(self, i * stride)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(120, info.major_faults);
	EXPECT_LT(0, info.readahead_pages);
	before = info.readahead_pages;
	for (i = 120; i < 128; i++)
		ASSERT_TRUE(same_page(self, i * stride)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(128, info.major_faults);
	EXPECT_EQ(before, info.readahead_pages);
	/* In order again: the second miss in a row reads ahead. */
	ASSERT_TRUE(same_page(self, 128 * stride + 2));
	ASSERT_TRUE(same_page(self, 128 * stride + 3));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(130, info.major_faults);
	EXPECT_LT(before, info.readahead_pages);
}

/*
 * A window that runs past the end of a store cut short: the pages read
 * whole come in, the fault gets its page, and the page that could not be
 * read stays evicted for the fault that needs it, which gets SIGBUS.
 * readahead_kb makes the window 4 pages: 6 to 9 around 8.
 */
TEST_F(ra, read_error_in_window)
{
	struct cowdev_info info;
	char kb[32];

	COWDEV_SKIP_UNLESS_READY();
	if (ra_max(self->fd) < 4)
		SKIP(return, "a read-around window of 4 pages");
	snprintf(kb, sizeof(kb), "%ld", 4 * self->ps / 1024);
	ASSERT_EQ(0, set_param("readahead_kb", kb));
	ASSERT_EQ(4, ra_max(self->fd));
	ASSERT_EQ(0, ftruncate(self->store, 9 * self->ps + self->ps / 2));
	EXPECT_FALSE(access_sigbus(self->p + 8 * self->ps, false));
	EXPECT_TRUE(same_page(self, 8));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(3, info.resident_pages);	/* 6, 7 and 8 */
	EXPECT_EQ(NPAGES - 3, info.evicted_pages);
	EXPECT_EQ(1, info.io_errors);
	EXPECT_TRUE(access_sigbus(self->p + 9 * self->ps, false));
	EXPECT_TRUE(same_page(self, 6));
	EXPECT_TRUE(same_page(self, 7));
}

/*
 * PUNCH_HOLE before the readahead work takes its window's pages (it waits
 * fill_delay_us first), and a shrink while it reads them (it holds them
 * for fill_delay_us more): either way the range reads back as zeroes, as
 * the memfd's does.  (Tests that wait_info() are given longer than its
 * 30 s, so that a wait that fails is reported, and the teardown puts the
 * knobs back.)
 */
TEST_F_TIMEOUT(ra, punch_and_shrink_during_readahead, 90)
{
	long i, max = ra_max(self->fd);
	struct cowdev_info info;

	COWDEV_SKIP_UNLESS_READY();
	/*
	 * A memfd store's largest window is VM_READAHEAD_PAGES (128 KiB):
	 * 32 pages of 4 KiB, 8 of 16 KiB.  Every window below is that size
	 * (get_next_ra_size() of the largest is the largest), four of them.
	 */
	if (max < 4 || 4 * max > NPAGES)
		SKIP(return, "four windows of %ld pages in %d", max, NPAGES);
	ASSERT_EQ(0, set_param("fill_delay_us", "100000"));
	/* Read-around from 0; the mark, 3/4 in, sends max..2max-1 ahead. */
	for (i = 0; i <= max - max / 4; i++)
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_punch(self->fd, max * self->ps, max * self->ps));
	ASSERT_EQ(0, fallocate(self->ref, FALLOC_FL_PUNCH_HOLE |
			       FALLOC_FL_KEEP_SIZE, max * self->ps,
			       max * self->ps));
	for (i = max; i < 2 * max; i++) {
		ASSERT_TRUE(page_is_zero(self, i)) TH_LOG("page %ld", i);
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	}

	/*
	 * 2max follows the last window: a miss reads the next one from it,
	 * and its mark (2max itself: all of it is async) sends the one
	 * after ahead, 3max..4max-1: the shrink, into the middle of the
	 * first, comes once those are taken.
	 */
	ASSERT_TRUE(same_page(self, 2 * max));
	ASSERT_TRUE(wait_info(self->fd,
			      offsetof(struct cowdev_info, resident_pages),
			      4 * max, false));
	ASSERT_EQ(0, cowdev_set_size(self->fd, (2 * max + max / 2) * self->ps));
	ASSERT_EQ(0, cowdev_set_size(self->fd, NPAGES * self->ps));
	ASSERT_EQ(0, ftruncate(self->ref, (2 * max + max / 2) * self->ps));
	ASSERT_EQ(0, ftruncate(self->ref, NPAGES * self->ps));
	restore_knobs();
	for (i = 2 * max; i < NPAGES; i++)
		ASSERT_TRUE(same_page(self, i)) TH_LOG("page %ld", i);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(0, info.evicted_pages);
	EXPECT_EQ(0, info.io_errors);
}

/*
 * GUP faults the pages in (process_vm_readv(), which may not retry every
 * fault): the data is the memfd's, and no page is read twice.
 */
TEST_F(ra, gup_reads_each_page_once)
{
	size_t len = NPAGES * self->ps;
	struct iovec local, remote;
	struct cowdev_info info;
	char *buf, *ref;

	COWDEV_SKIP_UNLESS_READY();
	if (variant->mode == COWDEV_MODE_PFN && variant->flags == MAP_SHARED)
		SKIP(return, "GUP takes no pfn-mode page");
	buf = malloc(len);
	ref = malloc(len);
	ASSERT_TRUE(buf && ref);
	local = (struct iovec){ buf, len };
	remote = (struct iovec){ self->p, len };
	ASSERT_EQ((ssize_t)len, process_vm_readv(getpid(), &local, 1,
						 &remote, 1, 0));
	local.iov_base = ref;
	remote.iov_base = self->r;
	ASSERT_EQ((ssize_t)len, process_vm_readv(getpid(), &local, 1,
						 &remote, 1, 0));
	EXPECT_EQ(0, memcmp(buf, ref, len));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.pages_read);
	EXPECT_EQ(NPAGES, info.major_faults + info.readahead_pages);
	EXPECT_EQ(0, info.evicted_pages);
	free(buf);
	free(ref);
}

/*
 * The largest window is the store's device's own readahead size
 * (read_ahead_kb, what filemap_fault() reads ahead of the file itself),
 * within readahead_kb: a store on the guest's disk, read with
 * MADV_SEQUENTIAL, reads one such window from the fault on.
 */
TEST(window_follows_store_device)
{
	const char *dir = getenv("COWDEV_DIRECT_DIR");
	long ps = page_size(), npages = 1024, dev_kb, param_kb, max;
	char path[128], buf[32];
	struct cowdev_info info;
	struct stat st;
	int fd, store;
	char *p;

	if (!dir)
		SKIP(return, "no disk in this guest (COWDEV_DIRECT_DIR)");
	ASSERT_EQ(0, stat(dir, &st));
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	dev_kb = atol(buf);
	ASSERT_EQ(0, read_text(COWDEV_PARAMS "/readahead_kb", buf, sizeof(buf)));
	param_kb = atol(buf);
	max = (dev_kb < param_kb ? dev_kb : param_kb) * 1024 / ps;
	if (max > 512)
		max = 512;
	if (max > npages)
		SKIP(return, "a window larger than the object");

	snprintf(path, sizeof(path), "%s/cowdev-store-XXXXXX", dir);
	store = mkstemp(path);
	ASSERT_LE(0, store);
	unlink(path);
	fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, cowdev_set_size(fd, npages * ps));
	ASSERT_EQ(0, ioctl(fd, COWDEV_IOC_SET_BACKING, store));
	EXPECT_EQ(max, object_stat(fd, "readahead_max_pages"));
	p = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 'x', npages * ps);
	ASSERT_EQ(npages, cowdev_evict(fd, 0, npages * ps));
	ASSERT_EQ(0, madvise(p, npages * ps, MADV_SEQUENTIAL));
	EXPECT_EQ('x', p[0]);
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(1, info.major_faults);
	EXPECT_LE(max - 1, info.readahead_pages);	/* maybe the next too */
	EXPECT_TRUE(all_bytes(p, npages * ps, 'x'));
	munmap(p, npages * ps);
	close(fd);
	close(store);
}

/*
 * cowstat's interval mode shows the window as it is: a setting, not an
 * event count to take the difference of.
 */
TEST(cowstat_shows_the_window_as_it_is)
{
	char cmd[96], line[128];
	struct cowdev_info info;
	long max, got, lines = 0;
	int fd, store;
	FILE *out;

	if (system("command -v cowstat > /dev/null"))
		SKIP(return, "cowstat not on PATH");
	store = memfd_create("cowdev-store", 0);
	ASSERT_LE(0, store);
	fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, COWDEV_IOC_SET_BACKING, store));
	ASSERT_EQ(0, cowdev_info(fd, &info));
	max = ra_max(fd);
	ASSERT_LT(0, max);

	snprintf(cmd, sizeof(cmd), "cowstat -o %llu -i 1 -c 2",
		 (unsigned long long)info.id);
	out = popen(cmd, "r");
	ASSERT_NE(NULL, out);
	while (fgets(line, sizeof(line), out))
		if (sscanf(line, "readahead_max_pages %ld", &got) == 1) {
			EXPECT_EQ(max, got);
			lines++;
		}
	EXPECT_EQ(0, pclose(out));
	EXPECT_EQ(2, lines);
	close(fd);
	close(store);
}

TEST_HARNESS_MAIN
