/*
 * Copyright (C) llmopt authors
 *
 * A bounded index of near-duplicate signatures (llmopt_neardup_index.c),
 * laid out for shared memory: one block of the caller's memory, indices
 * instead of pointers, a least-recently-used order that gives the oldest
 * entry's place to a new one when full, and MinHash bands (locality
 * sensitive hashing) so that a lookup compares the few entries that share
 * a band with the prompt, not all of them.  Each entry carries a value of
 * the caller's (the exact cache's key of the stored answer, say).  The
 * caller serialises access (the zone's mutex): nothing here is atomic.
 */

#ifndef _LLMOPT_NEARDUP_INDEX_H_INCLUDED_
#define _LLMOPT_NEARDUP_INDEX_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_neardup.h"


#define LLMOPT_NEARDUP_BANDS      16     /* of LLMOPT_NEARDUP_K / 16 rows */
#define LLMOPT_NEARDUP_VALUE      72     /* bytes of an entry's value */
#define LLMOPT_NEARDUP_NONE       0xffffffffU


typedef struct {
    llmopt_neardup_sig_t   sig;
    uint8_t                value[LLMOPT_NEARDUP_VALUE];
    uint32_t               value_len;
    uint32_t               lru_prev;        /* toward the most recent */
    uint32_t               lru_next;
    uint32_t               band_next[LLMOPT_NEARDUP_BANDS];
    uint32_t               used;
} llmopt_neardup_entry_t;


typedef struct {
    uint32_t               magic;
    uint32_t               capacity;        /* entries */
    uint32_t               buckets;         /* a band's, a power of 2 */
    uint32_t               count;
    uint32_t               lru_head;        /* the most recent */
    uint32_t               lru_tail;        /* the next to go */
    uint64_t               inserts;
    uint64_t               evictions;
    uint64_t               lookups;
    uint64_t               hits;
    uint64_t               compared;        /* candidates judged */
    /* then uint32_t heads[BANDS][buckets], entries[capacity] */
} llmopt_neardup_index_t;


/* Bytes an index of capacity entries and buckets a band needs. */
size_t llmopt_neardup_index_size(uint32_t capacity, uint32_t buckets);

/*
 * Lays an empty index out in mem (size bytes, 8-byte aligned): buckets is
 * rounded up to a power of 2.  Returns it, or NULL when size is too small
 * or capacity 0.
 */
llmopt_neardup_index_t *llmopt_neardup_index_init(void *mem, size_t size,
    uint32_t capacity, uint32_t buckets);

/*
 * The entry that acc accepts best for sig (llmopt_neardup_accept() at
 * least 0.5), made the most recent; its index, or LLMOPT_NEARDUP_NONE.
 * *p, if not NULL, gets its acceptance.
 */
uint32_t llmopt_neardup_index_lookup(llmopt_neardup_index_t *idx,
    const llmopt_neardup_sig_t *sig, const llmopt_neardup_accept_t *acc,
    double *p);

/* The entry at i (from a lookup or an insert). */
llmopt_neardup_entry_t *llmopt_neardup_index_entry(
    llmopt_neardup_index_t *idx, uint32_t i);

/*
 * Adds sig with value[0 .. len - 1] (at most LLMOPT_NEARDUP_VALUE bytes,
 * more is cut) as the most recent entry; when full, the least recent goes
 * first.  Returns the new entry's index.
 */
uint32_t llmopt_neardup_index_insert(llmopt_neardup_index_t *idx,
    const llmopt_neardup_sig_t *sig, const void *value, size_t len);


#endif /* _LLMOPT_NEARDUP_INDEX_H_INCLUDED_ */
