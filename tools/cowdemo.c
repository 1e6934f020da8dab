// SPDX-License-Identifier: GPL-2.0
/*
 * cowdemo: walk through cowdev's fault paths and show which counters move.
 *
 * Each step touches a few pages and prints the counters of the object that
 * changed, so a reader can match each kernel path (do_read_fault,
 * do_shared_fault, wp_page_shared, do_cow_fault, wp_page_copy) and each
 * driver decision (reuse, copy) and wait (page lock, writeback) to what the
 * device saw.  For each page a step touches it also prints what
 * /proc/self/pagemap says before and after: the physical frame, and whether
 * the page is mapped once (exclusive) and soft-dirty, so that a reader sees
 * a parent and child share a frame after fork and part after the copy, and
 * a write after CLONE move to a new frame.  The last chapter pages: an
 * object with a backing store is evicted and read back by major faults,
 * with readahead, and a second thread waits on the page lock while the
 * first reads.  Run it under cowtrace to see the waits as a histogram.  Needs the module loaded, debugfs mounted and
 * root (it sets fill_delay_us for one step; pagemap shows frames to
 * CAP_SYS_ADMIN only).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/cowdev.h"

#define PAGES 4

static const struct {
	const char *name;
	size_t offset;
} fields[] = {
#define F(x) { #x, offsetof(struct cowdev_info, x) }
	F(faults), F(read_faults), F(write_faults), F(mkwrite),
	F(pfn_mkwrite), F(reuse), F(copy), F(cow_faults), F(faultaround_pages),
	F(resident_pages),
	F(lock_waits), F(writeback_waits),
	F(evictions), F(pages_written), F(major_faults), F(pages_read),
	F(readahead_pages), F(readahead_hits),
#undef F
};

/* The demo's objects and what their counters were at the last step. */
struct object {
	int fd;
	struct cowdev_info last;
	unsigned long long last_core_copy;
};

static long ps;
static int pagemap_fd;

/* /proc/PID/pagemap bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_EXCLUSIVE	(1ULL << 56)
#define PM_PRESENT	(1ULL << 63)

/* What the touched pages at @p looked like: their pagemap entries. */
struct frames {
	const char *p;
	unsigned long long pme[PAGES];
};

static void frames_read(const char *p, struct frames *f)
{
	off_t off = (off_t)((unsigned long)p / ps) * sizeof(f->pme[0]);

	f->p = p;
	if (pread(pagemap_fd, f->pme, sizeof(f->pme), off) != sizeof(f->pme)) {
		perror("/proc/self/pagemap");
		exit(1);
	}
}

/* "pfn 0x1a2b3 exclusive soft-dirty", or "not present". */
static const char *frame_str(unsigned long long pme, char *buf, size_t len)
{
	if (!(pme & PM_PRESENT))
		return "not present";
	snprintf(buf, len, "pfn %#llx%s%s", pme & PM_PFN_MASK,
		 pme & PM_EXCLUSIVE ? " exclusive" : "",
		 pme & PM_SOFT_DIRTY ? " soft-dirty" : "");
	return buf;
}

/* One line a page: "page N: BEFORE -> AFTER", as of now. */
static void frames_print(const struct frames *before, int pages)
{
	struct frames after;
	char b[64], a[64];
	int i;

	frames_read(before->p, &after);
	for (i = 0; i < pages; i++)
		printf("   page %d: %s -> %s\n", i,
		       frame_str(before->pme[i], b, sizeof(b)),
		       frame_str(after.pme[i], a, sizeof(a)));
}

static unsigned long long field(const struct cowdev_info *info, size_t off)
{
	return *(const __u64 *)((const char *)info + off);
}

static unsigned long long object_counter(struct object *o, const char *name)
{
	char path[96], key[64], line[128];
	unsigned long long val, ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/cowdev/objects/%llu",
		 (unsigned long long)o->last.id);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %llu", key, &val) == 2 &&
		    !strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

static void get_info(struct object *o, struct cowdev_info *info)
{
	memset(info, 0, sizeof(*info));
	if (ioctl(o->fd, COWDEV_IOC_GET_INFO, info)) {
		perror("COWDEV_IOC_GET_INFO");
		exit(1);
	}
}

/*
 * Print what changed in object @o since the previous step, and the first
 * @pages of @before's pages then and now.
 */
static void step(struct object *o, const char *what, const char *path,
		 const struct frames *before, int pages)
{
	struct cowdev_info now;
	unsigned long long core_copy;
	size_t i;

	get_info(o, &now);
	printf("\n== %s\n   %s\n   object %llu:", what, path,
	       (unsigned long long)now.id);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		/* Signed: a level (resident_pages) also goes down. */
		long long d = field(&now, fields[i].offset) -
			      field(&o->last, fields[i].offset);
		if (d)
			printf(" %s %+lld", fields[i].name, d);
	}
	o->last = now;
	core_copy = object_counter(o, "core_copy");
	if (core_copy != o->last_core_copy)
		printf(" core_copy +%llu", core_copy - o->last_core_copy);
	o->last_core_copy = core_copy;
	printf("\n");
	frames_print(before, pages);
}

static pthread_barrier_t start_together;

static void *read_first_page(void *p)
{
	/* Both threads exist before either faults: creating a thread maps its
	 * stack, which waits for mmap_lock, held by a fault in progress.
	 */
	pthread_barrier_wait(&start_together);
	(void)*(volatile char *)p;
	return NULL;
}

static void set_fill_delay(const char *us)
{
	FILE *f = fopen("/sys/module/cowdev/parameters/fill_delay_us", "w");

	if (!f || fputs(us, f) < 0 || fclose(f)) {
		perror("fill_delay_us");
		exit(1);
	}
}

/* Two threads read page @p at once while a fill or read back takes 50 ms. */
static void two_readers(char *p)
{
	pthread_t th[2];
	int i;

	set_fill_delay("50000");
	pthread_barrier_init(&start_together, NULL, 2);
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, read_first_page, p);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_together);
	set_fill_delay("0");
}

/* Note the frames at @p in @before, then touch its pages. */
static void touch(char *p, int write, struct frames *before)
{
	int i;

	frames_read(p, before);

	for (i = 0; i < PAGES; i++) {
		if (write)
			((volatile char *)p)[i * ps] = 'x';
		else
			(void)((volatile char *)p)[i * ps];
	}
}

static char *map(struct object *o, size_t len, int flags, off_t off)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, o->fd, off);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

/*
 * fork, then the child writes the private pages the parent has copied:
 * the child starts on the parent's frames, and its write copies each page
 * to a frame of its own (do_wp_page() -> wp_page_copy()), since two
 * processes map it.
 */
static void fork_step(char *private)
{
	struct frames parent, child;
	char buf[64];
	int i, status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		/* The inherited descriptor reads the parent's page tables. */
		close(pagemap_fd);
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
		if (pagemap_fd < 0) {
			perror("/proc/self/pagemap");
			_exit(1);
		}
		printf("\n== fork, then the child writes its private pages\n"
		       "   do_wp_page -> wp_page_copy: the child's pages move\n"
		       "   the child:\n");
		touch(private, 1, &child);
		frames_print(&child, PAGES);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "cowdemo: the forked child failed\n");
		exit(1);
	}
	frames_read(private, &parent);
	printf("   the parent, unchanged:\n");
	for (i = 0; i < PAGES; i++)
		printf("   page %d: %s\n", i,
		       frame_str(parent.pme[i], buf, sizeof(buf)));
}

static long majflt(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_majflt;
}

static void evict_all(struct object *o, size_t len)
{
	struct cowdev_evict ev = { .len = len };

	if (ioctl(o->fd, COWDEV_IOC_EVICT, &ev)) {
		perror("COWDEV_IOC_EVICT");
		exit(1);
	}
}

/*
 * Demand paging: a memfd for a backing store, eviction, major faults with
 * readahead, and a fault that waits on PG_locked while another reads.
 */
static void paging_chapter(void)
{
	const size_t npages = 64, len = npages * ps;
	struct object o = { 0 };
	struct frames before;
	__u64 size = len;
	long flt;
	char *p;
	int store, i;

	o.fd = open("/dev/cowdev", O_RDWR);
	store = memfd_create("cowdemo-store", 0);
	if (o.fd < 0 || store < 0 ||
	    ioctl(o.fd, COWDEV_IOC_SET_SIZE, &size) ||
	    ioctl(o.fd, COWDEV_IOC_SET_BACKING, store)) {
		perror("cowdemo: an object with a backing store");
		exit(1);
	}
	close(store);	/* the object holds it */
	get_info(&o, &o.last);
	p = map(&o, len, MAP_SHARED, 0);
	memset(p, 'x', len);
	get_info(&o, &o.last);

	evict_all(&o, len);
	frames_read(p, &before);
	step(&o, "COWDEV_IOC_EVICT of 64 written pages",
	     "written to the store, unmapped, and gone from memory",
	     &before, PAGES);

	flt = majflt();
	touch(p, 0, &before);
	step(&o, "read the first 4: a major fault, and readahead",
	     "->fault: VM_FAULT_RETRY | VM_FAULT_MAJOR, reads a window", &before,
	     PAGES);
	printf("   getrusage: ru_majflt +%ld\n", majflt() - flt);
	for (i = PAGES; i < (int)npages; i++)
		(void)((volatile char *)p)[i * ps];
	step(&o, "read on to the end",
	     "each window's mark sends the next one ahead", &before, 0);

	evict_all(&o, len);
	get_info(&o, &o.last);
	frames_read(p, &before);
	two_readers(p);
	step(&o, "evicted again; two threads read page 0, read back for 50 ms",
	     "one reads with the page locked, the other sleeps on PG_locked",
	     &before, 1);
	munmap(p, len);
	close(o.fd);
}

int main(void)
{
	struct object src = { 0 }, clone = { 0 };
	struct cowdev_writeback wb = { .delay_us = 50000 };
	char *shared, *private, *c;
	struct frames before;

	ps = sysconf(_SC_PAGESIZE);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0) {
		perror("/proc/self/pagemap");
		return 1;
	}
	src.fd = open("/dev/cowdev", O_RDWR);
	if (src.fd < 0) {
		perror("/dev/cowdev (is the module loaded?)");
		return 1;
	}
	get_info(&src, &src.last);
	printf("object %llu: %llu bytes, %s mode; touching %d pages per step\n",
	       (unsigned long long)src.last.id, (unsigned long long)src.last.size,
	       src.last.mode == COWDEV_MODE_PFN ? "pfn" : "page", PAGES);

	shared = map(&src, 2 * PAGES * ps, MAP_SHARED, 0);
	private = map(&src, 2 * PAGES * ps, MAP_PRIVATE, 0);

	touch(shared, 0, &before);
	step(&src, "MAP_SHARED, read first touch", "do_read_fault -> ->fault",
	     &before, PAGES);
	touch(shared, 1, &before);
	step(&src, "MAP_SHARED, write after read",
	     "do_wp_page -> wp_page_shared -> ->page_mkwrite: reuse",
	     &before, PAGES);
	touch(shared + PAGES * ps, 1, &before);
	step(&src, "MAP_SHARED, write first touch",
	     "do_shared_fault -> ->fault + ->page_mkwrite: reuse",
	     &before, PAGES);
	touch(private, 1, &before);
	step(&src, "MAP_PRIVATE, write to a page the object has",
	     "do_cow_fault -> ->fault (cow_page), the core copies",
	     &before, PAGES);
	touch(private + PAGES * ps, 0, &before);
	touch(private + PAGES * ps, 1, &before);
	step(&src, "MAP_PRIVATE, read then write",
	     "do_read_fault, then do_wp_page -> wp_page_copy (no vm_ops call)",
	     &before, PAGES);
	fork_step(private);

	clone.fd = ioctl(src.fd, COWDEV_IOC_CLONE, 0);
	if (clone.fd < 0) {
		perror("COWDEV_IOC_CLONE");
		return 1;
	}
	get_info(&clone, &clone.last);
	c = map(&clone, 4 * PAGES * ps, MAP_SHARED, 0);
	/* Both map the frames they share (CLONE unmapped the source). */
	touch(shared, 0, &before);
	touch(c, 0, &before);
	get_info(&src, &src.last);
	get_info(&clone, &clone.last);
	touch(shared, 1, &before);
	step(&src, "COWDEV_IOC_CLONE, then write in the source",
	     "->page_mkwrite finds the page shared: copy, zap, refault",
	     &before, PAGES);
	touch(c, 1, &before);
	step(&clone, "... then write the same pages in the clone",
	     "->page_mkwrite finds the page its own now: reuse",
	     &before, PAGES);

	frames_read(c + 3 * PAGES * ps, &before);
	two_readers(c + 3 * PAGES * ps);
	step(&clone, "two threads fault a fresh page filled for 50 ms",
	     "the second sleeps on PG_locked until the first has mapped it",
	     &before, 1);

	if (ioctl(clone.fd, COWDEV_IOC_WRITEBACK, &wb)) {
		perror("COWDEV_IOC_WRITEBACK");
		return 1;
	}
	touch(c, 1, &before);
	step(&clone, "COWDEV_IOC_WRITEBACK for 50 ms, then write",
	     "->page_mkwrite sleeps on PG_writeback: stable pages",
	     &before, PAGES);

	munmap(c, 4 * PAGES * ps);
	munmap(shared, 2 * PAGES * ps);
	munmap(private, 2 * PAGES * ps);
	close(clone.fd);
	close(src.fd);

	paging_chapter();
	close(pagemap_fd);
	return 0;
}
