/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Waits on page bits, counted, timed and traced (cowdev_wait.c).
 */
#ifndef _COWDEV_WAIT_H
#define _COWDEV_WAIT_H

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

int cowdev_lock_page(struct cowdev_object *obj, pgoff_t pgoff,
		     struct page *page, struct vm_fault *vmf);
void cowdev_unlock_page(struct cowdev_object *obj, pgoff_t pgoff,
			struct page *page);
int cowdev_wait_writeback(struct cowdev_object *obj, pgoff_t pgoff,
			  struct page *page, struct vm_fault *vmf);
void cowdev_note_wake(struct cowdev_object *obj, pgoff_t pgoff,
		      struct page *page, enum cowdev_bit bit);

#endif /* _COWDEV_WAIT_H */
