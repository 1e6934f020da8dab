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
 * the write notification is ->pfn_mkwrite (do_wp_page() -> wp_pfn_shared()).
 * Either mkwrite decides reuse or copy (cowdev_cow.c); a first-touch write
 * to a page shared with a clone is copied in ->fault already, and the
 * mkwrite that follows finds the copy.
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
 * @err: -EINVAL (past the end), -ENOSPC (pool limit) or -ENOMEM
 *
 * Return: VM_FAULT_SIGBUS, or VM_FAULT_OOM when the system is out of memory.
 */
vm_fault_t cowdev_fault_error(struct cowdev_object *obj, int err)
{
	switch (err) {
	case -EINVAL:		/* past the end of the object */
		return VM_FAULT_SIGBUS;
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

static struct page *cowdev_fault_page(struct cowdev_object *obj,
				      struct vm_fault *vmf)
{
	struct page *page;

	if (!(vmf->flags & FAULT_FLAG_WRITE) ||
	    !(vmf->vma->vm_flags & VM_SHARED))
		return cowdev_object_get_page(obj, vmf->pgoff);

	/* A shared write decides reuse or copy: see cowdev_cow_fault(). */
	percpu_down_read(&obj->clone_sem);
	page = cowdev_object_get_page(obj, vmf->pgoff);
	if (!IS_ERR(page))
		page = cowdev_cow_fault(obj, vmf->pgoff, page);
	percpu_up_read(&obj->clone_sem);
	return page;
}

static vm_fault_t cowdev_do_fault(struct cowdev_object *obj,
				  struct vm_fault *vmf)
{
	struct page *page;
	vm_fault_t ret;

	page = cowdev_fault_page(obj, vmf);
	if (IS_ERR(page))
		return cowdev_fault_error(obj, PTR_ERR(page));

	/*
	 * do_cow_fault() only copies from vmf->page, so a private write fault
	 * gets the page in either mode.  The core unlocks it once mapped.
	 */
	if (obj->mode == COWDEV_MODE_PAGE || vmf->cow_page) {
		vmf->page = page;
		cowdev_note_wake(obj, vmf->pgoff, page, COWDEV_BIT_LOCKED);
		return VM_FAULT_LOCKED;
	}

	/* pfn mode: a special PTE, no struct page for the core to see. */
	ret = cowdev_insert_pfn(vmf->vma, vmf->address, page_to_pfn(page));
	cowdev_unlock_page(obj, vmf->pgoff, page);
	put_page(page);
	return ret;
}

static vm_fault_t cowdev_fault(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	vm_fault_t ret;

	cowdev_count_fault(obj, vmf);
	ret = cowdev_do_fault(obj, vmf);
	trace_cowdev_fault(obj->id, vmf->pgoff, vmf->flags, obj->mode,
			   (__force unsigned int)ret);
	return ret;
}

static vm_fault_t cowdev_page_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct page *page = vmf->page;
	bool copied;
	vm_fault_t ret;

	cowdev_count(obj, COWDEV_STAT_MKWRITE);
	trace_cowdev_mkwrite(obj->id, vmf->pgoff, COWDEV_MODE_PAGE);
	percpu_down_read(&obj->clone_sem);
	cowdev_lock_page(obj, vmf->pgoff, page);
	/* Truncated or replaced by a copy under us: refault. */
	if (!cowdev_object_page_valid(obj, vmf->pgoff, page, &copied))
		ret = VM_FAULT_NOPAGE;
	else
		ret = cowdev_cow_write(obj, vmf->pgoff, page, copied);
	percpu_up_read(&obj->clone_sem);
	if (ret) {
		cowdev_unlock_page(obj, vmf->pgoff, page);
		return ret;
	}
	/* The core maps the page before it unlocks it. */
	cowdev_note_wake(obj, vmf->pgoff, page, COWDEV_BIT_LOCKED);
	return VM_FAULT_LOCKED;
}

static vm_fault_t cowdev_pfn_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	vm_fault_t ret = VM_FAULT_NOPAGE;
	struct page *page;
	bool copied;

	cowdev_count(obj, COWDEV_STAT_PFN_MKWRITE);
	trace_cowdev_mkwrite(obj->id, vmf->pgoff, COWDEV_MODE_PFN);
	percpu_down_read(&obj->clone_sem);
	page = cowdev_object_lock_page(obj, vmf->pgoff, &copied);
	if (page) {
		ret = cowdev_cow_write(obj, vmf->pgoff, page, copied);
		/* The core dirties only pages it can see (page mode). */
		if (!ret)
			folio_mark_dirty(page_folio(page));
	}
	percpu_up_read(&obj->clone_sem);
	if (page) {
		cowdev_unlock_page(obj, vmf->pgoff, page);
		put_page(page);
	}
	/*
	 * On 0 the core makes the PTE writable if it is unchanged; a clone
	 * that shared the page since has zapped it, and the write refaults.
	 */
	return ret;
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
	enum cowdev_mode mode;

	if (vma->vm_pgoff > max_pages ||
	    vma_pages(vma) > max_pages - vma->vm_pgoff)
		return -EINVAL;
	/* The mode is fixed from the first mmap on. */
	mutex_lock(&obj->lock);
	obj->mapped = true;
	mode = obj->mode;
	mutex_unlock(&obj->lock);
	if (mode == COWDEV_MODE_PFN)
		vm_flags_set(vma, VM_MIXEDMAP);
	vma->vm_ops = &cowdev_vm_ops;
	vma->vm_private_data = obj;
	return 0;
}
