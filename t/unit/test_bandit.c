/*
 * Copyright (C) llmopt authors
 *
 * The bandits: names and configuration, each algorithm learning a small
 * synthetic problem, masks, propensities, Sherman-Morrison against a
 * rebuild, merge, forgetting, torn blocks.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"


static void *block_for(llmopt_bandit_conf_t *conf, llmopt_algorithm_e alg,
    unsigned n_arms, unsigned d);
static double bernoulli(llmopt_rng_t *rng, double p);
static double contextual_p(unsigned arm, double x1);
static unsigned greedy_linear(llmopt_bandit_conf_t *conf, void *block,
    const double *x);
static double max_diff(const double *a, const double *b, size_t n);
static void test_names(void);
static void test_conf(void);
static void test_layout(void);
static void test_static(void);
static void test_learns_contextual(llmopt_algorithm_e alg);
static void test_learns_context_free(llmopt_algorithm_e alg, double share);
static void test_mask(void);
static void test_propensities(void);
static void test_floor(void);
static void test_decay(void);
static void test_lock_in(llmopt_algorithm_e alg);
static void test_epsilon_untried(void);
static void test_ucb1_untried(void);
static void test_sherman_morrison(void);
static void test_rebuild(void);
static void test_merge(llmopt_algorithm_e alg);
static void test_prior_mean(void);
static void test_forgetting(void);
static void test_bad_input(void);
static void test_torn(void);
static void test_forget_arm(void);
static void test_copy_arm(void);


int
main(void)
{
    test_names();
    test_conf();
    test_layout();
    test_static();
    test_learns_contextual(LLMOPT_ALG_LINUCB);
    test_learns_contextual(LLMOPT_ALG_LIN_TS);
    test_learns_context_free(LLMOPT_ALG_THOMPSON, 0.9);
    test_learns_context_free(LLMOPT_ALG_UCB1, 0.9);
    test_learns_context_free(LLMOPT_ALG_EPSILON_GREEDY, 0.85);
    test_learns_context_free(LLMOPT_ALG_LINUCB, 0.9);
    test_mask();
    test_propensities();
    test_floor();
    test_decay();
    test_lock_in(LLMOPT_ALG_LINUCB);
    test_epsilon_untried();
    test_ucb1_untried();
    test_sherman_morrison();
    test_rebuild();
    test_merge(LLMOPT_ALG_LINUCB);
    test_merge(LLMOPT_ALG_THOMPSON);
    test_forgetting();
    test_prior_mean();
    test_bad_input();
    test_torn();
    test_forget_arm();
    test_copy_arm();

    return tap_done();
}


static void *
block_for(llmopt_bandit_conf_t *conf, llmopt_algorithm_e alg,
    unsigned n_arms, unsigned d)
{
    void  *block;

    llmopt_bandit_conf_defaults(conf);
    conf->algorithm = alg;
    conf->n_arms = n_arms;
    conf->d = d;

    block = malloc(llmopt_bandit_size(conf));
    if (block == NULL) {
        abort();
    }

    llmopt_bandit_init(conf, block);

    return block;
}


static double
bernoulli(llmopt_rng_t *rng, double p)
{
    return llmopt_rng_uniform(rng) < p ? 1.0 : 0.0;
}


/* arm 0 is better when x1 = 1, arm 1 otherwise */

static double
contextual_p(unsigned arm, double x1)
{
    if (arm == 0) {
        return x1 > 0.5 ? 0.8 : 0.2;
    }

    return x1 > 0.5 ? 0.4 : 0.7;
}


static unsigned
greedy_linear(llmopt_bandit_conf_t *conf, void *block, const double *x)
{
    double               best, v;
    unsigned             arm, pick;
    llmopt_bandit_arm_t  rec;

    pick = 0;
    best = -INFINITY;

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, block, arm, &rec);
        v = rec.theta[0] * x[0] + rec.theta[1] * x[1];

        if (v > best) {
            best = v;
            pick = arm;
        }
    }

    return pick;
}


static double
max_diff(const double *a, const double *b, size_t n)
{
    size_t  i;
    double  w;

    w = 0;

    for (i = 0; i < n; i++) {
        if (!(fabs(a[i] - b[i]) <= w)) {
            w = fabs(a[i] - b[i]);
        }
    }

    return w;
}


static void
test_names(void)
{
    unsigned     i, round_trip;
    const char  *name;

    round_trip = 1;

    for (i = LLMOPT_ALG_STATIC; i <= LLMOPT_ALG_EPSILON_GREEDY; i++) {
        name = llmopt_algorithm_name((llmopt_algorithm_e) i);
        round_trip &= llmopt_algorithm_lookup(name, strlen(name)) == (int) i;
    }

    ok(round_trip, "every algorithm name looks up to itself");
    is_int(llmopt_algorithm_lookup("lin_ts", 6), LLMOPT_ALG_LIN_TS,
           "lookup lin_ts");
    is_int(llmopt_algorithm_lookup("epsilon_greedy", 14),
           LLMOPT_ALG_EPSILON_GREEDY, "lookup epsilon_greedy");
    is_int(llmopt_algorithm_lookup("linucbx", 7), -1, "unknown name");
    is_int(llmopt_algorithm_lookup("lin", 3), -1, "prefix is not a name");
    is_str(llmopt_algorithm_name((llmopt_algorithm_e) 99), "unknown",
           "name of an unknown algorithm");
}


static void
test_conf(void)
{
    llmopt_err_t          err;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);

    ok(conf.algorithm == LLMOPT_ALG_LINUCB && conf.alpha == 1.0
       && conf.lambda == 1.0 && conf.epsilon == 0.1
       && conf.prior_alpha == 1.0 && conf.prior_beta == 1.0
       && conf.exploration_floor == 0
       && conf.exploration_decay == LLMOPT_BANDIT_DECAY
       && conf.forgetting == 1.0
       && conf.seed == 0 && conf.weights[0] == 1.0
       && conf.weights[LLMOPT_MAX_ARMS - 1] == 1.0,
       "defaults as documented");

    conf.n_arms = 4;
    conf.d = 16;
    is_int(llmopt_bandit_conf_check(&conf, &err), LLMOPT_OK,
           "defaults with arms and d pass the check");

    conf.lambda = 0;
    is_int(llmopt_bandit_conf_check(&conf, &err), LLMOPT_ERROR,
           "lambda 0 refused");
    ok(strstr(err.msg, "lambda") != NULL, "message names lambda: %s",
       err.msg);

    conf.lambda = 1;
    conf.d = 65;
    is_int(llmopt_bandit_conf_check(&conf, NULL), LLMOPT_ERROR,
           "d 65 refused for linucb");

    conf.algorithm = LLMOPT_ALG_THOMPSON;
    is_int(llmopt_bandit_conf_check(&conf, NULL), LLMOPT_OK,
           "d does not matter to thompson");

    conf.n_arms = LLMOPT_MAX_ARMS + 1;
    is_int(llmopt_bandit_conf_check(&conf, NULL), LLMOPT_ERROR,
           "too many arms refused");

    conf.n_arms = 2;
    conf.forgetting = 0;
    is_int(llmopt_bandit_conf_check(&conf, NULL), LLMOPT_ERROR,
           "forgetting 0 refused");
}


static void
test_layout(void)
{
    void                  *block;
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_conf_t   conf, other;

    block = block_for(&conf, LLMOPT_ALG_LINUCB, 3, 4);

    is_int(llmopt_bandit_size(&conf), 40 + 3 * (4 + 32 + 8) * 8,
           "linucb block size");
    is_int(llmopt_bandit_additive_doubles(&conf), 4 + 16 + 4,
           "linucb additive doubles");
    is_int(llmopt_bandit_check(&conf, block), LLMOPT_OK, "block checks");

    llmopt_bandit_arm(&conf, block, 2, &rec);
    ok(rec.a[0] == 1.0 && rec.a[1] == 0 && rec.a_inv[5] == 1.0
       && rec.theta[3] == 0 && *rec.n == 0,
       "prior: A = I, A^-1 = I, theta = 0");
    ok((char *) (rec.theta + 4) == (char *) block + llmopt_bandit_size(&conf),
       "last arm ends at the block's end");

    other = conf;
    other.d = 5;
    is_int(llmopt_bandit_check(&other, block), LLMOPT_DECLINED,
           "another d is refused");

    other = conf;
    other.lambda = 2;
    is_int(llmopt_bandit_check(&other, block), LLMOPT_DECLINED,
           "another lambda is refused");

    free(block);

    block = block_for(&conf, LLMOPT_ALG_THOMPSON, 5, 16);
    is_int(llmopt_bandit_size(&conf), 40 + 5 * 4 * 8,
           "thompson keeps no matrices");
    llmopt_bandit_arm(&conf, block, 0, &rec);
    ok(rec.a == NULL && rec.theta == NULL, "no matrix in the view");
    free(block);
}


static void
test_static(void)
{
    int                    i, rc;
    void                  *block;
    double                 x[1] = { 1 }, sum;
    unsigned               counts[4] = { 0 }, arm, exact;
    unsigned char          mask[4] = { 1, 1, 0, 1 }, none[4] = { 0 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    block = block_for(&conf, LLMOPT_ALG_STATIC, 4, 1);
    conf.weights[0] = 1;
    conf.weights[1] = 2;
    conf.weights[2] = 5;
    conf.weights[3] = 0;

    llmopt_rng_seed(&rng, 1);
    exact = 1;

    for (i = 0; i < 40000; i++) {
        llmopt_bandit_select(&conf, block, x, mask, &rng, &choice);
        counts[choice.arm]++;
        exact &= fabs(choice.propensity - conf.weights[choice.arm] / 3.0)
                 < 1e-12;
    }

    is_num(counts[0] / 40000.0, 1.0 / 3, 0.01, "static: weight 1 of 3");
    is_num(counts[1] / 40000.0, 2.0 / 3, 0.01, "static: weight 2 of 3");
    ok(counts[2] == 0 && counts[3] == 0,
       "static: masked and zero-weight arms never chosen");
    ok(exact, "static: propensity is weight / allowed total");

    sum = 0;
    for (arm = 0; arm < 4; arm++) {
        sum += llmopt_bandit_propensity(&conf, block, x, NULL, arm, &rng, 0);
    }

    is_num(sum, 1.0, 1e-12, "static: propensities sum to 1");

    mask[0] = 0;
    mask[1] = 0;
    rc = llmopt_bandit_select(&conf, block, x, mask, &rng, &choice);
    is_int(rc, LLMOPT_DECLINED, "static: only zero weights allowed");

    rc = llmopt_bandit_select(&conf, block, x, none, &rng, &choice);
    is_int(rc, LLMOPT_DECLINED, "static: nothing allowed");

    free(block);
}


/*
 * The contextual problem: x = (1, x1), x1 in {0, 1} at random, Bernoulli
 * rewards from contextual_p().  After 3000 rounds the greedy pick must be
 * right for both contexts and most online picks right.
 */

static void
test_learns_contextual(llmopt_algorithm_e alg)
{
    int                    t, right, late;
    void                  *block;
    double                 x[2];
    unsigned               best;
    llmopt_rng_t           rng, world;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    block = block_for(&conf, alg, 2, 2);
    conf.alpha = alg == LLMOPT_ALG_LIN_TS ? 0.5 : 1.0;

    llmopt_rng_seed(&rng, 11);
    llmopt_rng_seed(&world, 12);

    right = 0;
    late = 0;

    for (t = 0; t < 3000; t++) {
        x[0] = 1;
        x[1] = llmopt_rng_uniform(&world) < 0.5 ? 1 : 0;

        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);

        best = x[1] > 0.5 ? 0 : 1;

        if (t >= 2000) {
            late++;
            right += choice.arm == best;
        }

        llmopt_bandit_update(&conf, block, choice.arm, x,
                             bernoulli(&world,
                                       contextual_p(choice.arm, x[1])));
    }

    x[0] = 1;
    x[1] = 1;
    is_int(greedy_linear(&conf, block, x), 0,
           "%s: greedy picks arm 0 when x1 = 1", llmopt_algorithm_name(alg));
    x[1] = 0;
    is_int(greedy_linear(&conf, block, x), 1,
           "%s: greedy picks arm 1 when x1 = 0", llmopt_algorithm_name(alg));
    ok(right >= 0.9 * late, "%s: %d of the last %d picks right",
       llmopt_algorithm_name(alg), right, late);
    is_int(llmopt_bandit_updates(block), 3000, "%s: 3000 updates counted",
           llmopt_algorithm_name(alg));

    free(block);
}


/* three arms, Bernoulli 0.2 / 0.5 / 0.8, no context (x = bias) */

static void
test_learns_context_free(llmopt_algorithm_e alg, double share)
{
    int                    t, best, late;
    void                  *block;
    double                 x[1] = { 1 }, p[3] = { 0.2, 0.5, 0.8 };
    llmopt_rng_t           rng, world;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    block = block_for(&conf, alg, 3, 1);

    llmopt_rng_seed(&rng, 21);
    llmopt_rng_seed(&world, 22);

    best = 0;
    late = 0;

    for (t = 0; t < 4000; t++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);

        if (t >= 3000) {
            late++;
            best += choice.arm == 2;
        }

        llmopt_bandit_update(&conf, block, choice.arm, x,
                             bernoulli(&world, p[choice.arm]));
    }

    ok(best >= share * late, "%s: %d of the last %d picks the best arm",
       llmopt_algorithm_name(alg), best, late);

    ok(llmopt_bandit_arm_mean(&conf, block, 2) > 0.7
       && llmopt_bandit_arm_mean(&conf, block, 2) < 0.9,
       "%s: best arm's mean near 0.8 (%.3f)", llmopt_algorithm_name(alg),
       llmopt_bandit_arm_mean(&conf, block, 2));

    free(block);
}


static void
test_mask(void)
{
    int                    i, rc, respected, declined;
    void                  *block;
    double                 x[2] = { 1, 0.5 };
    unsigned               alg;
    unsigned char          mask[4] = { 0, 0, 1, 0 }, none[4] = { 0 };
    unsigned char          two[4] = { 1, 0, 0, 1 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 31);

    respected = 1;
    declined = 1;

    for (alg = LLMOPT_ALG_STATIC; alg <= LLMOPT_ALG_EPSILON_GREEDY; alg++) {
        block = block_for(&conf, (llmopt_algorithm_e) alg, 4, 2);
        conf.exploration_floor = 0.2;

        /* make the masked-out arm 1 look best */

        for (i = 0; i < 200; i++) {
            llmopt_bandit_update(&conf, block, 1, x, 1.0);
            llmopt_bandit_update(&conf, block, 2, x, 0.0);
            llmopt_bandit_update(&conf, block, i % 4, x, 0.1);
        }

        for (i = 0; i < 500; i++) {
            rc = llmopt_bandit_select(&conf, block, x, mask, &rng, &choice);
            respected &= rc == LLMOPT_OK && choice.arm == 2;

            rc = llmopt_bandit_select(&conf, block, x, two, &rng, &choice);
            respected &= rc == LLMOPT_OK
                         && (choice.arm == 0 || choice.arm == 3);
        }

        rc = llmopt_bandit_select(&conf, block, x, none, &rng, &choice);
        declined &= rc == LLMOPT_DECLINED;

        free(block);
    }

    ok(respected, "every algorithm respects the mask, floor included");
    ok(declined, "every algorithm declines when nothing is allowed");
}


static void
test_propensities(void)
{
    int                    i, t, consistent;
    void                  *block;
    double                 x[2] = { 1, 1 }, sum, p[4], freq[4];
    unsigned               arm, counts[4];
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 41);

    /* epsilon_greedy: exact, sums to 1, matches frequencies */

    block = block_for(&conf, LLMOPT_ALG_EPSILON_GREEDY, 4, 2);
    conf.epsilon = 0.2;
    conf.exploration_decay = 0;         /* the algorithm's own: test_decay */

    for (i = 0; i < 50; i++) {
        llmopt_bandit_update(&conf, block, i % 4, x, (i % 4) * 0.25);
    }

    sum = 0;
    for (arm = 0; arm < 4; arm++) {
        p[arm] = llmopt_bandit_propensity(&conf, block, x, NULL, arm, &rng,
                                          0);
        sum += p[arm];
        counts[arm] = 0;
    }

    is_num(sum, 1.0, 1e-12, "epsilon_greedy: propensities sum to 1");
    is_num(p[3], 0.8 + 0.05, 1e-12, "epsilon_greedy: greedy 1 - e + e/k");
    is_num(p[0], 0.05, 1e-12, "epsilon_greedy: others e/k");

    consistent = 1;

    for (t = 0; t < 40000; t++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
        counts[choice.arm]++;
        consistent &= choice.propensity == p[choice.arm];
    }

    ok(consistent, "epsilon_greedy: select reports the same propensity");

    for (arm = 0; arm < 4; arm++) {
        freq[arm] = counts[arm] / 40000.0;
    }

    ok(fabs(freq[3] - p[3]) < 0.01 && fabs(freq[0] - p[0]) < 0.01,
       "epsilon_greedy: frequencies match propensities");

    free(block);

    /* linucb without floor: deterministic */

    block = block_for(&conf, LLMOPT_ALG_LINUCB, 3, 2);
    conf.exploration_decay = 0;
    llmopt_bandit_update(&conf, block, 1, x, 1.0);
    llmopt_bandit_update(&conf, block, 0, x, 0.0);
    llmopt_bandit_update(&conf, block, 2, x, 0.0);

    llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
    ok(choice.arm == 1 && choice.propensity == 1.0 && !choice.explore,
       "linucb: the best arm with propensity 1");
    is_num(llmopt_bandit_propensity(&conf, block, x, NULL, 0, &rng, 0), 0, 0,
           "linucb: another arm has propensity 0");
    free(block);

    /* lin_ts: unknown at select, estimated by the helper */

    block = block_for(&conf, LLMOPT_ALG_LIN_TS, 3, 2);

    for (i = 0; i < 30; i++) {
        llmopt_bandit_update(&conf, block, i % 3, x, (i % 3) * 0.3);
    }

    llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
    is_num(choice.propensity, 0, 0, "lin_ts: select reports 0 (unknown)");

    sum = 0;
    for (arm = 0; arm < 3; arm++) {
        p[arm] = llmopt_bandit_propensity(&conf, block, x, NULL, arm, &rng,
                                          4000);
        sum += p[arm];
        counts[arm] = 0;
    }

    is_num(sum, 1.0, 0.05, "lin_ts: estimated propensities sum to ~1");

    for (t = 0; t < 20000; t++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
        counts[choice.arm]++;
    }

    is_num(counts[2] / 20000.0, p[2], 0.03,
           "lin_ts: estimate matches the frequency (%.3f)", p[2]);
    ok(llmopt_bandit_propensity(&conf, block, x, NULL, 0, &rng, 0) < 0,
       "lin_ts: no samples, no estimate");

    free(block);
}


/*
 * The decaying floor: c / sqrt(n) of uniform picks after n answers (all
 * arms), counted in the propensity exactly; none for static.
 */

static void
test_decay(void)
{
    int                    t, consistent;
    void                  *block;
    double                 x[1] = { 1 }, f, sum;
    unsigned               arm, counts[4] = { 0 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 52);

    block = block_for(&conf, LLMOPT_ALG_LINUCB, 4, 1);
    conf.exploration_decay = 0.8;

    for (t = 0; t < 25; t++) {
        llmopt_bandit_update(&conf, block, 2, x, 1.0);
        llmopt_bandit_update(&conf, block, t % 4 == 2 ? 0 : t % 4, x, 0.0);
        llmopt_bandit_update(&conf, block, 1, x, 0.0);
        llmopt_bandit_update(&conf, block, 3, x, 0.0);
    }

    f = 0.8 / sqrt(100.0);              /* 100 answers */
    consistent = 1;

    for (t = 0; t < 40000; t++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
        counts[choice.arm]++;
        consistent &= choice.arm == 2
                      ? fabs(choice.propensity - (1 - f + f / 4)) < 1e-12
                      : fabs(choice.propensity - f / 4) < 1e-12;
    }

    ok(consistent, "decay: select's propensity is (1 - f) p + f / k, "
       "f = c / sqrt(n)");
    is_num(counts[0] / 40000.0, f / 4, 0.004, "decay: each other arm ~f/k");

    sum = 0;
    for (arm = 0; arm < 4; arm++) {
        sum += llmopt_bandit_propensity(&conf, block, x, NULL, arm, &rng, 0);
    }

    is_num(sum, 1.0, 1e-12, "decay: propensities sum to 1");

    /* a floor above the decayed one wins */

    conf.exploration_floor = 0.2;
    is_num(llmopt_bandit_propensity(&conf, block, x, NULL, 0, &rng, 0),
           0.2 / 4, 1e-12, "decay: the larger of floor and c / sqrt(n)");

    free(block);

    /* static: its weights are the policy, no decay */

    block = block_for(&conf, LLMOPT_ALG_STATIC, 2, 1);
    conf.weights[0] = 1;
    conf.weights[1] = 0;
    is_num(llmopt_bandit_propensity(&conf, block, x, NULL, 1, &rng, 0), 0, 0,
           "decay: none for static");
    free(block);
}


/*
 * Lock-in: arm 0 is right 85 % of the time, arm 1 75 %; arm 0's first
 * answers are wrong.  Without the decaying floor the estimate of arm 0
 * stays where its first answers put it and arm 1 is chosen for the rest
 * of the run; with it, arm 0 is tried again and wins the second half.
 */

static void
test_lock_in(llmopt_algorithm_e alg)
{
    int                    t, run;
    void                  *block;
    double                 x[1] = { 1 }, r;
    unsigned               late[2];
    llmopt_rng_t           rng, world;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;
    static const char     *what[2] = { "without decay", "with decay" };

    for (run = 0; run < 2; run++) {
        llmopt_rng_seed(&rng, 61);
        llmopt_rng_seed(&world, 62);

        block = block_for(&conf, alg, 2, 1);
        conf.alpha = 0.5;
        conf.lambda = 0.1;
        conf.exploration_decay = run ? LLMOPT_BANDIT_DECAY : 0;

        conf.prior_mean = 0.9;
        conf.prior_index = 0;
        llmopt_bandit_init(&conf, block);

        llmopt_bandit_update(&conf, block, 0, x, 0.0);
        llmopt_bandit_update(&conf, block, 0, x, 0.0);
        llmopt_bandit_update(&conf, block, 1, x, 1.0);

        late[0] = late[1] = 0;

        for (t = 0; t < 3000; t++) {
            llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
            r = llmopt_rng_uniform(&world)
                < (choice.arm == 0 ? 0.85 : 0.75) ? 1.0 : 0.0;
            llmopt_bandit_update(&conf, block, choice.arm, x, r);

            if (t >= 1500) {
                late[choice.arm]++;
            }
        }

        printf("# %s %s: second half, arm 0 %u, arm 1 %u\n",
             llmopt_algorithm_name(alg), what[run], late[0], late[1]);

        if (run == 0) {
            ok(late[0] < 150, "%s %s: locked in on the worse arm",
               llmopt_algorithm_name(alg), what[run]);

        } else {
            ok(late[0] > 1200, "%s %s: the better arm wins the second "
               "half", llmopt_algorithm_name(alg), what[run]);
        }

        free(block);
    }
}


/* epsilon_greedy tries an untried arm before it exploits a tried one */

static void
test_epsilon_untried(void)
{
    void                  *block;
    double                 x[1] = { 1 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 63);

    block = block_for(&conf, LLMOPT_ALG_EPSILON_GREEDY, 3, 1);
    conf.epsilon = 0;
    conf.exploration_decay = 0;

    llmopt_bandit_update(&conf, block, 0, x, 0.9);
    llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
    ok(choice.arm != 0 && choice.propensity == 0.5,
       "epsilon_greedy: an untried arm first, the untried ones tied");

    llmopt_bandit_update(&conf, block, 1, x, 0.1);
    llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
    ok(choice.arm == 2 && choice.propensity == 1.0,
       "epsilon_greedy: then the last untried arm");

    llmopt_bandit_update(&conf, block, 2, x, 0.5);
    llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
    ok(choice.arm == 0 && !choice.explore,
       "epsilon_greedy: then the best mean");

    free(block);
}


static void
test_floor(void)
{
    int                    t, consistent;
    void                  *block;
    double                 x[1] = { 1 }, sum;
    unsigned               arm, counts[4] = { 0 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 51);

    block = block_for(&conf, LLMOPT_ALG_LINUCB, 4, 1);
    conf.exploration_floor = 0.2;

    for (t = 0; t < 100; t++) {
        llmopt_bandit_update(&conf, block, 2, x, 1.0);
        llmopt_bandit_update(&conf, block, t % 4 == 2 ? 0 : t % 4, x, 0.0);
    }

    consistent = 1;

    for (t = 0; t < 40000; t++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
        counts[choice.arm]++;
        consistent &= choice.arm == 2
                      ? fabs(choice.propensity - 0.85) < 1e-12
                        && !choice.explore
                      : fabs(choice.propensity - 0.05) < 1e-12
                        && choice.explore;
    }

    ok(consistent, "floor: (1 - f) on the greedy arm + f / k everywhere");
    is_num(counts[0] / 40000.0, 0.05, 0.006, "floor: each other arm ~f/k");
    is_num(counts[2] / 40000.0, 0.85, 0.01, "floor: greedy arm ~1 - f + f/k");

    sum = 0;
    for (arm = 0; arm < 4; arm++) {
        sum += llmopt_bandit_propensity(&conf, block, x, NULL, arm, &rng, 0);
    }

    is_num(sum, 1.0, 1e-12, "floor: linucb propensities sum to 1");

    free(block);
}


static void
test_ucb1_untried(void)
{
    int                    t, each_once;
    void                  *block;
    double                 x[1] = { 1 };
    unsigned               seen[5] = { 0 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 61);
    block = block_for(&conf, LLMOPT_ALG_UCB1, 5, 1);
    conf.exploration_decay = 0;         /* ucb1's own order */

    for (t = 0; t < 5; t++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
        seen[choice.arm]++;
        llmopt_bandit_update(&conf, block, choice.arm, x, 1.0);
    }

    each_once = 1;
    for (t = 0; t < 5; t++) {
        each_once &= seen[t] == 1;
    }

    ok(each_once, "ucb1: untried arms first, each once");
    is_int(llmopt_bandit_arm_count(&conf, block, 3), 1, "ucb1: arm count");
    is_int(llmopt_bandit_arm_count(&conf, block, 9), 0,
           "arm count of an unknown arm is 0");

    free(block);
}


static void
test_sherman_morrison(void)
{
    int                    t;
    void                  *block, *copy;
    double                 x[16], worst;
    unsigned               i, arm;
    llmopt_rng_t           rng;
    llmopt_bandit_arm_t    a, b;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 71);
    block = block_for(&conf, LLMOPT_ALG_LINUCB, 2, 16);
    copy = malloc(llmopt_bandit_size(&conf));

    /* 1023 pulls per arm: no periodic refresh yet */

    for (t = 0; t < 2046; t++) {
        for (i = 0; i < 16; i++) {
            x[i] = i == 0 ? 1 : (llmopt_rng_uniform(&rng) < 0.4
                                 ? llmopt_rng_uniform(&rng) * 2 : 0);
        }

        llmopt_bandit_update(&conf, block, t % 2, x,
                             llmopt_rng_uniform(&rng));
    }

    memcpy(copy, block, llmopt_bandit_size(&conf));
    llmopt_bandit_rebuild(&conf, copy);

    worst = 0;

    for (arm = 0; arm < 2; arm++) {
        llmopt_bandit_arm(&conf, block, arm, &a);
        llmopt_bandit_arm(&conf, copy, arm, &b);

        if (max_diff(a.a_inv, b.a_inv, 256) > worst) {
            worst = max_diff(a.a_inv, b.a_inv, 256);
        }

        if (max_diff(a.theta, b.theta, 16) > worst) {
            worst = max_diff(a.theta, b.theta, 16);
        }
    }

    ok(worst < 1e-9, "1023 Sherman-Morrison updates per arm agree with a "
       "direct inverse (%.2g)", worst);

    free(copy);
    free(block);
}


static void
test_rebuild(void)
{
    int                    t;
    void                  *block, *copy;
    double                 x[4];
    unsigned               i, arm;
    llmopt_rng_t           rng;
    llmopt_bandit_arm_t    a, b;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 81);
    block = block_for(&conf, LLMOPT_ALG_LIN_TS, 3, 4);
    copy = malloc(llmopt_bandit_size(&conf));

    for (t = 0; t < 600; t++) {
        for (i = 0; i < 4; i++) {
            x[i] = llmopt_rng_uniform(&rng);
        }

        llmopt_bandit_update(&conf, block, t % 3, x,
                             llmopt_rng_uniform(&rng));
    }

    memcpy(copy, block, llmopt_bandit_size(&conf));

    /* wipe every derived field of the copy */

    for (arm = 0; arm < 3; arm++) {
        llmopt_bandit_arm(&conf, copy, arm, &b);
        memset(b.a_inv, 0xff, 16 * sizeof(double));
        memset(b.theta, 0, 4 * sizeof(double));
    }

    llmopt_bandit_rebuild(&conf, copy);

    llmopt_bandit_arm(&conf, block, 1, &a);
    llmopt_bandit_arm(&conf, copy, 1, &b);

    ok(max_diff(a.a_inv, b.a_inv, 16) < 1e-10
       && max_diff(a.theta, b.theta, 4) < 1e-10,
       "rebuild reproduces A^-1 and theta from A and b");
    ok(memcmp(a.n, b.n, llmopt_bandit_additive_doubles(&conf)
                        * sizeof(double)) == 0,
       "rebuild leaves the additive fields alone");

    free(copy);
    free(block);
}


/*
 * Two instances learn two streams; merged, they equal one instance that
 * learned both.
 */

static void
test_merge(llmopt_algorithm_e alg)
{
    int                    t;
    void                  *one, *two, *both;
    double                 x[3], r, worst_add, worst_derived;
    size_t                 n;
    unsigned               i, arm;
    llmopt_rng_t           rng;
    llmopt_bandit_arm_t    a, b;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 91);
    one = block_for(&conf, alg, 3, 3);
    two = block_for(&conf, alg, 3, 3);
    both = block_for(&conf, alg, 3, 3);

    for (t = 0; t < 900; t++) {
        for (i = 0; i < 3; i++) {
            x[i] = llmopt_rng_uniform(&rng);
        }

        r = llmopt_rng_uniform(&rng);
        arm = llmopt_rng_below(&rng, 3);

        llmopt_bandit_update(&conf, t < 400 ? one : two, arm, x, r);
        llmopt_bandit_update(&conf, both, arm, x, r);
    }

    llmopt_bandit_merge(&conf, one, two);

    n = llmopt_bandit_additive_doubles(&conf);
    worst_add = 0;
    worst_derived = 0;

    for (arm = 0; arm < 3; arm++) {
        llmopt_bandit_arm(&conf, one, arm, &a);
        llmopt_bandit_arm(&conf, both, arm, &b);

        if (max_diff(a.n, b.n, n) > worst_add) {
            worst_add = max_diff(a.n, b.n, n);
        }

        if (a.a_inv != NULL && max_diff(a.a_inv, b.a_inv, 9) > worst_derived)
        {
            worst_derived = max_diff(a.a_inv, b.a_inv, 9);
        }

        if (a.theta != NULL && max_diff(a.theta, b.theta, 3) > worst_derived)
        {
            worst_derived = max_diff(a.theta, b.theta, 3);
        }
    }

    ok(worst_add < 1e-9, "%s: merged additive statistics equal both "
       "streams (%.2g)", llmopt_algorithm_name(alg), worst_add);
    ok(worst_derived < 1e-9, "%s: merged derived fields equal both streams",
       llmopt_algorithm_name(alg));
    is_int(llmopt_bandit_updates(one), 900, "%s: merged update count",
           llmopt_algorithm_name(alg));

    free(one);
    free(two);
    free(both);
}


static void
test_forgetting(void)
{
    int                    t, switched_at, finite;
    void                  *block, *copy;
    double                 x[4] = { 1, 0, 0, 0 };
    unsigned               i;
    llmopt_rng_t           rng, world;
    llmopt_choice_t        choice;
    llmopt_bandit_arm_t    a, b;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 101);
    llmopt_rng_seed(&world, 102);

    /*
     * Both arms pulled in turn; arm 0 is better for 3000 rounds, then
     * arm 1.  With forgetting 0.99 (a memory of about 100 pulls) the
     * estimates cross soon after the change; without, much later.
     */

    for (i = 0; i < 2; i++) {
        block = block_for(&conf, LLMOPT_ALG_LINUCB, 2, 1);
        conf.forgetting = i == 0 ? 0.99 : 1.0;
        switched_at = -1;

        for (t = 0; t < 6000; t++) {
            llmopt_bandit_update(&conf, block, t % 2, x,
                                 bernoulli(&world, (t % 2 == 0)
                                                   == (t < 3000) ? 0.8
                                                                 : 0.3));

            llmopt_bandit_arm(&conf, block, 0, &a);
            llmopt_bandit_arm(&conf, block, 1, &b);

            if (t >= 3000 && switched_at < 0 && b.theta[0] > a.theta[0]) {
                switched_at = t - 3000;
            }
        }

        if (i == 0) {
            ok(switched_at >= 0 && switched_at < 300,
               "forgetting 0.99: the change is learned after %d rounds",
               switched_at);

            llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice);
            is_int(choice.arm, 1, "forgetting 0.99: select follows");

        } else {
            ok(switched_at < 0 || switched_at > 1500,
               "no forgetting: the change is learned late (%d)",
               switched_at);
        }

        free(block);
    }

    /* strong forgetting, one direction only: the prior keeps A^-1 sane */

    block = block_for(&conf, LLMOPT_ALG_LINUCB, 1, 4);
    conf.forgetting = 0.9;

    for (t = 0; t < 100000; t++) {
        llmopt_bandit_update(&conf, block, 0, x, 0.5);
    }

    llmopt_bandit_arm(&conf, block, 0, &a);

    finite = 1;
    for (i = 0; i < 16; i++) {
        finite &= isfinite(a.a_inv[i]) && fabs(a.a_inv[i]) < 100;
    }

    ok(finite, "forgetting: A^-1 bounded after 100000 discounted updates");

    copy = malloc(llmopt_bandit_size(&conf));
    memcpy(copy, block, llmopt_bandit_size(&conf));
    llmopt_bandit_rebuild(&conf, copy);
    llmopt_bandit_arm(&conf, copy, 0, &b);

    ok(max_diff(a.a_inv, b.a_inv, 16) < 1e-8,
       "forgetting: A^-1 consistent with the discounted A");
    /* A is diagonal here: theta_0 = b_0 / A_00 = 5 / (10 + ~lambda) */

    is_num(a.theta[0], a.b[0] / a.a[0], 1e-9,
           "forgetting: theta = A^-1 b (%.3f)", a.theta[0]);
    ok(a.theta[0] > 0.4 && a.theta[0] < 0.5, "forgetting: theta near the "
       "reward, shrunk by a prior that did not fade");

    free(copy);
    free(block);
}


static void
test_bad_input(void)
{
    void                  *block, *copy;
    double                 x[2] = { 1, NAN };
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_conf_t   conf, other;

    block = block_for(&conf, LLMOPT_ALG_LINUCB, 2, 2);
    copy = malloc(llmopt_bandit_size(&conf));
    memcpy(copy, block, llmopt_bandit_size(&conf));

    llmopt_bandit_update(&conf, block, 0, x, 0.5);
    ok(memcmp(copy, block, llmopt_bandit_size(&conf)) == 0,
       "a NaN feature is not learned");

    llmopt_bandit_update(&conf, block, 7, x, 0.5);
    ok(memcmp(copy, block, llmopt_bandit_size(&conf)) == 0,
       "an unknown arm is not learned");

    x[1] = 1;
    llmopt_bandit_update(&conf, block, 1, x, 5.0);
    llmopt_bandit_update(&conf, block, 1, x, NAN);
    llmopt_bandit_arm(&conf, block, 1, &rec);
    ok(*rec.sum_r == 1.0 && *rec.sum_r2 == 1.0 && *rec.n == 2.0,
       "rewards clamped to [0, 1], NaN as 0");

    other = conf;
    other.d = 3;
    ok(llmopt_bandit_select(&other, block, x, NULL, NULL, NULL)
       == LLMOPT_ERROR, "select refuses a block of another shape");

    other = conf;
    other.n_arms = 0;
    ok(llmopt_bandit_select(&other, block, x, NULL, NULL, NULL)
       == LLMOPT_ERROR, "select refuses zero arms");

    free(copy);
    free(block);
}


/*
 * What a reader may see under a seqlock while the writer writes: garbage
 * in the arm records.  select must still answer in range and return.
 */

static void
test_torn(void)
{
    int                    t, in_range;
    void                  *block;
    double                 x[4] = { 1, 2, 3, 4 };
    size_t                 i, size;
    unsigned               alg;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_conf_t   conf;
    unsigned char         *p;

    llmopt_rng_seed(&rng, 111);
    in_range = 1;

    for (alg = LLMOPT_ALG_STATIC; alg <= LLMOPT_ALG_EPSILON_GREEDY; alg++) {
        block = block_for(&conf, (llmopt_algorithm_e) alg, 4, 4);
        size = llmopt_bandit_size(&conf);
        p = block;

        for (t = 0; t < 200; t++) {
            for (i = 32; i < size; i++) {
                p[i] = (unsigned char) llmopt_rng_next(&rng);
            }

            if (t % 3 == 0) {
                for (i = 32; i + 8 <= size; i += 8) {
                    memcpy(p + i, t % 2 ? &(double) { NAN }
                                        : &(double) { -INFINITY }, 8);
                }
            }

            if (llmopt_bandit_select(&conf, block, x, NULL, &rng, &choice)
                == LLMOPT_OK)
            {
                in_range &= choice.arm < 4;
            }
        }

        free(block);
    }

    ok(in_range, "garbage blocks: select returns, arm in range");
}


/*
 * prior_mean: the ridge shrinks the bias towards it, not towards 0; it is
 * counted once in a merge, and kept by forgetting.
 */

static void
test_prior_mean(void)
{
    double                 x[3] = { 1, 0.5, 0 };
    void                  *a, *b, *one;
    unsigned               i;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_conf_t   conf, other;

    a = block_for(&conf, LLMOPT_ALG_LINUCB, 2, 3);
    free(a);

    conf.prior_mean = 0.9;
    conf.prior_index = 0;
    conf.lambda = 0.5;

    is_int(llmopt_bandit_conf_check(&conf, NULL), LLMOPT_OK,
           "prior_mean 0.9 on the bias is a valid conf");

    a = malloc(llmopt_bandit_size(&conf));
    b = malloc(llmopt_bandit_size(&conf));
    one = malloc(llmopt_bandit_size(&conf));
    llmopt_bandit_init(&conf, a);
    llmopt_bandit_init(&conf, b);
    llmopt_bandit_init(&conf, one);

    llmopt_bandit_arm(&conf, a, 1, &rec);
    is_num(rec.theta[0], 0.9, 1e-12, "prior: theta = prior_mean on the bias");
    is_num(rec.b[0], 0.45, 1e-12, "prior: b = lambda prior_mean");
    is_num(rec.theta[1], 0, 0, "prior: 0 elsewhere");

    other = conf;
    other.prior_mean = 0.5;
    is_int(llmopt_bandit_check(&other, a), LLMOPT_DECLINED,
           "a block of another prior mean is refused");

    /* an unexplored arm is as good as the prior says */

    llmopt_rng_seed(&rng, 3);
    llmopt_bandit_update(&conf, a, 0, x, 0.2);
    llmopt_bandit_select(&conf, a, x, NULL, &rng, &choice);
    is_int(choice.arm, 1, "after a poor reward on arm 0, arm 1 (at 0.9) next");

    /* merge: a + b equals one instance that learned both streams */

    llmopt_bandit_init(&conf, a);

    for (i = 0; i < 50; i++) {
        x[1] = (i % 7) / 7.0;
        x[2] = (i % 3) / 3.0;
        llmopt_bandit_update(&conf, (i & 1) ? a : b, i % 2, x, (i % 5) / 5.0);
        llmopt_bandit_update(&conf, one, i % 2, x, (i % 5) / 5.0);
    }

    llmopt_bandit_merge(&conf, a, b);

    llmopt_bandit_arm(&conf, a, 1, &rec);
    {
        llmopt_bandit_arm_t  want;

        llmopt_bandit_arm(&conf, one, 1, &want);
        is_num(rec.b[0], want.b[0], 1e-9, "merge counts the prior mean once");
        is_num(rec.theta[0], want.theta[0], 1e-9, "... and theta agrees");
    }

    /* forgetting: the prior comes back with the data fading */

    conf.forgetting = 0.9;
    llmopt_bandit_init(&conf, a);

    for (i = 0; i < 3000; i++) {
        x[1] = 0;
        x[2] = 0;
        llmopt_bandit_update(&conf, a, 0, x, 0.5);
    }

    llmopt_bandit_arm(&conf, a, 1, &rec);
    is_num(rec.theta[0], 0.9, 1e-12, "an untouched arm keeps its prior");

    llmopt_bandit_arm(&conf, a, 0, &rec);
    ok(rec.theta[0] > 0.45 && rec.theta[0] < 0.55,
       "forgetting: a learned arm follows its data (%g)", rec.theta[0]);

    /* bad values */

    other = conf;
    other.prior_mean = 1.5;
    is_int(llmopt_bandit_conf_check(&other, NULL), LLMOPT_ERROR,
           "prior_mean 1.5 is refused");

    other = conf;
    other.prior_index = 3;
    is_int(llmopt_bandit_conf_check(&other, NULL), LLMOPT_ERROR,
           "a prior on a dimension beyond d is refused");

    free(a);
    free(b);
    free(one);
}


/* forget_arm: keep 0 is the prior again (pulls kept), keep .5 halves */

static void
test_forget_arm(void)
{
    void                  *block, *fresh;
    double                 x[3] = { 1, 0.5, 0 };
    unsigned               i;
    llmopt_bandit_arm_t    rec, ref;
    llmopt_bandit_conf_t   conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = LLMOPT_ALG_LINUCB;
    conf.n_arms = 2;
    conf.d = 3;
    conf.prior_mean = 0.9;
    conf.prior_index = 0;

    block = calloc(1, llmopt_bandit_size(&conf));
    fresh = calloc(1, llmopt_bandit_size(&conf));
    llmopt_bandit_init(&conf, block);
    llmopt_bandit_init(&conf, fresh);

    for (i = 0; i < 40; i++) {
        llmopt_bandit_update(&conf, block, 0, x, 0.2);
        llmopt_bandit_update(&conf, block, 1, x, 0.7);
    }

    llmopt_bandit_forget_arm(&conf, block, 0, 0.5);
    llmopt_bandit_arm(&conf, block, 0, &rec);
    is_num(*rec.n, 20, 1e-9, "forget .5: the count halves");
    is_num(*rec.pulls, 40, 0, "... the raw pulls stay");
    is_num(rec.theta[0] + 0.5 * rec.theta[1], 0.2, 0.05,
           "... the estimate stays near 0.2");

    llmopt_bandit_forget_arm(&conf, block, 0, 0);
    llmopt_bandit_arm(&conf, block, 0, &rec);
    llmopt_bandit_arm(&conf, fresh, 0, &ref);
    is_num(*rec.n, 0, 0, "forget 0: no count left");
    is_num(rec.theta[0], 0.9, 1e-9, "... theta is the prior mean again");
    is_num(rec.a[4], ref.a[4], 1e-12, "... A is the prior");
    is_num(rec.a_inv[0], ref.a_inv[0], 1e-12, "... and so is A^-1");

    llmopt_bandit_arm(&conf, block, 1, &rec);
    is_num(*rec.n, 40, 0, "the other arm is untouched");

    free(block);
    free(fresh);
}


/* copy_arm: an arm's record moves between blocks of other arm counts */

static void
test_copy_arm(void)
{
    void                  *two, *three;
    double                 x[2] = { 1, 0.5 };
    unsigned               i;
    llmopt_bandit_arm_t    rec, ref;
    llmopt_bandit_conf_t   c2, c3, cts;

    llmopt_bandit_conf_defaults(&c2);
    c2.algorithm = LLMOPT_ALG_LINUCB;
    c2.n_arms = 2;
    c2.d = 2;
    c3 = c2;
    c3.n_arms = 3;

    two = calloc(1, llmopt_bandit_size(&c2));
    three = calloc(1, llmopt_bandit_size(&c3));
    llmopt_bandit_init(&c2, two);
    llmopt_bandit_init(&c3, three);

    for (i = 0; i < 30; i++) {
        llmopt_bandit_update(&c2, two, 0, x, 0.2);
    }

    for (i = 0; i < 7; i++) {
        llmopt_bandit_update(&c2, two, 1, x, 0.9);
    }

    is_int(llmopt_bandit_copy_arm(&c3, three, 2, two, 0), LLMOPT_OK,
           "copy_arm: arm 0 of 2 to arm 2 of 3");
    is_int(llmopt_bandit_copy_arm(&c3, three, 0, two, 1), LLMOPT_OK,
           "copy_arm: arm 1 of 2 to arm 0 of 3");
    is_int((int) llmopt_bandit_arm_count(&c3, three, 2), 30,
           "... the first keeps its 30 pulls");
    is_int((int) llmopt_bandit_arm_count(&c3, three, 0), 7,
           "... the second its 7");
    is_int((int) llmopt_bandit_arm_count(&c3, three, 1), 0,
           "... the new arm has none");
    is_int((int) llmopt_bandit_updates(three), 37,
           "... and the block counts 37 updates");

    llmopt_bandit_arm(&c3, three, 2, &rec);
    llmopt_bandit_arm(&c2, two, 0, &ref);
    is_num(rec.theta[0], ref.theta[0], 0, "... theta moves as it is");
    is_num(rec.a_inv[3], ref.a_inv[3], 0, "... and A^-1");

    is_int(llmopt_bandit_copy_arm(&c3, three, 3, two, 0), LLMOPT_DECLINED,
           "copy_arm: an arm out of range is declined");
    is_int(llmopt_bandit_copy_arm(&c3, three, 0, two, 2), LLMOPT_DECLINED,
           "... on either side");

    cts = c3;
    cts.algorithm = LLMOPT_ALG_THOMPSON;
    free(three);
    three = calloc(1, llmopt_bandit_size(&cts));
    llmopt_bandit_init(&cts, three);
    is_int(llmopt_bandit_copy_arm(&cts, three, 0, two, 0), LLMOPT_DECLINED,
           "copy_arm: another algorithm is declined");
    is_int((int) llmopt_bandit_arm_count(&cts, three, 0), 0,
           "... and nothing is written");

    /* thompson keeps no model of the features: another d does not matter */
    {
        void                  *t2, *t3;
        llmopt_bandit_conf_t   a2, a3;

        a2 = cts;
        a2.n_arms = 2;
        a2.d = 2;
        a3 = cts;
        a3.d = 5;
        t2 = calloc(1, llmopt_bandit_size(&a2));
        t3 = calloc(1, llmopt_bandit_size(&a3));
        llmopt_bandit_init(&a2, t2);
        llmopt_bandit_init(&a3, t3);

        for (i = 0; i < 4; i++) {
            llmopt_bandit_update(&a2, t2, 1, x, 1);
        }

        is_int(llmopt_bandit_copy_arm(&a3, t3, 2, t2, 1), LLMOPT_OK,
               "copy_arm: thompson, another d: copied");
        is_int((int) llmopt_bandit_arm_count(&a3, t3, 2), 4,
               "... with its 4 pulls");
        is_int(llmopt_bandit_linear_model(&a3), 0,
               "linear_model: thompson has none");
        is_int(llmopt_bandit_linear_model(&c3), 1, "... linucb has one");

        free(t2);
        free(t3);
    }

    free(two);
    free(three);
}
