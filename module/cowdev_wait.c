// SPDX-License-Identifier: GPL-2.0
/*
 * Waits on the kernel's own page bits, made visible.
 *
 * cowdev's pages use the real PG_locked and PG_writeback bits, so waiters
 * sleep in folio_wait_bit_common() on the kernel's hashed page wait queues
 * and are woken by folio_wake_bit() for exactly their page and bit.  These
 * helpers wrap the waits: the uncontended case costs a trylock or a bit
 * test; a wait is counted (lock_waits, writeback_waits), timed (wait_ns_*)
 * and traced (cowdev_wait_start, cowdev_wait_end, cowdev_wake).
 *
 * A fault waits the way filemap_fault() does (__folio_lock_or_retry()):
 * when the core allows a retry it drops the fault's lock (mmap_lock or the
 * per-VMA lock), sleeps killably until the bit is clear and has the fault
 * retried with VM_FAULT_RETRY, so that a page held for a long fill or
 * writeback blocks neither the rest of the address space nor a kill.
 * Everyone else (ioctls, truncation) waits as the page cache's own
 * truncation does, uninterruptibly.
 */
#include <linux/file.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/pagemap.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

/* How a slow wait ends. */
enum cowdev_wait_how {
	COWDEV_WAIT_TAKE,		/* own the bit (PG_locked only) */
	COWDEV_WAIT_TAKE_KILLABLE,	/* own it, or give up on a fatal signal */
	COWDEV_WAIT_CLEAR,		/* see it clear */
	COWDEV_WAIT_CLEAR_KILLABLE,	/* see it clear, or a fatal signal */
};

static int cowdev_wait_bit(struct page *page, enum cowdev_bit bit,
			   enum cowdev_wait_how how)
{
	struct folio *folio = page_folio(page);

	switch (how) {
	case COWDEV_WAIT_TAKE:
		folio_lock(folio);
		return 0;
	case COWDEV_WAIT_TAKE_KILLABLE:
		return folio_lock_killable(folio);
	case COWDEV_WAIT_CLEAR:
		if (bit == COWDEV_BIT_LOCKED)
			folio_wait_locked(folio);
		else
			folio_wait_writeback(folio);
		return 0;
	default:
		if (bit == COWDEV_BIT_LOCKED)
			return folio_wait_locked_killable(folio);
		return folio_wait_writeback_killable(folio);
	}
}

/* Sleep on @bit of @page as @how says; count, time and trace it. */
static int cowdev_wait_slow(struct cowdev_object *obj, pgoff_t pgoff,
			    struct page *page, enum cowdev_bit bit,
			    enum cowdev_wait_how how)
{
	struct cowdev_counters *c;
	u64 start, ns;
	int ret;

	trace_cowdev_wait_start(obj->id, pgoff, bit);
	start = ktime_get_ns();
	ret = cowdev_wait_bit(page, bit, how);
	ns = ktime_get_ns() - start;

	cowdev_count(obj, bit == COWDEV_BIT_LOCKED ? COWDEV_STAT_LOCK_WAITS :
						     COWDEV_STAT_WRITEBACK_WAITS);
	this_cpu_add(obj->stats->v[COWDEV_STAT_WAIT_NS_TOTAL], ns);
	this_cpu_add(cowdev_global_stats->v[COWDEV_STAT_WAIT_NS_TOTAL], ns);
	preempt_disable();
	c = this_cpu_ptr(obj->stats);
	c->wait_ns_max = max(c->wait_ns_max, ns);
	c = this_cpu_ptr(cowdev_global_stats);
	c->wait_ns_max = max(c->wait_ns_max, ns);
	preempt_enable();
	trace_cowdev_wait_end(obj->id, pgoff, bit, ns);
	return ret;
}

/*
 * A fault must sleep on @bit of @page.  If the core lets it retry, drop the
 * fault's lock, wait for the bit to clear and return -EAGAIN (the fault
 * returns VM_FAULT_RETRY); with FAULT_FLAG_RETRY_NOWAIT return -EAGAIN at
 * once, the lock still held, as the core expects.  Otherwise wait in place
 * (owning PG_locked), killably if the fault is: 0, or -EAGAIN with the lock
 * dropped on a fatal signal.
 *
 * The VMA may be gone once its lock is dropped, and the object with it
 * when its file is closed: the wait holds the file, as filemap_fault()'s
 * maybe_unlock_mmap_for_io() does.  The caller holds @page.
 */
static int cowdev_fault_wait(struct cowdev_object *obj, pgoff_t pgoff,
			     struct page *page, enum cowdev_bit bit,
			     struct vm_fault *vmf)
{
	bool killable = vmf->flags & FAULT_FLAG_KILLABLE;
	struct file *file;

	if (fault_flag_allow_retry_first(vmf->flags)) {
		if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
			return -EAGAIN;
		file = get_file(vmf->vma->vm_file);
		cowdev_release_fault_lock(vmf);
		cowdev_wait_slow(obj, pgoff, page, bit, killable ?
				 COWDEV_WAIT_CLEAR_KILLABLE : COWDEV_WAIT_CLEAR);
		fput(file);
		return -EAGAIN;
	}
	if (bit == COWDEV_BIT_LOCKED) {
		if (!cowdev_wait_slow(obj, pgoff, page, bit, killable ?
				      COWDEV_WAIT_TAKE_KILLABLE : COWDEV_WAIT_TAKE))
			return 0;
	} else if (!cowdev_wait_slow(obj, pgoff, page, bit, killable ?
				     COWDEV_WAIT_CLEAR_KILLABLE :
				     COWDEV_WAIT_CLEAR)) {
		return 0;
	}
	cowdev_release_fault_lock(vmf);
	return -EAGAIN;
}

/**
 * cowdev_lock_page() - lock an object's page, making any wait visible
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page; the caller holds a reference
 * @vmf: the fault that needs the page, or NULL outside a fault
 *
 * Return: 0 with @page locked; -EAGAIN (only with @vmf) when the fault
 * must return VM_FAULT_RETRY: the page is not locked and, unless the fault
 * had FAULT_FLAG_RETRY_NOWAIT, the fault's lock has been released.
 */
int cowdev_lock_page(struct cowdev_object *obj, pgoff_t pgoff,
		     struct page *page, struct vm_fault *vmf)
{
	if (likely(folio_trylock(page_folio(page))))
		return 0;
	if (vmf)
		return cowdev_fault_wait(obj, pgoff, page, COWDEV_BIT_LOCKED,
					 vmf);
	return cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_LOCKED,
				COWDEV_WAIT_TAKE);
}

/**
 * cowdev_wait_writeback() - wait until a page is no longer under writeback
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page, locked, so that no new writeback can start
 * @vmf: the fault that waits, or NULL outside a fault
 *
 * Writers call this before making a page writable: a page under writeback
 * is stable.
 *
 * Return: 0 with @page still locked and not under writeback; -EAGAIN (only
 * with @vmf) when the fault must return VM_FAULT_RETRY, @page unlocked.
 */
int cowdev_wait_writeback(struct cowdev_object *obj, pgoff_t pgoff,
			  struct page *page, struct vm_fault *vmf)
{
	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
	if (likely(!folio_test_writeback(page_folio(page))))
		return 0;
	if (!vmf || !fault_flag_allow_retry_first(vmf->flags))
		return cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_WRITEBACK,
					COWDEV_WAIT_CLEAR);
	/* Sleep unlocked, as filemap_fault() does for I/O. */
	cowdev_unlock_page(obj, pgoff, page);
	return cowdev_fault_wait(obj, pgoff, page, COWDEV_BIT_WRITEBACK, vmf);
}

/**
 * cowdev_note_wake() - trace that a page bit is about to be released to
 *	waiters
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj
 * @page: the page
 * @bit: the bit to be cleared
 *
 * Call right before the bit is cleared, by this code or, for a page
 * returned VM_FAULT_LOCKED, by the core once it has mapped the page.  The
 * event fires only when the page has waiters (PG_waiters, which a page's
 * lock and writeback waiters share).
 */
void cowdev_note_wake(struct cowdev_object *obj, pgoff_t pgoff,
		      struct page *page, enum cowdev_bit bit)
{
	if (folio_test_waiters(page_folio(page)))
		trace_cowdev_wake(obj->id, pgoff, bit);
}

/**
 * cowdev_unlock_page() - unlock an object's page, tracing the wake
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj
 * @page: the locked page
 */
void cowdev_unlock_page(struct cowdev_object *obj, pgoff_t pgoff,
			struct page *page)
{
	cowdev_note_wake(obj, pgoff, page, COWDEV_BIT_LOCKED);
	folio_unlock(page_folio(page));
}
