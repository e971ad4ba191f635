/*
 * Copyright (C) llmopt authors
 *
 * The event ring: a bounded multi-producer, single-consumer queue of
 * fixed-size learning events, laid out in memory the caller supplies
 * (nginx shared memory mapped by every worker and the trainer).  The
 * ring holds no pointers, only counters and an array of slots, so it
 * works at any address in any process.
 *
 * Workers push (outcomes in the log phase, feedback from the feedback
 * endpoint) and never wait: a full ring refuses the event and counts a
 * drop.  The trainer, the single consumer, pops events in the order their
 * producers claimed slots.  docs/LEARNING.md describes the event.
 */

#ifndef _LLMOPT_RING_H_INCLUDED_
#define _LLMOPT_RING_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_features.h"
#include "llmopt_sparse.h"


#define LLMOPT_REQUEST_ID_LEN     16           /* bytes, binary */

#define LLMOPT_RING_MIN           2            /* slots, a power of 2 */
#define LLMOPT_RING_MAX           (1u << 24)

/* llmopt_event_t.flags */
#define LLMOPT_EVENT_EXPLORE      0x01         /* arm was an exploration */
#define LLMOPT_EVENT_STREAM       0x02         /* server-sent events */
#define LLMOPT_EVENT_TIMEOUT      0x04         /* upstream timed out */
#define LLMOPT_EVENT_UPSTREAM_ERROR  0x08      /* error object in the body */
#define LLMOPT_EVENT_SLO          0x10         /* the arm broke its policy's
                                                  latency SLO, penalised */
#define LLMOPT_EVENT_ESTIMATED    0x20         /* cost estimated: no final
                                                  usage (llmopt_usage.h) */


typedef enum {
    LLMOPT_EVENT_NONE = 0,
    LLMOPT_EVENT_OUTCOME,           /* a routed request has ended */
    LLMOPT_EVENT_FEEDBACK           /* a quality score for a request id */
} llmopt_event_kind_e;


/*
 * One learning event, 496 bytes.  Fixed-width fields only, so that the
 * layout is the same in every process.  An OUTCOME event is filled by
 * the worker that served the request, with, for a sparse policy, what its
 * update needs in "sparse" (n = 0 for the others); a FEEDBACK event
 * carries the request id, the score in "quality" and the arrival time in
 * "done_ms", the rest may be 0 (policy and arm are not known to the
 * feedback endpoint).
 */

typedef struct {
    uint8_t          kind;               /* llmopt_event_kind_e */
    uint8_t          finish;             /* llmopt_finish_e */
    uint8_t          d;                  /* entries of x in use */
    uint8_t          flags;              /* LLMOPT_EVENT_* */
    uint16_t         policy;             /* index in the catalog */
    uint16_t         arm;                /* index in the policy */
    uint16_t         status;             /* upstream HTTP status, 0: none;
                                            499: the client went away */
    uint16_t         retries;            /* upstream tries beyond the
                                            first (proxy_next_upstream) */

    uint32_t         tokens_in;          /* every prompt token, cached too */
    uint32_t         tokens_out;
    uint32_t         tokens_cached;      /* read from the prompt cache */
    unsigned char    id[LLMOPT_REQUEST_ID_LEN];
    uint64_t         catalog;            /* version the indices refer to */
    uint64_t         time_ms;            /* decision, ms since the epoch */
    uint64_t         done_ms;            /* last byte sent, or feedback */
    double           cost;               /* USD; < 0: unknown */
    float            propensity;         /* P(arm | x), 0: unknown */
    float            quality;            /* [0, 1]; < 0: unknown */
    float            latency_ms;         /* decision to last byte; < 0:
                                            unknown */
    float            ttft_ms;            /* decision to first content
                                            byte; < 0: unknown */
    float            variant_propensity; /* P(variant | arm), 0: none */
    uint8_t          variant;            /* prompt variant (0: the
                                            control, or none) */
    uint8_t          pad[3];
    llmopt_sparse_carry_t  sparse;       /* algorithm sparse */
    float            x[LLMOPT_FEATURE_MAX_DIM];   /* features, x[0 .. d-1] */
} llmopt_event_t;


/*
 * The ring header; the slots follow it.  Producers and the consumer touch
 * different cache lines (head, tail).  Every field is read and written
 * only through the functions below, except in tests.
 */

typedef struct {
    uint32_t         magic;
    uint32_t         version;
    uint32_t         capacity;           /* slots, a power of 2 */
    uint32_t         event_size;         /* sizeof(llmopt_event_t) */
    char             pad0[48];

    uint64_t         head;               /* next slot producers claim */
    uint64_t         drops;              /* pushes refused: ring full */
    char             pad1[48];

    uint64_t         tail;               /* next slot the consumer reads */
    uint64_t         popped;             /* events popped */
    uint64_t         skipped;            /* slots abandoned by skip */
    char             pad2[40];
} llmopt_ring_t;


/*
 * The bytes of memory a ring of capacity slots takes (header and slots);
 * 0 when capacity is not a power of 2 in [LLMOPT_RING_MIN,
 * LLMOPT_RING_MAX].
 */
size_t llmopt_ring_size(unsigned capacity);

/*
 * Lays out an empty ring of capacity slots in mem, which holds at least
 * llmopt_ring_size(capacity) bytes, aligned to 8 bytes at least (64 is
 * better), zeroed or not.  No process may use the ring while it is
 * initialised.  Returns LLMOPT_OK, or LLMOPT_ERROR for a bad capacity or
 * a misaligned mem.
 */
int llmopt_ring_init(void *mem, unsigned capacity);

/*
 * LLMOPT_OK if mem holds a ring that llmopt_ring_init(mem, capacity) laid
 * out with this build's event layout, so that it can be reused (across an
 * nginx reload that keeps the zone); LLMOPT_DECLINED otherwise.
 */
int llmopt_ring_check(const void *mem, unsigned capacity);

/*
 * Copies *ev into the ring, its features up to x[d - 1] only.  Any number
 * of processes may push at once;
 * a producer never blocks or sleeps.  Returns LLMOPT_OK, or
 * LLMOPT_DECLINED when the ring is full (the drop is counted) or when the
 * consumer abandoned the slot meanwhile (see llmopt_ring_skip(); counted
 * as skipped).  The event is not in the ring then.
 */
int llmopt_ring_push(llmopt_ring_t *r, const llmopt_event_t *ev);

/*
 * A hint that a push of an event with d features follows soon: asks the
 * processor for the cache lines of the slot a push would take now, which
 * the trainer's core holds since its last pop.  Changes nothing.
 */
void llmopt_ring_prefetch(llmopt_ring_t *r, unsigned d);

/*
 * Copies the oldest event into *ev (x[d ..] set to 0) and frees its
 * slot.  Only one process may pop at a time (the trainer; its lease
 * guarantees it).  Returns LLMOPT_OK; LLMOPT_DECLINED when the ring is
 * empty; LLMOPT_AGAIN when the next slot is claimed by a producer that has
 * not finished writing it (normally a matter of nanoseconds: pop again on
 * the next tick);
 * LLMOPT_ERROR when the slot's sequence number is impossible (the memory
 * was overwritten): initialise the ring again.
 */
int llmopt_ring_pop(llmopt_ring_t *r, llmopt_event_t *ev);

/*
 * Abandons the next slot when pop keeps returning LLMOPT_AGAIN for it: its
 * producer has died (a crashed worker) and would block the ring forever.
 * The consumer decides when (e.g. the same position for a second; see
 * llmopt_ring_tail()).  Returns LLMOPT_OK when the slot was abandoned (and
 * counted as skipped), LLMOPT_AGAIN when its event has been published
 * meanwhile (pop it), LLMOPT_DECLINED when the ring is empty,
 * LLMOPT_ERROR for a corrupt ring.  Only the consumer may call it.  A
 * producer that was merely stalled (stopped, not dead) finds its slot
 * gone when it resumes and returns LLMOPT_DECLINED; if it stalled in the
 * middle of copying for a whole lap of the ring, its copy could mix with
 * the next lap's event, hence skip only after a long wait (a second or
 * more).
 */
int llmopt_ring_skip(llmopt_ring_t *r);

/* Events waiting; approximate while producers push. */
unsigned llmopt_ring_depth(const llmopt_ring_t *r);

/* Pushes refused because the ring was full, since init. */
uint64_t llmopt_ring_drops(const llmopt_ring_t *r);

/* Slots abandoned by llmopt_ring_skip(), since init. */
uint64_t llmopt_ring_skipped(const llmopt_ring_t *r);

/* Events popped since init. */
uint64_t llmopt_ring_popped(const llmopt_ring_t *r);

/* The position of the next slot to pop; it moves with every pop or skip. */
uint64_t llmopt_ring_tail(const llmopt_ring_t *r);


#endif /* _LLMOPT_RING_H_INCLUDED_ */
