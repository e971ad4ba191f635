/*
 * Copyright (C) llmopt authors
 *
 * The variant learner: Thompson's choice and its logged propensity
 * against the frequency of its choices, the dialects, the update, and
 * the A/B report against the control in seeded simulations -- a known
 * effect found (the right winner in >= 95 % of 200 runs), A/A runs
 * stopping at most 5 % of the time.  The composition with the arm's
 * choice is through llmopt_decide(), as nginx and the replay call it.
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llmopt_decide.h"
#include "llmopt_variant.h"
#include "tap.h"
#include "test_alloc.h"


#define TEST_DRAWS     100000
#define TEST_RUNS      200
#define TEST_HORIZON   30000
#define TEST_LEVEL     0.05


static void test_propensity(unsigned n, const double *counts,
    const double *sums, const char *name);
static void test_dialects(void);
static void test_learn(void);
static void test_ab(void);
static unsigned test_run(double p_control, double p_variant, uint64_t seed,
    int *winner);
static void test_decide(void);


static llmopt_variant_t  test_variants[LLMOPT_MAX_VARIANTS];


int
main(void)
{
    unsigned  v;

    static const double  c2[2] = { 10, 14 }, s2[2] = { 6, 7 };
    static const double  c3[3] = { 0, 30, 12 }, s3[3] = { 0, 21, 8 };
    static const double  c5[5] = { 40, 40, 8, 2, 100 },
                         s5[5] = { 20, 22, 5, 0, 57 };
    static const double  cs[3] = { 2, 5000, 3000 },
                         ss[3] = { 1, 2500, 1480 };

    for (v = 0; v < LLMOPT_MAX_VARIANTS; v++) {
        test_variants[v].dialects = LLMOPT_VARIANT_DIALECTS;
        test_variants[v].index = v;
    }

    test_propensity(2, c2, s2, "two variants (closed form)");
    test_propensity(3, c3, s3, "three variants, one new");
    test_propensity(5, c5, s5, "five variants");
    test_propensity(3, cs, ss, "a new variant beside two well known");
    test_dialects();
    test_learn();
    test_ab();
    test_decide();

    test_free_all();

    return tap_done();
}


/* the logged propensity of each choice is the frequency of that choice */

static void
test_propensity(unsigned n, const double *counts, const double *sums,
    const char *name)
{
    double           p, logged[LLMOPT_MAX_VARIANTS], worst;
    unsigned         i, v, chosen;
    llmopt_rng_t     rng;
    llmopt_variant_tally_t  row[LLMOPT_MAX_VARIANTS];
    double           freq[LLMOPT_MAX_VARIANTS];

    memset(row, 0, sizeof(row));
    memset(freq, 0, sizeof(freq));
    memset(logged, 0, sizeof(logged));

    for (v = 0; v < n; v++) {
        row[v].reward.n = counts[v];
        row[v].reward.sum = sums[v];
        row[v].reward.sq = sums[v];
    }

    llmopt_rng_seed(&rng, 7);

    for (i = 0; i < TEST_DRAWS; i++) {
        if (llmopt_variant_select(test_variants, n, row,
                                  LLMOPT_DIALECT_OPENAI, &rng, &chosen, &p)
            != LLMOPT_OK)
        {
            break;
        }

        freq[chosen] += 1.0 / TEST_DRAWS;

        if (logged[chosen] == 0) {
            logged[chosen] = p;

        } else if (fabs(logged[chosen] - p) > 1e-12) {
            logged[chosen] = -1;        /* the same row, another value */
        }
    }

    is_int(i, TEST_DRAWS, "%s: always chooses", name);

    worst = 0;

    for (v = 0; v < n; v++) {
        printf("# %s: variant %u chosen %.4f, logged %.4f\n", name, v,
               freq[v], logged[v]);

        if (freq[v] > 0 && fabs(freq[v] - logged[v]) > worst) {
            worst = fabs(freq[v] - logged[v]);
        }

        if (freq[v] > 0 && logged[v] < 0) {
            worst = 1;
        }
    }

    /* 100000 draws: a standard error of at most 0.0016 */

    ok(worst < 0.006, "%s: propensities match the choices (worst %.4f)",
       name, worst);
}


static void
test_dialects(void)
{
    double           p;
    unsigned         i, chosen, wrong;
    llmopt_rng_t     rng;
    llmopt_variant_tally_t  row[3];

    memset(row, 0, sizeof(row));
    llmopt_rng_seed(&rng, 3);

    /* variant 1 can only be written in OpenAI's dialect */

    test_variants[1].dialects = 1u << LLMOPT_DIALECT_OPENAI;
    row[1].reward.n = 100;
    row[1].reward.sum = 99;             /* by far the best */

    wrong = 0;

    for (i = 0; i < 1000; i++) {
        (void) llmopt_variant_select(test_variants, 3, row,
                                     LLMOPT_DIALECT_ANTHROPIC, &rng, &chosen,
                                     &p);
        wrong += chosen == 1;
    }

    is_int(wrong, 0, "a variant the dialect cannot express is never chosen");

    test_variants[0].dialects = 1u << LLMOPT_DIALECT_OPENAI;
    test_variants[2].dialects = 1u << LLMOPT_DIALECT_OPENAI;

    is_int(llmopt_variant_select(test_variants, 3, row,
                                 LLMOPT_DIALECT_ANTHROPIC, &rng, &chosen, &p),
           LLMOPT_DECLINED, "none can be written: declined");

    for (i = 0; i < 3; i++) {
        test_variants[i].dialects = LLMOPT_VARIANT_DIALECTS;
    }

    test_variants[1].dialects = 1u << LLMOPT_DIALECT_OPENAI;
    (void) llmopt_variant_select(test_variants, 2, row,
                                 LLMOPT_DIALECT_ANTHROPIC, &rng, &chosen, &p);
    ok(chosen == 0 && p == 1.0, "one left: it, propensity 1");
    test_variants[1].dialects = LLMOPT_VARIANT_DIALECTS;
}


static void
test_learn(void)
{
    llmopt_variant_tally_t  row[2];

    memset(row, 0, sizeof(row));
    llmopt_variant_learn(row, 2, 0, 0.5, 0.5);
    llmopt_variant_learn(row, 2, 0, 2, 0);
    llmopt_variant_learn(row, 2, 0, NAN, 1);
    llmopt_variant_learn(row, 2, 0, -1, -1);

    ok(row[0].reward.n == 4 && row[0].reward.sum == 1.5
       && row[0].reward.sq == 1.25, "rewards clamped to [0, 1], NaN as 0");

    /* terms: 0 (r at the mean 0.5), none (propensity 0), then m0 =
       (0.5 + 1) / 3 = 0.5, r = 0 at p 1: 0.5; none (propensity -1) */

    ok(fabs(row[1].aipw - 0.5) < 1e-12 && row[1].reward.n == 0,
       "only answers with a known propensity add a term");

    memset(row, 0, sizeof(row));
    llmopt_variant_learn(row, 2, 1, 1, 0.25);
    ok(fabs(row[1].aipw - 2.0) < 1e-12 && fabs(row[1].aipw_sq - 4.0) < 1e-12,
       "a variant's answer: (1 - 0.5) / 0.25 = 2");
    llmopt_variant_learn(row, 2, 0, 0, 0.5);
    ok(fabs(row[1].aipw - (2.0 + 1.0 / 6 + 1.0)) < 1e-12,
       "then the control's: (2/3 - 1/2) + (1/2) / 0.5");
    llmopt_variant_learn(row, 2, 5, 0, 0.5);
    ok(row[0].reward.n == 1 && row[1].reward.n == 1,
       "a variant out of range is not learned");
}


/*
 * One run: Thompson allocates between the control (index 0) and a
 * variant with Bernoulli rewards; after each answer the always-valid
 * p-value is read, the run stops below TEST_LEVEL.  Returns the answers
 * it took (TEST_HORIZON: it never stopped) and the winner's sign.
 */

static unsigned
test_run(double p_control, double p_variant, uint64_t seed, int *winner)
{
    double               p, reward;
    unsigned             i, v;
    llmopt_rng_t         rng;
    llmopt_variant_tally_t  row[LLMOPT_MAX_VARIANTS];
    llmopt_variant_ab_t     ab;

    memset(row, 0, sizeof(row));
    llmopt_rng_seed(&rng, seed);
    *winner = 0;

    for (i = 1; i <= TEST_HORIZON; i++) {
        (void) llmopt_variant_select(test_variants, 2, row,
                                     LLMOPT_DIALECT_OPENAI, &rng, &v, &p);

        reward = llmopt_rng_uniform(&rng) < (v ? p_variant : p_control)
                 ? 1 : 0;
        llmopt_variant_learn(row, 2, v, reward, p);

        llmopt_variant_ab(row, 1, 1, &ab);

        if (ab.p_always < TEST_LEVEL) {
            *winner = ab.diff > 0 ? 1 : -1;
            return i;
        }
    }

    return TEST_HORIZON;
}


static void
test_ab(void)
{
    int       winner;
    unsigned  r, n, right, wrong, stopped, total;

    /* a known effect: the variant's answers are good 60 % of the time,
       the control's 50 % */

    right = 0;
    wrong = 0;
    total = 0;

    for (r = 0; r < TEST_RUNS; r++) {
        n = test_run(0.5, 0.6, 1000 + r, &winner);
        right += winner == 1;
        wrong += winner == -1;
        total += n;
    }

    printf("# A/B 0.5 vs 0.6: right winner in %u of %d runs, wrong %u, "
           "mean stop after %u answers\n", right, TEST_RUNS, wrong,
           total / TEST_RUNS);

    ok(right >= TEST_RUNS * 95 / 100,
       "A/B: stops at the right winner in %u of %d runs (>= 95 %%)", right,
       TEST_RUNS);

    /* A/A: the same variant twice */

    stopped = 0;

    for (r = 0; r < TEST_RUNS; r++) {
        n = test_run(0.5, 0.5, 5000 + r, &winner);
        stopped += winner != 0;
    }

    printf("# A/A 0.5 vs 0.5: stopped in %u of %d runs within %d answers\n",
           stopped, TEST_RUNS, TEST_HORIZON);

    ok(stopped <= TEST_RUNS * 5 / 100,
       "A/A: a false positive in %u of %d runs (<= 5 %%)", stopped,
       TEST_RUNS);
}


/* model first, then the variant of that model's row */

static int
test_select_arm1(void *data, const double *x, const unsigned char *allowed,
    llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    choice->arm = 1;
    choice->propensity = 0.75;
    choice->explore = 0;

    return LLMOPT_OK;
}


static void
test_decide(void)
{
    unsigned                i, counts[3];
    llmopt_err_t            err;
    llmopt_rng_t            rng;
    llmopt_catalog_t        cat;
    llmopt_decide_in_t      in;
    llmopt_decide_out_t     out;
    llmopt_guard_need_t     need;
    const llmopt_policy_t  *policy;
    uint64_t                until[2];
    unsigned char           breach[2];
    llmopt_variant_tally_t  tally[LLMOPT_VARIANT_TALLY(2)];
    double                  x[8];

    static const char  yaml[] =
        "models:\n"
        "  m: {upstream: u, price: {input: 1, output: 2}}\n"
        "  n: {upstream: u, price: {input: 1, output: 2}}\n"
        "policies:\n"
        "  p:\n"
        "    algorithm: thompson\n"
        "    arms: [m, n]\n"
        "    variants: {control: ~, a: {append: A}, b: {system: B}}\n";

    memset(&cat, 0, sizeof(cat));

    if (llmopt_catalog_load_string(&cat, "t", yaml, sizeof(yaml) - 1,
                                   &test_allocator, &err)
        != LLMOPT_OK)
    {
        ok(0, "catalog: %s", err.msg);
        return;
    }

    policy = &cat.policies[0];

    /* arm 1's row says variant b, arm 0's says variant a */

    memset(tally, 0, sizeof(tally));
    tally[0 * LLMOPT_MAX_VARIANTS + 1].reward.n = 500;
    tally[0 * LLMOPT_MAX_VARIANTS + 1].reward.sum = 450;
    tally[1 * LLMOPT_MAX_VARIANTS + 2].reward.n = 500;
    tally[1 * LLMOPT_MAX_VARIANTS + 2].reward.sum = 450;

    memset(&in, 0, sizeof(in));
    memset(&need, 0, sizeof(need));
    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));
    memset(x, 0, sizeof(x));
    memset(counts, 0, sizeof(counts));
    llmopt_rng_seed(&rng, 11);

    in.catalog = &cat;
    in.policy = policy;
    in.need = &need;
    in.x = x;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.variant_tally = tally;
    in.rng = &rng;
    in.select = test_select_arm1;

    for (i = 0; i < 1000; i++) {
        if (llmopt_decide(&in, &out) == LLMOPT_DECIDE_OK && out.arm == 1
            && out.variant >= 0 && out.variant < 3)
        {
            counts[out.variant]++;
        }
    }

    ok(counts[2] > 700, "the variant is chosen on the arm's row (%u of 1000 "
       "b)", counts[2]);
    ok(out.propensity == 0.75 && out.variant_propensity > 0
       && out.variant_propensity <= 1,
       "the arm's propensity is its own, the variant's apart");

    in.variant_tally = NULL;
    (void) llmopt_decide(&in, &out);
    ok(out.variant >= 0 && out.variant_propensity > 0.3
       && out.variant_propensity < 0.36,
       "no samples: the prior, each of three about 1/3 (%.3f)",
       out.variant_propensity);

    in.shadow = 1;
    in.fallback = 0;
    (void) llmopt_decide(&in, &out);
    ok(out.shadow && out.variant == -1,
       "shadow: no variant, the body goes as it came");
    in.shadow = 0;

    cat.policies[0].n_variants = 0;
    (void) llmopt_decide(&in, &out);
    ok(out.variant == -1, "no variants: variant -1");
}
