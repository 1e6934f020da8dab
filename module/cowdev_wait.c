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
 * when the core allows a retry, the wait is put off until the handler has
 * let go of everything it holds (cowdev_fault_finish()); then the fault's
 * lock (mmap_lock or the per-VMA lock) is dropped, the file pinned so the
 * object outlives the wait, and the fault sleeps killably until the bit is
 * clear and returns VM_FAULT_RETRY.  A page held for a long fill or
 * writeback blocks neither the rest of the address space nor a kill.
 * A major fault's read is put off the same way, so that the read of an
 * evicted page holds neither mmap_lock nor the VMA lock.
 * A fault that may not retry waits in place, killably if it may, and
 * never for a writeback with the page locked; ioctls wait uninterruptibly,
 * as the page cache's truncation does, but never while holding a page lock
 * for a writeback (cowdev_lock_page_stable()).
 */
#include <linux/file.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>

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
	unsigned long flags;
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
	/* Interrupts off: a reset zeroes it from one (cowdev_stats.c). */
	local_irq_save(flags);
	c = this_cpu_ptr(obj->stats);
	c->wait_ns_max = max(c->wait_ns_max, ns);
	c = this_cpu_ptr(cowdev_global_stats);
	c->wait_ns_max = max(c->wait_ns_max, ns);
	local_irq_restore(flags);
	trace_cowdev_wait_end(obj->id, pgoff, bit, ns);
	return ret;
}

/* Put off a fault's wait on @bit of @page; the fault returns VM_FAULT_RETRY. */
static int cowdev_defer_wait(struct cowdev_fault *cf, pgoff_t pgoff,
			     struct page *page, enum cowdev_bit bit)
{
	get_page(page);
	cf->wait_page = page;
	cf->wait_pgoff = pgoff;
	cf->wait_bit = bit;
	return -EAGAIN;
}

/*
 * May the fault put its wait off?  With FAULT_FLAG_RETRY_NOWAIT it must
 * not sleep at all (it returns VM_FAULT_RETRY holding its lock); on a first
 * try that allows a retry it sleeps later, holding nothing.
 */
static bool cowdev_fault_may_defer(struct cowdev_fault *cf)
{
	return (cf->vmf->flags & FAULT_FLAG_RETRY_NOWAIT) ||
	       fault_flag_allow_retry_first(cf->vmf->flags);
}

/*
 * May a wait in place end on a fatal signal?  Only if the fault could then
 * release its lock and return VM_FAULT_RETRY, which ALLOW_RETRY promises.
 */
static bool cowdev_fault_killable(struct cowdev_fault *cf)
{
	const unsigned int both = FAULT_FLAG_KILLABLE | FAULT_FLAG_ALLOW_RETRY;

	return (cf->vmf->flags & both) == both;
}

/**
 * cowdev_alloc_at_limit() - a page from a pool at its limit
 * @cf: the fault that needs it, or NULL
 * @how: what an allocation outside a fault may do
 *
 * A fault waits for the reclaimer, as an allocation enters direct reclaim.
 * On a first try that may retry it waits having let go of everything,
 * mmap_lock or the VMA lock included (see cowdev_fault_finish()), and
 * retries: the wait can last as long as the reclaimer's writes to a store.
 * The retry waits in place, as filemap_fault() takes a page lock in place
 * on FAULT_FLAG_TRIED, for one pass only (%COWDEV_ALLOC_WAIT_ONCE): it
 * holds mmap_lock.  A fault that must not wait (FAULT_FLAG_RETRY_NOWAIT)
 * wakes the reclaimer instead and is retried later, as one that must not
 * wait for a read is.  A wait in place that a fatal signal ends retries
 * the fault, if it may, rather than SIGBUS it.
 *
 * Return: as cowdev_pool_alloc(); ERR_PTR(-EAGAIN) with @cf->wait_reclaim
 * or @cf->nowait set, or ERR_PTR(-EINTR) with @cf->killed set: the fault
 * returns VM_FAULT_RETRY.
 */
struct page *cowdev_alloc_at_limit(struct cowdev_fault *cf,
				   enum cowdev_alloc_how how)
{
	unsigned int flags;
	struct page *page;

	if (!cf)
		return cowdev_pool_alloc(how);
	flags = cf->vmf->flags;
	if (flags & FAULT_FLAG_RETRY_NOWAIT) {
		/* It may neither sleep nor let go of its lock. */
		if (!cowdev_backing_any())
			return ERR_PTR(-ENOSPC);
		cowdev_reclaim_wake(true);
		cf->nowait = true;
		return ERR_PTR(-EAGAIN);
	}
	if (fault_flag_allow_retry_first(flags) && cowdev_backing_any()) {
		cf->wait_reclaim = true;
		return ERR_PTR(-EAGAIN);
	}
	page = cowdev_pool_alloc(flags & FAULT_FLAG_TRIED ?
				 COWDEV_ALLOC_WAIT_ONCE : COWDEV_ALLOC_WAIT);
	if (page == ERR_PTR(-ENOSPC) && cowdev_fault_killable(cf) &&
	    fatal_signal_pending(current)) {
		cf->killed = true;
		return ERR_PTR(-EINTR);
	}
	return page;
}

/**
 * cowdev_lock_page_killable() - lock an object's page, or give up when
 *	killed
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page; the caller holds a reference
 *
 * For a fault's killable wait in place (cowdev_lock_page()), and for
 * ->page_mkwrite, which may not retry but may give up: the access then
 * faults again, and the task dies on its way back to user space.
 *
 * Return: 0 with @page locked, or -EINTR on a fatal signal.
 */
int cowdev_lock_page_killable(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page)
{
	if (likely(folio_trylock(page_folio(page))))
		return 0;
	return cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_LOCKED,
				COWDEV_WAIT_TAKE_KILLABLE);
}

/**
 * cowdev_lock_page() - lock an object's page, making any wait visible
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page; the caller holds a reference
 * @cf: the fault that needs the page, or NULL outside a fault
 *
 * Return: 0 with @page locked; only with @cf, -EAGAIN when the wait was put
 * off (see cowdev_fault_finish()) or -EINTR when a killable wait was
 * interrupted, @page not locked in either case.
 */
int cowdev_lock_page(struct cowdev_object *obj, pgoff_t pgoff,
		     struct page *page, struct cowdev_fault *cf)
{
	if (likely(folio_trylock(page_folio(page))))
		return 0;
	if (!cf)
		return cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_LOCKED,
					COWDEV_WAIT_TAKE);
	if (cowdev_fault_may_defer(cf))
		return cowdev_defer_wait(cf, pgoff, page, COWDEV_BIT_LOCKED);
	if (!cowdev_fault_killable(cf))
		return cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_LOCKED,
					COWDEV_WAIT_TAKE);
	if (!cowdev_lock_page_killable(obj, pgoff, page))
		return 0;
	cf->killed = true;
	return -EINTR;
}

/**
 * cowdev_lock_page_stable() - lock a page that is not under writeback
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page; the caller holds a reference
 *
 * For truncation, which must not free a page under writeback.  Unlike
 * truncate_inode_pages_range(), which waits with the folio locked, the
 * writeback is waited for with the page unlocked: ->page_mkwrite cannot
 * retry, and would otherwise sit on the lock with mmap_lock held for as
 * long as the writeback lasts.
 */
void cowdev_lock_page_stable(struct cowdev_object *obj, pgoff_t pgoff,
			     struct page *page)
{
	for (;;) {
		if (folio_test_writeback(page_folio(page)))
			cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_WRITEBACK,
					 COWDEV_WAIT_CLEAR);
		cowdev_lock_page(obj, pgoff, page, NULL);
		if (likely(!folio_test_writeback(page_folio(page))))
			return;
		cowdev_unlock_page(obj, pgoff, page);
	}
}

/**
 * cowdev_wait_writeback() - make a fault's page stable for a write
 * @obj: the object the page belongs to
 * @pgoff: its offset in @obj, for the trace
 * @page: the page, locked, so that no new writeback can start
 * @cf: the write fault
 *
 * A page under writeback is stable: a write fault waits for the writeback
 * to end before it maps the page writable.  It never waits holding the
 * page lock, which ->page_mkwrite (no retry) may need meanwhile.
 *
 * Return: 0 with @page still locked and not under writeback; 1 when it
 * waited with @page unlocked and the caller must look the page up again;
 * -EAGAIN when the wait was put off (see cowdev_fault_finish()) or -EINTR
 * when a killable wait was interrupted, @page unlocked in every case but 0.
 */
int cowdev_wait_writeback(struct cowdev_object *obj, pgoff_t pgoff,
			  struct page *page, struct cowdev_fault *cf)
{
	int ret = 1;

	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)), page_folio(page));
	if (likely(!folio_test_writeback(page_folio(page))))
		return 0;
	cowdev_unlock_page(obj, pgoff, page);
	if (cowdev_fault_may_defer(cf))
		return cowdev_defer_wait(cf, pgoff, page, COWDEV_BIT_WRITEBACK);
	if (!cowdev_fault_killable(cf)) {
		cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_WRITEBACK,
				 COWDEV_WAIT_CLEAR);
	} else if (cowdev_wait_slow(obj, pgoff, page, COWDEV_BIT_WRITEBACK,
				    COWDEV_WAIT_CLEAR_KILLABLE)) {
		cf->killed = true;
		ret = -EINTR;
	}
	return ret;
}

/**
 * cowdev_lock_fill() - hold truncation off to read an evicted page back
 * @obj: the object
 * @cf: the fault that reads, or NULL outside a fault
 *
 * Takes the invalidate lock of @obj's mapping shared (see
 * cowdev_object_fill()).  Truncation and CLONE hold it exclusive for as
 * long as they wait on page locks and writebacks, up to a writeback's
 * 10 s: a fault that may retry does not wait for it holding its own lock,
 * but puts the wait off, killably, as it puts off a page-lock wait.
 *
 * Return: 0 with the lock held; -EAGAIN when the wait was put off and the
 * fault must return VM_FAULT_RETRY.
 */
int cowdev_lock_fill(struct cowdev_object *obj, struct cowdev_fault *cf)
{
	struct address_space *mapping = obj->inode->i_mapping;

	if (filemap_invalidate_trylock_shared(mapping))
		return 0;
	if (cf && cowdev_fault_may_defer(cf)) {
		cf->wait_fill = true;
		return -EAGAIN;
	}
	filemap_invalidate_lock_shared(mapping);
	return 0;
}

/*
 * Has the CLONE that held @obj's clone_sem, found taken after @seen was
 * read, let go of it?  (Later CLONEs do not hold the fault up.)
 */
static bool cowdev_clone_over(struct cowdev_object *obj, unsigned long seen)
{
	return READ_ONCE(obj->clones_over) != seen;
}

/**
 * cowdev_lock_clone_read() - take an object's clone_sem for a write fault
 * @obj: the object
 * @cf: the write fault
 *
 * A CLONE holds clone_sem for write while it waits on the object's page
 * locks, which a writeback's or an eviction's write to a slow store holds
 * for as long as the store takes: a fault that may retry does not wait
 * for the CLONE holding its own lock (mmap_lock or the VMA lock), but puts
 * the wait off (cowdev_fault_finish()), as it puts off a page-lock wait.
 * One that may not retry waits in place, killably if it may: there is no
 * killable percpu_down_read(), so it sleeps on @obj->clone_wait until the
 * CLONE is over and tries again.
 *
 * Return: 0 with clone_sem held for read; -EAGAIN when the wait was put
 * off, or -EINTR when a killable wait was interrupted (the fault returns
 * VM_FAULT_RETRY).
 */
int cowdev_lock_clone_read(struct cowdev_object *obj, struct cowdev_fault *cf)
{
	unsigned long seen;

	do {
		/*
		 * Read first: the trylock is a full barrier, and a CLONE that
		 * makes it fail counts itself over only after it.
		 */
		seen = READ_ONCE(obj->clones_over);
		if (likely(percpu_down_read_trylock(&obj->clone_sem)))
			return 0;
		if (cowdev_fault_may_defer(cf)) {
			cf->wait_clone = true;
			cf->clones_over = seen;
			return -EAGAIN;
		}
		if (!cowdev_fault_killable(cf)) {
			percpu_down_read(&obj->clone_sem);
			return 0;
		}
	} while (!wait_event_killable(obj->clone_wait,
				      cowdev_clone_over(obj, seen)));
	cf->killed = true;
	return -EINTR;
}

/**
 * cowdev_wait_readahead() - let readahead in flight bring a page in
 * @obj: the object
 * @pgoff: an evicted page a fault needs
 * @cf: the fault
 *
 * A fault on a page of the window being read ahead waits for that read,
 * as filemap_fault() waits on the locked folio an async readahead added,
 * rather than reading the page a second time: having let go of its lock
 * (cowdev_fault_finish()), and then retries.  A fault that may not retry
 * (the retry itself, when the work could not take the page: no room in
 * the pool, a failed read) reads the page in place, as filemap_fault()
 * reads in place on FAULT_FLAG_TRIED.
 *
 * Return: 0 to read the page; -EAGAIN when the wait was put off and the
 * fault must return VM_FAULT_RETRY.
 */
int cowdev_wait_readahead(struct cowdev_object *obj, pgoff_t pgoff,
			  struct cowdev_fault *cf)
{
	if (!fault_flag_allow_retry_first(cf->vmf->flags) ||
	    !cowdev_readahead_busy(obj, pgoff))
		return 0;
	cf->wait_ra = true;
	cf->wait_pgoff = pgoff;
	return -EAGAIN;
}

/**
 * cowdev_fault_finish() - the last thing a fault handler does
 * @obj: the object faulting
 * @cf: the fault
 * @ret: what the handler returns; VM_FAULT_RETRY if it put off a wait or
 *	a read, or was killed in a wait
 *
 * Does the read the handler put off, as filemap_fault() reads with the
 * fault's lock dropped (maybe_unlock_mmap_for_io()): it pins the file,
 * releases the fault's lock, reads the page with it locked, so that every
 * other fault on it waits, and unlocks it; the retry maps it.  Does the
 * wait the handler put off, now that it holds nothing: unless
 * the fault had FAULT_FLAG_RETRY_NOWAIT (the core then expects its lock
 * still held), it pins the file, releases the fault's lock, sleeps until
 * the bit is clear (killably if the fault is) and drops the file.  A wait
 * for the reclaimer (cowdev_alloc_at_limit()) or for a CLONE
 * (cowdev_lock_clone_read()) is done the same way.  A
 * fault killed in a wait in place releases its lock too.  The caller must not
 * touch @obj or the VMA afterwards: with the lock gone, the last munmap
 * and close may free them.
 *
 * Return: @ret.
 */
vm_fault_t cowdev_fault_finish(struct cowdev_object *obj,
			       struct cowdev_fault *cf, vm_fault_t ret)
{
	struct address_space *mapping = obj->inode->i_mapping;
	struct vm_fault *vmf = cf->vmf;
	struct file *file;

	/* Nothing is put off, or its lock let go, under RETRY_NOWAIT. */
	WARN_ON_ONCE((vmf->flags & FAULT_FLAG_RETRY_NOWAIT) &&
		     (cf->wait_reclaim || cf->killed));
	/* VM_FAULT_RETRY exactly when a wait or read was put off or killed. */
	WARN_ON_ONCE(!!(ret & VM_FAULT_RETRY) !=
		     (cf->wait_page || cf->read_page || cf->wait_fill ||
		      cf->wait_ra || cf->wait_reclaim || cf->wait_clone ||
		      cf->killed || cf->nowait));
	if (cf->read_page) {
		file = get_file(vmf->vma->vm_file);
		cowdev_release_fault_lock(vmf);
		/* On a failure the page is gone, and the retry reads again. */
		if (!cowdev_object_fill(obj, cf->read_pgoff, cf->read_page,
					&cf->read_window)) {
			cowdev_unlock_page(obj, cf->read_pgoff, cf->read_page);
			put_page(cf->read_page);
		}
		fput(file);
	} else if (cf->wait_fill) {
		if (!(vmf->flags & FAULT_FLAG_RETRY_NOWAIT)) {
			file = get_file(vmf->vma->vm_file);
			cowdev_release_fault_lock(vmf);
			/* Only to see it free: the retry takes it again. */
			if (!down_read_killable(&mapping->invalidate_lock))
				filemap_invalidate_unlock_shared(mapping);
			fput(file);
		}
	} else if (cf->wait_ra) {
		file = get_file(vmf->vma->vm_file);
		cowdev_release_fault_lock(vmf);
		if (vmf->flags & FAULT_FLAG_KILLABLE)
			wait_event_killable(obj->ra.wait,
					    !cowdev_readahead_busy(obj,
								   cf->wait_pgoff));
		else
			wait_event(obj->ra.wait,
				   !cowdev_readahead_busy(obj, cf->wait_pgoff));
		fput(file);
	} else if (cf->wait_clone) {
		if (!(vmf->flags & FAULT_FLAG_RETRY_NOWAIT)) {
			unsigned long seen = cf->clones_over;

			file = get_file(vmf->vma->vm_file);
			cowdev_release_fault_lock(vmf);
			if (vmf->flags & FAULT_FLAG_KILLABLE)
				wait_event_killable(obj->clone_wait,
						    cowdev_clone_over(obj, seen));
			else
				wait_event(obj->clone_wait,
					   cowdev_clone_over(obj, seen));
			fput(file);
		}
	} else if (cf->wait_reclaim) {
		file = get_file(vmf->vma->vm_file);
		cowdev_release_fault_lock(vmf);
		/* Whatever came of it, the retry asks the pool again. */
		cowdev_reclaim_wait(true);
		fput(file);
	} else if (cf->wait_page) {
		if (!(vmf->flags & FAULT_FLAG_RETRY_NOWAIT)) {
			file = get_file(vmf->vma->vm_file);
			cowdev_release_fault_lock(vmf);
			cowdev_wait_slow(obj, cf->wait_pgoff, cf->wait_page,
					 cf->wait_bit,
					 vmf->flags & FAULT_FLAG_KILLABLE ?
					 COWDEV_WAIT_CLEAR_KILLABLE :
					 COWDEV_WAIT_CLEAR);
			fput(file);
		}
		put_page(cf->wait_page);
	} else if (cf->killed) {
		cowdev_release_fault_lock(vmf);
	}
	return ret;
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
