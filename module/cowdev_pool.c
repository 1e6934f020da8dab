// SPDX-License-Identifier: GPL-2.0
/*
 * The page pool: every page an object holds comes from here.
 *
 * Pages are allocated on demand up to a global limit.  Pages given back are
 * zeroed at once (so no object can ever see another's data) and kept on a
 * small per-CPU free list, reused before the page allocator is asked again;
 * a shrinker hands cached pages back to the system under memory pressure.
 *
 * The fault path touches one atomic (the in-use count, to enforce the limit)
 * and, when the local free list has pages, that CPU's list lock.  No lock is
 * shared between CPUs.
 */
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/list.h>
#include <linux/kstrtox.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>

#include "compat.h"
#include "cowdev.h"

unsigned long cowdev_pool_limit;

/*
 * 0 means a quarter of RAM, written at load or later; a limit a long
 * cannot hold is refused: the pool compares it as one, and a wrapped,
 * negative limit would refuse every page.
 */
static int cowdev_pool_limit_set(const char *val, const struct kernel_param *kp)
{
	unsigned long limit;
	int ret = kstrtoul(val, 0, &limit);

	if (ret)
		return ret;
	if (limit > LONG_MAX)
		return -EINVAL;
	WRITE_ONCE(cowdev_pool_limit, limit ?: totalram_pages() / 4);
	return 0;
}

static const struct kernel_param_ops cowdev_pool_limit_ops = {
	.set = cowdev_pool_limit_set,
	.get = param_get_ulong,
};

module_param_cb(pool_limit_pages, &cowdev_pool_limit_ops, &cowdev_pool_limit,
		0644);
MODULE_PARM_DESC(pool_limit_pages,
		 "Most pages the module holds at once; 0 means a quarter of RAM");

static unsigned long cowdev_pool_cache_max = 1024;
module_param_named(pool_cache_pages, cowdev_pool_cache_max, ulong, 0644);
MODULE_PARM_DESC(pool_cache_pages,
		 "Most free pages the pool keeps for reuse (default 1024)");

/**
 * struct cowdev_pool_cache - one CPU's list of free, zeroed pages
 * @lock: see the field
 * @pages: free pages, linked through page->lru
 * @count: pages on @pages
 */
struct cowdev_pool_cache {
	spinlock_t lock;		/* protects pages and count */
	struct list_head pages;
	unsigned long count;
};

static DEFINE_PER_CPU(struct cowdev_pool_cache, cowdev_pool_caches);
static atomic_long_t cowdev_pool_in_use = ATOMIC_LONG_INIT(0);
static atomic_long_t cowdev_pool_peak = ATOMIC_LONG_INIT(0);
static struct shrinker *cowdev_pool_shrinker;

static struct page *cowdev_pool_cache_pop(void)
{
	struct cowdev_pool_cache *cache = raw_cpu_ptr(&cowdev_pool_caches);
	struct page *page = NULL;

	/* An unlocked peek keeps the empty-cache case free of any lock. */
	if (!READ_ONCE(cache->count))
		return NULL;
	spin_lock(&cache->lock);
	if (cache->count) {
		page = list_first_entry(&cache->pages, struct page, lru);
		list_del(&page->lru);
		cache->count--;
	}
	spin_unlock(&cache->lock);
	return page;
}

static bool cowdev_pool_cache_push(struct page *page)
{
	struct cowdev_pool_cache *cache = raw_cpu_ptr(&cowdev_pool_caches);
	unsigned long max = READ_ONCE(cowdev_pool_cache_max) / num_possible_cpus();
	bool cached = false;

	spin_lock(&cache->lock);
	if (cache->count < max) {
		list_add(&page->lru, &cache->pages);
		cache->count++;
		cached = true;
	}
	spin_unlock(&cache->lock);
	return cached;
}

static void cowdev_pool_note_peak(long in_use)
{
	long peak = atomic_long_read(&cowdev_pool_peak);

	while (in_use > peak &&
	       !atomic_long_try_cmpxchg(&cowdev_pool_peak, &peak, in_use))
		;
}

/* Take a place under the limit; false when the pool is at it. */
static bool cowdev_pool_charge(void)
{
	long in_use = atomic_long_inc_return(&cowdev_pool_in_use);
	long limit = READ_ONCE(cowdev_pool_limit);

	if (in_use > limit) {
		atomic_long_dec(&cowdev_pool_in_use);
		return false;
	}
	cowdev_pool_note_peak(in_use);
	/* kswapd's low watermark: room is made before anyone must wait. */
	if (unlikely(in_use + COWDEV_RECLAIM_BATCH > limit) &&
	    in_use + cowdev_reclaim_low(limit) > limit && cowdev_backing_any())
		cowdev_reclaim_wake(false);
	return true;
}

/**
 * cowdev_pool_alloc() - take a zeroed page from the pool
 * @how: at the limit, whether to wait for the reclaimer to evict pages of
 *	objects with a backing store (&enum cowdev_alloc_how) and try again,
 *	for as long as it evicts some (cowdev_reclaim_wait() bounds a wait
 *	with none evicted)
 *
 * Return: a zeroed page with one reference, which the caller owns;
 * ERR_PTR(-ENOSPC) when the pool is at its limit; ERR_PTR(-ENOMEM) when the
 * system has no page to give.
 */
struct page *cowdev_pool_alloc(enum cowdev_alloc_how how)
{
	struct page *page;

	while (!cowdev_pool_charge()) {
		if (how == COWDEV_ALLOC_NOWAIT || !cowdev_backing_any() ||
		    !cowdev_reclaim_wait(how == COWDEV_ALLOC_WAIT))
			return ERR_PTR(-ENOSPC);
	}

	page = cowdev_pool_cache_pop();
	/* Poisoned while cached: never handed out (see cowdev_pool_free()). */
	while (page && unlikely(PageHWPoison(page))) {
		put_page(page);
		page = cowdev_pool_cache_pop();
	}
	if (!page)
		page = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN);
	if (!page) {
		atomic_long_dec(&cowdev_pool_in_use);
		return ERR_PTR(-ENOMEM);
	}
	return page;
}

/**
 * cowdev_pool_used() - pages the pool has handed out and not had back
 *
 * Return: a racy count, for the reclaimer's targets.
 */
long cowdev_pool_used(void)
{
	return atomic_long_read(&cowdev_pool_in_use);
}

/**
 * cowdev_pool_room() - may @nr more pages be taken without reaching the limit?
 * @nr: pages
 *
 * For allocations that are guesses (readahead): a racy read, which is all
 * a guess needs.
 *
 * Return: true if the pool has more than @nr pages left under its limit.
 */
bool cowdev_pool_room(unsigned long nr)
{
	return atomic_long_read(&cowdev_pool_in_use) + nr <
	       READ_ONCE(cowdev_pool_limit);
}

/**
 * cowdev_pool_free() - give a page back to the pool
 * @page: a page from cowdev_pool_alloc() that no object indexes and no
 *	page table maps any more, its page_private() and PG_owner_priv_1
 *	cleared
 *
 * Drops the pool's reference.  A page somebody else still holds (a GUP pin,
 * a pipe buffer from vmsplice) is left to its last holder and never reused,
 * so no object can see data that is still in flight elsewhere.  A poisoned
 * page is neither cleared (reading it is the error) nor reused; the page
 * allocator keeps it out of circulation once it is put.
 */
void cowdev_pool_free(struct page *page)
{
	atomic_long_dec(&cowdev_pool_in_use);
	if (page_ref_count(page) != 1 || folio_test_mlocked(page_folio(page)) ||
	    PageHWPoison(page)) {
		put_page(page);
		return;
	}
	/* Flags the core may have set while it was mapped (workingset: MGLRU). */
	folio_clear_dirty(page_folio(page));
	folio_clear_referenced(page_folio(page));
	folio_clear_workingset(page_folio(page));
	clear_highpage(page);
	/*
	 * New contents behind whatever mapped it before: where the
	 * instruction cache is synced lazily (arm64's PG_dcache_clean, which
	 * the page allocator would clear on a free), the next executable
	 * mapping must sync it again, or run the page's old instructions.
	 * Every page the pool hands out passes here or comes from the page
	 * allocator, so a copy or a read into it needs no flush of its own.
	 */
	flush_dcache_page(page);
	if (!cowdev_pool_cache_push(page))
		put_page(page);
}

static unsigned long cowdev_pool_cached(void)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(&cowdev_pool_caches, cpu)->count);
	return sum;
}

static unsigned long cowdev_pool_drain(unsigned long nr)
{
	unsigned long freed = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct cowdev_pool_cache *cache = per_cpu_ptr(&cowdev_pool_caches, cpu);
		LIST_HEAD(victims);
		struct page *page, *next;

		spin_lock(&cache->lock);
		while (cache->count && freed < nr) {
			page = list_first_entry(&cache->pages, struct page, lru);
			list_move(&page->lru, &victims);
			cache->count--;
			freed++;
		}
		spin_unlock(&cache->lock);
		list_for_each_entry_safe(page, next, &victims, lru) {
			list_del(&page->lru);
			put_page(page);
		}
	}
	return freed;
}

/**
 * cowdev_pool_trim() - give every cached free page back to the system
 *
 * For the reclaimer under memory pressure: the pages it freed are what
 * the system is short of.
 */
void cowdev_pool_trim(void)
{
	cowdev_pool_drain(ULONG_MAX);
}

static unsigned long cowdev_pool_shrink_count(struct shrinker *shrinker,
					      struct shrink_control *sc)
{
	return cowdev_pool_cached() ?: SHRINK_EMPTY;
}

static unsigned long cowdev_pool_shrink_scan(struct shrinker *shrinker,
					     struct shrink_control *sc)
{
	return cowdev_pool_drain(sc->nr_to_scan) ?: SHRINK_STOP;
}

/**
 * cowdev_pool_show() - print the pool's state as "name value" lines
 * @m: the seq_file of the debugfs stats file
 */
void cowdev_pool_show(struct seq_file *m)
{
	seq_printf(m, "pool_in_use %ld\n", atomic_long_read(&cowdev_pool_in_use));
	seq_printf(m, "pool_peak %ld\n", atomic_long_read(&cowdev_pool_peak));
	seq_printf(m, "pool_cached %lu\n", cowdev_pool_cached());
	seq_printf(m, "pool_limit %lu\n", READ_ONCE(cowdev_pool_limit));
}

/**
 * cowdev_pool_reset_peak() - restart the peak from the current use
 */
void cowdev_pool_reset_peak(void)
{
	atomic_long_set(&cowdev_pool_peak, atomic_long_read(&cowdev_pool_in_use));
}

/**
 * cowdev_pool_init() - set up the free lists, the limit and the shrinker
 *
 * Return: 0 or -ENOMEM.
 */
int cowdev_pool_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct cowdev_pool_cache *cache = per_cpu_ptr(&cowdev_pool_caches, cpu);

		spin_lock_init(&cache->lock);
		INIT_LIST_HEAD(&cache->pages);
		cache->count = 0;
	}
	if (!cowdev_pool_limit)
		cowdev_pool_limit = totalram_pages() / 4;
	cowdev_pool_shrinker = cowdev_shrinker_create("cowdev-pool",
						      cowdev_pool_shrink_count,
						      cowdev_pool_shrink_scan);
	return cowdev_pool_shrinker ? 0 : -ENOMEM;
}

/**
 * cowdev_pool_exit() - free every cached page; called when no object is left
 */
void cowdev_pool_exit(void)
{
	cowdev_shrinker_destroy(cowdev_pool_shrinker);
	cowdev_pool_drain(ULONG_MAX);
	WARN_ON(atomic_long_read(&cowdev_pool_in_use));
}
