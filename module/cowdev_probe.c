// SPDX-License-Identifier: GPL-2.0
/*
 * Copies and reuses the core makes in private cowdev mappings.
 *
 * A write to a present, read-only PTE of a private mapping is handled by
 * do_wp_page() inside the core; no vm_operations callback runs.  Two hooks
 * watch it, filtered to cowdev VMAs:
 *
 *   do_wp_page()     a write whose PTE maps a device page (page mode) or a
 *                    device pfn (pfn mode) is always copied: core_copy.
 *                    Hooked by an ftrace_ops of the module's own.
 *   wp_page_reuse()  an anonymous page the process already owns is made
 *                    writable in place: core_reuse.  It is "static inline",
 *                    hence notrace, so it has no ftrace site: a kprobe
 *                    (a breakpoint, or a jump once optimised) is the hook.
 *
 * Why not a kprobe on do_wp_page() as well: a kprobe on a function entry
 * is carried by ftrace through one ftrace_ops that the kprobes core keeps
 * for the life of the kernel, and re-arming that ops' trampoline after it
 * was last disarmed is where the 7.2 debug kernel crashes (the second
 * modprobe of a module probing do_wp_page(), or tracefs kprobe_events
 * alone; Documentation/cowdev.rst, "Known kernel issues").  An ftrace_ops
 * in module memory is "dynamic" to ftrace (register_ftrace_function()):
 * its trampoline is made at registration and freed at unregistration, so
 * each load starts from new text, and it is one handler chain lighter.
 *
 * When a kernel has no such symbol (inlined, renamed) or cannot hand a
 * hook the registers, the counters stay at zero and debugfs says
 * "core_probe unavailable"; nothing else changes.  The hooks cost every
 * call of the two functions in the system a detour, so core_probe=0
 * leaves them out.
 */
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ptrace.h>

#include "cowdev.h"

static bool cowdev_core_probe = true;
module_param_named(core_probe, cowdev_core_probe, bool, 0444);
MODULE_PARM_DESC(core_probe,
		 "Count the core's copies in private mappings with ftrace and kprobe hooks (default Y)");

/* The cowdev object behind the fault if it is in a private cowdev VMA. */
static struct cowdev_object *cowdev_probe_private_object(struct pt_regs *regs,
							 struct vm_fault **vmfp)
{
	struct vm_fault *vmf = (struct vm_fault *)regs_get_kernel_argument(regs, 0);
	struct vm_area_struct *vma = vmf->vma;

	if (vma->vm_ops != &cowdev_vm_ops || (vma->vm_flags & VM_MAYSHARE))
		return NULL;
	*vmfp = vmf;
	return vma->vm_private_data;
}

/*
 * ftrace wraps the callback in its recursion guard with preemption off
 * (no FTRACE_OPS_FL_RECURSION), which is what cowdev_count() needs;
 * FTRACE_OPS_FL_SAVE_REGS makes ftrace_get_regs() non-NULL.
 */
static void cowdev_probe_do_wp_page(unsigned long ip, unsigned long parent_ip,
				    struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct cowdev_object *obj;
	struct vm_fault *vmf;
	unsigned long pfn;

	if (unlikely(!regs))
		return;
	obj = cowdev_probe_private_object(regs, &vmf);
	if (!obj || !(vmf->flags & FAULT_FLAG_WRITE))
		return;
	pfn = pte_pfn(vmf->orig_pte);
	if (!pfn_valid(pfn) || !PageAnon(pfn_to_page(pfn)))
		cowdev_count(obj, COWDEV_STAT_CORE_COPY);
}

static int cowdev_probe_wp_page_reuse(struct kprobe *p, struct pt_regs *regs)
{
	struct cowdev_object *obj;
	struct vm_fault *vmf;

	obj = cowdev_probe_private_object(regs, &vmf);
	if (obj)
		cowdev_count(obj, COWDEV_STAT_CORE_REUSE);
	return 0;
}

static struct ftrace_ops cowdev_do_wp_page_ops = {
	.func = cowdev_probe_do_wp_page,
	.flags = FTRACE_OPS_FL_SAVE_REGS,
};

/* ftrace_set_filter() takes a writable, unsigned buffer. */
static unsigned char cowdev_do_wp_page_name[] = "do_wp_page";

static struct kprobe cowdev_wp_page_reuse_kprobe = {
	.symbol_name = "wp_page_reuse",
	.pre_handler = cowdev_probe_wp_page_reuse,
};

static bool cowdev_probes_registered;

/**
 * cowdev_probe_available() - are core_copy and core_reuse being counted?
 *
 * Return: true if both hooks are in place.
 */
bool cowdev_probe_available(void)
{
	return cowdev_probes_registered;
}

static int cowdev_probe_register(void)
{
	struct ftrace_ops *ops = &cowdev_do_wp_page_ops;
	int ret;

	ret = ftrace_set_filter(ops, cowdev_do_wp_page_name,
				sizeof(cowdev_do_wp_page_name) - 1, 1);
	if (ret)
		goto err_filter;
	ret = register_ftrace_function(ops);
	if (ret)
		goto err_filter;
	ret = register_kprobe(&cowdev_wp_page_reuse_kprobe);
	if (ret)
		goto err_kprobe;
	return 0;

err_kprobe:
	unregister_ftrace_function(ops);
err_filter:
	ftrace_free_filter(ops);
	return ret;
}

/**
 * cowdev_probe_init() - place the hooks; a kernel without them is fine
 *
 * Return: 0 always.
 */
int cowdev_probe_init(void)
{
	int ret;

	if (!cowdev_core_probe)
		return 0;
	ret = cowdev_probe_register();
	if (ret)
		pr_info("cowdev: core_probe unavailable (%d)\n", ret);
	cowdev_probes_registered = !ret;
	return 0;
}

/**
 * cowdev_probe_exit() - remove the hooks
 *
 * Both unregistrations return once no CPU can still be in a handler or on
 * the hook's detour, so the module text may go away after this.
 */
void cowdev_probe_exit(void)
{
	if (!cowdev_probes_registered)
		return;
	unregister_kprobe(&cowdev_wp_page_reuse_kprobe);
	unregister_ftrace_function(&cowdev_do_wp_page_ops);
	ftrace_free_filter(&cowdev_do_wp_page_ops);
	cowdev_probes_registered = false;
}
