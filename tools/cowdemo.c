// SPDX-License-Identifier: GPL-2.0
/*
 * cowdemo: walk through cowdev's fault paths and show which counters move.
 *
 * Each step touches a few pages of one object and prints the counters that
 * changed, so a reader can match each kernel path (do_read_fault,
 * do_shared_fault, wp_page_shared, do_cow_fault, wp_page_copy) to what the
 * device saw.  Needs the module loaded and debugfs mounted.
 */
#include <errno.h>
#include <fcntl.h>
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
	F(pfn_mkwrite), F(reuse), F(copy), F(cow_faults), F(resident_pages),
#undef F
};

static int fd;
static struct cowdev_info last;
static long ps;

static unsigned long long field(const struct cowdev_info *info, size_t off)
{
	return *(const __u64 *)((const char *)info + off);
}

static unsigned long long object_counter(const char *name)
{
	char path[96], key[64], line[128];
	unsigned long long val, ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/cowdev/objects/%llu",
		 (unsigned long long)last.id);
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

/* Print what changed since the previous step. */
static void step(const char *what, const char *path)
{
	static unsigned long long last_core_copy;
	struct cowdev_info now = { 0 };
	unsigned long long core_copy;
	size_t i;

	if (ioctl(fd, COWDEV_IOC_GET_INFO, &now)) {
		perror("COWDEV_IOC_GET_INFO");
		exit(1);
	}
	printf("\n== %s\n   kernel path: %s\n  ", what, path);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		unsigned long long d = field(&now, fields[i].offset) -
				       field(&last, fields[i].offset);
		if (d)
			printf(" %s +%llu", fields[i].name, d);
	}
	last = now;
	core_copy = object_counter("core_copy");
	if (core_copy != last_core_copy)
		printf(" core_copy +%llu", core_copy - last_core_copy);
	last_core_copy = core_copy;
	printf("\n");
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

int main(void)
{
	char *shared, *private;

	ps = sysconf(_SC_PAGESIZE);
	fd = open("/dev/cowdev", O_RDWR);
	if (fd < 0) {
		perror("/dev/cowdev (is the module loaded?)");
		return 1;
	}
	if (ioctl(fd, COWDEV_IOC_GET_INFO, &last)) {
		perror("COWDEV_IOC_GET_INFO");
		return 1;
	}
	printf("object %llu: %llu bytes, %s mode; touching %d pages per step\n",
	       (unsigned long long)last.id, (unsigned long long)last.size,
	       last.mode == COWDEV_MODE_PFN ? "pfn" : "page", PAGES);

	shared = mmap(NULL, 2 * PAGES * ps, PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, 0);
	private = mmap(NULL, 2 * PAGES * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE, fd, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	touch(shared, 0);
	step("MAP_SHARED, read first touch", "do_read_fault -> ->fault");
	touch(shared, 1);
	step("MAP_SHARED, write after read",
	     "do_wp_page -> wp_page_shared -> ->page_mkwrite: reuse");
	touch(shared + PAGES * ps, 1);
	step("MAP_SHARED, write first touch",
	     "do_shared_fault -> ->fault + ->page_mkwrite: reuse");
	touch(private, 1);
	step("MAP_PRIVATE, write to a page the object has",
	     "do_cow_fault -> ->fault (cow_page), the core copies");
	touch(private + PAGES * ps, 0);
	touch(private + PAGES * ps, 1);
	step("MAP_PRIVATE, read then write",
	     "do_read_fault, then do_wp_page -> wp_page_copy (no vm_ops call)");

	munmap(shared, 2 * PAGES * ps);
	munmap(private, 2 * PAGES * ps);
	close(fd);
	return 0;
}
