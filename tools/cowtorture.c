// SPDX-License-Identifier: GPL-2.0
/*
 * cowtorture: threads and processes doing random mm and cowdev operations
 * on a few objects, with an oracle that checks every byte it can predict.
 *
 *   cowtorture [-s SEED] [-t SECONDS] [-j WORKERS] [-n PAGES] [-m page|pfn]
 *
 * Every page holds one stamp repeated in every word: object, offset and
 * version.  Each page of an object belongs to one worker thread, the only
 * one that writes it, so the worker knows exactly what the page must hold
 * and checks it after every operation: writes through its own mappings,
 * through process_vm_writev() and /proc/self/mem (page mode), hole
 * punching, private COW mappings, vmsplice, mremap, mprotect and madvise;
 * now and then it also reads the page through a new mapping, which shows
 * what the object's index holds rather than what its own PTE points at.
 * A chaos thread meanwhile clones objects, starts writebacks, evicts
 * ranges to the backing store that every object but the last has (for
 * the first, a file on the guest's disk, COWDEV_DIRECT_DIR, if it has
 * one: read back with direct I/O; for the others a memfd), runs the shrinker (drop_caches) for the reclaimer to evict from
 * them, shrinks and regrows a tail that only it writes, forks readers and
 * closes files while they are mapped.  A clone must hold, for every word, a version that was
 * the page's between just before and just after the clone (or zero if the
 * page was empty or punched meanwhile), and must never change afterwards;
 * no stamp may ever show up under another object or offset.
 *
 * Each object's mode is drawn from the seed unless -m fixes it for all.
 * A clone that misses a word says what the source holds just after and
 * how many punches of the page began and ended: with no punch since, a
 * source that still has the word lost it in the clone, a source without
 * it lost it before.
 *
 * Prints its seed first so that a run can be replayed, and ends with
 * "cowtorture: ... N mismatches"; exits 1 on any mismatch.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/cowdev.h"

#define NOBJ 3
#define TAIL 8			/* pages past the workers', the chaos thread's */
#define MAX_WORKERS 8
#define MAX_CLONES 4

static long ps;
static unsigned int npages = 32, nworkers = 3;
static int fixed_mode = -1;	/* -m: every object's mode, or -1 */
static atomic_bool stop;
static atomic_long mismatches, ops;

struct object {
	int fd;
	unsigned int id;	/* stamp id: index in objs[] + 1 */
	enum cowdev_mode mode;
	/* Per page: last completed version, 0 for a zero page. */
	_Atomic uint64_t *committed;
	/* Per page: the newest version ever begun; punching keeps it. */
	_Atomic uint64_t *latest;
	/* Per page: punches begun and ended, so a clone knows when a hole was possible. */
	atomic_uint *punch_start, *punch_end;
	bool backed;		/* has a backing store: EVICT works */
};

static struct object objs[NOBJ];

static uint64_t stamp(unsigned int id, unsigned long pgoff, uint64_t version)
{
	return (uint64_t)id << 56 | (uint64_t)pgoff << 40 | version;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void mismatch(const char *what, unsigned int id, unsigned long pgoff,
		     uint64_t want, uint64_t got)
{
	atomic_fetch_add(&mismatches, 1);
	fprintf(stderr, "cowtorture: MISMATCH %s: object %u page %lu: want %#llx, got %#llx\n",
		what, id, pgoff, (unsigned long long)want,
		(unsigned long long)got);
}

static void fill(void *page, uint64_t v)
{
	uint64_t *w = page;
	long i;

	for (i = 0; i < ps / 8; i++)
		w[i] = v;
}

/* Check that every word of @page is @want; report the first that is not. */
static bool check(const char *what, const void *page, unsigned int id,
		  unsigned long pgoff, uint64_t want)
{
	const volatile uint64_t *w = page;
	uint64_t v;
	long i;

	/* One load a word: a second one may see a later, legal value. */
	for (i = 0; i < ps / 8; i++) {
		v = w[i];
		if (v != want) {
			mismatch(what, id, pgoff, want, v);
			return false;
		}
	}
	return true;
}

/*
 * Does /dev/cowdev offer pfn mode here?  It is built on x86 and arm64:
 * elsewhere SET_MODE says EOPNOTSUPP, and every object is in page mode.
 */
static bool have_pfn_mode(void)
{
	int fd = open("/dev/cowdev", O_RDWR);
	bool have = fd < 0 || !ioctl(fd, COWDEV_IOC_SET_MODE, COWDEV_MODE_PFN) ||
		    errno != EOPNOTSUPP;

	if (fd >= 0)
		close(fd);
	return have;
}

static int open_object(enum cowdev_mode mode, size_t pages)
{
	uint64_t size = pages * ps;
	int fd = open("/dev/cowdev", O_RDWR | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, COWDEV_IOC_SET_SIZE, &size) ||
	    ioctl(fd, COWDEV_IOC_SET_MODE, mode)) {
		perror("cowtorture: /dev/cowdev");
		exit(2);
	}
	return fd;
}

/*
 * The backing store of object @k: for the first, a new, unlinked file on
 * the guest's disk (COWDEV_DIRECT_DIR) if it has one, else a memfd.
 */
static int open_store(unsigned int k, bool *on_disk)
{
	const char *dir = getenv("COWDEV_DIRECT_DIR");
	char path[PATH_MAX];
	int fd;

	*on_disk = !k && dir;
	if (!*on_disk)
		return memfd_create("cowtorture-store", MFD_CLOEXEC);
	snprintf(path, sizeof(path), "%s/cowtorture-store-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static char *map_shared(int fd, size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		perror("cowtorture: mmap");
		exit(2);
	}
	return p;
}

/*
 * Worker n advises its mappings advice[n % 3]: readahead's three ways
 * (read-around, sequential, none) all meet the chaos thread's evictions.
 */
static const int advice[] = { MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM };

struct worker {
	unsigned int n;
	uint64_t rng;
	char *map[NOBJ];	/* this worker's shared mapping of each object */
	uint64_t version[NOBJ];	/* its own next version, per object */
};

/* The value a worker's page must hold. */
static uint64_t expected(struct object *o, unsigned long pgoff)
{
	uint64_t v = atomic_load(&o->committed[pgoff]);

	return v ? stamp(o->id, pgoff, v) : 0;
}

/* Write a new version of page @pgoff of @o, by one of several routes. */
static void worker_write(struct worker *w, struct object *o, unsigned long pgoff,
			 int how)
{
	char *page = w->map[o->id - 1] + pgoff * ps;
	uint64_t v = ++w->version[o->id - 1];
	static __thread char *buf;
	struct iovec local, remote;
	ssize_t n = ps;
	int fd;

	if (!buf)
		buf = malloc(ps);
	fill(buf, stamp(o->id, pgoff, v));
	atomic_store(&o->latest[pgoff], v);
	if (o->mode == COWDEV_MODE_PFN)
		how = 0;	/* special PTEs: no GUP */
	switch (how) {
	case 1:
		local = (struct iovec){ buf, ps };
		remote = (struct iovec){ page, ps };
		n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
		break;
	case 2:
		fd = open("/proc/self/mem", O_RDWR);
		n = fd < 0 ? -1 : pwrite(fd, buf, ps, (off_t)(uintptr_t)page);
		if (fd >= 0)
			close(fd);
		break;
	default:
		memcpy(page, buf, ps);
	}
	if (n != ps) {
		mismatch("GUP write failed", o->id, pgoff, ps, n);
		return;
	}
	atomic_store(&o->committed[pgoff], v);
}

static void worker_punch(struct object *o, unsigned long pgoff)
{
	atomic_fetch_add(&o->punch_start[pgoff], 1);
	if (ioctl(o->fd, COWDEV_IOC_PUNCH_HOLE,
		  &(struct cowdev_range){ pgoff * ps, ps }))
		mismatch("PUNCH_HOLE failed", o->id, pgoff, 0, errno);
	atomic_store(&o->committed[pgoff], 0);
	atomic_fetch_add(&o->punch_end[pgoff], 1);
}

/* A private COW copy: it survives a hole punched under it. */
static void worker_private(struct worker *w, struct object *o,
			   unsigned long pgoff, bool punch)
{
	uint64_t want = expected(o, pgoff);
	char *q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, o->fd,
		       pgoff * ps);

	if (q == MAP_FAILED) {
		mismatch("private mmap failed", o->id, pgoff, 0, errno);
		return;
	}
	check("private read", q, o->id, pgoff, want);
	fill(q, ~0ULL);		/* a private COW copy */
	if (punch) {
		worker_punch(o, pgoff);
		want = 0;
	}
	check("shared view after private write", w->map[o->id - 1] + pgoff * ps,
	      o->id, pgoff, want);
	check("private copy", q, o->id, pgoff, ~0ULL);
	munmap(q, ps);
}

static void worker_vmsplice(struct worker *w, struct object *o,
			    unsigned long pgoff)
{
	struct iovec iov = { w->map[o->id - 1] + pgoff * ps, ps };
	uint64_t want = expected(o, pgoff);
	char *buf = malloc(ps);
	int pipefd[2];

	if (!buf || pipe(pipefd))
		goto out;
	if (vmsplice(pipefd[1], &iov, 1, 0) == ps &&
	    read(pipefd[0], buf, ps) == ps)
		check("vmsplice'd page", buf, o->id, pgoff, want);
	else if (o->mode == COWDEV_MODE_PAGE)
		mismatch("vmsplice failed", o->id, pgoff, ps, errno);
	close(pipefd[0]);
	close(pipefd[1]);
out:
	free(buf);
}

/*
 * Move this worker's mapping of @o somewhere else.  A pfn-mode mapping that
 * mprotect() split stays split (VM_MIXEDMAP VMAs never merge), and mremap()
 * does not cross VMAs: it is mapped afresh instead.
 */
static void worker_mremap(struct worker *w, struct object *o)
{
	size_t len = npages * ps;
	char *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (to == MAP_FAILED)
		return;
	if (o->mode == COWDEV_MODE_PFN) {
		munmap(w->map[o->id - 1], len);
		p = mmap(to, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 o->fd, 0);
	} else {
		p = mremap(w->map[o->id - 1], len, len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, to);
	}
	if (p == MAP_FAILED) {
		perror("cowtorture: mremap");
		exit(2);
	}
	madvise(p, len, advice[w->n % 3]);	/* a fresh mapping has none */
	w->map[o->id - 1] = p;
}

/*
 * Read the page through a mapping of its own, which can only fault it in
 * from the object's index: a write that landed in a page the object no
 * longer holds still shows through the worker's old mapping, not here.
 */
static void worker_fresh_check(struct object *o, unsigned long pgoff)
{
	char *q = mmap(NULL, ps, PROT_READ, MAP_SHARED, o->fd, pgoff * ps);

	if (q == MAP_FAILED) {
		mismatch("fresh mmap failed", o->id, pgoff, 0, errno);
		return;
	}
	check("page through a fresh mapping", q, o->id, pgoff,
	      expected(o, pgoff));
	munmap(q, ps);
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	struct object *o;
	unsigned long pgoff;
	char *page;
	int op;

	while (!atomic_load(&stop)) {
		o = &objs[rnd(&w->rng) % NOBJ];
		pgoff = w->n + nworkers * (rnd(&w->rng) % (npages / nworkers));
		page = w->map[o->id - 1] + pgoff * ps;
		op = rnd(&w->rng) % 16;
		switch (op) {
		case 0 ... 5:
			worker_write(w, o, pgoff, op % 3);
			break;
		case 6:
			worker_punch(o, pgoff);
			break;
		case 7:
			worker_private(w, o, pgoff, rnd(&w->rng) % 2);
			break;
		case 8:
			worker_vmsplice(w, o, pgoff);
			break;
		case 9:
			worker_mremap(w, o);
			break;
		case 10:
			mprotect(page, ps, PROT_READ);
			check("read-only page", page, o->id, pgoff, expected(o, pgoff));
			mprotect(page, ps, PROT_READ | PROT_WRITE);
			break;
		case 11:
			madvise(page, ps, MADV_DONTNEED);
			break;
		case 12:
			worker_fresh_check(o, pgoff);
			break;
		}
		page = w->map[o->id - 1] + pgoff * ps;	/* mremap moves it */
		check("page", page, o->id, pgoff, expected(o, pgoff));
		atomic_fetch_add(&ops, 1);
	}
	return NULL;
}

struct clone {
	int fd;
	unsigned int src;	/* stamp id of the object cloned */
	char *map, *image;	/* its mapping, and what it held at first */
	bool backed;		/* given a store of its own after the clone */
};

/* Is @v a word page @pgoff of @o may hold in a clone made in the window? */
static bool clone_word_ok(struct object *o, unsigned long pgoff, uint64_t v,
			  uint64_t before, uint64_t after, bool zero_ok)
{
	uint64_t version = v & ((1ULL << 40) - 1);

	if (!v)
		return zero_ok;
	return (v >> 40) == (((uint64_t)o->id << 16) | pgoff) &&
	       version >= before && version <= after;
}

/*
 * After a clone missed word @i of page @p: how much of the clone's page is
 * wrong, and what the source's index holds there now, read through a new
 * mapping (the worker that owns the page may have written it since).
 */
static void clone_explain(struct clone *c, struct object *o, unsigned long p,
			  long i)
{
	const uint64_t *w = (uint64_t *)(c->image + p * ps);
	char *m = mmap(NULL, ps, PROT_READ, MAP_SHARED, o->fd, p * ps);
	char *again = mmap(NULL, ps, PROT_READ, MAP_SHARED, c->fd, p * ps);
	long zero = 0, k;

	for (k = 0; k < ps / 8; k++)
		zero += !w[k];
	fprintf(stderr, "cowtorture:   clone page %lu: first bad word %ld, %ld of %ld words zero; committed %#llx, latest %#llx, punches begun %u, ended %u; source now %#llx; clone through a new mapping %#llx, through the old one %#llx\n",
		p, i, zero, ps / 8,
		(unsigned long long)atomic_load(&o->committed[p]),
		(unsigned long long)atomic_load(&o->latest[p]),
		atomic_load(&o->punch_start[p]), atomic_load(&o->punch_end[p]),
		m == MAP_FAILED ? 0ULL : (unsigned long long)*(volatile uint64_t *)m,
		again == MAP_FAILED ? 0ULL :
		(unsigned long long)((volatile uint64_t *)again)[i],
		(unsigned long long)((volatile uint64_t *)(c->map + p * ps))[i]);
	if (m != MAP_FAILED)
		munmap(m, ps);
	if (again != MAP_FAILED)
		munmap(again, ps);
}

static void chaos_clone(struct clone *c, struct object *o)
{
	uint64_t before[256], after[256];
	unsigned int ended[256];
	bool zero_ok[256];
	unsigned long p;
	long i;

	/*
	 * A page may read as a hole if it was one when the clone began, or
	 * if a punch that had not ended when its version was read began
	 * before the clone ended.  Punches end after they store version 0:
	 * reading the end count before the version means a punch we have
	 * not seen end is one whose zero we may have missed.  (Reading it
	 * after, as this did, let a punch store 0 and end in between, and
	 * a clone of the hole was taken for a lost page.)
	 */
	for (p = 0; p < npages; p++) {
		ended[p] = atomic_load(&o->punch_end[p]);
		before[p] = atomic_load(&o->committed[p]);
	}
	c->backed = false;
	c->fd = ioctl(o->fd, COWDEV_IOC_CLONE, 0);
	if (c->fd < 0) {
		mismatch("CLONE failed", o->id, 0, 0, errno);
		return;
	}
	for (p = 0; p < npages; p++) {
		after[p] = atomic_load(&o->latest[p]);
		zero_ok[p] = !before[p] ||
			     atomic_load(&o->punch_start[p]) != ended[p];
	}
	c->src = o->id;
	c->map = mmap(NULL, npages * ps, PROT_READ, MAP_SHARED, c->fd, 0);
	c->image = malloc(npages * ps);
	if (c->map == MAP_FAILED || !c->image) {
		perror("cowtorture: clone mapping");
		exit(2);
	}
	memcpy(c->image, c->map, npages * ps);
	for (p = 0; p < npages; p++) {
		const uint64_t *w = (uint64_t *)(c->image + p * ps);

		for (i = 0; i < ps / 8; i++) {
			if (!clone_word_ok(o, p, w[i], before[p], after[p],
					   zero_ok[p])) {
				mismatch("clone word", o->id, p, before[p], w[i]);
				clone_explain(c, o, p, i);
				break;
			}
		}
	}
}

/* A clone is a snapshot: it never changes. */
static void chaos_recheck(struct clone *c)
{
	const volatile uint64_t *now = (uint64_t *)c->map;
	const uint64_t *then = (uint64_t *)c->image;
	unsigned long i, words = npages * ps / 8;
	uint64_t v;

	for (i = 0; i < words; i++) {
		v = now[i];
		if (v != then[i]) {
			mismatch("clone changed", c->src, i * 8 / ps, then[i], v);
			return;
		}
	}
}

static void chaos_drop(struct clone *c)
{
	if (c->fd < 0)
		return;
	chaos_recheck(c);
	/* Last close while mapped, then the unmap frees the object. */
	close(c->fd);
	chaos_recheck(c);
	munmap(c->map, npages * ps);
	free(c->image);
	c->fd = -1;
}

/*
 * A forked reader: every word is zero or a stamp of its own object and page.
 * It reports the first foreign word it finds through a pipe.
 */
static void chaos_fork(void)
{
	uint64_t bad[3] = { 0 };	/* object, page, word */
	int pipefd[2], status;
	unsigned long p;
	long i;
	pid_t pid;

	if (pipe(pipefd))
		return;
	pid = fork();
	if (pid == 0) {
		for (int k = 0; k < NOBJ; k++) {
			char *m = mmap(NULL, npages * ps, PROT_READ, MAP_SHARED,
				       objs[k].fd, 0);

			if (m == MAP_FAILED)
				_exit(2);
			for (p = 0; p < npages; p++) {
				const volatile uint64_t *w = (uint64_t *)(m + p * ps);

				for (i = 0; i < ps / 8; i++) {
					uint64_t v = w[i];

					if (v && (v >> 40) !=
					    (((uint64_t)objs[k].id << 16) | p)) {
						bad[0] = objs[k].id;
						bad[1] = p;
						bad[2] = v;
						if (write(pipefd[1], bad, sizeof(bad)) < 0)
							_exit(3);
						_exit(1);
					}
				}
			}
		}
		_exit(0);
	}
	close(pipefd[1]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		mismatch("fork or waitpid failed", 0, 0, 0, errno);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (read(pipefd[0], bad, sizeof(bad)) != sizeof(bad))
			bad[0] = bad[1] = bad[2] = 0;
		mismatch("forked reader saw a foreign stamp", bad[0], bad[1], 0,
			 bad[2]);
	}
	close(pipefd[0]);
}

/* Shrink into the tail, which only this thread writes, and grow back. */
static void chaos_tail(struct object *o, char *tail_map, uint64_t *rng)
{
	uint64_t full = (npages + TAIL) * ps, size;
	unsigned long keep = rnd(rng) % TAIL, p;

	for (p = 0; p < TAIL; p++)
		fill(tail_map + p * ps, stamp(o->id, npages + p, 1));
	size = (npages + keep) * ps;
	if (ioctl(o->fd, COWDEV_IOC_SET_SIZE, &size) ||
	    ioctl(o->fd, COWDEV_IOC_SET_SIZE, &full)) {
		mismatch("SET_SIZE failed", o->id, npages, 0, errno);
		return;
	}
	for (p = 0; p < TAIL; p++)
		check("tail after shrink", tail_map + p * ps, o->id, npages + p,
		      p < keep ? stamp(o->id, npages + p, 1) : 0);
}

/* Not being root (a run outside a guest) only leaves this out. */
static void chaos_drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "2", 1) != 1)
		mismatch("drop_caches failed", 0, 0, 0, errno);
	close(fd);
}

static void *chaos_thread(void *arg)
{
	uint64_t *rng = arg;
	struct clone clones[MAX_CLONES];
	char *tail[NOBJ];
	struct cowdev_writeback wb;
	struct cowdev_evict ev;
	struct object *o;
	int k, fd;

	for (k = 0; k < MAX_CLONES; k++)
		clones[k].fd = -1;
	for (k = 0; k < NOBJ; k++)
		tail[k] = map_shared(objs[k].fd, (npages + TAIL) * ps) + npages * ps;
	while (!atomic_load(&stop)) {
		o = &objs[rnd(rng) % NOBJ];
		k = rnd(rng) % MAX_CLONES;
		switch (rnd(rng) % 10) {
		case 0:
		case 1:
			chaos_drop(&clones[k]);
			chaos_clone(&clones[k], o);
			break;
		case 2:
			wb = (struct cowdev_writeback){
				.flags = rnd(rng) % 2 ? COWDEV_WRITEBACK_WAIT : 0,
				.delay_us = rnd(rng) % 2000,
			};
			if (ioctl(o->fd, COWDEV_IOC_WRITEBACK, &wb))
				mismatch("WRITEBACK failed", o->id, 0, 0, errno);
			break;
		case 3:
			chaos_tail(o, tail[o->id - 1], rng);
			break;
		case 4:
			chaos_fork();
			break;
		case 5:
			/* A file closed while its object is mapped. */
			fd = dup(o->fd);
			if (fd >= 0)
				close(fd);
			break;
		case 6:
			/*
			 * drop_caches runs cowdev's shrinker as memory
			 * pressure would: the reclaimer evicts from every
			 * object with a store, whatever the workers do.
			 */
			if (rnd(rng) % 4 == 0) {
				chaos_drop_caches();
				break;
			}
			/* Part of the object, or all of it, tail included. */
			ev = (struct cowdev_evict){
				.offset = rnd(rng) % npages * ps,
				.len = (rnd(rng) % 2 ? npages + TAIL :
					rnd(rng) % 4 + 1) * ps,
			};
			fd = ioctl(o->fd, COWDEV_IOC_EVICT, &ev);
			if (o->backed ? fd != 0 : fd != -1 || errno != EOPNOTSUPP)
				mismatch("EVICT failed", o->id, 0, 0, errno);
			break;
		case 7:
			/*
			 * Half the clones get a store: they write back and
			 * evict pages the source may still share or have
			 * just copied, then must read the snapshot back.
			 */
			if (clones[k].fd < 0)
				break;
			if (!clones[k].backed) {
				fd = memfd_create("cowtorture-clone-store",
						  MFD_CLOEXEC);
				clones[k].backed = fd >= 0 && !ioctl(clones[k].fd,
						COWDEV_IOC_SET_BACKING, fd);
				if (fd >= 0)
					close(fd);
			}
			if (clones[k].backed) {
				wb = (struct cowdev_writeback){ 0 };
				ev = (struct cowdev_evict){ .len = npages * ps };
				if (ioctl(clones[k].fd, COWDEV_IOC_WRITEBACK,
					  &wb) ||
				    ioctl(clones[k].fd, COWDEV_IOC_EVICT, &ev))
					mismatch("clone EVICT failed", o->id, 0,
						 0, errno);
			}
			chaos_recheck(&clones[k]);
			break;
		default:
			if (clones[k].fd >= 0)
				chaos_recheck(&clones[k]);
		}
		atomic_fetch_add(&ops, 1);
	}
	for (k = 0; k < MAX_CLONES; k++)
		chaos_drop(&clones[k]);
	return NULL;
}

int main(int argc, char **argv)
{

	struct worker workers[MAX_WORKERS];
	pthread_t th[MAX_WORKERS + 1];
	uint64_t seed = time(NULL), chaos_rng;
	unsigned int seconds = 10, i, k, p;
	struct timespec ts = { 0 };
	bool pfn_mode, on_disk = false;
	int opt, fd;

	while ((opt = getopt(argc, argv, "s:t:j:n:m:")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': seconds = atoi(optarg); break;
		case 'j': nworkers = atoi(optarg); break;
		case 'n': npages = atoi(optarg); break;
		case 'm':
			fixed_mode = !strcmp(optarg, "pfn") ? COWDEV_MODE_PFN :
				     !strcmp(optarg, "page") ? COWDEV_MODE_PAGE : -2;
			break;
		default:
			fprintf(stderr, "usage: cowtorture [-s SEED] [-t SECONDS] [-j WORKERS] [-n PAGES] [-m page|pfn]\n");
			return 2;
		}
	}
	if (!seed)
		seed = 1;
	if (fixed_mode == -2) {
		fprintf(stderr, "cowtorture: -m takes page or pfn\n");
		return 2;
	}
	if (!nworkers || nworkers > MAX_WORKERS || npages < nworkers ||
	    npages > 256) {
		fprintf(stderr, "cowtorture: 1..%d workers, workers..256 pages\n",
			MAX_WORKERS);
		return 2;
	}
	npages -= npages % nworkers;
	ps = sysconf(_SC_PAGESIZE);
	printf("cowtorture: seed %llu, %u s, %u workers, %u pages\n",
	       (unsigned long long)seed, seconds, nworkers, npages);
	fflush(stdout);

	pfn_mode = have_pfn_mode();
	if (fixed_mode == COWDEV_MODE_PFN && !pfn_mode) {
		fprintf(stderr, "cowtorture: -m pfn: no pfn mode on this architecture\n");
		return 2;
	}
	chaos_rng = seed;
	for (k = 0; k < NOBJ; k++) {
		objs[k].id = k + 1;
		objs[k].mode = rnd(&chaos_rng) % 2 && pfn_mode ?
			       COWDEV_MODE_PFN : COWDEV_MODE_PAGE;
		if (fixed_mode >= 0)
			objs[k].mode = fixed_mode;
		objs[k].fd = open_object(objs[k].mode, npages + TAIL);
		objs[k].committed = calloc(npages, sizeof(*objs[k].committed));
		objs[k].latest = calloc(npages, sizeof(*objs[k].latest));
		objs[k].punch_start = calloc(npages, sizeof(*objs[k].punch_start));
		objs[k].punch_end = calloc(npages, sizeof(*objs[k].punch_end));
		objs[k].backed = k < NOBJ - 1;
		fd = objs[k].backed ? open_store(k, &on_disk) : -1;
		if (objs[k].backed &&
		    (fd < 0 || ioctl(objs[k].fd, COWDEV_IOC_SET_BACKING, fd))) {
			perror("cowtorture: SET_BACKING");
			return 2;
		}
		if (fd >= 0)
			close(fd);	/* the object holds it */
		printf("cowtorture: object %u in %s mode%s%s\n", objs[k].id,
		       objs[k].mode == COWDEV_MODE_PFN ? "pfn" : "page",
		       objs[k].backed ? ", with a backing store" : "",
		       objs[k].backed && on_disk ? " on disk" : "");
	}
	for (i = 0; i < nworkers; i++) {
		workers[i] = (struct worker){ .n = i, .rng = seed * 31 + i + 1 };
		for (k = 0; k < NOBJ; k++) {
			workers[i].map[k] = map_shared(objs[k].fd, npages * ps);
			madvise(workers[i].map[k], npages * ps, advice[i % 3]);
		}
		pthread_create(&th[i], NULL, worker_thread, &workers[i]);
	}
	pthread_create(&th[nworkers], NULL, chaos_thread, &chaos_rng);

	ts.tv_sec = seconds;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	atomic_store(&stop, true);
	for (i = 0; i <= nworkers; i++)
		pthread_join(th[i], NULL);

	/* Every page, read once more through a fresh mapping. */
	for (k = 0; k < NOBJ; k++) {
		char *m = map_shared(objs[k].fd, npages * ps);

		for (p = 0; p < npages; p++)
			check("final", m + p * ps, objs[k].id, p,
			      expected(&objs[k], p));
		munmap(m, npages * ps);
	}
	printf("cowtorture: seed %llu: %ld operations, %ld mismatches\n",
	       (unsigned long long)seed, atomic_load(&ops),
	       atomic_load(&mismatches));
	return atomic_load(&mismatches) ? 1 : 0;
}
