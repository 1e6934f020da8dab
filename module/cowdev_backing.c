// SPDX-License-Identifier: GPL-2.0
/*
 * The backing store: a regular file an object's pages are evicted to, each
 * at its own offset, and read back from by the faults that need them.
 *
 * A page of an object with a backing store is clean when its contents are
 * on the store at its offset (read from it, or written to it and not
 * written to since), and only a clean page that no mapping maps, no clone
 * shares and nobody holds may leave memory.  Everything else is dirty:
 * a page the object made, every page it held when it was given the store,
 * a copy of a dirty page, and a page while clones share it
 * (cowdev_cow_clone_page() marks it, and writeback leaves it dirty), since
 * the store of one sharer is not another's.  On the store means on its
 * disk, not in its page cache: pages are written in batches, under
 * writeback, which ends once the store's own writeback of the batch has
 * (cowdev_backing_sync()).
 *
 * Every read and every write is done with the page locked (and, for a
 * write, under writeback too; the store's writeback of a batch then runs
 * with its pages unlocked, under writeback): a page's lock is what keeps
 * it the object's page at its offset, so no write can put a page at an
 * offset another page has since taken (a page CLONE shared, replaced by
 * the copy a write made), and no read can fill a page truncation has
 * erased.  The I/O goes through the file's own read and write
 * (->read_iter(), ->write_iter()), which take the file's locks (i_rwsem
 * for a write) inside the page lock.  So the file must not be read or
 * written with a mapping of the object it backs as the buffer (O_DIRECT,
 * for one, holds its i_rwsem while it faults on the object), as a swap
 * file is not written behind the kernel's back.
 *
 * Reads are direct where the store's filesystem can do them without
 * waiting for its locks (cowdev_backing_read_direct()), and go through
 * its page cache otherwise.
 *
 * The store's filesystem's freeze protection (sb_start_write()) is the
 * one lock of the store's that is only ever tried, never waited for
 * (cowdev_backing_start_write()): any write(2) to that filesystem from a
 * buffer that maps the object faults on the object inside it.
 */
#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/bvec.h>
#include <linux/errseq.h>
#include <linux/fadvise.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/list.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/uio.h>

#include "compat.h"
#include "cowdev.h"
#include "cowdev_trace.h"

/*
 * The files in use as stores, by inode: two objects evicting to one file
 * would read each other's pages.
 */
static LIST_HEAD(cowdev_backing_stores);
/*
 * Objects being destroyed, off the list above, whose writeback or
 * readahead may still use their store: it is theirs until
 * cowdev_backing_put(), and no other object may claim it before, or a
 * write of theirs could land over the other's pages.
 */
static LIST_HEAD(cowdev_backing_leaving);
static DEFINE_MUTEX(cowdev_backing_stores_lock);
/* Objects on the list; changed under its lock, read without. */
static unsigned int cowdev_backing_nr_stores;
/*
 * The object the reclaimer is at work on, outside the list's lock (see
 * cowdev_backing_reclaim()); set and cleared under that lock.  Its
 * destruction waits here for the turn to end.
 */
static struct cowdev_object *cowdev_backing_turn;
static DECLARE_WAIT_QUEUE_HEAD(cowdev_backing_turn_wait);

/* Has an object on @list a store in @inode?  Under the stores' lock. */
static bool cowdev_backing_taken(struct list_head *list, struct inode *inode)
{
	struct cowdev_object *other;

	lockdep_assert_held(&cowdev_backing_stores_lock);
	list_for_each_entry(other, list, backing_link)
		if (file_inode(other->backing) == inode)
			return true;
	return false;
}

/*
 * Claim @file's inode for @obj's store, read directly through @direct if
 * not NULL; false if another object has it.
 */
static bool cowdev_backing_claim(struct cowdev_object *obj, struct file *file,
				 struct file *direct)
{
	bool ok;

	mutex_lock(&cowdev_backing_stores_lock);
	ok = !cowdev_backing_taken(&cowdev_backing_stores, file_inode(file)) &&
	     !cowdev_backing_taken(&cowdev_backing_leaving, file_inode(file));
	if (ok) {
		/* Published with the store, by its xa_lock's release. */
		obj->backing_direct = direct;
		cowdev_object_set_backing(obj, file);
		list_add_tail(&obj->backing_link, &cowdev_backing_stores);
		cowdev_reclaim_new_store();
		WRITE_ONCE(cowdev_backing_nr_stores,
			   cowdev_backing_nr_stores + 1);
	}
	mutex_unlock(&cowdev_backing_stores_lock);
	return ok;
}

/* In no header: fs/configfs/mount.c's, drivers/usb/gadget's. */
#define COWDEV_CONFIGFS_MAGIC	0x62656570
#define COWDEV_FUNCTIONFS_MAGIC	0xa647361
#define COWDEV_GADGETFS_MAGIC	0xaee71ee7

/*
 * Filesystems whose regular files are kernel interfaces rather than
 * storage: a write hands the bytes to a handler (a sysfs attribute, a
 * cgroup knob, a PCI device's config space, a USB endpoint), which
 * neither keeps them at their offset nor puts them in the file's page
 * cache, so a page "written" there would be read back as whatever the
 * handler returns.  Some have no ->read_iter or ->write_iter today and
 * are refused for that too.  The loop driver refuses none of these; a
 * store must.
 */
static bool cowdev_backing_fs_is_interface(const struct super_block *sb)
{
	switch (sb->s_magic) {
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case RDTGROUP_SUPER_MAGIC:
	case COWDEV_CONFIGFS_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
	case EFIVARFS_MAGIC:
	case PSTOREFS_MAGIC:
	case BPF_FS_MAGIC:
	case BINDERFS_SUPER_MAGIC:
	case COWDEV_FUNCTIONFS_MAGIC:
	case COWDEV_GADGETFS_MAGIC:
		return true;
	}
	return false;
}

/* May @file be a backing store?  Returns 0 or an errno. */
static int cowdev_backing_check(struct file *file)
{
	if (!S_ISREG(file_inode(file)->i_mode))
		return -EINVAL;
	if ((file->f_mode & (FMODE_READ | FMODE_WRITE)) !=
	    (FMODE_READ | FMODE_WRITE))
		return -EBADF;
	/*
	 * O_APPEND would put every page at the end; kernel_write() hands
	 * O_DIRECT a kernel buffer it cannot pin, and a direct read takes
	 * i_rwsem (ext4), which a read in place would take under mmap_lock.
	 */
	if (!(file->f_mode & FMODE_CAN_READ) ||
	    !(file->f_mode & FMODE_CAN_WRITE) ||
	    !file->f_op->read_iter || !file->f_op->write_iter ||
	    (file->f_flags & (O_APPEND | O_DIRECT)))
		return -EINVAL;
	/*
	 * A stacked filesystem (overlayfs, ecryptfs, FUSE passthrough: on
	 * 7.2 every file of a connection that negotiated it) hands the I/O
	 * to another file, whose page cache and error sequence are not
	 * file->f_mapping's: a write could not be waited for, nor its error
	 * seen (cowdev_backing_sync()).  procfs, hugetlbfs and binfmt_misc
	 * claim the deepest stack to forbid stacking on them, and are no
	 * stores either; nor is a kernel interface.
	 */
	if (file_inode(file)->i_sb->s_stack_depth ||
	    cowdev_backing_fs_is_interface(file_inode(file)->i_sb))
		return -EINVAL;
	return 0;
}

/*
 * The store opened again, read-only and O_DIRECT, for
 * cowdev_backing_read_direct(); NULL where a direct read could wait for
 * the store's inode lock.  ext4's only tries it under IOCB_NOWAIT
 * (ext4_dio_read_iter()); FMODE_NOWAIT alone promises less: btrfs's
 * direct read waits for it.  Some ext4 files are read through the page
 * cache whatever the flags (verity, data=journal, encryption without
 * inline crypto): statx gives them no direct I/O alignment, and they are
 * left to the cached read.  O_NOATIME, as for the store itself, and
 * POSIX_FADV_RANDOM: should the file become one that ext4 reads through
 * its page cache after all (chattr +j), a run is still read alone.
 */
static struct file *cowdev_backing_open_direct(struct file *file)
{
	struct file *direct;
	struct kstat stat;

	if (strcmp(file_inode(file)->i_sb->s_type->name, "ext4") ||
	    vfs_getattr_nosec(&file->f_path, &stat, STATX_DIOALIGN,
			      AT_STATX_SYNC_AS_STAT) ||
	    !(stat.result_mask & STATX_DIOALIGN) || !stat.dio_offset_align ||
	    stat.dio_offset_align > PAGE_SIZE || stat.dio_mem_align > PAGE_SIZE)
		return NULL;
	direct = dentry_open(&file->f_path,
			     O_RDONLY | O_DIRECT | O_LARGEFILE | O_NOATIME,
			     file->f_cred);
	if (IS_ERR(direct))
		return NULL;
	if (!(direct->f_mode & FMODE_NOWAIT)) {
		fput(direct);
		return NULL;
	}
	(void)vfs_fadvise(direct, 0, 0, POSIX_FADV_RANDOM);
	return direct;
}

/**
 * cowdev_backing_set() - give an object a backing store (COWDEV_IOC_SET_BACKING)
 * @obj: the object
 * @fd: a file descriptor of the caller's, for the store
 *
 * Return: 0, -EBADF for a bad fd or a file not open for reading and
 * writing, -EINVAL for a file that cannot be a store, -EBUSY if @obj has
 * one or the file is another object's, -EINTR on a fatal signal while
 * waiting for another ioctl.
 */
int cowdev_backing_set(struct cowdev_object *obj, int fd)
{
	struct file *file = fget(fd);
	struct file *direct = NULL;
	unsigned int ra_pages;
	struct file *mine;
	int ret;

	if (!file)
		return -EBADF;
	ret = cowdev_backing_check(file);
	if (ret) {
		fput(file);
		return ret;
	}
	/*
	 * A file of our own, so that no fcntl(F_SETFL) on the caller's can
	 * make it O_APPEND or O_DIRECT behind our back.
	 */
	mine = dentry_open(&file->f_path, O_RDWR | O_LARGEFILE, file->f_cred);
	fput(file);
	if (IS_ERR(mine))
		return PTR_ERR(mine);
	file = mine;
	/*
	 * O_NOATIME, as a swap file's atime is not touched either: a read
	 * back after a write would otherwise start a journal transaction
	 * (ext4) in the fault.  Set here, as fcntl(F_SETFL) sets it, not
	 * passed to ->open, which hands it to a FUSE or 9p server that may
	 * not be allowed it on its own file.
	 */
	spin_lock(&file->f_lock);
	file->f_flags |= O_NOATIME;
	spin_unlock(&file->f_lock);
	/* ->open ran again, and may have chosen differently (FUSE). */
	ret = cowdev_backing_check(file);
	if (ret)
		goto out;
	direct = cowdev_backing_open_direct(file);
	/*
	 * POSIX_FADV_RANDOM: the object's readahead decides what is read
	 * (cowdev_readahead.c), and the store's page cache reads just that,
	 * one request a run, not a readahead of its own on top.  Advice is
	 * only advice: a filesystem that refuses it is still a store.
	 */
	ra_pages = cowdev_readahead_store_pages(file);
	/* (On 7.2 it also costs the store's page cache its large folios.) */
	(void)vfs_fadvise(file, 0, 0, POSIX_FADV_RANDOM);
	ret = -EINTR;
	if (mutex_lock_killable(&obj->lock))
		goto out;
	ret = -EBUSY;
	if (!obj->backing && cowdev_backing_claim(obj, file, direct)) {
		/* Before any page is evicted: that takes the lock we hold. */
		cowdev_readahead_set_store(obj, ra_pages);
		/* Outside the stores' lock: it may wait on page locks. */
		cowdev_object_dirty_all(obj);
		file = NULL;
		direct = NULL;
		ret = 0;
	}
	mutex_unlock(&obj->lock);
out:
	if (direct)
		fput(direct);
	if (file)
		fput(file);
	return ret;
}

/**
 * cowdev_backing_unlist() - take an object off the list of stores
 * @obj: an object being destroyed
 *
 * First thing in its destruction: once off the list, and its turn of the
 * reclaimer over if one was under way, the reclaimer
 * (cowdev_backing_reclaim()) can no longer be at work on it.  That wait
 * is for this object's own store only.  Its store stays open, and
 * claimed, for its writeback and readahead to finish with.
 */
void cowdev_backing_unlist(struct cowdev_object *obj)
{
	if (!obj->backing)
		return;
	mutex_lock(&cowdev_backing_stores_lock);
	list_move(&obj->backing_link, &cowdev_backing_leaving);
	WRITE_ONCE(cowdev_backing_nr_stores, cowdev_backing_nr_stores - 1);
	mutex_unlock(&cowdev_backing_stores_lock);
	wait_event(cowdev_backing_turn_wait,
		   READ_ONCE(cowdev_backing_turn) != obj);
}

/**
 * cowdev_backing_put() - let go of an object's backing store
 * @obj: an object being destroyed, unlisted, with no I/O in flight
 *
 * From here another object may claim the store.
 */
void cowdev_backing_put(struct cowdev_object *obj)
{
	if (!obj->backing)
		return;
	mutex_lock(&cowdev_backing_stores_lock);
	list_del(&obj->backing_link);
	mutex_unlock(&cowdev_backing_stores_lock);
	if (obj->backing_direct)
		fput(obj->backing_direct);
	fput(obj->backing);
}

/**
 * cowdev_backing_any() - does any object have a backing store?
 *
 * Return: a racy answer, for the pool to decide whether a reclaimer could
 * make room.
 */
bool cowdev_backing_any(void)
{
	return READ_ONCE(cowdev_backing_nr_stores);
}

/**
 * cowdev_backing_reclaim() - evict pages from the objects with a store
 * @nr: how many pages to evict
 * @scan: evicts up to its second argument's pages of one object, whose
 *	lock is held, says how many it evicted, and sets its third argument
 *	if it passed over pages under writeback (cowdev_reclaim.c's clock)
 * @busy: set if an object was passed over, busy with an ioctl
 * @writeback: set if pages under writeback were passed over
 *
 * Round robin over the objects, at most %COWDEV_RECLAIM_BATCH pages from
 * one before the next has its turn, until @nr are evicted or every object
 * has had a turn that evicted nothing.  An object busy with an ioctl (its
 * lock taken: a CLONE, a truncation, an EVICT) is passed over: a fault
 * waiting for the reclaimer may hold what that ioctl waits for.  A turn's
 * I/O is done outside the list's lock, so that a store that does not move
 * (a frozen filesystem) holds up no other object's set-up or destruction:
 * the object's lock, held for the turn, and cowdev_backing_turn, which its
 * destruction waits on (cowdev_backing_unlist()), keep it alive.
 *
 * Return: the pages evicted.
 */
unsigned long cowdev_backing_reclaim(unsigned long nr,
				     unsigned long (*scan)(struct cowdev_object *,
							   unsigned long,
							   bool *),
				     bool *busy, bool *writeback)
{
	unsigned long freed = 0, got;
	struct cowdev_object *obj;
	unsigned int idle = 0;

	mutex_lock(&cowdev_backing_stores_lock);
	while (freed < nr && idle < cowdev_backing_nr_stores) {
		obj = list_first_entry(&cowdev_backing_stores,
				       struct cowdev_object, backing_link);
		list_move_tail(&obj->backing_link, &cowdev_backing_stores);
		got = 0;
		if (mutex_trylock(&obj->lock)) {
			WRITE_ONCE(cowdev_backing_turn, obj);
			mutex_unlock(&cowdev_backing_stores_lock);
			got = scan(obj, min(nr - freed, COWDEV_RECLAIM_BATCH),
				   writeback);
			mutex_unlock(&obj->lock);
			cond_resched();
			mutex_lock(&cowdev_backing_stores_lock);
			/* Not before the unlock: it may be freed right after. */
			WRITE_ONCE(cowdev_backing_turn, NULL);
			wake_up_all(&cowdev_backing_turn_wait);
		} else {
			*busy = true;
		}
		freed += got;
		idle = got ? 0 : idle + 1;
	}
	mutex_unlock(&cowdev_backing_stores_lock);
	return freed;
}

static loff_t cowdev_backing_pos(pgoff_t pgoff)
{
	return (loff_t)pgoff << PAGE_SHIFT;
}

/* bio_vecs a read takes from the stack: longer runs allocate theirs. */
#define COWDEV_BACKING_STACK_BVECS	16

/*
 * Why the read of the store's page at @index gave @n: a fatal signal
 * (filemap_read() stops short, or gives -EINTR) and no memory for the
 * store's page cache are not the store's fault, and the fault that needs
 * the page says so (cowdev_fault_error()).  -ENOMEM is taken for that only
 * if the page cache has no folio there: one left not uptodate is a
 * ->read_folio that failed (a FUSE daemon or NFS may answer -ENOMEM),
 * which filemap_fault() gives SIGBUS.  Else an evicted page was written
 * whole, so a short read means the file was cut behind our back, and the
 * zeroes past its end are not the page.
 */
static int cowdev_backing_read_error(struct cowdev_object *obj, pgoff_t index,
				     ssize_t n)
{
	struct folio *folio;

	if (fatal_signal_pending(current))
		return -EINTR;
	if (n != -ENOMEM)
		return -EIO;
	/* NULL up to 6.4, an ERR_PTR after, when there is none. */
	folio = filemap_get_folio(obj->backing->f_mapping, index);
	if (IS_ERR_OR_NULL(folio))
		return -ENOMEM;
	folio_put(folio);
	return -EIO;
}

/*
 * Read into @iter from the store at @pos directly, as swap reads into its
 * own pages: through the store's page cache, each page would be
 * allocated, indexed, locked and freed a second time, and copied.  A
 * direct read takes the file's i_rwsem, which a buffered one does not,
 * and it runs under the object's invalidate lock with its pages locked
 * (and mmap_lock, in a fault), which a write(2) from a buffer mapping the
 * object takes the other way round: i_rwsem of the file written (of the
 * store's lock class, for lockdep, if it is on the same filesystem), then
 * a fault on the object.  So it is IOCB_NOWAIT, and ext4 then only tries
 * i_rwsem, and answers -EAGAIN where the range has dirty pages or pages
 * under writeback in its page cache (kiocb_write_and_wait()).  It still
 * waits for its own i_data_sem, extent blocks and fsnotify's permission
 * events, as a buffered read does, and for the bio, uninterruptibly (a
 * buffered read waits killably), as a swap-in does.  On 6.1 the check of
 * the store's dirty tag below narrows, without closing, the window in
 * which iomap_dio_rw() reaches ext4's ->writepages for a clean range,
 * which takes s_writepages_rwsem for read; nothing that waits for it
 * waits for a cowdev lock.
 *
 * The caller then reads through the page cache, as it does after any
 * other failure, so that the page cache's answer is the one that counts:
 * a direct read has its own reasons to fail (no memory for a bio, an
 * alignment the device refuses).  A run that has a page in the page
 * cache is read from there from the start (a page read back soon after it
 * was evicted costs a copy, not a disk read).  The two agree on what the
 * store holds: a page leaves memory only once its write has reached the
 * store's disk (cowdev_backing_sync()).
 *
 * Return: the bytes read, or an error.
 */
static ssize_t cowdev_backing_read_direct(struct cowdev_object *obj,
					  struct iov_iter *iter, loff_t pos)
{
	struct address_space *mapping = obj->backing->f_mapping;
	loff_t end = pos + iov_iter_count(iter) - 1;
	struct kiocb kiocb;

	if (!obj->backing_direct || filemap_range_has_page(mapping, pos, end) ||
	    (COWDEV_DIRECT_READ_WRITES_BACK &&
	     mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)))
		return -EAGAIN;
	init_sync_kiocb(&kiocb, obj->backing_direct);
	kiocb.ki_pos = pos;
	kiocb.ki_flags |= IOCB_NOWAIT;
	return vfs_iocb_iter_read(obj->backing_direct, &kiocb, iter);
}

/*
 * Read into @iter from the store at @pos through its page cache.
 * filemap_read() returns what it read before an error, so a read that
 * stops short is asked for the rest: the reason is the answer of the read
 * that gets nothing, left in *@last.  Returns the bytes read.
 */
static size_t cowdev_backing_read_cached(struct cowdev_object *obj,
					 struct iov_iter *iter, loff_t pos,
					 ssize_t *last)
{
	size_t want = iov_iter_count(iter);

	do {
		*last = vfs_iter_read(obj->backing, iter, &pos, 0);
	} while (*last > 0 && iov_iter_count(iter) &&
		 !fatal_signal_pending(current));
	return want - iov_iter_count(iter);
}

/*
 * Read @nr pages from @first into @pages with one read; returns the whole
 * pages read, and sets *@err if that is not all of them.  Without memory
 * for the bio_vecs of a long run (a guess does not make the fault reclaim
 * hard), in reads of the stack's.
 */
static unsigned int cowdev_backing_read_run(struct cowdev_object *obj,
					    pgoff_t first, struct page **pages,
					    unsigned int nr, int *err)
{
	struct bio_vec stack[COWDEV_BACKING_STACK_BVECS], *bvec = stack;
	loff_t pos = cowdev_backing_pos(first);
	size_t len = (size_t)nr * PAGE_SIZE;
	struct iov_iter iter;
	unsigned int i, got, chunk;
	ssize_t n, last = 0;

	if (nr > COWDEV_BACKING_STACK_BVECS)
		bvec = kmalloc_array(nr, sizeof(*bvec), GFP_KERNEL |
				     __GFP_NORETRY | __GFP_NOWARN);
	if (!bvec) {
		for (i = 0; i < nr; i += got) {
			chunk = min_t(unsigned int, nr - i,
				      COWDEV_BACKING_STACK_BVECS);
			got = cowdev_backing_read_run(obj, first + i, pages + i,
						      chunk, err);
			if (got < chunk)
				return i + got;
		}
		return nr;
	}
	for (i = 0; i < nr; i++) {
		bvec[i].bv_page = pages[i];
		bvec[i].bv_len = PAGE_SIZE;
		bvec[i].bv_offset = 0;
	}
	iov_iter_bvec(&iter, ITER_DEST, bvec, nr, len);
	n = cowdev_backing_read_direct(obj, &iter, pos);
	if (n == (ssize_t)len) {
		cowdev_count_add(obj, COWDEV_STAT_PAGES_READ_DIRECT, nr);
	} else {
		/* A failed direct read moved it as far as it built bios. */
		iov_iter_bvec(&iter, ITER_DEST, bvec, nr, len);
		n = cowdev_backing_read_cached(obj, &iter, pos, &last);
	}
	if (bvec != stack)
		kfree(bvec);
	got = n >> PAGE_SHIFT;
	if (got == nr)
		return nr;
	*err = cowdev_backing_read_error(obj, first + got, last);
	if (*err == -EIO)
		cowdev_count(obj, COWDEV_STAT_IO_ERRORS);
	return got;
}

/**
 * cowdev_backing_read() - read pages from the backing store
 * @obj: the object, which has a backing store
 * @first: page offset, in @obj and in the store, of @pages[0]
 * @pages: @nr slots, each a page to fill, locked, or NULL
 * @nr: at most %COWDEV_RA_MAX_PAGES
 * @done: a bitmap of @nr bits: bit i is set if @pages[i] was read whole
 *
 * Each run of pages at consecutive offsets is read with one read of the
 * store, direct where it can be (cowdev_backing_read_direct()), else
 * through its page cache, which the store was advised to read no more of
 * than asked (see cowdev_backing_set()): the block layer sees one request
 * a run, not one a page.
 *
 * Return: 0 if every page was read; else the error of the last run that
 * came short: -EIO, -ENOMEM (none for the store's page cache) or -EINTR
 * (a fatal signal).
 */
int cowdev_backing_read(struct cowdev_object *obj, pgoff_t first,
			struct page **pages, unsigned int nr,
			unsigned long *done)
{
	unsigned int i = 0, run, got;
	int err = 0;

	if (WARN_ON_ONCE(nr > COWDEV_RA_MAX_PAGES))
		nr = COWDEV_RA_MAX_PAGES;
	bitmap_zero(done, nr);
	while (i < nr) {
		if (!pages[i]) {
			i++;
			continue;
		}
		for (run = 1; i + run < nr && pages[i + run]; run++)
			;
		got = cowdev_backing_read_run(obj, first + i, pages + i, run,
					      &err);
		cowdev_count_add(obj, COWDEV_STAT_PAGES_READ, got);
		bitmap_set(done, i, got);
		i += run;
	}
	return err;
}

/**
 * cowdev_backing_sample() - sample the store's error sequence
 * @obj: the object, which has a backing store
 *
 * Taken before the first write of a batch, for cowdev_backing_sync().  An
 * error nobody has seen makes filemap_sample_wb_err() return 0, and every
 * check from 0 reports it: a failure of some earlier writeback (one a
 * fatal signal cut short left for the flusher, or the file's own before
 * it was a store) would be taken for this batch's.  It is marked seen
 * first, which leaves the sample in @since; a writer whose sample is
 * older still sees it.
 *
 * Return: the sample.
 */
errseq_t cowdev_backing_sample(struct cowdev_object *obj)
{
	struct address_space *mapping = obj->backing->f_mapping;
	errseq_t since = filemap_sample_wb_err(mapping);

	if (!since && READ_ONCE(mapping->wb_err))
		(void)errseq_check_and_advance(&mapping->wb_err, &since);
	return since;
}

/* The end of the run of consecutive offsets that starts at @index[@i]. */
static unsigned int cowdev_backing_run_end(const pgoff_t *index,
					   unsigned int i, unsigned int nr)
{
	for (i++; i < nr && index[i] == index[i - 1] + 1; i++)
		;
	return i;
}

/*
 * The bytes of the store from @index[@i] to the end of its run, or to the
 * end of the batch if @whole; returns where the next range starts.
 */
static unsigned int cowdev_backing_range(const pgoff_t *index, unsigned int i,
					 unsigned int nr, bool whole,
					 loff_t *start, loff_t *end)
{
	unsigned int j = whole ? nr : cowdev_backing_run_end(index, i, nr);

	*start = cowdev_backing_pos(index[i]);
	*end = cowdev_backing_pos(index[j - 1]) + PAGE_SIZE - 1;
	return j;
}

/*
 * Write the store's pages at the @nr ascending offsets @index out, each
 * run of consecutive offsets with one call, under one plug, then wait for
 * them: only the batch's own pages, not whatever else of the store lies
 * between them.  A batch of many runs (a WRITEBACK of a sparse object)
 * is written and waited for as one span instead: a ->writepages call a
 * run would cost more than the pages between.  Each run is started
 * twice, as btrfs_fdatawrite_range() does: with compression the first
 * pass may only queue the work that puts the pages under writeback, and
 * the wait would find none.  After a failure the rest is left to the
 * flusher: the caller dirties the whole batch again anyway.  The return
 * of the wait is the legacy error flags, which any fsync() may clear: the
 * caller asks the error sequence instead.
 */
static int cowdev_backing_write_out(struct address_space *mapping,
				    const pgoff_t *index, unsigned int nr)
{
	unsigned int i, runs = 0;
	struct blk_plug plug;
	loff_t start, end;
	bool whole;
	int err = 0;

	for (i = 0; i < nr; i = cowdev_backing_run_end(index, i, nr))
		runs++;
	whole = runs > COWDEV_EVICT_BATCH;
	blk_start_plug(&plug);
	for (i = 0; i < nr;) {
		i = cowdev_backing_range(index, i, nr, whole, &start, &end);
		err = err ?: filemap_fdatawrite_range(mapping, start, end);
		err = err ?: filemap_fdatawrite_range(mapping, start, end);
	}
	blk_finish_plug(&plug);
	for (i = 0; i < nr;) {
		i = cowdev_backing_range(index, i, nr, whole, &start, &end);
		(void)filemap_fdatawait_range_keep_errors(mapping, start, end);
	}
	return err;
}

/*
 * Record a store's write error in @obj's mapping, for its openers
 * (file_check_and_advance_wb_err()), and return it: -EAGAIN and -EBUSY,
 * which a FUSE daemon may answer (and CIFS gives for a sharing
 * violation), as -EIO, since within cowdev -EAGAIN says a page is under
 * writeback and -EBUSY that the store is frozen; and -EFBIG, a page past
 * the largest file the store's filesystem can hold (ext4's for a file
 * without extents: 16 GiB with 1 KiB blocks), since an EVICT's -EFBIG is
 * its caller's RLIMIT_FSIZE.
 */
static int cowdev_backing_error(struct cowdev_object *obj, int err)
{
	if (err == -EAGAIN || err == -EBUSY || err == -EFBIG)
		err = -EIO;
	mapping_set_error(obj->inode->i_mapping, err);
	return err;
}

/**
 * cowdev_backing_sync() - put a batch of written pages on the store's disk
 * @obj: the object, which has a backing store
 * @index: the batch's offsets, ascending
 * @nr: how many
 * @since: cowdev_backing_sample() from before the batch's first write
 * @written: the pages the batch wrote, for the counters
 *
 * A page is clean, free to be evicted and the store's page cache then
 * dropped, only once its bytes are on the store's disk: trusting
 * kernel_write() alone would lose it to a disk error the store's own
 * writeback meets later (the store's page cache would drop the failed
 * copy, and the read would bring back the disk's old bytes).  So the
 * writer keeps its pages under writeback, writes the batch, and calls
 * this, which writes the batch's pages of the store's page cache out and
 * waits, as swap keeps a page under writeback until its write completes
 * (end_swap_bio_write() dirties it again on an error).  One wait a batch,
 * not a page: the block layer sees the batch as a few requests.
 *
 * Whether the batch failed is the store's error sequence from @since: the
 * caller's own sample, not the file's cursor, so that two writers at once
 * (the writeback work and the reclaimer) both see an error either's page
 * may have met.  The error is marked seen there, and recorded in the
 * object's mapping for its openers (file_check_and_advance_wb_err()); the
 * caller dirties the batch's pages again.
 *
 * This is the answer of a filesystem that ends a folio's writeback once
 * its data is written and reports a failure in the mapping's error
 * sequence.  One that does not, is not made safe by it: FUSE with
 * writeback_cache before 6.14 ends writeback before the daemon has the
 * data, ext4 with data=journal only journals it, an NFS write may be
 * unstable, and btrfs reports an ordered extent's failure after the
 * writeback has ended.  No cache flush is sent: the guarantee is the
 * read-back's, not a power loss's.
 *
 * Return: 0 or the error.
 */
int cowdev_backing_sync(struct cowdev_object *obj, const pgoff_t *index,
			unsigned int nr, errseq_t since, unsigned int written)
{
	struct address_space *mapping = obj->backing->f_mapping;
	int err;

	err = cowdev_backing_write_out(mapping, index, nr);
	/* Not filemap_check_wb_err(): that leaves it unseen. */
	err = errseq_check_and_advance(&mapping->wb_err, &since) ?: err;
	if (!err) {
		cowdev_count_add(obj, COWDEV_STAT_PAGES_WRITTEN, written);
		return 0;
	}
	err = cowdev_backing_error(obj, err);
	cowdev_count_add(obj, COWDEV_STAT_IO_ERRORS, written);
	return err;
}

/**
 * cowdev_backing_start_write() - try to take the store's freeze protection
 * @obj: the object, which has a backing store
 *
 * Every write into the store is made inside it (cowdev_backing_write()),
 * and cowdev never waits for it.  A write(2) to the store's filesystem
 * from a buffer that maps @obj holds it while it faults on a page of @obj
 * (generic_perform_write()), and a freeze waits for that writer.  The
 * fault waits for a locked page; for the invalidate lock, which a
 * truncation holds while it waits for a page under writeback; for the
 * reclaimer.  So no wait for a thaw may hold a page locked or under
 * writeback, nor anything those wait for: a frozen store's dirty pages
 * stay dirty, in memory, as the kernel's reclaim cannot write a frozen
 * filesystem's pages either.
 *
 * Return: true if taken, to be dropped with cowdev_backing_end_write();
 * false while the store's filesystem is frozen or freezing.
 */
bool cowdev_backing_start_write(struct cowdev_object *obj)
{
	return file_start_write_trylock(obj->backing);
}

/**
 * cowdev_backing_end_write() - drop what cowdev_backing_start_write() took
 * @obj: the object, which has a backing store
 */
void cowdev_backing_end_write(struct cowdev_object *obj)
{
	file_end_write(obj->backing);
}

/**
 * cowdev_backing_write() - write a page into the backing store
 * @obj: the object, which has a backing store; the caller holds its
 *	freeze protection (cowdev_backing_start_write())
 * @pgoff: page offset of the page in @obj and in the store
 * @page: the page, locked and under writeback, so that nothing writes
 *	to it and it stays the object's page at @pgoff
 *
 * Through ->write_iter(), as the loop driver writes its file:
 * kernel_write() would take the freeze protection again, and a second
 * sb_start_write() waits behind a freeze that waits for the first;
 * __kernel_write(), which does not, is exported to autofs alone on 7.2.
 * What they add is left out: rw_verify_area() (the range is the
 * object's; the file was checked when it became the store), fsnotify
 * events and the task's I/O accounting.
 *
 * Into the store's page cache: the page stays under writeback until
 * cowdev_backing_sync() has put its batch on the store's disk.
 *
 * A failure is recorded in the object's mapping, where
 * file_check_and_advance_wb_err() finds it for each open file, once.  The
 * caller keeps the page dirty.  A write that a fatal signal cut short (an
 * EVICT's caller killed: generic_perform_write() stops) is not the
 * store's failure and is not recorded.
 *
 * Return: 0, -EINTR, -EFBIG past the caller's RLIMIT_FSIZE (the
 * caller's error, not recorded), or the error: a short write counts as
 * -ENOSPC, which is what a full filesystem gives.
 */
int cowdev_backing_write(struct cowdev_object *obj, pgoff_t pgoff,
			 struct page *page)
{
	struct kvec kvec = { .iov_len = PAGE_SIZE };
	struct iov_iter iter;
	struct kiocb kiocb;
	struct super_block *sb = file_inode(obj->backing)->i_sb;
	unsigned long limit = rlimit(RLIMIT_FSIZE);
	ssize_t n;
	int err;

	VM_WARN_ON_FOLIO(!folio_test_locked(page_folio(page)) ||
			 !folio_test_writeback(page_folio(page)),
			 page_folio(page));
	lockdep_assert_held_read(&sb->s_writers.rw_sem[SB_FREEZE_WRITE - 1]);
	kvec.iov_base = kmap_local_page(page);
	iov_iter_kvec(&iter, ITER_SOURCE, &kvec, 1, PAGE_SIZE);
	init_sync_kiocb(&kiocb, obj->backing);
	kiocb.ki_pos = cowdev_backing_pos(pgoff);
	n = obj->backing->f_op->write_iter(&kiocb, &iter);
	kunmap_local(kvec.iov_base);
	if (n == PAGE_SIZE)
		return 0;
	if (fatal_signal_pending(current))
		return -EINTR;
	/*
	 * An EVICT's caller's RLIMIT_FSIZE stopped it (with SIGXFSZ if the
	 * page begins past the limit: generic_write_check_limits()), as it
	 * would stop its own write(2) there; the work items have no limit.
	 */
	if ((n == -EFBIG || n >= 0) && limit != RLIM_INFINITY &&
	    cowdev_backing_pos(pgoff) + PAGE_SIZE > limit)
		return -EFBIG;
	err = cowdev_backing_error(obj, n < 0 ? n : -ENOSPC);
	cowdev_count(obj, COWDEV_STAT_IO_ERRORS);
	return err;
}

/*
 * Evict @page, locked, not under writeback, at @index: left if it must
 * stay, unmapped first.  A dirty page is written into the store and
 * queued in @batch, under writeback, to be evicted once the batch is on
 * the store's disk; without a batch (the batch's own flush) it stays, and
 * is not unmapped for nothing.  Consumes the reference and the lock.
 * Returns 1 if evicted, 0 if not (or queued), -EBUSY if the store's
 * filesystem is frozen (a dirty page stays, dirty), or the error of the
 * write.
 */
static int cowdev_backing_evict_locked(struct cowdev_object *obj,
				       pgoff_t index, struct page *page,
				       struct cowdev_evict_batch *batch)
{
	struct folio *folio = page_folio(page);
	bool writing = false;
	int ret = 0;

	if (!cowdev_object_page_valid(obj, index, page) ||
	    cowdev_cow_stays(page) || (!batch && folio_test_dirty(folio)))
		goto unlock;
	/*
	 * A dirty page is written inside the store's freeze protection,
	 * which is only tried (see cowdev_backing_start_write()), and tried
	 * before the unmap: a frozen store's page stays (mapped, unless an
	 * EVICT unmapped its range).
	 */
	if (folio_test_dirty(folio)) {
		writing = cowdev_backing_start_write(obj);
		if (!writing)
			goto frozen;
	}
	/*
	 * With the page locked no fault can map it again: what was mapped
	 * since the range was unmapped goes now, so that the references
	 * counted next are all there are, and nothing writes to the page
	 * until it is unlocked (or, queued, until its writeback ends).
	 */
	cowdev_object_unmap_page(obj, index, page, false);
	if (!cowdev_cow_may_evict(page))
		goto unlock;
	if (folio_test_dirty(folio)) {
		if (!batch)
			goto unlock;	/* written to since its unmap */
		if (!writing) {
			writing = cowdev_backing_start_write(obj);
			if (!writing)
				goto frozen;
		}
		if (!batch->nr)
			batch->since = cowdev_backing_sample(obj);
		folio_clear_dirty(folio);
		folio_start_writeback(folio);
		ret = cowdev_backing_write(obj, index, page);
		if (ret) {
			folio_set_dirty(folio);
			cowdev_note_wake(obj, index, page, COWDEV_BIT_WRITEBACK);
			folio_end_writeback(folio);
			goto unlock;
		}
		cowdev_backing_end_write(obj);
		batch->index[batch->nr] = index;
		batch->pages[batch->nr++] = page;	/* with our reference */
		cowdev_unlock_page(obj, index, page);
		return 0;
	}
	if (writing)	/* cleaned meanwhile: no one does, under our lock */
		cowdev_backing_end_write(obj);
	cowdev_object_evict_page(obj, index, page);
	cowdev_count(obj, COWDEV_STAT_EVICTIONS);
	trace_cowdev_evict(obj->id, index);
	cowdev_unlock_page(obj, index, page);
	put_page(page);
	cowdev_cow_put_page(obj, index, page);
	return 1;
frozen:
	ret = -EBUSY;
unlock:
	if (writing)
		cowdev_backing_end_write(obj);
	cowdev_unlock_page(obj, index, page);
	put_page(page);
	return ret;
}

/* Take @page at @index locked as @how says; false if it is left. */
static bool cowdev_backing_evict_lock(struct cowdev_object *obj, pgoff_t index,
				      struct page *page,
				      enum cowdev_evict_how how, int *ret)
{
	struct folio *folio = page_folio(page);

	*ret = 0;
	if (how == COWDEV_EVICT_WAIT) {
		cowdev_lock_page_stable(obj, index, page);
		return true;
	}
	if (!folio_trylock(folio))
		return false;
	if (folio_test_writeback(folio))
		*ret = -EAGAIN;
	else if (!folio_test_mlocked(folio) &&
		 (how != COWDEV_EVICT_CLEAN || !folio_test_dirty(folio)))
		return true;
	cowdev_unlock_page(obj, index, page);
	return false;
}

static int cowdev_backing_cmp_index(const void *a, const void *b)
{
	pgoff_t x = *(const pgoff_t *)a, y = *(const pgoff_t *)b;

	return x < y ? -1 : x > y;
}

/**
 * cowdev_backing_evict_flush() - evict the pages a batch wrote
 * @obj: the object, which has a backing store; its lock held
 * @batch: the batch; empty on return
 * @how: how to take the pages again (&enum cowdev_evict_how)
 *
 * Puts the batch on the store's disk (cowdev_backing_sync()), ends each
 * page's writeback, clean, or dirty again if that failed, and evicts
 * those still clean and still free to go.  A page is dirtied again
 * without its lock: nothing clears the dirty bit of a page under
 * writeback (an eviction or a WRITEBACK takes only pages that are not,
 * and the pool only pages nobody else holds, and the batch holds each),
 * and setting it is never wrong; @obj's lock keeps out the CLONE,
 * truncation and WRITEBACK that would otherwise look at it.
 *
 * Return: the pages evicted, or the error of the batch.
 */
int cowdev_backing_evict_flush(struct cowdev_object *obj,
			       struct cowdev_evict_batch *batch,
			       enum cowdev_evict_how how)
{
	pgoff_t sorted[COWDEV_EVICT_BATCH];
	unsigned int i, nr = batch->nr;
	int err, ret, evicted = 0;
	struct page *page;

	lockdep_assert_held(&obj->lock);
	if (!nr)
		return 0;
	batch->nr = 0;
	/* In offset order for the store (the clock may have wrapped). */
	memcpy(sorted, batch->index, nr * sizeof(*sorted));
	sort(sorted, nr, sizeof(*sorted), cowdev_backing_cmp_index, NULL);
	err = cowdev_backing_sync(obj, sorted, nr, batch->since, nr);
	for (i = 0; i < nr; i++) {
		page = batch->pages[i];
		if (err)
			folio_set_dirty(page_folio(page));
		cowdev_note_wake(obj, batch->index[i], page,
				 COWDEV_BIT_WRITEBACK);
		folio_end_writeback(page_folio(page));
	}
	for (i = 0; i < nr; i++) {
		page = batch->pages[i];
		if (!err && cowdev_backing_evict_lock(obj, batch->index[i], page,
						      how, &ret))
			evicted += cowdev_backing_evict_locked(obj,
							       batch->index[i],
							       page, NULL);
		else
			put_page(page);
	}
	return err ?: evicted;
}

/**
 * cowdev_backing_evict_batched() - is a page at @index in a batch?
 * @batch: the batch
 * @index: an offset
 *
 * For a clock that has come round to the pages it wrote itself, which are
 * under writeback only until its own flush.
 *
 * Return: true if it is.
 */
bool cowdev_backing_evict_batched(const struct cowdev_evict_batch *batch,
				  pgoff_t index)
{
	unsigned int i;

	for (i = 0; i < batch->nr; i++)
		if (batch->index[i] == index)
			return true;
	return false;
}

/*
 * Must @batch be flushed before @page is taken?  Its pages are under
 * writeback, and writers to them wait: not across a sleep for another
 * page (EVICT waits for a page's lock and writeback).  A racy hint, which
 * bounds the usual case.
 */
static bool cowdev_backing_flush_first(struct page *page,
				       enum cowdev_evict_how how,
				       const struct cowdev_evict_batch *batch)
{
	struct folio *folio = page_folio(page);

	return batch->nr && how == COWDEV_EVICT_WAIT &&
	       (folio_test_locked(folio) || folio_test_writeback(folio));
}

/* Add a count of pages evicted to @evicted; the error, or 0. */
static int cowdev_backing_evicted(int ret, unsigned long *evicted)
{
	if (ret < 0)
		return ret;
	*evicted += ret;
	return 0;
}

/**
 * cowdev_backing_evict_page() - evict one page of an object
 * @obj: the object, which has a backing store; its lock held
 * @index: page offset of @page in @obj
 * @page: a page the caller found at @index, with a reference, which this
 *	consumes
 * @how: what to wait for, and what to leave (&enum cowdev_evict_how)
 * @batch: where a dirty page goes, written, until the batch is flushed
 *	(cowdev_backing_evict_flush(), which this calls when it is full or
 *	before a wait, and the caller when it is done)
 * @evicted: incremented by the pages evicted: this one, and the batch's
 *	if it was flushed
 *
 * Return: 0, -EAGAIN if @page is under writeback (only when @how does not
 * wait: the writeback will leave it clean), -EBUSY if @page is dirty and
 * the store's filesystem frozen (or freezing), or the error of a write or
 * of the batch (recorded in the object's mapping, as a writeback's is,
 * but for -EINTR; never -EAGAIN or -EBUSY).
 */
int cowdev_backing_evict_page(struct cowdev_object *obj, pgoff_t index,
			      struct page *page, enum cowdev_evict_how how,
			      struct cowdev_evict_batch *batch,
			      unsigned long *evicted)
{
	int ret;

	lockdep_assert_held(&obj->lock);
	if (cowdev_backing_flush_first(page, how, batch)) {
		ret = cowdev_backing_evict_flush(obj, batch, how);
		/* A store that just failed is not written again now. */
		if (cowdev_backing_evicted(ret, evicted)) {
			put_page(page);
			return ret;
		}
	}
	if (!cowdev_backing_evict_lock(obj, index, page, how, &ret)) {
		put_page(page);
		return ret;
	}
	ret = cowdev_backing_evict_locked(obj, index, page, batch);
	ret = cowdev_backing_evicted(ret, evicted);
	if (ret || batch->nr < COWDEV_EVICT_BATCH)
		return ret;
	ret = cowdev_backing_evict_flush(obj, batch, how);
	return cowdev_backing_evicted(ret, evicted);
}

/**
 * cowdev_backing_evict() - evict a range of an object (COWDEV_IOC_EVICT)
 * @obj: the object
 * @args: the request; @args->pages is set to the number of pages evicted
 *
 * A write that fails ends the eviction; its error is in the object's
 * mapping, for the caller to report (file_check_and_advance_wb_err()).
 * The dirty pages of a store whose filesystem is frozen stay, as those of
 * a frozen file do under MADV_PAGEOUT.
 *
 * Return: 0; -EINVAL for a bad request; -EOPNOTSUPP if @obj has no backing
 * store; -EINTR on a fatal signal, -EFBIG at the caller's RLIMIT_FSIZE
 * (pages evicted so far stay evicted).
 */
int cowdev_backing_evict(struct cowdev_object *obj, struct cowdev_evict *args)
{
	struct cowdev_evict_batch batch = { };
	unsigned long evicted = 0;
	pgoff_t index, end;
	struct page *page;
	int ret = 0, got;

	args->pages = 0;
	if (cowdev_object_range(args->offset, args->len, &index, &end) ||
	    memchr_inv(args->reserved, 0, sizeof(args->reserved)))
		return -EINVAL;
	if (mutex_lock_killable(&obj->lock))
		return -EINTR;
	if (!obj->backing) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	end = min(end, obj->nr_pages);
	if (index >= end)
		goto out;
	/* Private copies stay: they are the processes' anonymous memory. */
	unmap_mapping_pages(obj->inode->i_mapping, index, end - index, false);
	while ((page = cowdev_object_find_get(obj, &index, end - 1))) {
		if (fatal_signal_pending(current)) {
			put_page(page);
			ret = -EINTR;
			break;
		}
		got = cowdev_backing_evict_page(obj, index, page,
						COWDEV_EVICT_WAIT, &batch,
						&evicted);
		/* A frozen store's dirty page stays, as under MADV_PAGEOUT. */
		if (got < 0 && got != -EBUSY) {
			ret = got == -EINTR || got == -EFBIG ? got : 0;
			break;
		}
		index++;
		cond_resched();
	}
	/*
	 * What the batch holds goes, or stays dirty, whatever ended the
	 * loop; a killed caller does not wait for their locks again.
	 */
	got = cowdev_backing_evict_flush(obj, &batch,
					 fatal_signal_pending(current) ?
					 COWDEV_EVICT_TRY : COWDEV_EVICT_WAIT);
	cowdev_backing_evicted(got, &evicted);
	args->pages = evicted;
out:
	mutex_unlock(&obj->lock);
	return ret;
}
