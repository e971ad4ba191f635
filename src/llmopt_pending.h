/*
 * Copyright (C) llmopt authors
 *
 * The pending table: outcome events waiting for delayed feedback, keyed by
 * request id, each with a deadline (the policy's feedback_wait).  It lives
 * in memory the caller supplies (the shared zone, so that a new trainer
 * process takes over what the old one waited for) and holds no pointers,
 * only indices.
 *
 * The trainer is its only writer and no lock guards it: whoever holds the
 * trainer lease calls the functions below; other processes may read the
 * counters of llmopt_pending_t (each a naturally aligned 64-bit word) for
 * status, nothing else.
 *
 * Every id is remembered after it leaves the pending state (taken or
 * expired) for as long as its slot is not needed again, so that a late or
 * repeated feedback is told apart from one for an id never seen.  When
 * every slot holds a pending event, inserting evicts the one with the
 * earliest deadline and hands it back to be finalised at once: it was the
 * next one due anyway.  docs/LEARNING.md, "Pending feedback".
 */

#ifndef _LLMOPT_PENDING_H_INCLUDED_
#define _LLMOPT_PENDING_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_ring.h"


#define LLMOPT_PENDING_MAX   (1u << 22)        /* slots */


typedef enum {
    LLMOPT_PENDING_FOUND = 0,       /* was pending: event returned */
    LLMOPT_PENDING_UNKNOWN,         /* never seen, or long forgotten */
    LLMOPT_PENDING_EXPIRED,         /* finalised at its deadline already */
    LLMOPT_PENDING_DUPLICATE,       /* taken already */
    LLMOPT_PENDING_FOREIGN          /* kept for another tenant */
} llmopt_pending_e;


/* The header; the slots, the deadline heap and the id index follow it. */

typedef struct {
    uint32_t          magic;
    uint32_t          version;
    uint32_t          capacity;         /* slots */
    uint32_t          buckets;          /* of the id index, a power of 2 */
    uint32_t          event_size;
    uint32_t          used;             /* slots ever handed out */
    uint32_t          pending;          /* events waiting now */
    uint32_t          grave_head;       /* oldest finished slot */
    uint32_t          grave_count;      /* finished slots remembered */
    uint32_t          reserved;
    uint64_t          seed;             /* of the id hash */
    uint64_t          serial;           /* inserts so far, orders ties */

    /* counters since init, for status */
    uint64_t          inserted;
    uint64_t          refused;          /* inserts of a known id */
    uint64_t          evicted;          /* pushed out by a full table */
    uint64_t          taken;            /* take(): FOUND */
    uint64_t          expired;          /* finalised by expire() */
    uint64_t          unknown;          /* take(): UNKNOWN */
    uint64_t          late;             /* take(): EXPIRED */
    uint64_t          repeated;         /* take(): DUPLICATE */
    uint64_t          foreign;          /* take(): FOREIGN */
} llmopt_pending_t;


/*
 * The bytes of memory a table of capacity slots takes, 0 when capacity is
 * 0 or above LLMOPT_PENDING_MAX.  About 416 bytes a slot.
 */
size_t llmopt_pending_size(unsigned capacity);

/*
 * Lays out an empty table of capacity slots in mem (at least
 * llmopt_pending_size(capacity) bytes, 8-byte aligned).  seed keys the id
 * hash; a random one keeps clients that choose request ids from steering
 * collisions.  Returns LLMOPT_OK, or LLMOPT_ERROR for a bad capacity or
 * a misaligned mem.
 */
int llmopt_pending_init(void *mem, unsigned capacity, uint64_t seed);

/*
 * LLMOPT_OK if mem holds a table that llmopt_pending_init() laid out with
 * this capacity and this build's event layout, LLMOPT_DECLINED otherwise.
 */
int llmopt_pending_check(const void *mem, unsigned capacity);

/*
 * Stores a copy of *ev under ev->id, due at now_ms + wait_ms (saturating),
 * for feedback of this tenant only: a caller's 64-bit key of the tenant
 * (never 0; a keyed hash that nobody can steer), or 0 for any tenant.
 * evicted->kind is set to LLMOPT_EVENT_NONE, unless the table was full of
 * pending events: then the one with the earliest deadline was removed to
 * make room and is copied into *evicted, to be finalised now by the
 * caller (its id is forgotten).  Returns LLMOPT_OK, or LLMOPT_DECLINED
 * when the id is known already (pending or remembered): nothing is stored
 * then.  Never allocates; O(log capacity).
 */
int llmopt_pending_insert(llmopt_pending_t *t, const llmopt_event_t *ev,
    uint64_t tenant, uint64_t now_ms, uint64_t wait_ms,
    llmopt_event_t *evicted);

/*
 * Looks the request id (LLMOPT_REQUEST_ID_LEN bytes) up for feedback of
 * tenant (the key insert takes).  An id kept for another tenant than this
 * one, pending or not, is LLMOPT_PENDING_FOREIGN and stays as it was.  If
 * its event is pending, copies it into *ev, marks the id taken and
 * returns LLMOPT_PENDING_FOUND; an event is pending until
 * llmopt_pending_expire() removes it, even a little past its deadline.
 * Otherwise returns UNKNOWN, EXPIRED or DUPLICATE and leaves *ev alone.
 * O(1) expected.
 */
llmopt_pending_e llmopt_pending_take(llmopt_pending_t *t,
    const unsigned char *id, uint64_t tenant, llmopt_event_t *ev);

/*
 * Removes up to n events whose deadline is <= now_ms, earliest deadline
 * first (insertion order among equal deadlines), copies them into
 * out[0 .. count - 1] and marks their ids expired; returns count.  The
 * caller finalises them with their proxy reward and calls again while the
 * count is n.  now_ms UINT64_MAX flushes every pending event.
 */
unsigned llmopt_pending_expire(llmopt_pending_t *t, uint64_t now_ms,
    llmopt_event_t *out, unsigned n);

/* The earliest deadline of a pending event, UINT64_MAX when none. */
uint64_t llmopt_pending_next(const llmopt_pending_t *t);

/* Events waiting now. */
unsigned llmopt_pending_count(const llmopt_pending_t *t);


#endif /* _LLMOPT_PENDING_H_INCLUDED_ */
