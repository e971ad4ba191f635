/*
 * Copyright (C) llmopt authors
 *
 * The pending table: semantics one by one, then random operations checked
 * against a plain reference model.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_pending.h"


#define TEST_MODEL_OPS   200000


typedef struct {
    unsigned          id;
    unsigned          state;            /* 1 pending, 2 taken, 3 expired */
    uint64_t          deadline;
    uint64_t          serial;
} test_record_t;


typedef struct {
    unsigned          capacity;
    unsigned          n;                /* records */
    uint64_t          serial;
    test_record_t    *pending;          /* unordered */
    unsigned          n_pending;
    test_record_t    *grave;            /* oldest first */
    unsigned          n_grave;
} test_model_t;


static void *test_alloc(size_t size);
static void test_event(llmopt_event_t *ev, unsigned id);
static void test_id(unsigned char *id, unsigned n);
static unsigned test_event_id(const llmopt_event_t *ev);
static void test_layout(void);
static void test_basic(void);
static void test_expire(void);
static void test_evict(void);
static void test_forget(void);
static void test_tenant(void);
static void test_model(unsigned capacity, uint64_t seed);
static int test_model_min(test_model_t *m, uint64_t now);


int
main(void)
{
    test_layout();
    test_basic();
    test_expire();
    test_evict();
    test_forget();
    test_tenant();
    test_model(1, 1);
    test_model(7, 2);
    test_model(64, 3);
    test_model(200, 0);

    return tap_done();
}


static void *
test_alloc(size_t size)
{
    void  *p;

    if (posix_memalign(&p, 64, size) != 0) {
        printf("Bail out! no memory\n");
        exit(1);
    }

    memset(p, 0xa5, size);

    return p;
}


static void
test_id(unsigned char *id, unsigned n)
{
    unsigned  i;

    for (i = 0; i < LLMOPT_REQUEST_ID_LEN; i++) {
        id[i] = (unsigned char) (n * 31 + i * 7 + (n >> (i % 4)));
    }

    memcpy(id, &n, sizeof(n));
}


static void
test_event(llmopt_event_t *ev, unsigned id)
{
    unsigned  i;

    memset(ev, 0, sizeof(llmopt_event_t));
    ev->kind = LLMOPT_EVENT_OUTCOME;
    test_id(ev->id, id);
    ev->tokens_in = id;
    ev->tokens_out = id * 3;
    ev->cost = id * 0.25;
    ev->d = 8;

    for (i = 0; i < 8; i++) {
        ev->x[i] = (float) (id + i);
    }
}


/* the id an event was built for, or ~0u when any field disagrees */

static unsigned
test_event_id(const llmopt_event_t *ev)
{
    unsigned        id;
    llmopt_event_t  want;

    memcpy(&id, ev->id, sizeof(id));
    test_event(&want, id);

    return memcmp(&want, ev, sizeof(llmopt_event_t)) == 0 ? id : ~0u;
}


static void
test_layout(void)
{
    char      *mem;
    size_t     size;

    is_int(llmopt_pending_size(0), 0, "size: capacity 0 refused");
    is_int(llmopt_pending_size(LLMOPT_PENDING_MAX + 1), 0,
           "size: above max refused");
    size = llmopt_pending_size(4);
    ok(size >= sizeof(llmopt_pending_t) + 4 * sizeof(llmopt_event_t),
       "size: header and 4 events");
    ok(llmopt_pending_size(LLMOPT_PENDING_MAX) > 0, "size: max accepted");

    mem = test_alloc(size + 8);

    is_int(llmopt_pending_init(NULL, 4, 0), LLMOPT_ERROR, "init: NULL");
    is_int(llmopt_pending_init(mem + 4, 4, 0), LLMOPT_ERROR,
           "init: misaligned");
    is_int(llmopt_pending_init(mem, 0, 0), LLMOPT_ERROR, "init: capacity 0");
    is_int(llmopt_pending_check(mem, 4), LLMOPT_DECLINED,
           "check: garbage is no table");
    is_int(llmopt_pending_init(mem, 4, 99), LLMOPT_OK, "init: capacity 4");
    is_int(llmopt_pending_check(mem, 4), LLMOPT_OK, "check: table");
    is_int(llmopt_pending_check(mem, 8), LLMOPT_DECLINED,
           "check: other capacity");
    is_int(llmopt_pending_count((llmopt_pending_t *) mem), 0, "empty");
    ok(llmopt_pending_next((llmopt_pending_t *) mem) == UINT64_MAX,
       "no next deadline when empty");

    free(mem);
}


static void
test_basic(void)
{
    unsigned char      id[LLMOPT_REQUEST_ID_LEN];
    llmopt_event_t     ev, got, evicted;
    llmopt_pending_t  *t;

    t = test_alloc(llmopt_pending_size(16));
    (void) llmopt_pending_init(t, 16, 12345);

    test_event(&ev, 1);
    is_int(llmopt_pending_insert(t, &ev, 0, 1000, 500, &evicted), LLMOPT_OK,
           "insert id 1");
    is_int(evicted.kind, LLMOPT_EVENT_NONE, "nothing evicted");
    test_event(&ev, 2);
    is_int(llmopt_pending_insert(t, &ev, 0, 1000, 200, &evicted), LLMOPT_OK,
           "insert id 2");
    test_event(&ev, 3);
    is_int(llmopt_pending_insert(t, &ev, 0, 1100, 300, &evicted), LLMOPT_OK,
           "insert id 3");

    is_int(llmopt_pending_count(t), 3, "3 pending");
    is_int(llmopt_pending_next(t), 1200, "next deadline 1200 (id 2)");

    test_event(&ev, 2);
    is_int(llmopt_pending_insert(t, &ev, 0, 1000, 200, &evicted),
           LLMOPT_DECLINED, "insert of a pending id refused");
    is_int(t->refused, 1, "refusal counted");

    test_id(id, 2);
    memset(&got, 0, sizeof(got));
    is_int(llmopt_pending_take(t, id, 0, &got), LLMOPT_PENDING_FOUND,
           "take id 2");
    is_int(test_event_id(&got), 2, "event of id 2 intact");
    is_int(llmopt_pending_count(t), 2, "2 pending");
    is_int(llmopt_pending_next(t), 1400, "next deadline now 1400 (id 3)");

    is_int(llmopt_pending_take(t, id, 0, &got), LLMOPT_PENDING_DUPLICATE,
           "take id 2 again: duplicate");
    test_event(&ev, 2);
    is_int(llmopt_pending_insert(t, &ev, 0, 2000, 100, &evicted),
           LLMOPT_DECLINED, "insert of a taken id refused");

    test_id(id, 77);
    memset(&got, 0x11, sizeof(got));
    is_int(llmopt_pending_take(t, id, 0, &got), LLMOPT_PENDING_UNKNOWN,
           "unknown id");
    is_int(got.kind, 0x11, "event untouched on a miss");

    test_id(id, 1);
    is_int(llmopt_pending_take(t, id, 0, &got), LLMOPT_PENDING_FOUND,
           "take id 1 past its deadline, not yet expired");
    is_int(test_event_id(&got), 1, "event of id 1 intact");

    is_int(t->inserted, 3, "counter: inserted");
    is_int(t->taken, 2, "counter: taken");
    is_int(t->repeated, 1, "counter: repeated");
    is_int(t->unknown, 1, "counter: unknown");

    free(t);
}


static void
test_expire(void)
{
    unsigned           i, n, bad;
    unsigned char      id[LLMOPT_REQUEST_ID_LEN];
    llmopt_event_t     ev, evicted, out[8];
    llmopt_pending_t  *t;

    static const unsigned  waits[6] = { 50, 10, 30, 10, 40, 10 };

    t = test_alloc(llmopt_pending_size(8));
    (void) llmopt_pending_init(t, 8, 7);

    for (i = 0; i < 6; i++) {
        test_event(&ev, 100 + i);
        (void) llmopt_pending_insert(t, &ev, 0, 1000, waits[i], &evicted);
    }

    is_int(llmopt_pending_expire(t, 1009, out, 8), 0, "nothing due at 1009");

    n = llmopt_pending_expire(t, 1010, out, 2);
    is_int(n, 2, "expire at most n = 2");
    is_int(test_event_id(&out[0]), 101, "ties in insertion order: 101");
    is_int(test_event_id(&out[1]), 103, "then 103");

    n = llmopt_pending_expire(t, 1010, out, 8);
    is_int(n, 1, "the third one due at 1010");
    is_int(test_event_id(&out[0]), 105, "is 105");

    n = llmopt_pending_expire(t, 1045, out, 8);
    is_int(n, 2, "two due by 1045");
    is_int(test_event_id(&out[0]), 102, "102 (1030) first");
    is_int(test_event_id(&out[1]), 104, "then 104 (1040)");

    is_int(llmopt_pending_count(t), 1, "one left");
    is_int(llmopt_pending_next(t), 1050, "due at 1050");

    test_id(id, 103);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_EXPIRED,
           "feedback after expiry: expired");
    is_int(t->late, 1, "late counted");
    is_int(t->expired, 5, "5 expired counted");

    /* saturating deadline, and flushing everything */

    test_event(&ev, 200);
    is_int(llmopt_pending_insert(t, &ev, 0, UINT64_MAX - 5, 100, &evicted),
           LLMOPT_OK, "insert with a deadline past the end of time");
    is_int(llmopt_pending_expire(t, UINT64_MAX - 1, out, 8), 1,
           "only 100 (due 1050) is due before the end");
    is_int(test_event_id(&out[0]), 100, "that was 100");
    is_int(llmopt_pending_expire(t, UINT64_MAX, out, 8), 1,
           "UINT64_MAX flushes the saturated one");
    is_int(test_event_id(&out[0]), 200, "that was 200");
    is_int(llmopt_pending_count(t), 0, "table empty");

    /* many equal deadlines keep insertion order through the heap */

    (void) llmopt_pending_init(t, 8, 7);
    bad = 0;

    for (i = 0; i < 8; i++) {
        test_event(&ev, 300 + i);
        (void) llmopt_pending_insert(t, &ev, 0, 5000, 0, &evicted);
    }

    n = llmopt_pending_expire(t, 5000, out, 8);

    for (i = 0; i < n; i++) {
        if (test_event_id(&out[i]) != 300 + i) {
            bad++;
        }
    }

    is_int(n, 8, "8 equal deadlines expire together");
    is_int(bad, 0, "in insertion order");

    free(t);
}


static void
test_evict(void)
{
    unsigned           i;
    unsigned char      id[LLMOPT_REQUEST_ID_LEN];
    llmopt_event_t     ev, evicted;
    llmopt_pending_t  *t;

    static const unsigned  waits[4] = { 40, 10, 30, 20 };

    t = test_alloc(llmopt_pending_size(4));
    (void) llmopt_pending_init(t, 4, 0);

    for (i = 0; i < 4; i++) {
        test_event(&ev, 10 + i);
        (void) llmopt_pending_insert(t, &ev, 0, 0, waits[i], &evicted);
        is_int(evicted.kind, LLMOPT_EVENT_NONE, "fill %u: no eviction", i);
    }

    test_event(&ev, 20);
    is_int(llmopt_pending_insert(t, &ev, 0, 5, 100, &evicted), LLMOPT_OK,
           "insert into a full table");
    is_int(evicted.kind, LLMOPT_EVENT_OUTCOME, "an event was evicted");
    is_int(test_event_id(&evicted), 11, "the one due first (11)");
    is_int(t->evicted, 1, "eviction counted");
    is_int(llmopt_pending_count(t), 4, "still 4 pending");

    test_id(id, 11);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_UNKNOWN,
           "an evicted id is forgotten");
    test_id(id, 20);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_FOUND,
           "the new one is there");
    is_int(test_event_id(&ev), 20, "intact");

    free(t);
}


static void
test_forget(void)
{
    unsigned           i;
    unsigned char      id[LLMOPT_REQUEST_ID_LEN];
    llmopt_event_t     ev, evicted;
    llmopt_pending_t  *t;

    t = test_alloc(llmopt_pending_size(4));
    (void) llmopt_pending_init(t, 4, 5);

    for (i = 0; i < 4; i++) {
        test_event(&ev, 30 + i);
        (void) llmopt_pending_insert(t, &ev, 0, 0, 100, &evicted);
    }

    test_id(id, 31);
    (void) llmopt_pending_take(t, id, 0, &ev);
    test_id(id, 33);
    (void) llmopt_pending_take(t, id, 0, &ev);

    test_event(&ev, 40);
    (void) llmopt_pending_insert(t, &ev, 0, 0, 100, &evicted);
    is_int(evicted.kind, LLMOPT_EVENT_NONE,
           "a finished slot is reused before evicting");

    test_id(id, 31);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_UNKNOWN,
           "the oldest finished id is forgotten first");
    test_id(id, 33);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_DUPLICATE,
           "the newer finished id is still remembered");

    test_id(id, 30);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_FOUND,
           "pending ids survive reuse (30)");
    test_id(id, 32);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_FOUND,
           "pending ids survive reuse (32)");
    test_id(id, 40);
    is_int(llmopt_pending_take(t, id, 0, &ev), LLMOPT_PENDING_FOUND,
           "and the new one (40)");

    free(t);
}


/* an id kept for a tenant answers no other, in any state */

static void
test_tenant(void)
{
    unsigned char      id[LLMOPT_REQUEST_ID_LEN];
    llmopt_event_t     ev, got, evicted, out[4];
    llmopt_pending_t  *t;

    t = test_alloc(llmopt_pending_size(8));
    (void) llmopt_pending_init(t, 8, 6);

    test_event(&ev, 50);
    (void) llmopt_pending_insert(t, &ev, 0xa1, 0, 100, &evicted);
    test_event(&ev, 51);
    (void) llmopt_pending_insert(t, &ev, 0, 0, 100, &evicted);
    test_event(&ev, 52);
    (void) llmopt_pending_insert(t, &ev, 0xa1, 0, 10, &evicted);

    test_id(id, 50);
    memset(&got, 0x11, sizeof(got));
    is_int(llmopt_pending_take(t, id, 0xb2, &got), LLMOPT_PENDING_FOREIGN,
           "tenant: another tenant's feedback is foreign");
    is_int(got.kind, 0x11, "tenant: and gets no event");
    is_int(llmopt_pending_take(t, id, 0, &got), LLMOPT_PENDING_FOREIGN,
           "tenant: so is feedback of no tenant key");
    is_int(llmopt_pending_count(t), 3, "tenant: the event is still pending");
    is_int(llmopt_pending_take(t, id, 0xa1, &got), LLMOPT_PENDING_FOUND,
           "tenant: its own tenant's feedback is taken");
    is_int(test_event_id(&got), 50, "tenant: its event");
    is_int(llmopt_pending_take(t, id, 0xb2, &got), LLMOPT_PENDING_FOREIGN,
           "tenant: taken, still foreign to another tenant");
    is_int(llmopt_pending_take(t, id, 0xa1, &got), LLMOPT_PENDING_DUPLICATE,
           "tenant: taken, a duplicate to its own");

    test_id(id, 51);
    is_int(llmopt_pending_take(t, id, 0xb2, &got), LLMOPT_PENDING_FOUND,
           "tenant: an id kept for any tenant takes anyone's");

    is_int(llmopt_pending_expire(t, 50, out, 4), 1, "tenant: 52 expires");
    test_id(id, 52);
    is_int(llmopt_pending_take(t, id, 0xb2, &got), LLMOPT_PENDING_FOREIGN,
           "tenant: expired, still foreign to another tenant");
    is_int(llmopt_pending_take(t, id, 0xa1, &got), LLMOPT_PENDING_EXPIRED,
           "tenant: expired, late for its own");

    is_int(t->foreign, 4, "tenant: counter: foreign");
    is_int(t->taken, 2, "tenant: counter: taken");

    free(t);
}


/* index of the pending record due first (deadline <= now), or -1 */

static int
test_model_min(test_model_t *m, uint64_t now)
{
    int            best;
    unsigned       i;
    test_record_t  *r, *b;

    best = -1;

    for (i = 0; i < m->n_pending; i++) {
        r = &m->pending[i];

        if (r->deadline > now) {
            continue;
        }

        b = (best >= 0) ? &m->pending[best] : NULL;

        if (b == NULL || r->deadline < b->deadline
            || (r->deadline == b->deadline && r->serial < b->serial))
        {
            best = (int) i;
        }
    }

    return best;
}


static void
test_model(unsigned capacity, uint64_t seed)
{
    int                 k, rc, want;
    unsigned            op, i, n, id, bad, ops[3];
    uint64_t            now, wait;
    unsigned char       raw[LLMOPT_REQUEST_ID_LEN];
    llmopt_event_t      ev, evicted, out[4];
    test_model_t        m;
    llmopt_pending_t   *t;

    t = test_alloc(llmopt_pending_size(capacity));
    (void) llmopt_pending_init(t, capacity, seed);

    memset(&m, 0, sizeof(m));
    m.capacity = capacity;
    m.pending = calloc(capacity, sizeof(test_record_t));
    m.grave = calloc(capacity, sizeof(test_record_t));

    srand((unsigned) seed + 17);
    now = 1000;
    bad = 0;
    ops[0] = ops[1] = ops[2] = 0;

    for (op = 0; op < TEST_MODEL_OPS && bad == 0; op++) {
        now += (uint64_t) (rand() % 3);
        id = (unsigned) rand() % (3 * capacity + 50);

        switch (rand() % 3) {

        case 0:
            ops[0]++;
            /* phases of long waits fill the table up to evictions */
            wait = (uint64_t) (rand() % ((op / 10000 % 2) ? 20000 : 50));
            test_event(&ev, id);
            rc = llmopt_pending_insert(t, &ev, 0, now, wait, &evicted);

            /* the model */

            k = -1;

            for (i = 0; i < m.n_pending; i++) {
                if (m.pending[i].id == id) {
                    k = 1;
                }
            }

            for (i = 0; i < m.n_grave; i++) {
                if (m.grave[i].id == id) {
                    k = 1;
                }
            }

            if (k == 1) {
                bad += (rc != LLMOPT_DECLINED);
                break;
            }

            bad += (rc != LLMOPT_OK);

            if (m.n_pending + m.n_grave == capacity) {
                if (m.n_grave > 0) {
                    memmove(&m.grave[0], &m.grave[1],
                            (m.n_grave - 1) * sizeof(test_record_t));
                    m.n_grave--;
                    bad += (evicted.kind != LLMOPT_EVENT_NONE);

                } else {
                    k = test_model_min(&m, UINT64_MAX);
                    bad += (test_event_id(&evicted) != m.pending[k].id);
                    m.pending[k] = m.pending[--m.n_pending];
                }

            } else {
                bad += (evicted.kind != LLMOPT_EVENT_NONE);
            }

            m.pending[m.n_pending].id = id;
            m.pending[m.n_pending].state = 1;
            m.pending[m.n_pending].deadline = now + wait;
            m.pending[m.n_pending].serial = m.serial++;
            m.n_pending++;
            break;

        case 1:
            ops[1]++;
            test_id(raw, id);
            rc = (int) llmopt_pending_take(t, raw, 0, &ev);

            want = LLMOPT_PENDING_UNKNOWN;

            for (i = 0; i < m.n_grave; i++) {
                if (m.grave[i].id == id) {
                    want = (m.grave[i].state == 2) ? LLMOPT_PENDING_DUPLICATE
                                                   : LLMOPT_PENDING_EXPIRED;
                }
            }

            for (i = 0; i < m.n_pending; i++) {
                if (m.pending[i].id == id) {
                    want = LLMOPT_PENDING_FOUND;
                    bad += (test_event_id(&ev) != id);
                    m.grave[m.n_grave] = m.pending[i];
                    m.grave[m.n_grave++].state = 2;
                    m.pending[i] = m.pending[--m.n_pending];
                    break;
                }
            }

            bad += (rc != want);
            break;

        default:
            ops[2]++;
            n = llmopt_pending_expire(t, now, out, 1 + rand() % 4);

            for (i = 0; i < n; i++) {
                k = test_model_min(&m, now);

                if (k < 0 || test_event_id(&out[i]) != m.pending[k].id) {
                    bad++;
                    break;
                }

                m.grave[m.n_grave] = m.pending[k];
                m.grave[m.n_grave++].state = 3;
                m.pending[k] = m.pending[--m.n_pending];
            }

            break;
        }

        if (llmopt_pending_count(t) != m.n_pending) {
            bad++;
        }
    }

    printf("# capacity %u: %u inserts, %u takes, %u expiries; evicted %llu,"
           " unknown %llu, late %llu, repeated %llu\n",
           capacity, ops[0], ops[1], ops[2],
           (unsigned long long) t->evicted, (unsigned long long) t->unknown,
           (unsigned long long) t->late, (unsigned long long) t->repeated);

    is_int(bad, 0, "capacity %u: %u random operations agree with the model",
           capacity, op);
    ok(t->evicted > 0 && t->late > 0 && t->repeated > 0 && t->unknown > 0,
       "capacity %u: every outcome happened", capacity);

    n = llmopt_pending_expire(t, UINT64_MAX, out, 4);

    while (n == 4) {
        n = llmopt_pending_expire(t, UINT64_MAX, out, 4);
    }

    is_int(llmopt_pending_count(t), 0, "capacity %u: flushed", capacity);

    free(m.pending);
    free(m.grave);
    free(t);
}
