// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev under pins, remote access and long waits, each answer compared
 * with memfd's in the same test (selftests/mm/cow.c is the model):
 *
 * - a GUP reference held across CLONE (process_vm_writev stalled by
 *   userfaultfd, a vmsplice'd page, an O_DIRECT read from a file on a block
 *   device): the writer's object keeps the write;
 * - writes from another mm and FOLL_FORCE writes into private mappings;
 * - hole punching keeps private COW copies, shrinking drops them;
 * - ioctls that change an object need a writable fd;
 * - a fault or an ioctl waiting on a long page lock or writeback can be
 *   killed, and mmap() never waits behind one.
 *
 * A test that has no trigger for memfd (CLONE) runs the memfd variant with
 * the trigger left out: memfd's answer is what the writer's object shows.
 */
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

/* Free [off, off + len) of the object: PUNCH_HOLE, or fallocate for memfd. */
static int punch(enum test_backing b, int fd, off_t off, off_t len)
{
	if (b == BACKING_MEMFD)
		return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 off, len) ? -errno : 0;
	return cowdev_punch(fd, off, len);
}

static int resize(enum test_backing b, int fd, off_t len)
{
	if (b == BACKING_MEMFD)
		return ftruncate(fd, len) ? -errno : 0;
	return cowdev_set_size(fd, len);
}

FIXTURE(pins)
{
	int fd;
	long ps;
	size_t len;
	char *p;
	const char *skip;
};

FIXTURE_VARIANT(pins)
{
	enum test_backing backing;
};

FIXTURE_VARIANT_ADD(pins, memfd)
{
	.backing = BACKING_MEMFD,
};

FIXTURE_VARIANT_ADD(pins, page)
{
	.backing = BACKING_PAGE,
};

FIXTURE_VARIANT_ADD(pins, pfn)
{
	.backing = BACKING_PFN,
};

FIXTURE_SETUP(pins)
{
	self->ps = page_size();
	self->len = 4 * self->ps;
	self->p = MAP_FAILED;
	self->fd = open_backing(variant->backing, self->len);
	if (self->fd == -EOPNOTSUPP) {
		self->skip = COWDEV_NO_PFN_MODE;
		return;
	}
	ASSERT_GE(self->fd, 0);
	self->p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	memset(self->p, 'o', self->len);
}

FIXTURE_TEARDOWN(pins)
{
	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	if (self->fd >= 0)
		close(self->fd);
	if (variant->backing != BACKING_MEMFD)
		EXPECT_EQ(0, global_stat("pool_in_use"));
}

/* CLONE for cowdev, nothing for memfd; the clone's fd or -1. */
static int clone_trigger(enum test_backing b, int fd)
{
	return b == BACKING_MEMFD ? -1 : ioctl(fd, COWDEV_IOC_CLONE, 0);
}

/* The clone still reads what the source held when it was made. */
static bool clone_reads(int cfd, size_t len, char c)
{
	char *q;
	bool ok;

	if (cfd < 0)
		return true;
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, cfd, 0);
	if (q == MAP_FAILED)
		return false;
	ok = all_bytes(q, len, c);
	munmap(q, len);
	return ok;
}

struct vm_writer {
	char *local, *remote;
	size_t len;
	ssize_t ret;
	int err;
};

static void *vm_writer_thread(void *arg)
{
	struct vm_writer *w = arg;
	struct iovec local = { w->local, w->len };
	struct iovec remote = { w->remote, w->len };

	w->ret = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	w->err = errno;
	return NULL;
}

/*
 * process_vm_writev() pins the object's page, then stalls reading its
 * source buffer; CLONE runs while the pin is held.  The write returns
 * success, so it must be in the writer's object, as it is in the memfd.
 */
TEST_F(pins, process_vm_writev_held_across_clone)
{
	struct vm_writer w = { .remote = self->p, .len = self->ps };
	struct stall s;
	pthread_t th;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_TRUE(stall_init(&s, self->ps));
	w.local = s.buf;
	if (variant->backing == BACKING_PFN) {
		/* Special PTEs cannot be pinned, as with VM_PFNMAP. */
		vm_writer_thread(&w);
		EXPECT_EQ(-1, w.ret);
		EXPECT_EQ(EFAULT, w.err);
		stall_fini(&s);
		return;
	}
	ASSERT_EQ(0, pthread_create(&th, NULL, vm_writer_thread, &w));
	ASSERT_TRUE(stall_wait(&s));
	cfd = clone_trigger(variant->backing, self->fd);
	if (variant->backing != BACKING_MEMFD)
		ASSERT_GE(cfd, 0);
	ASSERT_TRUE(stall_release(&s, 'W'));
	pthread_join(th, NULL);
	ASSERT_EQ(self->ps, w.ret);

	EXPECT_TRUE(all_bytes(self->p, self->ps, 'W'));
	EXPECT_TRUE(all_bytes(self->p + self->ps, self->len - self->ps, 'o'));
	/* The clone is the object as it was: the write had not landed. */
	EXPECT_TRUE(clone_reads(cfd, self->len, 'o'));
	/* And the writer's next store stays in the writer's object. */
	self->p[0] = 'N';
	EXPECT_TRUE(clone_reads(cfd, self->ps, 'o'));
	if (cfd >= 0)
		close(cfd);
	stall_fini(&s);
}

/*
 * process_vm_writev() into a mapping of @fd, stalled after its GUP, held
 * across fork().  Returns what the parent and then the child read at the
 * written byte, as parent << 8 | child, or a negative step number.  With
 * MAP_SHARED both see the write; with MAP_PRIVATE the pinned page stays
 * the parent's (fork copies it for the child: copy_present_page()).
 */
static int vm_writev_across_fork(int fd, size_t ps, int flags)
{
	char *q = mmap(NULL, ps, PROT_READ | PROT_WRITE, flags, fd, 0);
	struct vm_writer w = { .remote = q, .len = ps };
	int go[2], status, ret;
	struct stall s;
	pthread_t th;
	pid_t pid;

	if (q == MAP_FAILED || !stall_init(&s, ps) || pipe(go))
		return -1;
	memset(q, 'o', ps);
	w.local = s.buf;
	if (pthread_create(&th, NULL, vm_writer_thread, &w) || !stall_wait(&s))
		return -2;
	pid = fork_child();
	if (pid == 0) {
		char c;

		if (read(go[0], &c, 1) != 1)
			_exit(255);
		_exit(q[0]);
	}
	if (pid < 0 || !stall_release(&s, 'W'))
		return -3;
	pthread_join(th, NULL);
	if (w.ret != (ssize_t)ps)
		return -4;
	ret = q[0] << 8;
	if (write(go[1], "g", 1) != 1 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status))
		return -5;
	ret |= WEXITSTATUS(status);
	close(go[0]);
	close(go[1]);
	stall_fini(&s);
	munmap(q, ps);
	return ret;
}

/* fork as the COW trigger: the same answers as memfd's, in both mappings. */
TEST_F(pins, process_vm_writev_held_across_fork)
{
	int ref = open_backing(BACKING_MEMFD, self->ps);

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_GE(ref, 0);
	ASSERT_EQ('W' << 8 | 'W', vm_writev_across_fork(ref, self->ps, MAP_SHARED));
	ASSERT_EQ('W' << 8 | 'o', vm_writev_across_fork(ref, self->ps, MAP_PRIVATE));
	EXPECT_EQ('W' << 8 | 'o',
		  vm_writev_across_fork(self->fd, self->ps, MAP_PRIVATE));
	if (variant->backing != BACKING_PFN)
		EXPECT_EQ('W' << 8 | 'W',
			  vm_writev_across_fork(self->fd, self->ps, MAP_SHARED));
	close(ref);
}

/*
 * A pipe holds the object's page (vmsplice) across CLONE; the owner then
 * writes.  With memfd the pipe reads the page the owner wrote.
 */
TEST_F(pins, vmsplice_held_across_clone)
{
	struct iovec iov = { self->p, self->ps };
	char *buf = malloc(self->ps);
	int pipefd[2], cfd;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(pipefd));
	if (variant->backing == BACKING_PFN) {
		/*
		 * Special PTEs cannot be pinned, as with VM_PFNMAP; GUP says
		 * so with EFAULT on 6.1, EEXIST on 6.12 and later.
		 */
		EXPECT_EQ(-1, vmsplice(pipefd[1], &iov, 1, 0));
		EXPECT_TRUE(errno == EFAULT || errno == EEXIST);
		goto out;
	}
	ASSERT_EQ(self->ps, vmsplice(pipefd[1], &iov, 1, 0));
	cfd = clone_trigger(variant->backing, self->fd);
	memset(self->p, 'N', self->ps);
	ASSERT_EQ(self->ps, read(pipefd[0], buf, self->ps));
	EXPECT_TRUE(all_bytes(buf, self->ps, 'N'));
	EXPECT_TRUE(clone_reads(cfd, self->len, 'o'));
	if (cfd >= 0)
		close(cfd);
out:
	close(pipefd[0]);
	close(pipefd[1]);
	free(buf);
}

/*
 * A file on a real block device (the guest's ext4 disk), holding @len bytes
 * of @c, opened for O_DIRECT reads and already unlinked; -1 and a SKIP
 * reason in @why if none is named or its file system refuses O_DIRECT, -2
 * on errors.
 */
static int direct_file(size_t len, char c, const char **why)
{
	const char *dir = getenv("COWDEV_DIRECT_DIR");
	char path[256], *buf;
	int fd, dfd;

	*why = "COWDEV_DIRECT_DIR names no directory on a block device";
	if (!dir)
		return -1;
	snprintf(path, sizeof(path), "%s/cowdev-direct-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return -2;
	buf = malloc(len);
	dfd = -2;
	if (buf)
		memset(buf, c, len);
	if (buf && write(fd, buf, len) == (ssize_t)len && !fsync(fd)) {
		dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (dfd < 0) {
			*why = "the file system has no O_DIRECT";
			dfd = -1;
		}
	}
	unlink(path);
	close(fd);
	free(buf);
	return dfd;
}

struct direct_reader {
	int fd;
	char *buf;
	size_t len;
	ssize_t ret;
	int err;
};

static void *direct_reader_thread(void *arg)
{
	struct direct_reader *r = arg;

	r->ret = pread(r->fd, r->buf, r->len, 0);
	r->err = errno;
	return NULL;
}

/*
 * O_DIRECT from a file on a block device into the object, the pin of a DMA
 * in flight: the read pins the object's page, then stalls pinning the page
 * after it, which userfaultfd holds; CLONE runs while the pin is held.  The
 * device writes the page it was given, which must stay the reader's
 * object's page, as it does with memfd; the clone is the object as it was.
 */
TEST_F(pins, o_direct_read_held_across_clone)
{
	struct direct_reader r = { .len = 2 * self->ps };
	long long in_use = 0;
	const char *why;
	struct stall s;
	pthread_t th;
	int cfd;

	COWDEV_SKIP_UNLESS_READY();
	r.fd = direct_file(r.len, 'D', &why);
	if (r.fd == -1)
		SKIP(return, "%s", why);
	ASSERT_LE(0, r.fd);
	/* The object's first page, then a stalling page right after it. */
	r.buf = mmap(NULL, r.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r.buf);
	ASSERT_EQ(r.buf, mmap(r.buf, self->ps, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_FIXED, self->fd, 0));
	ASSERT_TRUE(stall_init_at(&s, r.buf + self->ps, self->ps));
	if (variant->backing == BACKING_PFN) {
		/* Special PTEs cannot be pinned, as with VM_PFNMAP. */
		direct_reader_thread(&r);
		EXPECT_EQ(-1, r.ret);
		TH_LOG("refused: %s", strerror(r.err));
		goto out;
	}
	ASSERT_EQ(0, pthread_create(&th, NULL, direct_reader_thread, &r));
	if (!stall_wait(&s)) {
		stall_fini(&s);		/* wakes a reader that stalled late */
		pthread_join(th, NULL);
		TH_LOG("the read never stalled: %zd, %s", r.ret, strerror(r.err));
		ASSERT_TRUE(false);
	}
	if (variant->backing != BACKING_MEMFD)
		in_use = global_stat("pool_in_use");
	cfd = clone_trigger(variant->backing, self->fd);
	if (variant->backing != BACKING_MEMFD) {
		ASSERT_GE(cfd, 0);
		/*
		 * The pin was there at CLONE: exactly one page, the pinned
		 * one, was copied instead of shared.
		 */
		EXPECT_EQ(in_use + 1, global_stat("pool_in_use"));
	}
	ASSERT_TRUE(stall_release(&s, 'U'));
	pthread_join(th, NULL);
	if (r.ret != (ssize_t)r.len)
		TH_LOG("pread: %s", strerror(r.err));
	ASSERT_EQ(r.len, r.ret);

	EXPECT_TRUE(all_bytes(r.buf, self->ps, 'D'));
	EXPECT_TRUE(all_bytes(self->p, self->ps, 'D'));
	EXPECT_TRUE(all_bytes(self->p + self->ps, self->len - self->ps, 'o'));
	EXPECT_TRUE(all_bytes(r.buf + self->ps, self->ps, 'D'));
	EXPECT_TRUE(clone_reads(cfd, self->len, 'o'));
	if (cfd >= 0)
		close(cfd);
out:
	stall_fini(&s);
	munmap(r.buf, r.len);
	close(r.fd);
}

/* GUP reads pages, and refuses special PTEs as it does VM_PFNMAP: EFAULT. */
TEST_F(pins, process_vm_readv)
{
	struct iovec local, remote = { self->p, self->ps };
	char *buf = malloc(self->ps);

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(NULL, buf);
	local = (struct iovec){ buf, self->ps };
	if (variant->backing != BACKING_PFN) {
		EXPECT_EQ(self->ps, process_vm_readv(getpid(), &local, 1,
						     &remote, 1, 0));
	} else {
		EXPECT_EQ(-1, process_vm_readv(getpid(), &local, 1,
					       &remote, 1, 0));
		EXPECT_EQ(EFAULT, errno);
	}
	free(buf);
}

/* Register @len bytes at @p as an io_uring fixed buffer: 0 or -errno. */
static int uring_register(void *p, size_t len)
{
	struct io_uring_params params = { 0 };
	struct iovec iov = { p, len };
	int ring, ret = 0;

	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		return -ENOSYS;
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		    &iov, 1))
		ret = -errno;
	close(ring);
	return ret;
}

/*
 * io_uring fixed buffers are long-term pins.  The kernel takes them on
 * shmem (memfd) and refuses them on other file pages that need write
 * notification (io_uring's "file backed" check on 6.1; GUP's FOLL_LONGTERM
 * writable-file check from 6.5), and on special PTEs, with an errno that
 * varies by kernel: cowdev cannot give memfd's answer here, and CLONE
 * never meets such a pin.
 */
TEST_F(pins, io_uring_fixed_buffer)
{
	int ret = uring_register(self->p, self->ps);

	COWDEV_SKIP_UNLESS_READY();
	if (ret == -ENOSYS)
		SKIP(return, "no io_uring in this kernel");
	if (variant->backing == BACKING_MEMFD) {
		EXPECT_EQ(0, ret);
	} else {
		EXPECT_GT(0, ret);
		TH_LOG("refused: %s", strerror(-ret));
	}
}

/* Write @c at @addr through /proc/@pid/mem (FOLL_FORCE); 0 or -errno. */
static int mem_write(pid_t pid, void *addr, char c)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, &c, 1, (off_t)(uintptr_t)addr) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * A debugger's forced write into a private page of @fd that its process
 * made PROT_NONE after reading it: the core copies the object's page, and
 * the copy holds the old bytes and the written one.  The writer attaches
 * with ptrace, which any proc_mem.force_override setting lets force.
 * Returns 0 when the page reads as it should, a step number otherwise.
 */
static int forced_write_into_prot_none(int fd, size_t ps)
{
	char *page = malloc(ps), path[64];
	int status, pipefd[2], memfd, ret = 0;
	char *q;
	pid_t pid;

	if (!page || pipe(pipefd))
		return 1;
	pid = fork_child();
	if (pid == 0) {
		q = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, 0);
		if (q == MAP_FAILED || q[1] != 'o' || mprotect(q, ps, PROT_NONE))
			q = NULL;
		if (write(pipefd[1], &q, sizeof(q)) != sizeof(q))
			_exit(1);
		for (;;)
			pause();
	}
	if (pid < 0 || read(pipefd[0], &q, sizeof(q)) != sizeof(q) || !q)
		ret = 2;
	else if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) ||
		 waitpid(pid, &status, 0) != pid)
		ret = 3;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memfd = ret ? -1 : open(path, O_RDWR);
	if (!ret && memfd < 0)
		ret = 4;
	else if (!ret && pwrite(memfd, "X", 1, (off_t)(uintptr_t)q) != 1)
		ret = 5;
	else if (!ret && pread(memfd, page, ps, (off_t)(uintptr_t)q) != ps)
		ret = 6;
	else if (!ret && (page[0] != 'X' || !all_bytes(page + 1, ps - 1, 'o')))
		ret = 7;
	if (memfd >= 0)
		close(memfd);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	close(pipefd[1]);
	free(page);
	return ret;
}

TEST_F(pins, forced_write_into_prot_none_private_page)
{
	int ref = open_backing(BACKING_MEMFD, self->ps);
	char *r;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_GE(ref, 0);
	r = mmap(NULL, self->ps, PROT_WRITE, MAP_SHARED, ref, 0);
	ASSERT_NE(MAP_FAILED, r);
	memset(r, 'o', self->ps);
	EXPECT_EQ(0, forced_write_into_prot_none(ref, self->ps));
	EXPECT_EQ(0, forced_write_into_prot_none(self->fd, self->ps));
	/* The object itself is untouched. */
	EXPECT_TRUE(all_bytes(self->p, self->ps, 'o'));
	munmap(r, self->ps);
	close(ref);
}

/*
 * Another process writes into our private page, which we have only read,
 * through process_vm_writev() and /proc/PID/mem; it has no mapping at that
 * address itself.  The copy must be of the object's page.
 */
TEST_F(pins, remote_write_into_read_private_page)
{
	char *q = mmap(NULL, 2 * self->ps, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->fd, 0);
	pid_t parent = getpid(), pid;
	int status;

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ('o', q[1]);
	ASSERT_EQ('o', q[self->ps + 1]);
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char c = 'R';
		struct iovec local = { &c, 1 }, remote = { q, 1 };

		if (munmap(q, 2 * self->ps))
			_exit(1);
		if (process_vm_writev(parent, &local, 1, &remote, 1, 0) != 1)
			_exit(2);
		_exit(mem_write(parent, q + self->ps, 'M') ? 3 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ('R', q[0]);
	EXPECT_TRUE(all_bytes(q + 1, self->ps - 1, 'o'));
	EXPECT_EQ('M', q[self->ps]);
	EXPECT_TRUE(all_bytes(q + self->ps + 1, self->ps - 1, 'o'));
	EXPECT_TRUE(all_bytes(self->p, 2 * self->ps, 'o'));
	munmap(q, 2 * self->ps);
}

/*
 * Punching a hole keeps the private copies made in it and drops the rest:
 * a private page written before reads as written, one only read reads the
 * hole (zeroes).  truncate_pagecache_range(): "hole-punching should not
 * remove private COWed pages from the hole".
 */
TEST_F(pins, punch_keeps_private_copies)
{
	char *q = mmap(NULL, 2 * self->ps, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->fd, 0);

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, q);
	q[0] = 'P';
	ASSERT_EQ('o', q[self->ps]);
	ASSERT_EQ(0, punch(variant->backing, self->fd, 0, 2 * self->ps));
	EXPECT_EQ('P', q[0]);
	EXPECT_TRUE(all_bytes(q + 1, self->ps - 1, 'o'));
	EXPECT_TRUE(all_bytes(q + self->ps, self->ps, 0));
	EXPECT_TRUE(all_bytes(self->p, 2 * self->ps, 0));
	munmap(q, 2 * self->ps);
}

/* Shrinking drops private copies past the new end, as ftruncate() does. */
TEST_F(pins, shrink_drops_private_copies)
{
	char *q = mmap(NULL, self->ps, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->fd, 0);

	COWDEV_SKIP_UNLESS_READY();
	ASSERT_NE(MAP_FAILED, q);
	q[0] = 'P';
	ASSERT_EQ(0, resize(variant->backing, self->fd, 0));
	EXPECT_TRUE(access_sigbus(q, false));
	ASSERT_EQ(0, resize(variant->backing, self->fd, self->len));
	EXPECT_TRUE(all_bytes(q, self->ps, 0));
	munmap(q, self->ps);
}

/* Every ioctl that changes an object refuses a read-only fd: EBADF. */
TEST(changing_ioctls_need_write_access)
{
	struct cowdev_writeback wb = { 0 };
	struct cowdev_range r = { 0, 4096 };
	struct cowdev_info info;
	uint64_t size = 8192;
	int fd = open(COWDEV_DEV, O_RDONLY);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_CLONE, 0));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_SET_MODE, COWDEV_MODE_PFN));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_SET_SIZE, &size));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_PUNCH_HOLE, &r));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_WRITEBACK, &wb));
	EXPECT_EQ(EBADF, errno);
	/* Reading is allowed. */
	EXPECT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(COWDEV_MODE_PAGE, info.mode);
	close(fd);
}

static int start_writeback(int fd, uint64_t flags, uint64_t delay_us)
{
	struct cowdev_writeback wb = { .flags = flags, .delay_us = delay_us };

	return ioctl(fd, COWDEV_IOC_WRITEBACK, &wb) ? -errno : 0;
}

FIXTURE(waits)
{
	int fd;
	long ps;
	char *p;
};

FIXTURE_SETUP(waits)
{
	self->ps = page_size();
	self->fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0);
	self->p = mmap(NULL, 4 * self->ps, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(waits)
{
	write_text(COWDEV_PARAMS "/fill_delay_us", "0");
	munmap(self->p, 4 * self->ps);
	close(self->fd);	/* ends any writeback at once */
}

/*
 * Put a dirty page of @fd (mapped at @p) under a long writeback, run
 * @blocked in a child, which sleeps behind it, and kill the child.
 * Returns the child, or -1.
 */
static pid_t child_behind_writeback(int fd, char *p,
				    int (*blocked)(int fd, char *p))
{
	pid_t pid;

	p[0] = 'a';
	if (start_writeback(fd, 0, LONG_WAIT_US))
		return -1;
	pid = fork_child();
	if (pid == 0)
		_exit(blocked(fd, p));
	while (pid > 0 && !sleeping(pid))
		sched_yield();
	return pid;
}

static int write_page(int fd, char *p)
{
	p[0] = 'b';
	return 0;
}

static int second_writeback(int fd, char *p)
{
	return start_writeback(fd, 0, 0) ? 1 : 0;
}

/* A write that waits for a long writeback dies at once when killed. */
TEST_F(waits, write_waiting_on_writeback_is_killable)
{
	pid_t pid = child_behind_writeback(self->fd, self->p, write_page);
	long ms;

	ASSERT_GT(pid, 0);
	ms = kill_when_asleep(pid);
	ASSERT_GE(ms, 0);
	EXPECT_LT(ms, KILL_BOUND_MS);
}

/* A fault that waits on a page locked for a long fill dies when killed. */
TEST_F(waits, fault_waiting_on_page_lock_is_killable)
{
	char delay[32];
	pid_t filler, waiter;
	int status;
	long ms;

	snprintf(delay, sizeof(delay), "%d", LONG_WAIT_US);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", delay));
	filler = fork_child();
	ASSERT_GE(filler, 0);
	if (filler == 0) {
		(void)*(volatile char *)self->p;	/* fills, slowly */
		_exit(0);
	}
	while (!sleeping(filler))
		sched_yield();
	waiter = fork_child();
	ASSERT_GE(waiter, 0);
	if (waiter == 0) {
		(void)*(volatile char *)self->p;	/* waits on the lock */
		_exit(0);
	}
	ms = kill_when_asleep(waiter);
	ASSERT_GE(ms, 0);
	EXPECT_LT(ms, KILL_BOUND_MS);
	ASSERT_EQ(filler, waitpid(filler, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
}

/*
 * A write fault that waits for a CLONE dies at once when killed: the
 * CLONE holds clone_sem while it waits on a page locked for a long fill,
 * and the fault waits for it having let go of its own lock, killably, as
 * for a page lock, not on clone_sem itself, which sleeps uninterruptibly.
 * With @read_first, the write finds a read-only PTE (->page_mkwrite in
 * page mode, which only tries clone_sem and sends the access back to
 * ->fault); without, no PTE (->fault).
 */
static void write_waits_for_clone(struct __test_metadata *const _metadata,
				  FIXTURE_DATA(waits) *self, bool read_first)
{
	pid_t filler, cloner, writer;
	char delay[32];
	int status;
	long ms;

	if (access("/proc/self/stack", R_OK))
		SKIP(return, "no /proc/PID/stack in this kernel");
	self->p[self->ps] = 'a';	/* page 1: resident, mapped writable */
	snprintf(delay, sizeof(delay), "%d", LONG_WAIT_US);
	ASSERT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", delay));
	filler = fork_child();
	ASSERT_GE(filler, 0);
	if (filler == 0) {
		(void)*(volatile char *)self->p;	/* page 0, slowly */
		_exit(0);
	}
	while (!sleeping(filler))
		sched_yield();
	cloner = fork_child();
	ASSERT_GE(cloner, 0);
	if (cloner == 0)
		_exit(ioctl(self->fd, COWDEV_IOC_CLONE, 0) < 0);
	/*
	 * Asleep on page 0's lock in the CLONE's walk, clone_sem held (the
	 * wait is in cowdev_wait_slow(), or in cowdev_lock_page() if that is
	 * inlined).
	 */
	ASSERT_TRUE(process_in_within(cloner, "cowdev_cow_clone"));
	EXPECT_TRUE(process_in_within(cloner, "cowdev_wait_slow") ||
		    process_in(cloner, "cowdev_lock_page"))
		TH_LOG("the CLONE never waited on the fill");
	writer = fork_child();
	ASSERT_GE(writer, 0);
	if (writer == 0) {
		/* No PTE (the CLONE may not have zapped them yet): a fault. */
		madvise(self->p + self->ps, self->ps, MADV_DONTNEED);
		if (read_first)
			(void)*(volatile char *)(self->p + self->ps);
		self->p[self->ps] = 'b';
		_exit(0);
	}
	/* Waiting with its lock let go, not in clone_sem or a mkwrite. */
	EXPECT_TRUE(process_in_within(writer, "cowdev_fault_finish"))
		TH_LOG("the write did not wait with its lock let go");
	ms = kill_when_asleep(writer);
	ASSERT_GE(ms, 0);
	EXPECT_LT(ms, KILL_BOUND_MS);
	ASSERT_EQ(cloner, waitpid(cloner, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(filler, waitpid(filler, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ('a', self->p[self->ps]);
}

TEST_F(waits, write_fault_waiting_for_a_clone_is_killable)
{
	write_waits_for_clone(_metadata, self, false);
}

TEST_F(waits, mkwrite_waiting_for_a_clone_is_killable)
{
	write_waits_for_clone(_metadata, self, true);
}

/* WRITEBACK waiting for the previous writeback can be killed. */
TEST_F(waits, writeback_waiting_for_writeback_is_killable)
{
	pid_t pid = child_behind_writeback(self->fd, self->p, second_writeback);
	long ms;

	ASSERT_GT(pid, 0);
	ms = kill_when_asleep(pid);
	ASSERT_GE(ms, 0);
	EXPECT_LT(ms, KILL_BOUND_MS);
}

/*
 * A WRITEBACK waiting for the previous one holds nothing mmap() needs: the
 * mmap returns while the first writeback still runs.
 */
TEST_F(waits, mmap_does_not_wait_behind_writeback)
{
	pid_t pid = child_behind_writeback(self->fd, self->p, second_writeback);
	uint64_t start;
	char *q;

	ASSERT_GT(pid, 0);
	start = now_ms();
	q = mmap(NULL, self->ps, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_LT(now_ms() - start, KILL_BOUND_MS);
	ASSERT_NE(MAP_FAILED, q);
	munmap(q, self->ps);
	EXPECT_LE(0, kill_when_asleep(pid));
}

TEST_HARNESS_MAIN
