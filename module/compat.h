/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference cowdev meets, in one place.  Each shim
 * names the kernel that changed the interface.  The rest of the module is
 * written against the newest interface and never tests a version itself.
 *
 * module/Kbuild supplies the facts: COWDEV_KERNEL, the target's version as
 * COWDEV_KV(major, minor), and COWDEV_HAVE_* for headers, or declarations
 * in them, that mark an API.
 */
#ifndef _COWDEV_COMPAT_H
#define _COWDEV_COMPAT_H

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/shrinker.h>

/*
 * Differences that need no shim here, and why:
 * - class_create() lost its owner argument (6.4): cowdev is a misc device.
 * - __assign_str() lost its source argument (6.10): the tracepoints have
 *   scalar fields only.
 * - Page-flag helpers such as PageWaiters() went away (6.12): cowdev uses
 *   the folio helpers, which 6.1 already has.
 * - Faults run under the per-VMA lock only with ->map_pages (6.7); cowdev
 *   has one (cowdev_vm.c), and releases whichever lock the fault holds
 *   before it returns VM_FAULT_RETRY (cowdev_release_fault_lock() below).
 * - ->mmap_prepare (6.16): ->mmap still works, and setting both fails.
 */

#define COWDEV_KV(major, minor) ((major) * 256 + (minor))
#define COWDEV_BEFORE(major, minor) (COWDEV_KV(major, minor) > COWDEV_KERNEL)

/*
 * 6.3 made vma->vm_flags read-only behind vm_flags_set() and
 * vm_flags_clear().  Called from ->mmap only, where the VMA is not yet
 * visible to faults.
 */
#if COWDEV_BEFORE(6, 3)
static inline void vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/*
 * vmf_insert_mixed() took a pfn_t until <linux/pfn_t.h> went away (~6.17);
 * from then on it takes the raw pfn.
 */
#ifdef COWDEV_HAVE_PFN_T
#include <linux/pfn_t.h>
static inline vm_fault_t cowdev_insert_pfn(struct vm_area_struct *vma,
					   unsigned long addr, unsigned long pfn)
{
	return vmf_insert_mixed(vma, addr, __pfn_to_pfn_t(pfn, PFN_DEV));
}
#else
static inline vm_fault_t cowdev_insert_pfn(struct vm_area_struct *vma,
					   unsigned long addr, unsigned long pfn)
{
	return vmf_insert_mixed(vma, addr, pfn);
}
#endif

/*
 * A fault that returns VM_FAULT_RETRY releases the lock it was called with:
 * release_fault_lock() (6.6) knows the per-VMA lock; before it, faults ran
 * under mmap_lock only.
 */
static inline void cowdev_release_fault_lock(struct vm_fault *vmf)
{
#if COWDEV_BEFORE(6, 6)
	mmap_read_unlock(vmf->vma->vm_mm);
#else
	release_fault_lock(vmf);
#endif
}

/* pte_mkwrite() took the VMA in 6.6; pte_mkwrite_novma() is the old one. */
static inline pte_t cowdev_pte_mkwrite(pte_t pte)
{
#if COWDEV_BEFORE(6, 6)
	return pte_mkwrite(pte);
#else
	return pte_mkwrite_novma(pte);
#endif
}

/*
 * Zap the PTE at @addr in @vma alone, and invalidate it in the TLBs, as
 * MADV_DONTNEED does (under the mmap or VMA read lock).  The exported way
 * changed name: zap_page_range() until 6.2, zap_page_range_single() once
 * exported (6.8, for binder; declared but unexported before, 6.1.y
 * included), zap_special_vma_range() for VM_PFNMAP and VM_MIXEDMAP ranges
 * in 7.x.
 * module/Kbuild finds which in Module.symvers; without one there is no
 * pfn mode on arm64 (below).
 */
#if defined(COWDEV_HAVE_ZAP_SPECIAL_VMA_RANGE) || \
	defined(COWDEV_HAVE_ZAP_PAGE_RANGE_SINGLE) || \
	defined(COWDEV_HAVE_ZAP_PAGE_RANGE)
#define COWDEV_HAVE_ZAP_PTE 1
#else
#define COWDEV_HAVE_ZAP_PTE 0
#endif

static inline void cowdev_zap_pte(struct vm_area_struct *vma,
				  unsigned long addr)
{
#if defined(COWDEV_HAVE_ZAP_SPECIAL_VMA_RANGE)
	zap_special_vma_range(vma, addr, PAGE_SIZE);
#elif defined(COWDEV_HAVE_ZAP_PAGE_RANGE_SINGLE)
	zap_page_range_single(vma, addr, PAGE_SIZE, NULL);
#elif defined(COWDEV_HAVE_ZAP_PAGE_RANGE)
	zap_page_range(vma, addr, PAGE_SIZE);
#endif
}

/*
 * pfn mode sets special PTEs itself (cowdev_vm.c): from none, read-only for
 * fault-around and writable for a write, and it makes a read-only one
 * writable, the way ptep_set_access_flags() does, which modules cannot
 * call.  Where that may be done in place, COWDEV_PTE_UPGRADE_IN_PLACE:
 *
 * - x86: set_pte_at(), and no TLB flush for the upgrade: a page fault
 *   drops the faulting TLB entry, so a stale read-only one costs one
 *   spurious fault.
 * - arm64: a stale read-only TLB entry survives the permission fault it
 *   causes, and on 6.1 and 6.12 nothing drops it there
 *   (flush_tlb_fix_spurious_fault() is empty; 7.x made it a local
 *   invalidation), so the kernel invalidates it on every upgrade, and a
 *   module cannot: flush_tlb_page() calls an unexported mmu-notifier hook
 *   from 6.6.  cowdev zaps the read-only PTE instead (cowdev_zap_pte(),
 *   which invalidates), and sets the writable one from none: an invalid
 *   entry is never in a TLB, so that needs no flush, nor
 *   break-before-make.  set_pte_at() refers to mte_sync_tags(), which is
 *   not exported; for a special user PTE from none it does no more than
 *   set_pte(), which arm64 keeps for callers outside the core: tags and
 *   caches are synced, the page table check counts and contiguous ranges
 *   folded for normal PTEs only (6.9 for the last), and a user PTE needs
 *   no barrier.  A cowdev mapping is never PROT_MTE (anonymous and shmem
 *   mappings only).
 * - elsewhere there is no pfn mode: riscv's flush_tlb_page() is not
 *   exported either, and nothing has been checked.
 *
 * Not an interface change but an architecture one, kept here with the
 * other differences.
 */
#if defined(CONFIG_X86) || (defined(CONFIG_ARM64) && COWDEV_HAVE_ZAP_PTE)
#define COWDEV_HAVE_PFN_MODE 1
#else
#define COWDEV_HAVE_PFN_MODE 0
#endif
#define COWDEV_PTE_UPGRADE_IN_PLACE IS_ENABLED(CONFIG_X86)
/*
 * May a pfn-mode mapping be executable?  arm64 makes the instruction cache
 * see what the kernel wrote into a user page when it first maps the page
 * executable (__sync_icache_dcache(), PG_dcache_clean), and never under a
 * special PTE: a page the kernel wrote (a copy, a read from the store, a
 * clear for reuse) could run its old instructions.  x86 keeps the caches
 * coherent.
 */
#define COWDEV_PFN_MODE_EXEC IS_ENABLED(CONFIG_X86)
/* pfn mode upgrades a PTE in place or zaps it first; the stub does neither. */
static_assert(!COWDEV_HAVE_PFN_MODE || COWDEV_PTE_UPGRADE_IN_PLACE ||
	      COWDEV_HAVE_ZAP_PTE);

/*
 * Set a special PTE; only from none where !COWDEV_PTE_UPGRADE_IN_PLACE.
 * arm64's set_pte() is the one PTE setter a module can call there without
 * mte_sync_tags(); should it go, pfn mode goes with it on arm64.
 */
static inline void cowdev_set_special_pte(struct mm_struct *mm,
					  unsigned long addr, pte_t *ptep,
					  pte_t pte)
{
#ifdef CONFIG_ARM64
	VM_WARN_ON_ONCE(!pte_special(pte) || !pte_none(ptep_get(ptep)));
	set_pte(ptep, pte);
#else
	set_pte_at(mm, addr, ptep, pte);
#endif
}

/*
 * copy_mc_highpage() (not in 6.1): a page copy that fails, rather than
 * takes the machine down, when it reads memory with an uncorrected error
 * (copy_mc_to_kernel(), x86), and has memory_failure() mark the source
 * poisoned; a plain copy where the architecture has no such copy.  6.1's
 * copy_mc_user_highpage() is the same copy but leaves the marking to its
 * caller (__wp_page_copy_user()); the address and VMA are read only by
 * copy_user_highpage(), its fallback, whose x86 and arm64 versions ignore
 * them.
 */
#ifndef COWDEV_HAVE_COPY_MC_HIGHPAGE
static inline int copy_mc_highpage(struct page *to, struct page *from)
{
	int ret = copy_mc_user_highpage(to, from, 0, NULL);

	if (ret)
		memory_failure_queue(page_to_pfn(from), 0);
	return ret;
}
#endif

/*
 * Page mode's fault-around maps pages the object already holds, with a
 * normal PTE, from ->fault.  vmf_insert_page_mkwrite() (6.15) does that in
 * any VMA.  Before it, vm_insert_page() and vm_insert_pages() are the only
 * ways, and from a fault they need VM_MIXEDMAP set at mmap time, which
 * would make page-mode VMAs VM_SPECIAL: never merged again after an
 * mprotect() splits them (so mremap() across the pieces fails where a
 * memfd's succeeds), not mlocked.  Page mode keeps a file's semantics on
 * those kernels and maps one page per fault; pfn mode faults around on
 * every kernel (cowdev_vm.c).
 */
#ifndef COWDEV_HAVE_VMF_INSERT_PAGE_MKWRITE
#define COWDEV_HAVE_PAGE_FAULT_AROUND 0
static inline vm_fault_t cowdev_insert_page(struct vm_area_struct *vma,
					    unsigned long addr,
					    struct page *page)
{
	return VM_FAULT_SIGBUS;
}
#else
#define COWDEV_HAVE_PAGE_FAULT_AROUND 1
static inline vm_fault_t cowdev_insert_page(struct vm_area_struct *vma,
					    unsigned long addr,
					    struct page *page)
{
	struct vm_fault vmf = { .vma = vma, .address = addr };

	return vmf_insert_page_mkwrite(&vmf, page, false);
}
#endif

/*
 * Since kiocb_write_and_wait() (6.6) a direct read with IOCB_NOWAIT
 * answers -EAGAIN if its range needs writeback and otherwise starts none;
 * before it, iomap_dio_rw() went on to filemap_write_and_wait_range(),
 * which with dirty pages anywhere in the file reaches ->writepages (ext4's
 * takes s_writepages_rwsem).  There cowdev reads a store with dirty pages
 * through its page cache (cowdev_backing.c).
 */
#ifdef COWDEV_HAVE_KIOCB_WRITE_AND_WAIT
#define COWDEV_DIRECT_READ_WRITES_BACK 0
#else
#define COWDEV_DIRECT_READ_WRITES_BACK 1
#endif

/*
 * folio_mapcount() became an inline helper in ~6.10; on 6.1 it is an
 * unexported function, and page_mapcount() says the same for the order-0
 * pages cowdev maps.
 */
static inline int cowdev_mapcount(struct page *page)
{
#if COWDEV_BEFORE(6, 10)
	return page_mapcount(page);
#else
	return folio_mapcount(page_folio(page));
#endif
}

/*
 * 6.7 replaced register_shrinker(&shrinker, name) with the allocated
 * shrinker_alloc()/shrinker_register()/shrinker_free().
 */
static inline struct shrinker *
cowdev_shrinker_create(const char *name,
		       unsigned long (*count)(struct shrinker *,
					      struct shrink_control *),
		       unsigned long (*scan)(struct shrinker *,
					     struct shrink_control *))
{
#if COWDEV_BEFORE(6, 7)
	struct shrinker *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	if (register_shrinker(s, "%s", name)) {
		kfree(s);
		return NULL;
	}
#else
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	shrinker_register(s);
#endif
	return s;
}

static inline void cowdev_shrinker_destroy(struct shrinker *s)
{
#if COWDEV_BEFORE(6, 7)
	unregister_shrinker(s);
	kfree(s);
#else
	shrinker_free(s);
#endif
}

/*
 * The first argument of the function an ftrace_ops hooks at its entry
 * (cowdev_probe.c), from the registers ftrace saves for every ops
 * (DYNAMIC_FTRACE_WITH_ARGS), not a full pt_regs, which arm64 cannot give
 * from 6.2 (it dropped DYNAMIC_FTRACE_WITH_REGS).  ftrace_regs_get_argument()
 * is a macro on x86 and a function on arm64 (module/Kbuild looks for it);
 * 6.1 has it on no architecture, and there
 * struct ftrace_regs is a pt_regs in which the entry code saved the
 * argument registers for every ops: x86's ftrace_caller, and arm64's
 * ftrace_caller as well as ftrace_regs_caller (entry-ftrace.S saves x0-x9
 * in both; only ftrace_regs_caller adds the rest).  Elsewhere the hook is
 * left out and core_copy reports unavailable.
 */
#include <linux/ftrace.h>
#if !defined(CONFIG_DYNAMIC_FTRACE)
#define COWDEV_HAVE_FTRACE_HOOK 0
#elif defined(ftrace_regs_get_argument) || \
	(defined(COWDEV_HAVE_FTRACE_REGS_GET_ARGUMENT) && \
	 defined(CONFIG_DYNAMIC_FTRACE_WITH_ARGS))
#define COWDEV_HAVE_FTRACE_HOOK 1
#define cowdev_ftrace_arg0(fregs) ftrace_regs_get_argument(fregs, 0)
#elif (defined(CONFIG_X86_64) && defined(CONFIG_DYNAMIC_FTRACE_WITH_ARGS)) || \
	(defined(CONFIG_ARM64) && defined(CONFIG_DYNAMIC_FTRACE_WITH_REGS))
#define COWDEV_HAVE_FTRACE_HOOK 1
#define cowdev_ftrace_arg0(fregs) regs_get_kernel_argument(&(fregs)->regs, 0)
#else
#define COWDEV_HAVE_FTRACE_HOOK 0
#endif

#endif /* _COWDEV_COMPAT_H */
