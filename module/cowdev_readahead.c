// SPDX-License-Identifier: GPL-2.0
/*
 * Readahead: which evicted pages a fault reads from the backing store
 * besides its own, and when the next pages are read before any fault asks.
 * The model is mm/readahead.c's on-demand readahead as filemap_fault()
 * drives it (do_sync_mmap_readahead(), do_async_mmap_readahead()):
 *
 * - A fault on an evicted page (a miss) reads a window with it, in one
 *   read of the store (cowdev_object_fill()).  Read-around, as
 *   do_sync_mmap_readahead() does it: the largest window, centred on the
 *   fault, a quarter of it async (none below 4 pages); the page alone if
 *   the pool has no room for all of it.  When the miss lands just past
 *   the last window (a sequential reader no mark sent ahead): the next
 *   size up, from the fault on, all async.  With MADV_SEQUENTIAL
 *   (VM_SEQ_READ) the window starts at the fault at the largest size; with
 *   MADV_RANDOM (VM_RAND_READ) it is the faulting page alone, and nothing
 *   is marked.
 * - The first page of the window's async part is marked (an xarray mark,
 *   cowdev_object.c clears it when a fault finds the page).  A fault that
 *   finds the mark starts the next window, where the last one ended, from
 *   a work item: nobody waits for it unless a fault catches up with its
 *   locked pages.  Each window is the size after the last's
 *   (get_next_ra_size(): x4 while small, then x2) up to the largest, so
 *   after a read-around every window is the largest: the store's own
 *   readahead size (its device's read_ahead_kb, what the kernel would read
 *   ahead of the file itself; 128 KiB for a store in memory), at most
 *   readahead_kb (2 MiB).
 * - Random access collapses the window: while misses outnumber pages read
 *   ahead and used by %COWDEV_RA_MISS_MAX (filemap_fault()'s mmap_miss and
 *   MMAP_LOTSAMISS; counted up to ten times that, as mmap_miss is, so that
 *   a few hits do not turn read-around back on), a miss reads its own page
 *   only, until misses come in order again (then growing from that page).
 *   Pages fault-around locked count as used, mapped or not.
 *
 * Where it differs from the kernel's, and why:
 * - One stream per object, as struct file_ra_state is one per open file
 *   (an object is one): the mark of a window the state has moved past
 *   starts nothing.
 * - The mark is on the index entry, not PG_readahead: pool pages are not
 *   page cache, and PG_readahead is PG_reclaim, which
 *   folio_end_writeback() acts on.
 * - A miss just past the last window grows it, as 6.1's
 *   ondemand_readahead() does for a read(), where filemap_fault() reads
 *   around again.
 * - Read-around needs room in the pool for the whole window, as the next
 *   window does: a guess does not push the pool to its limit.
 * - The next window's pages are indexed by the work, not by the fault that
 *   found the mark (page_cache_async_ra() adds them locked before it
 *   returns): a fault that gets there first reads its own page and leaves
 *   the stream alone.
 * - Readahead keeps off the pool's last %COWDEV_RA_RESERVE pages
 *   (cowdev_pool_room(), a racy check: enough for a guess) so that a fault
 *   is not refused a page a guess took.  Pages read ahead and never used
 *   stay until evicted.
 * - The next window is read by a kworker, so its page cache and I/O are
 *   charged to the root memory and I/O cgroups, not the faulting task's.
 */
#include <linux/backing-dev.h>
#include <linux/fs.h>
#include <linux/lockdep.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/pagemap.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "cowdev.h"
#include "cowdev_trace.h"

static unsigned int cowdev_readahead_kb = 2048;
module_param_named(readahead_kb, cowdev_readahead_kb, uint, 0644);
MODULE_PARM_DESC(readahead_kb,
		 "Largest readahead window from a backing store, in KiB, if the store's own is larger (below a page: off)");

/**
 * cowdev_readahead_max() - the largest readahead window of an object now
 * @obj: the object, with a backing store
 *
 * The store's own readahead size (its device's read_ahead_kb, as
 * filemap_fault() would use for the file itself: see
 * cowdev_readahead_store_pages()), at most readahead_kb and
 * %COWDEV_RA_MAX_PAGES.
 *
 * Return: a number of pages; 0 when readahead is off.
 */
unsigned int cowdev_readahead_max(struct cowdev_object *obj)
{
	unsigned int kb = READ_ONCE(cowdev_readahead_kb);

	return min3(kb / (unsigned int)(PAGE_SIZE / SZ_1K),
		    READ_ONCE(obj->ra.store_pages),
		    (unsigned int)COWDEV_RA_MAX_PAGES);
}

/**
 * cowdev_readahead_store_pages() - the readahead size of a store
 * @file: the store, just opened, its f_ra as its device set it
 *
 * A store in memory (tmpfs: no backing device) reads ahead nothing for
 * itself, but the object's faults still gain from reading runs; a device
 * whose read_ahead_kb is 0 means no readahead, as it does for its files.
 *
 * Return: a number of pages for cowdev_readahead_set_store().
 */
unsigned int cowdev_readahead_store_pages(struct file *file)
{
	if (file_inode(file)->i_sb->s_bdi == &noop_backing_dev_info)
		return VM_READAHEAD_PAGES;
	return file->f_ra.ra_pages;
}

/**
 * cowdev_readahead_set_store() - note the readahead size of a new store
 * @obj: the object, given its store under its lock
 * @pages: cowdev_readahead_store_pages() of the store
 */
void cowdev_readahead_set_store(struct cowdev_object *obj, unsigned int pages)
{
	lockdep_assert_held(&obj->lock);
	WRITE_ONCE(obj->ra.store_pages, pages);
}

/* get_next_ra_size(): the window after one of @cur pages. */
static unsigned int cowdev_ra_next_size(unsigned int cur, unsigned int max)
{
	if (cur < max / 16)
		return 4 * cur;
	if (cur <= max / 2)
		return 2 * cur;
	return max;
}

/* Clip @win to an object of @nr_pages pages. */
static void cowdev_ra_clip(struct cowdev_ra_window *win, unsigned long nr_pages)
{
	if (win->start >= nr_pages) {
		win->size = 0;
		win->async_size = 0;
	} else if (win->start + win->size > nr_pages) {
		win->size = nr_pages - win->start;
		win->async_size = min(win->async_size, win->size);
	}
}

static bool cowdev_ra_inside(const struct cowdev_ra_window *win, pgoff_t pgoff)
{
	return pgoff >= win->start && pgoff - win->start < win->size;
}

/**
 * cowdev_readahead_miss() - choose the window a fault on an evicted page reads
 * @obj: the object
 * @vma: the faulting VMA, for its MADV_RANDOM and MADV_SEQUENTIAL advice
 * @pgoff: the evicted page's offset
 * @win: set to the window, which holds @pgoff
 *
 * Called with the page at @pgoff indexed and the invalidate lock held: a
 * shrink may have lowered the size below @pgoff already (it takes the lock
 * after), and waits for the read to erase the page.
 */
void cowdev_readahead_miss(struct cowdev_object *obj,
			   struct vm_area_struct *vma, pgoff_t pgoff,
			   struct cowdev_ra_window *win)
{
	struct cowdev_ra *ra = &obj->ra;
	unsigned int max = cowdev_readahead_max(obj);

	*win = (struct cowdev_ra_window){ .start = pgoff, .size = 1 };
	if (!max || (vma->vm_flags & VM_RAND_READ))
		return;

	spin_lock(&ra->lock);
	if (ra->busy.size && cowdev_ra_inside(&ra->busy, pgoff)) {
		/* Its window is being read: this page alone, stream kept. */
		spin_unlock(&ra->lock);
		return;
	}
	if (vma->vm_flags & VM_SEQ_READ) {
		*win = (struct cowdev_ra_window){ pgoff, max, max };
	} else if (ra->state.size &&
		   pgoff == ra->state.start + ra->state.size) {
		/* Just past the last window: sequential, so it grows. */
		win->size = cowdev_ra_next_size(ra->state.size, max);
		win->async_size = win->size;
	} else if (++ra->misses > COWDEV_RA_MISS_MAX) {
		/* Mostly misses: random access, read-around is waste. */
		ra->misses = min(ra->misses, 10 * COWDEV_RA_MISS_MAX);
	} else if (cowdev_pool_room(max + COWDEV_RA_RESERVE)) {
		/* do_sync_mmap_readahead()'s read-around. */
		win->size = max;
		win->start = pgoff - min_t(pgoff_t, pgoff, max / 2);
		win->async_size = max / 4;
	}
	cowdev_ra_clip(win, max_t(unsigned long, READ_ONCE(obj->nr_pages),
				  pgoff + 1));
	ra->state = *win;
	spin_unlock(&ra->lock);
	if (win->size > 1)
		trace_cowdev_readahead(obj->id, pgoff, win->start, win->size,
				       win->async_size, false);
}

/**
 * cowdev_readahead_hit() - a fault found a page it may map, with marks
 * @obj: the object
 * @vma: the faulting VMA
 * @pgoff: the page's offset
 * @marks: the marks taken off its index entry, COWDEV_RA_*
 *
 * A page read ahead and now used is a hit, which pays back a miss.  A page
 * marked as the start of a window's async part starts the next window,
 * unless the VMA was advised MADV_RANDOM since, the mark is of a window the
 * stream has moved past, another window waits to be read or is being
 * read (the mark's own window may be: its work marks each page once it is
 * read), or the pool has no room for it.
 */
void cowdev_readahead_hit(struct cowdev_object *obj,
			  struct vm_area_struct *vma, pgoff_t pgoff,
			  unsigned int marks)
{
	struct cowdev_ra *ra = &obj->ra;
	unsigned int max = cowdev_readahead_max(obj);
	struct cowdev_ra_window next;
	bool start = false;

	if (marks & COWDEV_RA_UNUSED)
		cowdev_readahead_used(obj, 1);
	if (!(marks & COWDEV_RA_NEXT) || !max || (vma->vm_flags & VM_RAND_READ))
		return;

	spin_lock(&ra->lock);
	if ((!ra->busy.size ||
	     (cowdev_ra_inside(&ra->busy, pgoff) && !work_pending(&ra->work))) &&
	    pgoff == ra->state.start + ra->state.size - ra->state.async_size) {
		next.start = ra->state.start + ra->state.size;
		next.size = cowdev_ra_next_size(ra->state.size, max);
		next.async_size = next.size;
		cowdev_ra_clip(&next, READ_ONCE(obj->nr_pages));
		if (next.size &&
		    cowdev_pool_room(next.size + COWDEV_RA_RESERVE)) {
			ra->state = next;
			ra->busy = next;
			start = true;
		}
	}
	spin_unlock(&ra->lock);
	if (!start)
		return;
	trace_cowdev_readahead(obj->id, pgoff, next.start, next.size,
			       next.async_size, true);
	queue_work(system_unbound_wq, &ra->work);
}

/**
 * cowdev_readahead_used() - count pages read ahead that faults used
 * @obj: the object
 * @nr: how many
 */
void cowdev_readahead_used(struct cowdev_object *obj, unsigned int nr)
{
	struct cowdev_ra *ra = &obj->ra;

	cowdev_count_add(obj, COWDEV_STAT_READAHEAD_HITS, nr);
	spin_lock(&ra->lock);
	ra->misses -= min(ra->misses, nr);
	spin_unlock(&ra->lock);
}

/**
 * cowdev_readahead_busy() - is a page's window being read ahead?
 * @obj: the object
 * @pgoff: a page offset
 *
 * Return: true while the work reads a window that holds @pgoff.
 */
bool cowdev_readahead_busy(struct cowdev_object *obj, pgoff_t pgoff)
{
	struct cowdev_ra *ra = &obj->ra;
	bool busy;

	spin_lock(&ra->lock);
	busy = ra->busy.size && cowdev_ra_inside(&ra->busy, pgoff);
	spin_unlock(&ra->lock);
	return busy;
}

/* Read the window a hit started, then let the stream start another. */
static void cowdev_readahead_work(struct work_struct *work)
{
	struct cowdev_ra *ra = container_of(work, struct cowdev_ra, work);
	struct cowdev_object *obj = container_of(ra, struct cowdev_object, ra);
	struct cowdev_ra_window win;

	spin_lock(&ra->lock);
	win = ra->busy;
	spin_unlock(&ra->lock);
	/*
	 * Without memory for the window's arrays nothing is read: the
	 * stream's next miss reads around again.
	 */
	if (win.size)
		cowdev_object_read_ahead(obj, &win);
	spin_lock(&ra->lock);
	/* Unless a hit in this window started the next one meanwhile. */
	if (ra->busy.start == win.start && ra->busy.size == win.size)
		ra->busy = (struct cowdev_ra_window){ 0 };
	spin_unlock(&ra->lock);
	wake_up_all(&ra->wait);
}

/**
 * cowdev_readahead_init() - set up a new object's readahead
 * @obj: the object
 */
void cowdev_readahead_init(struct cowdev_object *obj)
{
	spin_lock_init(&obj->ra.lock);
	init_waitqueue_head(&obj->ra.wait);
	INIT_WORK(&obj->ra.work, cowdev_readahead_work);
}

/**
 * cowdev_readahead_fini() - wait for an object's readahead to end
 * @obj: an object being destroyed: no fault can start another window
 */
void cowdev_readahead_fini(struct cowdev_object *obj)
{
	flush_work(&obj->ra.work);
}
