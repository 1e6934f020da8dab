// SPDX-License-Identifier: GPL-2.0
/*
 * Copies and reuses the core makes in private cowdev mappings.
 *
 * A write to a present, read-only PTE of a private mapping is handled by
 * do_wp_page() inside the core; no vm_operations callback runs.  Two
 * kprobes watch it, filtered to cowdev VMAs:
 *
 *   do_wp_page()     a write whose PTE maps a device page (page mode) or a
 *                    device pfn (pfn mode) is always copied: core_copy.
 *   wp_page_reuse()  an anonymous page the process already owns is made
 *                    writable in place: core_reuse.
 *
 * When a kernel has no such symbol (inlined, renamed), the counters stay
 * at zero and debugfs says "core_probe unavailable"; nothing else changes.
 * The probes cost every write-protect fault in the system a call, so
 * core_probe=0 leaves them out.
 */
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ptrace.h>

#include "cowdev.h"

static bool cowdev_core_probe = true;
module_param_named(core_probe, cowdev_core_probe, bool, 0444);
MODULE_PARM_DESC(core_probe,
		 "Count the core's copies in private mappings with kprobes (default Y)");

/* The cowdev object behind @vmf if it faults in a private cowdev VMA. */
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

static int cowdev_probe_do_wp_page(struct kprobe *p, struct pt_regs *regs)
{
	struct cowdev_object *obj;
	struct vm_fault *vmf;
	unsigned long pfn;

	obj = cowdev_probe_private_object(regs, &vmf);
	if (!obj || !(vmf->flags & FAULT_FLAG_WRITE))
		return 0;
	pfn = pte_pfn(vmf->orig_pte);
	if (!pfn_valid(pfn) || !PageAnon(pfn_to_page(pfn)))
		cowdev_count(obj, COWDEV_STAT_CORE_COPY);
	return 0;
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

static struct kprobe cowdev_kprobes[] = {
	{ .symbol_name = "do_wp_page", .pre_handler = cowdev_probe_do_wp_page },
	{ .symbol_name = "wp_page_reuse", .pre_handler = cowdev_probe_wp_page_reuse },
};

static struct kprobe *cowdev_kprobe_ptrs[ARRAY_SIZE(cowdev_kprobes)];
static bool cowdev_probes_registered;

/**
 * cowdev_probe_available() - are core_copy and core_reuse being counted?
 *
 * Return: true if both probes are in place.
 */
bool cowdev_probe_available(void)
{
	return cowdev_probes_registered;
}

/**
 * cowdev_probe_init() - place the probes; a kernel without them is fine
 *
 * Return: 0 always.
 */
int cowdev_probe_init(void)
{
	int i, ret;

	if (!cowdev_core_probe)
		return 0;
	for (i = 0; i < ARRAY_SIZE(cowdev_kprobes); i++)
		cowdev_kprobe_ptrs[i] = &cowdev_kprobes[i];
	ret = register_kprobes(cowdev_kprobe_ptrs, ARRAY_SIZE(cowdev_kprobes));
	if (ret)
		pr_info("cowdev: core_probe unavailable (%d)\n", ret);
	cowdev_probes_registered = !ret;
	return 0;
}

/**
 * cowdev_probe_exit() - remove the probes
 */
void cowdev_probe_exit(void)
{
	if (cowdev_probes_registered)
		unregister_kprobes(cowdev_kprobe_ptrs, ARRAY_SIZE(cowdev_kprobes));
	cowdev_probes_registered = false;
}
