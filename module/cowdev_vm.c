// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev's vm_operations: how the kernel's fault paths reach the object.
 *
 * Shared mappings (page mode):
 *   first touch, read   ->fault                       read-only PTE
 *   first touch, write  ->fault, ->page_mkwrite       do_shared_fault()
 *   write after read    ->page_mkwrite                do_wp_page() ->
 *                                                     wp_page_shared()
 * In pfn mode ->fault inserts a special PTE, read-only even for a write, and
 * the write notification is ->pfn_mkwrite (do_wp_page() -> wp_pfn_shared()),
 * which makes the PTE writable itself, under the page lock.  Either mkwrite
 * decides reuse or copy (cowdev_cow.c); a first-touch write to a page
 * shared with a clone is copied in ->fault already, and the mkwrite that
 * follows finds the copy.  Private mappings map pages in both modes.
 *
 * Private mappings never reach ->page_mkwrite: a write on a not-present
 * PTE is do_cow_fault() (->fault with vmf->cow_page set, the core copies),
 * a write after a read is do_wp_page() -> wp_page_copy() inside the core,
 * observed by cowdev_probe.c.
 *
 * Pool pages are in no page cache (page->mapping is NULL), so every
 * callback that hands a page back locks it itself and returns
 * VM_FAULT_LOCKED: do_page_mkwrite() would otherwise take a NULL mapping
 * for a truncated page and retry the fault forever.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

/**
 * cowdev_fault_error() - the fault result for a failure to get a page
 * @obj: the object faulting
 * @err: -EINVAL (past the end), -ENOSPC (pool limit), -ENOMEM, or -EAGAIN
 *	or -EINTR (the fault must be retried: see cowdev_lock_page())
 *
 * Return: VM_FAULT_SIGBUS, VM_FAULT_OOM when the system is out of memory,
 * or VM_FAULT_RETRY.
 */
vm_fault_t cowdev_fault_error(struct cowdev_object *obj, int err)
{
	switch (err) {
	case -EINVAL:		/* past the end of the object */
		return VM_FAULT_SIGBUS;
	case -EAGAIN:
	case -EINTR:
		return VM_FAULT_RETRY;
	case -ENOSPC:		/* pool limit */
		cowdev_count(obj, COWDEV_STAT_ALLOC_FAIL);
		return VM_FAULT_SIGBUS;
	default:
		cowdev_count(obj, COWDEV_STAT_ALLOC_FAIL);
		return VM_FAULT_OOM;
	}
}

static void cowdev_count_fault(struct cowdev_object *obj, struct vm_fault *vmf)
{
	cowdev_count(obj, COWDEV_STAT_FAULTS);
	cowdev_count(obj, vmf->flags & FAULT_FLAG_WRITE ?
			  COWDEV_STAT_WRITE_FAULTS : COWDEV_STAT_READ_FAULTS);
	cowdev_count(obj, vmf->vma->vm_flags & VM_MAYSHARE ?
			  COWDEV_STAT_SHARED_FAULTS : COWDEV_STAT_PRIVATE_FAULTS);
	if (vmf->cow_page)
		cowdev_count(obj, COWDEV_STAT_COW_FAULTS);
}

/*
 * A first-touch write to a shared mapping: the page is decided on here
 * (reuse or copy, see cowdev_cow_unshare()), and made stable for the write
 * by waiting out any writeback, the one long wait of a write fault: the
 * mkwrites leave it to ->fault, which can retry.
 */
static struct page *cowdev_fault_shared_write(struct cowdev_object *obj,
					      struct cowdev_fault *cf)
{
	pgoff_t pgoff = cf->vmf->pgoff;
	struct page *page;
	int ret;

	do {
		percpu_down_read(&obj->clone_sem);
		page = cowdev_object_grab_page(obj, pgoff, cf);
		if (!IS_ERR(page))
			page = cowdev_cow_unshare(obj, pgoff, page);
		percpu_up_read(&obj->clone_sem);
		if (IS_ERR(page))
			return page;
		ret = cowdev_wait_writeback(obj, pgoff, page, cf);
		if (ret)
			put_page(page);		/* unlocked by the wait */
	} while (ret == 1);
	return ret ? ERR_PTR(ret) : page;
}

static vm_fault_t cowdev_do_fault(struct cowdev_object *obj,
				  struct cowdev_fault *cf)
{
	struct vm_fault *vmf = cf->vmf;
	struct page *page;
	vm_fault_t ret;

	if ((vmf->flags & FAULT_FLAG_WRITE) && (vmf->vma->vm_flags & VM_SHARED))
		page = cowdev_fault_shared_write(obj, cf);
	else
		page = cowdev_object_grab_page(obj, vmf->pgoff, cf);
	if (IS_ERR(page))
		return cowdev_fault_error(obj, PTR_ERR(page));

	/* Page mode, and private mappings in pfn mode (see cowdev_mmap()). */
	if (!(vmf->vma->vm_flags & VM_MIXEDMAP)) {
		vmf->page = page;
		cowdev_note_wake(obj, vmf->pgoff, page, COWDEV_BIT_LOCKED);
		return VM_FAULT_LOCKED;	/* the core unlocks it once mapped */
	}

	/* pfn mode: a special PTE, no struct page for the core to see. */
	ret = cowdev_insert_pfn(vmf->vma, vmf->address, page_to_pfn(page));
	cowdev_unlock_page(obj, vmf->pgoff, page);
	put_page(page);
	return ret;
}

/*
 * Every call is counted, a retried fault's too, as /proc/vmstat's pgfault
 * counts every attempt.
 */
static vm_fault_t cowdev_fault(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct cowdev_fault cf = { .vmf = vmf };
	vm_fault_t ret;

	cowdev_count_fault(obj, vmf);
	ret = cowdev_do_fault(obj, &cf);
	trace_cowdev_fault(obj->id, vmf->pgoff, vmf->flags, READ_ONCE(obj->mode),
			   (__force unsigned int)ret);
	return cowdev_fault_finish(obj, &cf, ret);
}

/*
 * do_page_mkwrite() calls this with vmf->flags reduced to FAULT_FLAG_WRITE
 * | FAULT_FLAG_MKWRITE: it may not drop the fault's lock.  The page lock is
 * held for short decisions only; a long writeback is left to ->fault (see
 * cowdev_cow_write()).
 */
static vm_fault_t cowdev_page_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct page *page = vmf->page;
	vm_fault_t ret;

	cowdev_count(obj, COWDEV_STAT_MKWRITE);
	trace_cowdev_mkwrite(obj->id, vmf->pgoff, COWDEV_MODE_PAGE);
	percpu_down_read(&obj->clone_sem);
	cowdev_lock_page(obj, vmf->pgoff, page, NULL);
	/* Truncated or replaced by a copy under us: refault. */
	if (!cowdev_object_page_valid(obj, vmf->pgoff, page))
		ret = VM_FAULT_NOPAGE;
	else
		ret = cowdev_cow_write(obj, vmf->pgoff, page);
	percpu_up_read(&obj->clone_sem);
	if (ret) {
		cowdev_unlock_page(obj, vmf->pgoff, page);
		return ret;
	}
	/*
	 * The core makes the PTE writable before it unlocks the page, so a
	 * CLONE or WRITEBACK, which take the lock, sees the PTE writable and
	 * unmaps it.
	 */
	cowdev_note_wake(obj, vmf->pgoff, page, COWDEV_BIT_LOCKED);
	return VM_FAULT_LOCKED;
}

struct cowdev_pte_upgrade {
	struct vm_area_struct *vma;
	unsigned long pfn;
};

/*
 * apply_to_page_range() callback, under the page table lock: what
 * wp_page_reuse() does with ptep_set_access_flags(), which modules cannot
 * call.  No TLB flush: see COWDEV_HAVE_PFN_MODE.
 */
static int cowdev_pte_upgrade(pte_t *ptep, unsigned long addr, void *data)
{
	struct cowdev_pte_upgrade *up = data;
	pte_t pte = ptep_get(ptep);

	if (pte_present(pte) && pte_pfn(pte) == up->pfn && !pte_write(pte)) {
		pte = pte_mkdirty(pte_mkyoung(cowdev_pte_mkwrite(pte)));
		set_pte_at(up->vma->vm_mm, addr, ptep, pte);
		update_mmu_cache(up->vma, addr, ptep);
	}
	return 0;
}

/*
 * Make the faulting PTE writable, if it still maps @page, while @page is
 * locked.  Returning 0 to wp_pfn_shared() would leave it to
 * finish_mkwrite_fault(), after the page lock is dropped, with pte_same()
 * as its only check: a CLONE or WRITEBACK could unmap the PTE in between
 * and a read fault reinstall an identical one, which the core would then
 * make writable over a page shared with a clone or under writeback.  DAX
 * makes the PTE writable itself under its entry lock the same way
 * (dax_insert_pfn_mkwrite()); vmf_insert_mixed_mkwrite() is not exported
 * from 6.12, so the PTE is changed through apply_to_page_range().
 */
static void cowdev_pfn_make_writable(struct vm_fault *vmf, struct page *page)
{
	struct cowdev_pte_upgrade up = {
		.vma = vmf->vma,
		.pfn = page_to_pfn(page),
	};

	/*
	 * The PTE table is there: the fault came through it, and it cannot
	 * be freed under the fault's lock.  Should the walk fail anyway, the
	 * PTE stays read-only and the write faults again.
	 */
	apply_to_page_range(vmf->vma->vm_mm, vmf->address & PAGE_MASK,
			    PAGE_SIZE, cowdev_pte_upgrade, &up);
}

/* wp_pfn_shared() calls this with the fault's own flags: it may retry. */
static vm_fault_t cowdev_pfn_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct cowdev_fault cf = { .vmf = vmf };
	vm_fault_t ret = VM_FAULT_NOPAGE;
	struct page *page;

	cowdev_count(obj, COWDEV_STAT_PFN_MKWRITE);
	trace_cowdev_mkwrite(obj->id, vmf->pgoff, COWDEV_MODE_PFN);
	percpu_down_read(&obj->clone_sem);
	page = cowdev_object_find_lock_page(obj, vmf->pgoff, &cf);
	if (IS_ERR(page)) {
		/* NOPAGE keeps wp_pfn_shared() off the PTE. */
		ret = VM_FAULT_RETRY | VM_FAULT_NOPAGE;
	} else if (page) {
		ret = cowdev_cow_write(obj, vmf->pgoff, page);
		if (!ret) {
			/* The core dirties only pages it can see (page mode). */
			folio_mark_dirty(page_folio(page));
			cowdev_pfn_make_writable(vmf, page);
			ret = VM_FAULT_NOPAGE;
		}
		cowdev_unlock_page(obj, vmf->pgoff, page);
		put_page(page);
	}
	percpu_up_read(&obj->clone_sem);
	return cowdev_fault_finish(obj, &cf, ret);
}

/*
 * Fault-around maps nothing here: the only exported implementation,
 * filemap_map_pages(), needs page-cache folios, and modules get no helper to
 * set PTEs from under its RCU lock.  The callback still matters: from 6.7 the
 * core runs ->fault, ->page_mkwrite and ->pfn_mkwrite under the per-VMA lock
 * only for vm_ops that have ->map_pages (vmf_can_call_fault() takes it as
 * the mark of handlers audited not to need mmap_lock) and otherwise retries
 * every fault under mmap_lock.  Ours use nothing but their own VMA, the
 * object and page-table helpers the core itself calls under the VMA lock.
 */
static vm_fault_t cowdev_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff,
				   pgoff_t end_pgoff)
{
	return 0;
}

/*
 * cowdev_vm_ops: the fault callbacks of every cowdev mapping
 */
const struct vm_operations_struct cowdev_vm_ops = {
	.fault = cowdev_fault,
	.map_pages = cowdev_map_pages,
	.page_mkwrite = cowdev_page_mkwrite,
	.pfn_mkwrite = cowdev_pfn_mkwrite,
};

/**
 * cowdev_mmap() - set up a mapping of an object
 * @file: a cowdev file
 * @vma: the new mapping
 *
 * Mappings may extend past the object's current size (accesses there get
 * SIGBUS, as with a file) but not past %COWDEV_MAX_SIZE.
 *
 * Return: 0, or -EINVAL for a range past %COWDEV_MAX_SIZE.
 */
int cowdev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct cowdev_object *obj = file->private_data;
	const unsigned long max_pages = COWDEV_MAX_SIZE >> PAGE_SHIFT;

	if (vma->vm_pgoff > max_pages ||
	    vma_pages(vma) > max_pages - vma->vm_pgoff)
		return -EINVAL;
	/*
	 * pfn mode is for shared mappings.  A private mapping's copies are
	 * the core's (wp_page_copy()), and from a special PTE it has no page
	 * to copy from: it copies from the user address instead, which is in
	 * the wrong mm for a remote write (/proc/PID/mem, process_vm_writev)
	 * and unreadable for a FOLL_FORCE write into PROT_NONE, and warns.
	 * Private mappings get pages in either mode.
	 */
	if (cowdev_object_map(obj) == COWDEV_MODE_PFN &&
	    (vma->vm_flags & VM_MAYSHARE))
		vm_flags_set(vma, VM_MIXEDMAP);
	vma->vm_ops = &cowdev_vm_ops;
	vma->vm_private_data = obj;
	return 0;
}
