// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev's vm_operations: how the kernel's fault paths reach the object.
 *
 * Shared mappings (page mode):
 *   first touch, read   ->fault                       read-only PTE
 *   first touch, write  ->fault, ->page_mkwrite       do_shared_fault()
 *   write after read    ->page_mkwrite                do_wp_page() ->
 *                                                     wp_page_shared()
 * ->page_mkwrite makes the page writable in place: a "reuse".
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

static vm_fault_t cowdev_errno_to_fault(struct cowdev_object *obj, int err)
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

static vm_fault_t cowdev_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cowdev_object *obj = vma->vm_private_data;
	struct page *page;
	vm_fault_t ret;

	cowdev_count_fault(obj, vmf);
	page = cowdev_object_get_page(obj, vmf->pgoff);
	if (IS_ERR(page))
		return cowdev_errno_to_fault(obj, PTR_ERR(page));

	/*
	 * do_cow_fault() only copies from vmf->page, so a private write fault
	 * gets the page in either mode.
	 */
	if (obj->mode == COWDEV_MODE_PAGE || vmf->cow_page) {
		vmf->page = page;
		return VM_FAULT_LOCKED;
	}

	/* pfn mode: a special PTE, no struct page for the core to see. */
	ret = cowdev_insert_pfn(vma, vmf->address, page_to_pfn(page));
	unlock_page(page);
	put_page(page);
	return ret;
}

/*
 * Make the locked @page, still the object's page at @pgoff, writable in
 * place.  Counted as one reuse.
 */
static void cowdev_make_writable(struct cowdev_object *obj, struct page *page)
{
	cowdev_count(obj, COWDEV_STAT_REUSE);
	set_page_dirty(page);
}

static vm_fault_t cowdev_page_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct page *page = vmf->page;

	cowdev_count(obj, COWDEV_STAT_MKWRITE);
	lock_page(page);
	if (!cowdev_object_page_valid(obj, vmf->pgoff, page)) {
		/* Truncated under us: refault, and get SIGBUS past the end. */
		unlock_page(page);
		return VM_FAULT_NOPAGE;
	}
	cowdev_make_writable(obj, page);
	return VM_FAULT_LOCKED;
}

static vm_fault_t cowdev_pfn_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct page *page;

	cowdev_count(obj, COWDEV_STAT_PFN_MKWRITE);
	page = cowdev_object_lock_page(obj, vmf->pgoff);
	if (!page)
		return VM_FAULT_NOPAGE;
	cowdev_make_writable(obj, page);
	unlock_page(page);
	put_page(page);
	/* 0: the core makes the PTE writable if it is unchanged. */
	return 0;
}

/*
 * cowdev_vm_ops: the fault callbacks of every cowdev mapping
 */
const struct vm_operations_struct cowdev_vm_ops = {
	.fault = cowdev_fault,
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
	if (obj->mode == COWDEV_MODE_PFN)
		vm_flags_set(vma, VM_MIXEDMAP);
	vma->vm_ops = &cowdev_vm_ops;
	vma->vm_private_data = obj;
	return 0;
}
