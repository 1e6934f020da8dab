// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim: which pages of the objects with a backing store leave memory,
 * and when, without anyone asking for a range (COWDEV_IOC_EVICT is the
 * request; this is the kernel's kswapd and direct reclaim).
 *
 * When:
 * - At the pool's limit.  An allocation that would pass pool_limit_pages
 *   asks the reclaimer for a pass and waits until it has evicted a page,
 *   then tries again, as an allocation enters direct reclaim; when a pass
 *   evicts nothing it gets -ENOSPC (SIGBUS for a fault), as before there
 *   was reclaim.  So that faults seldom wait, the reclaimer is woken
 *   early, once fewer than cowdev_reclaim_low() pages are left under the
 *   limit (kswapd's low watermark), and evicts until twice that many are
 *   (its high one).  After a pass that found nothing it could evict, only
 *   allocations that must wait start one.
 * - Under memory pressure.  The shrinker asks the reclaimer for the
 *   pages the kernel wanted scanned; the pass then gives the pool's free
 *   pages back to the system (cowdev_pool_trim()).
 *
 * Which: a second-chance clock over each object's pages in offset order,
 * the objects taking turns (cowdev_backing_reclaim()).  A page a fault has
 * found since the hand last passed (PG_referenced: see
 * cowdev_reclaim_referenced(); fault-around does not mark, as the core
 * maps what it prefaults old) loses the bit and stays for one more turn;
 * any other is evicted as COWDEV_IOC_EVICT evicts it: unmapped from every
 * mapping, written first if dirty.  Pages mapped and used without a fault
 * look idle to the clock: pool pages are in no rmap the kernel could ask
 * for accessed bits (pfn mode has no struct page in its PTEs at all), so
 * an eviction is what samples them: the next access faults, is a major
 * fault if the page was evicted, and marks it.  An LRU by last fault would
 * need a list of every page, reordered on every fault under a lock that
 * faults on every CPU would share; the bit costs one atomic on a page
 * the fault already holds, and only for objects with a store.
 *
 * What stays: what COWDEV_IOC_EVICT leaves (a page clones share, a page
 * someone holds, a poisoned page, each left mapped), and what someone
 * holds locked, under writeback or mlocked; a waiter asks again for pages
 * under writeback, as for an object busy with an ioctl.  The reclaimer
 * only tries the objects' locks and their pages' (but for the lock of a
 * page it has just evicted, which nobody can be waiting on with anything
 * held: cowdev_cow_put_page()), so a fault or an ioctl that waits for it
 * never holds what it waits on.
 *
 * Writes to a store take its filesystem's locks (sb_writers, i_rwsem),
 * which the VFS takes before mmap_lock: a fault, which holds mmap_lock,
 * must not write, and leaves it to the reclaimer, a work item.  Since the
 * store can still hold the reclaimer up (frozen, throttled, or written by
 * someone faulting on an object), a wait for it is bounded, as direct
 * reclaim's waits for writeback are (cowdev_reclaim_wait()).  Writes made
 * by the reclaimer are charged to the root memory cgroup, and a failed
 * one is reported by the next WRITEBACK or EVICT, as a writeback's is.
 */
#include <linux/atomic.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/shrinker.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

/**
 * struct cowdev_reclaimer - the reclaimer's state
 * @lock: see the field; @futile is written under it, and read without
 * @work: a pass of the reclaimer
 * @wait: allocations waiting for a pass
 * @asked: passes asked for by waiting allocations (a ticket each)
 * @done: @asked as the last pass to end read it when it started: the
 *	tickets up to it are served
 * @busy: the last pass passed over an object busy with an ioctl, or pages
 *	under writeback: another pass may evict them
 * @futile: the last pass had pages to evict and evicted none; until one
 *	does, only allocations that must wait start passes, and the
 *	shrinker one a second
 * @stores: objects given a store, ever: a pass that saw it move is not
 *	futile, whatever it evicted
 * @ended_at: when the last pass ended, in jiffies
 * @evicted: pages evicted by passes, ever: waiters wake on each
 * @pressure: pages the shrinker has asked for and no pass has taken yet
 * @passes: passes run, for debugfs
 * @waits: allocations that waited for a pass, for debugfs
 * @asked_by_shrinker: pages the shrinker asked for, for debugfs
 */
struct cowdev_reclaimer {
	spinlock_t lock;		/* protects asked, done, busy, stores */
	struct work_struct work;
	wait_queue_head_t wait;
	unsigned long asked;
	unsigned long done;
	bool busy;
	bool futile;
	unsigned int stores;
	unsigned long ended_at;
	atomic_long_t evicted;
	atomic_long_t pressure;
	atomic_long_t passes;
	atomic_long_t waits;
	atomic_long_t asked_by_shrinker;
};

static void cowdev_reclaim_work(struct work_struct *work);

/*
 * Set up here rather than in cowdev_reclaim_init(): the debugfs stats
 * file, which cowdev_reclaim_show() reads this through, exists first.
 */
static struct cowdev_reclaimer cowdev_reclaimer = {
	.lock = __SPIN_LOCK_UNLOCKED(cowdev_reclaimer.lock),
	.work = __WORK_INITIALIZER(cowdev_reclaimer.work, cowdev_reclaim_work),
	.wait = __WAIT_QUEUE_HEAD_INITIALIZER(cowdev_reclaimer.wait),
};

static struct workqueue_struct *cowdev_reclaim_wq;
static struct shrinker *cowdev_reclaim_shrinker;

/* Count @nr pages evicted and wake their waiters; returns @nr. */
static unsigned long cowdev_reclaim_evicted(struct cowdev_object *obj,
					    unsigned long nr)
{
	if (!nr)
		return 0;
	cowdev_count_add(obj, COWDEV_STAT_RECLAIMED, nr);
	/* After the pages' room: a waiter looks there. */
	smp_mb__before_atomic();
	atomic_long_add(nr, &cowdev_reclaimer.evicted);
	if (wq_has_sleeper(&cowdev_reclaimer.wait))
		wake_up_all(&cowdev_reclaimer.wait);
	return nr;
}

/*
 * One object's turn of the clock, under its lock: evict up to @nr pages,
 * looking at each resident page at most twice (once to take its bit, once
 * to evict it), so from the hand round to it twice over.  The hand stays
 * where the turn ended.  Dirty pages are written in batches, each evicted
 * once the store has its batch on its disk (cowdev_backing_evict_page());
 * the turn ends with its batch flushed, and passes over the batch's own
 * pages if it comes round to them.  A store that fails a write, or whose
 * filesystem is frozen, is not written again this turn: its clean pages
 * can still go.  Pages evicted wake the allocations waiting for one (a
 * batch's, all at its flush).  A page passed over because it is under
 * writeback sets @writeback: the writeback will leave it clean, free to
 * go, as direct reclaim counts pages under writeback as worth retrying
 * for (should_reclaim_retry()); so does a dirty page of a frozen store,
 * which the thaw lets be written.
 * A locked page does not: its owner may be the very fault waiting for
 * this pass.
 */
static unsigned long cowdev_reclaim_scan(struct cowdev_object *obj,
					 unsigned long nr, bool *writeback)
{
	unsigned long budget = 2 * cowdev_object_resident(obj);
	unsigned long index = obj->reclaim_hand, freed = 0;
	enum cowdev_evict_how how = COWDEV_EVICT_TRY;
	struct cowdev_evict_batch batch = { };
	unsigned int wraps = 0;
	unsigned long got;
	struct page *page;
	int ret;

	lockdep_assert_held(&obj->lock);
	/* Pages written and waiting in the batch count toward @nr. */
	while (freed + batch.nr < nr && budget) {
		page = cowdev_object_find_get(obj, &index, ULONG_MAX);
		if (!page) {
			if (++wraps > 2)
				break;
			index = 0;
			continue;
		}
		budget--;
		/* Round to what it wrote: under writeback until the flush. */
		if (cowdev_backing_evict_batched(&batch, index) ||
		    folio_test_clear_referenced(page_folio(page))) {
			put_page(page);
		} else {
			got = 0;
			ret = cowdev_backing_evict_page(obj, index, page, how,
							&batch, &got);
			if (ret == -EAGAIN || ret == -EBUSY)
				*writeback = true;
			if (ret < 0 && ret != -EAGAIN)
				how = COWDEV_EVICT_CLEAN;
			freed += cowdev_reclaim_evicted(obj, got);
		}
		index++;
		cond_resched();
	}
	ret = cowdev_backing_evict_flush(obj, &batch, how);
	freed += cowdev_reclaim_evicted(obj, max(ret, 0));
	obj->reclaim_hand = index;
	return freed;
}

/* Pages a pass evicts: down to the high watermark, and what was asked. */
static unsigned long cowdev_reclaim_target(unsigned long pressure)
{
	unsigned long limit = READ_ONCE(cowdev_pool_limit);
	long want = cowdev_pool_used() + 2 * cowdev_reclaim_low(limit) - limit;

	return max(want, 0L) + pressure;
}

static void cowdev_reclaim_work(struct work_struct *work)
{
	struct cowdev_reclaimer *r = &cowdev_reclaimer;
	unsigned long asked, nr, pressure, evicted;
	bool waiters, busy = false, writeback = false;
	unsigned int stores;

	spin_lock(&r->lock);
	asked = r->asked;
	waiters = asked != r->done;
	stores = r->stores;
	spin_unlock(&r->lock);

	pressure = atomic_long_xchg(&r->pressure, 0);
	/* A waiter wants a page even if frees have brought the pool down. */
	nr = cowdev_reclaim_target(pressure) ?: waiters;
	evicted = nr ? cowdev_backing_reclaim(nr, cowdev_reclaim_scan, &busy,
					      &writeback) : 0;
	/* Under pressure, the pages go back to the system, not the cache. */
	if (pressure)
		cowdev_pool_trim();
	atomic_long_inc(&r->passes);
	trace_cowdev_reclaim(nr, evicted);

	spin_lock(&r->lock);
	r->done = asked;
	r->busy = busy || writeback;
	/*
	 * A writeback can last 10 s: no scan per allocation meanwhile.  A
	 * store given meanwhile may have what this pass lacked.
	 */
	WRITE_ONCE(r->futile, nr && !evicted && !busy && r->stores == stores);
	spin_unlock(&r->lock);
	WRITE_ONCE(r->ended_at, jiffies);
	wake_up_all(&r->wait);
}

/**
 * cowdev_reclaim_wake() - start a pass unless one is on its way
 * @always: even after a futile pass (a fault that will be retried needs
 *	one); the pool's low watermark does not start one then: a pool full
 *	of pages nothing can evict would have every allocation near the
 *	limit start a scan of them all
 *
 * No waiting.
 */
void cowdev_reclaim_wake(bool always)
{
	if (always || !READ_ONCE(cowdev_reclaimer.futile))
		queue_work(cowdev_reclaim_wq, &cowdev_reclaimer.work);
}

/**
 * cowdev_reclaim_new_store() - an object has just been given a store
 *
 * Its pages may be what the last, futile, pass lacked: the low watermark
 * and the shrinker start passes again at once.
 */
void cowdev_reclaim_new_store(void)
{
	spin_lock(&cowdev_reclaimer.lock);
	cowdev_reclaimer.stores++;
	WRITE_ONCE(cowdev_reclaimer.futile, false);
	spin_unlock(&cowdev_reclaimer.lock);
}

/* Ask for a pass: the ticket of the pass that serves the caller. */
static unsigned long cowdev_reclaim_ask(void)
{
	unsigned long ticket;

	spin_lock(&cowdev_reclaimer.lock);
	ticket = ++cowdev_reclaimer.asked;
	spin_unlock(&cowdev_reclaimer.lock);
	/* Queued again if a pass is running: it read @asked too early. */
	queue_work(cowdev_reclaim_wq, &cowdev_reclaimer.work);
	return ticket;
}

/* Has the pass for @ticket ended, and was an object passed over? */
static bool cowdev_reclaim_done(unsigned long ticket, bool *busy)
{
	bool done;

	spin_lock(&cowdev_reclaimer.lock);
	done = (long)(cowdev_reclaimer.done - ticket) >= 0;
	*busy = cowdev_reclaimer.busy;
	spin_unlock(&cowdev_reclaimer.lock);
	return done;
}

/* Was a page evicted since @evicted was read, or the pass for @ticket done? */
static bool cowdev_reclaim_moved(long evicted, unsigned long ticket)
{
	bool busy;

	return atomic_long_read(&cowdev_reclaimer.evicted) != evicted ||
	       cowdev_reclaim_done(ticket, &busy);
}

/**
 * cowdev_reclaim_wait() - wait for the reclaimer to evict a page
 * @ask_again: when a pass passed over an object busy with an ioctl, or
 *	pages under writeback, wait and ask again; not for a caller holding
 *	its own object's lock, nor for a fault's retry
 *
 * Context: an allocation the pool's limit refused, which may hold
 * mmap_lock, page locks, and an object's lock or clone_sem.  The
 * reclaimer takes those of the objects' only by trying, but it writes to
 * stores, whose filesystems take their own locks (sb_writers, i_rwsem)
 * and may be frozen or throttled: so the wait is bounded, as direct
 * reclaim's waits for writeback are (reclaim_throttle()), and not a
 * dependency that can deadlock.  A pass that passed over an object busy
 * with an ioctl, or pages under writeback, is asked for again, within the
 * same bound.
 *
 * Return: true if a page was evicted since the call, or the pool has
 * room again, and the allocation should be tried again; false if the
 * pass asked for evicted none, the bound ran out, or a fatal signal came.
 */
bool cowdev_reclaim_wait(bool ask_again)
{
	struct cowdev_reclaimer *r = &cowdev_reclaimer;
	long evicted = atomic_long_read(&r->evicted);
	unsigned long ticket = cowdev_reclaim_ask();
	unsigned int tries;
	bool done, busy;
	long ret;

	atomic_long_inc(&r->waits);
	for (tries = 0; tries < COWDEV_RECLAIM_TRIES; tries++) {
		ret = wait_event_killable_timeout(r->wait,
						  cowdev_reclaim_moved(evicted,
								       ticket),
						  COWDEV_RECLAIM_WAIT);
		if (ret < 0)
			return false;
		if (atomic_long_read(&r->evicted) != evicted ||
		    cowdev_pool_room(0))
			return true;
		done = cowdev_reclaim_done(ticket, &busy);
		if (!done)	/* a pass still at work: wait on */
			continue;
		if (!busy || !ask_again)
			return false;
		/* Give the ioctl, or the writeback, time; ask again. */
		schedule_timeout_killable(COWDEV_RECLAIM_WAIT);
		if (fatal_signal_pending(current))
			return false;
		ticket = cowdev_reclaim_ask();
	}
	return false;
}

/*
 * A rough count, as count_objects() may give: the pool's pages in use
 * while any object has a store; what the clock can evict of them is for
 * the pass to find out.
 */
static unsigned long cowdev_reclaim_count(struct shrinker *shrinker,
					  struct shrink_control *sc)
{
	if (!cowdev_backing_any())
		return SHRINK_EMPTY;
	return cowdev_pool_used() ?: SHRINK_EMPTY;
}

/*
 * The reclaimer is asked, and nothing is evicted here: eviction writes,
 * and a shrinker runs wherever an allocation reclaims, with any lock
 * held.  Nothing freed yet, so 0; what is asked stays bounded by what is
 * in use.  After a futile pass, one pass a second at most: the count is
 * every page in use, and under lasting pressure reclaim asks again and
 * again for a pool that may hold nothing evictable (pages clones share,
 * pinned or mlocked, objects without a store), each ask a scan of it all.
 */
static unsigned long cowdev_reclaim_scan_objects(struct shrinker *shrinker,
						 struct shrink_control *sc)
{
	long in_use = cowdev_pool_used();
	long asked;

	if (READ_ONCE(cowdev_reclaimer.futile) &&
	    time_before(jiffies, READ_ONCE(cowdev_reclaimer.ended_at) + HZ))
		return SHRINK_STOP;
	asked = atomic_long_add_return(sc->nr_to_scan,
				       &cowdev_reclaimer.pressure);

	if (asked > in_use)
		atomic_long_set(&cowdev_reclaimer.pressure, in_use);
	atomic_long_add(sc->nr_to_scan, &cowdev_reclaimer.asked_by_shrinker);
	queue_work(cowdev_reclaim_wq, &cowdev_reclaimer.work);
	return 0;
}

/**
 * cowdev_reclaim_show() - print the reclaimer's state as "name value" lines
 * @m: the seq_file of the debugfs stats file
 */
void cowdev_reclaim_show(struct seq_file *m)
{
	seq_printf(m, "reclaim_passes %ld\n",
		   atomic_long_read(&cowdev_reclaimer.passes));
	/* work_busy() may be stale by the time it is read: a hint. */
	seq_printf(m, "reclaim_running %d\n",
		   !!work_busy(&cowdev_reclaimer.work));
	seq_printf(m, "reclaim_waits %ld\n",
		   atomic_long_read(&cowdev_reclaimer.waits));
	seq_printf(m, "reclaim_asked %ld\n",
		   atomic_long_read(&cowdev_reclaimer.asked_by_shrinker));
}

/**
 * cowdev_reclaim_reset() - restart the counts cowdev_reclaim_show() prints
 */
void cowdev_reclaim_reset(void)
{
	atomic_long_set(&cowdev_reclaimer.passes, 0);
	atomic_long_set(&cowdev_reclaimer.waits, 0);
	atomic_long_set(&cowdev_reclaimer.asked_by_shrinker, 0);
}

/**
 * cowdev_reclaim_init() - set up the reclaimer and its shrinker
 *
 * Return: 0 or -ENOMEM.
 */
int cowdev_reclaim_init(void)
{
	/* WQ_MEM_RECLAIM: it frees memory, so it must run under pressure. */
	cowdev_reclaim_wq = alloc_workqueue("cowdev_reclaim",
					    WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
	if (!cowdev_reclaim_wq)
		return -ENOMEM;
	cowdev_reclaim_shrinker = cowdev_shrinker_create("cowdev-reclaim",
							 cowdev_reclaim_count,
							 cowdev_reclaim_scan_objects);
	if (!cowdev_reclaim_shrinker) {
		destroy_workqueue(cowdev_reclaim_wq);
		return -ENOMEM;
	}
	return 0;
}

/**
 * cowdev_reclaim_exit() - stop the reclaimer; called when no object is left
 */
void cowdev_reclaim_exit(void)
{
	cowdev_shrinker_destroy(cowdev_reclaim_shrinker);
	destroy_workqueue(cowdev_reclaim_wq);
}
