// SPDX-License-Identifier: GPL-2.0
/*
 * Page sharing: which objects hold a page, clones, and the reuse-or-copy
 * decision of a write fault.  This file alone writes a page's sharer count
 * and its copy mark, and alone decides when a page goes back to the pool.
 *
 * This is the decision do_wp_page() makes for anonymous memory, made here
 * for the device's own pages:
 *
 *   the page belongs to this object alone   reuse: writable in place
 *   other objects share the page            copy: a new page for this
 *                                           object, the access refaults
 *
 * A page's life:
 *
 *   fault        CLONE             write in A           write in B
 *   A: P (1) --> A: P, B: P (2) --> A: P' (1), B: P (1) --> B: P (1)
 *                                   "copy" in A          "reuse" in B
 *
 * (n) is page_private(): how many objects index the page; they share one
 * page reference, the pool's, which goes back with the last of them.  The
 * count changes only under the page lock, so two objects writing the same
 * shared page are serialised on it: the first copies, the second finds itself alone and
 * reuses.  Never do two objects write one page.
 *
 * Pins decide too, as they do at fork (copy_present_page()): CLONE gives
 * the clone its own copy of any page someone outside the object holds (a
 * GUP pin or reference: O_DIRECT, process_vm_writev, /proc/PID/mem,
 * vmsplice), so the holder keeps writing to, or reading, the page its
 * owner goes on using.  A reference taken after the clone on a shared page
 * is not seen: the owner's next write copies, and the holder keeps the
 * clone's page (the core unshares anonymous pages for R/O pins with
 * FAULT_FLAG_UNSHARE; file pages get no such call).
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

static void cowdev_assert_locked(struct page *page)
{
	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
}

static unsigned long cowdev_sharers(struct page *page)
{
	cowdev_assert_locked(page);
	return page_private(page);
}

/*
 * The copy mark: @page was copied for a write fault that has been counted
 * but has not landed yet.  The decision that follows the copy (the
 * refault's, or the rest of the write fault that copied in
 * cowdev_cow_unshare()) consumes the mark instead of counting a reuse, so
 * each write fault counts once.  An evicted page keeps its mark in its
 * index entry, and the page read back in its place carries it again
 * (cowdev_cow_copy_marked()).  PG_owner_priv_1 is the owner's to use on a
 * page in no page cache; the pool clears it.
 */
static void cowdev_mark_copied(struct page *page)
{
	cowdev_assert_locked(page);
	folio_set_checked(page_folio(page));
}

static bool cowdev_test_clear_copied(struct page *page)
{
	struct folio *folio = page_folio(page);

	cowdev_assert_locked(page);
	if (!folio_test_checked(folio))
		return false;
	folio_clear_checked(folio);
	return true;
}

/**
 * cowdev_cow_own_page() - start the life of a page from the pool
 * @page: a page about to be indexed by one object, locked or not yet
 *	visible to anyone else
 */
void cowdev_cow_own_page(struct page *page)
{
	set_page_private(page, 1);
}

/* Back to the pool with @page, which no object indexes any more. */
static void cowdev_cow_free_page(struct page *page)
{
	set_page_private(page, 0);
	folio_clear_checked(page_folio(page));
	cowdev_pool_free(page);
}

/**
 * cowdev_cow_put_page() - an object stops indexing a page
 * @obj: the object, which has erased or replaced the page in its index or
 *	never indexed it (a page that lost an insertion race)
 * @pgoff: its offset there, for the trace of a lock wait
 * @page: the page, unlocked; the index's reference passes to this function
 *
 * The last object to let go of the page gives it back to the pool.
 */
void cowdev_cow_put_page(struct cowdev_object *obj, pgoff_t pgoff,
			 struct page *page)
{
	unsigned long sharers;

	cowdev_lock_page(obj, pgoff, page, NULL);
	sharers = cowdev_sharers(page) - 1;
	set_page_private(page, sharers);
	cowdev_unlock_page(obj, pgoff, page);
	if (!sharers)
		cowdev_cow_free_page(page);
}

/*
 * Give @obj its own copy of the shared, locked @page at @pgoff, for the fault
 * @cf if it may retry, allocated as @how says outside a fault.  Returns the
 * copy, locked, with a reference for the caller, or an ERR_PTR; @page
 * stays locked.
 */
static struct page *cowdev_cow_copy(struct cowdev_object *obj, pgoff_t pgoff,
				    struct page *page, struct cowdev_fault *cf,
				    enum cowdev_alloc_how how)
{
	struct page *copy = cowdev_alloc_page(cf, how);

	if (IS_ERR(copy))
		return copy;
	/* Poisoned since cowdev_cow_write() looked: see there. */
	if (copy_mc_highpage(copy, page)) {
		cowdev_pool_free(copy);
		return ERR_PTR(-EHWPOISON);
	}
	/* Not on a backing store if @page was not (cowdev_backing.c). */
	if (folio_test_dirty(page_folio(page)))
		folio_set_dirty(page_folio(copy));
	/* Locked before anyone can find it, like a new page. */
	__folio_set_locked(page_folio(copy));
	cowdev_cow_own_page(copy);
	cowdev_mark_copied(copy);
	/* Its refault is on its way: not the reclaimer's first choice. */
	cowdev_reclaim_referenced(obj, copy);
	get_page(copy);
	cowdev_object_replace_page(obj, pgoff, page, copy);
	set_page_private(page, cowdev_sharers(page) - 1);
	/*
	 * PTEs of this object that map the old page (read-only: shared ones
	 * and private ones that have not copied it) must go so that they
	 * refault onto the copy.  Other objects' mappings are not touched.
	 * With @page locked no new PTE can appear, so an unmapped page needs
	 * no zap; pfn-mode PTEs are not counted in the mapcount, though.
	 */
	cowdev_object_unmap_page(obj, pgoff, page, false);
	cowdev_count(obj, COWDEV_STAT_COPY);
	trace_cowdev_copy(obj->id, pgoff);
	return copy;
}

/**
 * cowdev_cow_unshare() - the page a first-touch shared write should map
 * @obj: the object written through a shared mapping
 * @pgoff: page offset of the fault
 * @page: the object's page at @pgoff, locked, with a reference
 * @cf: the fault
 *
 * A first-touch write to a page this object shares with another gets its
 * copy right here, so the fault maps the copy instead of mapping the shared
 * page only for ->page_mkwrite to copy it and refault.  Called with
 * @obj->clone_sem held for read.
 *
 * Return: @page, or its copy (locked, with a reference; @page is unlocked
 * and released), or an ERR_PTR if no page could be had for the copy
 * (-EAGAIN for a fault that must not wait: see cowdev_alloc_at_limit()).
 */
struct page *cowdev_cow_unshare(struct cowdev_object *obj, pgoff_t pgoff,
				struct page *page, struct cowdev_fault *cf)
{
	struct page *copy;

	if (cowdev_sharers(page) == 1)
		return page;
	copy = cowdev_cow_copy(obj, pgoff, page, cf, COWDEV_ALLOC_WAIT);
	cowdev_unlock_page(obj, pgoff, page);
	put_page(page);
	return copy;
}

/*
 * Send a write that must wait for what its callback may not wait for
 * back to ->fault, which can: @obj's PTEs of the page at @pgoff go, and
 * the access refaults.
 */
static vm_fault_t cowdev_cow_refault(struct cowdev_object *obj,
				     pgoff_t pgoff)
{
	unmap_mapping_pages(obj->inode->i_mapping, pgoff, 1, false);
	return VM_FAULT_NOPAGE;
}

/**
 * cowdev_cow_write() - reuse or copy the page a write fault is about to make
 *	writable
 * @obj: the object written through a shared mapping
 * @pgoff: page offset of the fault
 * @page: the object's page at @pgoff, locked, checked to be still indexed
 * @cf: the fault, if it may retry (->pfn_mkwrite and ->fault), for a
 *	copy's allocation to wait for the reclaimer holding nothing; NULL
 *	from ->page_mkwrite, which may not let go of its lock to wait
 *	(do_page_mkwrite() gives it no FAULT_FLAG_ALLOW_RETRY): at the
 *	pool's limit it unmaps the page, and the access refaults into
 *	->fault, which can (cowdev_cow_unshare()), as for a writeback
 *
 * Called from ->page_mkwrite, ->pfn_mkwrite and pfn mode's first-touch
 * write fault with @obj->clone_sem held for read.  A copy is counted here;
 * a reuse is counted by cowdev_cow_reuse(), which the caller calls once
 * the write is sure to land in @page.  A page under writeback is stable:
 * the mkwrite does not wait for it (do_page_mkwrite() gives ->page_mkwrite
 * no FAULT_FLAG_ALLOW_RETRY), it unmaps the page so that the access
 * refaults into ->fault, which waits as filemap_fault() does.  @page stays
 * locked.
 *
 * Return: 0 if @page may be made writable in place (the caller sees that
 * it is marked dirty, then calls cowdev_cow_reuse()); VM_FAULT_NOPAGE if
 * the access must refault (@obj now holds a copy, or @page is under
 * writeback, or ->page_mkwrite's copy must wait for a page);
 * VM_FAULT_HWPOISON if @page is poisoned (or turned out to be when it was
 * copied); VM_FAULT_SIGBUS or VM_FAULT_OOM if no page
 * could be had for the copy; VM_FAULT_RETRY, only with @cf, if its wait
 * for one was put off (see cowdev_alloc_at_limit()).
 */
vm_fault_t cowdev_cow_write(struct cowdev_object *obj, pgoff_t pgoff,
			    struct page *page, struct cowdev_fault *cf)
{
	struct page *copy;

	/*
	 * memory_failure() leaves a pool page where it is, mapped (it has no
	 * mapping to be taken from): a write to it gets SIGBUS
	 * (BUS_MCEERR_AR), as a fault on it does, rather than a reuse of
	 * the page or a copy of what it holds.
	 */
	if (unlikely(PageHWPoison(page)))
		return VM_FAULT_HWPOISON;
	if (cowdev_sharers(page) > 1) {
		copy = cowdev_cow_copy(obj, pgoff, page, cf,
				       cf ? COWDEV_ALLOC_WAIT : COWDEV_ALLOC_NOWAIT);
		if (copy == ERR_PTR(-ENOSPC) && !cf)
			return cowdev_cow_refault(obj, pgoff);
		if (IS_ERR(copy))
			return cowdev_fault_error(obj, PTR_ERR(copy));
		cowdev_unlock_page(obj, pgoff, copy);
		put_page(copy);
		return VM_FAULT_NOPAGE;
	}
	if (folio_test_writeback(page_folio(page)))
		return cowdev_cow_refault(obj, pgoff);
	return 0;
}

/**
 * cowdev_cow_reuse() - count a write that cowdev_cow_write() let land in
 *	place
 * @obj: the object written
 * @pgoff: page offset of the write
 * @page: the page written, still locked
 *
 * Counts a reuse, unless @page is the copy this write fault already
 * counted (cowdev_cow_unshare(), or the refault after a copy), whose mark
 * it consumes: each write fault counts once, as reuse or copy.
 */
void cowdev_cow_reuse(struct cowdev_object *obj, pgoff_t pgoff,
		      struct page *page)
{
	if (!cowdev_test_clear_copied(page)) {
		cowdev_count(obj, COWDEV_STAT_REUSE);
		trace_cowdev_reuse(obj->id, pgoff);
	}
}

/**
 * cowdev_cow_shared() - do other objects index @page too?
 * @page: a locked page
 *
 * Return: true if clones share @page.
 */
bool cowdev_cow_shared(struct page *page)
{
	return cowdev_sharers(page) > 1;
}

/*
 * Does anyone but @obj's index, page tables and the caller hold @page?  A
 * GUP pin or reference, a pipe buffer, or a writeback's reference (which a
 * writeback drops just after it ends).  Special (pfn-mode) PTEs hold
 * neither a reference nor a mapcount.  Over-counting only costs a copy.
 */
static bool cowdev_cow_page_held(struct page *page)
{
	/* The pool's, which the objects indexing it share, and the caller's. */
	int expected = 2 + cowdev_mapcount(page);

	if (folio_test_writeback(page_folio(page)))
		expected++;
	return page_ref_count(page) > expected;
}

/**
 * cowdev_cow_stays() - must @page stay in memory, mapped or not?
 * @page: a locked page
 *
 * If clones share it (each sharer would read it back into a page of its
 * own), if it is poisoned (a fault on it must get SIGBUS, not the
 * store's copy, and reading it for the write is the error), or if someone
 * holds it (a pin; racy while it is mapped, so cowdev_cow_may_evict()
 * asks again).  Asked before the page is unmapped, so that a page that
 * stays keeps its PTEs: a long-term pin's page is not unmapped by every
 * pass of the reclaimer.  A copy mark does not keep a page: it leaves with
 * it (cowdev_cow_copy_marked()).
 *
 * Return: true if @page may not be evicted.
 */
bool cowdev_cow_stays(struct page *page)
{
	return cowdev_sharers(page) != 1 || PageHWPoison(page) ||
	       cowdev_cow_page_held(page);
}

/**
 * cowdev_cow_copy_marked() - does @page carry the copy mark?
 * @page: a locked page, about to be evicted
 *
 * The write fault that copied it may not come back for it before it is
 * evicted (its refault is an access away, and the reclaimer may come
 * first), or ever (the writer was killed, or a signal handler jumped away
 * from the write).  The index keeps the mark in the evicted entry, and
 * cowdev_cow_mark_copy() puts it on the page read back, so that the write
 * still counts once, and a mark nobody comes back for does not pin a page
 * in memory.
 *
 * Return: true if it does.
 */
bool cowdev_cow_copy_marked(struct page *page)
{
	cowdev_assert_locked(page);
	return folio_test_checked(page_folio(page));
}

/**
 * cowdev_cow_mark_copy() - give a page read back the mark it left with
 * @page: a new page, locked, about to take the place of an entry evicted
 *	with the copy mark (cowdev_cow_copy_marked())
 */
void cowdev_cow_mark_copy(struct page *page)
{
	cowdev_mark_copied(page);
}

/**
 * cowdev_cow_may_evict() - may @page leave memory for its backing store?
 * @page: a locked page, not under writeback, that the caller holds a
 *	reference to and has unmapped from its object's mappings
 *
 * Not if it stays (cowdev_cow_stays()), nor if someone holds it (a
 * pinned page's later writes would be lost).
 *
 * Return: true if @page may be evicted.
 */
bool cowdev_cow_may_evict(struct page *page)
{
	return !cowdev_cow_stays(page) && !cowdev_cow_page_held(page);
}

/* Index @src's locked @page in @dst too, or a copy of it if it is held. */
static int cowdev_cow_clone_page(struct cowdev_object *src,
				 struct cowdev_object *dst, pgoff_t index,
				 struct page *page)
{
	struct page *copy;
	int ret;

	/*
	 * A page-mode write fault that decided before clone_sem was taken
	 * makes its PTE writable under the page lock, maybe after the unmap
	 * in cowdev_cow_clone(): now that we hold the lock, unmap again what
	 * was mapped since.  With no PTE left, no GUP can take a new
	 * reference to write through, and new write faults wait on
	 * clone_sem: the references counted below are all there will be.
	 */
	if (folio_mapped(page_folio(page)))
		unmap_mapping_pages(src->inode->i_mapping, index, 1, false);
	if (!cowdev_cow_page_held(page)) {
		ret = cowdev_object_add_page(dst, index, page, false);
		if (!ret) {
			set_page_private(page, cowdev_sharers(page) + 1);
			/* A mark whose refault never came is no sharer's. */
			cowdev_test_clear_copied(page);
			/*
			 * @src's store is not @dst's: whichever keeps the
			 * page must write it before it can evict it.
			 */
			if (src->backing)
				folio_set_dirty(page_folio(page));
		}
		return ret;
	}

	/* Not even tried: the copy would read the error. */
	if (PageHWPoison(page))
		return -EIO;
	copy = cowdev_pool_alloc(COWDEV_ALLOC_WAIT_ONCE);
	if (IS_ERR(copy))
		return PTR_ERR(copy);
	if (copy_mc_highpage(copy, page)) {
		cowdev_pool_free(copy);
		return -EIO;
	}
	cowdev_cow_own_page(copy);
	ret = cowdev_object_add_page(dst, index, copy, false);
	if (ret)
		cowdev_cow_free_page(copy);
	return ret;
}

/*
 * A CLONE has let go of @src's clone_sem (for good, or to read pages
 * evicted again before it takes it once more): a write fault that found
 * it taken waits for this, holding nothing (cowdev_lock_clone_read()).
 * Under @src->lock, which orders the CLONEs of @src.
 */
static void cowdev_cow_clone_over(struct cowdev_object *src)
{
	lockdep_assert_held(&src->lock);
	/* After clone_sem is free: pairs with cowdev_lock_clone_read(). */
	smp_mb();
	WRITE_ONCE(src->clones_over, src->clones_over + 1);
	wake_up_all(&src->clone_wait);
}

/**
 * cowdev_cow_clone() - make a new object sharing every page of @src
 * @src: the object to clone
 *
 * The clone has @src's size and mode and indexes each of its pages, like
 * fork shares anonymous pages, except pages someone else holds, which the
 * clone gets a copy of.  While the pages are shared, @src's write faults
 * wait on its clone_sem, and no PTE of @src is writable: no mapping can
 * write to a shared page without faulting.  Writes through PTEs that were
 * writable before land before the clone, in both objects alike.
 *
 * @src's evicted pages are read back first, so that the objects share
 * them as pages: a clone has no backing store of its own until it is
 * given one, and two objects reading one page from a store would each
 * get a copy.
 *
 * Return: the new object, or an ERR_PTR: -ENOMEM (also: no memory for the
 * store's page cache to read an evicted page back), -ENOSPC (no pool page
 * for a copy), -EIO (an evicted page could not be read back, or a held
 * page's copy met a memory error), -EINTR (a fatal signal while waiting
 * for another ioctl or reading).
 */
struct cowdev_object *cowdev_cow_clone(struct cowdev_object *src)
{
	struct cowdev_object *dst = cowdev_object_create();
	unsigned long index;
	struct page *page;
	int ret = 0;

	if (IS_ERR(dst))
		return dst;

	if (mutex_lock_killable(&src->lock)) {
		cowdev_object_destroy(dst);
		return ERR_PTR(-EINTR);
	}
	dst->nr_pages = src->nr_pages;
	dst->mode = READ_ONCE(src->mode);
	/*
	 * With the invalidate lock held exclusive no read back is in flight
	 * during the walk, so no page can be evicted again behind it by a
	 * read that fails; one that failed before may have, and is read
	 * back again.
	 */
	for (;;) {
		ret = fatal_signal_pending(current) ? -EINTR :
		      cowdev_object_read_evicted(src);
		if (ret) {
			mutex_unlock(&src->lock);
			cowdev_object_destroy(dst);
			return ERR_PTR(ret);
		}
		percpu_down_write(&src->clone_sem);
		filemap_invalidate_lock(src->inode->i_mapping);
		if (!cowdev_object_evicted(src))
			break;
		filemap_invalidate_unlock(src->inode->i_mapping);
		percpu_up_write(&src->clone_sem);
		cowdev_cow_clone_over(src);
	}
	/* Write-protect everything at once; see cowdev_cow_clone_page(). */
	unmap_mapping_pages(src->inode->i_mapping, 0, 0, false);
	for (index = 0; (page = cowdev_object_find_get(src, &index, ULONG_MAX));
	     index++) {
		cowdev_lock_page(src, index, page, NULL);
		if (cowdev_object_page_valid(src, index, page))
			ret = cowdev_cow_clone_page(src, dst, index, page);
		cowdev_unlock_page(src, index, page);
		put_page(page);
		if (ret)
			break;
		cond_resched();
	}
	filemap_invalidate_unlock(src->inode->i_mapping);
	percpu_up_write(&src->clone_sem);
	cowdev_cow_clone_over(src);
	mutex_unlock(&src->lock);

	if (ret) {
		cowdev_object_destroy(dst);
		return ERR_PTR(ret);
	}
	return dst;
}
