/*
 * Copyright (C) llmopt authors
 *
 * The event ring: single-process semantics, then producers in forked
 * processes over shared anonymous memory.
 */


#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "llmopt_ring.h"


#define TEST_PRODUCERS   3
#define TEST_PER_PRODUCER  70000
#define TEST_STRESS_CAPACITY  1024
#define TEST_DEADLINE_S  60


typedef struct {
    uint64_t          accepted[TEST_PRODUCERS];
    uint64_t          declined[TEST_PRODUCERS];
    unsigned char     sent[TEST_PRODUCERS][TEST_PER_PRODUCER];
} test_shared_t;


static void *test_alloc(size_t size);
static void test_event(llmopt_event_t *ev, unsigned producer, unsigned n);
static int test_event_valid(const llmopt_event_t *ev, unsigned *producer,
    unsigned *n);
static void test_basic(void);
static void test_full(void);
static void test_wrap(void);
static void test_skip(void);
static void test_short(void);
static void test_stress(unsigned retry);
static void test_producer(llmopt_ring_t *r, test_shared_t *sh,
    unsigned producer, unsigned retry);


int
main(void)
{
    test_basic();
    test_full();
    test_wrap();
    test_skip();
    test_short();
    test_stress(0);
    test_stress(1);

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

    return p;
}


/* every field of the event derives from (producer, n) */

static void
test_event(llmopt_event_t *ev, unsigned producer, unsigned n)
{
    unsigned  i, v;

    v = producer * 1000000 + n;

    memset(ev, 0, sizeof(llmopt_event_t));

    ev->kind = LLMOPT_EVENT_OUTCOME;
    ev->policy = (uint16_t) producer;
    ev->arm = (uint16_t) (n & 0xffff);
    ev->d = LLMOPT_FEATURE_MAX_DIM;
    ev->status = 200;
    ev->tokens_in = v;
    ev->tokens_out = ~v;
    ev->tokens_cached = v ^ 0x5a5a5a5a;
    memcpy(ev->id, &v, sizeof(v));
    memcpy(ev->id + 8, &v, sizeof(v));
    ev->time_ms = (uint64_t) v * 3;
    ev->done_ms = (uint64_t) v * 5;
    ev->cost = v * 0.5;
    ev->quality = (float) (n % 100) / 100;

    for (i = 0; i < LLMOPT_FEATURE_MAX_DIM; i++) {
        ev->x[i] = (float) (v + i);
    }
}


static int
test_event_valid(const llmopt_event_t *ev, unsigned *producer, unsigned *n)
{
    llmopt_event_t  want;
    unsigned        v;

    memcpy(&v, ev->id, sizeof(v));

    *producer = v / 1000000;
    *n = v % 1000000;

    if (*producer >= TEST_PRODUCERS || *n >= TEST_PER_PRODUCER) {
        return 0;
    }

    test_event(&want, *producer, *n);

    return memcmp(&want, ev, sizeof(llmopt_event_t)) == 0;
}


static void
test_basic(void)
{
    char            *mem;
    size_t           size;
    unsigned         i, p, n;
    llmopt_ring_t   *r;
    llmopt_event_t   ev, got;

    is_int(llmopt_ring_size(0), 0, "size: capacity 0 refused");
    is_int(llmopt_ring_size(1), 0, "size: capacity 1 refused");
    is_int(llmopt_ring_size(3), 0, "size: capacity 3 refused");
    is_int(llmopt_ring_size(LLMOPT_RING_MAX * 2u), 0,
           "size: capacity above max refused");

    size = llmopt_ring_size(8);
    ok(size > sizeof(llmopt_ring_t) + 8 * sizeof(llmopt_event_t),
       "size: header and 8 slots");
    ok(sizeof(llmopt_event_t) <= 512, "event is at most 512 bytes (%u)",
       (unsigned) sizeof(llmopt_event_t));

    mem = test_alloc(size + 64);
    memset(mem, 0xa5, size + 64);

    is_int(llmopt_ring_init(NULL, 8), LLMOPT_ERROR, "init: NULL refused");
    is_int(llmopt_ring_init(mem + 4, 8), LLMOPT_ERROR,
           "init: misaligned memory refused");
    is_int(llmopt_ring_init(mem, 6), LLMOPT_ERROR, "init: capacity 6 refused");
    is_int(llmopt_ring_check(mem, 8), LLMOPT_DECLINED,
           "check: garbage is not a ring");

    is_int(llmopt_ring_init(mem, 8), LLMOPT_OK, "init: capacity 8");
    is_int(llmopt_ring_check(mem, 8), LLMOPT_OK, "check: ring recognised");
    is_int(llmopt_ring_check(mem, 16), LLMOPT_DECLINED,
           "check: other capacity is another layout");

    r = (llmopt_ring_t *) mem;

    is_int(llmopt_ring_depth(r), 0, "empty ring has depth 0");
    is_int(llmopt_ring_pop(r, &got), LLMOPT_DECLINED, "pop on empty ring");

    for (i = 0; i < 5; i++) {
        test_event(&ev, 1, i);
        is_int(llmopt_ring_push(r, &ev), LLMOPT_OK, "push %u", i);
    }

    is_int(llmopt_ring_depth(r), 5, "depth 5 after 5 pushes");

    for (i = 0; i < 5; i++) {
        memset(&got, 0, sizeof(got));
        is_int(llmopt_ring_pop(r, &got), LLMOPT_OK, "pop %u", i);
        ok(test_event_valid(&got, &p, &n) && p == 1 && n == i,
           "pop %u returns event %u intact", i, i);
    }

    is_int(llmopt_ring_pop(r, &got), LLMOPT_DECLINED, "drained");
    is_int(llmopt_ring_depth(r), 0, "depth 0 when drained");
    is_int(llmopt_ring_popped(r), 5, "5 popped counted");
    is_int(llmopt_ring_drops(r), 0, "no drops");

    /* a reload keeps the ring: check() passes and the contents stay */

    test_event(&ev, 2, 7);
    is_int(llmopt_ring_push(r, &ev), LLMOPT_OK, "push before reuse");
    is_int(llmopt_ring_check(mem, 8), LLMOPT_OK, "check on a ring in use");
    is_int(llmopt_ring_pop(r, &got), LLMOPT_OK, "pop after reuse check");
    ok(test_event_valid(&got, &p, &n) && p == 2 && n == 7,
       "event survives the check");

    free(mem);
}


static void
test_full(void)
{
    void            *mem;
    unsigned         i, p, n;
    llmopt_ring_t   *r;
    llmopt_event_t   ev, got;

    mem = test_alloc(llmopt_ring_size(4));
    (void) llmopt_ring_init(mem, 4);
    r = mem;

    for (i = 0; i < 4; i++) {
        test_event(&ev, 0, i);
        (void) llmopt_ring_push(r, &ev);
    }

    is_int(llmopt_ring_depth(r), 4, "full ring: depth is capacity");

    test_event(&ev, 0, 99);
    is_int(llmopt_ring_push(r, &ev), LLMOPT_DECLINED, "full ring refuses");
    is_int(llmopt_ring_push(r, &ev), LLMOPT_DECLINED, "and refuses again");
    is_int(llmopt_ring_drops(r), 2, "two drops counted");
    is_int(llmopt_ring_depth(r), 4, "refused pushes do not change depth");

    is_int(llmopt_ring_pop(r, &got), LLMOPT_OK, "pop one from full ring");
    ok(test_event_valid(&got, &p, &n) && n == 0, "oldest first");

    test_event(&ev, 0, 4);
    is_int(llmopt_ring_push(r, &ev), LLMOPT_OK, "room again after a pop");

    for (i = 1; i <= 4; i++) {
        is_int(llmopt_ring_pop(r, &got), LLMOPT_OK, "pop %u", i);
        ok(test_event_valid(&got, &p, &n) && n == i, "in order: %u", i);
    }

    is_int(llmopt_ring_pop(r, &got), LLMOPT_DECLINED, "refused event absent");
    is_int(llmopt_ring_drops(r), 2, "drops unchanged by pops");

    free(mem);
}


static void
test_wrap(void)
{
    void            *mem;
    unsigned         lap, i, p, n, next, bad, sent;
    llmopt_ring_t   *r;
    llmopt_event_t   ev, got;

    mem = test_alloc(llmopt_ring_size(4));
    (void) llmopt_ring_init(mem, 4);
    r = mem;

    bad = 0;
    next = 0;
    sent = 0;

    /* rounds of 1 to 4 pushes, then pops: every fill level, many laps */

    for (lap = 0; lap < 4000; lap++) {
        for (i = 0; i <= lap % 4; i++) {
            test_event(&ev, 0, sent % TEST_PER_PRODUCER);

            if (llmopt_ring_push(r, &ev) != LLMOPT_OK) {
                bad++;
            }

            sent++;
        }

        for (i = 0; i <= lap % 4; i++) {
            if (llmopt_ring_pop(r, &got) != LLMOPT_OK
                || !test_event_valid(&got, &p, &n)
                || n != next % TEST_PER_PRODUCER)
            {
                bad++;
            }

            next++;
        }
    }

    is_int(bad, 0, "wraparound: 10000 events through 4 slots, in order");
    ok(r->head > 4 * 1000, "positions went round more than 1000 laps");

    while (llmopt_ring_pop(r, &got) == LLMOPT_OK) {
        bad++;
    }

    is_int(bad, 0, "wraparound: nothing left over");
    is_int(next, sent, "every pushed event popped once");
    is_int(sent, 10000, "10000 events sent");
    is_int(llmopt_ring_drops(r), 0, "no drops below capacity");

    free(mem);
}


/*
 * An event with d features copies x[0 .. d-1] only: a slot that held a
 * full event before gives back zeros past d, never the old features.
 */

static void
test_short(void)
{
    void            *mem;
    uint64_t         head, tail;
    unsigned         i, lap, bad, stale;
    llmopt_ring_t   *r;
    llmopt_event_t   ev, got, want;

    mem = test_alloc(llmopt_ring_size(4));
    (void) llmopt_ring_init(mem, 4);
    r = mem;

    bad = 0;
    stale = 0;

    for (lap = 0; lap < 8; lap++) {
        /* a lap of full events, then a lap of 3 features */

        test_event(&ev, 0, lap);

        if (lap % 2) {
            ev.d = 3;
            for (i = 3; i < LLMOPT_FEATURE_MAX_DIM; i++) {
                ev.x[i] = 0;
            }
        }

        want = ev;

        for (i = 0; i < 4; i++) {
            if (llmopt_ring_push(r, &ev) != LLMOPT_OK) {
                bad++;
            }
        }

        for (i = 0; i < 4; i++) {
            memset(&got, 0xff, sizeof(llmopt_event_t));

            if (llmopt_ring_pop(r, &got) != LLMOPT_OK) {
                bad++;
                continue;
            }

            if (memcmp(&got, &want, sizeof(llmopt_event_t)) != 0) {
                stale++;
            }
        }
    }

    is_int(bad, 0, "short events: every push and pop done");
    is_int(stale, 0, "short events: the features past d come back as 0, "
                     "the rest as pushed");

    /* a prefetch changes nothing, whatever d */

    head = r->head;
    tail = r->tail;
    llmopt_ring_prefetch(r, 3);
    llmopt_ring_prefetch(r, 200);
    ok(r->head == head && r->tail == tail && llmopt_ring_depth(r) == 0,
       "a prefetch changes nothing");

    ev.d = 200;
    ok(llmopt_ring_push(r, &ev) == LLMOPT_OK
       && llmopt_ring_pop(r, &got) == LLMOPT_OK && got.d == 200
       && memcmp(got.x, ev.x, sizeof(ev.x)) == 0,
       "a d past the maximum copies every feature and no more");

    free(mem);
}


static void
test_skip(void)
{
    void            *mem;
    unsigned         i, p, n;
    llmopt_ring_t   *r;
    llmopt_event_t   ev, got;

    mem = test_alloc(llmopt_ring_size(4));
    (void) llmopt_ring_init(mem, 4);
    r = mem;

    is_int(llmopt_ring_skip(r), LLMOPT_DECLINED, "skip on empty ring");

    /* a producer claims slot 0 and dies before publishing */

    r->head++;

    is_int(llmopt_ring_depth(r), 1, "claimed slot counts in depth");
    is_int(llmopt_ring_pop(r, &got), LLMOPT_AGAIN,
           "pop: claimed, unpublished slot");

    test_event(&ev, 2, 1);
    is_int(llmopt_ring_push(r, &ev), LLMOPT_OK, "push behind the dead slot");
    is_int(llmopt_ring_pop(r, &got), LLMOPT_AGAIN,
           "the dead slot still blocks");

    is_int(llmopt_ring_skip(r), LLMOPT_OK, "skip the dead slot");
    is_int(llmopt_ring_skipped(r), 1, "skip counted");
    is_int(llmopt_ring_tail(r), 1, "tail moved past the dead slot");

    is_int(llmopt_ring_skip(r), LLMOPT_AGAIN,
           "skip refuses a published slot");

    is_int(llmopt_ring_pop(r, &got), LLMOPT_OK, "event behind it pops");
    ok(test_event_valid(&got, &p, &n) && p == 2 && n == 1,
       "and is intact");

    /* the freed slot is reusable on the next lap */

    for (n = 0; n < 4; n++) {
        test_event(&ev, 2, 10 + n);
        is_int(llmopt_ring_push(r, &ev), LLMOPT_OK, "refill %u", n);
    }

    for (n = 0; n < 4; n++) {
        ok(llmopt_ring_pop(r, &got) == LLMOPT_OK
           && test_event_valid(&got, &p, &i) && i == 10 + n,
           "refilled event %u pops", n);
    }

    is_int(llmopt_ring_pop(r, &got), LLMOPT_DECLINED, "empty again");
    is_int(llmopt_ring_drops(r), 0, "no drops in the skip test");

    free(mem);
}


static void
test_producer(llmopt_ring_t *r, test_shared_t *sh, unsigned producer,
    unsigned retry)
{
    unsigned        n, tries;
    llmopt_event_t  ev;

    for (n = 0; n < TEST_PER_PRODUCER; n++) {
        test_event(&ev, producer, n);

        if (n % 128 == 0) {
            sched_yield();          /* interleave with the consumer */
        }

        for (tries = 0; tries < 1000000; tries++) {
            if (llmopt_ring_push(r, &ev) == LLMOPT_OK) {
                sh->sent[producer][n] = 1;
                sh->accepted[producer]++;
                break;
            }

            sh->declined[producer]++;

            if (!retry) {
                break;
            }

            sched_yield();
        }
    }
}


/*
 * Producers in TEST_PRODUCERS processes push TEST_PER_PRODUCER events
 * each; with retry they push a refused event again until it goes in, so
 * every event must arrive.
 */

static void
test_stress(unsigned retry)
{
    int              status, rc;
    char            *mem;
    pid_t            pids[TEST_PRODUCERS];
    size_t           size;
    time_t           deadline;
    uint64_t         popped, accepted, declined, again;
    unsigned         i, p, n, running, torn, twice, order, missing, extra;
    unsigned         last[TEST_PRODUCERS];
    unsigned char   *seen;
    llmopt_ring_t   *r;
    llmopt_event_t   ev;
    test_shared_t   *sh;

    size = llmopt_ring_size(TEST_STRESS_CAPACITY) + sizeof(test_shared_t);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (mem == MAP_FAILED) {
        ok(0, "mmap shared memory: %s", strerror(errno));
        return;
    }

    r = (llmopt_ring_t *) mem;
    sh = (test_shared_t *) (mem + llmopt_ring_size(TEST_STRESS_CAPACITY));

    is_int(llmopt_ring_init(mem, TEST_STRESS_CAPACITY), LLMOPT_OK,
           "stress: init ring in shared memory");

    seen = calloc(TEST_PRODUCERS, TEST_PER_PRODUCER);

    for (i = 0; i < TEST_PRODUCERS; i++) {
        last[i] = 0;
        pids[i] = fork();

        if (pids[i] == 0) {
            test_producer(r, sh, i, retry);
            _exit(0);
        }
    }

    running = TEST_PRODUCERS;
    deadline = time(NULL) + TEST_DEADLINE_S;
    popped = 0;
    again = 0;
    torn = 0;
    twice = 0;
    order = 0;

    for ( ;; ) {
        rc = llmopt_ring_pop(r, &ev);

        if (rc == LLMOPT_OK) {
            popped++;

            if (!test_event_valid(&ev, &p, &n)) {
                torn++;
                continue;
            }

            if (seen[p * TEST_PER_PRODUCER + n]++ != 0) {
                twice++;
            }

            if (n < last[p]) {
                order++;
            }

            last[p] = n;

            /* a slower consumer now and then, so that the ring fills */

            if (popped % 20000 == 0) {
                usleep(2000);
            }

            continue;
        }

        if (rc == LLMOPT_AGAIN) {
            again++;
            continue;
        }

        if (rc != LLMOPT_DECLINED) {
            ok(0, "stress: pop failed: %d", rc);
            break;
        }

        if (running == 0) {
            break;
        }

        while (running > 0 && waitpid(-1, &status, WNOHANG) > 0) {
            running--;
        }

        if (time(NULL) > deadline) {
            for (i = 0; i < TEST_PRODUCERS; i++) {
                kill(pids[i], SIGKILL);
            }

            ok(0, "stress: deadline passed");
            break;
        }
    }

    /* drain what the last producers pushed after the last empty pop */

    while (llmopt_ring_pop(r, &ev) == LLMOPT_OK) {
        popped++;

        if (!test_event_valid(&ev, &p, &n)) {
            torn++;

        } else if (seen[p * TEST_PER_PRODUCER + n]++ != 0) {
            twice++;
        }
    }

    accepted = 0;
    declined = 0;
    missing = 0;
    extra = 0;

    for (p = 0; p < TEST_PRODUCERS; p++) {
        accepted += sh->accepted[p];
        declined += sh->declined[p];

        for (n = 0; n < TEST_PER_PRODUCER; n++) {
            if (sh->sent[p][n] && !seen[p * TEST_PER_PRODUCER + n]) {
                missing++;
            }

            if (!sh->sent[p][n] && seen[p * TEST_PER_PRODUCER + n]) {
                extra++;
            }
        }
    }

    printf("# stress%s: %u producers x %u events, capacity %u: popped %llu,"
           " dropped %llu, pop again %llu\n",
           retry ? " with retry" : "", TEST_PRODUCERS, TEST_PER_PRODUCER,
           TEST_STRESS_CAPACITY,
           (unsigned long long) popped, (unsigned long long) declined,
           (unsigned long long) again);

    if (retry) {
        is_int(accepted, TEST_PRODUCERS * TEST_PER_PRODUCER,
               "stress with retry: every event accepted in the end");

    } else {
        is_int(accepted + declined, TEST_PRODUCERS * TEST_PER_PRODUCER,
               "stress: every push accepted or refused");
    }

    is_int(popped, accepted, "stress: every accepted event popped");
    is_int(llmopt_ring_drops(r), declined,
           "stress: every refusal counted as a drop");
    is_int(torn, 0, "stress: no torn event");
    is_int(twice, 0, "stress: no event popped twice");
    is_int(missing, 0, "stress: no accepted event missing");
    is_int(extra, 0, "stress: no refused event popped");
    is_int(order, 0, "stress: each producer's events in its order");
    is_int(llmopt_ring_depth(r), 0, "stress: ring empty at the end");
    is_int(llmopt_ring_popped(r), popped, "stress: popped counter");

    free(seen);
    (void) munmap(mem, size);
}
