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
 */
#include <linux/ktime.h>
#include <linux/pagemap.h>

#include "cowdev.h"
#include "cowdev_trace.h"

/* Sleep until @bit of @page is ours or clear; count, time and trace it. */
static void cowdev_wait_slow(struct cowdev_object *obj, pgoff_t pgoff,
			     struct page *page, enum cowdev_bit bit)
{
	struct cowdev_counters *c;
	u64 start, ns;

	trace_cowdev_wait_start(obj->id, pgoff, bit);
	start = ktime_get_ns();
	if (bit == COWDEV_BIT_LOCKED)
		folio_lock(page_folio(page));
	else
		folio_wait_writeback(page_folio(page));
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
}

/**
 * cowdev_lock_page() - lock an object's page, making any wait visible
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page
 */
void cowdev_lock_page(struct cowdev_object *obj, pgoff_t pgoff,
		      struct page *page)
{
	if (unlikely(!folio_trylock(page_folio(page))))
		cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_LOCKED);
}

/**
 * cowdev_wait_writeback() - wait until a page is no longer under writeback
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page, locked, so that no new writeback can start
 *
 * Writers call this before making a page writable: a page under writeback
 * is stable.
 */
void cowdev_wait_writeback(struct cowdev_object *obj, pgoff_t pgoff,
			   struct page *page)
{
	if (unlikely(folio_test_writeback(page_folio(page))))
		cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_WRITEBACK);
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
