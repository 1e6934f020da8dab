// SPDX-License-Identifier: GPL-2.0
/*
 * cowdemo: walk through cowdev's fault paths and show which counters move.
 *
 * Each step touches a few pages and prints the counters of the object that
 * changed, so a reader can match each kernel path (do_read_fault,
 * do_shared_fault, wp_page_shared, do_cow_fault, wp_page_copy) and each
 * driver decision (reuse, copy) and wait (page lock, writeback) to what the
 * device saw.  Run it under cowtrace to see the waits as a histogram.
 * Needs the module loaded, debugfs mounted and root (it sets fill_delay_us
 * for one step).
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
#undef F
};

/* The demo's objects and what their counters were at the last step. */
struct object {
	int fd;
	struct cowdev_info last;
	unsigned long long last_core_copy;
};

static long ps;

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

/* Print what changed in object @o since the previous step. */
static void step(struct object *o, const char *what, const char *path)
{
	struct cowdev_info now;
	unsigned long long core_copy;
	size_t i;

	get_info(o, &now);
	printf("\n== %s\n   %s\n   object %llu:", what, path,
	       (unsigned long long)now.id);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		unsigned long long d = field(&now, fields[i].offset) -
				       field(&o->last, fields[i].offset);
		if (d)
			printf(" %s +%llu", fields[i].name, d);
	}
	o->last = now;
	core_copy = object_counter(o, "core_copy");
	if (core_copy != o->last_core_copy)
		printf(" core_copy +%llu", core_copy - o->last_core_copy);
	o->last_core_copy = core_copy;
	printf("\n");
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

static void touch(volatile char *p, int write)
{
	int i;

	for (i = 0; i < PAGES; i++) {
		if (write)
			p[i * ps] = 'x';
		else
			(void)p[i * ps];
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

int main(void)
{
	struct object src = { 0 }, clone = { 0 };
	struct cowdev_writeback wb = { .delay_us = 50000 };
	char *shared, *private, *c;
	pthread_t th[2];
	int i;

	ps = sysconf(_SC_PAGESIZE);
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

	touch(shared, 0);
	step(&src, "MAP_SHARED, read first touch", "do_read_fault -> ->fault");
	touch(shared, 1);
	step(&src, "MAP_SHARED, write after read",
	     "do_wp_page -> wp_page_shared -> ->page_mkwrite: reuse");
	touch(shared + PAGES * ps, 1);
	step(&src, "MAP_SHARED, write first touch",
	     "do_shared_fault -> ->fault + ->page_mkwrite: reuse");
	touch(private, 1);
	step(&src, "MAP_PRIVATE, write to a page the object has",
	     "do_cow_fault -> ->fault (cow_page), the core copies");
	touch(private + PAGES * ps, 0);
	touch(private + PAGES * ps, 1);
	step(&src, "MAP_PRIVATE, read then write",
	     "do_read_fault, then do_wp_page -> wp_page_copy (no vm_ops call)");

	clone.fd = ioctl(src.fd, COWDEV_IOC_CLONE, 0);
	if (clone.fd < 0) {
		perror("COWDEV_IOC_CLONE");
		return 1;
	}
	get_info(&clone, &clone.last);
	touch(shared, 1);
	step(&src, "COWDEV_IOC_CLONE, then write in the source",
	     "->page_mkwrite finds the page shared: copy, zap, refault");
	c = map(&clone, 4 * PAGES * ps, MAP_SHARED, 0);
	touch(c, 1);
	step(&clone, "... then write the same pages in the clone",
	     "->page_mkwrite finds the page its own now: reuse");

	set_fill_delay("50000");
	pthread_barrier_init(&start_together, NULL, 2);
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, read_first_page, c + 3 * PAGES * ps);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	set_fill_delay("0");
	step(&clone, "two threads fault a fresh page filled for 50 ms",
	     "the second sleeps on PG_locked until the first has mapped it");

	if (ioctl(clone.fd, COWDEV_IOC_WRITEBACK, &wb)) {
		perror("COWDEV_IOC_WRITEBACK");
		return 1;
	}
	touch(c, 1);
	step(&clone, "COWDEV_IOC_WRITEBACK for 50 ms, then write",
	     "->page_mkwrite sleeps on PG_writeback: stable pages");

	munmap(c, 4 * PAGES * ps);
	munmap(shared, 2 * PAGES * ps);
	munmap(private, 2 * PAGES * ps);
	close(clone.fd);
	close(src.fd);
	return 0;
}
