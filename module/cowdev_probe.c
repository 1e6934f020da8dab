// SPDX-License-Identifier: GPL-2.0
/*
 * Copies and reuses the core makes in private cowdev mappings.
 *
 * A write to a present, read-only PTE of a private mapping is handled by
 * do_wp_page() inside the core; no vm_operations callback runs.  Two hooks
 * watch it, filtered to cowdev VMAs:
 *
 *   do_wp_page()     a write whose PTE maps a device page (page mode) or a
 *                    device pfn (pfn mode) is sent to the core's copy
 *                    path: core_copy.  It counts entries, so a fault the
 *                    core retries (VM_FAULT_RETRY) or hands to userfaultfd
 *                    counts each time.  Hooked by an ftrace_ops of the
 *                    module's own.
 *   wp_page_reuse()  an anonymous page the process already owns is made
 *                    writable in place: core_reuse.  It is "static inline",
 *                    hence notrace, so it has no ftrace site: a kprobe
 *                    (a breakpoint, or a jump once optimised) is the hook.
 *
 * Why not a kprobe on do_wp_page() as well: a kprobe on a function entry
 * is carried by one of two ftrace_ops that the kprobes core keeps for the
 * life of the kernel (kernel/kprobes.c, kprobe_ftrace_ops), and on the 7.2
 * debug kernel arming such a kprobe again after its last user disarmed it
 * crashes the next call of the function (the second modprobe of a module
 * probing do_wp_page(), or tracefs kprobe_events alone; see
 * Documentation/cowdev.rst, "Known kernel issues").  An ftrace_ops in
 * module memory is "dynamic" to ftrace (register_ftrace_function()): on
 * x86 it gets a trampoline of its own at each registration, freed at
 * unregistration, and a trace instance's function tracer, also dynamic,
 * survives the same sequence on that kernel.
 *
 * When a kernel has no such symbol (inlined, renamed), no usable ftrace
 * (compat.h) or no kprobes, the counters stay at zero and debugfs says
 * "core_probe unavailable"; nothing else changes.  The hooks cost every
 * call of the two functions in the system a detour, so core_probe=0
 * leaves them out.
 */
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched.h>

#include "cowdev.h"
#include "compat.h"

static bool cowdev_core_probe = true;
module_param_named(core_probe, cowdev_core_probe, bool, 0444);
MODULE_PARM_DESC(core_probe,
		 "Count the core's copies and reuses in private mappings (default Y)");

/* The cowdev object behind @vmf if it faults in a private cowdev VMA. */
static inline struct cowdev_object *cowdev_probe_private_object(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;

	if (vma->vm_ops != &cowdev_vm_ops || (vma->vm_flags & VM_MAYSHARE))
		return NULL;
	return vma->vm_private_data;
}

/*
 * Both hooks run with the PTE lock held (handle_pte_fault() and
 * do_swap_page() take it before do_wp_page()), which pins the VMA's
 * mapping state they read; cowdev_count() is a this_cpu_add(), safe in
 * any context.
 */
static int cowdev_probe_wp_page_reuse(struct kprobe *p, struct pt_regs *regs)
{
	struct vm_fault *vmf = (struct vm_fault *)regs_get_kernel_argument(regs, 0);
	struct cowdev_object *obj = cowdev_probe_private_object(vmf);

	if (obj)
		cowdev_count(obj, COWDEV_STAT_CORE_REUSE);
	return 0;
}

static struct kprobe cowdev_wp_page_reuse_kprobe = {
	.symbol_name = "wp_page_reuse",
	.pre_handler = cowdev_probe_wp_page_reuse,
};

#if COWDEV_HAVE_FTRACE_HOOK
static void cowdev_probe_do_wp_page(unsigned long ip, unsigned long parent_ip,
				    struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct vm_fault *vmf = (struct vm_fault *)cowdev_ftrace_arg0(fregs);
	struct cowdev_object *obj = cowdev_probe_private_object(vmf);
	unsigned long pfn;

	if (!obj || !(vmf->flags & FAULT_FLAG_WRITE))
		return;
	pfn = pte_pfn(vmf->orig_pte);
	if (!pfn_valid(pfn) || !PageAnon(pfn_to_page(pfn)))
		cowdev_count(obj, COWDEV_STAT_CORE_COPY);
}

/*
 * No FTRACE_OPS_FL_RECURSION, which would wrap the callback in ftrace's
 * recursion guard (Documentation/trace/ftrace-uses.rst): it cannot recurse,
 * calling only inline helpers, none of them do_wp_page().  Nor does it
 * need preemption off from ftrace (see above).
 */
static struct ftrace_ops cowdev_do_wp_page_ops = {
	.func = cowdev_probe_do_wp_page,
};

/* ftrace_set_filter() takes a writable, unsigned buffer. */
static unsigned char cowdev_do_wp_page_name[] = "do_wp_page";

static int cowdev_probe_ftrace_register(void)
{
	struct ftrace_ops *ops = &cowdev_do_wp_page_ops;
	int ret;

	ret = ftrace_set_filter(ops, cowdev_do_wp_page_name,
				sizeof(cowdev_do_wp_page_name) - 1, 1);
	if (!ret)
		ret = register_ftrace_function(ops);
	/*
	 * After ftrace_kill() a refused ops can stay marked enabled, and
	 * ftrace_free_filter() WARNs on an enabled ops: keep its filter then.
	 */
	if (ret && !(ops->flags & FTRACE_OPS_FL_ENABLED))
		ftrace_free_filter(ops);
	return ret;
}

static void cowdev_probe_ftrace_unregister(void)
{
	struct ftrace_ops *ops = &cowdev_do_wp_page_ops;

	/*
	 * Returns once no CPU can be in the callback or on the trampoline
	 * (a dynamic ops: synchronize_rcu_tasks()), so the module may go.
	 * It fails only once ftrace_kill() has disabled ftrace, after an
	 * ftrace bug, and that patches no code: the call site still reaches
	 * this ops' trampoline and the callback in this module's text.  The
	 * module must then never go; its exit never returns.
	 */
	if (!unregister_ftrace_function(ops)) {
		ftrace_free_filter(ops);
		return;
	}
	pr_crit("cowdev: ftrace is disabled and the do_wp_page hook cannot be removed: the module stays\n");
	for (;;)
		schedule_timeout_idle(MAX_SCHEDULE_TIMEOUT);
}
#else
static int cowdev_probe_ftrace_register(void)
{
	return -EOPNOTSUPP;
}

static void cowdev_probe_ftrace_unregister(void)
{
}
#endif

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
	ret = cowdev_probe_ftrace_register();
	if (!ret) {
		ret = register_kprobe(&cowdev_wp_page_reuse_kprobe);
		if (ret)
			cowdev_probe_ftrace_unregister();
	}
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
	cowdev_probe_ftrace_unregister();
	cowdev_probes_registered = false;
}
