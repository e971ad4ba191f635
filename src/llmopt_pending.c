/*
 * Copyright (C) llmopt authors
 */


#include <string.h>

#include "llmopt_pending.h"
#include "llmopt_hash.h"


#define LLMOPT_PENDING_MAGIC    0x646e6570u     /* "pend" */
#define LLMOPT_PENDING_VERSION  2

#define LLMOPT_PENDING_NONE     0xffffffffu     /* no slot */


/*
 * Memory after the header: capacity slots, then three arrays of uint32_t:
 * the deadline heap (slot numbers of pending events, a binary min-heap on
 * deadline, then serial), the graveyard (a FIFO ring of slot numbers of
 * finished events, oldest first) and the id index (open addressing with
 * linear probing, buckets hold slot + 1, 0 is empty; at most half full,
 * deletion shifts later entries back, so no tombstones).
 *
 * A slot is in exactly one of: never used (number >= used), the heap
 * (PENDING), the graveyard (TAKEN, EXPIRED).  Only heap and graveyard
 * slots are in the index.  A new event takes a never used slot, else the
 * oldest graveyard slot, else evicts the heap's top.
 */

typedef enum {
    LLMOPT_PENDING_SLOT_FREE = 0,
    LLMOPT_PENDING_SLOT_PENDING,
    LLMOPT_PENDING_SLOT_TAKEN,
    LLMOPT_PENDING_SLOT_EXPIRED
} llmopt_pending_slot_e;


typedef struct {
    unsigned char     id[LLMOPT_REQUEST_ID_LEN];
    uint64_t          hash;
    uint64_t          deadline;         /* ms */
    uint64_t          serial;
    uint32_t          state;            /* llmopt_pending_slot_e */
    uint32_t          heap;             /* position in the heap */
    uint64_t          tenant;           /* whose feedback it takes, 0: any */
    llmopt_event_t    ev;
} llmopt_pending_slot_t;


static llmopt_pending_slot_t *llmopt_pending_slots(llmopt_pending_t *t);
static uint32_t *llmopt_pending_heap(llmopt_pending_t *t);
static uint32_t *llmopt_pending_grave(llmopt_pending_t *t);
static uint32_t *llmopt_pending_index(llmopt_pending_t *t);
static uint32_t llmopt_pending_buckets(unsigned capacity);
static uint32_t llmopt_pending_find(llmopt_pending_t *t,
    const unsigned char *id, uint64_t hash, uint32_t *bucket);
static void llmopt_pending_unindex(llmopt_pending_t *t, uint32_t slot);
static uint32_t llmopt_pending_reuse(llmopt_pending_t *t,
    llmopt_event_t *evicted);
static void llmopt_pending_bury(llmopt_pending_t *t, uint32_t slot,
    uint32_t state);
static int llmopt_pending_before(llmopt_pending_slot_t *slots, uint32_t a,
    uint32_t b);
static void llmopt_pending_heap_put(llmopt_pending_t *t, uint32_t pos,
    uint32_t slot);
static void llmopt_pending_heap_up(llmopt_pending_t *t, uint32_t pos);
static void llmopt_pending_heap_down(llmopt_pending_t *t, uint32_t pos);
static void llmopt_pending_heap_remove(llmopt_pending_t *t, uint32_t pos);


size_t
llmopt_pending_size(unsigned capacity)
{
    if (capacity == 0 || capacity > LLMOPT_PENDING_MAX) {
        return 0;
    }

    return sizeof(llmopt_pending_t)
           + (size_t) capacity * sizeof(llmopt_pending_slot_t)
           + (size_t) capacity * 2 * sizeof(uint32_t)
           + (size_t) llmopt_pending_buckets(capacity) * sizeof(uint32_t);
}


int
llmopt_pending_init(void *mem, unsigned capacity, uint64_t seed)
{
    llmopt_pending_t  *t;

    if (mem == NULL || ((uintptr_t) mem & 7) != 0
        || llmopt_pending_size(capacity) == 0)
    {
        return LLMOPT_ERROR;
    }

    t = mem;
    memset(t, 0, sizeof(llmopt_pending_t));

    t->magic = LLMOPT_PENDING_MAGIC;
    t->version = LLMOPT_PENDING_VERSION;
    t->capacity = capacity;
    t->buckets = llmopt_pending_buckets(capacity);
    t->event_size = sizeof(llmopt_event_t);
    t->seed = seed;

    memset(llmopt_pending_index(t), 0, t->buckets * sizeof(uint32_t));

    return LLMOPT_OK;
}


int
llmopt_pending_check(const void *mem, unsigned capacity)
{
    const llmopt_pending_t  *t;

    t = mem;

    if (t == NULL || ((uintptr_t) t & 7) != 0
        || llmopt_pending_size(capacity) == 0
        || t->magic != LLMOPT_PENDING_MAGIC
        || t->version != LLMOPT_PENDING_VERSION
        || t->capacity != capacity
        || t->buckets != llmopt_pending_buckets(capacity)
        || t->event_size != sizeof(llmopt_event_t))
    {
        return LLMOPT_DECLINED;
    }

    return LLMOPT_OK;
}


int
llmopt_pending_insert(llmopt_pending_t *t, const llmopt_event_t *ev,
    uint64_t tenant, uint64_t now_ms, uint64_t wait_ms,
    llmopt_event_t *evicted)
{
    uint32_t                slot, bucket;
    uint64_t                hash;
    llmopt_pending_slot_t  *s;

    evicted->kind = LLMOPT_EVENT_NONE;

    hash = llmopt_hash64(ev->id, LLMOPT_REQUEST_ID_LEN, t->seed);

    if (llmopt_pending_find(t, ev->id, hash, &bucket)
        != LLMOPT_PENDING_NONE)
    {
        t->refused++;
        return LLMOPT_DECLINED;
    }

    slot = llmopt_pending_reuse(t, evicted);

    /* reuse may have shifted index entries: find the empty bucket again */

    (void) llmopt_pending_find(t, ev->id, hash, &bucket);

    s = &llmopt_pending_slots(t)[slot];

    memcpy(s->id, ev->id, LLMOPT_REQUEST_ID_LEN);
    s->hash = hash;
    s->deadline = (wait_ms > UINT64_MAX - now_ms) ? UINT64_MAX
                                                  : now_ms + wait_ms;
    s->serial = t->serial++;
    s->state = LLMOPT_PENDING_SLOT_PENDING;
    s->tenant = tenant;
    memcpy(&s->ev, ev, sizeof(llmopt_event_t));

    llmopt_pending_index(t)[bucket] = slot + 1;

    llmopt_pending_heap_put(t, t->pending, slot);
    t->pending++;
    llmopt_pending_heap_up(t, t->pending - 1);

    t->inserted++;

    return LLMOPT_OK;
}


llmopt_pending_e
llmopt_pending_take(llmopt_pending_t *t, const unsigned char *id,
    uint64_t tenant, llmopt_event_t *ev)
{
    uint32_t                slot, bucket;
    llmopt_pending_slot_t  *s;

    slot = llmopt_pending_find(t, id,
                               llmopt_hash64(id, LLMOPT_REQUEST_ID_LEN,
                                             t->seed),
                               &bucket);

    if (slot == LLMOPT_PENDING_NONE) {
        t->unknown++;
        return LLMOPT_PENDING_UNKNOWN;
    }

    s = &llmopt_pending_slots(t)[slot];

    if (s->tenant != 0 && s->tenant != tenant) {
        t->foreign++;
        return LLMOPT_PENDING_FOREIGN;
    }

    switch (s->state) {

    case LLMOPT_PENDING_SLOT_PENDING:
        memcpy(ev, &s->ev, sizeof(llmopt_event_t));
        llmopt_pending_heap_remove(t, s->heap);
        llmopt_pending_bury(t, slot, LLMOPT_PENDING_SLOT_TAKEN);
        t->taken++;
        return LLMOPT_PENDING_FOUND;

    case LLMOPT_PENDING_SLOT_EXPIRED:
        t->late++;
        return LLMOPT_PENDING_EXPIRED;

    default:
        t->repeated++;
        return LLMOPT_PENDING_DUPLICATE;
    }
}


unsigned
llmopt_pending_expire(llmopt_pending_t *t, uint64_t now_ms,
    llmopt_event_t *out, unsigned n)
{
    uint32_t                slot;
    unsigned                count;
    llmopt_pending_slot_t  *s;

    for (count = 0; count < n && t->pending > 0; count++) {
        slot = llmopt_pending_heap(t)[0];
        s = &llmopt_pending_slots(t)[slot];

        if (s->deadline > now_ms) {
            break;
        }

        memcpy(&out[count], &s->ev, sizeof(llmopt_event_t));
        llmopt_pending_heap_remove(t, 0);
        llmopt_pending_bury(t, slot, LLMOPT_PENDING_SLOT_EXPIRED);
        t->expired++;
    }

    return count;
}


uint64_t
llmopt_pending_next(const llmopt_pending_t *t)
{
    llmopt_pending_t  *w;

    if (t->pending == 0) {
        return UINT64_MAX;
    }

    w = (llmopt_pending_t *) t;

    return llmopt_pending_slots(w)[llmopt_pending_heap(w)[0]].deadline;
}


unsigned
llmopt_pending_count(const llmopt_pending_t *t)
{
    return t->pending;
}


/*
 * A slot for a new event: never used, else the oldest finished one (its
 * id is forgotten), else the pending one due first, copied to *evicted.
 */

static uint32_t
llmopt_pending_reuse(llmopt_pending_t *t, llmopt_event_t *evicted)
{
    uint32_t                slot;
    llmopt_pending_slot_t  *s;

    if (t->used < t->capacity) {
        return t->used++;
    }

    if (t->grave_count > 0) {
        slot = llmopt_pending_grave(t)[t->grave_head];
        t->grave_head = (t->grave_head + 1) % t->capacity;
        t->grave_count--;

    } else {
        slot = llmopt_pending_heap(t)[0];
        s = &llmopt_pending_slots(t)[slot];

        memcpy(evicted, &s->ev, sizeof(llmopt_event_t));
        llmopt_pending_heap_remove(t, 0);
        t->evicted++;
    }

    llmopt_pending_unindex(t, slot);
    llmopt_pending_slots(t)[slot].state = LLMOPT_PENDING_SLOT_FREE;

    return slot;
}


static void
llmopt_pending_bury(llmopt_pending_t *t, uint32_t slot, uint32_t state)
{
    uint32_t  tail;

    llmopt_pending_slots(t)[slot].state = state;

    tail = (t->grave_head + t->grave_count) % t->capacity;
    llmopt_pending_grave(t)[tail] = slot;
    t->grave_count++;
}


/*
 * The slot holding id, or LLMOPT_PENDING_NONE; *bucket is the bucket that
 * holds it, or the empty bucket where it would go.
 */

static uint32_t
llmopt_pending_find(llmopt_pending_t *t, const unsigned char *id,
    uint64_t hash, uint32_t *bucket)
{
    uint32_t                i, mask, entry;
    uint32_t               *index;
    llmopt_pending_slot_t  *slots, *s;

    index = llmopt_pending_index(t);
    slots = llmopt_pending_slots(t);
    mask = t->buckets - 1;

    /* the index is at most half full, so an empty bucket ends the probe */

    for (i = (uint32_t) hash & mask; /* void */; i = (i + 1) & mask) {
        entry = index[i];

        if (entry == 0) {
            *bucket = i;
            return LLMOPT_PENDING_NONE;
        }

        s = &slots[entry - 1];

        if (s->hash == hash
            && memcmp(s->id, id, LLMOPT_REQUEST_ID_LEN) == 0)
        {
            *bucket = i;
            return entry - 1;
        }
    }
}


/*
 * Removes slot from the index and moves back every later entry of the
 * probe run that may move, so that lookups never cross a hole.
 */

static void
llmopt_pending_unindex(llmopt_pending_t *t, uint32_t slot)
{
    uint32_t                i, j, home, mask;
    uint32_t               *index;
    llmopt_pending_slot_t  *slots, *s;

    index = llmopt_pending_index(t);
    slots = llmopt_pending_slots(t);
    mask = t->buckets - 1;
    s = &slots[slot];

    if (llmopt_pending_find(t, s->id, s->hash, &i) != slot) {
        return;
    }

    for (j = (i + 1) & mask; index[j] != 0; j = (j + 1) & mask) {
        home = (uint32_t) slots[index[j] - 1].hash & mask;

        /* the entry at j may fill the hole at i unless its home lies in
           the cyclic range (i, j] */

        if (((j - home) & mask) >= ((j - i) & mask)) {
            index[i] = index[j];
            i = j;
        }
    }

    index[i] = 0;
}


static int
llmopt_pending_before(llmopt_pending_slot_t *slots, uint32_t a, uint32_t b)
{
    if (slots[a].deadline != slots[b].deadline) {
        return slots[a].deadline < slots[b].deadline;
    }

    return slots[a].serial < slots[b].serial;
}


static void
llmopt_pending_heap_put(llmopt_pending_t *t, uint32_t pos, uint32_t slot)
{
    llmopt_pending_heap(t)[pos] = slot;
    llmopt_pending_slots(t)[slot].heap = pos;
}


static void
llmopt_pending_heap_up(llmopt_pending_t *t, uint32_t pos)
{
    uint32_t                slot, parent;
    uint32_t               *heap;
    llmopt_pending_slot_t  *slots;

    heap = llmopt_pending_heap(t);
    slots = llmopt_pending_slots(t);
    slot = heap[pos];

    while (pos > 0) {
        parent = (pos - 1) / 2;

        if (!llmopt_pending_before(slots, slot, heap[parent])) {
            break;
        }

        llmopt_pending_heap_put(t, pos, heap[parent]);
        pos = parent;
    }

    llmopt_pending_heap_put(t, pos, slot);
}


static void
llmopt_pending_heap_down(llmopt_pending_t *t, uint32_t pos)
{
    uint32_t                slot, child;
    uint32_t               *heap;
    llmopt_pending_slot_t  *slots;

    heap = llmopt_pending_heap(t);
    slots = llmopt_pending_slots(t);
    slot = heap[pos];

    for ( ;; ) {
        child = 2 * pos + 1;

        if (child >= t->pending) {
            break;
        }

        if (child + 1 < t->pending
            && llmopt_pending_before(slots, heap[child + 1], heap[child]))
        {
            child++;
        }

        if (!llmopt_pending_before(slots, heap[child], slot)) {
            break;
        }

        llmopt_pending_heap_put(t, pos, heap[child]);
        pos = child;
    }

    llmopt_pending_heap_put(t, pos, slot);
}


static void
llmopt_pending_heap_remove(llmopt_pending_t *t, uint32_t pos)
{
    uint32_t  *heap;

    heap = llmopt_pending_heap(t);
    t->pending--;

    if (pos == t->pending) {
        return;
    }

    llmopt_pending_heap_put(t, pos, heap[t->pending]);
    llmopt_pending_heap_down(t, pos);
    llmopt_pending_heap_up(t, pos);
}


static uint32_t
llmopt_pending_buckets(unsigned capacity)
{
    uint32_t  n;

    for (n = 2; n < 2 * capacity; n <<= 1) {
        /* void */
    }

    return n;
}


static llmopt_pending_slot_t *
llmopt_pending_slots(llmopt_pending_t *t)
{
    return (llmopt_pending_slot_t *) ((char *) t + sizeof(llmopt_pending_t));
}


static uint32_t *
llmopt_pending_heap(llmopt_pending_t *t)
{
    return (uint32_t *) (llmopt_pending_slots(t) + t->capacity);
}


static uint32_t *
llmopt_pending_grave(llmopt_pending_t *t)
{
    return llmopt_pending_heap(t) + t->capacity;
}


static uint32_t *
llmopt_pending_index(llmopt_pending_t *t)
{
    return llmopt_pending_grave(t) + t->capacity;
}
