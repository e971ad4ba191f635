/*
 * Copyright (C) llmopt authors
 *
 * The bandits' parameter block and how it learns: configuration, layout,
 * init, update, merge, forget, copy; choosing an arm is in
 * llmopt_bandit_select.c.  A parameter block is
 *
 *     llmopt_bandit_head_t                      40 bytes
 *     n_arms arm records of llmopt_bandit_arm_doubles() doubles:
 *         n, sum_r, sum_r2, pulls       additive: counts and reward sums
 *         A[d*d], b[d]                  additive: lambda I + sum x x',
 *                                       lambda mu e_p + sum r x
 *         A_inv[d*d], theta[d]          derived:  A^-1, A^-1 b
 *
 * The matrices exist for linucb and lin_ts only.  Additive fields of
 * several blocks add up to the block of the union of their updates once the
 * prior (lambda I, and lambda mu on the bias p of b) is counted once;
 * derived fields are recomputed by llmopt_bandit_rebuild().  See
 * docs/ALGORITHMS.md.
 */


#include <math.h>
#include <string.h>

#include "llmopt_bandit.h"
#include "llmopt_bandit_block.h"
#include "llmopt_linalg.h"


/* pulls of an arm between exact recomputations of A^-1 from A */
#define LLMOPT_BANDIT_REFRESH  1024


static size_t llmopt_bandit_arm_doubles(const llmopt_bandit_conf_t *conf);
static double llmopt_bandit_lambda(const llmopt_bandit_conf_t *conf);
static void llmopt_bandit_derive(const llmopt_bandit_conf_t *conf,
    llmopt_bandit_arm_t *rec);
static uint64_t llmopt_bandit_count(double pulls);


static const char  *llmopt_algorithm_names[] = {
    "static", "linucb", "lin_ts", "thompson", "ucb1", "epsilon_greedy"
};


int
llmopt_algorithm_lookup(const char *name, size_t len)
{
    unsigned  i;

    for (i = 0; i < LLMOPT_ALG_COUNT; i++) {
        if (strlen(llmopt_algorithm_names[i]) == len
            && memcmp(llmopt_algorithm_names[i], name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


const char *
llmopt_algorithm_name(llmopt_algorithm_e alg)
{
    if ((unsigned) alg >= LLMOPT_ALG_COUNT) {
        return "unknown";
    }

    return llmopt_algorithm_names[alg];
}


void
llmopt_bandit_conf_defaults(llmopt_bandit_conf_t *conf)
{
    unsigned  i;

    memset(conf, 0, sizeof(llmopt_bandit_conf_t));

    conf->algorithm = LLMOPT_ALG_LINUCB;
    conf->alpha = 1.0;
    conf->lambda = 1.0;
    conf->epsilon = 0.1;
    conf->prior_alpha = 1.0;
    conf->prior_beta = 1.0;
    conf->exploration_floor = 0.0;
    conf->exploration_decay = LLMOPT_BANDIT_DECAY;
    conf->forgetting = 1.0;
    conf->seed = 0;

    for (i = 0; i < LLMOPT_MAX_ARMS; i++) {
        conf->weights[i] = 1.0;
    }
}


int
llmopt_bandit_conf_check(const llmopt_bandit_conf_t *conf, llmopt_err_t *err)
{
    unsigned     i;
    const char  *bad;

    bad = NULL;

    if ((unsigned) conf->algorithm >= LLMOPT_ALG_COUNT) {
        bad = "unknown algorithm";

    } else if (conf->n_arms < 1 || conf->n_arms > LLMOPT_MAX_ARMS) {
        bad = "the number of arms is not from 1 to 32";

    } else if (llmopt_bandit_linear(conf)
               && (conf->d < 1 || conf->d > LLMOPT_BANDIT_MAX_DIM))
    {
        bad = "the feature dimension is not from 1 to 64";

    } else if (!(conf->alpha >= 0) || isinf(conf->alpha)) {
        bad = "alpha is not a finite number >= 0";

    } else if (!(conf->lambda > 0) || isinf(conf->lambda)) {
        bad = "lambda is not a finite number > 0";

    } else if (!(conf->epsilon >= 0 && conf->epsilon <= 1)) {
        bad = "epsilon is not from 0 to 1";

    } else if (!(conf->prior_alpha > 0) || isinf(conf->prior_alpha)
               || !(conf->prior_beta > 0) || isinf(conf->prior_beta))
    {
        bad = "the Beta prior is not finite and > 0";

    } else if (!(conf->exploration_floor >= 0
                 && conf->exploration_floor <= 1))
    {
        bad = "the exploration floor is not from 0 to 1";

    } else if (!(conf->exploration_decay >= 0
                 && conf->exploration_decay <= 1))
    {
        bad = "the exploration decay is not from 0 to 1";

    } else if (!(conf->forgetting > 0 && conf->forgetting <= 1)) {
        bad = "forgetting is not in (0, 1]";

    } else if (!(conf->prior_mean >= 0 && conf->prior_mean <= 1)) {
        bad = "the prior mean is not from 0 to 1";

    } else if (conf->prior_mean != 0 && llmopt_bandit_linear(conf)
               && conf->prior_index >= conf->d)
    {
        bad = "the prior mean's feature is not one of the d features";

    } else {
        for (i = 0; i < conf->n_arms; i++) {
            if (!(conf->weights[i] >= 0) || isinf(conf->weights[i])) {
                bad = "a weight is not a finite number >= 0";
                break;
            }
        }
    }

    if (bad == NULL) {
        return LLMOPT_OK;
    }

    if (err != NULL) {
        llmopt_err_set(err, 0, 0, "bandit: %s", bad);
    }

    return LLMOPT_ERROR;
}


int
llmopt_bandit_linear(const llmopt_bandit_conf_t *conf)
{
    return conf->algorithm == LLMOPT_ALG_LINUCB
           || conf->algorithm == LLMOPT_ALG_LIN_TS;
}


int
llmopt_bandit_linear_model(const llmopt_bandit_conf_t *conf)
{
    return llmopt_bandit_linear(conf);
}


static size_t
llmopt_bandit_arm_doubles(const llmopt_bandit_conf_t *conf)
{
    size_t  d;

    if (!llmopt_bandit_linear(conf)) {
        return LLMOPT_BANDIT_ADDITIVE_HEAD;
    }

    d = conf->d;

    return LLMOPT_BANDIT_ADDITIVE_HEAD + 2 * d * d + 2 * d;
}


size_t
llmopt_bandit_additive_doubles(const llmopt_bandit_conf_t *conf)
{
    size_t  d;

    if (!llmopt_bandit_linear(conf)) {
        return LLMOPT_BANDIT_ADDITIVE_HEAD;
    }

    d = conf->d;

    return LLMOPT_BANDIT_ADDITIVE_HEAD + d * d + d;
}


size_t
llmopt_bandit_size(const llmopt_bandit_conf_t *conf)
{
    return sizeof(llmopt_bandit_head_t)
           + (size_t) conf->n_arms * llmopt_bandit_arm_doubles(conf)
             * sizeof(double);
}


static double
llmopt_bandit_lambda(const llmopt_bandit_conf_t *conf)
{
    return conf->lambda > 0 && !isinf(conf->lambda) ? conf->lambda : 1.0;
}


void
llmopt_bandit_arm(const llmopt_bandit_conf_t *conf, const void *block,
    unsigned arm, llmopt_bandit_arm_t *view)
{
    size_t   dd;
    double  *p;

    p = (double *) ((char *) block + sizeof(llmopt_bandit_head_t))
        + arm * llmopt_bandit_arm_doubles(conf);

    view->n = p;
    view->sum_r = p + 1;
    view->sum_r2 = p + 2;
    view->pulls = p + 3;

    if (!llmopt_bandit_linear(conf)) {
        view->a = NULL;
        view->b = NULL;
        view->a_inv = NULL;
        view->theta = NULL;
        return;
    }

    dd = (size_t) conf->d * conf->d;

    view->a = p + LLMOPT_BANDIT_ADDITIVE_HEAD;
    view->b = view->a + dd;
    view->a_inv = view->b + conf->d;
    view->theta = view->a_inv + dd;
}


void
llmopt_bandit_init(const llmopt_bandit_conf_t *conf, void *block)
{
    double                 lambda;
    unsigned               arm, i, d;
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_head_t  *head;

    memset(block, 0, llmopt_bandit_size(conf));

    lambda = llmopt_bandit_lambda(conf);

    head = block;
    head->magic = LLMOPT_BANDIT_MAGIC;
    head->algorithm = conf->algorithm;
    head->n_arms = conf->n_arms;
    head->d = conf->d;
    head->lambda = lambda;
    head->prior_mean = conf->prior_mean;

    if (!llmopt_bandit_linear(conf)) {
        return;
    }

    d = conf->d;

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, block, arm, &rec);

        for (i = 0; i < d; i++) {
            rec.a[i * d + i] = lambda;
            rec.a_inv[i * d + i] = 1.0 / lambda;
        }

        /* ridge towards mean prior_mean on the bias, not towards 0 */

        if (conf->prior_mean != 0 && conf->prior_index < d) {
            rec.b[conf->prior_index] = lambda * conf->prior_mean;
            rec.theta[conf->prior_index] = conf->prior_mean;
        }
    }
}


int
llmopt_bandit_check(const llmopt_bandit_conf_t *conf, const void *block)
{
    const llmopt_bandit_head_t  *head;

    head = block;

    if (head->magic != LLMOPT_BANDIT_MAGIC
        || head->algorithm != (uint32_t) conf->algorithm
        || head->n_arms != conf->n_arms
        || head->d != conf->d
        || head->lambda != llmopt_bandit_lambda(conf)
        || head->prior_mean != conf->prior_mean)
    {
        return LLMOPT_DECLINED;
    }

    return LLMOPT_OK;
}


/* the cheap part of conf_check and check, for every request */

int
llmopt_bandit_usable(const llmopt_bandit_conf_t *conf, const void *block)
{
    const llmopt_bandit_head_t  *head;

    if (conf->n_arms < 1 || conf->n_arms > LLMOPT_MAX_ARMS
        || (unsigned) conf->algorithm >= LLMOPT_ALG_COUNT
        || (llmopt_bandit_linear(conf)
            && (conf->d < 1 || conf->d > LLMOPT_BANDIT_MAX_DIM)))
    {
        return LLMOPT_ERROR;
    }

    head = block;

    if (head->magic != LLMOPT_BANDIT_MAGIC
        || head->algorithm != (uint32_t) conf->algorithm
        || head->n_arms != conf->n_arms
        || head->d != conf->d)
    {
        return LLMOPT_ERROR;
    }

    return LLMOPT_OK;
}


void
llmopt_bandit_update(const llmopt_bandit_conf_t *conf, void *block,
    unsigned arm, const double *x, double reward)
{
    int                    refresh;
    double                 g, ginv, s, u[LLMOPT_BANDIT_MAX_DIM];
    size_t                 i, j, dd;
    unsigned               d, k;
    uint64_t               pulls;
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_head_t  *head;

    if (arm >= conf->n_arms
        || llmopt_bandit_usable(conf, block) != LLMOPT_OK)
    {
        return;
    }

    d = conf->d;

    if (llmopt_bandit_linear(conf)) {
        for (j = 0; j < d; j++) {
            if (!isfinite(x[j])) {
                return;             /* would poison A for good */
            }
        }
    }

    if (!(reward >= 0)) {
        reward = 0;                 /* also NaN */

    } else if (reward > 1) {
        reward = 1;
    }

    g = conf->forgetting > 0 && conf->forgetting < 1 ? conf->forgetting : 1;

    head = block;
    head->updates++;

    llmopt_bandit_arm(conf, block, arm, &rec);

    *rec.n = g * *rec.n + 1;
    *rec.sum_r = g * *rec.sum_r + reward;
    *rec.sum_r2 = g * *rec.sum_r2 + reward * reward;
    *rec.pulls += 1;

    if (!llmopt_bandit_linear(conf)) {
        return;
    }

    pulls = llmopt_bandit_count(*rec.pulls);
    refresh = (pulls % LLMOPT_BANDIT_REFRESH == 0);
    dd = (size_t) d * d;

    if (g < 1) {
        /*
         * Discount: A <- g A, b <- g b, so A^-1 <- A^-1 / g and theta is
         * unchanged.  The prior would fade with the data; give it back one
         * coordinate per pull, A += d (1 - g) lambda e_k e_k', k cycling,
         * which keeps the prior near lambda I in the long run with a
         * rank-one (O(d^2)) change of A^-1.
         */

        ginv = 1.0 / g;

        for (i = 0; i < dd; i++) {
            rec.a[i] *= g;
            rec.a_inv[i] *= ginv;
        }

        for (i = 0; i < d; i++) {
            rec.b[i] *= g;
        }

        k = (unsigned) ((pulls - 1) % d);
        s = d * (1.0 - g) * llmopt_bandit_lambda(conf);

        rec.a[(size_t) k * d + k] += s;

        if (k == conf->prior_index) {
            rec.b[k] += s * conf->prior_mean;
        }

        if (!refresh
            && llmopt_linalg_rank1_inverse_unit(rec.a_inv, k, s, u, d)
               != LLMOPT_OK)
        {
            refresh = 1;
        }
    }

    for (i = 0; i < d; i++) {
        for (j = 0; j < d; j++) {
            rec.a[i * d + j] += x[i] * x[j];
        }

        rec.b[i] += reward * x[i];
    }

    /* Sherman-Morrison, or exactly from A now and then */

    if (refresh
        || llmopt_linalg_rank1_inverse(rec.a_inv, x, 1.0, u, d) != LLMOPT_OK)
    {
        llmopt_bandit_derive(conf, &rec);
        return;
    }

    llmopt_linalg_symv(rec.a_inv, rec.b, rec.theta, d);
}


/* A^-1 and theta from A and b */

static void
llmopt_bandit_derive(const llmopt_bandit_conf_t *conf,
    llmopt_bandit_arm_t *rec)
{
    double    lambda;
    double    work[LLMOPT_BANDIT_MAX_DIM * LLMOPT_BANDIT_MAX_DIM];
    unsigned  i, d;

    d = conf->d;

    if (llmopt_linalg_spd_inverse(rec->a, rec->a_inv, work, d) != LLMOPT_OK) {

        /* A is not positive definite: only a corrupt block gets here */

        lambda = llmopt_bandit_lambda(conf);
        memset(rec->a_inv, 0, (size_t) d * d * sizeof(double));

        for (i = 0; i < d; i++) {
            rec->a_inv[i * d + i] = 1.0 / lambda;
        }
    }

    llmopt_linalg_symv(rec->a_inv, rec->b, rec->theta, d);
}


void
llmopt_bandit_forget_arm(const llmopt_bandit_conf_t *conf, void *block,
    unsigned arm, double keep)
{
    double               lambda, prior;
    unsigned             i, d;
    llmopt_bandit_arm_t  rec;

    if (arm >= conf->n_arms || llmopt_bandit_check(conf, block) != LLMOPT_OK)
    {
        return;
    }

    keep = keep < 0 ? 0 : keep > 1 ? 1 : keep;

    llmopt_bandit_arm(conf, block, arm, &rec);

    *rec.n *= keep;
    *rec.sum_r *= keep;
    *rec.sum_r2 *= keep;

    if (rec.a != NULL) {
        d = conf->d;
        lambda = llmopt_bandit_lambda(conf);

        for (i = 0; i < d * d; i++) {
            prior = (i % (d + 1) == 0) ? lambda : 0;
            rec.a[i] = prior + keep * (rec.a[i] - prior);
        }

        for (i = 0; i < d; i++) {
            prior = (conf->prior_mean != 0 && i == conf->prior_index)
                    ? lambda * conf->prior_mean : 0;
            rec.b[i] = prior + keep * (rec.b[i] - prior);
        }
    }

    llmopt_bandit_rebuild(conf, block);
}


int
llmopt_bandit_copy_arm(const llmopt_bandit_conf_t *conf, void *dst,
    unsigned dst_arm, const void *src, unsigned src_arm)
{
    llmopt_bandit_arm_t          to, from;
    llmopt_bandit_conf_t         sconf;
    llmopt_bandit_head_t        *dhead;
    const llmopt_bandit_head_t  *shead;

    shead = src;
    dhead = dst;

    if (shead->magic != LLMOPT_BANDIT_MAGIC
        || shead->algorithm != (uint32_t) conf->algorithm
        || (llmopt_bandit_linear(conf) && shead->d != conf->d)
        || shead->lambda != llmopt_bandit_lambda(conf)
        || shead->prior_mean != conf->prior_mean
        || src_arm >= shead->n_arms
        || dst_arm >= conf->n_arms
        || llmopt_bandit_check(conf, dst) != LLMOPT_OK)
    {
        return LLMOPT_DECLINED;
    }

    sconf = *conf;
    sconf.n_arms = shead->n_arms;

    llmopt_bandit_arm(&sconf, src, src_arm, &from);
    llmopt_bandit_arm(conf, dst, dst_arm, &to);

    memcpy(to.n, from.n, llmopt_bandit_arm_doubles(conf) * sizeof(double));

    dhead->updates += llmopt_bandit_count(*from.pulls);

    return LLMOPT_OK;
}


void
llmopt_bandit_rebuild(const llmopt_bandit_conf_t *conf, void *block)
{
    unsigned             arm;
    llmopt_bandit_arm_t  rec;

    if (!llmopt_bandit_linear(conf)
        || llmopt_bandit_usable(conf, block) != LLMOPT_OK)
    {
        return;
    }

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, block, arm, &rec);
        llmopt_bandit_derive(conf, &rec);
    }
}


void
llmopt_bandit_merge(const llmopt_bandit_conf_t *conf, void *dst,
    const void *src)
{
    double                lambda;
    size_t                i, n;
    unsigned              arm, d;
    llmopt_bandit_arm_t   to, from;

    if (llmopt_bandit_check(conf, dst) != LLMOPT_OK
        || llmopt_bandit_check(conf, src) != LLMOPT_OK
        || llmopt_bandit_usable(conf, dst) != LLMOPT_OK)
    {
        return;
    }

    d = conf->d;
    n = llmopt_bandit_additive_doubles(conf);
    lambda = llmopt_bandit_lambda(conf);

    ((llmopt_bandit_head_t *) dst)->updates +=
        ((const llmopt_bandit_head_t *) src)->updates;

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, dst, arm, &to);
        llmopt_bandit_arm(conf, src, arm, &from);

        /* the additive doubles are contiguous from n on */

        for (i = 0; i < n; i++) {
            to.n[i] += from.n[i];
        }

        if (to.a != NULL) {
            for (i = 0; i < d; i++) {
                to.a[i * d + i] -= lambda;      /* one prior, not two */
            }

            if (conf->prior_index < d) {
                to.b[conf->prior_index] -= lambda * conf->prior_mean;
            }
        }
    }

    llmopt_bandit_rebuild(conf, dst);
}


/* a pull count kept as a double, converted without undefined behaviour */

static uint64_t
llmopt_bandit_count(double pulls)
{
    if (!(pulls > 0)) {
        return 0;                   /* also NaN */
    }

    if (pulls >= 18446744073709551615.0) {
        return UINT64_MAX;
    }

    return (uint64_t) pulls;
}


uint64_t
llmopt_bandit_updates(const void *block)
{
    return ((const llmopt_bandit_head_t *) block)->updates;
}


uint64_t
llmopt_bandit_arm_count(const llmopt_bandit_conf_t *conf, const void *block,
    unsigned arm)
{
    llmopt_bandit_arm_t  rec;

    if (arm >= conf->n_arms) {
        return 0;
    }

    llmopt_bandit_arm(conf, block, arm, &rec);

    return llmopt_bandit_count(*rec.pulls);
}


double
llmopt_bandit_arm_mean(const llmopt_bandit_conf_t *conf, const void *block,
    unsigned arm)
{
    llmopt_bandit_arm_t  rec;

    if (arm >= conf->n_arms) {
        return 0;
    }

    llmopt_bandit_arm(conf, block, arm, &rec);

    return *rec.n > 0 ? *rec.sum_r / *rec.n : 0;
}
