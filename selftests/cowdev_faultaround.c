// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev fault-around tests: a read fault on a populated object maps the
 * object's resident pages in the kernel's fault-around window, read-only,
 * and nothing it may not map.  memfd runs every test that has a meaning
 * for it, as the reference: which PTEs one read leaves present (from
 * /proc/self/pagemap), what a punched or truncated range reads as.
 *
 * Mappings are placed on a 2 MiB boundary so that the window, which the
 * kernel aligns by address, covers the same pages in every variant.
 */
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define NPAGES 64
#define AROUND_KNOB "/sys/kernel/debug/fault_around_bytes"
#define FILL_DELAY_US 3000000	/* holds a page lock while we look */

enum backing { MEMFD, COWDEV };

/* What both fixtures hold: the object or memfd, populated, and the knob. */
struct around {
	int fd;
	long ps;
	size_t len;
	char knob[32];		/* fault_around_bytes before the test */
	char fill_delay[32];	/* fill_delay_us before the test */
	bool around;		/* the variant faults around on this kernel */
	char *reserve;		/* 4 MiB of address space for aligned maps */
	struct cowdev_info base;	/* counters after populating */
	const char *skip;	/* why the test cannot run here */
};

struct around_variant {
	enum backing backing;
	enum cowdev_mode mode;
	int flags;
};

/* Every backing: the tests that have a meaning for memfd. */
FIXTURE(around)
{
	struct around a;
};

FIXTURE_VARIANT(around)
{
	struct around_variant v;
};

FIXTURE_VARIANT_ADD(around, memfd_shared)
{
	.v = { .backing = MEMFD, .flags = MAP_SHARED },
};

FIXTURE_VARIANT_ADD(around, memfd_private)
{
	.v = { .backing = MEMFD, .flags = MAP_PRIVATE },
};

#define COWDEV_VARIANTS(fixture)					\
FIXTURE_VARIANT_ADD(fixture, page_shared)				\
{									\
	.v = { COWDEV, COWDEV_MODE_PAGE, MAP_SHARED },			\
};									\
FIXTURE_VARIANT_ADD(fixture, page_private)				\
{									\
	.v = { COWDEV, COWDEV_MODE_PAGE, MAP_PRIVATE },			\
};									\
FIXTURE_VARIANT_ADD(fixture, pfn_shared)				\
{									\
	.v = { COWDEV, COWDEV_MODE_PFN, MAP_SHARED },			\
};									\
FIXTURE_VARIANT_ADD(fixture, pfn_private)				\
{									\
	.v = { COWDEV, COWDEV_MODE_PFN, MAP_PRIVATE },			\
}

COWDEV_VARIANTS(around);

/* cowdev only: the tests of a held page lock and of CLONE. */
FIXTURE(around_cowdev)
{
	struct around a;
};

FIXTURE_VARIANT(around_cowdev)
{
	struct around_variant v;
};

COWDEV_VARIANTS(around_cowdev);

/* The stamp of page @i: its own index, in every byte. */
static char stamp(int i)
{
	return 'A' + i % 26;
}

static int resize(enum backing backing, int fd, uint64_t size)
{
	return backing == MEMFD ? ftruncate(fd, size) :
				  cowdev_set_size(fd, size);
}

static int punch(enum backing backing, int fd, uint64_t offset, uint64_t len)
{
	if (backing == MEMFD)
		return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 offset, len);
	return cowdev_punch(fd, offset, len);
}

/*
 * Does the variant fault around on this kernel?  memfd does; cowdev says
 * which of its ways of mapping do in its stats file (pages need 6.15).
 */
static bool faults_around(const struct around_variant *v)
{
	char buf[4096], *line;

	if (v->backing == MEMFD)
		return true;
	if (read_text(COWDEV_DEBUGFS "/stats", buf, sizeof(buf)))
		return false;		/* checked by the caller */
	line = strstr(buf, "\nfaultaround ");
	/* Private mappings map pages in either mode. */
	return line && strstr(strtok(line + 1, "\n"),
			      v->mode == COWDEV_MODE_PFN &&
			      v->flags == MAP_SHARED ? "pfn" : "page");
}

static void around_populate(struct __test_metadata *_metadata,
			    struct around *self,
			    const struct around_variant *variant)
{
	char *p;
	int i;

	self->fd = -1;
	self->reserve = MAP_FAILED;
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	if (read_text(AROUND_KNOB, self->knob, sizeof(self->knob))) {
		self->skip = "no " AROUND_KNOB " (debugfs)";
		return;
	}
	/*
	 * One CPU: a fault that moves between ->map_pages and ->fault loses
	 * its window (cowdev_vm.c), which would make the counts inexact.
	 */
	ASSERT_EQ(0, stay_on_this_cpu());
	if (variant->backing == MEMFD) {
		self->fd = memfd_create("around", 0);
	} else {
		self->fd = open(COWDEV_DEV, O_RDWR);
		ASSERT_GE(self->fd, 0);
		ASSERT_EQ(0, cowdev_fixture_mode(self->fd, variant->mode,
						 &self->skip));
		if (self->skip)
			return;
	}
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, resize(variant->backing, self->fd, self->len));
	/* Populate through a mapping of its own, then let it go. */
	p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < NPAGES; i++)
		memset(p + i * self->ps, stamp(i), self->ps);
	munmap(p, self->len);
	if (variant->backing == COWDEV) {
		ASSERT_EQ(0, cowdev_info(self->fd, &self->base));
		ASSERT_EQ(0, read_text(COWDEV_PARAMS "/fill_delay_us",
				       self->fill_delay,
				       sizeof(self->fill_delay)));
		/* faults_around() reads it. */
		ASSERT_EQ(0, access(COWDEV_DEBUGFS "/stats", R_OK));
	}
	self->around = faults_around(variant);
	self->reserve = mmap(NULL, 4 << 20, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->reserve);
}

static void around_release(struct around *self)
{
	if (self->knob[0])
		write_text(AROUND_KNOB, self->knob);
	if (self->fill_delay[0])
		write_text(COWDEV_PARAMS "/fill_delay_us", self->fill_delay);
	if (self->reserve != MAP_FAILED)
		munmap(self->reserve, 4 << 20);
	if (self->fd >= 0)
		close(self->fd);
}

FIXTURE_SETUP(around)
{
	around_populate(_metadata, &self->a, &variant->v);
}

FIXTURE_TEARDOWN(around)
{
	around_release(&self->a);
}

FIXTURE_SETUP(around_cowdev)
{
	around_populate(_metadata, &self->a, &variant->v);
}

FIXTURE_TEARDOWN(around_cowdev)
{
	around_release(&self->a);
}

/* The counters the tests look at, counted since the fixture populated. */
static void info_since(int fd, const struct cowdev_info *b,
		       struct cowdev_info *info)
{
	memset(info, 0xff, sizeof(*info));
	if (cowdev_info(fd, info))
		return;
	info->faults -= b->faults;
	info->read_faults -= b->read_faults;
	info->write_faults -= b->write_faults;
	info->cow_faults -= b->cow_faults;
	info->mkwrite -= b->mkwrite;
	info->pfn_mkwrite -= b->pfn_mkwrite;
	info->reuse -= b->reuse;
	info->copy -= b->copy;
	info->lock_waits -= b->lock_waits;
	info->faultaround_pages -= b->faultaround_pages;
}

/* Does debugfs say the core's copies are counted (core_copy)? */
static bool core_probe(void)
{
	char buf[4096];

	return !read_text(COWDEV_DEBUGFS "/stats", buf, sizeof(buf)) &&
	       strstr(buf, "core_probe available");
}

/* Set fault_around_bytes to @pages pages. */
static int set_window(long pages)
{
	char text[32];

	snprintf(text, sizeof(text), "%ld", pages * page_size());
	return write_text(AROUND_KNOB, text);
}

/* Map the object at a 2 MiB boundary inside the reservation. */
static char *map_aligned(char *reserve, size_t len, int flags, int fd)
{
	uintptr_t at = ((uintptr_t)reserve + (2 << 20) - 1) &
		       ~(uintptr_t)((2 << 20) - 1);

	return mmap((void *)at, len, PROT_READ | PROT_WRITE,
		    flags | MAP_FIXED, fd, 0);
}

/* Is the page at @p mapped by a present PTE? */
static bool present(const volatile char *p)
{
	return pagemap_entry(p) >> 63;
}

/* A bitmap of which of the first 64 pages at @p are present. */
static uint64_t present_map(const char *p, long ps)
{
	uint64_t map = 0;
	int i;

	for (i = 0; i < NPAGES; i++)
		if (present(p + i * ps))
			map |= 1ULL << i;
	return map;
}

/* The pages [first, last]. */
static uint64_t pages(int first, int last)
{
	return (last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1) &
	       ~((1ULL << first) - 1);
}

static bool page_is(const char *p, long ps, int i, char c)
{
	return all_bytes(p + i * ps, ps, c);
}

/*
 * Map the object at a 2 MiB boundary, with fault_around_bytes set to
 * @window pages; a failure fails the test.
 */
static char *map_window(struct __test_metadata *_metadata,
			const struct around *a, const struct around_variant *v,
			long window)
{
	char *p;

	/* The test skips: see AROUND_SKIP_UNLESS_READY(). */
	if (a->skip)
		return MAP_FAILED;
	p = map_aligned(a->reserve, a->len, v->flags, a->fd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, set_window(window));
	return p;
}

/*
 * A test whose fixture could not be set up here skips, in its body, since
 * 6.1's harness runs the body after a SKIP in the setup.  The tests map
 * their window among their declarations: map_window() maps nothing then.
 */
#define AROUND_SKIP_UNLESS_READY() do {					\
	if (self->a.skip)						\
		SKIP(return, "%s", self->a.skip);			\
} while (0)

/* One read maps the window around it: pages 0-15 with the default 64 KiB. */
TEST_F(around, one_read_maps_the_window)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	struct cowdev_info info;
	char *p = map_window(_metadata, a, v, 16);

	AROUND_SKIP_UNLESS_READY();
	EXPECT_EQ(stamp(5), p[5 * a->ps]);
	EXPECT_EQ(around ? pages(0, 15) : pages(5, 5), present_map(p, a->ps));
	if (v->backing == COWDEV) {
		info_since(a->fd, &a->base, &info);
		EXPECT_EQ(1, info.faults);
		EXPECT_EQ(1, info.read_faults);
		EXPECT_EQ(around ? 15 : 0, info.faultaround_pages);
		EXPECT_EQ(info.faultaround_pages,
			  object_stat(a->fd, "faultaround_pages") -
			  a->base.faultaround_pages);
	}
	munmap(p, a->len);
}

/* Re-reading a populated object: one fault per window, every byte right. */
TEST_F(around, reread_faults_once_per_window)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	struct cowdev_info info;
	char *p = map_window(_metadata, a, v, 16);
	int i;

	AROUND_SKIP_UNLESS_READY();
	for (i = 0; i < NPAGES; i++)
		ASSERT_TRUE(page_is(p, a->ps, i, stamp(i)));
	EXPECT_EQ(~0ULL, present_map(p, a->ps));
	if (v->backing == COWDEV) {
		info_since(a->fd, &a->base, &info);
		EXPECT_EQ(around ? NPAGES / 16 : NPAGES, info.faults);
		EXPECT_EQ(around ? NPAGES - NPAGES / 16 : 0,
			  info.faultaround_pages);
		EXPECT_EQ(NPAGES, info.resident_pages);
	}
	munmap(p, a->len);
}

/* The window follows the debugfs knob: a page disables fault-around. */
TEST_F(around, window_follows_the_knob)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	struct cowdev_info info;
	char *p = map_window(_metadata, a, v, 4);

	AROUND_SKIP_UNLESS_READY();
	EXPECT_EQ(stamp(5), p[5 * a->ps]);
	EXPECT_EQ(around ? pages(4, 7) : pages(5, 5), present_map(p, a->ps));
	ASSERT_EQ(0, set_window(1));
	EXPECT_EQ(stamp(21), p[21 * a->ps]);
	EXPECT_EQ((around ? pages(4, 7) : pages(5, 5)) | pages(21, 21),
		  present_map(p, a->ps));
	if (v->backing == COWDEV) {
		info_since(a->fd, &a->base, &info);
		EXPECT_EQ(2, info.faults);
		EXPECT_EQ(around ? 3 : 0, info.faultaround_pages);
	}
	munmap(p, a->len);
}

/* The window stops at the VMA: a mapping of pages 4-9 maps nothing else. */
TEST_F(around, window_stops_at_the_vma)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	char *p = map_window(_metadata, a, v, 16);
	char *q;

	AROUND_SKIP_UNLESS_READY();
	munmap(p, a->len);
	q = mmap(p + 4 * a->ps, 6 * a->ps, PROT_READ,
		 v->flags | MAP_FIXED, a->fd, 4 * a->ps);
	ASSERT_EQ(p + 4 * a->ps, q);
	EXPECT_EQ(stamp(6), q[2 * a->ps]);
	EXPECT_EQ(around ? pages(4, 9) : pages(6, 6), present_map(p, a->ps));
	munmap(q, 6 * a->ps);
}

/*
 * After fault-around every page is still read-only: each first write
 * faults, is decided on (reuse in a shared mapping, the core's copy in a
 * private one) and is counted once.
 */
TEST_F(around, writes_after_faultaround_count_once)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	struct cowdev_info info;
	char *p = map_window(_metadata, a, v, 16);
	char *s;
	int i;

	AROUND_SKIP_UNLESS_READY();
	EXPECT_EQ(stamp(0), p[0]);
	for (i = 0; i < 16; i++)
		p[i * a->ps] = 'w';
	if (v->backing == COWDEV) {
		info_since(a->fd, &a->base, &info);
		/* Without fault-around each write is a first touch. */
		EXPECT_EQ(around ? 1 : 16, info.faults);
		EXPECT_EQ(around ? 15 : 0, info.faultaround_pages);
		EXPECT_EQ(around ? 0 : 15, info.write_faults);
		if (v->flags == MAP_SHARED) {
			/* 16 write notifications, each a reuse. */
			EXPECT_EQ(16, info.mkwrite + info.pfn_mkwrite);
			EXPECT_EQ(16, info.reuse);
			EXPECT_EQ(0, info.copy);
		} else {
			/*
			 * Each write copied once: by the core from a present
			 * PTE (kprobe), or in do_cow_fault() from ->fault.
			 */
			EXPECT_EQ(0, info.mkwrite + info.pfn_mkwrite);
			EXPECT_EQ(0, info.reuse);
			EXPECT_EQ(around ? 0 : 15, info.cow_faults);
			if (core_probe())
				EXPECT_EQ(around ? 16 : 1,
					  object_stat(a->fd, "core_copy"));
		}
	}
	s = mmap(NULL, a->len, PROT_READ, MAP_SHARED, a->fd, 0);
	ASSERT_NE(MAP_FAILED, s);
	for (i = 0; i < 16; i++) {
		EXPECT_EQ('w', p[i * a->ps]);
		/* A private write stays in the process. */
		EXPECT_EQ(v->flags == MAP_SHARED ? 'w' : stamp(i),
			  s[i * a->ps]);
	}
	munmap(s, a->len);
	munmap(p, a->len);
}

/*
 * A fault that never took its window (here one past the end, SIGBUS) must
 * not lend it to a later fault at the same address that has none: a
 * one-page mapping there, read with fault-around off, maps its own page
 * and nothing in the anonymous memory around it.
 */
TEST_F(around, stale_window_stays_in_its_vma)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	char *p = map_window(_metadata, a, v, 16);
	char *q;
	int i;

	AROUND_SKIP_UNLESS_READY();
	ASSERT_EQ(0, resize(v->backing, a->fd, 10 * a->ps));
	EXPECT_TRUE(access_sigbus(p + 20 * a->ps, false));
	ASSERT_EQ(0, resize(v->backing, a->fd, a->len));
	/* The pages past 10 went: fill them again. */
	q = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 10; i < NPAGES; i++)
		memset(q + i * a->ps, stamp(i), a->ps);
	munmap(q, a->len);
	ASSERT_EQ(p, mmap(p, a->len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	q = mmap(p + 20 * a->ps, a->ps, PROT_READ, v->flags | MAP_FIXED,
		 a->fd, 20 * a->ps);
	ASSERT_EQ(p + 20 * a->ps, q);
	ASSERT_EQ(0, set_window(1));
	EXPECT_EQ(stamp(20), q[0]);
	for (i = 0; i < NPAGES; i++)
		if (i != 20)
			ASSERT_TRUE(page_is(p, a->ps, i, 0));
	munmap(p, a->len);
}

/* A punched hole stays a hole: not mapped by a neighbour, reads zero. */
TEST_F(around, punched_range_not_mapped)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	char *p = map_window(_metadata, a, v, 16);
	int i;

	AROUND_SKIP_UNLESS_READY();
	ASSERT_EQ(0, punch(v->backing, a->fd, 8 * a->ps, 4 * a->ps));
	EXPECT_EQ(stamp(0), p[0]);
	EXPECT_EQ(around ? pages(0, 7) | pages(12, 15) : pages(0, 0),
		  present_map(p, a->ps));
	for (i = 8; i < 12; i++)
		EXPECT_TRUE(page_is(p, a->ps, i, 0));
	munmap(p, a->len);
}

/* Past a shrink nothing is mapped, and an access gets SIGBUS. */
TEST_F(around, past_a_shrink_not_mapped)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	char *p = map_window(_metadata, a, v, 16);

	AROUND_SKIP_UNLESS_READY();
	ASSERT_EQ(0, resize(v->backing, a->fd, 10 * a->ps));
	EXPECT_EQ(stamp(0), p[0]);
	EXPECT_EQ(around ? pages(0, 9) : pages(0, 0), present_map(p, a->ps));
	EXPECT_TRUE(access_sigbus(p + 10 * a->ps, false));
	munmap(p, a->len);
}

/*
 * Poison page @i of @fd with MADV_HWPOISON, as a memory error would, from
 * a child that maps it read-only and private (which maps the object's own
 * page in every variant; GUP cannot take a pfn-mode special PTE).  The
 * child may be killed by the SIGBUS memory_failure() sends the task that
 * asked (7.x).  Returns 0 once the page is poisoned, or the errno that
 * says this kernel cannot poison it (EINVAL: no CONFIG_MEMORY_FAILURE).
 */
static int poison_page(int fd, long ps, int i)
{
	int status;
	pid_t pid = fork_child();

	if (pid == 0) {
		char *q = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, i * ps);

		if (q == MAP_FAILED || q[0] != stamp(i))
			_exit(100);
		/* An unhandlable page is poisoned, and says EBUSY. */
		if (madvise(q, ps, MADV_HWPOISON) && errno != EBUSY)
			_exit(errno);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return ECHILD;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		return 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
}

/*
 * A poisoned page is not mapped around, and a read of it through a fresh
 * mapping is SIGBUS, as for a shmem page; its neighbours read as before.
 * A cowdev page is one memory_failure() cannot unmap (no LRU, no mapping)
 * and leaves where it is: ->fault must refuse it rather than return it
 * locked, which made __do_fault() unmap it through a NULL mapping.
 */
TEST_F(around, poisoned_page_not_mapped)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	char *hold, *p;
	int err;

	AROUND_SKIP_UNLESS_READY();
	/* Page 3 stays mapped elsewhere, as it would be in another process. */
	hold = mmap(NULL, a->ps, PROT_READ, MAP_PRIVATE, a->fd, 3 * a->ps);
	ASSERT_NE(MAP_FAILED, hold);
	ASSERT_EQ(stamp(3), hold[0]);
	err = poison_page(a->fd, a->ps, 3);
	if (err == EINVAL || err == EPERM) {
		munmap(hold, a->ps);
		SKIP(return, "MADV_HWPOISON: %s", strerror(err));
	}
	ASSERT_EQ(0, err);
	p = map_window(_metadata, a, v, 16);
	EXPECT_EQ(stamp(0), p[0]);
	EXPECT_EQ(around ? pages(0, 15) & ~pages(3, 3) : pages(0, 0),
		  present_map(p, a->ps));
	EXPECT_TRUE(access_sigbus(p + 3 * a->ps, false));
	EXPECT_TRUE(page_is(p, a->ps, 2, stamp(2)));
	EXPECT_TRUE(page_is(p, a->ps, 4, stamp(4)));
	munmap(p, a->len);
	munmap(hold, a->ps);
}

/*
 * A write through a PTE that mapped a page before it was poisoned is
 * SIGBUS, as memfd's is: memory_failure() unmaps a shmem page, and leaves
 * a cowdev page mapped, read-only, where the write reaches ->page_mkwrite
 * or ->pfn_mkwrite, which refuse it rather than make the page writable or
 * copy it.  A private mapping's copy is the core's (wp_page_copy()), out
 * of the device's reach: shared mappings only.
 */
TEST_F(around, write_to_mapped_poisoned_page)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	char *p = map_window(_metadata, a, v, 16);
	int err;

	AROUND_SKIP_UNLESS_READY();
	if (v->flags != MAP_SHARED) {
		munmap(p, a->len);
		SKIP(return, "a private mapping's copy is the core's");
	}
	ASSERT_EQ(stamp(3), p[3 * a->ps]);
	err = poison_page(a->fd, a->ps, 3);
	if (err == EINVAL || err == EPERM) {
		munmap(p, a->len);
		SKIP(return, "MADV_HWPOISON: %s", strerror(err));
	}
	ASSERT_EQ(0, err);
	EXPECT_TRUE(access_sigbus(p + 3 * a->ps, true));
	EXPECT_EQ(BUS_MCEERR_AR, cowdev_sigbus_code);
	EXPECT_TRUE(page_is(p, a->ps, 4, stamp(4)));
	p[4 * a->ps] = '!';
	EXPECT_EQ('!', p[4 * a->ps]);
	munmap(p, a->len);
}

/*
 * A page whose lock someone holds (here a fill, standing for I/O; a copy,
 * a clone or a truncation hold it the same way) is not mapped around: a
 * child's read of a fresh page 7 holds its lock for FILL_DELAY_US while we
 * read page 6 in our own mapping.
 */
TEST_F(around_cowdev, locked_page_not_mapped)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	bool around = a->around;
	struct cowdev_info info;
	char *p = map_window(_metadata, a, v, 16);
	char delay[32], done;
	int pipefd[2];
	pid_t pid;
	long i;

	AROUND_SKIP_UNLESS_READY();
	ASSERT_EQ(0, punch(v->backing, a->fd, 7 * a->ps, a->ps));
	snprintf(delay, sizeof(delay), "%d", FILL_DELAY_US);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", delay));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		done = p[7 * a->ps];
		_exit(write(pipefd[1], &done, 1) != 1);
	}
	/* The child's page is indexed, and locked, before its fill. */
	for (i = 0; ; i++) {
		info_since(a->fd, &a->base, &info);
		if (info.resident_pages >= NPAGES)
			break;
		ASSERT_LT(i, 10000000) {
			TH_LOG("the child's page never appeared");
		}
		sched_yield();
	}
	EXPECT_EQ(stamp(6), p[6 * a->ps]);
	EXPECT_EQ(around ? pages(0, 6) | pages(8, 15) : pages(6, 6),
		  present_map(p, a->ps));
	/* Only meaningful if the child was still filling: it must be. */
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	ASSERT_EQ(-1, read(pipefd[0], &done, 1)) {
		TH_LOG("the fill ended before the check; raise FILL_DELAY_US");
	}
	info_since(a->fd, &a->base, &info);
	EXPECT_EQ(around ? 14 : 0, info.faultaround_pages);
	EXPECT_EQ(0, info.lock_waits);
	/* The page works once filled. */
	EXPECT_EQ(0, p[7 * a->ps]);
	EXPECT_EQ(pid, waitpid(pid, NULL, 0));
	close(pipefd[0]);
	close(pipefd[1]);
	munmap(p, a->len);
}

/* A clone taken after fault-around is an exact snapshot. */
TEST_F(around_cowdev, clone_after_faultaround_is_a_snapshot)
{
	struct around *a = &self->a;
	const struct around_variant *v = &variant->v;
	struct cowdev_info info;
	char *p = map_window(_metadata, a, v, 16);
	char *c;
	int cfd, i;

	AROUND_SKIP_UNLESS_READY();
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(stamp(i), p[i * a->ps]);
	cfd = ioctl(a->fd, COWDEV_IOC_CLONE, 0);
	ASSERT_GE(cfd, 0);
	for (i = 0; i < NPAGES; i++)
		p[i * a->ps] = 'x';
	c = mmap(NULL, a->len, PROT_READ, MAP_SHARED, cfd, 0);
	ASSERT_NE(MAP_FAILED, c);
	for (i = 0; i < NPAGES; i++) {
		ASSERT_TRUE(page_is(c, a->ps, i, stamp(i)));
		ASSERT_EQ('x', p[i * a->ps]);
	}
	info_since(a->fd, &a->base, &info);
	EXPECT_EQ(v->flags == MAP_SHARED ? NPAGES : 0, info.copy);
	EXPECT_EQ(0, info.reuse);
	munmap(c, a->len);
	close(cfd);
	munmap(p, a->len);
}

TEST_HARNESS_MAIN
