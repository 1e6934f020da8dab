// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write decided by the driver: clones share pages, and a write
 * fault in a shared mapping reuses its page or copies it.
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
 * (n) is page_private(): how many objects index the page.  It changes only
 * under the page lock, so two objects writing the same shared page are
 * serialised on it: the first copies, the second finds itself alone and
 * reuses.  Never do two objects write one page.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>

#include "cowdev.h"
#include "cowdev_trace.h"

/*
 * Give @obj its own copy of the shared, locked @page at @pgoff.  Returns the
 * copy, locked, with a reference for the caller, or an ERR_PTR; @page stays
 * locked.
 */
static struct page *cowdev_cow_copy(struct cowdev_object *obj, pgoff_t pgoff,
				    struct page *page)
{
	struct page *copy = cowdev_pool_alloc();

	if (IS_ERR(copy))
		return copy;
	copy_highpage(copy, page);
	/* Locked before anyone can find it, like a new page. */
	__folio_set_locked(page_folio(copy));
	get_page(copy);
	cowdev_object_replace_page(obj, pgoff, page, copy);
	/*
	 * PTEs of this object that map the old page (read-only: shared ones
	 * and private ones that have not copied it) must go so that they
	 * refault onto the copy.  Other objects' mappings are not touched.
	 * With @page locked no new PTE can appear, so an unmapped page needs
	 * no zap; pfn-mode PTEs are not counted in the mapcount, though.
	 */
	if (obj->mode == COWDEV_MODE_PFN || folio_mapped(page_folio(page)))
		unmap_mapping_pages(obj->inode->i_mapping, pgoff, 1, false);
	cowdev_count(obj, COWDEV_STAT_COPY);
	trace_cowdev_copy(obj->id, pgoff);
	return copy;
}

/**
 * cowdev_cow_fault() - the page a write fault through ->fault should map
 * @obj: the object written through a shared mapping
 * @pgoff: page offset of the fault
 * @page: the object's page at @pgoff, locked, with a reference
 *
 * A first-touch write to a page this object shares with another gets its
 * copy right here, so the fault maps the copy instead of mapping the shared
 * page only for ->page_mkwrite to copy it and refault.  Called with
 * @obj->clone_sem held for read.
 *
 * Return: @page, or its copy (locked, with a reference; @page is unlocked
 * and released), or an ERR_PTR if no page could be had for the copy.
 */
struct page *cowdev_cow_fault(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page)
{
	struct page *copy;

	if (page_private(page) == 1)
		return page;
	copy = cowdev_cow_copy(obj, pgoff, page);
	cowdev_unlock_page(obj, pgoff, page);
	put_page(page);
	return copy;
}

/**
 * cowdev_cow_write() - reuse or copy the page a write fault is about to make
 *	writable
 * @obj: the object written through a shared mapping
 * @pgoff: page offset of the fault
 * @page: the object's page at @pgoff, locked, checked to be still indexed
 * @copied: the entry carries %COWDEV_MARK_COPIED, read by that check
 *
 * Called with @obj->clone_sem held for read.  Each write fault is counted
 * once, as reuse or copy; the mkwrite of the refault that follows a copy
 * consumes the copy's mark instead of counting again.  A page under
 * writeback is stable: reusing it waits for the writeback to end.  @page
 * stays locked.
 *
 * Return: 0 if @page may be made writable in place (the caller sees that
 * it is marked dirty); VM_FAULT_NOPAGE if @obj now holds a copy and the
 * access must refault; VM_FAULT_SIGBUS or VM_FAULT_OOM if no page could be had for the copy.
 */
vm_fault_t cowdev_cow_write(struct cowdev_object *obj, pgoff_t pgoff,
			    struct page *page, bool copied)
{
	struct page *copy;

	if (page_private(page) > 1) {
		copy = cowdev_cow_copy(obj, pgoff, page);
		if (IS_ERR(copy))
			return cowdev_fault_error(obj, PTR_ERR(copy));
		cowdev_unlock_page(obj, pgoff, copy);
		put_page(copy);
		return VM_FAULT_NOPAGE;
	}

	cowdev_wait_writeback(obj, pgoff, page);
	if (copied) {
		xa_clear_mark(&obj->pages, pgoff, COWDEV_MARK_COPIED);
	} else {
		cowdev_count(obj, COWDEV_STAT_REUSE);
		trace_cowdev_reuse(obj->id, pgoff);
	}
	return 0;
}

/**
 * cowdev_cow_clone() - make a new object sharing every page of @src
 * @src: the object to clone
 *
 * The clone has @src's size and mode and indexes each of its pages, like
 * fork shares anonymous pages.  While the pages are shared, @src's write
 * faults wait on its clone_sem; when they are all shared, every PTE of
 * @src is zapped, so no mapping can write to a shared page without
 * faulting.  Writes through PTEs that were writable before land in the
 * page before it is shared or before the zap, in both objects alike.
 *
 * Return: the new object, or an ERR_PTR.
 */
struct cowdev_object *cowdev_cow_clone(struct cowdev_object *src)
{
	struct cowdev_object *dst = cowdev_object_create();
	unsigned long index;
	struct page *page;
	int ret = 0;

	if (IS_ERR(dst))
		return dst;

	mutex_lock(&src->lock);
	dst->nr_pages = src->nr_pages;
	dst->mode = src->mode;
	percpu_down_write(&src->clone_sem);
	xa_for_each(&src->pages, index, page) {
		cowdev_lock_page(src, index, page);
		if (cowdev_object_page_valid(src, index, page, NULL))
			ret = cowdev_object_share_page(dst, index, page);
		cowdev_unlock_page(src, index, page);
		if (ret)
			break;
		cond_resched();
	}
	unmap_mapping_pages(src->inode->i_mapping, 0, 0, false);
	percpu_up_write(&src->clone_sem);
	mutex_unlock(&src->lock);

	if (ret) {
		cowdev_object_destroy(dst);
		return ERR_PTR(ret);
	}
	return dst;
}
