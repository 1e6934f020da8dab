// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev wait tests: page-lock waits behind a slow fill, stable pages under
 * writeback, hole punching that waits for writeback, wakeups that are never
 * lost, and the tracepoints that show it all.
 *
 * The delays here are the behaviour under test (a fill or a writeback that
 * lasts so long), never a way to wait for another thread.
 */
#include <pthread.h>
#include <time.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define DELAY_US 200000		/* fill and writeback delay under test */
/*
 * The writeback ends from a jiffies timer, and under TCG the guest's jiffies
 * and CLOCK_MONOTONIC drift apart by a few milliseconds: a wait "of the
 * delay" is one of at least 90% of it, measured from user space.
 */
#define MIN_WAIT_US (DELAY_US * 9 / 10)
#define TRACEFS "/sys/kernel/tracing"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static int writeback(int fd, uint64_t flags, uint64_t delay_us, uint64_t *pages)
{
	struct cowdev_writeback wb = { .flags = flags, .delay_us = delay_us };

	if (ioctl(fd, COWDEV_IOC_WRITEBACK, &wb))
		return -errno;
	if (pages)
		*pages = wb.pages;
	return 0;
}

FIXTURE(waits)
{
	int fd;
	long ps;
	char *p;
	size_t len;
};

FIXTURE_SETUP(waits)
{
	self->ps = page_size();
	self->len = 16 * self->ps;
	self->fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0);
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(waits)
{
	write_text(COWDEV_PARAMS "/fill_delay_us", "0");
	munmap(self->p, self->len);
	close(self->fd);
}

struct toucher {
	volatile char *p;
	pthread_barrier_t *barrier;
	bool write;
};

static void *touch_thread(void *arg)
{
	struct toucher *t = arg;

	pthread_barrier_wait(t->barrier);
	if (t->write)
		*t->p = 'w';
	else
		(void)*t->p;
	return NULL;
}

/* Two threads fault the same fresh page; one fills it, one waits. */
static void two_faulters(volatile char *p, bool write)
{
	pthread_barrier_t barrier;
	pthread_t th[2];
	struct toucher t[2];
	int i;

	pthread_barrier_init(&barrier, NULL, 2);
	for (i = 0; i < 2; i++) {
		t[i] = (struct toucher){ p, &barrier, write };
		pthread_create(&th[i], NULL, touch_thread, &t[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
}

TEST_F(waits, fill_delay_one_lock_wait)
{
	struct cowdev_info info;
	char delay[32];

	snprintf(delay, sizeof(delay), "%d", DELAY_US);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", delay));
	two_faulters(self->p, false);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.resident_pages);
	EXPECT_EQ(2, info.faults);
	EXPECT_EQ(1, info.lock_waits);
	EXPECT_EQ(0, info.writeback_waits);
	/* The waiter slept for most of the fill. */
	EXPECT_LE(DELAY_US / 2 * 1000LL, object_stat(self->fd, "wait_ns_max"));
	EXPECT_LE(object_stat(self->fd, "wait_ns_max"),
		  object_stat(self->fd, "wait_ns_total"));
}

TEST_F(waits, write_during_writeback_waits_then_dirties)
{
	struct cowdev_info info;
	uint64_t pages = ~0ULL, start;

	memset(self->p, 'a', 4 * self->ps);
	start = now_us();
	ASSERT_EQ(0, writeback(self->fd, 0, DELAY_US, &pages));
	EXPECT_EQ(4, pages);
	self->p[0] = 'b';			/* stable page: waits */
	EXPECT_LE(MIN_WAIT_US, now_us() - start);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.writeback_waits);
	EXPECT_EQ('b', self->p[0]);
	/* The write dirtied the page again: the next writeback takes it. */
	ASSERT_EQ(0, writeback(self->fd, COWDEV_WRITEBACK_WAIT, 0, &pages));
	EXPECT_EQ(1, pages);
	ASSERT_EQ(0, writeback(self->fd, COWDEV_WRITEBACK_WAIT, 0, &pages));
	EXPECT_EQ(0, pages);
}

TEST_F(waits, writeback_wait_flag_returns_after_completion)
{
	struct cowdev_info info;
	uint64_t pages = ~0ULL, start;

	memset(self->p, 'a', 2 * self->ps);
	start = now_us();
	ASSERT_EQ(0, writeback(self->fd, COWDEV_WRITEBACK_WAIT, DELAY_US, &pages));
	EXPECT_LE(MIN_WAIT_US, now_us() - start);
	EXPECT_EQ(2, pages);
	self->p[0] = 'b';			/* the writeback is over */
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(0, info.writeback_waits);
}

TEST_F(waits, punch_during_writeback_waits_then_frees)
{
	struct cowdev_info info;
	uint64_t start;

	memset(self->p, 'a', 2 * self->ps);
	start = now_us();
	ASSERT_EQ(0, writeback(self->fd, 0, DELAY_US, NULL));
	ASSERT_EQ(0, cowdev_punch(self->fd, 0, self->ps));
	EXPECT_LE(MIN_WAIT_US, now_us() - start);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(1, info.writeback_waits);
	EXPECT_EQ(1, info.resident_pages);
	EXPECT_EQ(0, self->p[0]);
	EXPECT_EQ('a', self->p[self->ps]);
}

struct page_writer {
	volatile char *p;
	long ps;
	int first, count;
	char val;
	pthread_barrier_t *barrier;
};

static void *page_writer_thread(void *arg)
{
	struct page_writer *w = arg;
	int i;

	pthread_barrier_wait(w->barrier);
	for (i = 0; i < w->count; i++)
		w->p[(w->first + i) * w->ps] = w->val;
	return NULL;
}

/*
 * Many threads on many pages under writeback: every one of them wakes.
 * The writes must start while the writeback lasts; where starting twelve
 * threads took longer than that (a debug kernel on a busy host), the run
 * proves nothing, and it is tried again with a writeback four times as long.
 */
TEST_F(waits, many_waiters_all_wake)
{
	enum { THREADS = 12 };
	struct page_writer w[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t barrier;
	struct cowdev_info info, before;
	uint64_t delay, start, started;
	int i;

	for (delay = DELAY_US; delay <= 16 * DELAY_US; delay *= 4) {
		ASSERT_EQ(0, cowdev_info(self->fd, &before));
		memset(self->p, 'a', self->len);
		start = now_us();
		ASSERT_EQ(0, writeback(self->fd, 0, delay, NULL));
		pthread_barrier_init(&barrier, NULL, THREADS + 1);
		for (i = 0; i < THREADS; i++) {
			/* Half the threads share page 0, half own two each. */
			w[i] = (struct page_writer){ self->p, self->ps,
				i < THREADS / 2 ? 0 : 2 * (i - THREADS / 2) + 1,
				i < THREADS / 2 ? 1 : 2, 'w', &barrier };
			ASSERT_EQ(0, pthread_create(&th[i], NULL,
						    page_writer_thread, &w[i]));
		}
		pthread_barrier_wait(&barrier);
		started = now_us() - start;
		for (i = 0; i < THREADS; i++)
			ASSERT_EQ(0, pthread_join(th[i], NULL));
		pthread_barrier_destroy(&barrier);
		/* Let the writeback end before the next round or teardown. */
		ASSERT_EQ(0, writeback(self->fd, COWDEV_WRITEBACK_WAIT, 0, NULL));
		if (started < delay / 2)
			break;
		TH_LOG("threads started after %llu us of a %llu us writeback",
		       (unsigned long long)started, (unsigned long long)delay);
	}
	ASSERT_LE(delay, 16 * DELAY_US);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	/* At least page 0 and each thread's first page were waited for. */
	EXPECT_LE(1 + THREADS / 2, info.writeback_waits - before.writeback_waits);
	EXPECT_EQ('w', self->p[0]);
	for (i = 1; i <= THREADS; i++)
		EXPECT_EQ('w', self->p[i * self->ps]);
}

/*
 * pfn mode, both write paths meet a writeback: a first-touch write (the
 * writeback unmapped the page) waits in ->fault; a write after a read,
 * whose ->pfn_mkwrite finds the page under writeback, unmaps it and
 * refaults into ->fault, which waits.  Each write lands, seen through a
 * second mapping.
 */
TEST_F(waits, pfn_mode_write_waits_for_writeback)
{
	struct cowdev_info info;
	uint64_t start;
	char *q, *r;
	int fd = open(COWDEV_DEV, O_RDWR), ret;

	ASSERT_GE(fd, 0);
	ret = cowdev_set_mode(fd, COWDEV_MODE_PFN);
	if (cowdev_no_pfn_mode(COWDEV_MODE_PFN, ret)) {
		close(fd);
		SKIP(return, COWDEV_NO_PFN_MODE);
	}
	ASSERT_EQ(0, ret);
	q = mmap(NULL, self->ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = mmap(NULL, self->ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_NE(MAP_FAILED, r);
	q[0] = 'a';

	start = now_us();
	ASSERT_EQ(0, writeback(fd, 0, DELAY_US, NULL));
	q[0] = 'b';
	EXPECT_LE(MIN_WAIT_US, now_us() - start);
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(1, info.writeback_waits);
	EXPECT_EQ(0, info.pfn_mkwrite);
	EXPECT_EQ('b', r[0]);

	start = now_us();
	ASSERT_EQ(0, writeback(fd, 0, DELAY_US, NULL));
	EXPECT_EQ('b', q[0]);		/* a read does not wait */
	q[0] = 'c';
	EXPECT_LE(MIN_WAIT_US, now_us() - start);
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(2, info.writeback_waits);
	EXPECT_EQ(1, info.pfn_mkwrite);
	EXPECT_EQ(0, info.mkwrite);
	EXPECT_EQ('c', r[0]);
	munmap(r, self->ps);
	munmap(q, self->ps);
	close(fd);
}

/* Closing an object ends its writeback at once: no wait is endless. */
TEST(close_with_writeback_pending_ends_it)
{
	uint64_t start;
	char *p;
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 'a';
	ASSERT_EQ(0, writeback(fd, 0, COWDEV_MAX_WRITEBACK_DELAY_US, NULL));
	/* The module stays while the object does. */
	EXPECT_EQ(-EWOULDBLOCK, delete_module("cowdev", O_NONBLOCK));
	start = now_us();
	munmap(p, page_size());
	close(fd);
	EXPECT_GT(COWDEV_MAX_WRITEBACK_DELAY_US / 2, now_us() - start);
	EXPECT_EQ(0, global_stat("pool_in_use"));
}

static int tracefs_write(const char *file, const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	return write_text(path, text);
}

static char *read_trace(void)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	int fd = open(TRACEFS "/trace", O_RDONLY);
	ssize_t n;

	if (!buf || fd < 0) {
		free(buf);
		return NULL;
	}
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* Each event is in the trace with this object's id and these offsets. */
TEST_F(waits, tracepoints_match_object_and_offsets)
{
	struct cowdev_info info;
	char delay[32], want[128], *trace;
	static const char *const events[] = {
		"cowdev_wait_start: obj=%llu pgoff=3 bit=locked",
		"cowdev_wait_end: obj=%llu pgoff=3 bit=locked ns=",
		"cowdev_wake: obj=%llu pgoff=3 bit=locked",
		"cowdev_fault: obj=%llu pgoff=3 ",
		"cowdev_wait_start: obj=%llu pgoff=5 bit=writeback",
		"cowdev_wait_end: obj=%llu pgoff=5 bit=writeback ns=",
		"cowdev_wake: obj=%llu pgoff=5 bit=writeback",
		"cowdev_mkwrite: obj=%llu pgoff=5 via=page_mkwrite",
		"cowdev_reuse: obj=%llu pgoff=5",
	};
	int i;

	if (access(TRACEFS "/events/cowdev/enable", W_OK))
		SKIP(return, "no tracefs or no cowdev events");
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	ASSERT_EQ(0, tracefs_write("trace", ""));
	ASSERT_EQ(0, tracefs_write("events/cowdev/enable", "1"));

	snprintf(delay, sizeof(delay), "%d", DELAY_US);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", delay));
	two_faulters(self->p + 3 * self->ps, false);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "0"));
	self->p[5 * self->ps] = 'a';
	ASSERT_EQ(0, writeback(self->fd, 0, DELAY_US, NULL));
	self->p[5 * self->ps] = 'b';

	ASSERT_EQ(0, tracefs_write("events/cowdev/enable", "0"));
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		snprintf(want, sizeof(want), events[i],
			 (unsigned long long)info.id);
		EXPECT_NE(NULL, strstr(trace, want)) TH_LOG("missing: %s", want);
	}
	EXPECT_EQ(NULL, strstr(trace, "ffff")) TH_LOG("a kernel address leaked");
	free(trace);
	tracefs_write("trace", "");
}

TEST(writeback_bad_arguments)
{
	struct cowdev_writeback wb = { 0 };
	int fd = open(COWDEV_DEV, O_RDWR), ro = open(COWDEV_DEV, O_RDONLY);

	ASSERT_GE(fd, 0);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(-EINVAL, writeback(fd, 2, 0, NULL));
	EXPECT_EQ(-EINVAL, writeback(fd, 0, COWDEV_MAX_WRITEBACK_DELAY_US + 1, NULL));
	wb.reserved[4] = 1;
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_WRITEBACK, &wb));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_WRITEBACK, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-EBADF, writeback(ro, 0, 0, NULL));
	close(ro);
	close(fd);
}

TEST(punch_hole_bad_arguments)
{
	int fd = open(COWDEV_DEV, O_RDWR), ro = open(COWDEV_DEV, O_RDONLY);
	long ps = page_size();

	ASSERT_GE(fd, 0);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(-EINVAL, cowdev_punch(fd, 1, ps));
	EXPECT_EQ(-EINVAL, cowdev_punch(fd, 0, ps + 1));
	EXPECT_EQ(-EINVAL, cowdev_punch(fd, 0, 0));
	EXPECT_EQ(-EINVAL, cowdev_punch(fd, ps, UINT64_MAX - ps + 1));
	EXPECT_EQ(-EINVAL, cowdev_punch(fd, COWDEV_MAX_SIZE, ps));
	EXPECT_EQ(0, cowdev_punch(fd, 0, COWDEV_MAX_SIZE));	/* past the end: fine */
	EXPECT_EQ(-EBADF, cowdev_punch(ro, 0, ps));
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_PUNCH_HOLE, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	close(ro);
	close(fd);
}

/* vfs_fallocate() refuses character devices before any driver sees it. */
TEST(fallocate_on_the_device_enodev)
{
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				0, page_size()));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
}

TEST_HARNESS_MAIN
