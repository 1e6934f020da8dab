// SPDX-License-Identifier: GPL-2.0
/*
 * cowbench: what each fault path costs per page on cowdev, on memfd (the
 * kernel's tmpfs) and on anonymous memory, measured in one boot.
 *
 *   cowbench [-d] [-p PAGES] [-r REPEATS] [-t LABEL] paths|scaling
 *   cowbench [-p PAGES] [-r REPEATS] [-t LABEL] -D DIR paging
 *
 * -d measures cowdev only (for the instrumentation comparisons).
 * "paths" times each path once per repeat over PAGES fresh pages; "scaling"
 * times first-touch writes of disjoint halves of PAGES by 1 and 2 threads.
 * Output is CSV: row,backing,label,repeats,median,min,max: nanoseconds per
 * page of work, except the scaling_2_threads row, a plain ratio (one
 * thread's time per page over two threads').  Run under QEMU's -icount,
 * the guest clock counts instructions, which makes path costs repeatable.
 *
 * "paging" reads back PAGES pages that left memory, in order and in a
 * random order under MADV_RANDOM: an evicted cowdev object whose store is a
 * file in DIR, a file in DIR itself (filemap_fault() and its readahead),
 * and anonymous memory and a memfd that MADV_PAGEOUT pushed to a swap file
 * in DIR (do_swap_page() and shmem_swapin_folio(), with swap readahead).
 * DIR's filesystem caches are dropped first, and what MADV_PAGEOUT leaves
 * in the swap cache is reclaimed through a memory cgroup's memory.reclaim,
 * so every read reaches the block device.  Besides guest ns per page it prints, per
 * page, the major faults (*_majflt) and the reads the block device under
 * DIR completed (*_reads).
 *
 * memfd has no write notification of its own; its equivalent here is a
 * write to a page whose PTE /proc/self/clear_refs made read-only (the
 * soft-dirty machinery): do_wp_page() -> wp_page_shared() without a
 * ->page_mkwrite.  For anonymous memory the same gives wp_page_reuse().
 * Kernels without soft-dirty tracking (arm64's: MEM_SOFT_DIRTY is for
 * x86, powerpc and s390) leave the PTEs writable, so those two rows are
 * left out there: the write would take no fault at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/cowdev.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

enum backing { DEV_PAGE, DEV_PFN, MEMFD, ANON, NR_BACKINGS };

static const char *const backing_names[NR_BACKINGS] = {
	"cowdev-page", "cowdev-pfn", "memfd", "anon",
};

static long ps;
static size_t pages = 1024;
static int repeats = 5;
static const char *label = "";
static bool device_only;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Does /dev/cowdev offer @pfn mode (or page mode) here?  pfn mode is built
 * on x86 and arm64: elsewhere SET_MODE says EOPNOTSUPP, and its rows are
 * left out.
 */
static bool have_device(bool pfn)
{
	static int have[2] = { -1, -1 };
	int fd;

	if (have[pfn] < 0) {
		have[pfn] = !access("/dev/cowdev", F_OK);
		fd = pfn && have[pfn] ? open("/dev/cowdev", O_RDWR) : -1;
		if (fd >= 0) {
			have[pfn] = !ioctl(fd, COWDEV_IOC_SET_MODE, COWDEV_MODE_PFN) ||
				    errno != EOPNOTSUPP;
			close(fd);
		}
	}
	return have[pfn];
}

/* A file of the backing, or -1 for anonymous memory. */
static int open_backing(enum backing b)
{
	__u64 size = pages * ps;
	int fd;

	switch (b) {
	case DEV_PAGE:
	case DEV_PFN:
		fd = open("/dev/cowdev", O_RDWR);
		if (fd < 0)
			die("/dev/cowdev");
		if (ioctl(fd, COWDEV_IOC_SET_MODE,
			  b == DEV_PFN ? COWDEV_MODE_PFN : COWDEV_MODE_PAGE))
			die("COWDEV_IOC_SET_MODE");
		if (ioctl(fd, COWDEV_IOC_SET_SIZE, &size))
			die("COWDEV_IOC_SET_SIZE");
		return fd;
	case MEMFD:
		fd = memfd_create("cowbench", 0);
		if (fd < 0 || ftruncate(fd, pages * ps))
			die("memfd");
		return fd;
	default:
		return -1;
	}
}

static char *map_backing(int fd, int flags)
{
	char *p;

	if (fd < 0)
		flags = MAP_PRIVATE | MAP_ANONYMOUS;
	p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/*
	 * Per-page paths: a kernel with THP "always" (7.2's default) would
	 * fault anonymous memory in 2 MiB at a time.  EINVAL: no THP;
	 * ENOSYS: no madvise() (the trimmed debug kernel).
	 */
	if (madvise(p, pages * ps, MADV_NOHUGEPAGE) &&
	    errno != EINVAL && errno != ENOSYS)
		die("madvise");
	return p;
}

static void touch(volatile char *p, size_t n, bool write)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (write)
			p[i * ps] = 1;
		else
			(void)p[i * ps];
	}
}

/*
 * Does this kernel track soft-dirty PTEs?  It flags every new VMA "sd" in
 * smaps only then (VM_SOFTDIRTY, CONFIG_MEM_SOFT_DIRTY); the first
 * clear_soft_dirty() takes the flags away, so main() asks first.
 */
static bool have_soft_dirty(void)
{
	static int have = -1;
	char line[256];
	FILE *f;

	if (have >= 0)
		return have;
	have = 0;
	f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("/proc/self/smaps");
	while (!have && fgets(line, sizeof(line), f))
		have = !strncmp(line, "VmFlags:", 8) && strstr(line, " sd");
	fclose(f);
	return have;
}

/* Write-protect every PTE of this process: the soft-dirty reset. */
static void clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd < 0 || write(fd, "4", 1) != 1)
		die("/proc/self/clear_refs");
	close(fd);
}

/* The paths; each returns the ns spent on the timed part for all pages. */
enum path {
	READ_FAULT, WRITE_FAULT, WRITE_AFTER_READ, PRIVATE_WRITE,
	PRIVATE_WRITE_AFTER_READ, CLONE_WRITE, REREAD_SHARED, REREAD_PRIVATE,
	POPULATE_READ, POPULATE_WRITE, PAGE_LIFE, NR_PATHS
};

static const char *const path_names[NR_PATHS] = {
	"read_fault", "write_fault_shared", "write_after_read",
	"private_cow_write", "private_cow_write_after_read", "clone_cow_write",
	"reread_populated_shared", "reread_populated_private",
	"populate_read", "populate_write", "page_life",
};

/* Fill every page of the object behind @fd through a mapping of its own. */
static void populate(int fd)
{
	char *p = map_backing(fd, MAP_SHARED);

	touch(p, pages, true);
	munmap(p, pages * ps);
}

static bool applies(enum path path, enum backing b)
{
	switch (path) {
	case WRITE_FAULT:
	case READ_FAULT:
		return true;
	case WRITE_AFTER_READ:	/* see the head of this file */
		return (b != MEMFD && b != ANON) || have_soft_dirty();
	case PRIVATE_WRITE:
	case PRIVATE_WRITE_AFTER_READ:
		return b != ANON;
	case CLONE_WRITE:
		return b != MEMFD;	/* clone for cowdev, fork for anon */
	case REREAD_SHARED:
	case REREAD_PRIVATE:
	case POPULATE_READ:
		return b != ANON;	/* an object someone populated */
	case POPULATE_WRITE:
	case PAGE_LIFE:
		return true;
	default:
		return false;
	}
}

/*
 * The whole life of each page: open, size, map, write, unmap, close; what
 * the pool's zeroing and freeing cost shows up here.
 */
static uint64_t run_page_life(enum backing b)
{
	uint64_t start = now_ns();
	int fd = open_backing(b);
	char *p = map_backing(fd, MAP_SHARED);

	touch(p, pages, true);
	munmap(p, pages * ps);
	if (fd >= 0)
		close(fd);
	return now_ns() - start;
}

static uint64_t run_path(enum path path, enum backing b)
{
	int fd, clone = -1, go[2];
	int shared = path == PRIVATE_WRITE || path == PRIVATE_WRITE_AFTER_READ ||
		     path == REREAD_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
	uint64_t start, ns;
	pid_t child = 0;
	char *p;

	if (path == PAGE_LIFE)
		return run_page_life(b);
	fd = open_backing(b);
	/* A second mapping of an object a first one filled. */
	if (path == REREAD_SHARED || path == REREAD_PRIVATE ||
	    path == POPULATE_READ)
		populate(fd);
	p = map_backing(fd, shared);

	switch (path) {
	case READ_FAULT:
	case REREAD_SHARED:
	case REREAD_PRIVATE:
		start = now_ns();
		touch(p, pages, false);
		ns = now_ns() - start;
		break;
	case POPULATE_READ:
	case POPULATE_WRITE:
		start = now_ns();
		if (madvise(p, pages * ps, path == POPULATE_READ ?
			    MADV_POPULATE_READ : MADV_POPULATE_WRITE))
			die("madvise(MADV_POPULATE_*)");
		ns = now_ns() - start;
		break;
	case WRITE_FAULT:
	case PRIVATE_WRITE:
		start = now_ns();
		touch(p, pages, true);
		ns = now_ns() - start;
		break;
	case WRITE_AFTER_READ:
		if (b == MEMFD) {
			clear_soft_dirty();	/* read faults now map read-only */
			touch(p, pages, false);
		} else if (b == ANON) {
			touch(p, pages, true);
			clear_soft_dirty();
		} else {
			touch(p, pages, false);
		}
		start = now_ns();
		touch(p, pages, true);
		ns = now_ns() - start;
		break;
	case PRIVATE_WRITE_AFTER_READ:
		touch(p, pages, false);
		start = now_ns();
		touch(p, pages, true);
		ns = now_ns() - start;
		break;
	case CLONE_WRITE:
		touch(p, pages, true);
		if (b == ANON) {
			if (pipe(go))
				die("pipe");
			child = fork();
			if (child < 0)
				die("fork");
			if (child == 0) {	/* holds the pages until told */
				char c;

				close(go[1]);
				_exit(read(go[0], &c, 1) < 0);
			}
			close(go[0]);
		} else {
			clone = ioctl(fd, COWDEV_IOC_CLONE, 0);
			if (clone < 0)
				die("COWDEV_IOC_CLONE");
		}
		start = now_ns();
		touch(p, pages, true);
		ns = now_ns() - start;
		if (child) {
			close(go[1]);
			waitpid(child, NULL, 0);
		}
		break;
	default:
		ns = 0;
	}
	munmap(p, pages * ps);
	if (clone >= 0)
		close(clone);
	if (fd >= 0)
		close(fd);
	return ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Print one CSV row from @r[0..n): its median, min and max per @per units,
 * with @digits decimals.
 */
static void report_digits(const char *row, const char *backing, uint64_t *r,
			  int n, size_t per, int digits)
{
	qsort(r, n, sizeof(*r), cmp_u64);
	printf("%s,%s,%s,%d,%.*f,%.*f,%.*f\n", row, backing, label, n,
	       digits, (double)r[n / 2] / per, digits, (double)r[0] / per,
	       digits, (double)r[n - 1] / per);
	fflush(stdout);
}

/* Print one CSV row from @r[0..n), nanoseconds per @per units. */
static void report(const char *row, const char *backing, uint64_t *r, int n,
		   size_t per)
{
	report_digits(row, backing, r, n, per, 2);
}

static void bench_paths(void)
{
	uint64_t r[64];
	int path, b, i;

	for (path = 0; path < NR_PATHS; path++)
		for (b = 0; b < NR_BACKINGS; b++) {
			if (!applies(path, b) ||
			    (device_only && b != DEV_PAGE && b != DEV_PFN))
				continue;
			if ((b == DEV_PAGE || b == DEV_PFN) &&
			    !have_device(b == DEV_PFN))
				continue;
			run_path(path, b);	/* warm the pool and caches */
			for (i = 0; i < repeats; i++)
				r[i] = run_path(path, b);
			report(path_names[path], backing_names[b], r, repeats,
			       pages);
		}
}

struct toucher {
	char *p;
	size_t n;
	pthread_barrier_t *barrier;
	uint64_t ns;
};

static void *toucher(void *arg)
{
	struct toucher *t = arg;
	uint64_t start;

	pthread_barrier_wait(t->barrier);
	start = now_ns();
	touch(t->p, t->n, true);
	t->ns = now_ns() - start;
	return NULL;
}

/* Wall time for @threads threads to write-fault their own half each. */
static uint64_t run_scaling(enum backing b, int threads)
{
	int fd = open_backing(b), i;
	char *p = map_backing(fd, MAP_SHARED);
	size_t share = pages / 2;
	pthread_barrier_t barrier;
	struct toucher t[2];
	pthread_t th[2];
	uint64_t start, ns;

	pthread_barrier_init(&barrier, NULL, threads + 1);
	for (i = 0; i < threads; i++) {
		t[i] = (struct toucher){ p + i * share * ps, share, &barrier, 0 };
		pthread_create(&th[i], NULL, toucher, &t[i]);
	}
	pthread_barrier_wait(&barrier);
	start = now_ns();
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	ns = now_ns() - start;
	pthread_barrier_destroy(&barrier);
	munmap(p, pages * ps);
	if (fd >= 0)
		close(fd);
	return ns;
}

/*
 * One thread writes one half of the pages; two threads write both halves
 * at once.  Both rows are per page of work.  Each repeat times the two
 * back to back, so the scaling row (one thread's time per page over two
 * threads') compares runs that saw the same host, not two medians taken
 * seconds apart.
 */
static void bench_scaling(void)
{
	static const enum backing which[] = { DEV_PAGE, DEV_PFN, MEMFD, ANON };
	uint64_t one[64], two[64], ratio[64];
	unsigned int b;
	int i;

	for (b = 0; b < sizeof(which) / sizeof(which[0]); b++) {
		if ((which[b] == DEV_PAGE || which[b] == DEV_PFN) &&
		    !have_device(which[b] == DEV_PFN))
			continue;
		run_scaling(which[b], 1);	/* warm the pool and caches */
		run_scaling(which[b], 2);
		for (i = 0; i < repeats; i++) {
			one[i] = run_scaling(which[b], 1);
			two[i] = run_scaling(which[b], 2);
			/* per-page ratio, in thousandths */
			ratio[i] = 2000 * one[i] / two[i];
		}
		report("first_touch_1_thread", backing_names[which[b]], one,
		       repeats, pages / 2);
		report("first_touch_2_threads", backing_names[which[b]], two,
		       repeats, pages);
		report("scaling_2_threads", backing_names[which[b]], ratio,
		       repeats, 1000);
	}
}

/* Paging: where evicted pages go, and how they come back. */
enum paged {
	PAGED_DEV_PAGE, PAGED_DEV_PFN, PAGED_EXT4, PAGED_ANON, PAGED_MEMFD,
	NR_PAGED
};

static const char *const paged_names[NR_PAGED] = {
	"cowdev-page", "cowdev-pfn", "ext4", "anon-swap", "memfd-swap",
};

static const char *paging_dir;

static bool paged_to_swap(enum paged b)
{
	return b == PAGED_ANON || b == PAGED_MEMFD;
}

/*
 * Swap for the swap rows: a swap file in paging_dir (on the same disk as
 * the stores and the ext4 file), and a memory cgroup to page out from.
 */
#define SWAP_CGROUP "/sys/fs/cgroup/cowbench"
#define LRU_GEN "/sys/kernel/mm/lru_gen/enabled"
static char swap_path[4096];
static char lru_gen[32];	/* LRU_GEN before the swap rows, or "" */

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

/* The first line of @fd, without its newline, in @buf. */
static void fd_read_line(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* A swap file of @npages pages, as mkswap(8) makes one: 0 or -1. */
static int make_swap_file(const char *path, size_t npages)
{
	char *page = calloc(1, ps);
	uint32_t *info = (uint32_t *)(page + 1024);	/* after bootbits */
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	size_t i;

	if (!page || fd < 0)
		die(path);
	/* Written, not fallocated: swapon refuses unwritten extents. */
	for (i = 1; i < npages; i++)
		if (pwrite(fd, page, ps, i * ps) != ps)
			die(path);
	info[0] = 1;			/* version */
	info[1] = npages - 1;		/* last_page */
	memcpy(page + ps - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, ps, 0) != ps || fsync(fd))
		die(path);
	close(fd);
	free(page);
	return swapon(path, 0);
}

/*
 * Swap and the cgroup; or false, with a note, on a kernel without swap or
 * the memory controller, which gets no swap rows.
 */
static bool swap_setup(void)
{
	static const char control[] = "/sys/fs/cgroup/cgroup.subtree_control";
	int fd;

	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) &&
	    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL)) {
		perror("cgroup2: no swap rows");
		return false;
	}
	fd = open(control, O_WRONLY);
	if (fd < 0) {
		perror(control);
		return false;
	}
	if (write(fd, "+memory", 7) != 7) {
		perror("the memory controller: no swap rows");
		close(fd);
		return false;
	}
	close(fd);
	if (mkdir(SWAP_CGROUP, 0755) && errno != EEXIST)
		die(SWAP_CGROUP);
	/*
	 * The classic LRU: 6.12's multi-gen LRU never let memory.reclaim
	 * free the swap cache of a cgroup this small.
	 */
	fd = open(LRU_GEN, O_RDWR);
	if (fd >= 0) {
		fd_read_line(fd, lru_gen, sizeof(lru_gen));
		if (pwrite(fd, "n", 1, 0) != 1)
			die(LRU_GEN);
		close(fd);
	}
	snprintf(swap_path, sizeof(swap_path), "%s/cowbench-swap", paging_dir);
	if (make_swap_file(swap_path, 2 * pages + 1)) {
		perror("swapon: no swap rows");
		unlink(swap_path);
		rmdir(SWAP_CGROUP);
		return false;
	}
	return true;
}

static void swap_teardown(void)
{
	if (swapoff(swap_path))
		die("swapoff");
	unlink(swap_path);
	rmdir(SWAP_CGROUP);
	if (lru_gen[0])
		write_file(LRU_GEN, lru_gen);
}

static void cgroup_join(const char *dir)
{
	char path[256], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(path, pid);
}

/* Pages of @p, PAGES long, in memory: the swap cache's included. */
static size_t resident(char *p)
{
	unsigned char *vec = malloc(pages);
	size_t i, n = 0;

	if (!vec || mincore(p, pages * ps, vec))
		die("mincore");
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

/*
 * Push @p, PAGES pages charged to SWAP_CGROUP, out to swap.  MADV_PAGEOUT
 * writes the pages, but a page whose write completes after it looked stays
 * in the swap cache, where a fault would find it; the cgroup's
 * memory.reclaim frees those, as the kernel's reclaim would next.
 */
static void page_out(char *p)
{
	char amount[32];
	int fd, tries;

	if (madvise(p, pages * ps, MADV_PAGEOUT))
		die("MADV_PAGEOUT");
	snprintf(amount, sizeof(amount), "%zu", pages * ps);
	for (tries = 0; resident(p); tries++) {
		if (tries == 1000)
			die("swap cache: pages stay");
		fd = open(SWAP_CGROUP "/memory.reclaim", O_WRONLY);
		if (fd < 0)
			die("memory.reclaim");
		/* EAGAIN: less than asked, which is all there was. */
		if (write(fd, amount, strlen(amount)) < 0 && errno != EAGAIN)
			die("memory.reclaim");
		close(fd);
	}
}

/* A new, unlinked file in paging_dir. */
static int paging_file(void)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/cowbench-XXXXXX", paging_dir);
	fd = mkstemp(path);
	if (fd < 0)
		die(path);
	unlink(path);
	return fd;
}

/* Reads completed by the block device holding paging_dir. */
static unsigned long long disk_reads(void)
{
	unsigned long long reads = 0;
	char path[64];
	struct stat st;
	FILE *f;

	if (stat(paging_dir, &st))
		die(paging_dir);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat",
		 major(st.st_dev), minor(st.st_dev));
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &reads) != 1)
		die(path);
	fclose(f);
	return reads;
}

static long majflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage");
	return ru.ru_majflt;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "3", 1) != 1)
		die("/proc/sys/vm/drop_caches");
	close(fd);
}

struct paging_run {
	uint64_t ns;
	uint64_t majflt;
	uint64_t reads;
};

/* A new object of kind @b, PAGES pages long, and its store if it has one. */
static int paging_open(enum paged b, int *store)
{
	__u64 size = pages * ps;
	int fd;

	*store = -1;
	fd = b == PAGED_EXT4 ? paging_file() : open("/dev/cowdev", O_RDWR);
	if (fd < 0)
		die("paging object");
	if (b == PAGED_EXT4) {
		if (ftruncate(fd, size))
			die("ftruncate");
		return fd;
	}
	*store = paging_file();
	if (ioctl(fd, COWDEV_IOC_SET_MODE, b == PAGED_DEV_PFN ?
		  COWDEV_MODE_PFN : COWDEV_MODE_PAGE) ||
	    ioctl(fd, COWDEV_IOC_SET_SIZE, &size) ||
	    ioctl(fd, COWDEV_IOC_SET_BACKING, *store))
		die("/dev/cowdev with a store");
	return fd;
}

/*
 * Anonymous memory or a memfd, PAGES stamped pages charged to
 * SWAP_CGROUP, pushed out to swap; mapped, for do_swap_page() or shmem's
 * swap-in to bring back.
 */
static char *paging_swapped(enum paged b, int *fd)
{
	size_t i;
	char *p;

	*fd = -1;
	cgroup_join(SWAP_CGROUP);
	if (b == PAGED_MEMFD) {
		*fd = memfd_create("cowbench-swap", 0);
		if (*fd < 0 || ftruncate(*fd, pages * ps))
			die("memfd");
	}
	p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
		 *fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	/* Per-page swap-in: no THP to split or swap whole. */
	madvise(p, pages * ps, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		memset(p + i * ps, 'a' + i % 26, ps);
	page_out(p);
	cgroup_join("/sys/fs/cgroup");
	return p;
}

/*
 * Fill @b with PAGES stamped pages, send them out, drop the caches, then
 * time reading one byte of each, in order or (@random) in @order under
 * MADV_RANDOM.
 */
static void run_paging(enum paged b, bool random, const size_t *order,
		       struct paging_run *run)
{
	struct cowdev_evict ev = { .len = pages * ps };
	int store = -1, fd;
	uint64_t start, reads, flt;
	size_t i, k;
	char *p;

	if (paged_to_swap(b)) {
		p = paging_swapped(b, &fd);
		drop_caches();
	} else {
		fd = paging_open(b, &store);
		p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		for (i = 0; i < pages; i++)
			memset(p + i * ps, 'a' + i % 26, ps);
		if (b != PAGED_EXT4 &&
		    (ioctl(fd, COWDEV_IOC_EVICT, &ev) || ev.pages != pages))
			die("COWDEV_IOC_EVICT");
		munmap(p, pages * ps);
		drop_caches();
		p = mmap(NULL, pages * ps, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
	}
	if (madvise(p, pages * ps, random ? MADV_RANDOM : MADV_NORMAL))
		die("madvise");
	reads = disk_reads();
	flt = majflt();
	start = now_ns();
	for (i = 0; i < pages; i++) {
		k = random ? order[i] : i;
		if (p[k * ps] != 'a' + (char)(k % 26))
			die("paging: wrong data");
	}
	run->ns = now_ns() - start;
	run->majflt = majflt() - flt;
	run->reads = disk_reads() - reads;
	munmap(p, pages * ps);
	if (fd >= 0)
		close(fd);
	if (store >= 0)
		close(store);
}

/*
 * The paging rows' objects are at most 4 MiB (1024 pages of 4 KiB): a
 * store, an ext4 file and a swap file of that size each must fit on the
 * guest's 32 MiB disk with 16 KiB pages too.  Their figures are per page.
 */
#define PAGING_MAX_BYTES	(4UL << 20)

static void bench_paging(void)
{
	static const char *const rows[2] = {
		"paging_sequential", "paging_random",
	};
	uint64_t ns[64], flt[64], reads[64], s = 88172645463325252ULL;
	struct paging_run run;
	size_t *order, i, j, t;
	int random, b, k;
	char name[64];
	bool swap;

	if (pages * ps > PAGING_MAX_BYTES)
		pages = PAGING_MAX_BYTES / ps;
	order = calloc(pages, sizeof(*order));
	if (!order)
		die("calloc");
	swap = swap_setup();
	for (i = 0; i < pages; i++)
		order[i] = i;
	for (i = pages - 1; i > 0; i--) {	/* one fixed permutation */
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		j = s % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (random = 0; random < 2; random++)
		for (b = 0; b < NR_PAGED; b++) {
			if ((b == PAGED_DEV_PAGE || b == PAGED_DEV_PFN) &&
			    !have_device(b == PAGED_DEV_PFN))
				continue;
			if (paged_to_swap(b) && !swap)
				continue;
			run_paging(b, random, order, &run);	/* warm */
			for (k = 0; k < repeats; k++) {
				run_paging(b, random, order, &run);
				ns[k] = run.ns;
				flt[k] = run.majflt;
				reads[k] = run.reads;
			}
			report(rows[random], paged_names[b], ns, repeats, pages);
			snprintf(name, sizeof(name), "%s_majflt", rows[random]);
			report_digits(name, paged_names[b], flt, repeats, pages, 4);
			snprintf(name, sizeof(name), "%s_reads", rows[random]);
			report_digits(name, paged_names[b], reads, repeats, pages, 4);
		}
	if (swap)
		swap_teardown();
	free(order);
}

int main(int argc, char **argv)
{
	int opt;

	ps = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "dD:p:r:t:")) != -1) {
		switch (opt) {
		case 'D':
			paging_dir = optarg;
			break;
		case 'd':
			device_only = true;
			break;
		case 'p':
			pages = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		case 't':
			label = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || pages < 2 || repeats < 1 || repeats > 64)
		goto usage;
	have_soft_dirty();	/* before any reset: see there */
	if (!strcmp(argv[optind], "paths"))
		bench_paths();
	else if (!strcmp(argv[optind], "scaling"))
		bench_scaling();
	else if (!strcmp(argv[optind], "paging") && paging_dir)
		bench_paging();
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: cowbench [-d] [-p PAGES] [-r REPEATS 1..64] [-t LABEL] paths|scaling\n"
			"       cowbench [-p PAGES] [-r REPEATS 1..64] [-t LABEL] -D DIR paging\n");
	return 2;
}
