/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowdev tracepoints: faults, write notifications, reuse-or-copy decisions,
 * and waits on page bits (the page lock and writeback).
 *
 *   echo 1 > /sys/kernel/tracing/events/cowdev/enable
 *   perf record -e 'cowdev:*' ...
 *
 * Every event carries the object id and the page offset, never a kernel
 * address.  Disabled tracepoints cost a patched-out branch.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM cowdev

#if !defined(_COWDEV_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _COWDEV_TRACE_H

#include <linux/tracepoint.h>

#include "cowdev_wait.h"

TRACE_DEFINE_ENUM(COWDEV_BIT_LOCKED);
TRACE_DEFINE_ENUM(COWDEV_BIT_WRITEBACK);

#define show_cowdev_bit(bit)						\
	__print_symbolic(bit,						\
			 { COWDEV_BIT_LOCKED, "locked" },		\
			 { COWDEV_BIT_WRITEBACK, "writeback" })

TRACE_EVENT(cowdev_fault,
	    TP_PROTO(u32 id, unsigned long pgoff, unsigned int flags,
		     unsigned int mode, unsigned int result),
	    TP_ARGS(id, pgoff, flags, mode, result),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(unsigned long, pgoff)
			     __field(unsigned int, flags)
			     __field(unsigned int, mode)
			     __field(unsigned int, result)),
	    TP_fast_assign(__entry->id = id;
			   __entry->pgoff = pgoff;
			   __entry->flags = flags;
			   __entry->mode = mode;
			   __entry->result = result;),
	    TP_printk("obj=%u pgoff=%lu flags=%#x mode=%s result=%#x",
		      __entry->id, __entry->pgoff, __entry->flags,
		      __entry->mode ? "pfn" : "page", __entry->result)
);

TRACE_EVENT(cowdev_mkwrite,
	    TP_PROTO(u32 id, unsigned long pgoff, unsigned int mode),
	    TP_ARGS(id, pgoff, mode),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(unsigned long, pgoff)
			     __field(unsigned int, mode)),
	    TP_fast_assign(__entry->id = id;
			   __entry->pgoff = pgoff;
			   __entry->mode = mode;),
	    TP_printk("obj=%u pgoff=%lu via=%s", __entry->id, __entry->pgoff,
		      __entry->mode ? "pfn_mkwrite" : "page_mkwrite")
);

DECLARE_EVENT_CLASS(cowdev_decision,
		    TP_PROTO(u32 id, unsigned long pgoff),
		    TP_ARGS(id, pgoff),
		    TP_STRUCT__entry(__field(u32, id)
				     __field(unsigned long, pgoff)),
		    TP_fast_assign(__entry->id = id;
				   __entry->pgoff = pgoff;),
		    TP_printk("obj=%u pgoff=%lu", __entry->id, __entry->pgoff)
);

DEFINE_EVENT(cowdev_decision, cowdev_reuse,
	     TP_PROTO(u32 id, unsigned long pgoff),
	     TP_ARGS(id, pgoff)
);

DEFINE_EVENT(cowdev_decision, cowdev_copy,
	     TP_PROTO(u32 id, unsigned long pgoff),
	     TP_ARGS(id, pgoff)
);

/* A fault found its page evicted, and reads it from the backing store. */
DEFINE_EVENT(cowdev_decision, cowdev_major_fault,
	     TP_PROTO(u32 id, unsigned long pgoff),
	     TP_ARGS(id, pgoff)
);

/* A page left memory for the backing store. */
DEFINE_EVENT(cowdev_decision, cowdev_evict,
	     TP_PROTO(u32 id, unsigned long pgoff),
	     TP_ARGS(id, pgoff)
);

/*
 * A readahead window was chosen: by a miss at @pgoff (read now, with it), or
 * by a fault on the mark at @pgoff (read asynchronously).
 */
TRACE_EVENT(cowdev_readahead,
	    TP_PROTO(u32 id, unsigned long pgoff, unsigned long start,
		     unsigned int size, unsigned int async_size, bool async),
	    TP_ARGS(id, pgoff, start, size, async_size, async),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(unsigned long, pgoff)
			     __field(unsigned long, start)
			     __field(unsigned int, size)
			     __field(unsigned int, async_size)
			     __field(bool, async)),
	    TP_fast_assign(__entry->id = id;
			   __entry->pgoff = pgoff;
			   __entry->start = start;
			   __entry->size = size;
			   __entry->async_size = async_size;
			   __entry->async = async;),
	    TP_printk("obj=%u pgoff=%lu start=%lu size=%u async_size=%u %s",
		      __entry->id, __entry->pgoff, __entry->start,
		      __entry->size, __entry->async_size,
		      __entry->async ? "async" : "sync")
);

/* A pass of the reclaimer: pages it was to evict, and did. */
TRACE_EVENT(cowdev_reclaim,
	    TP_PROTO(unsigned long nr, unsigned long evicted),
	    TP_ARGS(nr, evicted),
	    TP_STRUCT__entry(__field(unsigned long, nr)
			     __field(unsigned long, evicted)),
	    TP_fast_assign(__entry->nr = nr;
			   __entry->evicted = evicted;),
	    TP_printk("nr=%lu evicted=%lu", __entry->nr, __entry->evicted)
);

DECLARE_EVENT_CLASS(cowdev_bit,
		    TP_PROTO(u32 id, unsigned long pgoff, unsigned int bit),
		    TP_ARGS(id, pgoff, bit),
		    TP_STRUCT__entry(__field(u32, id)
				     __field(unsigned long, pgoff)
				     __field(unsigned int, bit)),
		    TP_fast_assign(__entry->id = id;
				   __entry->pgoff = pgoff;
				   __entry->bit = bit;),
		    TP_printk("obj=%u pgoff=%lu bit=%s", __entry->id,
			      __entry->pgoff, show_cowdev_bit(__entry->bit))
);

DEFINE_EVENT(cowdev_bit, cowdev_wait_start,
	     TP_PROTO(u32 id, unsigned long pgoff, unsigned int bit),
	     TP_ARGS(id, pgoff, bit)
);

DEFINE_EVENT(cowdev_bit, cowdev_wake,
	     TP_PROTO(u32 id, unsigned long pgoff, unsigned int bit),
	     TP_ARGS(id, pgoff, bit)
);

TRACE_EVENT(cowdev_wait_end,
	    TP_PROTO(u32 id, unsigned long pgoff, unsigned int bit, u64 ns),
	    TP_ARGS(id, pgoff, bit, ns),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(unsigned long, pgoff)
			     __field(unsigned int, bit)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->id = id;
			   __entry->pgoff = pgoff;
			   __entry->bit = bit;
			   __entry->ns = ns;),
	    TP_printk("obj=%u pgoff=%lu bit=%s ns=%llu", __entry->id,
		      __entry->pgoff, show_cowdev_bit(__entry->bit), __entry->ns)
);

#endif /* _COWDEV_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE cowdev_trace
#include <trace/define_trace.h>
