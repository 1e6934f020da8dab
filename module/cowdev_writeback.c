// SPDX-License-Identifier: GPL-2.0
/*
 * Writeback: make an object's dirty pages stable for a while, as a
 * filesystem does while it writes them out.
 *
 * COWDEV_IOC_WRITEBACK takes each dirty page, unmaps it from the object's
 * mappings (so the next write faults), clears PG_dirty and sets
 * PG_writeback.  A delayed work item ends the writeback: it clears
 * PG_writeback with folio_end_writeback(), which wakes every waiter of that
 * page and bit.  Writers wait until then (stable pages; the mkwrites send
 * the access back to ->fault to wait, see cowdev_cow_write()), truncation
 * waits before freeing, and the page is dirtied again by the write that
 * waited.
 *
 * An object with a backing store has its pages written to it, by the work
 * item once the delay is over, each while it is still under writeback, and
 * the writeback ends once the store has them all on its disk.  A failed
 * write leaves the page dirty (it stays in memory) and the error in the
 * object's mapping for COWDEV_IOC_WRITEBACK to report.  A page clones
 * share is written back but stays dirty, with or without a store (see
 * cowdev_backing.c).  A poisoned page is not read.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>

#include "cowdev.h"

/*
 * Write @page, under writeback, into the store if it is still @obj's page
 * at @pgoff: once CLONE has shared it, a write in @obj replaces it with a
 * copy (without waiting for this writeback: the page is the clone's now),
 * and the copy is the offset's to write.  The page lock keeps the answer
 * true for the write.  A write that fails, or that a frozen store does not
 * let happen (its freeze protection is only tried: see
 * cowdev_backing_start_write()), leaves the page dirty, for a writeback
 * after the thaw.  Returns true if the page was written.
 */
static bool cowdev_writeback_store(struct cowdev_object *obj, pgoff_t pgoff,
				   struct page *page)
{
	bool written = false;

	cowdev_lock_page(obj, pgoff, page, NULL);
	if (cowdev_object_page_valid(obj, pgoff, page) && !PageHWPoison(page)) {
		if (cowdev_backing_start_write(obj)) {
			written = !cowdev_backing_write(obj, pgoff, page);
			cowdev_backing_end_write(obj);
		}
		if (!written)
			folio_set_dirty(page_folio(page));
	}
	cowdev_unlock_page(obj, pgoff, page);
	return written;
}

/*
 * Write the batch into the store, then put it on the store's disk with
 * one wait (cowdev_backing_sync()), every page still under writeback: a
 * page must not be clean before its bytes are on the disk.  If that
 * fails, every page of the batch is dirty again, written or not (a page a
 * copy replaced is the clone's now, and dirty anyway): without its lock,
 * since nothing clears the dirty bit of a page under writeback and
 * setting it is never wrong (see cowdev_backing_evict_flush()).  The
 * offsets are ascending, as the xarray walk collected them.
 */
static void cowdev_writeback_store_batch(struct cowdev_object *obj,
					 struct cowdev_wb *wb)
{
	errseq_t since = cowdev_backing_sample(obj);
	unsigned int written = 0;
	unsigned long i;

	for (i = 0; i < wb->nr; i++)
		written += cowdev_writeback_store(obj, wb->offsets[i],
						  wb->pages[i]);
	/* An object's pages number fewer than UINT_MAX (COWDEV_MAX_SIZE). */
	if (written &&
	    cowdev_backing_sync(obj, wb->offsets, (unsigned int)wb->nr, since,
				written))
		for (i = 0; i < wb->nr; i++)
			folio_set_dirty(page_folio(wb->pages[i]));
}

/* Forget the batch: its pages are released or were never taken. */
static void cowdev_writeback_free_batch(struct cowdev_wb *wb)
{
	kvfree(wb->pages);
	kvfree(wb->offsets);
	wb->pages = NULL;
	wb->offsets = NULL;
	wb->nr = 0;
}

static void cowdev_writeback_end(struct work_struct *work)
{
	struct cowdev_wb *wb = container_of(to_delayed_work(work),
					    struct cowdev_wb, work);
	struct cowdev_object *obj = container_of(wb, struct cowdev_object, wb);
	unsigned long i;

	if (READ_ONCE(obj->backing) && !READ_ONCE(wb->closing))
		cowdev_writeback_store_batch(obj, wb);
	for (i = 0; i < wb->nr; i++) {
		cowdev_note_wake(obj, wb->offsets[i], wb->pages[i],
				 COWDEV_BIT_WRITEBACK);
		folio_end_writeback(page_folio(wb->pages[i]));
		put_page(wb->pages[i]);
	}
	cowdev_writeback_free_batch(wb);
	/* Publishes the emptied batch to whoever sees the new count. */
	smp_store_release(&wb->ended, wb->ended + 1);
	wake_up_all(&wb->wait);
}

/**
 * cowdev_writeback_init() - set up an object's writeback state
 * @obj: a new object
 */
void cowdev_writeback_init(struct cowdev_object *obj)
{
	INIT_DELAYED_WORK(&obj->wb.work, cowdev_writeback_end);
	init_waitqueue_head(&obj->wb.wait);
}

/**
 * cowdev_writeback_fini() - end an object's writeback now
 * @obj: an object being destroyed
 *
 * A pending writeback ends at once rather than after its delay, and
 * without writing to the backing store, so that closing an object (and
 * so unloading the module) does not wait for it; one already writing
 * finishes its batch.
 */
void cowdev_writeback_fini(struct cowdev_object *obj)
{
	WRITE_ONCE(obj->wb.closing, true);
	flush_delayed_work(&obj->wb.work);
}

/* Put the locked, dirty @page under writeback; its PTEs go first. */
static void cowdev_writeback_page(struct cowdev_object *obj, pgoff_t pgoff,
				  struct page *page)
{
	struct folio *folio = page_folio(page);

	/*
	 * With the page locked no fault can map it writable again, so after
	 * the unmap no write reaches it until the writeback has ended.
	 */
	unmap_mapping_pages(obj->inode->i_mapping, pgoff, 1, false);
	/*
	 * A page clones share stays dirty, whoever writes it back: one bit
	 * says "on the store" for every sharer, and it is on one store at
	 * most (see cowdev_backing.c).
	 */
	if (!cowdev_cow_shared(page))
		folio_clear_dirty(folio);
	folio_start_writeback(folio);
}

static bool cowdev_writeback_done(struct cowdev_wb *wb, unsigned long seq)
{
	/* Pairs with the release in cowdev_writeback_end(). */
	return smp_load_acquire(&wb->ended) >= seq;
}

/**
 * cowdev_writeback_start() - put an object's dirty pages under writeback
 * @obj: the object
 * @args: the request; @args->pages is set to the number of pages
 *
 * One writeback runs at a time: a second one waits for the first to end,
 * killably and holding nothing (->mmap and faults go on meanwhile).
 *
 * Return: 0, -EINVAL for a bad request, -ENOMEM, or -EINTR if a fatal
 * signal interrupted a wait (a writeback already started goes on).
 */
int cowdev_writeback_start(struct cowdev_object *obj,
			   struct cowdev_writeback *args)
{
	struct cowdev_wb *wb = &obj->wb;
	unsigned long index, max, seq;
	struct page *page;

	if ((args->flags & ~COWDEV_WRITEBACK_WAIT) ||
	    args->delay_us > COWDEV_MAX_WRITEBACK_DELAY_US ||
	    memchr_inv(args->reserved, 0, sizeof(args->reserved)))
		return -EINVAL;

	for (;;) {
		seq = READ_ONCE(wb->started);
		if (wait_event_killable(wb->wait,
					cowdev_writeback_done(wb, seq)) ||
		    mutex_lock_killable(&obj->lock))
			return -EINTR;
		if (cowdev_writeback_done(wb, wb->started))
			break;
		mutex_unlock(&obj->lock);	/* another one started first */
	}
	max = cowdev_object_resident(obj);
	wb->pages = kvmalloc_array(max, sizeof(*wb->pages), GFP_KERNEL);
	wb->offsets = kvmalloc_array(max, sizeof(*wb->offsets), GFP_KERNEL);
	if (max && (!wb->pages || !wb->offsets)) {
		cowdev_writeback_free_batch(wb);
		mutex_unlock(&obj->lock);
		return -ENOMEM;
	}
	xa_for_each(&obj->pages, index, page) {
		if (wb->nr == max)
			break;	/* indexed since we counted: next time */
		page = cowdev_object_find_lock_page(obj, index, NULL);
		if (!page)
			continue;
		if (folio_test_dirty(page_folio(page)) &&
		    !folio_test_writeback(page_folio(page))) {
			cowdev_writeback_page(obj, index, page);
			wb->pages[wb->nr] = page;	/* keeps our reference */
			wb->offsets[wb->nr++] = index;
			cowdev_unlock_page(obj, index, page);
		} else {
			cowdev_unlock_page(obj, index, page);
			put_page(page);
		}
		cond_resched();
	}
	args->pages = wb->nr;
	if (!wb->nr) {
		cowdev_writeback_free_batch(wb);
		mutex_unlock(&obj->lock);
		return 0;
	}
	seq = ++wb->started;
	queue_delayed_work(system_unbound_wq, &wb->work,
			   usecs_to_jiffies(args->delay_us));
	mutex_unlock(&obj->lock);

	if ((args->flags & COWDEV_WRITEBACK_WAIT) &&
	    wait_event_killable(wb->wait, cowdev_writeback_done(wb, seq)))
		return -EINTR;
	return 0;
}
