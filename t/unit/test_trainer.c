
/*
 * Copyright (C) llmopt authors
 *
 * The trainer's learning step: ring to reward to private copy to
 * published block.
 */


#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_catalog.h"
#include "llmopt_trainer.h"
#include "llmopt_usage.h"


static void count_learned(void *data, const llmopt_event_t *ev,
    const llmopt_reward_t *rw);
static void make_event(llmopt_event_t *ev, uint64_t catalog, unsigned arm,
    unsigned d, double code, unsigned status);
static double arm_pulls(const llmopt_policy_t *p, const void *block,
    unsigned arm);
static void test_unscored(void);
static void test_sparse(void);




static const char  catalog_text[] =
    "models:\n"
    "  big:   {upstream: u, model: big, price: {input: 10, output: 30}}\n"
    "  small: {upstream: u, model: small, price: {input: 0.1, output: 0.4}}\n"
    "policies:\n"
    "  chat:\n"
    "    algorithm: linucb\n"
    "    alpha: 0.5\n"
    "    seed: 7\n"
    "    arms: [{model: big}, {model: small}]\n"
    "    features: [bias, has_code]\n"
    "    reward: {quality: 1, cost: 0, latency: 0}\n";


int
main(void)
{
    int                       rc;
    void                     *ring_mem;
    unsigned                  i, n, d;
    llmopt_err_t              err;
    llmopt_ring_t            *ring;
    llmopt_event_t            ev;
    llmopt_reward_t           rw;
    llmopt_catalog_t          cat;
    llmopt_seqlock_t          lock;
    llmopt_trainer_t          t;
    llmopt_choice_t           choice;
    llmopt_rng_t              rng;
    const llmopt_policy_t    *p;
    llmopt_trainer_policy_t   tp;
    llmopt_arm_tally_t        tally[2];
    double                    x[2];

    memset(&err, 0, sizeof(err));

    rc = llmopt_catalog_load_string(&cat, "test.yaml", catalog_text,
                                    sizeof(catalog_text) - 1,
                                    &test_allocator, &err);
    is_int(rc, LLMOPT_OK, "catalog loads: %s", err.msg);

    p = &cat.policies[0];
    d = p->bandit.d;
    is_int(d, 2, "d = 2");

    memset(&tp, 0, sizeof(tp));
    tp.policy = p;
    tp.lock = &lock;
    tp.size = llmopt_bandit_size(&p->bandit);
    tp.shared = calloc(1, tp.size);
    tp.work = calloc(1, tp.size);
    llmopt_seqlock_init(&lock);
    llmopt_bandit_init(&p->bandit, tp.shared);
    memset(tally, 0, sizeof(tally));
    tp.tally = tally;

    ring_mem = calloc(1, llmopt_ring_size(64));
    is_int(llmopt_ring_init(ring_mem, 64), LLMOPT_OK, "ring of 64");
    ring = ring_mem;

    llmopt_trainer_init(&t, ring, cat.version, &tp, 1);

    /* declined events: feedback kind, another catalog, client gone */

    make_event(&ev, cat.version, 0, d, 0, 200);
    ev.kind = LLMOPT_EVENT_FEEDBACK;
    is_int(llmopt_trainer_learn(&t, &ev, NULL), LLMOPT_DECLINED,
           "a feedback event is not learned");

    make_event(&ev, cat.version + 1, 0, d, 0, 200);
    is_int(llmopt_trainer_learn(&t, &ev, NULL), LLMOPT_DECLINED,
           "an event of another catalog version is not learned");

    make_event(&ev, cat.version, 0, d, 0, 499);
    is_int(llmopt_trainer_learn(&t, &ev, NULL), LLMOPT_DECLINED,
           "a client gone is not learned");

    make_event(&ev, cat.version, 5, d, 0, 200);
    is_int(llmopt_trainer_learn(&t, &ev, NULL), LLMOPT_DECLINED,
           "an arm out of range is not learned");

    make_event(&ev, cat.version, 0, d + 1, 0, 200);
    is_int(llmopt_trainer_learn(&t, &ev, NULL), LLMOPT_DECLINED,
           "a feature vector of another length is not learned");

    is_int(t.stale, 3, "three stale events");
    is_int(t.declined, 2, "two declined events");
    is_int(t.updates, 0, "nothing learned yet");

    /* a learned event changes work only until published */

    make_event(&ev, cat.version, 1, d, 1, 200);
    ev.quality = 0.75f;
    is_int(llmopt_trainer_learn(&t, &ev, &rw), LLMOPT_OK, "outcome learned");
    is_num(rw.reward, 0.75, 1e-6, "quality-only reward is the score");
    is_num(arm_pulls(p, tp.work, 1), 1, 0, "work copy has the pull");
    is_num(arm_pulls(p, tp.shared, 1), 0, 0, "shared copy not yet");
    is_int(llmopt_trainer_publish(&t), 1, "one block published");
    is_num(arm_pulls(p, tp.shared, 1), 1, 0, "shared copy has the pull");
    is_int(lock.seq, 2, "seqlock advanced by one write");
    is_int(llmopt_trainer_publish(&t), 0, "nothing dirty: no publish");

    make_event(&ev, cat.version, 0, d, 0, 503);
    is_int(llmopt_trainer_learn(&t, &ev, &rw), LLMOPT_OK, "failure learned");
    is_num(rw.reward, 0, 0, "a 503 scores 0");
    is_int(t.failures, 1, "failure counted");

    /* through the ring: arm 0 good for code, arm 1 good for the rest */

    n = 0;

    for (i = 0; i < 400; i++) {
        unsigned  code = i & 1, arm = (i >> 1) & 1;

        make_event(&ev, cat.version, arm, d, code, 200);
        ev.quality = (arm == 0) == (code == 1) ? 1.0f : 0.0f;

        if (llmopt_ring_push(ring, &ev) != LLMOPT_OK) {
            n += llmopt_trainer_drain(&t, 1000, 1000);
            rc = llmopt_ring_push(ring, &ev);
            if (rc != LLMOPT_OK) {
                ok(0, "push after a drain");
            }
        }
    }

    n += llmopt_trainer_drain(&t, 1000, 1000);
    is_int(n, 400, "every pushed event popped");
    is_int(t.updates, 402, "every event learned");

    /* the tallies: 200 events each; arm 0 scored 1 on code (100), arm 1
       on the rest (100), plus the two direct events above */
    is_num(tally[0].rewards, 201, 0, "arm 0: 201 rewards tallied");
    is_num(tally[1].rewards, 201, 0, "arm 1: 201 rewards tallied");
    is_num(tally[0].reward_sum, 100, 1e-9, "arm 0: reward sum 100");
    is_num(tally[1].reward_sum, 100.75, 1e-6, "arm 1: reward sum 100.75");
    is_num(tally[0].failures, 1, 0, "arm 0: the 503 tallied as a failure");
    is_num(tally[1].reward_sq, 100.5625, 1e-6, "arm 1: squares 100 + .5625");
    is_int(t.lag_ms, 1000 - 900, "lag: the oldest last byte, 900, to 1000");
    is_int(llmopt_trainer_publish(&t), 1, "published");

    llmopt_rng_seed(&rng, 1);

    x[0] = 1; x[1] = 1;
    llmopt_bandit_select(&p->bandit, tp.shared, x, NULL, &rng, &choice);
    is_int(choice.arm, 0, "code goes to arm 0");

    x[0] = 1; x[1] = 0;
    llmopt_bandit_select(&p->bandit, tp.shared, x, NULL, &rng, &choice);
    is_int(choice.arm, 1, "the rest goes to arm 1");

    /* a claimed slot never written is skipped after a second */

    make_event(&ev, cat.version, 0, d, 0, 200);
    ring->head++;                 /* a producer died after its claim */
    is_int(llmopt_ring_push(ring, &ev), LLMOPT_OK, "push behind it");
    is_int(llmopt_trainer_drain(&t, 10, 5000), 0, "stuck: nothing popped");
    is_int(llmopt_trainer_drain(&t, 10, 5500), 0, "still waiting");
    is_int(llmopt_trainer_drain(&t, 10, 6001), 1, "skipped, then popped");
    is_int(t.skipped, 1, "one slot skipped");

    /* another instance's statistics: published merged, work untouched */

    {
        void      *others, *scratch, *both;
        unsigned   seen = 0;

        others = calloc(1, tp.size);
        scratch = calloc(1, tp.size);
        both = calloc(1, tp.size);
        llmopt_bandit_init(&p->bandit, others);

        x[0] = 1; x[1] = 0;
        for (i = 0; i < 30; i++) {
            llmopt_bandit_update(&p->bandit, others, 0, x, 1.0);
        }

        memcpy(both, tp.work, tp.size);
        llmopt_bandit_merge(&p->bandit, both, others);

        tp.others = others;
        tp.scratch = scratch;
        tp.dirty = 1;
        is_int(llmopt_trainer_publish(&t), 1, "published with the others");
        is_num(arm_pulls(p, tp.shared, 0), arm_pulls(p, tp.work, 0) + 30, 0,
               "shared: arm 0 pulls of both instances");
        is_int(memcmp(tp.shared, both, tp.size), 0,
               "shared: exactly work merged with the others");
        is_num(arm_pulls(p, tp.work, 0) + 30, arm_pulls(p, both, 0), 0,
               "work: this instance's own");

        t.learned = count_learned;
        t.learned_data = &seen;
        make_event(&ev, cat.version, 1, d, 1, 200);
        ev.quality = 1.0f;
        llmopt_trainer_learn(&t, &ev, NULL);
        make_event(&ev, cat.version, 1, d, 1, 499);
        llmopt_trainer_learn(&t, &ev, NULL);
        is_int(seen, 1, "the learned callback: once, for the learned event");
        t.learned = NULL;

        tp.others = NULL;
        tp.scratch = NULL;
        free(others);
        free(scratch);
        free(both);
    }

    /* init adopts the shared block as the new work copy */

    llmopt_trainer_init(&t, ring, cat.version, &tp, 1);
    is_int(memcmp(tp.work, tp.shared, tp.size), 0, "work adopted");

    free(tp.shared);
    free(tp.work);
    free(ring_mem);

    test_unscored();
    test_sparse();

    test_free_all();

    return tap_done();
}


static void
count_learned(void *data, const llmopt_event_t *ev, const llmopt_reward_t *rw)
{
    (*(unsigned *) data)++;
}


static void
make_event(llmopt_event_t *ev, uint64_t catalog, unsigned arm, unsigned d,
    double code, unsigned status)
{
    memset(ev, 0, sizeof(llmopt_event_t));

    ev->kind = LLMOPT_EVENT_OUTCOME;
    ev->catalog = catalog;
    ev->arm = arm;
    ev->d = d;
    ev->status = status;
    ev->finish = LLMOPT_FINISH_STOP;
    ev->cost = 0.001;
    ev->latency_ms = 100;
    ev->done_ms = 900;
    ev->ttft_ms = -1;
    ev->quality = -1;
    ev->x[0] = 1;
    ev->x[1] = (float) code;
}


static double
arm_pulls(const llmopt_policy_t *p, const void *block, unsigned arm)
{
    llmopt_bandit_arm_t  view;

    llmopt_bandit_arm(&p->bandit, block, arm, &view);

    return *view.pulls;
}


/*
 * A policy that waits for feedback (unscored: observed by default): arm 0
 * is scored 0.9 on its answers, arm 1's answers are left unscored.  The
 * proxies would learn arm 1 as perfect; here its answers are counted and
 * not learned until it has a scored one, while arm 0's unscored answers
 * are learned with the quality arm 0 showed.
 */

static const char  unscored_text[] =
    "models:\n"
    "  big:   {upstream: u, model: big, price: {input: 10, output: 30}}\n"
    "  small: {upstream: u, model: small, price: {input: 0.1, output: 0.4}}\n"
    "policies:\n"
    "  chat:\n"
    "    algorithm: linucb\n"
    "    alpha: 0.5\n"
    "    arms: [{model: big}, {model: small}]\n"
    "    features: [bias, has_code]\n"
    "    reward: {quality: 0.8, cost: 0.1, latency: 0.1}\n"
    "    feedback_wait: 1000\n";


static void
test_unscored(void)
{
    int                       rc;
    unsigned                  i;
    double                    x[2];
    llmopt_err_t              err;
    llmopt_event_t            ev;
    llmopt_reward_t           rw;
    llmopt_catalog_t          cat;
    llmopt_seqlock_t          lock;
    llmopt_trainer_t          t;
    llmopt_choice_t           choice;
    llmopt_rng_t              rng;
    llmopt_arm_tally_t        tally[2];
    const llmopt_policy_t    *p;
    llmopt_trainer_policy_t   tp;

    memset(&err, 0, sizeof(err));

    rc = llmopt_catalog_load_string(&cat, "unscored.yaml", unscored_text,
                                    sizeof(unscored_text) - 1,
                                    &test_allocator, &err);
    is_int(rc, LLMOPT_OK, "unscored: catalog loads: %s", err.msg);

    if (rc != LLMOPT_OK) {
        return;
    }

    p = &cat.policies[0];

    memset(&tp, 0, sizeof(tp));
    tp.policy = p;
    tp.lock = &lock;
    tp.size = llmopt_bandit_size(&p->bandit);
    tp.shared = calloc(1, tp.size);
    tp.work = calloc(1, tp.size);
    llmopt_seqlock_init(&lock);
    llmopt_bandit_init(&p->bandit, tp.shared);
    memset(tally, 0, sizeof(tally));
    tp.tally = tally;

    llmopt_trainer_init(&t, NULL, cat.version, &tp, 1);

    make_event(&ev, cat.version, 1, p->bandit.d, 0, 200);
    ev.cost = 0.00001;                      /* cheap and fast: the proxies */
    ev.latency_ms = 10;                     /* would score it near 1 */

    for (i = 0; i < 40; i++) {
        rc = llmopt_trainer_learn(&t, &ev, &rw);
    }

    is_int(rc, LLMOPT_DECLINED, "arm 1 unscored, never scored: declined");
    is_num(tally[1].unscored, 40, 0, "arm 1: 40 unscored tallied");
    is_num(tally[1].rewards, 0, 0, "arm 1: no reward learned");
    is_num(arm_pulls(p, tp.work, 1), 0, 0, "arm 1: no pull in the model");
    is_int(t.unscored, 40, "the trainer counts 40 unscored");

    make_event(&ev, cat.version, 0, p->bandit.d, 0, 200);
    ev.quality = 0.9f;

    for (i = 0; i < 100; i++) {
        (void) llmopt_trainer_learn(&t, &ev, NULL);
    }

    is_num(tally[0].scored, 100, 0, "arm 0: 100 scored tallied");
    is_num(tally[0].quality_sum, 90, 1e-4, "arm 0: their qualities, 90");

    ev.quality = -1;
    is_int(llmopt_trainer_learn(&t, &ev, &rw), LLMOPT_OK,
           "arm 0 unscored: learned");
    is_num(rw.quality, 0.9, 1e-6, "... with arm 0's scored quality");
    is_int(rw.source, LLMOPT_QUALITY_UNSCORED, "... source unscored");
    is_num(tally[0].unscored, 1, 0, "arm 0: 1 unscored tallied");
    is_num(arm_pulls(p, tp.work, 0), 101, 0, "arm 0: 101 pulls");

    make_event(&ev, cat.version, 1, p->bandit.d, 0, 502);
    is_int(llmopt_trainer_learn(&t, &ev, &rw), LLMOPT_OK,
           "arm 1: a failure is learned");
    is_num(tally[1].failures, 1, 0, "... as a failure");
    is_num(tally[1].unscored, 40, 0, "... not as unscored");

    (void) llmopt_trainer_publish(&t);
    llmopt_rng_seed(&rng, 3);

    x[0] = 1; x[1] = 0;
    llmopt_bandit_select(&p->bandit, tp.shared, x, NULL, &rng, &choice);
    is_int(choice.arm, 0, "the scored arm wins");

    free(tp.shared);
    free(tp.work);
}


/*
 * A sparse policy: the trainer learns the event's carry into the shared
 * table in place (no copy, no publish), and the arms' counts in the
 * epsilon_greedy block as for any policy.
 */

static const char  sparse_text[] =
    "models:\n"
    "  big:   {upstream: u, model: big, price: {input: 10, output: 30}}\n"
    "  small: {upstream: u, model: small, price: {input: 0.1, output: 0.4}}\n"
    "policies:\n"
    "  chat:\n"
    "    algorithm: sparse\n"
    "    arms: [{model: big}, {model: small}]\n"
    "    features: [bias, has_code]\n"
    "    sparse: {bits: 12}\n"
    "    reward: {quality: 1, cost: 0, latency: 0}\n";


static void
test_sparse(void)
{
    int                        rc;
    void                      *table;
    double                     x[2], score[2];
    const char                *prompt = "hello sparse world";
    llmopt_err_t               err;
    llmopt_rng_t               rng;
    llmopt_event_t             ev;
    llmopt_choice_t            choice;
    llmopt_catalog_t           cat;
    llmopt_seqlock_t           lock;
    llmopt_trainer_t           t;
    llmopt_trainer_policy_t    tp;
    llmopt_sparse_features_t  *f;
    const llmopt_policy_t     *p;

    memset(&err, 0, sizeof(err));

    rc = llmopt_catalog_load_string(&cat, "sparse.yaml", sparse_text,
                                    sizeof(sparse_text) - 1,
                                    &test_allocator, &err);
    is_int(rc, LLMOPT_OK, "sparse catalog loads: %s", err.msg);

    p = &cat.policies[0];
    ok(p->sparse_on && p->sparse.bits == 12, "a sparse policy");

    memset(&tp, 0, sizeof(tp));
    tp.policy = p;
    tp.lock = &lock;
    tp.size = llmopt_bandit_size(&p->bandit);
    tp.shared = calloc(1, tp.size);
    tp.work = calloc(1, tp.size);
    table = malloc(llmopt_sparse_size(&p->sparse));
    f = malloc(sizeof(llmopt_sparse_features_t));
    tp.sparse = table;

    llmopt_seqlock_init(&lock);
    llmopt_bandit_init(&p->bandit, tp.shared);
    llmopt_sparse_init(&p->sparse, table);
    llmopt_trainer_init(&t, NULL, cat.version, &tp, 1);
    llmopt_rng_seed(&rng, 5);

    x[0] = 1;
    x[1] = 0;
    llmopt_sparse_features(&p->sparse, (const unsigned char *) prompt,
                           strlen(prompt), NULL, 0, x, f);

    make_event(&ev, cat.version, 1, 2, 0, 200);
    ev.quality = 1;
    is_int(llmopt_sparse_select(&p->sparse, table, f, x, NULL, &rng, &choice,
                                &ev.sparse),
           LLMOPT_OK, "chosen");
    is_int(ev.sparse.n, 5, "3 words and 2 pairs carried");
    ev.arm = 1;

    is_int(llmopt_trainer_learn(&t, &ev, NULL), LLMOPT_OK, "learned");
    is_int(llmopt_sparse_updates(table), 1, "the table learned it in place");
    is_num(arm_pulls(p, tp.work, 1), 1, 0, "the arm's count too");

    llmopt_sparse_scores(&p->sparse, table, f, x, score);
    ok(score[1] > 0.4 && score[1] < 0.5,
       "one step: about halfway to the reward, rate 0.5 (%.3f)", score[1]);
    is_num(score[0], 0, 0, "the other arm untouched");

    free(f);
    free(table);
    free(tp.shared);
    free(tp.work);
}
