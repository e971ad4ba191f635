/*
 * Copyright (C) llmopt authors
 *
 * The near-duplicate index (llmopt_neardup_index.h): entries in a
 * least-recently-used list, and in one chain a band.
 */


#include <string.h>

#include "llmopt_hash.h"
#include "llmopt_neardup_index.h"


#define LLMOPT_NEARDUP_MAGIC  0x6e646978U         /* "ndix" */
#define LLMOPT_NEARDUP_ROWS   (LLMOPT_NEARDUP_K / LLMOPT_NEARDUP_BANDS)


static uint32_t *llmopt_neardup_heads(llmopt_neardup_index_t *idx,
    unsigned band);
static uint32_t llmopt_neardup_bucket(const llmopt_neardup_index_t *idx,
    const llmopt_neardup_sig_t *sig, unsigned band);
static void llmopt_neardup_lru_unlink(llmopt_neardup_index_t *idx,
    uint32_t i);
static void llmopt_neardup_lru_front(llmopt_neardup_index_t *idx,
    uint32_t i);
static void llmopt_neardup_evict(llmopt_neardup_index_t *idx, uint32_t i);


static uint32_t
llmopt_neardup_pow2(uint32_t n)
{
    uint32_t  p;

    for (p = 1; p < n && p < 0x80000000U; p <<= 1) { /* void */ }

    return p;
}


size_t
llmopt_neardup_index_size(uint32_t capacity, uint32_t buckets)
{
    buckets = llmopt_neardup_pow2(buckets ? buckets : 1);

    return sizeof(llmopt_neardup_index_t)
           + (size_t) LLMOPT_NEARDUP_BANDS * buckets * sizeof(uint32_t)
           + 8 + (size_t) capacity * sizeof(llmopt_neardup_entry_t);
}


llmopt_neardup_index_t *
llmopt_neardup_index_init(void *mem, size_t size, uint32_t capacity,
    uint32_t buckets)
{
    unsigned                 b;
    uint32_t                 i, *heads;
    llmopt_neardup_index_t  *idx;
    llmopt_neardup_entry_t  *e;

    buckets = llmopt_neardup_pow2(buckets ? buckets : 1);

    if (capacity == 0 || size < llmopt_neardup_index_size(capacity, buckets))
    {
        return NULL;
    }

    idx = mem;
    memset(idx, 0, sizeof(llmopt_neardup_index_t));
    idx->magic = LLMOPT_NEARDUP_MAGIC;
    idx->capacity = capacity;
    idx->buckets = buckets;
    idx->lru_head = LLMOPT_NEARDUP_NONE;
    idx->lru_tail = LLMOPT_NEARDUP_NONE;

    for (b = 0; b < LLMOPT_NEARDUP_BANDS; b++) {
        heads = llmopt_neardup_heads(idx, b);

        for (i = 0; i < buckets; i++) {
            heads[i] = LLMOPT_NEARDUP_NONE;
        }
    }

    for (i = 0; i < capacity; i++) {
        e = llmopt_neardup_index_entry(idx, i);
        e->used = 0;
    }

    return idx;
}


llmopt_neardup_entry_t *
llmopt_neardup_index_entry(llmopt_neardup_index_t *idx, uint32_t i)
{
    uintptr_t  p;

    /* after the heads, 8-byte aligned */
    p = (uintptr_t) (llmopt_neardup_heads(idx, LLMOPT_NEARDUP_BANDS));
    p = (p + 7) & ~(uintptr_t) 7;

    return (llmopt_neardup_entry_t *) p + i;
}


uint32_t
llmopt_neardup_index_lookup(llmopt_neardup_index_t *idx,
    const llmopt_neardup_sig_t *sig, const llmopt_neardup_accept_t *acc,
    double *p)
{
    double                   best_p, q;
    unsigned                 b, k, seen;
    uint32_t                 i, best, *heads;
    uint32_t                 tried[LLMOPT_NEARDUP_BANDS * 8];
    llmopt_neardup_entry_t  *e;

    idx->lookups++;
    best = LLMOPT_NEARDUP_NONE;
    best_p = 0.5;
    seen = 0;

    for (b = 0; b < LLMOPT_NEARDUP_BANDS; b++) {
        heads = llmopt_neardup_heads(idx, b);

        for (i = heads[llmopt_neardup_bucket(idx, sig, b)];
             i != LLMOPT_NEARDUP_NONE;
             i = e->band_next[b])
        {
            e = llmopt_neardup_index_entry(idx, i);

            if (memcmp(e->sig.minhash + b * LLMOPT_NEARDUP_ROWS,
                       sig->minhash + b * LLMOPT_NEARDUP_ROWS,
                       LLMOPT_NEARDUP_ROWS * sizeof(uint32_t))
                != 0)
            {
                continue;               /* another band in the bucket */
            }

            /* an entry is judged once, however many bands it shares */

            for (k = 0; k < seen && tried[k] != i; k++) { /* void */ }

            if (k < seen) {
                continue;
            }

            if (seen < sizeof(tried) / sizeof(tried[0])) {
                tried[seen++] = i;
            }

            idx->compared++;
            q = llmopt_neardup_accept(acc, sig, &e->sig);

            if (q >= best_p) {
                best_p = q;
                best = i;
            }
        }
    }

    if (best != LLMOPT_NEARDUP_NONE) {
        idx->hits++;
        llmopt_neardup_lru_unlink(idx, best);
        llmopt_neardup_lru_front(idx, best);
    }

    if (p != NULL) {
        *p = best != LLMOPT_NEARDUP_NONE ? best_p : 0;
    }

    return best;
}


uint32_t
llmopt_neardup_index_insert(llmopt_neardup_index_t *idx,
    const llmopt_neardup_sig_t *sig, const void *value, size_t len)
{
    unsigned                 b;
    uint32_t                 i, bucket, *heads;
    llmopt_neardup_entry_t  *e;

    if (idx->count < idx->capacity) {
        i = idx->count++;

    } else {
        i = idx->lru_tail;
        llmopt_neardup_evict(idx, i);
        idx->evictions++;
    }

    e = llmopt_neardup_index_entry(idx, i);
    e->sig = *sig;
    e->value_len = (uint32_t) (len < LLMOPT_NEARDUP_VALUE
                               ? len : LLMOPT_NEARDUP_VALUE);
    memcpy(e->value, value, e->value_len);
    e->used = 1;

    for (b = 0; b < LLMOPT_NEARDUP_BANDS; b++) {
        heads = llmopt_neardup_heads(idx, b);
        bucket = llmopt_neardup_bucket(idx, sig, b);
        e->band_next[b] = heads[bucket];
        heads[bucket] = i;
    }

    llmopt_neardup_lru_front(idx, i);
    idx->inserts++;

    return i;
}


/* The entry at i out of its chains and the list, to be used again. */

static void
llmopt_neardup_evict(llmopt_neardup_index_t *idx, uint32_t i)
{
    unsigned                 b;
    uint32_t                *link;
    llmopt_neardup_entry_t  *e, *x;

    e = llmopt_neardup_index_entry(idx, i);

    for (b = 0; b < LLMOPT_NEARDUP_BANDS; b++) {
        link = &llmopt_neardup_heads(idx, b)[llmopt_neardup_bucket(idx,
                                                                  &e->sig,
                                                                  b)];

        while (*link != LLMOPT_NEARDUP_NONE && *link != i) {
            x = llmopt_neardup_index_entry(idx, *link);
            link = &x->band_next[b];
        }

        if (*link == i) {
            *link = e->band_next[b];
        }
    }

    llmopt_neardup_lru_unlink(idx, i);
    e->used = 0;
}


static uint32_t *
llmopt_neardup_heads(llmopt_neardup_index_t *idx, unsigned band)
{
    return (uint32_t *) (idx + 1) + (size_t) band * idx->buckets;
}


static uint32_t
llmopt_neardup_bucket(const llmopt_neardup_index_t *idx,
    const llmopt_neardup_sig_t *sig, unsigned band)
{
    return (uint32_t) llmopt_hash64(sig->minhash + band * LLMOPT_NEARDUP_ROWS,
                                    LLMOPT_NEARDUP_ROWS * sizeof(uint32_t),
                                    band)
           & (idx->buckets - 1);
}


static void
llmopt_neardup_lru_unlink(llmopt_neardup_index_t *idx, uint32_t i)
{
    llmopt_neardup_entry_t  *e;

    e = llmopt_neardup_index_entry(idx, i);

    if (e->lru_prev != LLMOPT_NEARDUP_NONE) {
        llmopt_neardup_index_entry(idx, e->lru_prev)->lru_next = e->lru_next;

    } else if (idx->lru_head == i) {
        idx->lru_head = e->lru_next;
    }

    if (e->lru_next != LLMOPT_NEARDUP_NONE) {
        llmopt_neardup_index_entry(idx, e->lru_next)->lru_prev = e->lru_prev;

    } else if (idx->lru_tail == i) {
        idx->lru_tail = e->lru_prev;
    }

    e->lru_prev = LLMOPT_NEARDUP_NONE;
    e->lru_next = LLMOPT_NEARDUP_NONE;
}


static void
llmopt_neardup_lru_front(llmopt_neardup_index_t *idx, uint32_t i)
{
    llmopt_neardup_entry_t  *e;

    e = llmopt_neardup_index_entry(idx, i);
    e->lru_prev = LLMOPT_NEARDUP_NONE;
    e->lru_next = idx->lru_head;

    if (idx->lru_head != LLMOPT_NEARDUP_NONE) {
        llmopt_neardup_index_entry(idx, idx->lru_head)->lru_prev = i;
    }

    idx->lru_head = i;

    if (idx->lru_tail == LLMOPT_NEARDUP_NONE) {
        idx->lru_tail = i;
    }
}
