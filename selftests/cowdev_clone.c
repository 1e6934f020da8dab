// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev clone tests: snapshots, the driver's reuse-or-copy decision, clone
 * chains, concurrent writers and clones racing writes, in page mode and in
 * pfn mode; and what pfn-mode mappings do under fork, mremap, partial
 * munmap and mprotect.
 */
#include <pthread.h>
#include <sys/wait.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

#define NPAGES 16

static int cowdev_clone(int fd)
{
	return ioctl(fd, COWDEV_IOC_CLONE, 0);
}

static char *map_shared(int fd, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

/* Map the source, fill it with @fill, clone it, and map the clone. */
static bool fill_and_clone(int fd, size_t len, char fill, char **s, int *cfd,
			   char **c)
{
	*s = map_shared(fd, len);
	if (*s == MAP_FAILED)
		return false;
	memset(*s, fill, len);
	*cfd = cowdev_clone(fd);
	if (*cfd < 0)
		return false;
	*c = map_shared(*cfd, len);
	return *c != MAP_FAILED;
}

FIXTURE(clone)
{
	int fd;
	long ps;
	size_t len;
	const char *skip;
};

FIXTURE_VARIANT(clone)
{
	enum cowdev_mode mode;
};

FIXTURE_VARIANT_ADD(clone, page)
{
	.mode = COWDEV_MODE_PAGE,
};

FIXTURE_VARIANT_ADD(clone, pfn)
{
	.mode = COWDEV_MODE_PFN,
};

FIXTURE_SETUP(clone)
{
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	ASSERT_EQ(0, global_stat("pool_in_use"));
	self->fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, cowdev_fixture_mode(self->fd, variant->mode, &self->skip));
}

FIXTURE_TEARDOWN(clone)
{
	close(self->fd);
	/* Whatever the test did, every page went back. */
	EXPECT_EQ(0, global_stat("pool_in_use"));
}

TEST_F(clone, snapshot_isolated_both_ways)
{
	struct cowdev_info si, ci;
	char *s, *c;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(fill_and_clone(self->fd, self->len, 'a', &s, &cfd, &c));
	EXPECT_EQ(FD_CLOEXEC, fcntl(cfd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(0, cowdev_info(cfd, &ci));
	EXPECT_EQ(variant->mode, ci.mode);
	EXPECT_EQ(64ULL << 20, ci.size);
	EXPECT_EQ(NPAGES, ci.resident_pages);
	/* Shared pages are held once. */
	EXPECT_EQ(NPAGES, global_stat("pool_in_use"));
	EXPECT_TRUE(all_bytes(c, self->len, 'a'));
	memset(s, 'b', self->len / 2);
	memset(c + self->len / 2, 'c', self->len / 2);
	EXPECT_TRUE(all_bytes(c, self->len / 2, 'a'));
	EXPECT_TRUE(all_bytes(s + self->len / 2, self->len / 2, 'a'));
	EXPECT_TRUE(all_bytes(s, self->len / 2, 'b'));
	EXPECT_TRUE(all_bytes(c + self->len / 2, self->len / 2, 'c'));

	ASSERT_EQ(0, cowdev_info(self->fd, &si));
	ASSERT_EQ(0, cowdev_info(cfd, &ci));
	EXPECT_EQ(NPAGES / 2, si.copy);
	EXPECT_EQ(NPAGES / 2, ci.copy);
	EXPECT_EQ(2 * NPAGES, global_stat("pool_in_use"));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);
}

/*
 * Issue #5's script: clone, write K pages in the source (K copies), then
 * write them in the clone, which is now alone with them (K reuses).
 */
TEST_F(clone, counters_copy_then_reuse)
{
	const int k = NPAGES / 2;
	struct cowdev_info before, si, ci;
	char *s = map_shared(self->fd, self->len), *c;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, s);
	touch_pages(s, k * self->ps, true, 'a');
	ASSERT_EQ(0, cowdev_info(self->fd, &before));
	EXPECT_EQ(k, before.reuse);
	cfd = cowdev_clone(self->fd);
	ASSERT_GE(cfd, 0);

	touch_pages(s, k * self->ps, true, 'b');
	ASSERT_EQ(0, cowdev_info(self->fd, &si));
	EXPECT_EQ(k, si.copy);
	EXPECT_EQ(before.reuse, si.reuse);
	/* Writable again after the copy: no more faults. */
	touch_pages(s, k * self->ps, true, 'B');
	ASSERT_EQ(0, cowdev_info(self->fd, &ci));
	EXPECT_EQ(si.faults, ci.faults);
	EXPECT_EQ(si.mkwrite + si.pfn_mkwrite, ci.mkwrite + ci.pfn_mkwrite);

	c = map_shared(cfd, self->len);
	ASSERT_NE(MAP_FAILED, c);
	touch_pages(c, k * self->ps, true, 'c');
	ASSERT_EQ(0, cowdev_info(cfd, &ci));
	EXPECT_EQ(0, ci.copy);
	EXPECT_EQ(k, ci.reuse);
	/* First touches: page mode's fault calls ->page_mkwrite, pfn's not. */
	EXPECT_EQ(variant->mode == COWDEV_MODE_PFN ? 0 : k, ci.mkwrite);
	EXPECT_EQ(0, ci.pfn_mkwrite);
	EXPECT_EQ(2 * k, global_stat("pool_in_use"));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);
}

/* True if the first byte of each page of [p, p + len) is @c. */
static bool first_bytes(const char *p, size_t len, char c)
{
	size_t off;

	for (off = 0; off < len; off += page_size())
		if (p[off] != c)
			return false;
	return true;
}

/* Minor faults of writing one byte in each page of [p, p + len). */
static long write_faults_taken(char *p, size_t len, char val)
{
	long before = no_stray_faults() ? -1000 : minor_faults();

	touch_pages(p, len, true, val);
	return minor_faults() - before;
}

/*
 * A first-touch write to a shared mapping takes one fault per page, as a
 * memfd's does, and its reuse-or-copy decision is counted once: in page
 * mode ->fault then ->page_mkwrite (do_shared_fault()), in pfn mode ->fault
 * alone, which maps the page writable itself.  Then the same after a
 * CLONE, where each write copies and the clone keeps the old bytes.
 */
TEST_F(clone, first_touch_write_takes_one_fault)
{
	int mfd = memfd_create("cowdev-ref", MFD_CLOEXEC), cfd;
	struct cowdev_info info;
	char *m, *s, *c;
	long memfd_faults;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, self->len));
	m = map_shared(mfd, self->len);
	s = map_shared(self->fd, self->len);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_NE(MAP_FAILED, s);
	/* One page a fault on memfd too, whatever shmem_enabled says. */
	ASSERT_EQ(0, madvise(m, self->len, MADV_NOHUGEPAGE));

	memfd_faults = write_faults_taken(m, self->len, 'a');
	EXPECT_EQ(NPAGES, memfd_faults);
	EXPECT_EQ(memfd_faults, write_faults_taken(s, self->len, 'a'));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(NPAGES, info.faults);
	EXPECT_EQ(NPAGES, info.write_faults);
	EXPECT_EQ(NPAGES, info.reuse);
	EXPECT_EQ(0, info.copy);
	EXPECT_EQ(variant->mode == COWDEV_MODE_PFN ? 0 : NPAGES,
		  info.mkwrite);
	EXPECT_EQ(0, info.pfn_mkwrite);
	/* Writable now: no more faults. */
	EXPECT_EQ(0, write_faults_taken(s, self->len, 'b'));

	cfd = cowdev_clone(self->fd);
	ASSERT_GE(cfd, 0);
	munmap(s, self->len);
	s = map_shared(self->fd, self->len);
	ASSERT_NE(MAP_FAILED, s);
	EXPECT_EQ(NPAGES, write_faults_taken(s, self->len, 'c'));
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(2 * NPAGES, info.faults);
	EXPECT_EQ(NPAGES, info.reuse);
	EXPECT_EQ(NPAGES, info.copy);
	EXPECT_EQ(variant->mode == COWDEV_MODE_PFN ? 0 : 2 * NPAGES,
		  info.mkwrite);
	EXPECT_EQ(0, info.pfn_mkwrite);
	EXPECT_TRUE(first_bytes(s, self->len, 'c'));
	c = map_shared(cfd, self->len);
	ASSERT_NE(MAP_FAILED, c);
	EXPECT_TRUE(first_bytes(c, self->len, 'b'));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);
	munmap(m, self->len);
	close(mfd);
}

TEST_F(clone, reuse_after_other_sharer_dies)
{
	struct cowdev_info info;
	char *s, *c;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(fill_and_clone(self->fd, self->len, 'a', &s, &cfd, &c));
	EXPECT_TRUE(all_bytes(c, self->len, 'a'));
	munmap(c, self->len);
	close(cfd);

	memset(s, 'b', self->len);
	ASSERT_EQ(0, cowdev_info(self->fd, &info));
	EXPECT_EQ(0, info.copy);
	EXPECT_EQ(2 * NPAGES, info.reuse);
	EXPECT_EQ(NPAGES, global_stat("pool_in_use"));
	munmap(s, self->len);
}

/* The first write into a page shared with a clone, by first touch. */
TEST_F(clone, first_touch_write_copies)
{
	struct cowdev_info info;
	char *s, *c;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	s = map_shared(self->fd, self->ps);
	ASSERT_NE(MAP_FAILED, s);
	s[0] = 'a';
	munmap(s, self->ps);
	cfd = cowdev_clone(self->fd);
	ASSERT_GE(cfd, 0);
	c = map_shared(cfd, self->ps);
	ASSERT_NE(MAP_FAILED, c);
	c[1] = 'c';		/* write fault on a not-present PTE */
	ASSERT_EQ(0, cowdev_info(cfd, &info));
	EXPECT_EQ(1, info.copy);
	EXPECT_EQ(0, info.reuse);
	s = map_shared(self->fd, self->ps);
	ASSERT_NE(MAP_FAILED, s);
	EXPECT_EQ(0, s[1]);
	EXPECT_EQ('a', c[0]);
	munmap(s, self->ps);
	munmap(c, self->ps);
	close(cfd);
}

TEST_F(clone, chain_of_100)
{
	enum { CHAIN = 100 };
	int fds[CHAIN + 1], i;
	char *p;

	COWDEV_SKIP_UNLESS_READY();
	fds[0] = self->fd;
	p = map_shared(self->fd, self->ps);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 0;
	munmap(p, self->ps);
	for (i = 1; i <= CHAIN; i++) {
		fds[i] = cowdev_clone(fds[i - 1]);
		ASSERT_GE(fds[i], 0);
		/* Each link writes its own number over the inherited one. */
		p = map_shared(fds[i], self->ps);
		ASSERT_NE(MAP_FAILED, p);
		ASSERT_EQ(i - 1, (unsigned char)p[0]);
		p[0] = i;
		munmap(p, self->ps);
	}
	EXPECT_EQ(CHAIN + 1, global_stat("pool_in_use"));
	for (i = 0; i <= CHAIN; i++) {
		p = mmap(NULL, self->ps, PROT_READ, MAP_SHARED, fds[i], 0);
		ASSERT_NE(MAP_FAILED, p);
		EXPECT_EQ(i, (unsigned char)p[0]);
		munmap(p, self->ps);
	}
	for (i = 1; i <= CHAIN; i++)
		close(fds[i]);
}

struct writer {
	char *p;
	size_t len;
	char val;
	pthread_barrier_t *barrier;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;

	pthread_barrier_wait(w->barrier);
	memset(w->p, w->val, w->len);
	return NULL;
}

/* Threads in two objects write the same shared pages at once. */
TEST_F(clone, concurrent_writers_threads)
{
	enum { PER_OBJECT = 2 };
	pthread_t th[2 * PER_OBJECT];
	struct writer w[2 * PER_OBJECT];
	pthread_barrier_t barrier;
	struct cowdev_info si, ci;
	char *s, *c;
	int cfd, i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(fill_and_clone(self->fd, self->len, 'o', &s, &cfd, &c));
	pthread_barrier_init(&barrier, NULL, 2 * PER_OBJECT);
	for (i = 0; i < 2 * PER_OBJECT; i++) {
		w[i] = (struct writer){ i & 1 ? c : s, self->len,
					i & 1 ? 'c' : 's', &barrier };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, writer_thread, &w[i]));
	}
	for (i = 0; i < 2 * PER_OBJECT; i++)
		pthread_join(th[i], NULL);
	EXPECT_TRUE(all_bytes(s, self->len, 's'));
	EXPECT_TRUE(all_bytes(c, self->len, 'c'));
	ASSERT_EQ(0, cowdev_info(self->fd, &si));
	ASSERT_EQ(0, cowdev_info(cfd, &ci));
	/* Per page: one copy, and one copy or reuse; never a shared write. */
	EXPECT_LE(NPAGES, si.copy + ci.copy);
	EXPECT_EQ(2 * NPAGES, global_stat("pool_in_use"));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);
}

/* A writer that goes round until told to stop. */
struct page_writer {
	struct writer w;
	volatile bool *stop;
};

/* Read, then write, each page in turn: write faults after read faults. */
static void *page_writer_thread(void *arg)
{
	struct page_writer *pw = arg;
	struct writer *w = &pw->w;
	long ps = page_size();
	size_t off;

	pthread_barrier_wait(w->barrier);
	while (!*pw->stop) {
		for (off = 0; off < w->len; off += ps) {
			(void)*(volatile char *)(w->p + off);
			memset(w->p + off, w->val, ps);
		}
	}
	return NULL;
}

/* True if every byte of [p, p + len) is one of the three in @ok. */
static bool bytes_among(const char *p, size_t len, const char ok[3])
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ok[0] && p[i] != ok[1] && p[i] != ok[2])
			return false;
	return true;
}

/*
 * Holes punched in both objects while threads fault their pages in and
 * write them: the lookups that lose to a punch retry, no write reaches the
 * other object or a freed page, and every page goes back to the pool.
 */
TEST_F(clone, punch_races_write_faults)
{
	enum { ROUNDS = 200 };
	static const char s_ok[3] = { 0, 'o', 's' }, c_ok[3] = { 0, 'o', 'c' };
	volatile bool stop = false;
	pthread_barrier_t barrier;
	struct page_writer w[2];
	size_t half = self->len / 2;
	pthread_t th[2];
	char *s, *c, *fresh;
	int cfd, i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(fill_and_clone(self->fd, self->len, 'o', &s, &cfd, &c));
	pthread_barrier_init(&barrier, NULL, 3);
	w[0] = (struct page_writer){ { s, self->len, 's', &barrier }, &stop };
	w[1] = (struct page_writer){ { c, self->len, 'c', &barrier }, &stop };
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, page_writer_thread, &w[i]));
	pthread_barrier_wait(&barrier);
	for (i = 0; i < ROUNDS; i++) {
		ASSERT_EQ(0, cowdev_punch(self->fd, (i & 1) * half, half));
		ASSERT_EQ(0, cowdev_punch(cfd, !(i & 1) * half, half));
	}
	stop = true;
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	EXPECT_TRUE(bytes_among(s, self->len, s_ok));
	EXPECT_TRUE(bytes_among(c, self->len, c_ok));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);

	/* Pages the race gave back come out of the pool zeroed. */
	ASSERT_EQ(0, cowdev_punch(self->fd, 0, self->len));
	fresh = map_shared(self->fd, self->len);
	ASSERT_NE(MAP_FAILED, fresh);
	EXPECT_TRUE(all_bytes(fresh, self->len, 0));
	munmap(fresh, self->len);
}

/* Processes write the same shared pages of two objects at once. */
TEST_F(clone, concurrent_writers_processes)
{
	enum { PROCS = 4 };
	char *s, *c, byte;
	int cfd, i, status, go[2];
	pid_t pids[PROCS];

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(fill_and_clone(self->fd, self->len, 'o', &s, &cfd, &c));
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < PROCS; i++) {
		pids[i] = fork_child();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0) {
			close(go[1]);
			if (read(go[0], &byte, 1) != 0)
				_exit(1);
			memset(i & 1 ? c : s, i & 1 ? 'c' : 's', self->len);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);		/* EOF releases all children at once */
	for (i = 0; i < PROCS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
	}
	EXPECT_TRUE(all_bytes(s, self->len, 's'));
	EXPECT_TRUE(all_bytes(c, self->len, 'c'));
	EXPECT_EQ(2 * NPAGES, global_stat("pool_in_use"));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);
}

struct sequencer {
	volatile uint64_t *a, *b;
	volatile bool stop;
	uint64_t last;
};

/* Store n to page A, then to page B, for n = 1, 2, 3, ... */
static void *sequencer_thread(void *arg)
{
	struct sequencer *q = arg;
	uint64_t n = 0;

	while (!q->stop) {
		n++;
		*q->a = n;
		*q->b = n;
	}
	q->last = n;
	return NULL;
}

/*
 * Clones taken while a thread writes are point-in-time snapshots: a clone
 * never holds a later store to page B without the store to page A made
 * before it, and nothing stored after the clone reaches it.
 */
TEST_F(clone, clone_while_writing_is_a_snapshot)
{
	enum { CLONES = 20 };
	struct sequencer q = { 0 };
	char *s = map_shared(self->fd, 2 * self->ps);
	uint64_t a[CLONES], b[CLONES];
	pthread_t th;
	int cfd[CLONES], i;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, s);
	q.a = (uint64_t *)s;
	q.b = (uint64_t *)(s + self->ps);
	*q.a = 0;
	*q.b = 0;
	ASSERT_EQ(0, pthread_create(&th, NULL, sequencer_thread, &q));
	for (i = 0; i < CLONES; i++) {
		cfd[i] = cowdev_clone(self->fd);
		ASSERT_GE(cfd[i], 0);
	}
	q.stop = true;
	pthread_join(th, NULL);
	for (i = 0; i < CLONES; i++) {
		char *c = mmap(NULL, 2 * self->ps, PROT_READ, MAP_SHARED,
			       cfd[i], 0);

		ASSERT_NE(MAP_FAILED, c);
		a[i] = *(uint64_t *)c;
		b[i] = *(uint64_t *)(c + self->ps);
		munmap(c, 2 * self->ps);
		close(cfd[i]);
		/* A is stored first: B may lag A by one store, never lead. */
		EXPECT_TRUE(b[i] == a[i] || b[i] + 1 == a[i])
			TH_LOG("clone %d: A %llu B %llu", i,
			       (unsigned long long)a[i], (unsigned long long)b[i]);
		EXPECT_LE(a[i], q.last);
		if (i)
			EXPECT_LE(a[i - 1], a[i]);
	}
	EXPECT_EQ(q.last, *q.a);
	munmap(s, 2 * self->ps);
}

TEST_F(clone, private_mapping_of_source_unaffected)
{
	char *p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->fd, 0);
	char *s = map_shared(self->fd, self->len);
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, s);
	memset(s, 'o', self->len);
	memset(p, 'p', self->len / 2);		/* private copies */
	cfd = cowdev_clone(self->fd);
	ASSERT_GE(cfd, 0);
	EXPECT_TRUE(all_bytes(p, self->len / 2, 'p'));
	EXPECT_TRUE(all_bytes(p + self->len / 2, self->len / 2, 'o'));
	/* Unwritten private pages follow the source, not the clone. */
	memset(s, 's', self->len);
	EXPECT_TRUE(all_bytes(p + self->len / 2, self->len / 2, 's'));
	close(cfd);
	munmap(p, self->len);
	munmap(s, self->len);
}

TEST_F(clone, shrink_after_clone_keeps_clone)
{
	char *s, *c;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(fill_and_clone(self->fd, self->len, 'a', &s, &cfd, &c));
	ASSERT_EQ(0, cowdev_set_size(self->fd, self->ps));
	EXPECT_TRUE(access_sigbus(s + self->ps, false));
	EXPECT_TRUE(all_bytes(c, self->len, 'a'));
	EXPECT_EQ(NPAGES, global_stat("pool_in_use"));
	munmap(c, self->len);
	close(cfd);
	munmap(s, self->len);
}

TEST_F(clone, shared_across_fork)
{
	char *s = map_shared(self->fd, self->len);
	int status;
	pid_t pid;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, s);
	memset(s, 'p', self->len);
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		bool ok = all_bytes(s, self->len, 'p');

		memset(s, 'c', self->len);
		_exit(ok ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_TRUE(all_bytes(s, self->len, 'c'));
	munmap(s, self->len);
}

TEST_F(clone, private_isolated_across_fork)
{
	char *p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->fd, 0);
	int status;
	pid_t pid;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, self->len, false, 0);	/* read first: core copies later */
	memset(p, 'p', self->len);
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		memset(p, 'c', self->len);
		_exit(all_bytes(p, self->len, 'c') ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_TRUE(all_bytes(p, self->len, 'p'));
	munmap(p, self->len);
}

TEST_F(clone, mremap_partial_munmap_mprotect)
{
	char *s = map_shared(self->fd, self->len), *m;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, s);
	memset(s, 'a', self->len);
	/* Move and grow: contents follow, the new tail faults in zeroes. */
	m = mremap(s, self->len, 2 * self->len, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_TRUE(all_bytes(m, self->len, 'a'));
	EXPECT_TRUE(all_bytes(m + self->len, self->len, 0));
	/* Punch a hole in the mapping: the rest stays mapped. */
	ASSERT_EQ(0, munmap(m + self->ps, self->ps));
	EXPECT_TRUE(all_bytes(m + 2 * self->ps, self->ps, 'a'));
	/* Read-only, then writable again: writes still land. */
	ASSERT_EQ(0, mprotect(m + 2 * self->ps, self->ps, PROT_READ));
	EXPECT_EQ('a', m[2 * self->ps]);
	ASSERT_EQ(0, mprotect(m + 2 * self->ps, self->ps, PROT_READ | PROT_WRITE));
	m[2 * self->ps] = 'b';
	EXPECT_EQ('b', m[2 * self->ps]);
	munmap(m, self->ps);
	munmap(m + 2 * self->ps, 2 * self->len - 2 * self->ps);
}

TEST(set_mode_rules)
{
	struct cowdev_info info;
	int fd = open(COWDEV_DEV, O_RDWR);
	char *p;
	int ret;

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_SET_MODE, 7));
	EXPECT_EQ(EINVAL, errno);
	ret = cowdev_set_mode(fd, COWDEV_MODE_PFN);
	if (cowdev_no_pfn_mode(COWDEV_MODE_PFN, ret)) {
		/* The refusal leaves the object in page mode. */
		ASSERT_EQ(0, cowdev_info(fd, &info));
		EXPECT_EQ(COWDEV_MODE_PAGE, info.mode);
	} else {
		ASSERT_EQ(0, ret);
		ASSERT_EQ(0, cowdev_info(fd, &info));
		EXPECT_EQ(COWDEV_MODE_PFN, info.mode);
	}
	ASSERT_EQ(0, ioctl(fd, COWDEV_IOC_SET_MODE, COWDEV_MODE_PAGE));
	p = mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	munmap(p, page_size());
	/* Fixed from the first mmap on, even once unmapped. */
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_SET_MODE, COWDEV_MODE_PFN));
	EXPECT_EQ(ret ? EOPNOTSUPP : EBUSY, errno);
	close(fd);
}

TEST(clone_argument_must_be_zero)
{
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_CLONE, 1));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST_HARNESS_MAIN
