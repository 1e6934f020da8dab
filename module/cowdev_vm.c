// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev's vm_operations: how the kernel's fault paths reach the object.
 *
 * Shared mappings (page mode):
 *   first touch, read   ->fault                       read-only PTE
 *   first touch, write  ->fault, ->page_mkwrite       do_shared_fault()
 *   write after read    ->page_mkwrite                do_wp_page() ->
 *                                                     wp_page_shared()
 * In pfn mode ->fault inserts a special PTE:
 *   first touch, read   ->fault                       read-only PTE
 *   first touch, write  ->fault                       writable PTE
 *   write after read    ->pfn_mkwrite                 do_wp_page() ->
 *                                                     wp_pfn_shared()
 * and makes it writable itself, under the page lock and clone_sem
 * (cowdev_pfn_write()).
 * The mkwrites and pfn mode's write fault decide reuse or copy
 * (cowdev_cow.c); a first-touch write to a page shared with a clone is
 * copied in ->fault already, and the decision that follows finds the copy.
 * Private mappings map pages in both modes.
 *
 * Private mappings never reach ->page_mkwrite: a write on a not-present
 * PTE is do_cow_fault() (->fault with vmf->cow_page set, the core copies),
 * a write after a read is do_wp_page() -> wp_page_copy() inside the core,
 * observed by cowdev_probe.c.
 *
 * A read fault also maps, read-only, the object's other resident pages
 * around it (fault-around; see cowdev_fault_around()), so that a second
 * mapping of a populated object, or a reader after a writer, takes one
 * fault per fault_around_bytes rather than one per page.
 *
 * Pool pages are in no page cache (page->mapping is NULL), so every
 * callback that hands a page back locks it itself and returns
 * VM_FAULT_LOCKED: do_page_mkwrite() would otherwise take a NULL mapping
 * for a truncated page and retry the fault forever.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/percpu.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

/**
 * cowdev_fault_error() - the fault result for a failure to get a page
 * @obj: the object faulting
 * @err: -EINVAL (past the end), -ENOSPC (pool limit), -ENOMEM (no
 *	memory for a page, or for the store's page cache to read one back),
 *	-EHWPOISON (a poisoned page), -EIO (an evicted page was not read
 *	back), or -EAGAIN or -EINTR (the fault must be
 *	retried: see cowdev_lock_page())
 *
 * Return: VM_FAULT_SIGBUS, VM_FAULT_HWPOISON (SIGBUS with BUS_MCEERR_AR),
 * VM_FAULT_OOM when the system is out of memory, or VM_FAULT_RETRY.
 */
vm_fault_t cowdev_fault_error(struct cowdev_object *obj, int err)
{
	switch (err) {
	case -EINVAL:		/* past the end of the object */
	case -EIO:		/* an evicted page could not be read back */
		return VM_FAULT_SIGBUS;
	case -EHWPOISON:
		return VM_FAULT_HWPOISON;
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
 * Does @vma map its pages through special PTEs (see cowdev_mmap())?  Never
 * where there is no pfn mode: the constant lets the compiler drop the code
 * that sets PTEs itself (see COWDEV_HAVE_PFN_MODE).
 */
static __always_inline bool cowdev_vma_maps_pfns(struct vm_area_struct *vma)
{
	return COWDEV_HAVE_PFN_MODE && (vma->vm_flags & VM_MIXEDMAP);
}

/*
 * May a read fault in @vma fault around?  Only where this kernel gives a
 * way to map (pages need 6.15), and never in a PROT_NONE mapping read
 * through FOLL_FORCE.  The core adds its own tests before it offers a
 * window (should_fault_around(): no userfaultfd minor or write-protect
 * tracking), repeated here because ->fault checks this again: a window
 * left on a CPU by a fault that moved away could otherwise be taken by a
 * later fault the core never offered one to.
 */
static bool cowdev_may_fault_around(struct vm_area_struct *vma)
{
	return (COWDEV_HAVE_PAGE_FAULT_AROUND || cowdev_vma_maps_pfns(vma)) &&
	       (vma->vm_flags & VM_READ) &&
	       !(vma->vm_flags & (VM_UFFD_WP | VM_UFFD_MINOR));
}

/*
 * Fault-around.  The core offers it to ->map_pages, with the window it
 * computed from fault_around_bytes (the debugfs knob) and clamped to the
 * VMA and the page table, before it calls ->fault for a read fault.  No
 * kernel lets a module set PTEs there: since 6.5 do_fault_around() calls
 * ->map_pages under rcu_read_lock(), and every exported way to set a PTE
 * (vmf_insert_page_mkwrite(), vmf_insert_mixed(), apply_to_page_range())
 * may allocate a page table, which sleeps; with PT reclaim (7.x) a table
 * seen present can be gone by the time they look.  filemap_map_pages()
 * gets round this with pmd_install() and the core's preallocated table,
 * neither of which a module can use.  So ->map_pages only notes the
 * window, and ->fault, where sleeping is allowed, maps it, as TTM's
 * ttm_bo_vm_fault_reserved() prefaults from its fault handler.  Page mode
 * needs vmf_insert_page_mkwrite() for it (see compat.h).
 *
 * The note lives in a per-CPU slot and names the fault it belongs to
 * (task, vm_fault, address).  ->fault empties the slot first thing and
 * uses the note only if it is its own; one that finds no note of its own
 * (it moved to another CPU in between, or another fault on this CPU came
 * in between) maps its own page alone, as without fault-around.
 */
struct cowdev_around {
	const struct task_struct *task;
	const struct vm_fault *vmf;
	unsigned long address;
	pgoff_t start;
	pgoff_t end;
};

static DEFINE_PER_CPU(struct cowdev_around, cowdev_around);

/* Enough for the default 64 KiB window in one pass. */
#define COWDEV_AROUND_BATCH 16
static_assert(COWDEV_AROUND_BATCH <= BITS_PER_LONG);	/* one bit a page */

/* A fault's fault-around window, in page offsets of the object. */
struct cowdev_window {
	pgoff_t start;
	pgoff_t end;
};

/*
 * Take this fault's window, noted by cowdev_map_pages(), if the slot holds
 * one; called first thing in ->fault, before anything can sleep, so that
 * the slot is emptied on this CPU whatever the fault does next.  A slot
 * can still be stale (a fault of this task at the same address, same stack
 * depth, that moved CPU before taking its own): the window is clamped to
 * this fault's VMA and page table and must contain the fault, so whatever
 * it says, only this VMA's own pages at their own addresses get mapped.
 */
static bool cowdev_around_window(struct vm_fault *vmf,
				 struct cowdev_window *win)
{
	struct cowdev_around *around = get_cpu_ptr(&cowdev_around);
	struct vm_area_struct *vma = vmf->vma;
	pgoff_t pte_off = pte_index(vmf->address);
	bool mine = around->task == current && around->vmf == vmf &&
		    around->address == vmf->address;

	if (mine) {
		win->start = around->start;
		win->end = around->end;
	}
	around->vmf = NULL;
	put_cpu_ptr(&cowdev_around);
	if (!mine)
		return false;
	win->start = max3(win->start, vma->vm_pgoff,
			  vmf->pgoff - min(vmf->pgoff, pte_off));
	win->end = min3(win->end, vma->vm_pgoff + vma_pages(vma) - 1,
			vmf->pgoff - pte_off + PTRS_PER_PTE - 1);
	return win->start <= vmf->pgoff && vmf->pgoff <= win->end;
}

struct cowdev_around_ptes {
	struct cowdev_object *obj;
	struct vm_area_struct *vma;
	unsigned long addr;		/* of offset @first */
	pgoff_t first;
	struct page **pages;		/* the batch, locked */
	unsigned long none;		/* bit i: PTE i is none */
	unsigned long mapped;		/* pfn mode: PTEs set */
};

/*
 * apply_to_page_range() callbacks, under the page table lock, which the
 * walk takes after it has allocated any table that was missing.  No PTE
 * for a page of the object can appear while the page is locked: a fault
 * maps a page only with it locked, and fault-around only what it could
 * lock.
 */
static int cowdev_around_note_none(pte_t *ptep, unsigned long addr, void *data)
{
	struct cowdev_around_ptes *ap = data;

	if (pte_none(ptep_get(ptep)))
		ap->none |= BIT((addr - ap->addr) >> PAGE_SHIFT);
	return 0;
}

/* Note which of the @nr PTEs from @ap->addr are none, in @ap->none. */
static unsigned long cowdev_around_note(struct cowdev_around_ptes *ap,
					unsigned long nr)
{
	ap->none = 0;
	apply_to_page_range(ap->vma->vm_mm, ap->addr, nr << PAGE_SHIFT,
			    cowdev_around_note_none, ap);
	return ap->none;
}

/*
 * pfn mode, one PTE: if it is none and the batch holds the object's page
 * there, locked, it gets what vmf_insert_mixed() would give it
 * (insert_pfn(): a special PTE with the VMA's protection, read-only as
 * the VMA wants write notification).  __vm_insert_mixed()'s other checks
 * hold for pool pages: they are RAM of the default (write-back) memory
 * type, which is what PAT would look up, and pfn_modify_allowed() only
 * concerns PROT_NONE, which cowdev_map_pages() leaves alone.
 */
static int cowdev_around_set_pfn(pte_t *ptep, unsigned long addr, void *data)
{
	struct cowdev_around_ptes *ap = data;
	struct page *page = ap->pages[(addr - ap->addr) >> PAGE_SHIFT];

	if (!page || !pte_none(ptep_get(ptep)))
		return 0;
	cowdev_set_special_pte(ap->vma->vm_mm, addr, ptep,
			       pte_mkspecial(pfn_pte(page_to_pfn(page),
						     ap->vma->vm_page_prot)));
	update_mmu_cache(ap->vma, addr, ptep);
	ap->mapped++;
	return 0;
}

/*
 * Release and unlock the pages a batch locked.  The reference goes first:
 * a CLONE waiting for the lock counts references once it has it, and must
 * not take ours for a pin (cowdev_cow_page_held()).  The page cannot go
 * meanwhile: it is indexed, and erasing it needs the lock we hold.
 */
static void cowdev_around_release(struct cowdev_around_ptes *ap,
				  unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		if (!ap->pages[i])
			continue;
		put_page(ap->pages[i]);
		cowdev_unlock_page(ap->obj, ap->first + i, ap->pages[i]);
	}
}

/*
 * pfn mode, @nr pages from @ap->first: the pages of the batch whose PTEs
 * were none (@want) are locked in one walk of the index, then those PTEs
 * still none are set in one walk of the page table.
 * The table exists already (cowdev_pfn_prealloc_table()), so the walk
 * allocates nothing with the pages locked, unless PT reclaim (7.x) freed
 * the table since, empty.  Returns the number mapped.
 */
static unsigned long cowdev_around_set_pfns(struct cowdev_around_ptes *ap,
					    unsigned long nr, unsigned long want)
{
	if (!cowdev_object_trylock_range(ap->obj, ap->first,
					 ap->first + nr - 1, want, ap->pages))
		return 0;
	ap->mapped = 0;
	apply_to_page_range(ap->vma->vm_mm, ap->addr, nr << PAGE_SHIFT,
			    cowdev_around_set_pfn, ap);
	cowdev_around_release(ap, nr);
	return ap->mapped;
}

/*
 * Page mode, @nr pages from @ap->first: a normal PTE, with its reference
 * and rmap, for each page whose PTE is none.  cowdev_insert_page() takes
 * the page table lock itself and cannot say whether it found the PTE
 * taken, so the batch is locked first and its none PTEs noted after, which
 * keeps the count exact.  The table was allocated by the note taken before
 * the lookup, with no page of the batch locked; the faulting page is, as
 * in finish_fault().  __do_fault() allocates before it locks a page
 * because memcg reclaim may wait on writeback of LRU pages; pool pages are
 * on no LRU.  No update_mmu_cache(): insert_page(),
 * which vm_insert_page() drivers rely on, does not call it either; where
 * it does anything (software-filled TLBs, cache preloads) a missing call
 * costs one more fault, and arm64's and x86's are empty.  Returns the
 * number mapped.
 */
static unsigned long cowdev_around_insert(struct cowdev_around_ptes *ap,
					  unsigned long nr, unsigned long want)
{
	unsigned long i, mapped = 0;

	if (!cowdev_object_trylock_range(ap->obj, ap->first,
					 ap->first + nr - 1, want, ap->pages))
		return 0;
	cowdev_around_note(ap, nr);
	for (i = 0; i < nr; i++) {
		if (ap->pages[i] && (ap->none & BIT(i)) &&
		    cowdev_insert_page(ap->vma, ap->addr + i * PAGE_SIZE,
				       ap->pages[i]) == VM_FAULT_NOPAGE)
			mapped++;
	}
	cowdev_around_release(ap, nr);
	return mapped;
}

/*
 * Map the faulting read's neighbours: the object's resident pages in the
 * window, each locked while its PTE is set, as a page that ->fault maps
 * is, so that truncation, a copy and CLONE, which take the page lock
 * before they unmap, find the PTE and remove it.  Read-only in every
 * mapping, so the first write to each still reaches ->page_mkwrite or
 * ->pfn_mkwrite (shared) or the core's copy (private) and is decided on
 * and counted there, once.  Failures (no memory for a page table) only
 * leave pages unmapped: the access that needs one faults for it.
 */
static void cowdev_fault_around(struct cowdev_object *obj,
				struct vm_fault *vmf,
				const struct cowdev_window *win)
{
	struct page *pages[COWDEV_AROUND_BATCH];
	struct cowdev_around_ptes ap = {
		.obj = obj, .vma = vmf->vma, .pages = pages,
	};
	unsigned long mapped = 0, nr, want;

	for (ap.first = win->start; ap.first <= win->end; ap.first += nr) {
		nr = min_t(unsigned long, win->end - ap.first + 1,
			   COWDEV_AROUND_BATCH);
		/* Modular arithmetic: @first may be below the fault. */
		ap.addr = vmf->address + (ap.first - vmf->pgoff) * PAGE_SIZE;
		/*
		 * Already mapped pages cost no lookup, and are not locked
		 * for nothing: others' faults on them would wait.
		 */
		want = cowdev_around_note(&ap, nr);
		if (!want)
			continue;
		if (cowdev_vma_maps_pfns(vmf->vma))
			mapped += cowdev_around_set_pfns(&ap, nr, want);
		else
			mapped += cowdev_around_insert(&ap, nr, want);
	}
	if (mapped)
		cowdev_count_add(obj, COWDEV_STAT_FAULTAROUND_PAGES, mapped);
}

struct cowdev_pte_write {
	struct vm_area_struct *vma;
	unsigned long pfn;
	bool read_only;		/* found it mapped read-only, left it */
};

/*
 * apply_to_page_range() callback, under the page table lock: a writable,
 * dirty special PTE for @pw->pfn, from none (a first-touch write, or a
 * write whose read-only PTE was zapped since, by MADV_DONTNEED for one)
 * or from the read-only one ->fault or fault-around set (what
 * wp_page_reuse() does with ptep_set_access_flags(), which modules cannot
 * call).  The latter only where COWDEV_PTE_UPGRADE_IN_PLACE says a TLB
 * needs no flush for it; elsewhere the read-only PTE is noted and left for
 * cowdev_pfn_set_writable() to zap.  A PTE that maps anything else is
 * left: the access faults again.
 */
static int cowdev_pte_set_write(pte_t *ptep, unsigned long addr, void *data)
{
	struct cowdev_pte_write *pw = data;
	pte_t pte = ptep_get(ptep);

	if (pte_none(pte)) {
		pte = pte_mkspecial(pfn_pte(pw->pfn, pw->vma->vm_page_prot));
	} else if (!pte_present(pte) || pte_pfn(pte) != pw->pfn ||
		   pte_write(pte)) {
		return 0;
	} else if (!COWDEV_PTE_UPGRADE_IN_PLACE) {
		pw->read_only = true;
		return 0;
	}
	pte = pte_mkdirty(pte_mkyoung(cowdev_pte_mkwrite(pte)));
	cowdev_set_special_pte(pw->vma->vm_mm, addr, ptep, pte);
	update_mmu_cache(pw->vma, addr, ptep);
	return 0;
}

/*
 * Make the PTE at the fault address a writable one for @page, locked.
 * Where a read-only PTE cannot be upgraded in place (see
 * COWDEV_PTE_UPGRADE_IN_PLACE) it is zapped, in this mapping alone and
 * with the TLB invalidation that goes with it, and the walk is made again:
 * with @page locked no fault and no fault-around can map it in between,
 * so the second walk finds none.  The object's other mappings keep their
 * PTEs: read-only ones still fault into ->pfn_mkwrite for their own
 * writes, writable ones were decided on already.
 *
 * Return: 0; the walk's error (no memory for a page table); or -EAGAIN if
 * the zap left the PTE read-only, which cannot happen: the write then
 * refaults, and is not counted.
 */
static int cowdev_pfn_set_writable(struct vm_fault *vmf, struct page *page)
{
	struct cowdev_pte_write pw = {
		.vma = vmf->vma,
		.pfn = page_to_pfn(page),
	};
	unsigned long addr = vmf->address & PAGE_MASK;
	int ret;

	ret = apply_to_page_range(vmf->vma->vm_mm, addr, PAGE_SIZE,
				  cowdev_pte_set_write, &pw);
	/* The constant keeps x86 from referring to a zap it never makes. */
	if (COWDEV_PTE_UPGRADE_IN_PLACE || ret || !pw.read_only)
		return ret;
	cowdev_zap_pte(vmf->vma, addr);
	pw.read_only = false;
	ret = apply_to_page_range(vmf->vma->vm_mm, addr, PAGE_SIZE,
				  cowdev_pte_set_write, &pw);
	if (WARN_ON_ONCE(!ret && pw.read_only))
		return -EAGAIN;
	return ret;
}

/*
 * Make sure the page table for the fault exists, before any lock of the
 * object is taken, as __do_fault() preallocates before ->fault: a first
 * access into an empty 2 MiB range would otherwise allocate it under page
 * locks (the write's, or the batch fault-around holds; the window never
 * leaves this table).  Failure is the system's out of memory.  The table
 * the core may have preallocated in vmf->prealloc_pte goes unused: only
 * pmd_install(), which is not exported, can put it in, and do_fault()
 * frees it when the fault is done.
 */
static vm_fault_t cowdev_pfn_prealloc_table(struct vm_fault *vmf)
{
	if (!pmd_none(READ_ONCE(*vmf->pmd)))
		return 0;
	if (apply_to_page_range(vmf->vma->vm_mm, vmf->address & PAGE_MASK,
				PAGE_SIZE, NULL, NULL))
		return VM_FAULT_OOM;
	return 0;
}

/*
 * pfn mode, a shared write to the object's @page at the fault address,
 * with @page locked and still indexed and @obj->clone_sem held for read:
 * decide reuse or copy (cowdev_cow_write()), and on reuse mark @page dirty,
 * which the core does only for pages it can see, and make the PTE writable
 * while @page is locked.  Returning 0 to wp_pfn_shared() instead would
 * leave the upgrade to finish_mkwrite_fault(), after the page lock is
 * dropped, with pte_same() as its only check: a CLONE or WRITEBACK could
 * unmap the PTE in between and a read fault reinstall an identical one,
 * which the core would then make writable over a page shared with a clone
 * or under writeback.  A CLONE cannot see special PTEs in the mapcount, so
 * it must find this one writable and unmap it, or not yet there: hence
 * clone_sem.  DAX makes the PTE writable itself under its entry lock the
 * same way (dax_insert_pfn_mkwrite()); vmf_insert_mixed_mkwrite() is not
 * exported from 6.12, so cowdev_pfn_set_writable() sets the PTE.
 *
 * The reuse is counted only once the PTE is set.  The walk fails only if
 * the page table went away since the fault found or preallocated it (page
 * table reclaim after MADV_DONTNEED, 7.x) and no memory was left to make a
 * new one; the access then refaults, as finish_fault() has it do when the
 * table changed, and is counted then.
 */
static vm_fault_t cowdev_pfn_write(struct cowdev_object *obj,
				   struct cowdev_fault *cf, struct page *page)
{
	struct vm_fault *vmf = cf->vmf;
	vm_fault_t ret;

	/* No pfn-mode VMA exists: see cowdev_vma_maps_pfns(). */
	if (!COWDEV_HAVE_PFN_MODE)
		return VM_FAULT_SIGBUS;
	ret = cowdev_cow_write(obj, vmf->pgoff, page, cf);
	if (ret)
		return ret;
	folio_mark_dirty(page_folio(page));
	if (!cowdev_pfn_set_writable(vmf, page))
		cowdev_cow_reuse(obj, vmf->pgoff, page);
	return VM_FAULT_NOPAGE;
}

/*
 * A first-touch write to a shared mapping: the page is decided on here
 * (reuse or copy, see cowdev_cow_unshare()), and made stable for the write
 * by waiting out any writeback, the one long wait of a write fault: the
 * mkwrites leave it to ->fault, which can retry.  The wait is made
 * holding nothing of the object's; the page is then looked up again.  Returns the page locked
 * and not under writeback, with @obj->clone_sem held for read so that pfn
 * mode can make it writable before a CLONE shares it, or an ERR_PTR with
 * nothing held.
 */
static struct page *cowdev_fault_shared_write(struct cowdev_object *obj,
					      struct cowdev_fault *cf)
{
	pgoff_t pgoff = cf->vmf->pgoff;
	struct page *page;
	int ret;

	do {
		ret = cowdev_lock_clone_read(obj, cf);
		if (ret)
			return ERR_PTR(ret);
		page = cowdev_object_grab_page(obj, pgoff, cf);
		if (!IS_ERR(page))
			page = cowdev_cow_unshare(obj, pgoff, page, cf);
		if (IS_ERR(page)) {
			percpu_up_read(&obj->clone_sem);
			return page;
		}
		if (!folio_test_writeback(page_folio(page)))
			return page;
		percpu_up_read(&obj->clone_sem);
		ret = cowdev_wait_writeback(obj, pgoff, page, cf);
		if (!ret)	/* it ended before the wait: look again */
			cowdev_unlock_page(obj, pgoff, page);
		put_page(page);
	} while (ret >= 0);
	return ERR_PTR(ret);
}

static vm_fault_t cowdev_do_fault(struct cowdev_object *obj,
				  struct cowdev_fault *cf,
				  const struct cowdev_window *win)
{
	struct vm_fault *vmf = cf->vmf;
	struct page *page;
	vm_fault_t ret;

	if (cowdev_vma_maps_pfns(vmf->vma)) {
		ret = cowdev_pfn_prealloc_table(vmf);
		if (ret)
			return ret;
	}
	if ((vmf->flags & FAULT_FLAG_WRITE) && (vmf->vma->vm_flags & VM_SHARED)) {
		page = cowdev_fault_shared_write(obj, cf);
		if (IS_ERR(page))
			return cowdev_fault_error(obj, PTR_ERR(page));
		/*
		 * pfn mode maps the page writable now, in one fault, as
		 * page mode's do_shared_fault() calls ->page_mkwrite on
		 * the page ->fault returned.  A read-only PTE would cost
		 * a second fault for ->pfn_mkwrite to decide again.
		 */
		if (cowdev_vma_maps_pfns(vmf->vma)) {
			ret = cowdev_pfn_write(obj, cf, page);
			cowdev_unlock_page(obj, vmf->pgoff, page);
			put_page(page);
			percpu_up_read(&obj->clone_sem);
			return ret;
		}
		percpu_up_read(&obj->clone_sem);
	} else {
		page = cowdev_object_grab_page(obj, vmf->pgoff, cf);
		if (IS_ERR(page))
			return cowdev_fault_error(obj, PTR_ERR(page));
	}

	/*
	 * With the faulting page locked, fault-around passes over it.  A
	 * fault that had to make its page is a first touch: the pages behind
	 * it are mapped already and those ahead are not there yet, so looking
	 * would only cost (it doubled the first-touch read), and is skipped.
	 */
	if (win && !cf->new_page)
		cowdev_fault_around(obj, vmf, win);

	/* Page mode, and private mappings in pfn mode (see cowdev_mmap()). */
	if (!cowdev_vma_maps_pfns(vmf->vma)) {
		/*
		 * Poisoned since it was looked up (memory_failure() sets the
		 * flag without the page lock), maybe while fault-around ran:
		 * __do_fault() would unmap a mapped one from its mapping,
		 * which a pool page has not got (NULL).  Looked at last; a
		 * few instructions of window stay open.
		 */
		if (unlikely(PageHWPoison(page))) {
			/* Our reference first: CLONE counts them under the lock. */
			put_page(page);
			cowdev_unlock_page(obj, vmf->pgoff, page);
			return VM_FAULT_HWPOISON;
		}
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
	struct cowdev_window win;
	bool around;
	vm_fault_t ret;

	/* Taken, and the slot emptied, even if a write has no use for it. */
	around = cowdev_around_window(vmf, &win) &&
		 !(vmf->flags & FAULT_FLAG_WRITE) &&
		 cowdev_may_fault_around(vmf->vma);
	cowdev_count_fault(obj, vmf);
	ret = cowdev_do_fault(obj, &cf, around ? &win : NULL);
	/* A major fault that retries makes the core count the retry major. */
	if (cf.major)
		ret |= VM_FAULT_MAJOR;
	trace_cowdev_fault(obj->id, vmf->pgoff, vmf->flags, READ_ONCE(obj->mode),
			   (__force unsigned int)ret);
	return cowdev_fault_finish(obj, &cf, ret);
}

/*
 * Send a write that ->page_mkwrite must not wait for back to ->fault,
 * which can wait holding nothing (cowdev_fault_shared_write()): the
 * access refaults on no PTE.  A write through a read-only PTE
 * (wp_page_shared()) needs it gone (with the page's other read-only PTEs:
 * a shared page is writable nowhere while a write to it is decided); a
 * first-touch write (do_shared_fault(), right after ->fault) has none yet.
 */
static vm_fault_t cowdev_mkwrite_refault(struct cowdev_object *obj,
					 struct vm_fault *vmf)
{
	if (!pte_none(vmf->orig_pte))
		unmap_mapping_pages(obj->inode->i_mapping, vmf->pgoff, 1,
				    false);
	return VM_FAULT_NOPAGE;
}

/*
 * do_page_mkwrite() calls this with vmf->flags reduced to FAULT_FLAG_WRITE
 * | FAULT_FLAG_MKWRITE: it may not drop the fault's lock, so it does not
 * wait for what can last: a CLONE, which holds clone_sem while it waits
 * on page locks, a writeback, and a write to the backing store, which
 * the writeback work makes holding the page lock of a page under
 * writeback.  clone_sem is only tried, and a page under writeback not
 * waited for: the access goes back to ->fault, which waits for them
 * holding nothing (see cowdev_cow_write()).  Other holders of the page
 * lock hold it for short decisions, and are waited for in place, as
 * filemap_page_mkwrite() waits, but killably.
 *
 * A reuse is counted here, before the core's finish_mkwrite_fault()
 * checks pte_same(): when another thread's fault on the same page made
 * the PTE writable first, or MADV_DONTNEED zapped it, the core sends the
 * access back to fault again, and the reuse counted stands for this
 * fault's decision, as pgfault counts the attempt.
 */
static vm_fault_t cowdev_page_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct page *page = vmf->page;
	vm_fault_t ret;

	cowdev_count(obj, COWDEV_STAT_MKWRITE);
	trace_cowdev_mkwrite(obj->id, vmf->pgoff, COWDEV_MODE_PAGE);
	if (!percpu_down_read_trylock(&obj->clone_sem))
		return cowdev_mkwrite_refault(obj, vmf);
	if (folio_test_writeback(page_folio(page)) ||
	    cowdev_lock_page_killable(obj, vmf->pgoff, page)) {
		percpu_up_read(&obj->clone_sem);
		return cowdev_mkwrite_refault(obj, vmf);
	}
	/* Truncated or replaced by a copy under us: refault. */
	if (!cowdev_object_page_valid(obj, vmf->pgoff, page))
		ret = VM_FAULT_NOPAGE;
	else
		ret = cowdev_cow_write(obj, vmf->pgoff, page, NULL);
	if (!ret)
		cowdev_cow_reuse(obj, vmf->pgoff, page);
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

/*
 * A write to a read-only pfn-mode PTE: wp_pfn_shared() calls this with the
 * fault's own flags, so it may retry.  The PTE may have been zapped since
 * the core looked (MADV_DONTNEED under the per-VMA lock, page table
 * reclaim); the write then gets a new writable PTE here, as a first-touch
 * write would, for the same locked, indexed page.
 */
static vm_fault_t cowdev_pfn_mkwrite(struct vm_fault *vmf)
{
	struct cowdev_object *obj = vmf->vma->vm_private_data;
	struct cowdev_fault cf = { .vmf = vmf };
	vm_fault_t ret = VM_FAULT_NOPAGE;
	struct page *page;

	cowdev_count(obj, COWDEV_STAT_PFN_MKWRITE);
	trace_cowdev_mkwrite(obj->id, vmf->pgoff, COWDEV_MODE_PFN);
	if (cowdev_lock_clone_read(obj, &cf)) {
		ret = VM_FAULT_RETRY;
	} else {
		page = cowdev_object_find_lock_page(obj, vmf->pgoff, &cf);
		if (IS_ERR(page)) {
			ret = VM_FAULT_RETRY;
		} else if (page) {
			ret = cowdev_pfn_write(obj, &cf, page);
			cowdev_unlock_page(obj, vmf->pgoff, page);
			put_page(page);
		}
		percpu_up_read(&obj->clone_sem);
	}
	/* NOPAGE keeps wp_pfn_shared() off the PTE, which is not ours now. */
	if (ret & VM_FAULT_RETRY)
		ret |= VM_FAULT_NOPAGE;
	return cowdev_fault_finish(obj, &cf, ret);
}

/*
 * Note the fault-around window for this fault's ->fault, which maps it
 * (see struct cowdev_around for why not here).  Called under RCU for read
 * faults only, when fault_around_bytes is above a page.  Nothing is noted
 * where fault-around cannot or must not map (cowdev_may_fault_around()).
 * Having ->map_pages also
 * keeps faults under the per-VMA lock from 6.7 (vmf_can_call_fault()): the
 * handlers use nothing but their own VMA, the object and page-table helpers
 * the core itself calls under that lock.
 */
static vm_fault_t cowdev_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff,
				   pgoff_t end_pgoff)
{
	struct cowdev_around *around;

	if (!cowdev_may_fault_around(vmf->vma))
		return 0;
	around = get_cpu_ptr(&cowdev_around);
	around->task = current;
	around->vmf = vmf;
	around->address = vmf->address;
	around->start = start_pgoff;
	around->end = end_pgoff;
	put_cpu_ptr(&cowdev_around);
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
 * Return: 0, -EINVAL for a range past %COWDEV_MAX_SIZE, or -EPERM for an
 * executable pfn-mode mapping where the instruction cache would not be
 * synced (see COWDEV_PFN_MODE_EXEC).
 */
int cowdev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct cowdev_object *obj = file->private_data;
	const unsigned long max_pages = COWDEV_MAX_SIZE >> PAGE_SHIFT;
	bool shared = vma->vm_flags & VM_MAYSHARE;
	int mode;

	if (vma->vm_pgoff > max_pages ||
	    vma_pages(vma) > max_pages - vma->vm_pgoff)
		return -EINVAL;
	mode = cowdev_object_map(obj, shared && (vma->vm_flags & VM_EXEC));
	if (mode < 0)
		return mode;
	/*
	 * pfn mode is for shared mappings.  A private mapping's copies are
	 * the core's (wp_page_copy()), and from a special PTE it has no page
	 * to copy from: it copies from the user address instead, which is in
	 * the wrong mm for a remote write (/proc/PID/mem, process_vm_writev)
	 * and unreadable for a FOLL_FORCE write into PROT_NONE, and warns.
	 * Private mappings get pages in either mode.
	 */
	if (mode == COWDEV_MODE_PFN && shared) {
		/* Never executable there: mprotect() is then EACCES. */
		if (!COWDEV_PFN_MODE_EXEC)
			vm_flags_clear(vma, VM_MAYEXEC);
		vm_flags_set(vma, VM_MIXEDMAP);
	}
	vma->vm_ops = &cowdev_vm_ops;
	vma->vm_private_data = obj;
	return 0;
}
