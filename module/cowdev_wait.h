/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Waits on page bits, counted, timed and traced (cowdev_wait.c).
 */
#ifndef _COWDEV_WAIT_H
#define _COWDEV_WAIT_H

#include <linux/mm_types.h>
#include <linux/types.h>

/**
 * enum cowdev_bit - the page bits cowdev waits on
 * @COWDEV_BIT_LOCKED: PG_locked, held while a page is filled or decided on
 * @COWDEV_BIT_WRITEBACK: PG_writeback, set while a page is written back
 */
enum cowdev_bit {
	COWDEV_BIT_LOCKED,
	COWDEV_BIT_WRITEBACK,
};

struct cowdev_object;
struct page;
struct vm_fault;

/**
 * struct cowdev_ra_window - pages to read from the backing store in one go
 * @start: first page offset
 * @size: number of pages, at most %COWDEV_RA_MAX_PAGES; 0 for none
 * @async_size: the last @async_size pages are read ahead of need: the
 *	first of them is marked, and a fault on it starts the next window
 *	(as struct file_ra_state's fields)
 */
struct cowdev_ra_window {
	pgoff_t start;
	unsigned int size;
	unsigned int async_size;
};

/**
 * struct cowdev_fault - a fault's leave to wait, and a wait it put off
 * @vmf: the fault
 * @wait_page: set, with a reference, when a wait was put off until the
 *	handler has let go of everything: see cowdev_fault_finish()
 * @wait_pgoff: its offset, for the trace; or the offset @wait_ra waits for
 * @wait_bit: the bit to wait on
 * @read_page: set, locked and with a reference, when the read of an
 *	evicted page was put off until the handler has let go of everything
 *	(see cowdev_fault_finish())
 * @read_pgoff: its offset
 * @read_window: the pages read with it (cowdev_readahead_miss())
 * @wait_fill: a wait for the invalidate lock, to read an evicted page
 *	back, was put off (see cowdev_lock_fill())
 * @wait_ra: a wait for the readahead of the window holding @wait_pgoff
 *	was put off (see cowdev_wait_readahead())
 * @wait_reclaim: a wait for the reclaimer, at the pool's limit, was put
 *	off (see cowdev_alloc_at_limit())
 * @wait_clone: a wait for a CLONE to let go of the object's clone_sem was
 *	put off (see cowdev_lock_clone_read())
 * @clones_over: the object's count of CLONEs over, from before clone_sem
 *	was found taken
 * @killed: a killable wait in place was interrupted
 * @new_page: the fault made its page (cowdev_object_grab_page())
 * @major: the fault read its page from the backing store, or will
 * @nowait: a FAULT_FLAG_RETRY_NOWAIT fault found its page evicted, or the
 *	pool at its limit, and returns VM_FAULT_RETRY without reading it or
 *	waiting for the reclaimer
 */
struct cowdev_fault {
	struct vm_fault *vmf;
	struct page *wait_page;
	pgoff_t wait_pgoff;
	enum cowdev_bit wait_bit;
	struct page *read_page;
	pgoff_t read_pgoff;
	struct cowdev_ra_window read_window;
	bool wait_fill;
	bool wait_ra;
	bool wait_reclaim;
	bool wait_clone;
	unsigned long clones_over;
	bool killed;
	bool new_page;
	bool major;
	bool nowait;
};

int cowdev_lock_page(struct cowdev_object *obj, pgoff_t pgoff,
		     struct page *page, struct cowdev_fault *cf);
void cowdev_lock_page_stable(struct cowdev_object *obj, pgoff_t pgoff,
			     struct page *page);
void cowdev_unlock_page(struct cowdev_object *obj, pgoff_t pgoff,
			struct page *page);
int cowdev_wait_writeback(struct cowdev_object *obj, pgoff_t pgoff,
			  struct page *page, struct cowdev_fault *cf);
int cowdev_lock_fill(struct cowdev_object *obj, struct cowdev_fault *cf);
int cowdev_lock_clone_read(struct cowdev_object *obj, struct cowdev_fault *cf);
int cowdev_lock_page_killable(struct cowdev_object *obj, pgoff_t pgoff,
			      struct page *page);
int cowdev_wait_readahead(struct cowdev_object *obj, pgoff_t pgoff,
			  struct cowdev_fault *cf);
vm_fault_t cowdev_fault_finish(struct cowdev_object *obj,
			       struct cowdev_fault *cf, vm_fault_t ret);
void cowdev_note_wake(struct cowdev_object *obj, pgoff_t pgoff,
		      struct page *page, enum cowdev_bit bit);

#endif /* _COWDEV_WAIT_H */
