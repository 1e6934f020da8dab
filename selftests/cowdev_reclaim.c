// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev reclaim tests: an object with a backing store is not bounded by
 * the pool.  At pool_limit_pages a fault waits for the reclaimer to evict
 * pages and goes on; under memory pressure the shrinker has it evict.
 * Nothing is lost either way, which each test checks byte for byte
 * against a memfd written alike; and what must stay in memory (pages
 * clones share) stays.
 */
#include <dirent.h>
#include <sched.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define LIMIT 256	/* pool_limit_pages for these tests */

static bool have_disk(void)
{
	return getenv("COWDEV_DIRECT_DIR");
}

/* A store: a file on the guest's disk, or a memfd (tmpfs). */
static int open_store(bool disk)
{
	return disk ? open_disk_store() : memfd_create("cowdev-store", 0);
}

/* An object of @npages in @mode with a store; or -1. */
static int open_backed(long npages, enum cowdev_mode mode, bool disk,
		       int *store)
{
	int fd = open(COWDEV_DEV, O_RDWR), ret = -1;

	*store = -1;
	if (fd < 0 || cowdev_set_size(fd, npages * page_size()))
		goto fail;
	ret = cowdev_set_mode(fd, mode);
	if (ret)
		goto fail;
	*store = open_store(disk);
	if (*store < 0 || ioctl(fd, COWDEV_IOC_SET_BACKING, *store))
		goto fail;
	return fd;
fail:
	if (*store >= 0)
		close(*store);
	if (fd >= 0)
		close(fd);
	return cowdev_no_pfn_mode(mode, ret) ? -EOPNOTSUPP : -1;
}

/* A new page-mode object with a store, mapped shared; MAP_FAILED if not. */
static char *map_backed(long npages, int *fd, int *store)
{
	*fd = open_backed(npages, COWDEV_MODE_PAGE, have_disk(), store);
	if (*fd < 0)
		return MAP_FAILED;
	return mmap(NULL, npages * page_size(), PROT_READ | PROT_WRITE,
		    MAP_SHARED, *fd, 0);
}

/* Fill page @i of @p with a byte that says which page and which round. */
static void stamp_page(char *p, long i, int round)
{
	memset(p + i * page_size(), (int)(i * 7 + round * 13) | 1,
	       page_size());
}

/* map_backed() of @npages, each stamped for @round; MAP_FAILED if not. */
static char *map_stamped(long npages, int round, int *fd, int *store)
{
	char *p = map_backed(npages, fd, store);
	long i;

	if (p != MAP_FAILED)
		for (i = 0; i < npages; i++)
			stamp_page(p, i, round);
	return p;
}

static bool same_page(const char *a, const char *b, long i)
{
	return !memcmp(a + i * page_size(), b + i * page_size(), page_size());
}

/* Is page @i of @p as stamp_page(@p, @i, @round) left it? */
static bool page_stamped(const char *p, long i, int round)
{
	return all_bytes(p + i * page_size(), page_size(),
			 (char)((i * 7 + round * 13) | 1));
}

/* Does a PTE map the page at @addr?  (/proc/self/pagemap, bit 63.) */
static bool page_present(const void *addr)
{
	return pagemap_entry(addr) >> 63;
}

/* Pages the kernel's reclaim has scanned since boot. */
static long long pages_scanned(void)
{
	return read_stat("/proc/vmstat", "pgscan_kswapd") +
	       read_stat("/proc/vmstat", "pgscan_direct");
}

/*
 * Memory pressure from another process, forked before the test opens
 * anything (a child would keep the objects it inherited alive): once
 * told to go, anonymous memory, 4 MiB at a time, until the kernel starts
 * to reclaim (its pgscan counters move) or what it says is available is
 * down to 128 MiB; then, 64 MiB given back so that the test has room to
 * work, the rest touched again and again until it is killed.  The guest
 * has no swap, and a debug kernel's own allocations grow under the test:
 * pressing further brought the OOM killer, which took the test too.  (If
 * it comes all the same, it takes this process, which says so with
 * oom_score_adj.)
 */
struct pressure {
	pid_t pid;
	int go;		/* written to start it */
	int ready;	/* it writes a byte here once it is pressing */
};

static void pressure_child(int go, int ready)
{
	size_t len = 0, max = (size_t)64 << 30, chunk = 4 << 20, off;
	long long scanned;
	char c = 0;
	char *p;

	if (write_text("/proc/self/oom_score_adj", "1000") ||
	    read(go, &c, 1) != 1)
		_exit(1);
	scanned = pages_scanned();
	p = mmap(NULL, max, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	while (pages_scanned() == scanned && len < max &&
	       read_stat("/proc/meminfo", "MemAvailable:") > 128 << 10) {
		memset(p + len, 1, chunk);
		len += chunk;
	}
	/* At the watermarks, not past them: room for the test. */
	len = len > 16 * chunk ? len - 16 * chunk : 0;
	munmap(p + len, max - len);
	if (write(ready, &c, 1) != 1)
		_exit(1);
	for (;;)
		for (off = 0; off < len; off += page_size())
			p[off]++;
}

static int pressure_fork(struct pressure *pr)
{
	int go[2], ready[2];

	if (pipe(go))
		return -1;
	if (pipe(ready)) {
		close(go[0]);
		close(go[1]);
		return -1;
	}
	pr->pid = fork_child();
	if (pr->pid == 0) {
		close(go[1]);
		close(ready[0]);
		pressure_child(go[0], ready[1]);
	}
	close(go[0]);
	close(ready[1]);
	pr->go = go[1];
	pr->ready = ready[0];
	return pr->pid < 0 ? -1 : 0;
}

/* Start it; false if it died before it pressed, other than by OOM. */
static bool pressure_start(struct pressure *pr)
{
	int status;
	char c = 0;

	if (write(pr->go, &c, 1) != 1)
		return false;
	if (read(pr->ready, &c, 1) == 1)
		return true;
	waitpid(pr->pid, &status, 0);
	pr->pid = 0;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static void pressure_stop(struct pressure *pr)
{
	if (pr->pid > 0) {
		kill(pr->pid, SIGKILL);
		waitpid(pr->pid, NULL, 0);
	}
	close(pr->go);
	close(pr->ready);
}

/*
 * Save pool_limit_pages in @saved (32 bytes) and set it to LIMIT; true if
 * done, with the pool empty, as each test starts.
 */
static bool limit_pool(char *saved)
{
	char limit[32];

	snprintf(limit, sizeof(limit), "%d", LIMIT);
	return !read_text(COWDEV_PARAMS "/pool_limit_pages", saved, 32) &&
	       !global_stat("pool_in_use") &&
	       !write_text(COWDEV_PARAMS "/pool_limit_pages", limit);
}

FIXTURE(reclaim)
{
	char saved_limit[32];
	struct pressure pressure;
};

FIXTURE_VARIANT(reclaim)
{
	enum cowdev_mode mode;
	bool private;
	bool disk;
	bool pressure;
};

FIXTURE_VARIANT_ADD(reclaim, page_shared)
{
	.mode = COWDEV_MODE_PAGE, .disk = true,
};

FIXTURE_VARIANT_ADD(reclaim, page_private)
{
	.mode = COWDEV_MODE_PAGE, .private = true, .disk = true,
};

FIXTURE_VARIANT_ADD(reclaim, pfn_shared)
{
	.mode = COWDEV_MODE_PFN, .disk = true,
};

FIXTURE_VARIANT_ADD(reclaim, pfn_private)
{
	.mode = COWDEV_MODE_PFN, .private = true, .disk = true,
};

FIXTURE_VARIANT_ADD(reclaim, page_shared_tmpfs)
{
	.mode = COWDEV_MODE_PAGE,
};

FIXTURE_VARIANT_ADD(reclaim, page_shared_pressure)
{
	.mode = COWDEV_MODE_PAGE, .disk = true, .pressure = true,
};

FIXTURE_VARIANT_ADD(reclaim, pfn_private_pressure)
{
	.mode = COWDEV_MODE_PFN, .private = true, .disk = true,
	.pressure = true,
};

FIXTURE_SETUP(reclaim)
{
	self->pressure.pid = -1;
	ASSERT_TRUE(limit_pool(self->saved_limit));
	ASSERT_EQ(0, write_text(COWDEV_DEBUGFS "/stats", "reset"));
	if (variant->pressure)
		ASSERT_EQ(0, pressure_fork(&self->pressure));
}

FIXTURE_TEARDOWN(reclaim)
{
	if (self->pressure.pid >= 0)
		pressure_stop(&self->pressure);
	write_text(COWDEV_PARAMS "/pool_limit_pages", self->saved_limit);
}

/*
 * An object four times the pool's limit is written in full, read back in
 * full and written and read again: each fault past the limit waits for
 * the reclaimer, nothing is lost, no fault gets SIGBUS, and the pool never
 * holds more than its limit.
 */
/* A debug kernel under TCG takes more than the harness's default 30 s. */
TEST_F_TIMEOUT(reclaim, four_times_the_limit, 300)
{
	long i, npages = 4 * LIMIT, ps = page_size();
	size_t len = npages * ps;
	long long fails = global_stat("alloc_fail");
	int fd, ref, store, round;
	char *w, *r, *m;

	if (variant->disk && !have_disk())
		SKIP(return, "no disk in this guest (COWDEV_DIRECT_DIR)");
	fd = open_backed(npages, variant->mode, variant->disk, &store);
	if (fd == -EOPNOTSUPP)
		SKIP(return, COWDEV_NO_PFN_MODE);
	ASSERT_LE(0, fd);
	ref = memfd_create("reference", 0);
	ASSERT_LE(0, ref);
	ASSERT_EQ(0, ftruncate(ref, len));
	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ref, 0);
	ASSERT_NE(MAP_FAILED, w);
	ASSERT_NE(MAP_FAILED, m);
	/* Once the object has pages, for the shrinker to have some to ask. */
	if (variant->pressure) {
		touch_pages(w, LIMIT * ps, false, 0);
		ASSERT_TRUE(pressure_start(&self->pressure));
	}

	for (round = 0; round < 2; round++) {
		for (i = 0; i < npages; i++) {
			stamp_page(w, i, round);
			stamp_page(m, i, round);
		}
		r = variant->private ?
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) :
		    w;
		ASSERT_NE(MAP_FAILED, r);
		/*
		 * The second round reads back without readahead: no page
		 * ahead of the reader for the clock to find unreferenced.
		 */
		ASSERT_EQ(0, madvise(r, len, round ? MADV_RANDOM : MADV_NORMAL));
		for (i = 0; i < npages; i++)
			ASSERT_TRUE(same_page(r, m, i)) TH_LOG("page %ld", i);
		if (!variant->private)
			continue;
		/* Private writes are the process's own: not the object's. */
		for (i = 0; i < npages; i += 8)
			r[i * ps] ^= 0x55;
		for (i = 0; i < npages; i++) {
			ASSERT_TRUE(same_page(w, m, i)) TH_LOG("page %ld", i);
			EXPECT_EQ(m[i * ps] ^ (i % 8 ? 0 : 0x55), r[i * ps]);
		}
		munmap(r, len);
	}
	EXPECT_EQ(fails, global_stat("alloc_fail"));
	/* 8 * LIMIT pages were made or read back; at most LIMIT fit. */
	EXPECT_LE(3 * LIMIT, object_stat(fd, "reclaimed"));
	EXPECT_LT(0, global_stat("reclaim_passes"));
	/*
	 * Whether the kernel's reclaim got as far as cowdev's shrinker is
	 * its call (a shrinker of a few hundred pages is scanned only at low
	 * priorities): shrinker_evicts makes sure of that with drop_caches.
	 */
	if (variant->pressure)
		TH_LOG("shrinker asked for %lld pages",
		       global_stat("reclaim_asked"));
	munmap(w, len);
	munmap(m, len);
	close(ref);
	close(store);
	close(fd);
}

/* Tests of the pool at LIMIT pages, without a variant's dimensions. */
FIXTURE(limit)
{
	char saved_limit[32];
};

FIXTURE_SETUP(limit)
{
	ASSERT_TRUE(limit_pool(self->saved_limit));
}

FIXTURE_TEARDOWN(limit)
{
	write_text(COWDEV_PARAMS "/pool_limit_pages", self->saved_limit);
}

/*
 * The pool is shared: an object without a store, at the limit, takes the
 * room an object with a store gives up, and the latter loses nothing.
 */
TEST_F(limit, storeless_object_takes_room)
{
	long i, ps = page_size();
	size_t len = LIMIT * ps;
	int backed, plain, store;
	char *b, *p;

	b = map_stamped(LIMIT, 0, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);

	plain = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, plain);
	ASSERT_EQ(0, cowdev_set_size(plain, len));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, plain, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < LIMIT / 2; i++)
		ASSERT_FALSE(access_sigbus(p + i * ps, true)) TH_LOG("page %ld", i);
	EXPECT_LE(LIMIT / 2, object_stat(backed, "reclaimed"));

	/*
	 * And the rest, until the pool is all its own, and pages of an
	 * object without a store never leave: the first object's evicted
	 * page has nowhere to come back to.
	 */
	for (i = LIMIT / 2; i < LIMIT; i++)
		EXPECT_FALSE(access_sigbus(p + i * ps, true)) TH_LOG("page %ld", i);
	EXPECT_TRUE(access_sigbus(b, false));
	munmap(p, len);
	close(plain);

	/* Its pages free, the first object reads back every byte. */
	for (i = 0; i < LIMIT; i++)
		ASSERT_TRUE(page_stamped(b, i, 0)) TH_LOG("page %ld", i);
	munmap(b, len);
	close(store);
	close(backed);
}

/*
 * Pages clones share stay in memory (each sharer would read its own copy
 * back): another object's faults at the limit evict its own pages, and
 * the sharers keep theirs, byte for byte.
 */
TEST_F(limit, shared_pages_stay)
{
	long i, ps = page_size(), shared = LIMIT / 2, npages = 2 * LIMIT;
	int src, clone, other, s1, s2;
	char *a, *c, *o;

	a = map_backed(shared, &src, &s1);
	ASSERT_NE(MAP_FAILED, a);
	for (i = 0; i < shared; i++)
		stamp_page(a, i, 0);
	clone = ioctl(src, COWDEV_IOC_CLONE, 0);
	ASSERT_LE(0, clone);
	touch_pages(a, shared * ps, false, 0);	/* mapped again, read-only */
	c = mmap(NULL, shared * ps, PROT_READ, MAP_SHARED, clone, 0);
	ASSERT_NE(MAP_FAILED, c);

	o = map_backed(npages, &other, &s2);
	ASSERT_NE(MAP_FAILED, o);
	for (i = 0; i < npages; i++)
		stamp_page(o, i, 1);
	for (i = 0; i < npages; i++)
		ASSERT_TRUE(page_stamped(o, i, 1)) TH_LOG("page %ld", i);
	/* Left where they were, mapped too: never unmapped to no end. */
	EXPECT_EQ(0, object_stat(src, "evictions"));
	for (i = 0; i < shared; i++)
		EXPECT_TRUE(page_present(a + i * ps)) TH_LOG("page %ld", i);
	EXPECT_LE(npages - (LIMIT - shared), object_stat(other, "reclaimed"));
	for (i = 0; i < shared; i++) {
		EXPECT_TRUE(page_stamped(a, i, 0)) TH_LOG("page %ld", i);
		EXPECT_TRUE(page_stamped(c, i, 0)) TH_LOG("page %ld", i);
	}
	munmap(o, npages * ps);
	munmap(c, shared * ps);
	munmap(a, shared * ps);
	close(other);
	close(clone);
	close(src);
	close(s1);
	close(s2);
}

/* Fault @n pages of a new object without a store in; true if none SIGBUS. */
static bool fill_storeless(long n, int *fd, char **p)
{
	long i;

	*p = MAP_FAILED;
	*fd = open(COWDEV_DEV, O_RDWR);
	if (*fd < 0 || cowdev_set_size(*fd, n * page_size()))
		return false;
	*p = mmap(NULL, n * page_size(), PROT_READ | PROT_WRITE, MAP_SHARED,
		  *fd, 0);
	if (*p == MAP_FAILED)
		return false;
	for (i = 0; i < n; i++)
		if (access_sigbus(*p + i * page_size(), true))
			return false;
	return true;
}

/*
 * Pages under writeback are worth waiting for: when every page the
 * reclaimer could evict is under a writeback, a fault at the limit waits
 * until the writeback has made them clean and they are evicted, as direct
 * reclaim retries for pages under writeback, rather than getting SIGBUS.
 */
TEST_F_TIMEOUT(limit, waits_out_a_writeback, 120)
{
	struct cowdev_writeback wb = { .delay_us = 1000000 };
	long i, ps = page_size(), want = LIMIT / 2, need;
	long long reclaimed, fails = global_stat("alloc_fail");
	struct cowdev_info info;
	int backed, plain, store;
	char *b, *p;

	b = map_stamped(LIMIT, 3, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	/* Every resident page is dirty, and now under writeback for 1 s. */
	ASSERT_EQ(0, ioctl(backed, COWDEV_IOC_WRITEBACK, &wb));
	ASSERT_EQ(0, cowdev_info(backed, &info));
	reclaimed = object_stat(backed, "reclaimed");
	need = want - (LIMIT - (long)info.resident_pages);
	ASSERT_LT(0, need) TH_LOG("the pool has room for them all");

	EXPECT_TRUE(fill_storeless(want, &plain, &p));
	EXPECT_EQ(fails, global_stat("alloc_fail"));
	EXPECT_LE(need, object_stat(backed, "reclaimed") - reclaimed);
	if (p != MAP_FAILED)
		munmap(p, want * ps);
	close(plain);
	for (i = 0; i < LIMIT; i++)
		ASSERT_TRUE(page_stamped(b, i, 3)) TH_LOG("page %ld", i);
	munmap(b, LIMIT * ps);
	close(store);
	close(backed);
}

/*
 * A store that fills up keeps its object's pages in memory: the
 * reclaimer's writes fail with ENOSPC, the pages stay dirty and resident,
 * faults past what fits get SIGBUS instead of waiting on, and no byte
 * written before is lost; WRITEBACK reports the error.
 */
TEST_F(limit, full_store_keeps_pages)
{
	char dir[] = "/tmp/cowdev-full-XXXXXX", opts[32], path[64];
	long i, ps = page_size(), npages = 2 * LIMIT, written, kept;
	struct cowdev_writeback wb = { .flags = COWDEV_WRITEBACK_WAIT };
	int fd, store;
	char *p;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(opts, sizeof(opts), "size=%ld", 16 * ps);
	ASSERT_EQ(0, mount("cowdev-full", dir, "tmpfs", 0, opts));
	snprintf(path, sizeof(path), "%s/store", dir);
	store = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, store);
	fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, cowdev_set_size(fd, npages * ps));
	ASSERT_EQ(0, ioctl(fd, COWDEV_IOC_SET_BACKING, store));
	p = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);

	for (written = 0; written < npages; written++) {
		if (access_sigbus(p + written * ps, true))
			break;
		stamp_page(p, written, 6);
	}
	/* The pool's worth, and what the store took, but not all of it. */
	EXPECT_LE(LIMIT, written);
	EXPECT_GT(npages, written);
	EXPECT_LT(0, object_stat(fd, "io_errors"));
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_WRITEBACK, &wb));
	EXPECT_EQ(ENOSPC, errno);

	/* Room to read the evicted pages back: the last 32 go. */
	kept = written - 32;
	ASSERT_EQ(0, cowdev_punch(fd, kept * ps, (npages - kept) * ps));
	for (i = 0; i < kept; i++)
		ASSERT_TRUE(page_stamped(p, i, 6)) TH_LOG("page %ld", i);
	munmap(p, npages * ps);
	close(fd);
	close(store);
	umount(dir);
	rmdir(dir);
}

/* Is a task's kernel stack inside @fn?  -1 if stacks cannot be read. */
static int some_task_in(const char *fn)
{
	char path[300], line[256];
	struct dirent *d;
	int found = 0;
	DIR *dir;
	FILE *f;

	if (access("/proc/self/stack", R_OK))
		return -1;
	dir = opendir("/proc");
	if (!dir)
		return -1;
	while (!found && (d = readdir(dir))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stack", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f))
			found = !!strstr(line, fn);
		fclose(f);
	}
	closedir(dir);
	return found;
}

/* Does @cond() hold within @secs, asked every millisecond? */
static bool holds_within(bool (*cond)(void), int secs)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (cond())
			return true;
		usleep(1000);	/* leave the vCPU to the task waited for */
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < secs);
	return false;
}

/*
 * Is the reclaimer at work on a write to a store?  It may only start its
 * pass once a fault asks (cowdev_reclaim_wake()), and a fault that waits
 * for the pass may wait before the pass reaches the store.
 */
static bool reclaimer_at_store(void)
{
	return some_task_in("cowdev_backing_write") == 1;
}

/*
 * Is the reclaimer neither running nor queued?  Once the pool is far from
 * its limit, only the memory-pressure shrinker starts a pass.
 */
static bool reclaimer_idle(void)
{
	return global_stat("reclaim_running") == 0;
}

/*
 * A store that does not move: inode_hold() stalls a write to it holding
 * its i_rwsem, which every other write to the store waits for, the
 * reclaimer's included, until store_go().  Its page lands past the end of
 * every object.
 */
static bool store_stall(struct inode_holder *h, int store)
{
	return inode_hold(h, store, 1L << 30);
}

/* Let the stalled write, and the store with it, go on; true if it wrote. */
static bool store_go(struct inode_holder *h)
{
	return inode_release(h) == page_size();
}

/* Tests of a store that does not move, at LIMIT pages. */
FIXTURE(stalled)
{
	const char *skip;
	char saved_limit[32];
	struct inode_holder stall;
	pid_t child;
};

FIXTURE_SETUP(stalled)
{
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC);

	self->stall.held = false;
	self->child = -1;
	self->skip = NULL;
	if (uffd < 0)
		self->skip = "no userfaultfd in this kernel";
	else if (some_task_in("cowdev_reclaim_work") < 0)
		self->skip = "no /proc/PID/stack in this kernel";
	if (uffd >= 0)
		close(uffd);
	if (self->skip)
		return;
	ASSERT_TRUE(limit_pool(self->saved_limit));
}

FIXTURE_TEARDOWN(stalled)
{
	if (self->skip)
		return;
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	store_go(&self->stall);
	write_text(COWDEV_PARAMS "/pool_limit_pages", self->saved_limit);
}

/*
 * A store that does not move holds up its own object only.  With the
 * store stalled, a fault at the limit has the reclaimer write to it, and
 * the write waits; meanwhile another object is given a store and closed,
 * which once waited for that write (the list of stores was locked across
 * it).  If that comes back, the harness's timeout ends the test, and the
 * stall with it.
 */
TEST_F_TIMEOUT(stalled, store_holds_up_no_other, 120)
{
	long i, ps = page_size();
	int backed, store, other, mem, status, stuck = 0;
	char *b, *p;

	COWDEV_SKIP_UNLESS_READY();

	b = map_stamped(LIMIT, 4, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_TRUE(store_stall(&self->stall, store));

	/* Faults at the limit: the reclaimer writes a dirty page, and waits. */
	self->child = fork_child();
	ASSERT_LE(0, self->child);
	if (!self->child)
		_exit(fill_storeless(LIMIT, &other, &p) ? 0 : 1);
	while (!(stuck = some_task_in("cowdev_backing_write")) &&
	       waitpid(self->child, &status, WNOHANG) == 0)
		sched_yield();
	ASSERT_EQ(1, stuck) TH_LOG("the reclaimer never wrote to the store");

	other = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, other);
	mem = memfd_create("other-store", 0);
	ASSERT_LE(0, mem);
	EXPECT_EQ(0, ioctl(other, COWDEV_IOC_SET_BACKING, mem));
	EXPECT_EQ(0, close(other));
	/* And the write still waits. */
	EXPECT_EQ(1, some_task_in("cowdev_backing_write"));
	close(mem);

	/* Its object would take the pool once the store moves again. */
	kill(self->child, SIGKILL);
	waitpid(self->child, NULL, 0);
	self->child = -1;
	ASSERT_TRUE(store_go(&self->stall));
	for (i = 0; i < LIMIT; i++)
		ASSERT_TRUE(page_stamped(b, i, 4)) TH_LOG("page %ld", i);
	munmap(b, LIMIT * ps);
	close(store);
	close(backed);
}

/*
 * A thread writing pages of a mapping until one gets SIGBUS.  Only one
 * thread of a process may catch SIGBUS: access_sigbus() has one jump
 * buffer, and the handler is the process's.
 */
struct toucher {
	char *p;
	long npages;
	pid_t after_tid;	/* if set, first wait for it to be in after_fn */
	const char *after_fn;
	bool stop_waiting;	/* set by the test: no longer wait for it */
	bool saw_it;		/* it was seen there */
	pid_t tid;		/* set once it runs */
	long done;		/* pages written */
	bool finished;
};


static void *toucher_run(void *arg)
{
	struct toucher *t = arg;

	__atomic_store_n(&t->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (t->after_tid &&
	       !(t->saw_it = thread_in(t->after_tid, t->after_fn)) &&
	       !__atomic_load_n(&t->stop_waiting, __ATOMIC_ACQUIRE))
		sched_yield();
	while (t->done < t->npages &&
	       !access_sigbus(t->p + t->done * page_size(), true))
		t->done++;
	__atomic_store_n(&t->finished, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Wait until thread @tid waits for the reclaimer from within @fn, or sets
 * *@finished; true if it waits.
 */
static bool waits_for_reclaimer(pid_t tid, const char *fn, bool *finished)
{
	while (!(thread_in(tid, fn) && thread_in(tid, "cowdev_reclaim_wait"))) {
		if (__atomic_load_n(finished, __ATOMIC_ACQUIRE))
			return false;
		sched_yield();
	}
	return true;
}

/* Start a toucher thread and wait until it runs; its tid. */
static pid_t toucher_start(struct toucher *t, pthread_t *thread)
{
	pid_t tid;

	if (pthread_create(thread, NULL, toucher_run, t))
		return -1;
	while (!(tid = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE)))
		sched_yield();
	return tid;
}

/*
 * An object busy with an ioctl is asked again, not given up on: while the
 * only object with a store is held by a shrink (SET_SIZE, waiting for a
 * page that fill_delay_us keeps locked), a fault at the limit waits, and
 * once the shrink is done the reclaimer evicts from that object.
 */
TEST_F_TIMEOUT(limit, waits_out_a_busy_object, 120)
{
	long i, ps = page_size(), half = LIMIT / 2;
	long long reclaimed, fails = global_stat("alloc_fail");
	struct toucher t = { .npages = half + 64 };
	int backed, store, plain;
	pthread_t thread;
	pid_t filler;
	char *b;

	if (access("/proc/self/stack", R_OK))
		SKIP(return, "no /proc/PID/stack in this kernel");
	b = map_backed(half + 1, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	for (i = 0; i < half; i++)	/* page half is made below */
		stamp_page(b, i, 7);
	reclaimed = object_stat(backed, "reclaimed");
	plain = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, plain);
	ASSERT_EQ(0, cowdev_set_size(plain, t.npages * ps));
	t.p = mmap(NULL, t.npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED,
		   plain, 0);
	ASSERT_NE(MAP_FAILED, t.p);

	/*
	 * The page past the stamped ones, locked for a second while made, by
	 * another process: the shrink cuts it, and its fault may get SIGBUS.
	 */
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "1000000"));
	filler = fork_child();
	ASSERT_LE(0, filler);
	if (!filler) {
		b[half * ps] = 1;
		_exit(0);
	}
	/* In the delay itself (fsleep() of a second is an msleep()). */
	while (!(process_in(filler, "cowdev_object_grab_page") &&
		 process_in(filler, "msleep")) &&
	       !waitpid(filler, NULL, WNOHANG))
		sched_yield();
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "0"));
	ASSERT_TRUE(process_in(filler, "msleep"));

	/* Faults at the limit once the shrink holds the object. */
	t.after_tid = getpid();
	t.after_fn = "cowdev_object_set_size";
	ASSERT_LT(0, toucher_start(&t, &thread));
	EXPECT_EQ(0, cowdev_set_size(backed, half * ps));
	__atomic_store_n(&t.stop_waiting, true, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	waitpid(filler, NULL, 0);
	EXPECT_TRUE(t.saw_it) TH_LOG("the faults did not wait for the shrink");
	EXPECT_EQ(t.npages, t.done) TH_LOG("SIGBUS at the limit");
	EXPECT_EQ(fails, global_stat("alloc_fail"));
	EXPECT_LE(64, object_stat(backed, "reclaimed") - reclaimed);

	munmap(t.p, t.npages * ps);
	close(plain);
	for (i = 0; i < half; i++)
		ASSERT_TRUE(page_stamped(b, i, 7)) TH_LOG("page %ld", i);
	munmap(b, (half + 1) * ps);
	close(store);
	close(backed);
}

/*
 * A fault that waits for the reclaimer holds neither mmap_lock nor its
 * VMA's lock, as filemap_fault() holds neither across a read: while it
 * waits (for a write to a stalled store), another thread splits the very
 * VMA it faults in, which takes both for writing.  Once the store moves,
 * the fault gets its page.
 */
TEST_F_TIMEOUT(stalled, fault_waits_holding_no_lock, 120)
{
	long i, ps = page_size();
	struct toucher t = { .npages = LIMIT - 1 };
	int backed, store, plain;
	pthread_t thread;
	pid_t tid;
	char *b;

	COWDEV_SKIP_UNLESS_READY();

	b = map_stamped(LIMIT, 5, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	plain = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, plain);
	ASSERT_EQ(0, cowdev_set_size(plain, LIMIT * ps));
	t.p = mmap(NULL, LIMIT * ps, PROT_READ | PROT_WRITE, MAP_SHARED, plain,
		   0);
	ASSERT_NE(MAP_FAILED, t.p);
	ASSERT_TRUE(store_stall(&self->stall, store));

	tid = toucher_start(&t, &thread);
	ASSERT_LT(0, tid);
	/* Waiting as its first try ends, its lock let go. */
	ASSERT_TRUE(waits_for_reclaimer(tid, "cowdev_fault_finish",
					&t.finished))
		TH_LOG("the fault never waited with its lock let go");
	/*
	 * Within the fault's first wait, which lasts about 3 s
	 * (cowdev_reclaim_wait()): the retry after it waits holding its lock.
	 */
	ASSERT_TRUE(holds_within(reclaimer_at_store, 2))
		TH_LOG("the reclaimer never wrote to the store");
	ASSERT_TRUE(thread_in(tid, "cowdev_fault_finish"))
		TH_LOG("the reclaimer reached the store too late");
	EXPECT_EQ(0, mprotect(t.p + (LIMIT - 1) * ps, ps, PROT_READ));
	/* Its waits last seconds; without the change, the split outlasts them. */
	EXPECT_TRUE(thread_in(tid, "cowdev_reclaim_wait"))
		TH_LOG("the split waited for the fault");
	EXPECT_FALSE(__atomic_load_n(&t.finished, __ATOMIC_ACQUIRE));

	ASSERT_TRUE(store_go(&self->stall));
	pthread_join(thread, NULL);
	EXPECT_EQ(t.npages, t.done) TH_LOG("SIGBUS after the thaw");
	for (i = 0; i < LIMIT; i++)
		ASSERT_TRUE(page_stamped(b, i, 5)) TH_LOG("page %ld", i);
	munmap(t.p, LIMIT * ps);
	close(plain);
	munmap(b, LIMIT * ps);
	close(store);
	close(backed);
}

/* Tests of a frozen store, at LIMIT pages. */
FIXTURE(frozen)
{
	const char *skip;
	char saved_limit[32];
	pid_t guard;
};

FIXTURE_SETUP(frozen)
{
	self->guard = -1;
	self->skip = NULL;
	if (!have_disk())
		self->skip = "no disk in this guest (COWDEV_DIRECT_DIR)";
	else if (some_task_in("cowdev_reclaim_work") < 0)
		self->skip = "no /proc/PID/stack in this kernel";
	if (self->skip)
		return;
	self->guard = thaw_guard(getenv("COWDEV_DIRECT_DIR"), 90);
	ASSERT_LT(0, self->guard);
	ASSERT_TRUE(limit_pool(self->saved_limit));
}

FIXTURE_TEARDOWN(frozen)
{
	if (self->skip)
		return;
	freeze_fs(getenv("COWDEV_DIRECT_DIR"), false);
	if (self->guard > 0) {
		kill(self->guard, SIGKILL);
		waitpid(self->guard, NULL, 0);
	}
	write_text(COWDEV_PARAMS "/pool_limit_pages", self->saved_limit);
}

/*
 * A store whose filesystem is frozen holds no page of its object: the
 * reclaimer only tries the freeze protection under a page's lock, and
 * passes over the dirty pages it cannot write (a write(2) to that
 * filesystem from a buffer in the object holds the protection while it
 * faults on the object, and the freeze waits for that writer).  A fault
 * at the limit waits meanwhile, as for pages under writeback, since the
 * thaw lets them be written; the object's pages are read meanwhile, in
 * a child that a page waited on for ten seconds kills; and after the
 * thaw the fault gets its page.
 */
TEST_F_TIMEOUT(frozen, reclaimer_holds_no_page, 120)
{
	const char *dir = getenv("COWDEV_DIRECT_DIR");
	struct toucher t = { .npages = 1 };
	int backed, store, plain, status;
	long i, nb, ps = page_size();
	pthread_t thread;
	bool waited;
	pid_t tid, reader;
	char *b;

	COWDEV_SKIP_UNLESS_READY();

	/* Dirty pages of a frozen store, up to the limit. */
	nb = LIMIT - global_stat("pool_in_use");
	b = map_backed(nb, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, freeze_fs(dir, true));
	for (i = 0; i < nb; i++)
		stamp_page(b, i, 9);
	plain = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, plain);
	ASSERT_EQ(0, cowdev_set_size(plain, ps));
	t.p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, plain, 0);
	ASSERT_NE(MAP_FAILED, t.p);

	tid = toucher_start(&t, &thread);
	ASSERT_LT(0, tid);
	waited = waits_for_reclaimer(tid, "cowdev_fault", &t.finished);
	status = -1;
	reader = waited ? fork_child() : -1;
	if (reader == 0) {
		alarm(10);
		for (i = 0; i < nb; i++)
			if (!page_stamped(b, i, 9))
				_exit(1);
		_exit(0);
	}
	if (reader > 0 && waitpid(reader, &status, 0) != reader)
		status = -1;
	ASSERT_EQ(0, freeze_fs(dir, false));
	pthread_join(thread, NULL);
	EXPECT_TRUE(waited) TH_LOG("the fault did not wait for the reclaimer");
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("a page of the frozen store's object was held");
	EXPECT_EQ(1, t.done) TH_LOG("SIGBUS after the thaw");
	for (i = 0; i < nb; i++)
		ASSERT_TRUE(page_stamped(b, i, 9)) TH_LOG("page %ld", i);
	munmap(t.p, ps);
	close(plain);
	munmap(b, nb * ps);
	close(store);
	close(backed);
}

/* A write that a SIGUSR1 handler jumps away from, in a thread of its own. */
struct escaper {
	char *p;
	pid_t tid;		/* set once it runs */
	bool wrote;		/* the write returned */
	bool escaped;		/* the SIGUSR1 handler jumped away from it */
	bool sigbus;		/* it got SIGBUS: its wait for a page ran out */
	bool finished;
};

static sigjmp_buf escape_jmp;

static void escape_handler(int sig)
{
	siglongjmp(escape_jmp, sig);
}

static void *escaper_run(void *arg)
{
	struct escaper *e = arg;

	__atomic_store_n(&e->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	switch (sigsetjmp(escape_jmp, 1)) {
	case 0:
		__atomic_store_n(e->p, 'x', __ATOMIC_RELAXED);
		e->wrote = true;
		break;
	case SIGUSR1:
		e->escaped = true;
		break;
	default:
		e->sigbus = true;
	}
	__atomic_store_n(&e->finished, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A write fault that copied a shared page, and never came back to write
 * in the copy (a signal handler jumped away from the write), leaves the
 * copy its mark (pfn mode: ->pfn_mkwrite copies, and the write refaults;
 * in page mode ->fault copies and maps the copy in one fault, which takes
 * the mark).  The copy may still be evicted: the mark goes into the
 * index with it and comes back with the page, whose next write counts no
 * reuse, as without the eviction.  To hold the write between its copy and
 * its refault, the copy takes the pool's last page: the write waits for
 * the reclaimer, held up by a stalled store, and a SIGUSR1 sent meanwhile
 * is handled before the write can be tried again.  The clone keeps its
 * snapshot, compared with a memfd written alike, and so does the object.
 */
static void escaped_copy_evicts(struct __test_metadata *const _metadata,
				enum cowdev_mode mode, struct inode_holder *stall)
{
	struct sigaction sa = { .sa_handler = escape_handler };
	int obj, store, clone, backed, bstore, ref, snap;
	long i, ps = page_size(), len = 2 * ps;
	long long copies, reuses, nb, passes;
	struct cowdev_info info;
	struct escaper e = { };
	char *p, *c, *b, *r, *sn;
	pthread_t thread;
	pid_t tid;

	obj = open_backed(2, mode, false, &store);
	if (obj == -EOPNOTSUPP)
		SKIP(return, COWDEV_NO_PFN_MODE);
	ASSERT_LE(0, obj);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
	ASSERT_NE(MAP_FAILED, p);
	ref = memfd_create("reference", 0);
	snap = memfd_create("snapshot", 0);
	ASSERT_EQ(0, ftruncate(ref, len));
	ASSERT_EQ(0, ftruncate(snap, len));
	r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ref, 0);
	sn = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, snap, 0);
	ASSERT_NE(MAP_FAILED, r);
	ASSERT_NE(MAP_FAILED, sn);
	for (i = 0; i < 2; i++) {
		stamp_page(p, i, 1);
		stamp_page(r, i, 1);
		stamp_page(sn, i, 1);
	}
	clone = ioctl(obj, COWDEV_IOC_CLONE, 0);
	ASSERT_LE(0, clone);
	c = mmap(NULL, len, PROT_READ, MAP_SHARED, clone, 0);
	ASSERT_NE(MAP_FAILED, c);
	/* Mapped read-only again, so that the write goes to the mkwrite. */
	ASSERT_TRUE(same_page(p, r, 0));
	/*
	 * The pool filled with dirty pages of a store that is stalled first,
	 * so that the reclaimer, which starts below the limit, gets none.
	 */
	nb = LIMIT - global_stat("pool_in_use");
	b = map_backed(nb, &backed, &bstore);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_TRUE(store_stall(stall, bstore));
	for (i = 0; i < nb; i++)
		stamp_page(b, i, 6);
	ASSERT_EQ(LIMIT, global_stat("pool_in_use"));
	copies = object_stat(obj, "copy");
	reuses = object_stat(obj, "reuse");
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));

	e.p = p;
	ASSERT_EQ(0, pthread_create(&thread, NULL, escaper_run, &e));
	while (!(tid = __atomic_load_n(&e.tid, __ATOMIC_ACQUIRE)))
		sched_yield();
	/*
	 * Its first try waits for the reclaimer with the fault's lock let go
	 * (->page_mkwrite, which may not, sends the access back to ->fault),
	 * so that splitting its VMA does not wait; its retry waits in place,
	 * in the copy.
	 */
	ASSERT_TRUE(waits_for_reclaimer(tid, "cowdev_fault_finish", &e.finished))
		TH_LOG("the write never waited with its lock let go");
	EXPECT_EQ(0, mprotect(p + ps, ps, PROT_READ));
	EXPECT_TRUE(thread_in(tid, "cowdev_reclaim_wait") &&
		    thread_in(tid, "cowdev_fault_finish"))
		TH_LOG("the split waited for the write");
	ASSERT_TRUE(waits_for_reclaimer(tid, mode == COWDEV_MODE_PFN ?
					"cowdev_cow_write" : "cowdev_cow_unshare",
					&e.finished))
		TH_LOG("the write never waited for its copy's page");
	/* Quickly: the wait lasts seconds (cowdev_reclaim_wait()). */
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), tid, SIGUSR1));
	EXPECT_TRUE(holds_within(reclaimer_at_store, 30))
		TH_LOG("the reclaimer never wrote to the store");
	ASSERT_TRUE(store_go(stall));
	pthread_join(thread, NULL);
	ASSERT_FALSE(e.sigbus) TH_LOG("the copy's wait for a page ran out");
	ASSERT_TRUE(e.escaped) TH_LOG("the write was not held before its copy");
	ASSERT_FALSE(e.wrote);
	ASSERT_EQ(copies + 1, object_stat(obj, "copy"));
	/*
	 * The pressure goes, and the reclaimer's pass with it: a pass that
	 * took the page between the write's fault and its last byte would
	 * make it fault again, and count a reuse as it should.
	 */
	munmap(b, nb * ps);
	close(bstore);
	close(backed);
	ASSERT_TRUE(holds_within(reclaimer_idle, 30))
		TH_LOG("the reclaimer never stopped");
	passes = global_stat("reclaim_passes");

	/*
	 * The copy goes (the reclaimer may have taken it already); page 1,
	 * which the clone shares, stays.
	 */
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_LE(0, cowdev_evict(obj, 0, len));
	ASSERT_EQ(0, cowdev_info(obj, &info));
	EXPECT_EQ(1, info.evicted_pages)
		TH_LOG("the copy's mark kept it in memory");
	EXPECT_EQ(1, info.resident_pages);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, obj, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(same_page(p, r, 0));
	stamp_page(p, 0, 2);
	stamp_page(r, 0, 2);
	/*
	 * In page mode the copy is made by ->fault (->page_mkwrite sent the
	 * access back to it), and do_shared_fault() maps it writable in the
	 * same fault, which so takes the mark: this write is a reuse.
	 */
	EXPECT_EQ(reuses + (mode == COWDEV_MODE_PAGE),
		  object_stat(obj, "reuse"))
		TH_LOG("the mark did not come back with the page");
	EXPECT_EQ(passes, global_stat("reclaim_passes"))
		TH_LOG("a reclaimer pass (memory pressure) ran meanwhile");
	EXPECT_EQ(copies + 1, object_stat(obj, "copy"));
	for (i = 0; i < 2; i++) {
		EXPECT_TRUE(same_page(p, r, i)) TH_LOG("page %ld", i);
		EXPECT_TRUE(same_page(c, sn, i)) TH_LOG("clone page %ld", i);
	}
	signal(SIGUSR1, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	munmap(c, len);
	munmap(p, len);
	munmap(sn, len);
	munmap(r, len);
	close(clone);
	close(store);
	close(obj);
	close(snap);
	close(ref);
}

TEST_F_TIMEOUT(stalled, escaped_copy_evicts_page, 120)
{
	COWDEV_SKIP_UNLESS_READY();
	escaped_copy_evicts(_metadata, COWDEV_MODE_PAGE, &self->stall);
}

TEST_F_TIMEOUT(stalled, escaped_copy_evicts_pfn, 120)
{
	COWDEV_SKIP_UNLESS_READY();
	escaped_copy_evicts(_metadata, COWDEV_MODE_PFN, &self->stall);
}

/*
 * A shared write through a read-only PTE to a page whose writeback is
 * being written to a stalled store dies at once when killed: the
 * writeback's work holds the page lock across the store's write, which
 * ->page_mkwrite, which may not retry, only tries; it sends the access
 * back to ->fault, which waits for the lock holding nothing, killably.
 */
TEST_F_TIMEOUT(stalled, mkwrite_waits_for_no_store, 120)
{
	struct cowdev_writeback wb = { .delay_us = 3000000 };
	int backed, store, go[2], done[2], status;
	uint64_t start;
	bool reaped;
	pid_t writer;
	char c = 0;
	char *b;

	COWDEV_SKIP_UNLESS_READY();

	b = map_stamped(2, 7, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	writer = fork_child();
	ASSERT_LE(0, writer);
	if (writer == 0) {
		/* Read page 0 (a read-only PTE), then write it. */
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		c = *(volatile char *)b;
		if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		b[0] = 'w';
		_exit(0);
	}
	self->child = writer;
	ASSERT_TRUE(store_stall(&self->stall, store));
	/* Unmapped and under writeback; written to the store in 3 s. */
	ASSERT_EQ(0, ioctl(backed, COWDEV_IOC_WRITEBACK, &wb));
	ASSERT_EQ(1, write(go[1], &c, 1));
	ASSERT_EQ(1, read(done[0], &c, 1));
	ASSERT_TRUE(holds_within(reclaimer_at_store, 30))
		TH_LOG("the writeback never wrote to the store");
	ASSERT_EQ(1, write(go[1], &c, 1));

	/* ->page_mkwrite sent it back to ->fault, which waits holding nothing. */
	EXPECT_TRUE(process_in_within(writer, "cowdev_fault_finish"))
		TH_LOG("the write did not wait with its lock let go");
	start = now_ms();
	kill(writer, SIGKILL);
	do {
		reaped = waitpid(writer, &status, WNOHANG) == writer;
	} while (!reaped && now_ms() - start < KILL_BOUND_MS && !usleep(1000));
	EXPECT_TRUE(reaped) TH_LOG("the write sat on the page lock");
	ASSERT_TRUE(store_go(&self->stall));	/* which lets it die */
	if (!reaped)
		waitpid(writer, &status, 0);
	self->child = -1;
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_TRUE(page_stamped(b, 0, 7));
	munmap(b, 2 * page_size());
	close(store);
	close(backed);
}

/* Has it been 10 s since @start?  Leaves the vCPU to others first. */
static bool waited_too_long(const struct timespec *start)
{
	struct timespec now;

	usleep(1000);
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - start->tv_sec >= 10;
}

/* A thread that closes a file, its tid for thread_in(). */
struct closer {
	int fd;
	pid_t tid;
	pthread_t thread;
};

static void *closer_run(void *arg)
{
	struct closer *c = arg;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	return (void *)(long)close(c->fd);
}

/*
 * A store stays its object's until the object's last write to it is
 * done: while a closing object waits for its writeback, stalled at the
 * store, no other object may take that file (the writes still to come
 * would land over the other's pages), and once the close is over one may.
 */
TEST_F_TIMEOUT(stalled, closing_object_keeps_its_store, 120)
{
	struct cowdev_writeback wb = { .delay_us = 0 };
	struct closer c = { .tid = 0 };
	int backed, store, other, stuck;
	struct timespec start;
	void *closed;
	pid_t tid;
	char *b;

	COWDEV_SKIP_UNLESS_READY();

	b = map_stamped(2, 5, &backed, &store);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, munmap(b, 2 * page_size()));
	ASSERT_TRUE(store_stall(&self->stall, store));
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* Its work writes the two dirty pages, and waits at the store. */
	ASSERT_EQ(0, ioctl(backed, COWDEV_IOC_WRITEBACK, &wb));
	ASSERT_EQ(2, wb.pages);
	for (stuck = 0; !stuck && !waited_too_long(&start);)
		stuck = some_task_in("cowdev_backing_write");
	ASSERT_EQ(1, stuck) TH_LOG("the writeback never wrote to the store");

	/* The last close waits for that work. */
	c.fd = backed;
	ASSERT_EQ(0, pthread_create(&c.thread, NULL, closer_run, &c));
	while (!(tid = __atomic_load_n(&c.tid, __ATOMIC_ACQUIRE)))
		sched_yield();
	/* (cowdev_writeback_fini() may be a tail call, off the stack.) */
	for (stuck = 0; !stuck && !waited_too_long(&start);)
		stuck = thread_in(tid, "cowdev_object_destroy");
	EXPECT_EQ(1, stuck) TH_LOG("the close never waited for the writeback");

	other = open(COWDEV_DEV, O_RDWR);
	ASSERT_LE(0, other);
	EXPECT_EQ(-1, ioctl(other, COWDEV_IOC_SET_BACKING, store));
	EXPECT_EQ(EBUSY, errno);

	ASSERT_TRUE(store_go(&self->stall));
	ASSERT_EQ(0, pthread_join(c.thread, &closed));
	EXPECT_EQ(NULL, closed);
	EXPECT_EQ(0, ioctl(other, COWDEV_IOC_SET_BACKING, store));
	close(other);
	close(store);
}

/*
 * drop_caches=2 runs every shrinker as memory pressure would: the
 * reclaimer is asked for the pool's pages and evicts them, the dirty ones
 * written first, and every byte comes back.
 */
TEST(shrinker_evicts)
{
	long i, npages = 64, ps = page_size();
	struct cowdev_info info;
	int fd, store;
	char *p;

	ASSERT_EQ(0, global_stat("pool_in_use"));
	p = map_backed(npages, &fd, &store);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < npages; i++)
		stamp_page(p, i, 2);
	ASSERT_EQ(0, write_text("/proc/sys/vm/drop_caches", "2"));
	ASSERT_TRUE(wait_info(fd, offsetof(struct cowdev_info, resident_pages),
			      0, true));
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(npages, info.evicted_pages);
	EXPECT_EQ(npages, info.pages_written);
	EXPECT_EQ(npages, object_stat(fd, "reclaimed"));
	for (i = 0; i < npages; i++)
		ASSERT_TRUE(page_stamped(p, i, 2)) TH_LOG("page %ld", i);
	munmap(p, npages * ps);
	close(store);
	close(fd);
}

TEST_HARNESS_MAIN
