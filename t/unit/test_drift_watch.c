/*
 * Copyright (C) llmopt authors
 *
 * The drift watch of an arm (llmopt_drift.h): quiet on a steady arm, an
 * alarm of the reward or the latency when either moves (the reward's
 * first), latencies scaled and capped, unknown ones not fed, the quiet
 * spell after an alarm; the model's expectation (linear and not); and
 * each drift response.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_drift.h"
#include "llmopt_rng.h"


static llmopt_rng_t  rng;


static const char  catalog_text[] =
    "models:\n"
    "  a: {upstream: u, price: {input: 1, output: 1}}\n"
    "  b: {upstream: u, price: {input: 1, output: 1}}\n"
    "policies:\n"
    "  explore:\n"
    "    algorithm: ucb1\n"
    "    arms: [a, b]\n"
    "    drift: {response: explore, explore: 0.5, explore_for: 5000}\n"
    "  forget:\n"
    "    algorithm: linucb\n"
    "    arms: [a, b]\n"
    "    drift: {response: forget, keep: 0.5}\n"
    "  reset:\n"
    "    algorithm: ucb1\n"
    "    arms: [a, b]\n"
    "    drift: {response: reset}\n"
    "  none:\n"
    "    algorithm: ucb1\n"
    "    arms: [a, b]\n"
    "    drift: {response: none}\n";


/* feeds n answers; the index of the first alarm (-1: none), into *alarm */

static int
feed(llmopt_drift_watch_t *w, unsigned n, double surprise, double lat,
    double ref, llmopt_drift_alarm_t *alarm)
{
    unsigned              i;
    int                   at;
    llmopt_drift_alarm_t  a;

    at = -1;

    for (i = 0; i < n; i++) {
        /* a little noise, the same each run */
        if (llmopt_drift_watch_add(w, surprise
                                      + 0.2 * (llmopt_rng_uniform(&rng) - 0.5),
                                   lat, ref, &a)
            && at < 0)
        {
            at = (int) i;
            *alarm = a;
        }
    }

    return at;
}


static void *
block_for(const llmopt_policy_t *p)
{
    void  *block;

    block = calloc(1, llmopt_bandit_size(&p->bandit));
    if (block != NULL) {
        llmopt_bandit_init(&p->bandit, block);
    }

    return block;
}


int
main(void)
{
    int                     at;
    void                   *block;
    double                  x[LLMOPT_FEATURE_MAX_DIM], e;
    float                   xf[LLMOPT_FEATURE_MAX_DIM];
    uint64_t                until;
    unsigned                i;
    llmopt_err_t            err;
    llmopt_catalog_t        cat;
    llmopt_drift_alarm_t    alarm;
    llmopt_drift_watch_t    w;
    const llmopt_policy_t  *p;

    memset(&err, 0, sizeof(err));
    is_int(llmopt_catalog_load_string(&cat, "t.yaml", catalog_text,
                                      sizeof(catalog_text) - 1,
                                      &test_allocator, &err),
           LLMOPT_OK, "catalog loads: %s", err.msg);

    llmopt_rng_seed(&rng, 42);

    /* steady, then the reward falls short */

    llmopt_drift_watch_init(&w);
    is_int(w.quiet, 0, "a new watch is not quiet");

    at = feed(&w, 400, 0, 100, 1000, &alarm);
    is_int(at, -1, "400 steady answers: no alarm");

    at = feed(&w, 400, -0.6, 100, 1000, &alarm);
    ok(at >= 0 && at < 100, "the reward falls: an alarm soon (%d)", at);
    is_int(alarm.of, LLMOPT_DRIFT_OF_REWARD, "of the reward");
    is_int(alarm.sign, -1, "it fell");
    ok(strcmp(alarm.detector, "Page-Hinkley") == 0
       || strcmp(alarm.detector, "ADWIN") == 0, "by %s", alarm.detector);

    /* after an alarm: Page-Hinkley anew, quiet for LLMOPT_DRIFT_QUIET */

    llmopt_drift_watch_init(&w);
    feed(&w, 400, 0, 100, 1000, &alarm);

    for (i = 0; i < 400; i++) {
        if (llmopt_drift_watch_add(&w, 0.8, 100, 1000, &alarm)) {
            break;
        }
    }

    ok(i < 400, "a rise: an alarm after %u", i);
    is_int(alarm.sign, 1, "it rose");
    is_int(w.quiet, LLMOPT_DRIFT_QUIET, "then quiet");
    is_int(w.ph_reward.n, 0, "Page-Hinkley of the reward anew");
    is_int(w.ph_latency.n, 0, "and of the latency");
    ok(w.adwin_reward.width > 0, "ADWIN keeps its window");

    at = feed(&w, LLMOPT_DRIFT_QUIET, -0.8, 5000, 1000, &alarm);
    is_int(at, -1, "no alarm in the quiet spell, whatever comes");
    is_int(w.quiet, 0, "which ends");
    ok(w.ph_reward.n > 0, "the detectors learned meanwhile");

    /* the latency */

    llmopt_drift_watch_init(&w);
    feed(&w, 400, 0, 100, 1000, &alarm);
    at = feed(&w, 400, 0, 900, 1000, &alarm);
    ok(at >= 0, "the latency rises: an alarm (%d)", at);
    is_int(alarm.of, LLMOPT_DRIFT_OF_LATENCY, "of the latency");
    is_int(alarm.sign, 1, "it rose");

    /* both at once: the reward's */

    llmopt_drift_watch_init(&w);
    feed(&w, 400, 0, 100, 1000, &alarm);
    at = feed(&w, 400, -0.6, 900, 1000, &alarm);
    ok(at >= 0, "both move: an alarm");
    is_int(alarm.of, LLMOPT_DRIFT_OF_REWARD, "the reward's first");

    /* unknown latencies are not fed; the scale is capped at 10 */

    llmopt_drift_watch_init(&w);
    feed(&w, 50, 0, -1, 1000, &alarm);
    is_int(w.ph_latency.n, 0, "unknown latencies: not fed");
    is_int(w.adwin_latency.width, 0, "to either detector");
    is_int(w.ph_reward.n, 50, "the rewards are");

    llmopt_drift_watch_init(&w);
    feed(&w, 20, 0, 1e9, 1, &alarm);
    is_num(llmopt_adwin_mean(&w.adwin_latency), 10, 1e-9,
           "a latency of 1e9 refs counts as 10");
    llmopt_drift_watch_init(&w);
    feed(&w, 20, 0, 500, 1000, &alarm);
    is_num(llmopt_adwin_mean(&w.adwin_latency), 0.5, 1e-9,
           "500 ms of a 1000 ms ref: 0.5");

    /* what the model expected: the arm's mean without a context */

    p = llmopt_catalog_policy(&cat, "reset", 5);
    block = block_for(p);
    ok(block != NULL, "a ucb1 block");
    memset(x, 0, sizeof(x));
    memset(xf, 0, sizeof(xf));

    for (i = 0; i < 4; i++) {
        llmopt_bandit_update(&p->bandit, block, 1, x, i < 2 ? 1 : 0);
    }

    is_num(llmopt_drift_expected(&p->bandit, block, 1, xf, 0),
           llmopt_bandit_arm_mean(&p->bandit, block, 1), 1e-12,
           "ucb1: the arm's mean");

    /* reset: the arm forgets all */

    until = 0;
    is_int(llmopt_drift_respond(p, block, 1, 1000, &until), 1,
           "reset: the block changed");
    is_int(until, 0, "no exploring");
    is_int(llmopt_bandit_arm_count(&p->bandit, block, 1), 4,
           "its pull count stays");
    is_num(llmopt_bandit_arm_mean(&p->bandit, block, 1),
           llmopt_bandit_arm_mean(&p->bandit, block, 0), 1e-12,
           "its mean is the prior's, as an untried arm's");
    free(block);

    /* linear: theta . x, then forget keeps half */

    p = llmopt_catalog_policy(&cat, "forget", 6);
    block = block_for(p);
    ok(block != NULL, "a linucb block");

    for (i = 0; i < p->bandit.d; i++) {
        x[i] = 1;
        xf[i] = 1;
    }

    for (i = 0; i < 20; i++) {
        llmopt_bandit_update(&p->bandit, block, 0, x, 1);
    }

    e = llmopt_drift_expected(&p->bandit, block, 0, xf, p->bandit.d);
    ok(e > 0.5 && e <= 1.0001, "linucb: theta . x near 1 (%.4f)", e);
    is_num(llmopt_drift_expected(&p->bandit, block, 0, xf, 0), 0, 1e-12,
           "no features: 0");
    is_num(llmopt_drift_expected(&p->bandit, block, 1, xf, p->bandit.d),
           0, 1e-12, "an untried arm: 0");

    until = 0;
    is_int(llmopt_drift_respond(p, block, 0, 1000, &until), 1,
           "forget: the block changed");
    is_int(until, 0, "no exploring");
    ok(llmopt_drift_expected(&p->bandit, block, 0, xf, p->bandit.d) < e,
       "the estimate moved to the prior");
    free(block);

    /* explore: the boost's end */

    p = llmopt_catalog_policy(&cat, "explore", 7);
    until = 0;
    is_int(llmopt_drift_respond(p, NULL, 0, 1000, &until), 0,
           "explore: the block stays");
    is_int(until, 6000, "explores until now + explore_for");

    p = llmopt_catalog_policy(&cat, "none", 4);
    until = 0;
    is_int(llmopt_drift_respond(p, NULL, 0, 1000, &until), 0,
           "none: nothing");
    is_int(until, 0, "no exploring");

    is_str(llmopt_drift_response_words(LLMOPT_DRIFT_RESET),
           "its model reset", "words: reset");
    is_str(llmopt_drift_response_words(LLMOPT_DRIFT_FORGET),
           "its model forgets", "forget");
    is_str(llmopt_drift_response_words(LLMOPT_DRIFT_EXPLORE),
           "the policy explores more for a while", "explore");
    is_str(llmopt_drift_response_words(LLMOPT_DRIFT_NONE),
           "no response configured", "none");

    test_free_all();

    return tap_done();
}
