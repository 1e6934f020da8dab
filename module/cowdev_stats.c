// SPDX-License-Identifier: GPL-2.0
/*
 * Counters and their debugfs files.
 *
 *   /sys/kernel/debug/cowdev/stats          global, "name value" per line;
 *                                           write "reset" to zero them
 *   /sys/kernel/debug/cowdev/objects/<id>   one object's state and counters
 *
 * Counters are per-CPU: the fault path increments its own CPU's copy and
 * readers add the copies up, so counting shares no cache line between CPUs.
 */
#include <linux/atomic.h>
#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <linux/smp.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "cowdev.h"

/* Counter names, in the order of enum cowdev_stat. */
static const char *const cowdev_stat_names[COWDEV_NR_STATS] = {
	[COWDEV_STAT_FAULTS] = "faults",
	[COWDEV_STAT_READ_FAULTS] = "read_faults",
	[COWDEV_STAT_WRITE_FAULTS] = "write_faults",
	[COWDEV_STAT_SHARED_FAULTS] = "shared_faults",
	[COWDEV_STAT_PRIVATE_FAULTS] = "private_faults",
	[COWDEV_STAT_COW_FAULTS] = "cow_faults",
	[COWDEV_STAT_FAULTAROUND_PAGES] = "faultaround_pages",
	[COWDEV_STAT_MKWRITE] = "mkwrite",
	[COWDEV_STAT_PFN_MKWRITE] = "pfn_mkwrite",
	[COWDEV_STAT_REUSE] = "reuse",
	[COWDEV_STAT_COPY] = "copy",
	[COWDEV_STAT_CORE_COPY] = "core_copy",
	[COWDEV_STAT_CORE_REUSE] = "core_reuse",
	[COWDEV_STAT_ALLOC_FAIL] = "alloc_fail",
	[COWDEV_STAT_LOCK_WAITS] = "lock_waits",
	[COWDEV_STAT_WRITEBACK_WAITS] = "writeback_waits",
	[COWDEV_STAT_WAIT_NS_TOTAL] = "wait_ns_total",
	[COWDEV_STAT_MAJOR_FAULTS] = "major_faults",
	[COWDEV_STAT_PAGES_READ] = "pages_read",
	[COWDEV_STAT_PAGES_READ_DIRECT] = "pages_read_direct",
	[COWDEV_STAT_PAGES_WRITTEN] = "pages_written",
	[COWDEV_STAT_EVICTIONS] = "evictions",
	[COWDEV_STAT_IO_ERRORS] = "io_errors",
	[COWDEV_STAT_READAHEAD_PAGES] = "readahead_pages",
	[COWDEV_STAT_READAHEAD_HITS] = "readahead_hits",
	[COWDEV_STAT_READAHEAD_UNUSED] = "readahead_unused",
	[COWDEV_STAT_RECLAIMED] = "reclaimed",
};

/*
 * cowdev_global_stats: the module-wide counters, per CPU
 */
struct cowdev_counters __percpu *cowdev_global_stats;

static struct dentry *cowdev_debugfs_root;
static struct dentry *cowdev_debugfs_objects;
static atomic_t cowdev_nr_objects = ATOMIC_INIT(0);

/**
 * cowdev_stats_sum() - add up one counter over all CPUs
 * @stats: a per-CPU counter set
 * @stat: which counter
 *
 * Return: the sum.
 */
u64 cowdev_stats_sum(struct cowdev_counters __percpu *stats,
		     enum cowdev_stat stat)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(stats, cpu)->v[stat]);
	return sum;
}

static u64 cowdev_stats_max_wait(struct cowdev_counters __percpu *stats)
{
	u64 max = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		max = max(max, READ_ONCE(per_cpu_ptr(stats, cpu)->wait_ns_max));
	return max;
}

static void cowdev_stats_show_counters(struct seq_file *m,
				       struct cowdev_counters __percpu *stats)
{
	int i;

	for (i = 0; i < COWDEV_NR_STATS; i++)
		seq_printf(m, "%s %llu\n", cowdev_stat_names[i],
			   cowdev_stats_sum(stats, i));
	seq_printf(m, "wait_ns_max %llu\n", cowdev_stats_max_wait(stats));
}

static int cowdev_stats_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "objects %d\n", atomic_read(&cowdev_nr_objects));
	cowdev_stats_show_counters(m, cowdev_global_stats);
	seq_printf(m, "core_probe %s\n",
		   cowdev_probe_available() ? "available" : "unavailable");
	/* The modes there are, and those whose read faults map around. */
	seq_printf(m, "modes %s\n", COWDEV_HAVE_PFN_MODE ? "page,pfn" : "page");
	seq_printf(m, "faultaround %s\n",
		   COWDEV_HAVE_PAGE_FAULT_AROUND ?
		   (COWDEV_HAVE_PFN_MODE ? "page,pfn" : "page") :
		   (COWDEV_HAVE_PFN_MODE ? "pfn" : "none"));
	cowdev_pool_show(m);
	cowdev_reclaim_show(m);
	return 0;
}

static int cowdev_stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, cowdev_stats_show, NULL);
}

/*
 * Each CPU zeroes its own counters, between two of its updates: zeroed
 * from another CPU, an update in flight there (a this_cpu_add() is a
 * read-modify-write) would put the old count back.  An interrupt does not
 * land inside a this_cpu_add() (one instruction on x86 and on arm64 with
 * LSE atomics, an exclusive pair that retries after it otherwise), and
 * wait_ns_max is updated with interrupts off (cowdev_wait.c).
 */
static void cowdev_stats_reset_cpu(void *unused)
{
	memset(this_cpu_ptr(cowdev_global_stats), 0,
	       sizeof(struct cowdev_counters));
}

/*
 * An offline CPU updates nothing and takes no IPI, so its counters, which
 * the sums still read, are zeroed from here; cpus_read_lock() keeps each
 * CPU on the side of that line it was found on.
 */
static void cowdev_stats_reset(void)
{
	int cpu;

	cpus_read_lock();
	on_each_cpu(cowdev_stats_reset_cpu, NULL, 1);
	for_each_possible_cpu(cpu)
		if (!cpu_online(cpu))
			memset(per_cpu_ptr(cowdev_global_stats, cpu), 0,
			       sizeof(struct cowdev_counters));
	cpus_read_unlock();
	cowdev_pool_reset_peak();
	cowdev_reclaim_reset();
}

static ssize_t cowdev_stats_write(struct file *file, const char __user *ubuf,
				  size_t len, loff_t *ppos)
{
	char buf[8];

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (!sysfs_streq(buf, "reset"))
		return -EINVAL;
	cowdev_stats_reset();
	return len;
}

static const struct file_operations cowdev_stats_fops = {
	.owner = THIS_MODULE,
	.open = cowdev_stats_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.write = cowdev_stats_write,
	.release = single_release,
};

static int cowdev_object_stats_show(struct seq_file *m, void *unused)
{
	struct cowdev_object *obj = m->private;

	seq_printf(m, "id %u\n", obj->id);
	seq_printf(m, "size %llu\n", (u64)READ_ONCE(obj->nr_pages) << PAGE_SHIFT);
	seq_printf(m, "mode %s\n",
		   READ_ONCE(obj->mode) == COWDEV_MODE_PFN ? "pfn" : "page");
	seq_printf(m, "resident_pages %lu\n", cowdev_object_resident(obj));
	seq_printf(m, "evicted_pages %lu\n", cowdev_object_evicted(obj));
	seq_printf(m, "readahead_max_pages %u\n", cowdev_readahead_max(obj));
	cowdev_stats_show_counters(m, obj->stats);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(cowdev_object_stats);

/**
 * cowdev_stats_fill_info() - fill the state and counters of GET_INFO
 * @obj: the object
 * @info: the reply; only the (out) fields are written
 */
void cowdev_stats_fill_info(struct cowdev_object *obj, struct cowdev_info *info)
{
	struct cowdev_counters __percpu *s = obj->stats;

	info->id = obj->id;
	info->size = (u64)READ_ONCE(obj->nr_pages) << PAGE_SHIFT;
	info->mode = READ_ONCE(obj->mode);
	info->resident_pages = cowdev_object_resident(obj);
	info->faults = cowdev_stats_sum(s, COWDEV_STAT_FAULTS);
	info->read_faults = cowdev_stats_sum(s, COWDEV_STAT_READ_FAULTS);
	info->write_faults = cowdev_stats_sum(s, COWDEV_STAT_WRITE_FAULTS);
	info->mkwrite = cowdev_stats_sum(s, COWDEV_STAT_MKWRITE);
	info->pfn_mkwrite = cowdev_stats_sum(s, COWDEV_STAT_PFN_MKWRITE);
	info->reuse = cowdev_stats_sum(s, COWDEV_STAT_REUSE);
	info->copy = cowdev_stats_sum(s, COWDEV_STAT_COPY);
	info->cow_faults = cowdev_stats_sum(s, COWDEV_STAT_COW_FAULTS);
	info->lock_waits = cowdev_stats_sum(s, COWDEV_STAT_LOCK_WAITS);
	info->writeback_waits = cowdev_stats_sum(s, COWDEV_STAT_WRITEBACK_WAITS);
	info->faultaround_pages = cowdev_stats_sum(s,
						   COWDEV_STAT_FAULTAROUND_PAGES);
	info->evicted_pages = cowdev_object_evicted(obj);
	info->major_faults = cowdev_stats_sum(s, COWDEV_STAT_MAJOR_FAULTS);
	info->pages_read = cowdev_stats_sum(s, COWDEV_STAT_PAGES_READ);
	info->pages_written = cowdev_stats_sum(s, COWDEV_STAT_PAGES_WRITTEN);
	info->evictions = cowdev_stats_sum(s, COWDEV_STAT_EVICTIONS);
	info->io_errors = cowdev_stats_sum(s, COWDEV_STAT_IO_ERRORS);
	info->readahead_pages = cowdev_stats_sum(s, COWDEV_STAT_READAHEAD_PAGES);
	info->readahead_hits = cowdev_stats_sum(s, COWDEV_STAT_READAHEAD_HITS);
	info->readahead_unused = cowdev_stats_sum(s,
						  COWDEV_STAT_READAHEAD_UNUSED);
}

/**
 * cowdev_stats_add_object() - publish a new object in debugfs
 * @obj: the object
 */
void cowdev_stats_add_object(struct cowdev_object *obj)
{
	char name[16];

	atomic_inc(&cowdev_nr_objects);
	snprintf(name, sizeof(name), "%u", obj->id);
	obj->debugfs = debugfs_create_file(name, 0400, cowdev_debugfs_objects,
					   obj, &cowdev_object_stats_fops);
}

/**
 * cowdev_stats_remove_object() - withdraw an object from debugfs
 * @obj: the object; on return no debugfs reader uses it any more
 */
void cowdev_stats_remove_object(struct cowdev_object *obj)
{
	debugfs_remove(obj->debugfs);
	atomic_dec(&cowdev_nr_objects);
}

/**
 * cowdev_stats_init() - allocate the global counters, create debugfs files
 *
 * Return: 0 or -ENOMEM.
 */
int cowdev_stats_init(void)
{
	cowdev_global_stats = alloc_percpu(struct cowdev_counters);
	if (!cowdev_global_stats)
		return -ENOMEM;
	cowdev_debugfs_root = debugfs_create_dir("cowdev", NULL);
	debugfs_create_file("stats", 0600, cowdev_debugfs_root, NULL,
			    &cowdev_stats_fops);
	cowdev_debugfs_objects = debugfs_create_dir("objects",
						    cowdev_debugfs_root);
	return 0;
}

/**
 * cowdev_stats_exit() - remove the debugfs tree, free the counters
 */
void cowdev_stats_exit(void)
{
	debugfs_remove(cowdev_debugfs_root);
	free_percpu(cowdev_global_stats);
}
