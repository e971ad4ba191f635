/*
 * Copyright (C) llmopt authors
 *
 * The rings of a policy's history: how often each takes a snapshot of
 * the cumulative counters, how many it keeps, and where snapshot i of a
 * ring lies among the slots of all three.  Pure arithmetic on counts and
 * times; the glue owns the snapshots (ngx_http_llmopt_history.c).
 */

#ifndef _LLMOPT_HISTORY_H_INCLUDED_
#define _LLMOPT_HISTORY_H_INCLUDED_


#include <stdint.h>


#define LLMOPT_HISTORY_FINE      0   /* 10 s x 16: the last-minute windows */
#define LLMOPT_HISTORY_MINUTE    1   /* 1 min x 241: 4 hours of points */
#define LLMOPT_HISTORY_DAY       2   /* 10 min x 145: 24 hours of points */
#define LLMOPT_HISTORY_RINGS     3

#define LLMOPT_HISTORY_SLOTS     (16 + 241 + 145)   /* of all rings */


typedef struct {
    uint64_t      period_ms;   /* a snapshot when a multiple has passed */
    unsigned      slots;       /* one of them is kept free for a writer */
    unsigned      first;       /* the ring's first slot among all */
} llmopt_history_ring_t;


extern const llmopt_history_ring_t  llmopt_history_rings[LLMOPT_HISTORY_RINGS];


/*
 * The slot, 0 .. LLMOPT_HISTORY_SLOTS - 1, that snapshot i (counted from
 * 0 since the ring began) of a ring is written to.
 */
unsigned llmopt_history_slot(unsigned ring, uint64_t i);

/*
 * 1 when a ring that has taken n snapshots, the newest at last_ms (wall
 * clock, ms), takes the next at now_ms: the first one, or a multiple of
 * the ring's period has begun since; 0 else (a clock that went back
 * waits until it passes last_ms's period).
 */
int llmopt_history_due(unsigned ring, uint64_t n, uint64_t last_ms,
    uint64_t now_ms);

/*
 * The number *i of the snapshot "back" places before the newest (0) of
 * a ring that has taken n: LLMOPT_OK, or LLMOPT_DECLINED when there is
 * none that old or it is the slot the next snapshot overwrites (a ring
 * of s slots yields s - 1).
 */
int llmopt_history_back(unsigned ring, uint64_t n, unsigned back,
    uint64_t *i);


#endif /* _LLMOPT_HISTORY_H_INCLUDED_ */
