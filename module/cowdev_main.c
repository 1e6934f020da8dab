// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev: a character device whose mappings exercise the kernel's fault and
 * copy-on-write paths over the module's own page pool.
 *
 * This file holds the device and its file operations: open() makes an
 * object, the ioctls act on it, mmap() hands it to cowdev_vm.c, and the
 * last close destroys it.  See Documentation/cowdev.rst.
 */
#include <linux/anon_inodes.h>
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "cowdev.h"

#define COWDEV_VERSION "0.1.0"

static int cowdev_open(struct inode *inode, struct file *file)
{
	struct cowdev_object *obj = cowdev_object_create();

	if (IS_ERR(obj))
		return PTR_ERR(obj);
	file->private_data = obj;
	/*
	 * VMAs link into the object's own mapping, for unmap_mapping_pages(),
	 * and its backing store's write errors are kept there, each open file
	 * seeing each once (file_check_and_advance_wb_err()).
	 */
	file->f_mapping = obj->inode->i_mapping;
	file->f_wb_err = filemap_sample_wb_err(file->f_mapping);
	return 0;
}

static int cowdev_release(struct inode *inode, struct file *file)
{
	cowdev_object_destroy(file->private_data);
	return 0;
}

static long cowdev_ioctl_set_size(struct file *file, u64 __user *arg)
{
	u64 size;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (get_user(size, arg))
		return -EFAULT;
	return cowdev_object_set_size(file->private_data, size);
}

static long cowdev_ioctl_get_info(struct file *file,
				  struct cowdev_info __user *arg)
{
	struct cowdev_info info;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	if (info.flags || memchr_inv(info.reserved, 0, sizeof(info.reserved)))
		return -EINVAL;
	cowdev_stats_fill_info(file->private_data, &info);
	if (copy_to_user(arg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long cowdev_ioctl_writeback(struct file *file,
				   struct cowdev_writeback __user *arg)
{
	struct cowdev_writeback args;
	int ret;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&args, arg, sizeof(args)))
		return -EFAULT;
	ret = cowdev_writeback_start(file->private_data, &args);
	if (ret)
		return ret;
	if (put_user(args.pages, &arg->pages))
		return -EFAULT;
	return file_check_and_advance_wb_err(file);
}

static long cowdev_ioctl_set_backing(struct file *file, unsigned long arg)
{
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (arg > INT_MAX)
		return -EBADF;
	return cowdev_backing_set(file->private_data, arg);
}

static long cowdev_ioctl_evict(struct file *file,
			       struct cowdev_evict __user *arg)
{
	struct cowdev_evict args;
	int ret;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&args, arg, sizeof(args)))
		return -EFAULT;
	ret = cowdev_backing_evict(file->private_data, &args);
	if (ret)
		return ret;
	if (put_user(args.pages, &arg->pages))
		return -EFAULT;
	/* A write that failed ended the eviction. */
	return file_check_and_advance_wb_err(file);
}

static long cowdev_ioctl_punch_hole(struct file *file,
				    struct cowdev_range __user *arg)
{
	struct cowdev_range range;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&range, arg, sizeof(range)))
		return -EFAULT;
	return cowdev_object_punch_hole(file->private_data, range.offset,
					range.len);
}

static const struct file_operations cowdev_fops;

/* A file for @obj, as open() would make for a new object. */
static struct file *cowdev_file_create(struct cowdev_object *obj)
{
	struct file *file;

	file = anon_inode_getfile("[cowdev]", &cowdev_fops, obj, O_RDWR);
	if (!IS_ERR(file)) {
		file->f_mapping = obj->inode->i_mapping;
		file->f_wb_err = filemap_sample_wb_err(file->f_mapping);
	}
	return file;
}

static long cowdev_ioctl_clone(struct file *file, unsigned long arg)
{
	struct cowdev_object *clone;
	struct file *clone_file;
	int fd;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (arg)
		return -EINVAL;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	clone = cowdev_cow_clone(file->private_data);
	if (IS_ERR(clone)) {
		put_unused_fd(fd);
		return PTR_ERR(clone);
	}
	clone_file = cowdev_file_create(clone);
	if (IS_ERR(clone_file)) {
		cowdev_object_destroy(clone);
		put_unused_fd(fd);
		return PTR_ERR(clone_file);
	}
	fd_install(fd, clone_file);
	return fd;
}

static long cowdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case COWDEV_IOC_SET_SIZE:
		return cowdev_ioctl_set_size(file, uarg);
	case COWDEV_IOC_GET_INFO:
		return cowdev_ioctl_get_info(file, uarg);
	case COWDEV_IOC_CLONE:
		return cowdev_ioctl_clone(file, arg);
	case COWDEV_IOC_SET_MODE:
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		return cowdev_object_set_mode(file->private_data, arg);
	case COWDEV_IOC_WRITEBACK:
		return cowdev_ioctl_writeback(file, uarg);
	case COWDEV_IOC_PUNCH_HOLE:
		return cowdev_ioctl_punch_hole(file, uarg);
	case COWDEV_IOC_SET_BACKING:
		return cowdev_ioctl_set_backing(file, arg);
	case COWDEV_IOC_EVICT:
		return cowdev_ioctl_evict(file, uarg);
	default:
		return -ENOTTY;
	}
}

#ifdef CONFIG_COMPAT
/*
 * CLONE, SET_MODE and SET_BACKING take integers, which compat_ptr_ioctl()
 * must not be given (fs/ioctl.c): compat_ptr() clears bit 31 on s390, and
 * would turn a bad value into a good one.  Only pointers are converted.
 */
static long cowdev_compat_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	if (_IOC_DIR(cmd) == _IOC_NONE)
		return cowdev_ioctl(file, cmd, arg);
	return cowdev_ioctl(file, cmd, (unsigned long)compat_ptr(arg));
}
#else
#define cowdev_compat_ioctl NULL
#endif

static const struct file_operations cowdev_fops = {
	.owner = THIS_MODULE,
	.open = cowdev_open,
	.release = cowdev_release,
	.mmap = cowdev_mmap,
	/*
	 * The object is memory, as a memfd is, and its store a place to
	 * evict to, not a copy to keep (COWDEV_IOC_WRITEBACK writes to it):
	 * fsync() and msync(MS_SYNC) have nothing to do, and succeed, as on
	 * shmem.  Without the callback vfs_fsync_range() says EINVAL.
	 */
	.fsync = noop_fsync,
	.unlocked_ioctl = cowdev_ioctl,
	.compat_ioctl = cowdev_compat_ioctl,
};

static struct miscdevice cowdev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "cowdev",
	.fops = &cowdev_fops,
	.mode = 0600,
};

static int __init cowdev_init(void)
{
	int ret;

	ret = cowdev_stats_init();
	if (ret)
		return ret;
	ret = cowdev_pool_init();
	if (ret)
		goto err_stats;
	ret = cowdev_reclaim_init();
	if (ret)
		goto err_pool;
	ret = cowdev_object_init();
	if (ret)
		goto err_reclaim;
	cowdev_probe_init();
	ret = misc_register(&cowdev_misc);
	if (ret)
		goto err_probe;
	return 0;

err_probe:
	cowdev_probe_exit();
	cowdev_object_exit();
err_reclaim:
	cowdev_reclaim_exit();
err_pool:
	cowdev_pool_exit();
err_stats:
	cowdev_stats_exit();
	return ret;
}

static void __exit cowdev_exit(void)
{
	misc_deregister(&cowdev_misc);
	cowdev_probe_exit();
	cowdev_object_exit();
	cowdev_reclaim_exit();
	cowdev_pool_exit();
	cowdev_stats_exit();
}

module_init(cowdev_init);
module_exit(cowdev_exit);

MODULE_DESCRIPTION("Copy-on-write fault-path test device with its own page pool");
MODULE_AUTHOR("The cowdev developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(COWDEV_VERSION);
