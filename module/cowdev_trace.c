// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates the tracepoints declared in cowdev_trace.h; nothing else.
 */
#define CREATE_TRACE_POINTS
#include "cowdev_trace.h"
