/*
 * Copyright (C) llmopt authors
 *
 * The decision (llmopt_decide.h): each rule, their order, the
 * propensities, and the failover's ask again with the failed arm out.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_decide.h"


static const char  catalog_text[] =
    "models:\n"
    "  a: {upstream: u, price: {input: 0.1, output: 0.4},"
    " context_window: 1000}\n"
    "  b: {upstream: u, price: {input: 1, output: 2}}\n"
    "  c: {upstream: u, price: {input: 2, output: 4}}\n"
    "policies:\n"
    "  p:\n"
    "    algorithm: ucb1\n"
    "    arms: [a, b, c]\n"
    "    latency_slo: 1500\n"
    "    drift: {response: explore, explore: 0.5, explore_for: 5000}\n"
    "    canary: {arm: b, stages: [10, 50, 100]}\n"
    "    budget: {day: 5}\n"
    "  q:\n"
    "    algorithm: ucb1\n"
    "    arms: [a, b, c]\n"
    "    latency_slo: 1500\n"
    "    latency_slo_action: penalise\n"
    "  r:\n"
    "    algorithm: ucb1\n"
    "    arms: [a]\n";


/* the fake bandit, budget and probe, and what they were asked */

typedef struct {
    int            select_rc;
    unsigned       arm;               /* the first allowed one from here */
    double         propensity;
    unsigned       explore;
    unsigned char  seen[LLMOPT_MAX_ARMS];
    unsigned       selects;

    int            budget_rc;
    unsigned char  budget_keep[LLMOPT_MAX_ARMS];
    unsigned char  budget_seen[LLMOPT_MAX_ARMS];
    unsigned       budgets;

    unsigned char  probe_grant[LLMOPT_MAX_ARMS];
    unsigned       probes;
} fake_t;


static int
fake_select(void *data, const double *x, const unsigned char *allowed,
    llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    fake_t *f = data;

    unsigned  a, i;

    f->selects++;
    memcpy(f->seen, allowed, 3);

    if (f->select_rc != LLMOPT_OK) {
        return f->select_rc;
    }

    for (i = 0; i < 3; i++) {
        a = (f->arm + i) % 3;

        if (allowed[a]) {
            choice->arm = a;
            choice->propensity = f->propensity;
            choice->explore = f->explore;
            return LLMOPT_OK;
        }
    }

    return LLMOPT_DECLINED;
}


static int
fake_budget(void *data, unsigned char *fits)
{
    fake_t *f = data;

    unsigned  a;

    f->budgets++;
    memcpy(f->budget_seen, fits, 3);

    for (a = 0; a < 3; a++) {
        fits[a] = fits[a] && f->budget_keep[a];
    }

    return f->budget_rc;
}


static int
fake_probe(void *data, unsigned a, uint64_t now)
{
    fake_t *f = data;

    f->probes++;

    return f->probe_grant[a];
}


static llmopt_catalog_t      cat;
static llmopt_guard_need_t   need;
static double                x[4];
static unsigned char         breach[LLMOPT_MAX_ARMS];
static uint64_t              until[LLMOPT_MAX_ARMS];
static llmopt_rng_t          rng;
static fake_t                fake;


static void
reset(llmopt_decide_in_t *in, const char *policy)
{
    memset(in, 0, sizeof(llmopt_decide_in_t));
    memset(&fake, 0, sizeof(fake_t));
    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));

    fake.propensity = 0.8;
    memset(fake.budget_keep, 1, sizeof(fake.budget_keep));

    need.input_tokens = 100;
    need.output_tokens = 100;

    in->catalog = &cat;
    in->policy = llmopt_catalog_policy(&cat, policy, 1);
    in->need = &need;
    in->x = x;
    in->fallback = 2;
    in->now_ms = 100000;
    in->slo_breach = breach;
    in->breaker_until = until;
    in->canary_share = -1;
    in->rng = &rng;
    in->select = fake_select;
    in->budget = fake_budget;
    in->probe = fake_probe;
    in->data = &fake;
}


int
main(void)
{
    int                  rc;
    unsigned             i, hits, seen[3];
    llmopt_err_t         err;
    unsigned char        failed[LLMOPT_MAX_ARMS];
    llmopt_decide_in_t   in;
    llmopt_decide_out_t  out;

    memset(&err, 0, sizeof(err));
    is_int(llmopt_catalog_load_string(&cat, "t.yaml", catalog_text,
                                      sizeof(catalog_text) - 1,
                                      &test_allocator, &err),
           LLMOPT_OK, "catalog loads: %s", err.msg);

    llmopt_rng_seed(&rng, 7);

    /* the bandit alone */

    reset(&in, "p");
    fake.arm = 1;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_OK, "decided");
    is_int(out.arm, 1, "the bandit's arm");
    is_int(out.reason, LLMOPT_DECIDE_BANDIT, "reason bandit");
    is_num(out.propensity, 0.8, 1e-12, "the bandit's propensity");
    ok(fake.seen[0] && fake.seen[1] && fake.seen[2], "every arm allowed");
    is_int(fake.budgets, 1, "budgeted: the budget asked once");

    /* 1. fit: a's window is too small */

    reset(&in, "p");
    need.input_tokens = 2000;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_OK, "b and c fit");
    ok(!fake.seen[0] && fake.seen[1] && fake.seen[2], "a left out");
    ok(!out.fits[0] && out.fits[1], "fits says so");

    reset(&in, "p");
    need.input_tokens = 1u << 30;
    need.output_tokens = 0;
    rc = llmopt_decide(&in, &out);
    ok(rc == LLMOPT_DECIDE_OK, "no window on b and c: they fit anything");

    /* 2. latency SLO: breaching arms out unless all breach */

    reset(&in, "p");
    breach[0] = 1;
    rc = llmopt_decide(&in, &out);
    ok(!fake.budget_seen[0] && fake.budget_seen[1] && fake.budget_seen[2],
       "SLO before budget: the budget sees a left out");
    ok(!fake.seen[0], "the bandit does not see a");

    reset(&in, "p");
    breach[0] = breach[1] = breach[2] = 1;
    rc = llmopt_decide(&in, &out);
    ok(fake.seen[0] && fake.seen[1] && fake.seen[2],
       "every arm in breach: all stay");

    reset(&in, "p");
    breach[0] = breach[1] = 1;
    need.input_tokens = 2000;               /* a does not fit */
    rc = llmopt_decide(&in, &out);
    ok(!fake.seen[0] && !fake.seen[1] && fake.seen[2],
       "c alone fits within the SLO");

    reset(&in, "q");
    in.budget = NULL;
    breach[0] = 1;
    rc = llmopt_decide(&in, &out);
    ok(fake.seen[0], "penalise: the arm in breach stays");
    is_int(fake.budgets, 0, "no budget in q: none asked");

    /* 3. budget */

    reset(&in, "p");
    fake.budget_keep[2] = 0;
    fake.arm = 2;
    rc = llmopt_decide(&in, &out);
    ok(!fake.seen[2], "the budget left c out");
    is_int(out.arm, 0, "so the bandit took another");
    ok(!out.fits[2], "fits after the budget");

    reset(&in, "p");
    fake.budget_rc = LLMOPT_DECLINED;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_BUDGET, "the budget refused");
    is_int(fake.selects, 0, "the bandit not asked");

    /* 4. breakers */

    reset(&in, "p");
    until[1] = in.now_ms + 1000;            /* open */
    rc = llmopt_decide(&in, &out);
    ok(fake.seen[0] && !fake.seen[1] && fake.seen[2], "open b left out");
    is_int(fake.probes, 0, "an open circuit is not probed");

    reset(&in, "p");
    until[0] = in.now_ms - 1;               /* half-open, probe refused */
    until[1] = in.now_ms - 1;               /* half-open, granted */
    fake.probe_grant[1] = 1;
    rc = llmopt_decide(&in, &out);
    is_int(out.arm, 1, "the probe's arm");
    is_int(out.reason, LLMOPT_DECIDE_PROBE, "reason probe");
    ok(out.probe && out.explore, "probe and explore flags");
    is_num(out.propensity, 1.0, 0, "a probe's propensity is 1");
    is_int(fake.probes, 2, "a asked first, then b");
    is_int(fake.selects, 0, "the bandit not asked for a probe");

    reset(&in, "p");
    until[0] = until[1] = in.now_ms - 1;
    fake.probe_grant[0] = fake.probe_grant[1] = 1;
    rc = llmopt_decide(&in, &out);
    is_int(out.arm, 0, "the first half-open arm gets the probe");
    is_int(fake.probes, 1, "one probe claimed at most");

    reset(&in, "p");
    until[0] = until[1] = until[2] = in.now_ms + 1000;
    rc = llmopt_decide(&in, &out);
    ok(fake.seen[0] && fake.seen[1] && fake.seen[2],
       "every circuit open: every fitting arm allowed");

    /* 5. canary */

    reset(&in, "p");
    in.canary_share = 0.25;
    fake.arm = 0;
    for (i = 0, hits = 0; i < 4000; i++) {
        rc = llmopt_decide(&in, &out);

        if (out.canary) {
            hits++;

            if (out.arm != 1 || out.reason != LLMOPT_DECIDE_CANARY
                || out.propensity != 0.25)
            {
                ok(0, "canary: arm b at its share");
                break;
            }

        } else if (out.arm != 0 || out.propensity != 0.8 * 0.75) {
            ok(0, "not canary: the bandit's propensity times 1 - share");
            break;
        }
    }
    ok(hits > 850 && hits < 1150, "canary share about 1/4 (%u of 4000)",
       hits);
    ok(!fake.seen[1], "not the canary's draw: the bandit does not see b");

    reset(&in, "p");
    in.canary_share = 0.25;
    until[0] = until[2] = in.now_ms + 1000;
    rc = llmopt_decide(&in, &out);
    ok(out.canary && out.arm == 1, "the canary alone allowed: chosen");
    is_num(out.propensity, 1.0, 0, "with propensity 1");

    reset(&in, "p");
    in.canary_share = 0.25;
    until[0] = in.now_ms - 1;
    fake.probe_grant[0] = 1;
    rc = llmopt_decide(&in, &out);
    ok(out.probe && !out.canary && out.arm == 0, "a probe beats the canary");

    /* 6. pin */

    reset(&in, "p");
    in.pins[0] = 0;
    in.pins[1] = 2;
    in.n_pins = 2;
    need.input_tokens = 2000;               /* a does not fit */
    rc = llmopt_decide(&in, &out);
    is_int(out.arm, 2, "the first pin that fits");
    is_int(out.reason, LLMOPT_DECIDE_PINNED, "reason pinned");
    is_num(out.propensity, 1.0, 0, "pinned: propensity 1");
    is_int(fake.selects, 0, "the bandit not asked");

    reset(&in, "p");
    in.pins[0] = 1;
    in.n_pins = 1;
    in.canary_share = 1.0;
    until[0] = in.now_ms - 1;
    fake.probe_grant[0] = 1;
    rc = llmopt_decide(&in, &out);
    ok(out.arm == 1 && !out.probe && !out.canary,
       "a pin overrides probe and canary");

    reset(&in, "p");
    in.pins[0] = 1;
    in.n_pins = 1;
    until[1] = in.now_ms + 1000;
    rc = llmopt_decide(&in, &out);
    is_int(out.arm, 1, "a pin may take an open circuit's arm");

    /* 7. fallback and the drift boost */

    reset(&in, "p");
    fake.select_rc = LLMOPT_DECLINED;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_OK, "fallback is a decision");
    is_int(out.arm, 2, "the fallback arm");
    is_int(out.reason, LLMOPT_DECIDE_FALLBACK, "reason fallback");
    is_num(out.propensity, 1.0, 0, "fallback: propensity 1");

    reset(&in, "p");
    in.explore_until_ms = in.now_ms + 1;
    fake.arm = 0;
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < 3000; i++) {
        rc = llmopt_decide(&in, &out);
        seen[out.arm]++;

        if (out.arm == 0
            && fabs(out.propensity - (0.5 * 0.8 + 0.5 / 3)) > 1e-12)
        {
            ok(0, "the bandit's arm: mixture propensity (%g)",
               out.propensity);
            break;
        }

        if (out.arm != 0
            && (fabs(out.propensity - 0.5 / 3) > 1e-12 || !out.explore))
        {
            ok(0, "a boosted arm: eps / n, explore (%g)", out.propensity);
            break;
        }
    }
    ok(i == 3000, "boost propensities: mixture for the bandit's, eps/n else");
    ok(seen[1] > 400 && seen[1] < 600 && seen[2] > 400 && seen[2] < 600,
       "boost: each other arm about eps/n of the time (%u, %u)",
       seen[1], seen[2]);

    reset(&in, "p");
    in.explore_until_ms = in.now_ms;        /* the window is over */
    for (i = 0; i < 200; i++) {
        rc = llmopt_decide(&in, &out);
        if (out.arm != 0) {
            break;
        }
    }
    is_int(i, 200, "no boost after the window");

    /* 8. shadow */

    reset(&in, "p");
    in.shadow = 1;
    fake.arm = 1;
    rc = llmopt_decide(&in, &out);
    ok(out.shadow && out.shadow_arm == 1, "shadow: the decision is kept");
    ok(out.arm == 2 && out.propensity == 1.0 && !out.explore,
       "shadow: the fallback serves");

    reset(&in, "p");
    in.shadow = 1;
    in.pins[0] = 0;
    in.n_pins = 1;
    rc = llmopt_decide(&in, &out);
    ok(!out.shadow && out.arm == 0, "a pinned request is not shadowed");

    /* failover */

    memset(failed, 0, sizeof(failed));
    failed[1] = 1;

    reset(&in, "p");
    in.failed = failed;
    in.canary_share = 1.0;
    in.pins[0] = 1;
    in.n_pins = 1;
    in.shadow = 1;
    in.explore_until_ms = in.now_ms + 1;
    breach[0] = 1;
    fake.arm = 1;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_OK, "failover decided");
    ok(fake.seen[0] && !fake.seen[1] && fake.seen[2],
       "the failed arm out; no SLO mask, no canary");
    ok(out.arm == 2 && out.reason == LLMOPT_DECIDE_BANDIT && !out.shadow,
       "no pin, no shadow: the bandit's");
    is_num(out.propensity, 0.8, 1e-12, "no boost, no canary share");
    is_int(fake.budgets, 0, "no budget asked");

    reset(&in, "p");
    in.failed = failed;
    until[0] = in.now_ms - 1;
    fake.probe_grant[0] = 1;
    rc = llmopt_decide(&in, &out);
    ok(!out.probe && out.arm == 2 && fake.probes == 0,
       "failover: no probe is claimed");

    reset(&in, "p");
    in.failed = failed;
    until[0] = until[2] = in.now_ms + 1000;
    rc = llmopt_decide(&in, &out);
    ok(rc == LLMOPT_DECIDE_OK && out.arm != 1,
       "failover, the others open: one of them all the same");

    reset(&in, "p");
    in.failed = failed;
    need.input_tokens = 2000;
    failed[2] = 1;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_NONE, "failover: no other arm fits");

    reset(&in, "p");
    in.failed = failed;
    failed[2] = 0;
    fake.select_rc = LLMOPT_DECLINED;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_NONE, "failover: no fallback arm");

    /* unfit */

    reset(&in, "r");
    need.input_tokens = 2000;
    rc = llmopt_decide(&in, &out);
    is_int(rc, LLMOPT_DECIDE_UNFIT, "no arm fits");
    is_int(out.why, LLMOPT_GUARD_CONTEXT, "why: the context window");
    is_int(fake.budgets + fake.selects, 0, "nothing else asked");

    test_free_all();

    return tap_done();
}
