/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cowdev user-space ABI: the ioctls of /dev/cowdev.
 *
 * Every open() of /dev/cowdev creates a new, empty object: a sparse,
 * zero-filled memory object of page granularity, like a memfd.  mmap() it
 * MAP_SHARED to share its pages with every other mapper, or MAP_PRIVATE to
 * get copy-on-write copies of them.  The module counts each fault and each
 * reuse-or-copy decision, per object and globally (debugfs).
 *
 * fallocate() cannot reach a character device (vfs_fallocate() returns
 * ENODEV for anything but regular files and block devices), so punching a
 * hole is COWDEV_IOC_PUNCH_HOLE.
 *
 * Every ioctl but COWDEV_IOC_GET_INFO changes the object and needs a fd
 * opened for writing (EBADF otherwise).
 *
 * All structures are made of __u64 fields so that their layout is the same
 * for 32- and 64-bit callers.  Fields marked (in) are read by the module,
 * (out) are written by it.  Reserved fields must be zero on input.
 */
#ifndef _UAPI_COWDEV_H
#define _UAPI_COWDEV_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * define COWDEV_MAX_SIZE - largest object size, in bytes (1 TiB)
 *
 * Object sizes and mmap offsets are checked against this bound, so that no
 * page offset computation can wrap.
 */
#define COWDEV_MAX_SIZE _BITULL(40)

/**
 * enum cowdev_mode - how an object's pages are mapped
 * @COWDEV_MODE_PAGE: ->fault returns struct page; writes to clean pages
 *	of shared mappings are notified through ->page_mkwrite (default).
 * @COWDEV_MODE_PFN: ->fault inserts raw pfns (VM_MIXEDMAP, special PTEs);
 *	write notifications arrive through ->pfn_mkwrite.
 */
enum cowdev_mode {
	COWDEV_MODE_PAGE = 0,
	COWDEV_MODE_PFN = 1,
};

/**
 * struct cowdev_info - one object's state and counters (COWDEV_IOC_GET_INFO)
 * @flags: (in) must be zero.
 * @id: (out) small number naming the object in debugfs and tracepoints.
 * @size: (out) object size in bytes.
 * @mode: (out) &enum cowdev_mode.
 * @resident_pages: (out) pages the object holds.
 * @faults: (out) calls of ->fault for this object.
 * @read_faults: (out) ->fault calls for a read access.
 * @write_faults: (out) ->fault calls for a write access.
 * @mkwrite: (out) ->page_mkwrite calls.
 * @pfn_mkwrite: (out) ->pfn_mkwrite calls.
 * @reuse: (out) write faults in shared mappings that made the page
 *	writable in place.
 * @copy: (out) write faults in shared mappings that gave the object a
 *	private copy of a page it shared with another object.
 * @cow_faults: (out) write faults in private mappings seen by ->fault (the
 *	kernel copies the page into the process, do_cow_fault()).
 * @lock_waits: (out) faults that slept on a locked page of the object.
 * @writeback_waits: (out) faults that slept on a page under writeback.
 * @faultaround_pages: (out) pages read faults mapped around the faulting
 *	page (fault-around): resident, unlocked pages of the object inside
 *	the kernel's fault-around window, mapped read-only.
 * @evicted_pages: (out) pages the object holds on its backing store only
 *	(evicted, see %COWDEV_IOC_EVICT).
 * @major_faults: (out) faults that read their page from the backing store
 *	(the fault returns VM_FAULT_MAJOR).
 * @pages_read: (out) pages read from the backing store.
 * @pages_written: (out) pages written to the backing store.
 * @evictions: (out) pages evicted: written if dirty, then dropped from
 *	memory and remembered as on the backing store.
 * @io_errors: (out) reads and writes of the backing store that failed.
 * @readahead_pages: (out) pages read from the backing store ahead of the
 *	fault that needs them, besides the faulting page (readahead).
 * @readahead_hits: (out) pages read ahead that a fault then found
 *	resident (or fault-around mapped).
 * @readahead_unused: (out) pages read ahead and evicted again before any
 *	fault used them.
 * @reserved: (in) must be zero; (out) zero.
 */
struct cowdev_info {
	__u64 flags;
	__u64 id;
	__u64 size;
	__u64 mode;
	__u64 resident_pages;
	__u64 faults;
	__u64 read_faults;
	__u64 write_faults;
	__u64 mkwrite;
	__u64 pfn_mkwrite;
	__u64 reuse;
	__u64 copy;
	__u64 cow_faults;
	__u64 lock_waits;
	__u64 writeback_waits;
	__u64 faultaround_pages;
	__u64 evicted_pages;
	__u64 major_faults;
	__u64 pages_read;
	__u64 pages_written;
	__u64 evictions;
	__u64 io_errors;
	__u64 readahead_pages;
	__u64 readahead_hits;
	__u64 readahead_unused;
	__u64 reserved[7];
};

/**
 * define COWDEV_WRITEBACK_WAIT - wait for the writeback to end
 *
 * A &struct cowdev_writeback flag: the ioctl returns only once the
 * writeback it started has ended, like fsync().
 */
#define COWDEV_WRITEBACK_WAIT _BITULL(0)

/**
 * define COWDEV_MAX_WRITEBACK_DELAY_US - longest writeback, 10 seconds
 */
#define COWDEV_MAX_WRITEBACK_DELAY_US 10000000ULL

/**
 * struct cowdev_writeback - start writeback of an object's dirty pages
 *	(COWDEV_IOC_WRITEBACK)
 * @flags: (in) %COWDEV_WRITEBACK_WAIT or 0.
 * @delay_us: (in) how long the writeback lasts, at most
 *	%COWDEV_MAX_WRITEBACK_DELAY_US.
 * @pages: (out) how many pages were put under writeback.
 * @reserved: (in) must be zero.
 */
struct cowdev_writeback {
	__u64 flags;
	__u64 delay_us;
	__u64 pages;
	__u64 reserved[5];
};

/**
 * struct cowdev_range - a byte range of an object (COWDEV_IOC_PUNCH_HOLE)
 * @offset: (in) first byte, page-aligned.
 * @len: (in) length in bytes, page-aligned, not zero.
 */
struct cowdev_range {
	__u64 offset;
	__u64 len;
};

/**
 * struct cowdev_evict - evict a range of an object (COWDEV_IOC_EVICT)
 * @offset: (in) first byte, page-aligned.
 * @len: (in) length in bytes, page-aligned, not zero.
 * @pages: (out) how many pages were evicted.
 * @reserved: (in) must be zero.
 */
struct cowdev_evict {
	__u64 offset;
	__u64 len;
	__u64 pages;
	__u64 reserved[5];
};

#define COWDEV_IOC_MAGIC 0xCD

/**
 * define COWDEV_IOC_SET_SIZE - resize the object
 *
 * Argument: pointer to a __u64 byte count, rounded up to a page.  Shrinking
 * unmaps the pages past the new end from every mapping, private copies
 * included, as ftruncate() does (later accesses get SIGBUS), and frees
 * them.  Errors: EBADF on a read-only fd, EINVAL if the size exceeds
 * %COWDEV_MAX_SIZE, EFAULT for a bad pointer, EINTR on a fatal signal
 * while another ioctl holds the object.
 */
#define COWDEV_IOC_SET_SIZE _IOW(COWDEV_IOC_MAGIC, 0x01, __u64)

/**
 * define COWDEV_IOC_GET_INFO - read the object's &struct cowdev_info
 *
 * Errors: EINVAL if @flags or @reserved are not zero, EFAULT for a bad
 * pointer.
 */
#define COWDEV_IOC_GET_INFO _IOWR(COWDEV_IOC_MAGIC, 0x02, struct cowdev_info)

/**
 * define COWDEV_IOC_CLONE - make a new object sharing this one's pages
 *
 * Argument: 0.  Returns a new file descriptor (close-on-exec, read-write)
 * for a new object of the same size and mode that shares every resident
 * page with this one, as fork shares anonymous memory.  From then on each
 * object sees its own snapshot: the first write to a shared page through a
 * MAP_SHARED mapping gives the writer a copy (counted as "copy"), and a
 * write to a page no other object shares is a "reuse".  A page someone
 * holds at the time (a GUP pin or reference: O_DIRECT, process_vm_writev,
 * /proc/PID/mem, vmsplice) is copied for the clone instead, as fork copies
 * pinned pages, so the holder's writes and reads stay with this object.
 * A reference taken after the clone on a shared page is not seen: the
 * owner's next write copies the page and the holder keeps the clone's.
 * Errors: EBADF on a read-only fd, EINVAL for a non-zero argument, EMFILE,
 * ENFILE, ENOMEM, ENOSPC when the pool cannot hold the copies, EIO when
 * an evicted page cannot be read back or a held page to copy has a memory
 * error, EINTR on a fatal signal while another ioctl holds the object.
 */
#define COWDEV_IOC_CLONE _IO(COWDEV_IOC_MAGIC, 0x03)

/**
 * define COWDEV_IOC_SET_MODE - choose page or pfn mode
 *
 * Argument: an &enum cowdev_mode, by value.  Only before the object's first
 * mmap.  pfn mode applies to MAP_SHARED mappings; MAP_PRIVATE mappings map
 * pages in either mode, because the kernel's copy-on-write needs a page to
 * copy from.  On arm64 a MAP_SHARED mapping in pfn mode may not be
 * executable (mmap EPERM, mprotect EACCES): the instruction cache is never
 * synced under a special PTE.  Errors: EBADF on a read-only fd, EINVAL for
 * an unknown mode, EOPNOTSUPP for pfn mode where it is not built
 * (architectures other than x86 and arm64, and arm64 kernels that export
 * no zap of one mapping's PTE: see Documentation/cowdev.rst,
 * *Architectures*), EBUSY once mapped.
 */
#define COWDEV_IOC_SET_MODE _IO(COWDEV_IOC_MAGIC, 0x04)

/**
 * define COWDEV_IOC_WRITEBACK - write the object's dirty pages back
 *
 * Argument: pointer to &struct cowdev_writeback.  Each dirty page is
 * unmapped from the object's mappings, marked clean and put under writeback
 * (PG_writeback); @delay_us later the writeback ends and every waiter wakes.
 * Meanwhile the pages are stable: a write to one waits (killably, in its
 * fault) until the writeback ends, then dirties the page again.  A page
 * the object shares with a clone stays dirty: every writeback writes it
 * back until one of the objects copies it.
 * One writeback runs per object at a time; a second waits for the first,
 * killably.
 * Closing the object's last file ends its writeback at once, without
 * writing to the backing store.  With a backing store
 * (%COWDEV_IOC_SET_BACKING) the pages are also written to it, once the
 * delay is over, unless its filesystem is frozen then: the pages then stay
 * dirty, unwritten, for a writeback after the thaw.  A page whose write
 * fails stays dirty and in memory, and the error is reported, as fsync()
 * reports one, by the next
 * COWDEV_IOC_WRITEBACK through each open file of the object, once (a
 * waiting call reports its own writeback's).  Errors:
 * EINVAL for unknown flags, a delay past the maximum or non-zero reserved
 * fields; EBADF on a read-only fd; EFAULT; ENOMEM; EINTR on a fatal signal
 * while waiting; the backing store's write error (EIO, ENOSPC, ...).
 */
#define COWDEV_IOC_WRITEBACK _IOWR(COWDEV_IOC_MAGIC, 0x05, struct cowdev_writeback)

/**
 * define COWDEV_IOC_PUNCH_HOLE - free the pages of a range, keeping the size
 *
 * Argument: pointer to &struct cowdev_range.  The range is unmapped from
 * every mapping, its pages' locks and writeback are waited for, and the
 * pages are freed: the range reads as zeroes again.  Private copies made
 * in the range stay, as with fallocate(FALLOC_FL_PUNCH_HOLE) on a file.
 * The part of the range past the object's end is ignored.  Errors: EINVAL
 * for an unaligned or empty range or one past %COWDEV_MAX_SIZE; EBADF on a
 * read-only fd; EFAULT; EINTR on a fatal signal while another ioctl holds
 * the object.
 */
#define COWDEV_IOC_PUNCH_HOLE _IOW(COWDEV_IOC_MAGIC, 0x06, struct cowdev_range)

/**
 * define COWDEV_IOC_SET_BACKING - give the object a backing store
 *
 * Argument: a file descriptor, by value, of a regular file open for reading
 * and writing (not O_APPEND, not O_DIRECT).  From then on the object's
 * pages can be evicted to the file, each at its own offset, and read back
 * by the faults that need them (major faults).  What the file held before
 * is never read: the object's contents stay what they were.  An object has
 * at most one backing store, for its whole life; a clone has none until it
 * is given one.  I/O on the backing file must not use a mapping of the
 * object it backs as its buffer.  Errors: EBADF on a read-only object fd,
 * for a bad fd or one of a file not open for both reading and writing;
 * EINVAL for a file that is not regular (another cowdev object, this one,
 * a directory, a pipe), is open O_APPEND or O_DIRECT, is on a stacked
 * filesystem (overlayfs, ecryptfs, FUSE passthrough) or is a kernel
 * interface rather than storage (sysfs, cgroupfs, configfs, debugfs and
 * the like); EBUSY if the object already has a backing store, or the file
 * (by inode, however it was opened) backs another object, one being
 * closed included until its last write to the file is done; EINTR on a
 * fatal signal while another ioctl holds the object; and what opening the
 * file again for the object gives (EROFS, ETXTBSY, EACCES from a security
 * module, ENFILE).
 */
#define COWDEV_IOC_SET_BACKING _IO(COWDEV_IOC_MAGIC, 0x07)

/**
 * define COWDEV_IOC_EVICT - push a range of the object out to its backing
 *	store
 *
 * Argument: pointer to &struct cowdev_evict.  In the spirit of
 * MADV_PAGEOUT: the range is unmapped from every mapping (private copies
 * stay: they are the processes' anonymous memory), each dirty page is
 * written to the backing store, and each page then dropped from memory
 * and remembered as on the backing store, from where the next fault on it
 * reads it back (a major fault).  Pages the object shares with a clone,
 * pages someone holds (GUP pins, pipe buffers), pages whose write
 * failed, and the dirty pages of a store whose filesystem is frozen stay
 * in memory; a write error is reported as by %COWDEV_IOC_WRITEBACK.  The
 * part of the range past the end of the object is ignored.  Errors:
 * EOPNOTSUPP if the object has no backing store; EINVAL for an unaligned
 * or empty range, one past %COWDEV_MAX_SIZE or non-zero reserved fields;
 * EBADF on a read-only fd; EFAULT; EINTR on a fatal signal while another
 * ioctl holds the object; EFBIG at a dirty page past the caller's
 * RLIMIT_FSIZE, which the eviction writes within, as the caller's own
 * write(2) would (with SIGXFSZ, as write(2) gives, for a page that
 * begins past it): that page and the rest stay, no store error is
 * recorded, and the pages evicted before it are not reported.  A page
 * past the largest file the store's filesystem can hold is the store's
 * error: EIO.
 */
#define COWDEV_IOC_EVICT _IOWR(COWDEV_IOC_MAGIC, 0x08, struct cowdev_evict)

#endif /* _UAPI_COWDEV_H */
