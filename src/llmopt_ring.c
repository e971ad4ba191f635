/*
 * Copyright (C) llmopt authors
 */


#include <string.h>

#include "llmopt_ring.h"


#define LLMOPT_RING_MAGIC    0x676e6972u      /* "ring" */
#define LLMOPT_RING_VERSION  1

/*
 * A producer retries its claim while other producers win the race for
 * the same slot; each retry means another push went through.  Past this
 * many it gives up and counts a drop, so a push is bounded in time.
 */
#define LLMOPT_RING_CLAIMS   1024


/*
 * A slot's sequence number tells whose turn it is.  For the slot at
 * position pos (slot index pos & mask, lap pos / capacity):
 *   seq == pos                free for the producer that claims pos;
 *   seq == pos + 1            holds the event of pos, for the consumer;
 *   seq == pos + capacity     freed by the consumer, for the next lap.
 * A claimed slot keeps seq == pos until its producer publishes it.
 *
 * Memory ordering.  A producer loads seq with acquire, which pairs with
 * the consumer's release store that freed the slot: the consumer's reads
 * of the old event happen before the producer overwrites it.  Claiming
 * moves head with a relaxed compare-and-swap: head only hands out
 * positions, it publishes no data.  The producer then copies the event
 * and publishes with a release compare-and-swap of seq (pos -> pos + 1),
 * so the event's bytes are visible before the new seq.  The consumer
 * loads seq with acquire, which pairs with that release, copies the
 * event, then frees the slot with a release store.  tail and the
 * counters are written by one side only and read by status readers;
 * relaxed access suffices for them.
 */

typedef struct {
    uint64_t             seq;
    llmopt_event_t       ev;
} llmopt_ring_slot_t;


typedef char  llmopt_ring_event_fits[sizeof(llmopt_event_t) <= 512 ? 1 : -1];
typedef char  llmopt_ring_header_fits[sizeof(llmopt_ring_t) % 8 == 0 ? 1 : -1];


static llmopt_ring_slot_t *llmopt_ring_slot(llmopt_ring_t *r, uint64_t pos);
static size_t llmopt_ring_event_len(unsigned d);


size_t
llmopt_ring_size(unsigned capacity)
{
    if (capacity < LLMOPT_RING_MIN || capacity > LLMOPT_RING_MAX
        || (capacity & (capacity - 1)) != 0)
    {
        return 0;
    }

    return sizeof(llmopt_ring_t)
           + (size_t) capacity * sizeof(llmopt_ring_slot_t);
}


int
llmopt_ring_init(void *mem, unsigned capacity)
{
    unsigned             i;
    llmopt_ring_t       *r;
    llmopt_ring_slot_t  *slot;

    if (mem == NULL || ((uintptr_t) mem & 7) != 0
        || llmopt_ring_size(capacity) == 0)
    {
        return LLMOPT_ERROR;
    }

    r = mem;
    memset(r, 0, sizeof(llmopt_ring_t));

    r->magic = LLMOPT_RING_MAGIC;
    r->version = LLMOPT_RING_VERSION;
    r->capacity = capacity;
    r->event_size = sizeof(llmopt_event_t);

    for (i = 0; i < capacity; i++) {
        slot = llmopt_ring_slot(r, i);
        memset(&slot->ev, 0, sizeof(llmopt_event_t));
        slot->seq = i;
    }

    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    return LLMOPT_OK;
}


int
llmopt_ring_check(const void *mem, unsigned capacity)
{
    const llmopt_ring_t  *r;

    r = mem;

    if (r == NULL || ((uintptr_t) r & 7) != 0
        || llmopt_ring_size(capacity) == 0
        || r->magic != LLMOPT_RING_MAGIC
        || r->version != LLMOPT_RING_VERSION
        || r->capacity != capacity
        || r->event_size != sizeof(llmopt_event_t))
    {
        return LLMOPT_DECLINED;
    }

    return LLMOPT_OK;
}


int
llmopt_ring_push(llmopt_ring_t *r, const llmopt_event_t *ev)
{
    int64_t              dif;
    uint64_t             pos, seq;
    unsigned             claims;
    llmopt_ring_slot_t  *slot;

    pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

    for (claims = 0; /* void */; claims++) {

        if (claims == LLMOPT_RING_CLAIMS) {
            __atomic_fetch_add(&r->drops, 1, __ATOMIC_RELAXED);
            return LLMOPT_DECLINED;
        }

        slot = llmopt_ring_slot(r, pos);
        seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
        dif = (int64_t) (seq - pos);

        if (dif == 0) {
            if (__atomic_compare_exchange_n(&r->head, &pos, pos + 1, 1,
                                            __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
            {
                break;
            }

            /* another producer took pos; the failed CAS reloaded pos */
            continue;
        }

        if (dif < 0) {
            /* the slot still holds the event of the previous lap */
            __atomic_fetch_add(&r->drops, 1, __ATOMIC_RELAXED);
            return LLMOPT_DECLINED;
        }

        pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
    }

    /* x[d ..] stays as it was: fewer cache lines to take from the trainer */
    memcpy(&slot->ev, ev, llmopt_ring_event_len(ev->d));

    seq = pos;

    if (!__atomic_compare_exchange_n(&slot->seq, &seq, pos + 1, 0,
                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED))
    {
        /* the consumer gave up on this slot (llmopt_ring_skip()) */
        return LLMOPT_DECLINED;
    }

    return LLMOPT_OK;
}


void
llmopt_ring_prefetch(llmopt_ring_t *r, unsigned d)
{
    size_t               len, off;
    llmopt_ring_slot_t  *slot;

    slot = llmopt_ring_slot(r, __atomic_load_n(&r->head, __ATOMIC_RELAXED));
    len = offsetof(llmopt_ring_slot_t, ev) + llmopt_ring_event_len(d);

    for (off = 0; off < len; off += 64) {
        __builtin_prefetch((char *) slot + off, 1, 3);
    }
}


int
llmopt_ring_pop(llmopt_ring_t *r, llmopt_event_t *ev)
{
    size_t               len;
    uint64_t             pos, seq, head;
    llmopt_ring_slot_t  *slot;

    pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    slot = llmopt_ring_slot(r, pos);
    seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);

    if (seq == pos + 1) {
        len = llmopt_ring_event_len(slot->ev.d);
        memcpy(ev, &slot->ev, len);
        memset((unsigned char *) ev + len, 0, sizeof(llmopt_event_t) - len);

        __atomic_store_n(&slot->seq, pos + r->capacity, __ATOMIC_RELEASE);
        __atomic_store_n(&r->tail, pos + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&r->popped, r->popped + 1, __ATOMIC_RELAXED);

        return LLMOPT_OK;
    }

    if (seq != pos) {
        return LLMOPT_ERROR;
    }

    head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

    return (head == pos) ? LLMOPT_DECLINED : LLMOPT_AGAIN;
}


int
llmopt_ring_skip(llmopt_ring_t *r)
{
    uint64_t             pos, seq, head;
    llmopt_ring_slot_t  *slot;

    pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

    if (head == pos) {
        return LLMOPT_DECLINED;
    }

    slot = llmopt_ring_slot(r, pos);
    seq = pos;

    if (__atomic_compare_exchange_n(&slot->seq, &seq, pos + r->capacity, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    {
        __atomic_store_n(&r->tail, pos + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&r->skipped, r->skipped + 1, __ATOMIC_RELAXED);
        return LLMOPT_OK;
    }

    return (seq == pos + 1) ? LLMOPT_AGAIN : LLMOPT_ERROR;
}


unsigned
llmopt_ring_depth(const llmopt_ring_t *r)
{
    uint64_t  head, tail;

    /* tail first: head read later is never behind it */

    tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

    if (head < tail) {
        return 0;
    }

    if (head - tail > r->capacity) {
        return r->capacity;
    }

    return (unsigned) (head - tail);
}


uint64_t
llmopt_ring_drops(const llmopt_ring_t *r)
{
    return __atomic_load_n(&r->drops, __ATOMIC_RELAXED);
}


uint64_t
llmopt_ring_skipped(const llmopt_ring_t *r)
{
    return __atomic_load_n(&r->skipped, __ATOMIC_RELAXED);
}


uint64_t
llmopt_ring_popped(const llmopt_ring_t *r)
{
    return __atomic_load_n(&r->popped, __ATOMIC_RELAXED);
}


uint64_t
llmopt_ring_tail(const llmopt_ring_t *r)
{
    return __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
}


static llmopt_ring_slot_t *
llmopt_ring_slot(llmopt_ring_t *r, uint64_t pos)
{
    llmopt_ring_slot_t  *slots;

    slots = (llmopt_ring_slot_t *) ((char *) r + sizeof(llmopt_ring_t));

    return &slots[pos & (r->capacity - 1)];
}


/* The bytes of an event of d features in use: all but x[d ..]. */

static size_t
llmopt_ring_event_len(unsigned d)
{
    d = d < LLMOPT_FEATURE_MAX_DIM ? d : LLMOPT_FEATURE_MAX_DIM;

    return offsetof(llmopt_event_t, x) + d * sizeof(float);
}
