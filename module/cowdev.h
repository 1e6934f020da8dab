/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowdev internals shared between the module's files.
 *
 * Locking, outermost first.  Faults and ioctls share the inner part of
 * the order; a writeback ends in a work item that takes page locks only
 * (with a backing store, to write the pages):
 *
 *   fault: mmap_lock (read), or the VMA lock
 *   ioctl: cowdev_object.lock (mutex)
 *     cowdev_object.clone_sem (read: shared write faults, tried only by
 *     ->page_mkwrite, put off when they may retry; write: CLONE)
 *     mapping->invalidate_lock (shared: reading an evicted page back,
 *     taken with only the new, unpublished page locked; exclusive:
 *     truncation, and CLONE's walk, inside clone_sem)
 *       PG_writeback of the pages of an eviction's or a writeback's
 *       batch (cowdev_backing.c), held unlocked while the batch is
 *       written and waited for; its holder then takes page locks
 *       (sleeping for EVICT and the writeback work), the store's locks
 *       and i_mmap_rwsem.  Nobody waits on PG_writeback holding a page
 *       lock (cowdev_lock_page_stable() lets go first).
 *       page lock (PG_locked of a pool page)
 *         the store's freeze protection (sb_start_write()), tried only,
 *         never waited for (cowdev_backing_start_write())
 *         the backing store's locks (a buffered read, ->write_iter(),
 *         the store's own writeback: its folio locks and, on ext4, a
 *         journal handle; a direct read, ext4's i_data_sem (on 6.1 at
 *         times s_writepages_rwsem), and its i_rwsem, tried only:
 *         IOCB_NOWAIT)
 *         other page locks, tried only (fault-around)
 *         mapping->i_mmap_rwsem (unmap_mapping_pages)
 *           page table lock
 *             xa_lock of cowdev_object.pages
 *               cowdev_pool per-CPU cache lock
 *
 *   ->mmap: mmap_lock (write)
 *     cowdev_object.mode_lock (spinlock; ->mmap and SET_MODE)
 *
 *   the reclaimer (a work item, cowdev_reclaim.c):
 *     cowdev_backing_stores_lock (mutex; also SET_BACKING, inside
 *     cowdev_object.lock, and an object's destruction), to choose an
 *     object and try its lock
 *     cowdev_object.lock, tried only, held for the object's turn alone
 *       page lock, tried only; then as an ioctl's
 *
 * An allocation at the pool's limit waits for the reclaimer holding
 * whatever its caller holds (mmap_lock, a page lock, clone_sem, an
 * object's lock): the reclaimer takes none of the objects' locks but by
 * trying, and the wait is bounded, since the store's own locks can hold
 * the reclaimer up (cowdev_reclaim_wait()).
 *
 * cowdev_object.lock and mmap_lock are never held together: ioctls copy
 * their arguments before taking the former, and ->mmap takes only
 * mode_lock, so an ioctl sleeping on a page or a writeback never holds up
 * an mmap().
 * A fault shares no lock with faults on other pages but the per-CPU read
 * side of clone_sem (and i_mmap_rwsem when it copies a mapped page, and the
 * invalidate lock, shared, when it reads an evicted page back): the
 * page index is read under RCU, the page lock serialises a fault against
 * truncation and against a copy replacing the page, and counters are
 * per-CPU.
 */
#ifndef _COWDEV_H
#define _COWDEV_H

#include <linux/errseq.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/percpu-rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "cowdev_wait.h"
#include "uapi/cowdev.h"

/**
 * enum cowdev_stat - the counters kept per object and globally
 * @COWDEV_STAT_FAULTS: ->fault calls
 * @COWDEV_STAT_READ_FAULTS: ->fault calls for a read
 * @COWDEV_STAT_WRITE_FAULTS: ->fault calls for a write
 * @COWDEV_STAT_SHARED_FAULTS: ->fault calls in shared mappings
 * @COWDEV_STAT_PRIVATE_FAULTS: ->fault calls in private mappings
 * @COWDEV_STAT_COW_FAULTS: ->fault calls with vmf->cow_page (do_cow_fault)
 * @COWDEV_STAT_FAULTAROUND_PAGES: pages a read fault mapped around the
 *	faulting one (fault-around, cowdev_vm.c)
 * @COWDEV_STAT_MKWRITE: ->page_mkwrite calls
 * @COWDEV_STAT_PFN_MKWRITE: ->pfn_mkwrite calls
 * @COWDEV_STAT_REUSE: shared write faults that made the page writable
 * @COWDEV_STAT_COPY: shared write faults that copied a shared page
 * @COWDEV_STAT_CORE_COPY: the core's copies in private mappings (hook)
 * @COWDEV_STAT_CORE_REUSE: the core's reuses in private mappings (hook)
 * @COWDEV_STAT_ALLOC_FAIL: faults refused a page
 * @COWDEV_STAT_LOCK_WAITS: waits on a page lock
 * @COWDEV_STAT_WRITEBACK_WAITS: waits on a page under writeback
 * @COWDEV_STAT_WAIT_NS_TOTAL: time spent in those waits
 * @COWDEV_STAT_MAJOR_FAULTS: faults that read their page from the backing
 *	store
 * @COWDEV_STAT_PAGES_READ: pages read from the backing store
 * @COWDEV_STAT_PAGES_READ_DIRECT: of those, pages read with direct I/O
 * @COWDEV_STAT_PAGES_WRITTEN: pages written to the backing store
 * @COWDEV_STAT_EVICTIONS: pages evicted to the backing store
 * @COWDEV_STAT_IO_ERRORS: failed reads and writes of the backing store
 * @COWDEV_STAT_READAHEAD_PAGES: pages read ahead of the fault needing them
 * @COWDEV_STAT_READAHEAD_HITS: pages read ahead that a fault then used
 * @COWDEV_STAT_READAHEAD_UNUSED: pages read ahead and evicted unused
 * @COWDEV_STAT_RECLAIMED: pages the reclaimer evicted (at the pool's limit
 *	or under memory pressure), of @COWDEV_STAT_EVICTIONS
 * @COWDEV_NR_STATS: the number of counters
 *
 * See Documentation/cowdev.rst for what moves which.  The order is the
 * order of /sys/kernel/debug/cowdev/stats.
 */
enum cowdev_stat {
	COWDEV_STAT_FAULTS,
	COWDEV_STAT_READ_FAULTS,
	COWDEV_STAT_WRITE_FAULTS,
	COWDEV_STAT_SHARED_FAULTS,
	COWDEV_STAT_PRIVATE_FAULTS,
	COWDEV_STAT_COW_FAULTS,
	COWDEV_STAT_FAULTAROUND_PAGES,
	COWDEV_STAT_MKWRITE,
	COWDEV_STAT_PFN_MKWRITE,
	COWDEV_STAT_REUSE,
	COWDEV_STAT_COPY,
	COWDEV_STAT_CORE_COPY,
	COWDEV_STAT_CORE_REUSE,
	COWDEV_STAT_ALLOC_FAIL,
	COWDEV_STAT_LOCK_WAITS,
	COWDEV_STAT_WRITEBACK_WAITS,
	COWDEV_STAT_WAIT_NS_TOTAL,
	COWDEV_STAT_MAJOR_FAULTS,
	COWDEV_STAT_PAGES_READ,
	COWDEV_STAT_PAGES_READ_DIRECT,
	COWDEV_STAT_PAGES_WRITTEN,
	COWDEV_STAT_EVICTIONS,
	COWDEV_STAT_IO_ERRORS,
	COWDEV_STAT_READAHEAD_PAGES,
	COWDEV_STAT_READAHEAD_HITS,
	COWDEV_STAT_READAHEAD_UNUSED,
	COWDEV_STAT_RECLAIMED,
	COWDEV_NR_STATS
};

/**
 * struct cowdev_counters - one CPU's share of a set of counters
 * @v: event counts, indexed by &enum cowdev_stat.
 * @wait_ns_max: longest wait seen on this CPU.
 */
struct cowdev_counters {
	u64 v[COWDEV_NR_STATS];
	u64 wait_ns_max;
};

/**
 * struct cowdev_wb - an object's writeback (cowdev_writeback.c)
 * @work: ends the writeback after its delay
 * @wait: waiters for @ended to move
 * @pages: the pages under writeback, each with a reference
 * @offsets: their offsets in the object
 * @nr: how many
 * @started: writebacks started; changed under the object's lock
 * @ended: writebacks ended; changed by @work
 * @closing: the object is being destroyed: @work ends the writeback
 *	without writing to the store, which nothing will read again
 *
 * At most one writeback is in flight (@started - @ended is 0 or 1); @pages,
 * @offsets and @nr belong to it.
 */
struct cowdev_wb {
	struct delayed_work work;
	wait_queue_head_t wait;
	struct page **pages;
	pgoff_t *offsets;
	unsigned long nr;
	unsigned long started;
	unsigned long ended;
	bool closing;
};

/* Readahead windows: the largest, the pool's reserve, and random access. */
#define COWDEV_RA_MAX_PAGES	512
#define COWDEV_RA_RESERVE	32	/* pool pages readahead leaves alone */
#define COWDEV_RA_MISS_MAX	100

/* Readahead's marks on a page's index entry (cowdev_object.c). */
#define COWDEV_RA_UNUSED	BIT(0)	/* read ahead, no fault used it yet */
#define COWDEV_RA_NEXT		BIT(1)	/* a fault here starts a window */

/**
 * struct cowdev_ra - an object's readahead stream (cowdev_readahead.c)
 * @lock: see the field
 * @state: the last window chosen, as struct file_ra_state's
 *	start, size and async_size
 * @busy: the window @work reads; size 0 when none
 * @misses: misses less pages read ahead and used, as mmap_miss
 * @store_pages: the store's own readahead size
 *	(cowdev_readahead_store_pages()); set with the store, under the
 *	object's lock
 * @work: reads @busy
 * @wait: faults waiting for @work (cowdev_wait_readahead())
 */
struct cowdev_ra {
	spinlock_t lock;			/* protects the rest but @work */
	struct cowdev_ra_window state;
	struct cowdev_ra_window busy;
	unsigned int misses;
	unsigned int store_pages;
	struct work_struct work;
	wait_queue_head_t wait;
};

/**
 * struct cowdev_object - the memory object behind one open of /dev/cowdev
 * @pages: page offset -> struct page *, the object's resident pages,
 *	or a value entry (%COWDEV_EVICTED, %COWDEV_EVICTED_COPIED) for a
 *	page that is on the backing store only.
 *	Read under RCU; a page's entry is replaced or erased only with the
 *	page locked, so a fault that finds its page still indexed after
 *	locking it may map it.
 * @inode: private anonymous inode; every file of the object points its
 *	f_mapping at @inode->i_mapping, so its i_mmap tree holds every VMA
 *	mapping the object, for unmap_mapping_pages().
 * @stats: the object's own counters.
 * @nr_pages: size in pages; read locklessly by faults, changed under the
 *	xa_lock of @pages so that a page is never indexed past the end.
 * @nr_resident: pages indexed by @pages; protected by its xa_lock.
 * @nr_evicted: value entries in @pages; protected by its xa_lock.
 * @backing: the backing store (cowdev_backing.c), or NULL; set once, under
 *	@lock and the xa_lock of @pages, and never changed again.
 * @backing_direct: the store opened again for direct reads, or NULL where
 *	they could wait for the store's locks (cowdev_backing.c); set with
 *	@backing, before it.
 * @backing_link: in the list of objects with a store, or of those being
 *	destroyed that still hold one (cowdev_backing.c).
 * @reclaim_hand: where the reclaimer's clock looks next (cowdev_reclaim.c);
 *	under @lock.
 * @nr_dropped: entries ever erased or replaced, each with its page locked
 *	and under the xa_lock of @pages; while it is zero, a page found at
 *	an offset is still there (see cowdev_object_page_valid()).
 * @lock: see the field.
 * @mode_lock: see the field.
 * @clone_sem: taken for read by every reuse-or-copy decision and for
 *	write by CLONE, so that no write needing a fault lands while a clone
 *	shares the pages: a clone is a point-in-time snapshot.
 * @clones_over: CLONEs of this object that have let go of @clone_sem;
 *	counted by each under @lock (cowdev_cow.c), so that a fault can wait
 *	for the one holding it to end without holding its own lock.
 * @clone_wait: where such faults wait; woken as @clones_over moves.
 * @debugfs: the object's file under /sys/kernel/debug/cowdev/objects.
 * @ra: readahead from the backing store.
 * @id: small number naming the object in debugfs and the ABI.
 * @mode: &enum cowdev_mode of the mappings; fixed once @mapped.
 * @mapped: the object has been mmap()ed.
 * @wb: its writeback.
 */
struct cowdev_object {
	struct xarray pages;
	struct inode *inode;
	struct cowdev_counters __percpu *stats;
	unsigned long nr_pages;
	unsigned long nr_resident;
	unsigned long nr_evicted;
	unsigned long nr_dropped;
	struct file *backing;
	struct file *backing_direct;
	struct list_head backing_link;
	unsigned long reclaim_hand;
	struct mutex lock;		/* serialises size, holes, clone, writeback */
	spinlock_t mode_lock;		/* protects mode and mapped */
	struct percpu_rw_semaphore clone_sem;
	unsigned long clones_over;
	wait_queue_head_t clone_wait;
	struct dentry *debugfs;
	u32 id;
	enum cowdev_mode mode;
	bool mapped;
	struct cowdev_wb wb;
	struct cowdev_ra ra;
};

/*
 * The index entry of an evicted page: a value entry, as the page cache
 * keeps shadow and swap entries.  The page is at its own offset in the
 * object's backing store.  %COWDEV_EVICTED_COPIED is the entry of a page
 * that left with the copy mark of a write fault yet to come back for it
 * (cowdev_cow.c): the page read back in its place gets the mark again.
 */
#define COWDEV_EVICTED		xa_mk_value(0)
#define COWDEV_EVICTED_COPIED	xa_mk_value(1)

/* cowdev_object.c */
struct cowdev_object *cowdev_object_create(void);
void cowdev_object_destroy(struct cowdev_object *obj);
int cowdev_object_set_size(struct cowdev_object *obj, u64 size);
int cowdev_object_set_mode(struct cowdev_object *obj, u64 mode);
int cowdev_object_punch_hole(struct cowdev_object *obj, u64 offset, u64 len);
int cowdev_object_range(u64 offset, u64 len, pgoff_t *start, pgoff_t *end);
void cowdev_object_unmap_page(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page, bool even_cows);
int cowdev_object_map(struct cowdev_object *obj, bool shared_exec);
int cowdev_object_add_page(struct cowdev_object *obj, pgoff_t pgoff,
			   struct page *page, bool fill);
void cowdev_object_set_backing(struct cowdev_object *obj, struct file *file);
void cowdev_object_dirty_all(struct cowdev_object *obj);
bool cowdev_object_evict_page(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page);
int cowdev_object_fill(struct cowdev_object *obj, pgoff_t pgoff,
		       struct page *page, const struct cowdev_ra_window *win);
void cowdev_object_read_ahead(struct cowdev_object *obj,
			      const struct cowdev_ra_window *win);
int cowdev_object_read_evicted(struct cowdev_object *obj);
void cowdev_object_replace_page(struct cowdev_object *obj, pgoff_t pgoff,
				struct page *old, struct page *new);
struct page *cowdev_object_find_get(struct cowdev_object *obj,
				    unsigned long *index, unsigned long max);
struct page *cowdev_object_grab_page(struct cowdev_object *obj, pgoff_t pgoff,
				     struct cowdev_fault *cf);
struct page *cowdev_object_find_lock_page(struct cowdev_object *obj,
					  pgoff_t pgoff, struct cowdev_fault *cf);
unsigned int cowdev_object_trylock_range(struct cowdev_object *obj,
					 pgoff_t first, pgoff_t last,
					 unsigned long want, struct page **pages);
bool cowdev_object_page_valid(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page);
unsigned long cowdev_object_resident(struct cowdev_object *obj);
unsigned long cowdev_object_evicted(struct cowdev_object *obj);
int cowdev_object_init(void);
void cowdev_object_exit(void);

/* cowdev_cow.c */
void cowdev_cow_own_page(struct page *page);
void cowdev_cow_put_page(struct cowdev_object *obj, pgoff_t pgoff,
			 struct page *page);
vm_fault_t cowdev_cow_write(struct cowdev_object *obj, pgoff_t pgoff,
			    struct page *page, struct cowdev_fault *cf);
void cowdev_cow_reuse(struct cowdev_object *obj, pgoff_t pgoff,
		      struct page *page);
struct page *cowdev_cow_unshare(struct cowdev_object *obj, pgoff_t pgoff,
				struct page *page, struct cowdev_fault *cf);
struct cowdev_object *cowdev_cow_clone(struct cowdev_object *src);
bool cowdev_cow_shared(struct page *page);
bool cowdev_cow_stays(struct page *page);
bool cowdev_cow_copy_marked(struct page *page);
void cowdev_cow_mark_copy(struct page *page);
bool cowdev_cow_may_evict(struct page *page);

/* cowdev_backing.c */
int cowdev_backing_set(struct cowdev_object *obj, int fd);
int cowdev_backing_read(struct cowdev_object *obj, pgoff_t first,
			struct page **pages, unsigned int nr,
			unsigned long *done);
errseq_t cowdev_backing_sample(struct cowdev_object *obj);
bool cowdev_backing_start_write(struct cowdev_object *obj);
void cowdev_backing_end_write(struct cowdev_object *obj);
int cowdev_backing_write(struct cowdev_object *obj, pgoff_t pgoff,
			 struct page *page);
int cowdev_backing_sync(struct cowdev_object *obj, const pgoff_t *index,
			unsigned int nr, errseq_t since, unsigned int written);
int cowdev_backing_evict(struct cowdev_object *obj, struct cowdev_evict *args);
/**
 * enum cowdev_evict_how - how cowdev_backing_evict_page() takes its page
 * @COWDEV_EVICT_WAIT: wait for the page's lock and writeback (EVICT)
 * @COWDEV_EVICT_TRY: leave a page that is locked, under writeback or
 *	mlocked (the reclaimer, which must not wait on a fault that may be
 *	waiting for it, and honours mlock as the kernel's reclaim does)
 * @COWDEV_EVICT_CLEAN: as @COWDEV_EVICT_TRY, and leave dirty pages too
 */
enum cowdev_evict_how {
	COWDEV_EVICT_WAIT,
	COWDEV_EVICT_TRY,
	COWDEV_EVICT_CLEAN,
};

/* Pages written for an eviction that share one wait for the store's disk. */
#define COWDEV_EVICT_BATCH	16

/**
 * struct cowdev_evict_batch - pages an eviction wrote, under writeback until
 *	the store has them on its disk (cowdev_backing_evict_flush())
 * @pages: the pages, each with a reference
 * @index: their offsets
 * @nr: how many
 * @since: the store's error sequence before the first write
 */
struct cowdev_evict_batch {
	struct page *pages[COWDEV_EVICT_BATCH];
	pgoff_t index[COWDEV_EVICT_BATCH];
	unsigned int nr;
	errseq_t since;
};

int cowdev_backing_evict_page(struct cowdev_object *obj, pgoff_t index,
			      struct page *page, enum cowdev_evict_how how,
			      struct cowdev_evict_batch *batch,
			      unsigned long *evicted);
int cowdev_backing_evict_flush(struct cowdev_object *obj,
			       struct cowdev_evict_batch *batch,
			       enum cowdev_evict_how how);
bool cowdev_backing_evict_batched(const struct cowdev_evict_batch *batch,
				  pgoff_t index);
void cowdev_backing_unlist(struct cowdev_object *obj);
void cowdev_backing_put(struct cowdev_object *obj);
bool cowdev_backing_any(void);
unsigned long cowdev_backing_reclaim(unsigned long nr,
				     unsigned long (*scan)(struct cowdev_object *,
							   unsigned long,
							   bool *),
				     bool *busy, bool *writeback);

/* cowdev_reclaim.c */
#define COWDEV_RECLAIM_BATCH	32UL	/* SWAP_CLUSTER_MAX */
#define COWDEV_RECLAIM_WAIT	(HZ / 5)	/* a wait for the reclaimer */
#define COWDEV_RECLAIM_TRIES	16	/* MAX_RECLAIM_RETRIES */

/**
 * cowdev_reclaim_low() - the pool's low watermark, as pages under its limit
 * @limit: the limit
 *
 * Return: %COWDEV_RECLAIM_BATCH, or a quarter of a smaller pool; the
 * reclaimer is woken with fewer pages than this left, and makes twice as
 * many.
 */
static inline unsigned long cowdev_reclaim_low(unsigned long limit)
{
	return min(COWDEV_RECLAIM_BATCH, limit / 4);
}

void cowdev_reclaim_wake(bool always);
void cowdev_reclaim_new_store(void);
bool cowdev_reclaim_wait(bool ask_again);
void cowdev_reclaim_show(struct seq_file *m);
void cowdev_reclaim_reset(void);
int cowdev_reclaim_init(void);
void cowdev_reclaim_exit(void);

/**
 * cowdev_reclaim_referenced() - tell the reclaimer's clock a fault used a page
 * @obj: the object faulting
 * @page: its page, found resident
 *
 * PG_referenced, which the clock takes (cowdev_reclaim.c).  The core's
 * zap_pte_range() also marks a page-mode page it unmaps from a young PTE
 * (mark_page_accessed(): a first mark sets the bit, a second clears it,
 * meaning to activate a page on an LRU).  Only objects with a store have a clock; the bit is
 * tested first so that a hot page's struct page is not written each fault.
 */
static inline void cowdev_reclaim_referenced(struct cowdev_object *obj,
					     struct page *page)
{
	if (READ_ONCE(obj->backing) && !folio_test_referenced(page_folio(page)))
		folio_set_referenced(page_folio(page));
}

/* cowdev_readahead.c */
void cowdev_readahead_miss(struct cowdev_object *obj,
			   struct vm_area_struct *vma, pgoff_t pgoff,
			   struct cowdev_ra_window *win);
void cowdev_readahead_hit(struct cowdev_object *obj,
			  struct vm_area_struct *vma, pgoff_t pgoff,
			  unsigned int marks);
void cowdev_readahead_used(struct cowdev_object *obj, unsigned int nr);
bool cowdev_readahead_busy(struct cowdev_object *obj, pgoff_t pgoff);
unsigned int cowdev_readahead_store_pages(struct file *file);
void cowdev_readahead_set_store(struct cowdev_object *obj, unsigned int pages);
unsigned int cowdev_readahead_max(struct cowdev_object *obj);
void cowdev_readahead_init(struct cowdev_object *obj);
void cowdev_readahead_fini(struct cowdev_object *obj);

/* cowdev_writeback.c */
void cowdev_writeback_init(struct cowdev_object *obj);
void cowdev_writeback_fini(struct cowdev_object *obj);
int cowdev_writeback_start(struct cowdev_object *obj,
			   struct cowdev_writeback *args);

/* cowdev_vm.c */
extern const struct vm_operations_struct cowdev_vm_ops;
int cowdev_mmap(struct file *file, struct vm_area_struct *vma);
vm_fault_t cowdev_fault_error(struct cowdev_object *obj, int err);

/**
 * enum cowdev_alloc_how - what cowdev_pool_alloc() may do at the limit
 * @COWDEV_ALLOC_NOWAIT: nothing: a guess (readahead), or a fault that must
 *	not wait (FAULT_FLAG_RETRY_NOWAIT), which wakes the reclaimer itself
 * @COWDEV_ALLOC_WAIT: wait for the reclaimer (cowdev_reclaim_wait())
 * @COWDEV_ALLOC_WAIT_ONCE: the same, without asking again after a pass
 *	that passed over busy objects or pages: for a caller holding its
 *	object's lock (CLONE), which the reclaimer passes over, so that
 *	asking again would be waiting on itself; and for a fault's retry,
 *	which waits holding mmap_lock
 */
enum cowdev_alloc_how {
	COWDEV_ALLOC_NOWAIT,
	COWDEV_ALLOC_WAIT,
	COWDEV_ALLOC_WAIT_ONCE,
};

/* cowdev_pool.c */
struct page *cowdev_pool_alloc(enum cowdev_alloc_how how);
long cowdev_pool_used(void);
void cowdev_pool_trim(void);
bool cowdev_pool_room(unsigned long nr);
void cowdev_pool_free(struct page *page);
int cowdev_pool_init(void);
void cowdev_pool_exit(void);
void cowdev_pool_show(struct seq_file *m);
void cowdev_pool_reset_peak(void);
extern unsigned long cowdev_pool_limit;
/* cowdev_wait.c: what a fault at the limit may wait for */
struct page *cowdev_alloc_at_limit(struct cowdev_fault *cf,
				   enum cowdev_alloc_how how);

/**
 * cowdev_alloc_page() - a page from the pool for a fault or an ioctl
 * @cf: the fault, or NULL
 * @how: what an allocation outside a fault may do at the limit
 *
 * The pool is asked without waiting first, so that the common case costs
 * what it did before there was reclaim; at the limit,
 * cowdev_alloc_at_limit() decides whether to wait for the reclaimer.
 *
 * Return: as cowdev_pool_alloc(), or ERR_PTR(-EAGAIN) for a fault that
 * must not wait and will be retried.
 */
static inline struct page *cowdev_alloc_page(struct cowdev_fault *cf,
					     enum cowdev_alloc_how how)
{
	struct page *page = cowdev_pool_alloc(COWDEV_ALLOC_NOWAIT);

	if (unlikely(page == ERR_PTR(-ENOSPC)))
		page = cowdev_alloc_at_limit(cf, how);
	return page;
}

/* cowdev_stats.c */
extern struct cowdev_counters __percpu *cowdev_global_stats;

/**
 * cowdev_count_add() - count @n events for an object and globally
 * @obj: the object the events happened to
 * @stat: which counter
 * @n: how many
 *
 * Two per-CPU additions, no lock and no shared cache line.  A build with
 * COWDEV_NO_COUNTERS (the benchmark's baseline, never shipped) counts
 * nothing.
 */
static inline void cowdev_count_add(struct cowdev_object *obj,
				    enum cowdev_stat stat, unsigned long n)
{
#ifndef COWDEV_NO_COUNTERS
	this_cpu_add(obj->stats->v[stat], n);
	this_cpu_add(cowdev_global_stats->v[stat], n);
#endif
}

/**
 * cowdev_count() - count one event for an object and globally
 * @obj: the object the event happened to
 * @stat: which counter
 */
static inline void cowdev_count(struct cowdev_object *obj,
				enum cowdev_stat stat)
{
	cowdev_count_add(obj, stat, 1);
}

u64 cowdev_stats_sum(struct cowdev_counters __percpu *stats,
		     enum cowdev_stat stat);
void cowdev_stats_fill_info(struct cowdev_object *obj,
			    struct cowdev_info *info);
int cowdev_stats_init(void);
void cowdev_stats_exit(void);
void cowdev_stats_add_object(struct cowdev_object *obj);
void cowdev_stats_remove_object(struct cowdev_object *obj);

/* cowdev_probe.c */
int cowdev_probe_init(void);
void cowdev_probe_exit(void);
bool cowdev_probe_available(void);

#endif /* _COWDEV_H */
