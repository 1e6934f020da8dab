// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev device tests: the node, open and close, debugfs, the ioctl ABI and
 * its errors, and module unloading while the device is in use.
 *
 * Needs the module loaded (test_cowdev.sh does it) and root.
 */
#include <sys/stat.h>

#include "cowdev_util.h"
#include "kselftest_harness.h"

TEST(device_node_is_char_0600)
{
	struct stat st;

	ASSERT_EQ(0, stat(COWDEV_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
}

TEST(open_close)
{
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(0, close(fd));
}

TEST(debugfs_tree)
{
	struct stat st;

	ASSERT_EQ(0, stat(COWDEV_DEBUGFS, &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(0, stat(COWDEV_DEBUGFS "/stats", &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	ASSERT_EQ(0, stat(COWDEV_DEBUGFS "/objects", &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
}

/* Every counter the stats file promises is there and numeric. */
TEST(debugfs_stats_names)
{
	static const char *const names[] = {
		"objects", "faults", "read_faults", "write_faults",
		"shared_faults", "private_faults", "cow_faults",
		"faultaround_pages", "mkwrite",
		"pfn_mkwrite", "reuse", "copy", "core_copy", "core_reuse",
		"pool_in_use", "pool_peak", "pool_cached", "pool_limit",
		"alloc_fail", "lock_waits", "writeback_waits",
		"wait_ns_total", "wait_ns_max",
	};
	int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		long long v = global_stat(names[i]);

		if (v < 0)
			TH_LOG("missing or not a number: %s", names[i]);
		EXPECT_LE(0, v);
	}
	/* core_probe is a word. */
	EXPECT_EQ(-2, global_stat("core_probe"));
}

TEST(debugfs_reset)
{
	int fd = open(COWDEV_DEV, O_RDWR);
	char *p;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, page_size(), false, 0);
	EXPECT_LT(0, global_stat("faults"));

	EXPECT_EQ(0, write_text(COWDEV_DEBUGFS "/stats", "reset\n"));
	EXPECT_EQ(0, global_stat("faults"));
	EXPECT_EQ(-EINVAL, write_text(COWDEV_DEBUGFS "/stats", "zero\n"));
	/* Per-object counters are the object's, untouched by a reset. */
	EXPECT_EQ(1, object_stat(fd, "faults"));
	munmap(p, page_size());
	close(fd);
}

/* Put this thread on @cpu alone; 0 or -1. */
static int run_on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

#define CPU1_ONLINE "/sys/devices/system/cpu/cpu1/online"

/*
 * A reset reaches the counters of a CPU that is offline: the sums still
 * read them, and that CPU takes no IPI.
 */
TEST(debugfs_reset_reaches_offline_cpus)
{
	int fd;
	char *p;

	if (access(CPU1_ONLINE, W_OK) || run_on_cpu(1))
		SKIP(return, "CPU 1 cannot go offline here");
	fd = open(COWDEV_DEV, O_RDWR);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, page_size(), false, 0);	/* counted on CPU 1 */
	ASSERT_EQ(0, run_on_cpu(0));
	ASSERT_EQ(0, write_text(CPU1_ONLINE, "0\n"));

	EXPECT_EQ(0, write_text(COWDEV_DEBUGFS "/stats", "reset\n"));
	EXPECT_EQ(0, global_stat("faults"));
	EXPECT_EQ(0, global_stat("read_faults"));

	ASSERT_EQ(0, write_text(CPU1_ONLINE, "1\n"));
	EXPECT_EQ(0, global_stat("faults"));
	munmap(p, page_size());
	close(fd);
}

/* An object's debugfs file exists exactly as long as the object. */
TEST(debugfs_object_file)
{
	struct cowdev_info info;
	char path[128];
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, cowdev_info(fd, &info));
	snprintf(path, sizeof(path), COWDEV_DEBUGFS "/objects/%llu",
		 (unsigned long long)info.id);
	EXPECT_EQ(0, access(path, R_OK));
	EXPECT_EQ((long long)info.id, read_stat(path, "id"));
	close(fd);
	EXPECT_EQ(-1, access(path, F_OK));
}

TEST(each_open_is_a_new_object)
{
	struct cowdev_info a, b;
	int fa = open(COWDEV_DEV, O_RDWR), fb = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fa, 0);
	ASSERT_GE(fb, 0);
	ASSERT_EQ(0, cowdev_info(fa, &a));
	ASSERT_EQ(0, cowdev_info(fb, &b));
	EXPECT_NE(a.id, b.id);
	close(fa);
	close(fb);
}

TEST(get_info_fresh_object)
{
	struct cowdev_info info;
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(64ULL << 20, info.size);
	EXPECT_EQ(COWDEV_MODE_PAGE, info.mode);
	EXPECT_EQ(0, info.resident_pages);
	EXPECT_EQ(0, info.faults);
	EXPECT_EQ(0, info.reuse);
	EXPECT_EQ(0, info.copy);
	close(fd);
}

TEST(get_info_rejects_nonzero_input)
{
	struct cowdev_info info;
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	memset(&info, 0, sizeof(info));
	info.flags = 1;
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	memset(&info, 0, sizeof(info));
	info.reserved[ARRAY_SIZE(info.reserved) - 1] = 1;
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(ioctl_bad_pointer_efault)
{
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_GET_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(fd, COWDEV_IOC_SET_SIZE, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	close(fd);
}

TEST(ioctl_unknown_enotty)
{
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, _IO(COWDEV_IOC_MAGIC, 0x7f), 0));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(fd, _IOR('x', 1, int), 0));
	EXPECT_EQ(ENOTTY, errno);
	/* Right number, wrong size: a different command. */
	EXPECT_EQ(-1, ioctl(fd, _IOW(COWDEV_IOC_MAGIC, 0x01, uint32_t), 0));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

TEST(set_size_rounds_up)
{
	struct cowdev_info info;
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, cowdev_set_size(fd, page_size() + 1));
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(2 * page_size(), info.size);
	ASSERT_EQ(0, cowdev_set_size(fd, 0));
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(0, info.size);
	ASSERT_EQ(0, cowdev_set_size(fd, COWDEV_MAX_SIZE));
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(COWDEV_MAX_SIZE, info.size);
	close(fd);
}

TEST(set_size_bounds_einval)
{
	struct cowdev_info info;
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EINVAL, cowdev_set_size(fd, COWDEV_MAX_SIZE + 1));
	/* Sizes whose page rounding would wrap. */
	EXPECT_EQ(-EINVAL, cowdev_set_size(fd, UINT64_MAX));
	EXPECT_EQ(-EINVAL, cowdev_set_size(fd, UINT64_MAX - page_size() + 2));
	ASSERT_EQ(0, cowdev_info(fd, &info));
	EXPECT_EQ(64ULL << 20, info.size);
	close(fd);
}

TEST(set_size_needs_write_access)
{
	int fd = open(COWDEV_DEV, O_RDONLY);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EBADF, cowdev_set_size(fd, page_size()));
	close(fd);
}

/*
 * The kernel refuses to unload a module in use with EWOULDBLOCK (EAGAIN);
 * EBUSY is reserved for modules other modules depend on.
 */
/* The number a parameter file holds; -1 if it cannot be read. */
static long long param_value(const char *name)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), COWDEV_PARAMS "/%s", name);
	return read_text(path, buf, sizeof(buf)) ? -1 : atoll(buf);
}

/*
 * The writable parameters refuse what they cannot mean, and keep their
 * value: a pool limit a long cannot hold (the pool compares it as one: a
 * wrapped limit refused every page), a fill delay past 10 s (slept
 * uninterruptibly under a page lock).  0 for the limit means a quarter of
 * RAM, at run time as at load.
 */
TEST(params_refuse_what_they_cannot_mean)
{
	long long ram = read_stat("/proc/meminfo", "MemTotal:") /
			(page_size() / 1024);
	long long limit = param_value("pool_limit_pages");
	long long delay = param_value("fill_delay_us");
	char text[32];

	ASSERT_LT(0, ram);
	ASSERT_LT(0, limit);
	ASSERT_LE(0, delay);
	EXPECT_EQ(-EINVAL, write_text(COWDEV_PARAMS "/pool_limit_pages",
				      "18446744073709551615"));
	EXPECT_EQ(-EINVAL, write_text(COWDEV_PARAMS "/pool_limit_pages",
				      "9223372036854775808"));
	EXPECT_EQ(-EINVAL, write_text(COWDEV_PARAMS "/pool_limit_pages", "-1"));
	EXPECT_EQ(-EINVAL, write_text(COWDEV_PARAMS "/pool_limit_pages", "lots"));
	EXPECT_EQ(limit, param_value("pool_limit_pages"));
	EXPECT_EQ(0, write_text(COWDEV_PARAMS "/pool_limit_pages", "0"));
	EXPECT_EQ(ram / 4, param_value("pool_limit_pages"));

	EXPECT_EQ(-EINVAL, write_text(COWDEV_PARAMS "/fill_delay_us",
				      "10000001"));
	EXPECT_EQ(delay, param_value("fill_delay_us"));
	EXPECT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", "10000000"));
	EXPECT_EQ(10000000, param_value("fill_delay_us"));

	snprintf(text, sizeof(text), "%lld", delay);
	EXPECT_EQ(0, write_text(COWDEV_PARAMS "/fill_delay_us", text));
	snprintf(text, sizeof(text), "%lld", limit);
	EXPECT_EQ(0, write_text(COWDEV_PARAMS "/pool_limit_pages", text));
}

TEST(unload_refused_while_open)
{
	int fd = open(COWDEV_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EWOULDBLOCK, delete_module("cowdev", O_NONBLOCK));
	close(fd);
}

TEST(unload_refused_while_mapped_after_close)
{
	int fd = open(COWDEV_DEV, O_RDWR);
	char *p;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 'x';
	close(fd);
	/* The mapping holds the file, the file holds the module. */
	EXPECT_EQ(-EWOULDBLOCK, delete_module("cowdev", O_NONBLOCK));
	EXPECT_EQ('x', p[0]);
	munmap(p, page_size());
}

TEST_HARNESS_MAIN
