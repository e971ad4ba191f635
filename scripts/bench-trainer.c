/*
 * Copyright (C) llmopt authors
 *
 * bench-trainer: the trainer's learning path, measured two ways.  Links
 * src/ only.
 *
 *   build/bench-trainer [--seconds N] [--rate N] [--producers N]
 *                       [--events N] [--interval MS]
 *
 * 1. Throughput on one core: llmopt_trainer_learn() (reward + bandit
 *    update of the private copy) for linucb, lin_ts and thompson, 8 arms,
 *    d = 16, over 2,000,000 events; the ratio to the 1,000,000 updates/s
 *    target.  And for sparse (its table's update besides, events carrying
 *    the most text features, 32), against 200,000 updates/s.
 * 2. Sustained load, as in nginx: a ring of outcome events in shared
 *    memory (MAP_SHARED, the zone's layout), N producer processes (the
 *    workers) that each decide under the seqlock and push paced events,
 *    and one trainer process that ticks every interval: drains the ring
 *    within a 20 ms budget and publishes under the seqlock.  Prints pushes,
 *    drops (the target is 0), the deepest the ring got, the longest tick,
 *    the trainer's CPU share, and how often readers had to retry.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_bandit.h"
#include "llmopt_ring.h"
#include "llmopt_rng.h"
#include "llmopt_seqlock.h"
#include "llmopt_trainer.h"
#include "llmopt_sparse.h"
#include "llmopt_usage.h"


#define BENCH_ARMS      8
#define BENCH_D         16
#define BENCH_EVENTS    2000000
#define BENCH_POOL      4096
#define BENCH_BUDGET_MS 20


typedef struct {
    llmopt_seqlock_t    lock;
    uint64_t            stop;
    uint64_t            pushed;
    uint64_t            refused;
    uint64_t            reads;
    uint64_t            retries;
    uint64_t            fallbacks;
    uint64_t            ticks;
    uint64_t            learned;
    uint64_t            max_depth;
    uint64_t            max_tick_us;
    double              trainer_cpu;
} bench_shared_t;



/* "targets:" lines, the same form in every benchmark script */
static char  bench_target_lines[3][160];
static unsigned  bench_sparse;   /* bench_policy makes a sparse policy; 2:
                                     with its own part (llmopt_redis) */

static void bench_policy(llmopt_policy_t *p, llmopt_algorithm_e alg);
static void bench_events(llmopt_event_t *ev, unsigned n, llmopt_rng_t *rng);
static double bench_throughput(llmopt_algorithm_e alg, llmopt_event_t *pool);
static int bench_sustained(unsigned seconds, unsigned rate,
    unsigned producers, unsigned events, unsigned interval_ms,
    llmopt_event_t *pool);
static void bench_producer(bench_shared_t *sh, llmopt_ring_t *ring,
    void *block, const llmopt_policy_t *p, llmopt_event_t *pool,
    unsigned rate, unsigned id);
static void bench_trainer(bench_shared_t *sh, llmopt_ring_t *ring,
    void *block, const llmopt_policy_t *p, unsigned interval_ms);
static double bench_now(void);
static void bench_sleep_until(double t);


int
main(int argc, char **argv)
{
    int              i;
    double           ups;
    unsigned         seconds, rate, producers, events, interval;
    llmopt_rng_t     rng;
    llmopt_event_t  *pool;

    seconds = 30;
    rate = 20000;
    producers = 4;
    events = 8192;          /* the ring of a 16m zone */
    interval = 100;

    for (i = 1; i + 1 < argc; i += 2) {
        unsigned  v = (unsigned) strtoul(argv[i + 1], NULL, 10);

        if (strcmp(argv[i], "--seconds") == 0) {
            seconds = v;
        } else if (strcmp(argv[i], "--rate") == 0) {
            rate = v;
        } else if (strcmp(argv[i], "--producers") == 0) {
            producers = v;
        } else if (strcmp(argv[i], "--events") == 0) {
            events = v;
        } else if (strcmp(argv[i], "--interval") == 0) {
            interval = v;
        } else {
            break;
        }
    }

    if (i < argc || seconds == 0 || rate == 0 || producers == 0
        || producers > 64 || interval == 0
        || llmopt_ring_size(events) == 0)
    {
        fprintf(stderr, "usage: bench-trainer [--seconds N] [--rate N] "
                "[--producers N] [--events N (a power of 2)] "
                "[--interval MS]\n");
        return 2;
    }

    pool = malloc(BENCH_POOL * sizeof(llmopt_event_t));
    if (pool == NULL) {
        return 2;
    }

    llmopt_rng_seed(&rng, 12345);
    bench_events(pool, BENCH_POOL, &rng);

    printf("bench-trainer: llmopt_trainer_learn (reward + update of the "
           "trainer's copy), %d arms, d = %d, one core\n",
           BENCH_ARMS, BENCH_D);

    ups = bench_throughput(LLMOPT_ALG_LINUCB, pool);
    printf("  linucb    %10.0f updates/s   ratio to 1,000,000/s target %.2f"
           "\n", ups, ups / 1e6);
    snprintf(bench_target_lines[0], sizeof(bench_target_lines[0]),
             "  %-40s %12.0f %-4s %2s %10.0f   %s", "linucb updates/s, d = 16",
             ups, "/s", ">=", 1e6, ups >= 1e6 ? "met" : "MISSED");

    if (ups < 1e6) {
        /* reported, and the exit status says the target was missed */
        i = 1;
    } else {
        i = 0;
    }

    ups = bench_throughput(LLMOPT_ALG_LIN_TS, pool);
    printf("  lin_ts    %10.0f updates/s   ratio %.2f\n", ups, ups / 1e6);

    ups = bench_throughput(LLMOPT_ALG_THOMPSON, pool);
    printf("  thompson  %10.0f updates/s   ratio %.2f\n", ups, ups / 1e6);

    bench_sparse = 1;
    ups = bench_throughput(LLMOPT_ALG_EPSILON_GREEDY, pool);
    bench_sparse = 0;
    printf("  sparse    %10.0f updates/s   ratio to 200,000/s target %.2f"
           "\n", ups, ups / 2e5);
    snprintf(bench_target_lines[2], sizeof(bench_target_lines[2]),
             "  %-40s %12.0f %-4s %2s %10.0f   %s", "sparse updates/s, d = 16",
             ups, "/s", ">=", 2e5, ups >= 2e5 ? "met" : "MISSED");

    if (ups < 2e5) {
        i = 1;
    }

    bench_sparse = 2;
    ups = bench_throughput(LLMOPT_ALG_EPSILON_GREEDY, pool);
    bench_sparse = 0;
    printf("  sparse, its own part too (llmopt_redis) %10.0f updates/s\n",
           ups);

    if (bench_sustained(seconds, rate, producers, events, interval, pool)
        != 0)
    {
        i = 1;
    }

    printf("targets:\n%s\n%s\n%s\n", bench_target_lines[0],
           bench_target_lines[2], bench_target_lines[1]);

    return i;
}


/* A linucb (or other) policy of 8 arms on 16 features, quality-heavy. */

static void
bench_policy(llmopt_policy_t *p, llmopt_algorithm_e alg)
{
    memset(p, 0, sizeof(llmopt_policy_t));

    llmopt_bandit_conf_defaults(&p->bandit);
    p->bandit.algorithm = alg;
    p->bandit.n_arms = BENCH_ARMS;
    p->bandit.d = (alg == LLMOPT_ALG_THOMPSON) ? 0 : BENCH_D;
    p->bandit.alpha = 0.5;
    p->bandit.seed = 1;

    p->n_arms = BENCH_ARMS;
    p->features.d = p->bandit.d;

    if (bench_sparse) {
        p->sparse_on = 1;
        llmopt_sparse_conf_defaults(&p->sparse);
        p->sparse.n_arms = BENCH_ARMS;
        p->sparse.d = BENCH_D;
    }
    p->reward.quality = 0.6;
    p->reward.cost = 0.3;
    p->reward.latency = 0.1;
    p->reward.cost_ref = 0.01;
    p->reward.latency_ref = 2000;
}


/* Outcome events as workers make them: a bias, sparse features in [0, 1]. */

static void
bench_events(llmopt_event_t *ev, unsigned n, llmopt_rng_t *rng)
{
    unsigned  i, k;

    for (i = 0; i < n; i++) {
        memset(&ev[i], 0, sizeof(llmopt_event_t));

        ev[i].kind = LLMOPT_EVENT_OUTCOME;
        ev[i].arm = (uint16_t) llmopt_rng_below(rng, BENCH_ARMS);
        ev[i].d = BENCH_D;
        ev[i].status = llmopt_rng_uniform(rng) < 0.02 ? 503 : 200;
        ev[i].finish = LLMOPT_FINISH_STOP;
        ev[i].tokens_in = 200 + (uint32_t) llmopt_rng_below(rng, 3000);
        ev[i].tokens_out = 20 + (uint32_t) llmopt_rng_below(rng, 800);
        ev[i].cost = 1e-6 * ev[i].tokens_in + 4e-6 * ev[i].tokens_out;
        ev[i].latency_ms = 200 + 3000 * (float) llmopt_rng_uniform(rng);
        ev[i].ttft_ms = ev[i].latency_ms / 4;
        ev[i].quality = llmopt_rng_uniform(rng) < 0.3
                        ? (float) llmopt_rng_uniform(rng) : -1;
        ev[i].propensity = 0.5f;
        ev[i].x[0] = 1;

        for (k = 1; k < BENCH_D; k++) {
            ev[i].x[k] = llmopt_rng_uniform(rng) < 0.4
                         ? (float) llmopt_rng_uniform(rng) : 0;
        }

        /* a long prompt's carry: a sample of 32 of 200 text features */

        ev[i].sparse.n = LLMOPT_SPARSE_CARRY;
        ev[i].sparse.n_prompt = LLMOPT_SPARSE_CARRY - 4;
        ev[i].sparse.scale = 200.0f / LLMOPT_SPARSE_CARRY;
        ev[i].sparse.value[0] = 0.05f;
        ev[i].sparse.value[1] = 0.2f;
        ev[i].sparse.dense_norm = 0.3f;
        ev[i].sparse.score = (float) llmopt_rng_uniform(rng);

        for (k = 0; k < LLMOPT_SPARSE_CARRY; k++) {
            ev[i].sparse.bucket[k] = (uint32_t) llmopt_rng_next(rng);
        }
    }
}


static double
bench_throughput(llmopt_algorithm_e alg, llmopt_event_t *pool)
{
    void                     *shared, *work;
    double                    t0, t;
    unsigned                  i;
    llmopt_policy_t           p;
    llmopt_seqlock_t          lock;
    llmopt_trainer_t          tr;
    llmopt_trainer_policy_t   tp;

    bench_policy(&p, alg);

    for (i = 0; i < BENCH_POOL; i++) {
        pool[i].d = (uint8_t) p.bandit.d;
    }

    memset(&tp, 0, sizeof(tp));
    tp.policy = &p;
    tp.lock = &lock;
    tp.size = llmopt_bandit_size(&p.bandit);
    shared = malloc(tp.size);
    work = malloc(tp.size);
    tp.shared = shared;
    tp.work = work;

    if (shared == NULL || work == NULL) {
        exit(2);
    }

    if (bench_sparse) {
        tp.sparse = malloc(llmopt_sparse_size(&p.sparse));

        if (tp.sparse == NULL) {
            exit(2);
        }

        llmopt_sparse_init(&p.sparse, tp.sparse);
    }

    if (bench_sparse == 2) {
        /* llmopt_redis: the instance's own part takes each step too */
        tp.sparse_local = malloc(llmopt_sparse_size(&p.sparse));

        if (tp.sparse_local == NULL) {
            exit(2);
        }

        llmopt_sparse_init(&p.sparse, tp.sparse_local);
    }

    llmopt_seqlock_init(&lock);
    llmopt_bandit_init(&p.bandit, shared);
    llmopt_trainer_init(&tr, NULL, 0, &tp, 1);

    t0 = bench_now();

    for (i = 0; i < BENCH_EVENTS; i++) {
        (void) llmopt_trainer_learn(&tr, &pool[i % BENCH_POOL], NULL);
    }

    t = bench_now() - t0;

    if (tr.updates != BENCH_EVENTS) {
        fprintf(stderr, "bench-trainer: %llu of %d events learned\n",
                (unsigned long long) tr.updates, BENCH_EVENTS);
        exit(1);
    }

    (void) llmopt_trainer_publish(&tr);

    free(shared);
    free(work);
    free(tp.sparse);
    free(tp.sparse_local);

    for (i = 0; i < BENCH_POOL; i++) {
        pool[i].d = BENCH_D;
    }

    return BENCH_EVENTS / (t / 1e9);
}


static int
bench_sustained(unsigned seconds, unsigned rate, unsigned producers,
    unsigned events, unsigned interval_ms, llmopt_event_t *pool)
{
    int               status, rc;
    size_t            size, ring_size, block_size;
    pid_t             pids[65];
    unsigned          i;
    llmopt_ring_t    *ring;
    bench_shared_t   *sh;
    llmopt_policy_t   p;
    unsigned char    *mem;

    bench_policy(&p, LLMOPT_ALG_LINUCB);

    ring_size = (llmopt_ring_size(events) + 63) & ~(size_t) 63;
    block_size = (llmopt_bandit_size(&p.bandit) + 63) & ~(size_t) 63;
    size = 4096 + ring_size + block_size;

    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (mem == MAP_FAILED) {
        perror("bench-trainer: mmap");
        return 2;
    }

    sh = (bench_shared_t *) mem;
    ring = (llmopt_ring_t *) (mem + 4096);

    if (llmopt_ring_init(ring, events) != LLMOPT_OK) {
        fprintf(stderr, "bench-trainer: ring of %u events\n", events);
        return 2;
    }

    llmopt_seqlock_init(&sh->lock);
    llmopt_bandit_init(&p.bandit, mem + 4096 + ring_size);

    printf("bench-trainer: %u events/s from %u producer processes for %u s "
           "into a ring of %u events; trainer ticks every %u ms "
           "(budget %d ms)\n", rate, producers, seconds, events, interval_ms,
           BENCH_BUDGET_MS);
    fflush(stdout);

    pids[producers] = fork();

    if (pids[producers] == 0) {
        bench_trainer(sh, ring, mem + 4096 + ring_size, &p, interval_ms);
        _exit(0);
    }

    for (i = 0; i < producers; i++) {
        pids[i] = fork();

        if (pids[i] == 0) {
            bench_producer(sh, ring, mem + 4096 + ring_size, &p, pool,
                           rate / producers, i);
            _exit(0);
        }
    }

    bench_sleep_until(bench_now() + seconds * 1e9);

    __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);

    rc = 0;

    for (i = 0; i < producers; i++) {
        waitpid(pids[i], &status, 0);
    }

    /* the trainer drains what is left after the producers stop */
    __atomic_store_n(&sh->stop, 2, __ATOMIC_RELEASE);
    waitpid(pids[producers], &status, 0);

    snprintf(bench_target_lines[1], sizeof(bench_target_lines[1]),
             "  %-40s %12llu %-4s %2s %10d   %s", "ring drops at the rate",
             (unsigned long long) llmopt_ring_drops(ring), "", "==", 0,
             llmopt_ring_drops(ring) ? "MISSED" : "met");

    printf("  pushed %llu (%.0f/s), dropped %llu (ring full; target 0)"
           "%s\n", (unsigned long long) sh->pushed,
           sh->pushed / (double) seconds,
           (unsigned long long) llmopt_ring_drops(ring),
           llmopt_ring_drops(ring) ? "  MISSED" : "");
    printf("  learned %llu in %llu ticks; deepest ring %llu of %u "
           "(%.0f%%); longest tick %llu us of %d ms budget\n",
           (unsigned long long) sh->learned,
           (unsigned long long) sh->ticks,
           (unsigned long long) sh->max_depth, events,
           100.0 * sh->max_depth / events,
           (unsigned long long) sh->max_tick_us, BENCH_BUDGET_MS);
    printf("  trainer CPU %.1f%% of one core; readers: %llu decisions, "
           "%llu seqlock retries (%.4f%%), %llu fell back to the last "
           "good copy\n", 100 * sh->trainer_cpu,
           (unsigned long long) sh->reads,
           (unsigned long long) sh->retries,
           sh->reads ? 100.0 * sh->retries / sh->reads : 0.0,
           (unsigned long long) sh->fallbacks);

    if (llmopt_ring_drops(ring) != 0 || sh->learned != sh->pushed
        || sh->refused != 0)
    {
        rc = 1;
    }

    munmap(mem, size);

    return rc;
}


/*
 * A worker: per request, a decision read under the seqlock (a copy of the
 * parameters when the writer was busy), then an outcome event pushed.
 * Paced: rate events a second, in bursts of one millisecond's worth.
 */

static void
bench_producer(bench_shared_t *sh, llmopt_ring_t *ring, void *block,
    const llmopt_policy_t *p, llmopt_event_t *pool, unsigned rate,
    unsigned id)
{
    double           next, step, x[BENCH_D];
    uint64_t         seq, pushed, refused, reads, retries, fallbacks;
    unsigned         i, k, b, tries, ok, burst;
    llmopt_rng_t     rng;
    llmopt_choice_t  choice;
    llmopt_event_t   ev;

    llmopt_rng_seed(&rng, 1000 + id);

    pushed = refused = reads = retries = fallbacks = 0;
    burst = rate / 1000 ? rate / 1000 : 1;
    step = 1e9 * burst / rate;
    next = bench_now();
    i = id * 997;

    while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {

        for (b = 0; b < burst; b++, i++) {
            ev = pool[i % BENCH_POOL];

            for (k = 0; k < BENCH_D; k++) {
                x[k] = ev.x[k];
            }

            ok = 0;

            for (tries = 0; tries < LLMOPT_SEQLOCK_TRIES; tries++) {
                seq = llmopt_seqlock_read_begin(&sh->lock);
                (void) llmopt_bandit_select(&p->bandit, block, x, NULL, &rng,
                                            &choice);
                if (!llmopt_seqlock_read_retry(&sh->lock, seq)) {
                    ok = 1;
                    break;
                }
                retries++;
            }

            reads++;
            fallbacks += !ok;

            ev.arm = (uint16_t) (choice.arm % BENCH_ARMS);
            ev.time_ms = (uint64_t) (bench_now() / 1e6);

            if (llmopt_ring_push(ring, &ev) == LLMOPT_OK) {
                pushed++;
            } else {
                refused++;
            }
        }

        next += step;
        bench_sleep_until(next);
    }

    __atomic_fetch_add(&sh->pushed, pushed, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->refused, refused, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->reads, reads, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->retries, retries, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->fallbacks, fallbacks, __ATOMIC_RELAXED);
}


/* The trainer: the same calls as ngx_http_llmopt_trainer.c, on a timer. */

static void
bench_trainer(bench_shared_t *sh, llmopt_ring_t *ring, void *block,
    const llmopt_policy_t *p, unsigned interval_ms)
{
    void                     *work;
    double                    start, t0, deadline, next, us;
    unsigned                  n, depth, last;
    struct rusage             ru;
    llmopt_trainer_t          tr;
    llmopt_trainer_policy_t   tp;

    memset(&tp, 0, sizeof(tp));
    tp.policy = p;
    tp.lock = &sh->lock;
    tp.shared = block;
    tp.size = llmopt_bandit_size(&p->bandit);
    work = malloc(tp.size);
    tp.work = work;

    if (work == NULL) {
        _exit(2);
    }

    llmopt_trainer_init(&tr, ring, 0, &tp, 1);

    start = bench_now();
    next = start;
    last = 0;

    for ( ;; ) {
        next += interval_ms * 1e6;
        bench_sleep_until(next);

        last = __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) == 2;

        depth = llmopt_ring_depth(ring);
        if (depth > sh->max_depth) {
            sh->max_depth = depth;
        }

        t0 = bench_now();
        deadline = t0 + BENCH_BUDGET_MS * 1e6;

        do {
            n = llmopt_trainer_drain(&tr, 256, (uint64_t) (t0 / 1e6));
        } while (n == 256 && (last || bench_now() < deadline));

        (void) llmopt_trainer_publish(&tr);

        us = (bench_now() - t0) / 1e3;
        if (us > sh->max_tick_us) {
            sh->max_tick_us = (uint64_t) us;
        }

        sh->ticks++;

        if (last && llmopt_ring_depth(ring) == 0) {
            break;
        }
    }

    sh->learned = tr.updates;

    getrusage(RUSAGE_SELF, &ru);
    sh->trainer_cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
                       + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6)
                      / ((bench_now() - start) / 1e9);

    free(work);
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}


static void
bench_sleep_until(double t)
{
    struct timespec  ts;

    ts.tv_sec = (time_t) (t / 1e9);
    ts.tv_nsec = (long) (t - (double) ts.tv_sec * 1e9);

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
           == EINTR)
    { /* void */ }
}
