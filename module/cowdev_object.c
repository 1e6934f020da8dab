// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev objects: the page index of one memory object, its size and its
 * lifetime.
 *
 * An object is created by open() and destroyed by the last fput() of its
 * file.  Every VMA holds a reference to its file, so the object outlives
 * its last mapping without any reference counting of its own.
 *
 * The index is written here only, each page's entry with the page locked.
 * An evicted page leaves a value entry (%COWDEV_EVICTED, or
 * %COWDEV_EVICTED_COPIED with the copy mark of cowdev_cow.c), which a fault
 * replaces with a new page, locked, before reading it in
 * (cowdev_object_fill()): every other fault on the offset finds that page
 * and waits on its lock, so the page is read once.  Which objects share a
 * page, and when it goes back to the pool, is cowdev_cow.c's business;
 * the backing store's I/O is cowdev_backing.c's.
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/idr.h>
#include <linux/kstrtox.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

#define COWDEV_FS_MAGIC 0x636f7764	/* "cowd" */
#define COWDEV_MAX_PAGES (COWDEV_MAX_SIZE >> PAGE_SHIFT)

static unsigned long long cowdev_default_size = 64ULL << 20;
module_param_named(default_size, cowdev_default_size, ullong, 0644);
MODULE_PARM_DESC(default_size, "Size in bytes of a new object (default 64 MiB)");

static unsigned int cowdev_default_mode;
module_param_named(default_mode, cowdev_default_mode, uint, 0644);
MODULE_PARM_DESC(default_mode,
		 "Mode of a new object: 0 page, 1 pfn (default 0); for tools that cannot SET_MODE");

static unsigned int cowdev_fill_delay_us;

/*
 * At most 10 s: the delay is slept uninterruptibly under a page lock (and
 * in a read back, the invalidate lock), which truncation and the last
 * close wait for in turn; far under the hung-task detector's 120 s.
 */
#define COWDEV_MAX_FILL_DELAY_US	(10 * USEC_PER_SEC)

static int cowdev_fill_delay_set(const char *val, const struct kernel_param *kp)
{
	unsigned int us;
	int ret = kstrtouint(val, 0, &us);

	if (ret)
		return ret;
	if (us > COWDEV_MAX_FILL_DELAY_US)
		return -EINVAL;
	WRITE_ONCE(cowdev_fill_delay_us, us);
	return 0;
}

static const struct kernel_param_ops cowdev_fill_delay_ops = {
	.set = cowdev_fill_delay_set,
	.get = param_get_uint,
};

module_param_cb(fill_delay_us, &cowdev_fill_delay_ops, &cowdev_fill_delay_us,
		0644);
MODULE_PARM_DESC(fill_delay_us,
		 "Microseconds a new page stays locked while it is filled, standing for I/O, or added to a read from the backing store (default 0, at most 10 s)");

static struct vfsmount *cowdev_mnt;
/*
 * Marks on index entries, set and cleared under the xa_lock here only:
 * what readahead (cowdev_readahead.c) needs to know of a page.  Erasing
 * an entry clears its marks; evicting one clears them here.
 */
#define COWDEV_MARK_RA_UNUSED	XA_MARK_0	/* read ahead, not yet used */
#define COWDEV_MARK_RA_NEXT	XA_MARK_1	/* a fault here starts a window */

static DEFINE_IDA(cowdev_ida);

static int cowdev_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, COWDEV_FS_MAGIC) ? 0 : -ENOMEM;
}

/*
 * No .owner: the mount lives from module init to exit, and a module
 * reference from it would make the module impossible to unload.
 */
static struct file_system_type cowdev_fs_type = {
	.name = "cowdev",
	.init_fs_context = cowdev_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

/**
 * cowdev_object_create() - make a new, empty object of the default size
 *
 * Return: the object, or an ERR_PTR.
 */
struct cowdev_object *cowdev_object_create(void)
{
	struct cowdev_object *obj;
	u64 size = min_t(u64, READ_ONCE(cowdev_default_size), COWDEV_MAX_SIZE);
	int ret;

	obj = kzalloc(sizeof(*obj), GFP_KERNEL);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	xa_init(&obj->pages);
	mutex_init(&obj->lock);
	spin_lock_init(&obj->mode_lock);
	init_waitqueue_head(&obj->clone_wait);
	obj->nr_pages = DIV_ROUND_UP_ULL(size, PAGE_SIZE);
	obj->mode = COWDEV_HAVE_PFN_MODE &&
		    READ_ONCE(cowdev_default_mode) == COWDEV_MODE_PFN ?
		    COWDEV_MODE_PFN : COWDEV_MODE_PAGE;

	ret = percpu_init_rwsem(&obj->clone_sem);
	if (ret)
		goto err_free;
	ret = -ENOMEM;
	obj->stats = alloc_percpu(struct cowdev_counters);
	if (!obj->stats)
		goto err_sem;
	ret = ida_alloc(&cowdev_ida, GFP_KERNEL);
	if (ret < 0)
		goto err_stats;
	obj->id = ret;
	obj->inode = alloc_anon_inode(cowdev_mnt->mnt_sb);
	if (IS_ERR(obj->inode)) {
		ret = PTR_ERR(obj->inode);
		goto err_ida;
	}
	cowdev_writeback_init(obj);
	cowdev_readahead_init(obj);
	cowdev_stats_add_object(obj);
	return obj;

err_ida:
	ida_free(&cowdev_ida, obj->id);
err_stats:
	free_percpu(obj->stats);
err_sem:
	percpu_free_rwsem(&obj->clone_sem);
err_free:
	kfree(obj);
	return ERR_PTR(ret);
}

/**
 * cowdev_object_destroy() - free an object and give back its pages
 * @obj: an object no file refers to and no VMA maps
 */
void cowdev_object_destroy(struct cowdev_object *obj)
{
	struct page *page;
	unsigned long index;

	cowdev_backing_unlist(obj);
	cowdev_stats_remove_object(obj);
	cowdev_writeback_fini(obj);
	cowdev_readahead_fini(obj);
	xa_for_each(&obj->pages, index, page)
		if (!xa_is_value(page))
			cowdev_cow_put_page(obj, index, page);
	xa_destroy(&obj->pages);
	cowdev_backing_put(obj);
	iput(obj->inode);
	ida_free(&cowdev_ida, obj->id);
	free_percpu(obj->stats);
	percpu_free_rwsem(&obj->clone_sem);
	kfree(obj);
}

/*
 * Under RCU: the page @xas points at, with a reference, or NULL (no page, or
 * an evicted one, which only cowdev_object_add_page() replaces).  The walk
 * stays in @xas, good for xas_reload() and marks until rcu_read_unlock().
 */
static struct page *cowdev_object_find(struct xa_state *xas)
{
	struct page *page;

repeat:
	xas_reset(xas);
	page = xas_load(xas);
	if (xas_retry(xas, page))
		goto repeat;
	if (!page || xa_is_value(page))
		return NULL;
	/*
	 * The page may be on its way back to the pool: a pool page keeps its
	 * reference, so take ours only if it has one and confirm it is still
	 * indexed before trusting it.
	 */
	if (!get_page_unless_zero(page))
		goto repeat;
	if (unlikely(xas_reload(xas) != page)) {
		put_page(page);
		goto repeat;
	}
	return page;
}

/*
 * Under RCU, with @page locked and @xas walked to its offset: is @page still
 * indexed there, inside the object?  Entries are replaced and erased only
 * under the page lock, so the answer holds until the page is unlocked.
 */
static bool cowdev_object_check(struct cowdev_object *obj,
				struct xa_state *xas, struct page *page)
{
	return xas->xa_index < READ_ONCE(obj->nr_pages) &&
	       xas_reload(xas) == page;
}

/**
 * cowdev_object_page_valid() - is @page still the object's page at @pgoff?
 * @obj: the object
 * @pgoff: page offset in the object
 * @page: a page the caller found at @pgoff (in the index or in a PTE of
 *	one of the object's mappings), locked since
 *
 * Entries are replaced and erased only under the page lock, so with @page
 * locked the answer stays true until the caller unlocks it.
 *
 * Return: true if @page may be mapped at @pgoff.
 */
bool cowdev_object_page_valid(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page)
{
	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
	if (pgoff >= READ_ONCE(obj->nr_pages))
		return false;
	/*
	 * An object that has never dropped a page still has every page it
	 * was found with: the write-after-read path of an object without
	 * truncation or copies needs no walk.  Dropping @page would have
	 * been done under its lock, which we now hold, so the count is seen.
	 */
	if (!READ_ONCE(obj->nr_dropped))
		return true;
	return xa_load(&obj->pages, pgoff) == page;
}

/**
 * cowdev_object_find_get() - the first page at or after *@index, held
 * @obj: the object
 * @index: where to start; set to the page's offset
 * @max: the last offset to look at
 *
 * The reference is taken before the page is trusted, as find_get_entry()
 * does: a page can be replaced, truncated and freed to the pool at any
 * time until the caller locks it and checks it is still indexed.
 *
 * Return: the page with a reference for the caller, or NULL if there is
 * none in [*@index, @max].  Evicted pages are passed over.
 */
struct page *cowdev_object_find_get(struct cowdev_object *obj,
				    unsigned long *index, unsigned long max)
{
	XA_STATE(xas, &obj->pages, *index);
	struct page *page;

	rcu_read_lock();
	do {
		page = xas_find(&xas, max);
		if (xas_retry(&xas, page) || xa_is_value(page))
			continue;
		if (!page)
			break;
		if (!get_page_unless_zero(page)) {
			xas_reset(&xas);
			continue;
		}
		if (likely(xas_reload(&xas) == page))
			break;
		put_page(page);
		xas_reset(&xas);
	} while (true);
	rcu_read_unlock();
	if (page)
		*index = xas.xa_index;
	return page;
}

/**
 * cowdev_object_add_page() - index a page at an offset that has none, or
 *	whose page is evicted
 * @obj: the object
 * @pgoff: page offset in @obj
 * @page: the page, locked or not yet visible to anyone else
 * @fill: the caller holds the invalidate lock of @obj's mapping shared,
 *	and may fill an evicted page's place, with @page locked (which then
 *	gets the copy mark the evicted page left with, if it did)
 *
 * A new page of an object with a backing store is dirty: it is not on the
 * store, whatever the file holds there.  The backing store is looked at
 * under the xa_lock, under which cowdev_object_set_backing() sets it, so
 * that a page is either seen by its walk or added knowing of the store.
 *
 * Return: 0; 1 if @page takes the place of an evicted page, which the
 * caller must fill (cowdev_object_fill()) before unlocking it; -ENODATA if
 * the page there is evicted and not @fill; -EEXIST if @obj has a page
 * there, -EINVAL past its end, or -ENOMEM.
 */
int cowdev_object_add_page(struct cowdev_object *obj, pgoff_t pgoff,
			   struct page *page, bool fill)
{
	XA_STATE(xas, &obj->pages, pgoff);
	void *entry;

	do {
		xas_lock(&xas);
		entry = xas_load(&xas);
		/* Checked under xa_lock, which set_size takes to shrink. */
		if (pgoff >= obj->nr_pages)
			xas_set_err(&xas, -EINVAL);
		else if (entry && !xa_is_value(entry))
			xas_set_err(&xas, -EEXIST);
		else if (entry && !fill)
			xas_set_err(&xas, -ENODATA);
		else if (entry == COWDEV_EVICTED_COPIED)
			cowdev_cow_mark_copy(page);	/* before it is seen */
		if (!xas_error(&xas))
			xas_store(&xas, page);
		if (!xas_error(&xas)) {
			obj->nr_resident++;
			if (entry)
				obj->nr_evicted--;
			else if (obj->backing)
				folio_set_dirty(page_folio(page));
		}
		xas_unlock(&xas);
	} while (xas_nomem(&xas, GFP_KERNEL));
	return xas_error(&xas) ?: !!entry;
}

/**
 * cowdev_object_set_backing() - give an object its backing store
 * @obj: the object, which has none
 * @file: the store; the reference passes to @obj
 *
 * From here on every new page of @obj is dirty (cowdev_object_add_page());
 * the caller then marks the pages it already has
 * (cowdev_object_dirty_all()).
 */
void cowdev_object_set_backing(struct cowdev_object *obj, struct file *file)
{
	lockdep_assert_held(&obj->lock);
	xa_lock(&obj->pages);
	WRITE_ONCE(obj->backing, file);
	xa_unlock(&obj->pages);
}

/**
 * cowdev_object_dirty_all() - mark every page of an object dirty
 * @obj: an object just given its backing store
 *
 * None of its pages is on the store yet.  From here on a clean page of
 * @obj is one whose contents are on the store at its offset (read from
 * it, or written and not written to since), and only a clean page may be
 * evicted.
 */
void cowdev_object_dirty_all(struct cowdev_object *obj)
{
	unsigned long index = 0;
	struct page *page;
	bool valid;

	lockdep_assert_held(&obj->lock);
	while ((page = cowdev_object_find_get(obj, &index, ULONG_MAX))) {
		/* Locked, so that no page that has left @obj is touched. */
		cowdev_lock_page(obj, index, page, NULL);
		valid = cowdev_object_page_valid(obj, index, page);
		if (valid)
			folio_set_dirty(page_folio(page));
		cowdev_unlock_page(obj, index, page);
		put_page(page);
		cond_resched();
		/* A copy that replaced it inherited its clean bit: look again. */
		if (valid)
			index++;
	}
}

/**
 * cowdev_object_evict_page() - remember a page as on the backing store
 * @obj: the object
 * @pgoff: page offset in @obj
 * @page: the page indexed there, locked; whose contents are on the
 *	backing store at @pgoff, or whose read from it failed
 *
 * The caller then gives the index's share of @page up
 * (cowdev_cow_put_page()).
 *
 * Return: true if @page was indexed at @pgoff and is replaced.
 */
bool cowdev_object_evict_page(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page)
{
	XA_STATE(xas, &obj->pages, pgoff);
	bool evicted, unused = false;

	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
	xas_lock(&xas);
	evicted = xas_load(&xas) == page;
	if (evicted) {
		/* A store over an entry allocates nothing, and keeps marks. */
		xas_store(&xas, cowdev_cow_copy_marked(page) ?
			  COWDEV_EVICTED_COPIED : COWDEV_EVICTED);
		unused = xas_get_mark(&xas, COWDEV_MARK_RA_UNUSED);
		xas_clear_mark(&xas, COWDEV_MARK_RA_UNUSED);
		xas_clear_mark(&xas, COWDEV_MARK_RA_NEXT);
		obj->nr_resident--;
		obj->nr_evicted++;
		WRITE_ONCE(obj->nr_dropped, obj->nr_dropped + 1);
	}
	xas_unlock(&xas);
	if (unused)
		cowdev_count(obj, COWDEV_STAT_READAHEAD_UNUSED);
	return evicted;
}

/*
 * Does the entry @xas points at carry @mark?  The index's own flag first,
 * one load, clear unless some entry has the mark: fault-around asks for
 * every page it maps.
 */
static bool cowdev_object_ra_marked(struct cowdev_object *obj,
				    struct xa_state *xas, xa_mark_t mark)
{
	return xa_marked(&obj->pages, mark) && xas_get_mark(xas, mark);
}

/* Set @marks (COWDEV_RA_*) on the page indexed at @pgoff, if one is. */
static void cowdev_object_set_ra_marks(struct cowdev_object *obj,
				       pgoff_t pgoff, unsigned int marks)
{
	XA_STATE(xas, &obj->pages, pgoff);
	void *entry;

	xas_lock(&xas);
	entry = xas_load(&xas);
	if (entry && !xa_is_value(entry)) {
		if (marks & COWDEV_RA_UNUSED)
			xas_set_mark(&xas, COWDEV_MARK_RA_UNUSED);
		if (marks & COWDEV_RA_NEXT)
			xas_set_mark(&xas, COWDEV_MARK_RA_NEXT);
	}
	xas_unlock(&xas);
}

/*
 * Clear the readahead marks of the page at @pgoff, which a fault found and
 * will map, and return them (COWDEV_RA_*).  Costs one test of the index's
 * flags while no entry is marked.
 */
static unsigned int cowdev_object_take_ra_marks(struct cowdev_object *obj,
						pgoff_t pgoff)
{
	XA_STATE(xas, &obj->pages, pgoff);
	unsigned int marks = 0;

	if (likely(!xa_marked(&obj->pages, COWDEV_MARK_RA_UNUSED) &&
		   !xa_marked(&obj->pages, COWDEV_MARK_RA_NEXT)))
		return 0;
	xas_lock(&xas);
	xas_load(&xas);
	if (xas_get_mark(&xas, COWDEV_MARK_RA_UNUSED)) {
		xas_clear_mark(&xas, COWDEV_MARK_RA_UNUSED);
		marks |= COWDEV_RA_UNUSED;
	}
	if (xas_get_mark(&xas, COWDEV_MARK_RA_NEXT)) {
		xas_clear_mark(&xas, COWDEV_MARK_RA_NEXT);
		marks |= COWDEV_RA_NEXT;
	}
	xas_unlock(&xas);
	return marks;
}

/*
 * Fault-around maps the pages read ahead at @first + each bit of @unused,
 * locked: they are used.
 */
static void cowdev_object_clear_unused(struct cowdev_object *obj,
				       pgoff_t first, unsigned long unused)
{
	unsigned long i;

	xa_lock(&obj->pages);
	for_each_set_bit(i, &unused, BITS_PER_LONG)
		__xa_clear_mark(&obj->pages, first + i, COWDEV_MARK_RA_UNUSED);
	xa_unlock(&obj->pages);
	cowdev_readahead_used(obj, hweight_long(unused));
}

/* A fault found the page at @pgoff: readahead hears of it if marked. */
static void cowdev_object_note_hit(struct cowdev_object *obj, pgoff_t pgoff,
				   struct cowdev_fault *cf)
{
	unsigned int marks = cowdev_object_take_ra_marks(obj, pgoff);

	if (unlikely(marks))
		cowdev_readahead_hit(obj, cf->vmf->vma, pgoff, marks);
}

/* Take back a page indexed for a read that failed: evicted again. */
static void cowdev_object_unfill(struct cowdev_object *obj, pgoff_t pgoff,
				 struct page *page)
{
	/* Nothing can have replaced it: it is locked, truncation held off. */
	bool evicted = cowdev_object_evict_page(obj, pgoff, page);

	cowdev_unlock_page(obj, pgoff, page);
	put_page(page);
	if (!WARN_ON_ONCE(!evicted))
		cowdev_cow_put_page(obj, pgoff, page);
}

/*
 * A new page, locked, with a reference for the caller, indexed at @pgoff in
 * place of the evicted page there, to be read ahead; or NULL when @pgoff
 * is not evicted (a hole stays a hole) or the pool has no room to spare.
 */
static struct page *cowdev_object_add_ahead(struct cowdev_object *obj,
					    pgoff_t pgoff)
{
	XA_STATE(xas, &obj->pages, pgoff);
	struct page *page;
	bool added = false;
	void *entry;

	if (!xa_is_value(xa_load(&obj->pages, pgoff)) ||
	    !cowdev_pool_room(COWDEV_RA_RESERVE))
		return NULL;
	page = cowdev_pool_alloc(COWDEV_ALLOC_NOWAIT);
	if (IS_ERR(page))
		return NULL;
	__folio_set_locked(page_folio(page));
	cowdev_cow_own_page(page);
	xas_lock(&xas);
	entry = xas_load(&xas);
	if (pgoff < obj->nr_pages && xa_is_value(entry)) {
		if (entry == COWDEV_EVICTED_COPIED)
			cowdev_cow_mark_copy(page);
		xas_store(&xas, page);	/* over an entry: allocates nothing */
		obj->nr_resident++;
		obj->nr_evicted--;
		added = true;
	}
	xas_unlock(&xas);
	if (added) {
		get_page(page);
		return page;
	}
	__folio_clear_locked(page_folio(page));
	cowdev_cow_put_page(obj, pgoff, page);
	return NULL;
}

/*
 * Read the evicted pages of @win, @page at @pgoff among them (NULL for
 * readahead alone), with the invalidate lock held shared (see
 * cowdev_object_fill()): each run of them with one read.  The pages read
 * ahead are marked unused, and unlocked; the first page of the window's
 * async part is marked to start the next window (cowdev_readahead_hit()).
 * A page whose read failed is evicted again: only the fault that needs it
 * gets the error.  Returns 0 if @page was read, or the error of its read
 * (cowdev_backing_read()).
 */
static int cowdev_object_read_window(struct cowdev_object *obj,
				     const struct cowdev_ra_window *win,
				     pgoff_t pgoff, struct page *page)
{
	struct cowdev_ra_window one = { .start = pgoff, .size = 1 };
	DECLARE_BITMAP(done, COWDEV_RA_MAX_PAGES);
	struct page *single, **pages = &single;
	unsigned int i, ahead = 0;
	pgoff_t index;
	int err;

	if (win->size > 1) {
		pages = kmalloc_array(win->size, sizeof(*pages), GFP_KERNEL |
				      __GFP_NORETRY | __GFP_NOWARN);
		if (!pages) {	/* no readahead, then: the fault's page only */
			if (!page)
				return 0;
			pages = &single;
			win = &one;
		}
	}
	for (i = 0; i < win->size; i++) {
		index = win->start + i;
		pages[i] = page && index == pgoff ? page :
			   cowdev_object_add_ahead(obj, index);
	}
	err = cowdev_backing_read(obj, win->start, pages, win->size, done);
	/* Stands for a slow device: faults on these pages wait meanwhile. */
	if (cowdev_fill_delay_us)
		fsleep(cowdev_fill_delay_us);
	if (win->async_size)
		cowdev_object_set_ra_marks(obj, win->start + win->size -
					   win->async_size, COWDEV_RA_NEXT);
	for (i = 0; i < win->size; i++) {
		index = win->start + i;
		if (!pages[i] || pages[i] == page)
			continue;
		if (!test_bit(i, done)) {
			cowdev_object_unfill(obj, index, pages[i]);
			continue;
		}
		/* Before the unlock, so that a fault waiting for it sees it. */
		cowdev_object_set_ra_marks(obj, index, COWDEV_RA_UNUSED);
		cowdev_unlock_page(obj, index, pages[i]);
		put_page(pages[i]);
		ahead++;
	}
	cowdev_count_add(obj, COWDEV_STAT_READAHEAD_PAGES, ahead);
	if (pages != &single)
		kfree(pages);
	if (!page || test_bit(pgoff - win->start, done))
		return 0;
	if (win->size == 1 || err == -EINTR)
		return err ?: -EIO;
	/*
	 * A read stops at its first error: one of the pages read ahead of
	 * @page may have kept it from being read.  Read it alone, as
	 * filemap_fault() reads a folio readahead left !uptodate.
	 */
	return cowdev_backing_read(obj, pgoff, &page, 1, done);
}

/**
 * cowdev_object_fill() - read a page that took an evicted page's place
 * @obj: the object
 * @pgoff: page offset in @obj
 * @page: the page cowdev_object_add_page() indexed there, locked, with a
 *	reference for the caller
 * @win: the pages to read with it (cowdev_readahead_miss()), @pgoff
 *	among them; or NULL for @page alone
 *
 * Called with the invalidate lock of @obj's mapping held shared, as
 * filemap_fault() holds it to read a page in, and releases it: truncation
 * takes it exclusive, so it never meets a read in flight, and a read that
 * fails never puts an evicted page back behind its walk.
 * The page stays locked for the whole read, as filemap_read_folio() keeps
 * a folio locked: every other fault on @pgoff waits on PG_locked (for
 * fill_delay_us more, standing for a slow device).  A read
 * that fails leaves nothing half-read: the offset is evicted again, so
 * the next fault reads again, and @page goes back to the pool.
 *
 * Return: 0 with @page filled and still locked; or, with @page unlocked
 * and the caller's reference dropped, -EIO, -ENOMEM (no memory for the
 * store's page cache) or -EINTR (a fatal signal).
 */
int cowdev_object_fill(struct cowdev_object *obj, pgoff_t pgoff,
		       struct page *page, const struct cowdev_ra_window *win)
{
	struct cowdev_ra_window one = { .start = pgoff, .size = 1 };
	int err;

	if (!win || pgoff < win->start || pgoff - win->start >= win->size)
		win = &one;
	err = cowdev_object_read_window(obj, win, pgoff, page);

	if (err)
		cowdev_object_unfill(obj, pgoff, page);
	filemap_invalidate_unlock_shared(obj->inode->i_mapping);
	return err;
}

/**
 * cowdev_object_read_ahead() - read a window no fault waits for
 * @obj: the object
 * @win: the window (cowdev_readahead_hit())
 *
 * From a work item, which may sleep for the invalidate lock as a fault
 * may not (cowdev_lock_fill()): it holds no page lock meanwhile.  With
 * fill_delay_us it first waits that long, standing for a device that is
 * slow to start the request: truncation can then come before the pages
 * are taken, as it can come during their read.
 */
void cowdev_object_read_ahead(struct cowdev_object *obj,
			      const struct cowdev_ra_window *win)
{
	if (cowdev_fill_delay_us)
		fsleep(cowdev_fill_delay_us);
	filemap_invalidate_lock_shared(obj->inode->i_mapping);
	cowdev_object_read_window(obj, win, 0, NULL);
	filemap_invalidate_unlock_shared(obj->inode->i_mapping);
}

/*
 * A fault's read of an evicted page.  A fault that may retry puts the read
 * off until it has dropped its lock (cowdev_fault_finish()); one that may
 * not reads in place.  Either way it is a major fault.  (One that must not
 * wait at all never gets here: see cowdev_object_grab_page().)
 */
static struct page *cowdev_object_read_in(struct cowdev_object *obj,
					  pgoff_t pgoff, struct page *page,
					  struct cowdev_fault *cf)
{
	int ret;

	if (cf) {
		cf->major = true;
		cowdev_count(obj, COWDEV_STAT_MAJOR_FAULTS);
		count_vm_event(PGMAJFAULT);
		trace_cowdev_major_fault(obj->id, pgoff);
		cowdev_readahead_miss(obj, cf->vmf->vma, pgoff,
				      &cf->read_window);
		if (fault_flag_allow_retry_first(cf->vmf->flags)) {
			cf->read_page = page;
			cf->read_pgoff = pgoff;
			return ERR_PTR(-EAGAIN);
		}
	}
	ret = cowdev_object_fill(obj, pgoff, page,
				 cf ? &cf->read_window : NULL);
	/*
	 * A fault here may not retry: killed, it gets SIGBUS, as
	 * filemap_fault() answers a failed read when it cannot drop its
	 * lock.  No memory for the store's page cache is VM_FAULT_OOM, as
	 * there (cowdev_fault_error()).
	 */
	if (ret == -EINTR && cf)
		ret = -EIO;
	if (ret)
		return ERR_PTR(ret);
	/* What the retry would find: a mark on its own page, maybe. */
	if (cf)
		cowdev_object_note_hit(obj, pgoff, cf);
	return page;
}

/**
 * cowdev_object_read_evicted() - bring every evicted page of an object back
 * @obj: the object
 *
 * CLONE shares resident pages only (see cowdev_cow_clone()).
 *
 * Return: 0, or the first error: -EIO (a read that failed, or a page
 * poisoned once read back, as CLONE reports a poisoned page), -ENOSPC,
 * -ENOMEM, -EINTR (a fatal signal).
 */
int cowdev_object_read_evicted(struct cowdev_object *obj)
{
	unsigned long index;
	struct page *page;
	void *entry;

	lockdep_assert_held(&obj->lock);
	xa_for_each(&obj->pages, index, entry) {
		if (!xa_is_value(entry))
			continue;
		if (fatal_signal_pending(current))
			return -EINTR;
		page = cowdev_object_grab_page(obj, index, NULL);
		if (PTR_ERR_OR_ZERO(page) == -EHWPOISON)
			return -EIO;
		if (IS_ERR(page))
			return PTR_ERR(page);
		cowdev_unlock_page(obj, index, page);
		put_page(page);
		cond_resched();
	}
	return 0;
}

/**
 * cowdev_object_find_lock_page() - find the page at @pgoff and lock it
 * @obj: the object
 * @pgoff: page offset in the object
 * @cf: the fault that wants the page, or NULL outside a fault
 *
 * This is pfn_mkwrite's whole lookup, so the uncontended case walks the
 * index once: the lock is tried under RCU, and the walk that found the
 * page then confirms it.  A contended lock is waited for as
 * cowdev_lock_page() says, which in a fault may mean a retry.
 *
 * Return: the page, locked, still indexed at @pgoff, with a reference for
 * the caller; NULL if the object has no page there or @pgoff is past its
 * end; ERR_PTR(-EAGAIN) or ERR_PTR(-EINTR) when the fault must return
 * VM_FAULT_RETRY (see cowdev_lock_page()).
 */
struct page *cowdev_object_find_lock_page(struct cowdev_object *obj,
					  pgoff_t pgoff, struct cowdev_fault *cf)
{
	XA_STATE(xas, &obj->pages, pgoff);
	struct page *page;
	bool valid;
	int ret;

	for (;;) {
		if (pgoff >= READ_ONCE(obj->nr_pages))
			return NULL;
		rcu_read_lock();
		page = cowdev_object_find(&xas);
		if (page && folio_trylock(page_folio(page))) {
			valid = cowdev_object_check(obj, &xas, page);
			rcu_read_unlock();
		} else {
			rcu_read_unlock();
			if (!page)
				return NULL;
			ret = cowdev_lock_page(obj, pgoff, page, cf);
			if (ret) {
				put_page(page);
				return ERR_PTR(ret);
			}
			valid = cowdev_object_page_valid(obj, pgoff, page);
		}
		if (likely(valid)) {
			if (cf)
				cowdev_reclaim_referenced(obj, page);
			return page;
		}
		/* Truncated or replaced before we had the lock. */
		cowdev_unlock_page(obj, pgoff, page);
		put_page(page);
	}
}

/**
 * cowdev_object_trylock_range() - lock the pages of a range that may be
 *	mapped now, without waiting
 * @obj: the object
 * @first: first page offset
 * @last: last page offset, less than BITS_PER_LONG after @first
 * @want: bit i set to look at offset @first + i
 * @pages: one slot per offset in [@first, @last], filled with the page,
 *	locked, with a reference for the caller, still indexed there and
 *	inside the object; or NULL
 *
 * Fault-around's lookup, skipping what filemap_map_pages() skips: offsets
 * with no page, pages someone holds locked (being filled, copied, cloned or
 * truncated; the faulting page, which its fault holds), poisoned pages, and
 * pages replaced or truncated while we looked.  Nothing here sleeps.
 *
 * Return: the number of pages locked.
 */
unsigned int cowdev_object_trylock_range(struct cowdev_object *obj,
					 pgoff_t first, pgoff_t last,
					 unsigned long want, struct page **pages)
{
	XA_STATE(xas, &obj->pages, first);
	unsigned long unused = 0;
	unsigned int nr = 0;
	struct page *page;

	memset(pages, 0, (last - first + 1) * sizeof(*pages));
	rcu_read_lock();
	xas_for_each(&xas, page, last) {
		if (xas_retry(&xas, page) || xa_is_value(page) ||
		    !(want & BIT(xas.xa_index - first)))
			continue;
		/*
		 * A locked page is skipped before it is referenced, as
		 * next_uptodate_folio() does: CLONE counts references with
		 * the page locked, and must not see ours as a pin.
		 */
		if (folio_test_locked(page_folio(page)))
			continue;
		/* As in cowdev_object_find(): a reference before trust. */
		if (!get_page_unless_zero(page))
			continue;
		if (unlikely(xas_reload(&xas) != page) || PageHWPoison(page))
			goto put;
		if (!folio_trylock(page_folio(page)))
			goto put;
		if (!cowdev_object_check(obj, &xas, page)) {
			cowdev_unlock_page(obj, xas.xa_index, page);
			goto put;
		}
		/*
		 * Read with the page locked: readahead marks a page before it
		 * unlocks it.  As next_uptodate_folio() skips PG_readahead,
		 * the mark is left to the fault on it, which starts the next
		 * window.
		 */
		if (cowdev_object_ra_marked(obj, &xas, COWDEV_MARK_RA_NEXT)) {
			cowdev_unlock_page(obj, xas.xa_index, page);
			goto put;
		}
		if (cowdev_object_ra_marked(obj, &xas, COWDEV_MARK_RA_UNUSED))
			unused |= BIT(xas.xa_index - first);
		pages[xas.xa_index - first] = page;
		nr++;
		continue;
put:
		put_page(page);
	}
	rcu_read_unlock();
	if (unlikely(unused))
		cowdev_object_clear_unused(obj, first, unused);
	return nr;
}

/**
 * cowdev_object_grab_page() - find or create the page at @pgoff, locked
 * @obj: the object
 * @pgoff: page offset in the object
 * @cf: the fault that wants the page, or NULL outside a fault
 *
 * Return: the page, locked, indexed at @pgoff, with a reference for the
 * caller; ERR_PTR(-EINVAL) past the end of the object; ERR_PTR(-ENOSPC)
 * when the pool is at its limit; ERR_PTR(-ENOMEM); ERR_PTR(-EHWPOISON) for
 * a page memory_failure() poisoned; ERR_PTR(-EIO) when an evicted page
 * could not be read back, and ERR_PTR(-ENOMEM) when the store had no
 * memory for its page cache; ERR_PTR(-EAGAIN) or ERR_PTR(-EINTR) when the
 * fault must return VM_FAULT_RETRY (for -EAGAIN maybe with a read put off,
 * see cowdev_object_read_in()); without @cf, -EINTR also for a read cut
 * short by a fatal signal.
 *
 * An evicted page is read back into a new page, locked, which takes its
 * place in the index (a major fault).
 *
 * A poisoned page stays indexed and mapped where it was: memory_failure()
 * cannot unmap a page off the LRU with no mapping, and calls it
 * unhandlable.  A fault never returns one, least of all locked:
 * __do_fault() unmaps a mapped poisoned page it is handed through
 * folio->mapping, which pool pages do not have (cowdev_do_fault() looks
 * again before it returns its page).  A write to one still mapped is
 * refused too (cowdev_cow_write()).
 */
struct page *cowdev_object_grab_page(struct cowdev_object *obj, pgoff_t pgoff,
				     struct cowdev_fault *cf)
{
	struct address_space *mapping = obj->inode->i_mapping;
	bool fill = false;
	struct page *page;
	int ret;

	for (;;) {
		if (pgoff >= READ_ONCE(obj->nr_pages))
			return ERR_PTR(-EINVAL);
		page = cowdev_object_find_lock_page(obj, pgoff, cf);
		if (page) {
			if (IS_ERR(page))
				return page;
			if (likely(!PageHWPoison(page))) {
				if (cf)
					cowdev_object_note_hit(obj, pgoff, cf);
				return page;
			}
			/* Our reference first: CLONE counts them locked. */
			put_page(page);
			cowdev_unlock_page(obj, pgoff, page);
			return ERR_PTR(-EHWPOISON);
		}

		/* Outside a fault, the caller holds the object's lock. */
		page = cowdev_alloc_page(cf, COWDEV_ALLOC_WAIT_ONCE);
		if (IS_ERR(page))
			return page;
		/*
		 * Locked before anyone can find it: a concurrent fault on the
		 * same offset sleeps on the lock until the page is ready.
		 */
		__folio_set_locked(page_folio(page));
		cowdev_cow_own_page(page);
		ret = fill ? cowdev_lock_fill(obj, cf) : 0;
		if (ret) {
			__folio_clear_locked(page_folio(page));
			cowdev_cow_put_page(obj, pgoff, page);
			return ERR_PTR(ret);
		}
		ret = cowdev_object_add_page(obj, pgoff, page, fill);
		if (likely(ret >= 0)) {
			get_page(page);
			if (cf)
				cf->new_page = true;
			if (ret)
				return cowdev_object_read_in(obj, pgoff, page,
							     cf);
			if (fill)	/* truncated meanwhile: a hole */
				filemap_invalidate_unlock_shared(mapping);
			/* Stands for reading the page in: others wait on it. */
			if (cowdev_fill_delay_us)
				fsleep(cowdev_fill_delay_us);
			return page;
		}
		if (fill)
			filemap_invalidate_unlock_shared(mapping);
		__folio_clear_locked(page_folio(page));
		cowdev_cow_put_page(obj, pgoff, page);
		/*
		 * Evicted: look again, holding off truncation this time.  A
		 * fault that must not wait leaves the read to one that may,
		 * as filemap_fault() leaves a page that is not uptodate.
		 */
		if (ret == -ENODATA) {
			if (cf && (cf->vmf->flags & FAULT_FLAG_RETRY_NOWAIT)) {
				cf->nowait = true;
				return ERR_PTR(-EAGAIN);
			}
			if (cf && cowdev_wait_readahead(obj, pgoff, cf))
				return ERR_PTR(-EAGAIN);
			fill = true;
			continue;
		}
		if (ret != -EEXIST)
			return ERR_PTR(ret);
		/* Lost the race to another fault: use its page. */
	}
}

/**
 * cowdev_object_replace_page() - index @new in place of @old
 * @obj: the object
 * @pgoff: page offset in @obj
 * @old: the page indexed at @pgoff, locked by the caller
 * @new: the page that takes its place, locked or not yet visible
 *
 * The caller settles what @old's sharer count and reference become.
 */
void cowdev_object_replace_page(struct cowdev_object *obj, pgoff_t pgoff,
				struct page *old, struct page *new)
{
	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(old)), page_folio(old));
	xa_lock(&obj->pages);
	/* Overwriting a present entry never allocates. */
	__xa_store(&obj->pages, pgoff, new, 0);
	WRITE_ONCE(obj->nr_dropped, obj->nr_dropped + 1);
	xa_unlock(&obj->pages);
}

/* Erase @page, locked, from @pgoff if it is still there; true if it was. */
static bool cowdev_object_erase(struct cowdev_object *obj, pgoff_t pgoff,
				struct page *page)
{
	bool erased;

	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
	xa_lock(&obj->pages);
	erased = __xa_cmpxchg(&obj->pages, pgoff, page, NULL, 0) == page;
	if (erased) {
		obj->nr_resident--;
		WRITE_ONCE(obj->nr_dropped, obj->nr_dropped + 1);
	}
	xa_unlock(&obj->pages);
	return erased;
}

/* Forget the evicted pages in [@start, @end): the offsets read as holes. */
static void cowdev_object_erase_evicted(struct cowdev_object *obj,
					pgoff_t start, pgoff_t end)
{
	XA_STATE(xas, &obj->pages, start);
	unsigned int batch = 0;
	void *entry;

	xas_lock(&xas);
	xas_for_each(&xas, entry, end - 1) {
		if (!xa_is_value(entry))
			continue;
		xas_store(&xas, NULL);
		obj->nr_evicted--;
		if (++batch % XA_CHECK_SCHED)
			continue;
		xas_pause(&xas);
		xas_unlock(&xas);
		cond_resched();
		xas_lock(&xas);
	}
	xas_unlock(&xas);
}

/*
 * Free the pages in [@start, @end), as truncate_pagecache() does: unmap the
 * range, then take each page with a reference, lock it once no writeback
 * runs on it, unmap it again if a fault mapped it since, and erase it; with
 * the page locked and erased no fault can map it any more, so it goes back
 * to the pool with no PTE left.  Private copies made in the range go too
 * only if @even_cows: shrinking drops them, punching a hole keeps them, as
 * truncate_pagecache() and truncate_pagecache_range() do.
 *
 * A pfn-mode PTE holds no reference, so nothing but the TLB flush keeps a
 * freed page from being written through a stale entry.  A munmap() racing
 * with us may have cleared its PTEs before our walk and unlinked its VMA
 * from i_mmap, where our walk cannot see it, before flushing.  The core
 * flushes VM_PFNMAP and VM_MIXEDMAP ranges before the unlink for exactly
 * this race: tlb_end_vma() up to 6.12, tlb_free_vmas() in free_pgtables()
 * after (include/asm-generic/tlb.h).
 *
 * Evicted pages are forgotten first.  The invalidate lock, which the
 * caller holds exclusive, keeps every read back out meanwhile
 * (cowdev_object_fill()): none can put an evicted page back, nor read one
 * in, behind the walk.
 */
static void cowdev_object_truncate(struct cowdev_object *obj, pgoff_t start,
				   pgoff_t end, bool even_cows)
{
	struct address_space *mapping = obj->inode->i_mapping;
	unsigned long index = start;
	struct page *page;
	bool erased;

	lockdep_assert_held(&obj->lock);
	lockdep_assert_held_write(&mapping->invalidate_lock);
	cowdev_object_erase_evicted(obj, start, end);
	unmap_mapping_pages(mapping, start, end - start, even_cows);
	while ((page = cowdev_object_find_get(obj, &index, end - 1))) {
		cowdev_lock_page_stable(obj, index, page);
		cowdev_object_unmap_page(obj, index, page, even_cows);
		erased = cowdev_object_erase(obj, index, page);
		cowdev_unlock_page(obj, index, page);
		put_page(page);		/* the lookup's; the pool's stays */
		/*
		 * Not erased: a write fault's copy replaced the page while we
		 * waited for its lock.  The copy is at the same offset, and
		 * is the one to truncate.
		 */
		if (!erased)
			continue;
		cowdev_cow_put_page(obj, index, page);
		index++;
		cond_resched();
	}
	/*
	 * Private copies a fault made of a page while we waited for its lock
	 * (do_cow_fault() under the page lock, or wp_page_copy() without it)
	 * are not under the page: truncate_pagecache()'s second unmap.
	 */
	if (even_cows)
		unmap_mapping_pages(mapping, start, end - start, true);
}

/**
 * cowdev_object_set_size() - resize an object
 * @obj: the object
 * @size: new size in bytes, rounded up to a page
 *
 * Shrinking unmaps and frees the pages past the new end.
 *
 * Return: 0, -EINVAL if @size exceeds %COWDEV_MAX_SIZE, or -EINTR if a
 * fatal signal came while it waited for another ioctl.
 */
int cowdev_object_set_size(struct cowdev_object *obj, u64 size)
{
	struct address_space *mapping = obj->inode->i_mapping;
	unsigned long nr_pages, old;

	if (size > COWDEV_MAX_SIZE)
		return -EINVAL;
	nr_pages = DIV_ROUND_UP_ULL(size, PAGE_SIZE);

	if (mutex_lock_killable(&obj->lock))
		return -EINTR;
	old = obj->nr_pages;		/* changed under obj->lock only */
	/*
	 * A shrink takes the invalidate lock before it sets the size, as a
	 * filesystem's setattr does: the wait for reads back in flight comes
	 * first, and the unmap at once after.  The mkwrites refuse a page
	 * past the end but cannot take its read-only PTE away, so a write
	 * through one would otherwise fault again and again meanwhile.
	 */
	if (nr_pages < old)
		filemap_invalidate_lock(mapping);
	xa_lock(&obj->pages);
	WRITE_ONCE(obj->nr_pages, nr_pages);
	xa_unlock(&obj->pages);
	if (nr_pages < old) {
		cowdev_object_truncate(obj, nr_pages, old, true);
		filemap_invalidate_unlock(mapping);
	}
	mutex_unlock(&obj->lock);
	return 0;
}

/**
 * cowdev_object_range() - the pages of a byte range an ioctl names
 * @offset: first byte, page-aligned
 * @len: bytes, page-aligned, not zero
 * @start: set to the first page offset
 * @end: set to the page offset past the last
 *
 * Return: 0, or -EINVAL for an unaligned or empty range or one that ends
 * past %COWDEV_MAX_SIZE.
 */
int cowdev_object_range(u64 offset, u64 len, pgoff_t *start, pgoff_t *end)
{
	if (!len || !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len) ||
	    offset > COWDEV_MAX_SIZE || len > COWDEV_MAX_SIZE - offset)
		return -EINVAL;
	*start = offset >> PAGE_SHIFT;
	*end = (offset + len) >> PAGE_SHIFT;
	return 0;
}

/**
 * cowdev_object_unmap_page() - unmap a locked page's PTEs if it may have any
 * @obj: the object
 * @pgoff: the page's offset in @obj
 * @page: the page, locked, so that no new PTE can appear
 * @even_cows: private copies too (see unmap_mapping_pages())
 *
 * An unmapped page needs no zap; pfn-mode PTEs are not in the mapcount,
 * though, so pfn mode always zaps.
 */
void cowdev_object_unmap_page(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page, bool even_cows)
{
	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
	if (READ_ONCE(obj->mode) == COWDEV_MODE_PFN ||
	    folio_mapped(page_folio(page)))
		unmap_mapping_pages(obj->inode->i_mapping, pgoff, 1, even_cows);
}

/**
 * cowdev_object_punch_hole() - free the pages of a range, keeping the size
 * @obj: the object
 * @offset: first byte, page-aligned
 * @len: bytes, page-aligned, not zero
 *
 * The part of the range past the end of the object is ignored.
 *
 * Return: 0, -EINVAL for an unaligned or empty range or one that ends past
 * %COWDEV_MAX_SIZE, or -EINTR if a fatal signal came while it waited for
 * another ioctl.
 */
int cowdev_object_punch_hole(struct cowdev_object *obj, u64 offset, u64 len)
{
	pgoff_t start, end;

	if (cowdev_object_range(offset, len, &start, &end))
		return -EINVAL;
	if (mutex_lock_killable(&obj->lock))
		return -EINTR;
	end = min(end, obj->nr_pages);
	if (start < end) {
		filemap_invalidate_lock(obj->inode->i_mapping);
		cowdev_object_truncate(obj, start, end, false);
		filemap_invalidate_unlock(obj->inode->i_mapping);
	}
	mutex_unlock(&obj->lock);
	return 0;
}

/**
 * cowdev_object_set_mode() - choose how the object's pages are mapped
 * @obj: the object
 * @mode: an &enum cowdev_mode
 *
 * Return: 0, -EINVAL for an unknown mode, -EOPNOTSUPP for pfn mode where
 * the architecture or kernel has none (see COWDEV_HAVE_PFN_MODE), -EBUSY once the
 * object has been mapped.
 */
int cowdev_object_set_mode(struct cowdev_object *obj, u64 mode)
{
	int ret = 0;

	if (mode != COWDEV_MODE_PAGE && mode != COWDEV_MODE_PFN)
		return -EINVAL;
	if (mode == COWDEV_MODE_PFN && !COWDEV_HAVE_PFN_MODE)
		return -EOPNOTSUPP;
	spin_lock(&obj->mode_lock);
	if (obj->mapped)
		ret = -EBUSY;
	else
		WRITE_ONCE(obj->mode, mode);
	spin_unlock(&obj->mode_lock);
	return ret;
}

/**
 * cowdev_object_map() - note that the object is being mapped
 * @obj: the object
 * @shared_exec: the mapping is shared and executable
 *
 * Called by ->mmap under mmap_lock held for write, so it takes no lock that
 * an ioctl may hold while it sleeps.  A shared executable mapping in pfn
 * mode, where special PTEs get no instruction-cache sync
 * (COWDEV_PFN_MODE_EXEC), is refused before the mode is fixed, so that
 * SET_MODE may still pick page mode.
 *
 * Return: the object's mode, fixed from now on; or -EPERM.
 */
int cowdev_object_map(struct cowdev_object *obj, bool shared_exec)
{
	int mode;

	spin_lock(&obj->mode_lock);
	mode = obj->mode;
	if (mode == COWDEV_MODE_PFN && shared_exec && !COWDEV_PFN_MODE_EXEC)
		mode = -EPERM;
	else
		obj->mapped = true;
	spin_unlock(&obj->mode_lock);
	return mode;
}

/**
 * cowdev_object_resident() - how many pages the object holds
 * @obj: the object
 *
 * Return: the number of pages indexed by @obj.
 */
unsigned long cowdev_object_resident(struct cowdev_object *obj)
{
	return READ_ONCE(obj->nr_resident);
}

/**
 * cowdev_object_evicted() - how many of the object's pages are evicted
 * @obj: the object
 *
 * Return: the number of pages on @obj's backing store only.
 */
unsigned long cowdev_object_evicted(struct cowdev_object *obj)
{
	return READ_ONCE(obj->nr_evicted);
}

/**
 * cowdev_object_init() - mount the pseudo filesystem the objects' inodes
 * live on
 *
 * Return: 0 or a negative errno.
 */
int cowdev_object_init(void)
{
	cowdev_mnt = kern_mount(&cowdev_fs_type);
	return PTR_ERR_OR_ZERO(cowdev_mnt);
}

/**
 * cowdev_object_exit() - unmount the pseudo filesystem
 */
void cowdev_object_exit(void)
{
	kern_unmount(cowdev_mnt);
	ida_destroy(&cowdev_ida);
}
