// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim: which pages of the objects with a backing store leave memory,
 * and when, without anyone asking for a range (COWDEV_IOC_EVICT is the
 * request; this is the kernel's kswapd and direct reclaim).
 *
 * When:
 * - At the pool's limit.  An allocation that would pass pool_limit_pages
 *   waits for one pass of the reclaimer and tries again, as an allocation
 *   enters direct reclaim; a pass that evicts nothing leaves it -ENOSPC
 *   (SIGBUS for a fault), as before there was reclaim.  So that faults
 *   seldom wait, the reclaimer is woken early, once fewer than
 *   %COWDEV_RECLAIM_BATCH pages are left under the limit (kswapd's low
 *   watermark), and evicts until twice that many are (its high one).
 * - Under memory pressure.  The shrinker asks the reclaimer for the
 *   pages the kernel wanted scanned; the pages go back to the pool, whose
 *   own shrinker gives its free pages back to the system.
 *
 * Which: a second-chance clock over each object's pages in offset order,
 * the objects taking turns (cowdev_backing_reclaim()).  A page a fault has
 * found since the hand last passed (PG_referenced: see
 * cowdev_reclaim_referenced()) loses the bit and stays for one more turn;
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
 * someone holds, a poisoned page, the copy mark of a write in flight),
 * and what someone holds locked or under writeback: the reclaimer only
 * tries locks, the object's too, so it never waits on a fault or ioctl
 * that may be waiting for it.
 *
 * Writes to a store take its filesystem's locks (ext4's i_rwsem), which
 * the VFS takes before mmap_lock: a fault, which holds mmap_lock, must
 * not write, and waits for the reclaimer, a work item, to do it.
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
 * @lock: see the field
 * @work: a pass of the reclaimer
 * @wait: allocations waiting for a pass
 * @asked: passes asked for by waiting allocations
 * @done: of those, the passes started before the last one ended
 * @evicted: pages the last pass evicted
 * @pressure: pages the shrinker has asked for and no pass has taken yet
 * @passes: passes run, for debugfs
 * @waits: allocations that waited for a pass, for debugfs
 * @asked_by_shrinker: pages the shrinker asked for, for debugfs
 */
struct cowdev_reclaimer {
	spinlock_t lock;		/* protects asked, done and evicted */
	struct work_struct work;
	wait_queue_head_t wait;
	unsigned long asked;
	unsigned long done;
	unsigned long evicted;
	atomic_long_t pressure;
	atomic_long_t passes;
	atomic_long_t waits;
	atomic_long_t asked_by_shrinker;
};

static struct cowdev_reclaimer cowdev_reclaimer;
static struct workqueue_struct *cowdev_reclaim_wq;
static struct shrinker *cowdev_reclaim_shrinker;

/*
 * One object's turn of the clock, under its lock: evict up to @nr pages,
 * looking at each resident page at most twice (once to take its bit, once
 * to evict it).  The hand stays where the turn ended.
 */
static unsigned long cowdev_reclaim_scan(struct cowdev_object *obj,
					 unsigned long nr)
{
	unsigned long budget = 2 * cowdev_object_resident(obj);
	unsigned long index = obj->reclaim_hand, freed = 0;
	bool wrapped = false;
	struct page *page;
	int ret;

	lockdep_assert_held(&obj->lock);
	while (freed < nr && budget) {
		page = cowdev_object_find_get(obj, &index, ULONG_MAX);
		if (!page) {
			if (wrapped)
				break;
			wrapped = true;
			index = 0;
			continue;
		}
		budget--;
		if (folio_test_clear_referenced(page_folio(page))) {
			put_page(page);
		} else {
			ret = cowdev_backing_evict_page(obj, index, page,
							false);
			if (ret < 0)	/* the store failed: not this turn */
				break;
			if (ret) {
				freed++;
				cowdev_count(obj, COWDEV_STAT_RECLAIMED);
			}
		}
		index++;
		cond_resched();
	}
	obj->reclaim_hand = index;
	return freed;
}

/* Pages a pass evicts: down to the high watermark, and what was asked. */
static unsigned long cowdev_reclaim_target(void)
{
	long want = cowdev_pool_used() + 2 * COWDEV_RECLAIM_BATCH -
		    READ_ONCE(cowdev_pool_limit);

	return max(want, 0L) +
	       atomic_long_xchg(&cowdev_reclaimer.pressure, 0);
}

static void cowdev_reclaim_work(struct work_struct *work)
{
	struct cowdev_reclaimer *r = &cowdev_reclaimer;
	unsigned long asked, nr, evicted = 0;

	spin_lock(&r->lock);
	asked = r->asked;
	spin_unlock(&r->lock);

	nr = cowdev_reclaim_target();
	if (nr)
		evicted = cowdev_backing_reclaim(nr, cowdev_reclaim_scan);
	atomic_long_inc(&r->passes);
	trace_cowdev_reclaim(nr, evicted);

	spin_lock(&r->lock);
	r->done = asked;
	r->evicted = evicted;
	spin_unlock(&r->lock);
	wake_up_all(&r->wait);
}

/**
 * cowdev_reclaim_wake() - start a pass unless one is on its way
 *
 * From the pool, when it is close to its limit: no waiting.
 */
void cowdev_reclaim_wake(void)
{
	queue_work(cowdev_reclaim_wq, &cowdev_reclaimer.work);
}

/* Has the pass that @ticket asked for ended? */
static bool cowdev_reclaim_done(unsigned long ticket)
{
	unsigned long done;

	spin_lock(&cowdev_reclaimer.lock);
	done = cowdev_reclaimer.done;
	spin_unlock(&cowdev_reclaimer.lock);
	return (long)(done - ticket) >= 0;
}

/**
 * cowdev_reclaim_wait() - wait for a pass of the reclaimer
 *
 * Context: an allocation the pool's limit refused, which may hold
 * mmap_lock, page locks, and an object's lock or clone_sem, none of which
 * the reclaimer takes but by trying.  The pass asked for starts after
 * this call, so it sees the pool as the caller did.
 *
 * Return: true if the pass evicted pages or the pool has room again, and
 * the allocation should be tried again; false if neither, or if a fatal
 * signal came.
 */
bool cowdev_reclaim_wait(void)
{
	struct cowdev_reclaimer *r = &cowdev_reclaimer;
	unsigned long ticket;
	bool evicted;

	atomic_long_inc(&r->waits);
	spin_lock(&r->lock);
	ticket = ++r->asked;
	spin_unlock(&r->lock);
	/* Queued even if pending: a pass in flight read @asked too early. */
	queue_work(cowdev_reclaim_wq, &r->work);
	if (wait_event_killable(r->wait, cowdev_reclaim_done(ticket)))
		return false;
	spin_lock(&r->lock);
	evicted = r->evicted;
	spin_unlock(&r->lock);
	/* Pages freed meanwhile count too: the pass may have had none to do. */
	return evicted || cowdev_pool_room(0);
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
 * in use.
 */
static unsigned long cowdev_reclaim_scan_objects(struct shrinker *shrinker,
						 struct shrink_control *sc)
{
	long in_use = cowdev_pool_used();
	long asked = atomic_long_add_return(sc->nr_to_scan,
					    &cowdev_reclaimer.pressure);

	if (asked > in_use)
		atomic_long_set(&cowdev_reclaimer.pressure, in_use);
	atomic_long_add(sc->nr_to_scan, &cowdev_reclaimer.asked_by_shrinker);
	cowdev_reclaim_wake();
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
	seq_printf(m, "reclaim_waits %ld\n",
		   atomic_long_read(&cowdev_reclaimer.waits));
	seq_printf(m, "reclaim_shrinker_asked %ld\n",
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
	struct cowdev_reclaimer *r = &cowdev_reclaimer;

	spin_lock_init(&r->lock);
	INIT_WORK(&r->work, cowdev_reclaim_work);
	init_waitqueue_head(&r->wait);
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
