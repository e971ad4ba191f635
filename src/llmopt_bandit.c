/*
 * Copyright (C) llmopt authors
 *
 * The bandits.  A parameter block is
 *
 *     llmopt_bandit_head_t
 *     n_arms x arm record of llmopt_bandit_arm_doubles(d) doubles:
 *         n, sum_r, sum_r2,        additive: weighted count and sums
 *         A[d*d], b[d],            additive: A = lambda I + sum x x', b = sum r x
 *         A_inv[d*d], theta[d],    derived: A^-1, A^-1 b
 *         L[d*d]                   derived: Cholesky factor of A^-1 (lin_ts)
 *
 * Additive fields of several blocks (instances) add up to the block of the
 * union of their updates, once the prior lambda I is counted once; derived
 * fields are recomputed by llmopt_bandit_rebuild().
 */


#include <math.h>
#include <string.h>

#include "llmopt_bandit.h"


#define LLMOPT_BANDIT_MAGIC  0x6c6d6f62U      /* "lmob" */


typedef struct {
    uint32_t  magic;
    uint32_t  algorithm;
    uint32_t  n_arms;
    uint32_t  d;
    uint64_t  updates;
    uint64_t  reserved;
} llmopt_bandit_head_t;


typedef struct {
    double   *n;
    double   *sum_r;
    double   *sum_r2;
    double   *a;
    double   *b;
    double   *a_inv;
    double   *theta;
    double   *l;
} llmopt_bandit_arm_t;


static size_t llmopt_bandit_arm_doubles(unsigned d);
static void llmopt_bandit_arm(const llmopt_bandit_conf_t *conf,
    const void *block, unsigned arm, llmopt_bandit_arm_t *rec);
static int llmopt_bandit_linear(const llmopt_bandit_conf_t *conf);
static double llmopt_dot(const double *x, const double *y, unsigned d);
static double llmopt_quad(const double *m, const double *x, unsigned d);
static int llmopt_cholesky(const double *m, double *l, unsigned d);
static int llmopt_inverse(const double *m, double *inv, double *work,
    unsigned d);
static void llmopt_bandit_derive(const llmopt_bandit_conf_t *conf,
    llmopt_bandit_arm_t *rec, double *work);
static unsigned llmopt_bandit_pick(const double *score, unsigned n_arms,
    const unsigned char *allowed, llmopt_rng_t *rng);


static const char  *llmopt_algorithm_names[] = {
    "static", "linucb", "lin_ts", "thompson", "ucb1", "epsilon_greedy"
};


int
llmopt_algorithm_lookup(const char *name, size_t len)
{
    unsigned  i;

    for (i = 0; i < sizeof(llmopt_algorithm_names) / sizeof(char *); i++) {
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
    if ((unsigned) alg >= sizeof(llmopt_algorithm_names) / sizeof(char *)) {
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
    conf->forgetting = 1.0;
    conf->seed = 0;

    for (i = 0; i < LLMOPT_MAX_ARMS; i++) {
        conf->weights[i] = 1.0;
    }
}


static size_t
llmopt_bandit_arm_doubles(unsigned d)
{
    return 3 + 3 * (size_t) d * d + 2 * (size_t) d;
}


size_t
llmopt_bandit_size(const llmopt_bandit_conf_t *conf)
{
    return sizeof(llmopt_bandit_head_t)
           + conf->n_arms * llmopt_bandit_arm_doubles(conf->d)
             * sizeof(double);
}


static void
llmopt_bandit_arm(const llmopt_bandit_conf_t *conf, const void *block,
    unsigned arm, llmopt_bandit_arm_t *rec)
{
    size_t   dd;
    double  *p;

    dd = (size_t) conf->d * conf->d;

    p = (double *) ((char *) block + sizeof(llmopt_bandit_head_t))
        + arm * llmopt_bandit_arm_doubles(conf->d);

    rec->n = p;
    rec->sum_r = p + 1;
    rec->sum_r2 = p + 2;
    rec->a = p + 3;
    rec->b = rec->a + dd;
    rec->a_inv = rec->b + conf->d;
    rec->theta = rec->a_inv + dd;
    rec->l = rec->theta + conf->d;
}


static int
llmopt_bandit_linear(const llmopt_bandit_conf_t *conf)
{
    return conf->algorithm == LLMOPT_ALG_LINUCB
           || conf->algorithm == LLMOPT_ALG_LIN_TS;
}


void
llmopt_bandit_init(const llmopt_bandit_conf_t *conf, void *block)
{
    unsigned               arm, i, d;
    double                 lambda;
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_head_t  *head;

    memset(block, 0, llmopt_bandit_size(conf));

    head = block;
    head->magic = LLMOPT_BANDIT_MAGIC;
    head->algorithm = conf->algorithm;
    head->n_arms = conf->n_arms;
    head->d = conf->d;

    d = conf->d;
    lambda = conf->lambda > 0 ? conf->lambda : 1.0;

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, block, arm, &rec);

        for (i = 0; i < d; i++) {
            rec.a[i * d + i] = lambda;
            rec.a_inv[i * d + i] = 1.0 / lambda;
            rec.l[i * d + i] = 1.0 / sqrt(lambda);
        }
    }
}


/* the highest score among allowed arms, ties broken at random */

static unsigned
llmopt_bandit_pick(const double *score, unsigned n_arms,
    const unsigned char *allowed, llmopt_rng_t *rng)
{
    double    best;
    unsigned  i, pick, ties;

    pick = n_arms;
    best = -INFINITY;
    ties = 0;

    for (i = 0; i < n_arms; i++) {
        if (allowed != NULL && !allowed[i]) {
            continue;
        }

        if (pick == n_arms || score[i] > best) {
            best = score[i];
            pick = i;
            ties = 1;

        } else if (score[i] == best) {
            ties++;

            if (llmopt_rng_next(rng) % ties == 0) {
                pick = i;
            }
        }
    }

    return pick;
}


int
llmopt_bandit_select(const llmopt_bandit_conf_t *conf, const void *block,
    const double *x, const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice)
{
    double                score[LLMOPT_MAX_ARMS], mean[LLMOPT_MAX_ARMS];
    double                z[64], total, u, q, f;
    unsigned              i, j, k, d, n_allowed, greedy, pick;
    llmopt_bandit_arm_t   rec;
    uint64_t              plays;

    d = conf->d;
    n_allowed = 0;

    for (i = 0; i < conf->n_arms; i++) {
        if (allowed == NULL || allowed[i]) {
            n_allowed++;
        }
    }

    if (n_allowed == 0 || conf->n_arms > LLMOPT_MAX_ARMS || d > 64) {
        return LLMOPT_DECLINED;
    }

    f = conf->exploration_floor;

    /* the exploration floor: a uniform pick, f of the time */

    if (f > 0 && conf->algorithm != LLMOPT_ALG_STATIC
        && llmopt_rng_uniform(rng) < f)
    {
        k = (unsigned) (llmopt_rng_next(rng) % n_allowed);

        for (i = 0; i < conf->n_arms; i++) {
            if (allowed == NULL || allowed[i]) {
                if (k-- == 0) {
                    break;
                }
            }
        }

        choice->arm = i;
        choice->score = 0;
        choice->explore = 1;
        choice->propensity = f / n_allowed;   /* the greedy share is unknown */

        return LLMOPT_OK;
    }

    plays = 0;

    for (i = 0; i < conf->n_arms; i++) {
        llmopt_bandit_arm(conf, block, i, &rec);
        mean[i] = *rec.n > 0 ? *rec.sum_r / *rec.n : 0.0;
        plays += (uint64_t) *rec.n;
    }

    choice->explore = 0;

    switch (conf->algorithm) {

    case LLMOPT_ALG_STATIC:
        total = 0;

        for (i = 0; i < conf->n_arms; i++) {
            if (allowed == NULL || allowed[i]) {
                total += conf->weights[i] > 0 ? conf->weights[i] : 0;
            }
        }

        if (total <= 0) {
            return LLMOPT_DECLINED;
        }

        u = llmopt_rng_uniform(rng) * total;
        pick = conf->n_arms;

        for (i = 0; i < conf->n_arms; i++) {
            if ((allowed != NULL && !allowed[i]) || !(conf->weights[i] > 0)) {
                continue;
            }

            pick = i;

            if (u < conf->weights[i]) {
                break;
            }

            u -= conf->weights[i];
        }

        choice->arm = pick;
        choice->score = conf->weights[pick] / total;
        choice->propensity = conf->weights[pick] / total;

        return LLMOPT_OK;

    case LLMOPT_ALG_LINUCB:
    case LLMOPT_ALG_LIN_TS:

        for (i = 0; i < conf->n_arms; i++) {
            llmopt_bandit_arm(conf, block, i, &rec);
            mean[i] = llmopt_dot(rec.theta, x, d);

            if (conf->algorithm == LLMOPT_ALG_LINUCB) {
                q = llmopt_quad(rec.a_inv, x, d);
                score[i] = mean[i] + conf->alpha * sqrt(q > 0 ? q : 0);
                continue;
            }

            /* theta~ = theta + alpha L z: x'theta~ = x'theta + alpha x'Lz */

            for (j = 0; j < d; j++) {
                z[j] = llmopt_rng_normal(rng);
            }

            q = 0;

            for (j = 0; j < d; j++) {
                double  lz = 0;

                for (k = 0; k <= j; k++) {
                    lz += rec.l[j * d + k] * z[k];
                }

                q += x[j] * lz;
            }

            score[i] = mean[i] + conf->alpha * q;
        }

        pick = llmopt_bandit_pick(score, conf->n_arms, allowed, rng);
        greedy = llmopt_bandit_pick(mean, conf->n_arms, allowed, rng);

        choice->arm = pick;
        choice->score = score[pick];
        choice->explore = (pick != greedy && mean[pick] < mean[greedy]);

        /* LinUCB is deterministic; Thompson's share is not computed here */
        choice->propensity = conf->algorithm == LLMOPT_ALG_LINUCB
                             ? (1.0 - f) + f / n_allowed : 0.0;

        return LLMOPT_OK;

    case LLMOPT_ALG_THOMPSON:

        for (i = 0; i < conf->n_arms; i++) {
            llmopt_bandit_arm(conf, block, i, &rec);
            score[i] = llmopt_rng_beta(rng, conf->prior_alpha + *rec.sum_r,
                                       conf->prior_beta + *rec.n
                                       - *rec.sum_r);
            mean[i] = (conf->prior_alpha + *rec.sum_r)
                      / (conf->prior_alpha + conf->prior_beta + *rec.n);
        }

        pick = llmopt_bandit_pick(score, conf->n_arms, allowed, rng);
        greedy = llmopt_bandit_pick(mean, conf->n_arms, allowed, rng);

        choice->arm = pick;
        choice->score = score[pick];
        choice->explore = (pick != greedy && mean[pick] < mean[greedy]);
        choice->propensity = 0.0;

        return LLMOPT_OK;

    case LLMOPT_ALG_UCB1:

        for (i = 0; i < conf->n_arms; i++) {
            llmopt_bandit_arm(conf, block, i, &rec);

            if (*rec.n < 1) {
                score[i] = INFINITY;            /* untried arms first */
                continue;
            }

            score[i] = mean[i] + conf->alpha
                                 * sqrt(2.0 * log((double) plays + 1)
                                        / *rec.n);
        }

        pick = llmopt_bandit_pick(score, conf->n_arms, allowed, rng);
        greedy = llmopt_bandit_pick(mean, conf->n_arms, allowed, rng);

        choice->arm = pick;
        choice->score = score[pick];
        choice->explore = (pick != greedy && mean[pick] < mean[greedy]);
        choice->propensity = (1.0 - f) + f / n_allowed;

        return LLMOPT_OK;

    case LLMOPT_ALG_EPSILON_GREEDY:
        greedy = llmopt_bandit_pick(mean, conf->n_arms, allowed, rng);

        if (llmopt_rng_uniform(rng) < conf->epsilon) {
            k = (unsigned) (llmopt_rng_next(rng) % n_allowed);

            for (pick = 0; pick < conf->n_arms; pick++) {
                if (allowed == NULL || allowed[pick]) {
                    if (k-- == 0) {
                        break;
                    }
                }
            }

        } else {
            pick = greedy;
        }

        choice->arm = pick;
        choice->score = mean[pick];
        choice->explore = (pick != greedy);
        choice->propensity = (1.0 - f)
                             * ((pick == greedy ? 1.0 - conf->epsilon : 0.0)
                                + conf->epsilon / n_allowed)
                             + f / n_allowed;

        return LLMOPT_OK;
    }

    return LLMOPT_DECLINED;
}


void
llmopt_bandit_update(const llmopt_bandit_conf_t *conf, void *block,
    unsigned arm, const double *x, double reward)
{
    double                 g, ax[64], denom, work[64 * 64];
    unsigned               i, j, d;
    llmopt_bandit_arm_t    rec;
    llmopt_bandit_head_t  *head;

    if (arm >= conf->n_arms || conf->d > 64) {
        return;
    }

    if (!(reward >= 0)) {
        reward = 0;                         /* also NaN */

    } else if (reward > 1) {
        reward = 1;
    }

    head = block;
    head->updates++;

    d = conf->d;
    g = conf->forgetting > 0 && conf->forgetting < 1 ? conf->forgetting : 1;

    llmopt_bandit_arm(conf, block, arm, &rec);

    *rec.n = g * *rec.n + 1;
    *rec.sum_r = g * *rec.sum_r + reward;
    *rec.sum_r2 = g * *rec.sum_r2 + reward * reward;

    if (!llmopt_bandit_linear(conf)) {
        return;
    }

    if (g < 1) {
        /* discounted: A = g A + (1 - g) lambda I + x x', then refactor */
        for (i = 0; i < d; i++) {
            for (j = 0; j < d; j++) {
                rec.a[i * d + j] = g * rec.a[i * d + j] + x[i] * x[j];
            }

            rec.a[i * d + i] += (1 - g) * conf->lambda;
            rec.b[i] = g * rec.b[i] + reward * x[i];
        }

        llmopt_bandit_derive(conf, &rec, work);
        return;
    }

    for (i = 0; i < d; i++) {
        for (j = 0; j < d; j++) {
            rec.a[i * d + j] += x[i] * x[j];
        }

        rec.b[i] += reward * x[i];
    }

    /* Sherman-Morrison: (A + xx')^-1 = A^-1 - A^-1 x x' A^-1 / (1 + x'A^-1 x) */

    for (i = 0; i < d; i++) {
        ax[i] = llmopt_dot(&rec.a_inv[i * d], x, d);
    }

    denom = 1.0 + llmopt_dot(x, ax, d);

    for (i = 0; i < d; i++) {
        for (j = 0; j < d; j++) {
            rec.a_inv[i * d + j] -= ax[i] * ax[j] / denom;
        }
    }

    for (i = 0; i < d; i++) {
        rec.theta[i] = llmopt_dot(&rec.a_inv[i * d], rec.b, d);
    }

    if (conf->algorithm == LLMOPT_ALG_LIN_TS) {
        if (llmopt_cholesky(rec.a_inv, rec.l, d) != LLMOPT_OK) {
            llmopt_bandit_derive(conf, &rec, work);
        }
    }
}


/* A^-1, theta and L from A and b */

static void
llmopt_bandit_derive(const llmopt_bandit_conf_t *conf,
    llmopt_bandit_arm_t *rec, double *work)
{
    unsigned  i, d;

    d = conf->d;

    if (llmopt_inverse(rec->a, rec->a_inv, work, d) != LLMOPT_OK) {
        /* not positive definite: only corrupt input gets here */
        memset(rec->a_inv, 0, (size_t) d * d * sizeof(double));

        for (i = 0; i < d; i++) {
            rec->a_inv[i * d + i] = 1.0 / (conf->lambda > 0 ? conf->lambda
                                                            : 1.0);
        }
    }

    for (i = 0; i < d; i++) {
        rec->theta[i] = llmopt_dot(&rec->a_inv[i * d], rec->b, d);
    }

    if (conf->algorithm == LLMOPT_ALG_LIN_TS
        && llmopt_cholesky(rec->a_inv, rec->l, d) != LLMOPT_OK)
    {
        memset(rec->l, 0, (size_t) d * d * sizeof(double));
    }
}


void
llmopt_bandit_rebuild(const llmopt_bandit_conf_t *conf, void *block)
{
    double               work[64 * 64];
    unsigned             arm;
    llmopt_bandit_arm_t  rec;

    if (!llmopt_bandit_linear(conf) || conf->d > 64) {
        return;
    }

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, block, arm, &rec);
        llmopt_bandit_derive(conf, &rec, work);
    }
}


void
llmopt_bandit_merge(const llmopt_bandit_conf_t *conf, void *dst,
    const void *src)
{
    size_t                i, dd;
    unsigned              arm, d;
    llmopt_bandit_arm_t   to, from;

    d = conf->d;
    dd = (size_t) d * d;

    ((llmopt_bandit_head_t *) dst)->updates +=
        ((const llmopt_bandit_head_t *) src)->updates;

    for (arm = 0; arm < conf->n_arms; arm++) {
        llmopt_bandit_arm(conf, dst, arm, &to);
        llmopt_bandit_arm(conf, src, arm, &from);

        *to.n += *from.n;
        *to.sum_r += *from.sum_r;
        *to.sum_r2 += *from.sum_r2;

        for (i = 0; i < dd; i++) {
            to.a[i] += from.a[i];
        }

        for (i = 0; i < d; i++) {
            to.a[i * d + i] -= conf->lambda;    /* one prior, not two */
            to.b[i] += from.b[i];
        }
    }

    llmopt_bandit_rebuild(conf, dst);
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

    return *rec.n > 0 ? (uint64_t) (*rec.n + 0.5) : 0;
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


uint64_t
llmopt_bandit_updates(const void *block)
{
    return ((const llmopt_bandit_head_t *) block)->updates;
}


static double
llmopt_dot(const double *x, const double *y, unsigned d)
{
    double    s;
    unsigned  i;

    s = 0;

    for (i = 0; i < d; i++) {
        s += x[i] * y[i];
    }

    return s;
}


static double
llmopt_quad(const double *m, const double *x, unsigned d)
{
    double    s;
    unsigned  i;

    s = 0;

    for (i = 0; i < d; i++) {
        s += x[i] * llmopt_dot(&m[i * d], x, d);
    }

    return s;
}


/* lower-triangular L with L L' = m; LLMOPT_ERROR if not positive definite */

static int
llmopt_cholesky(const double *m, double *l, unsigned d)
{
    double    s;
    unsigned  i, j, k;

    for (i = 0; i < d; i++) {
        for (j = 0; j <= i; j++) {
            s = m[i * d + j];

            for (k = 0; k < j; k++) {
                s -= l[i * d + k] * l[j * d + k];
            }

            if (i == j) {
                if (!(s > 0)) {
                    return LLMOPT_ERROR;
                }

                l[i * d + i] = sqrt(s);

            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }

        for (j = i + 1; j < d; j++) {
            l[i * d + j] = 0;
        }
    }

    return LLMOPT_OK;
}


/* inverse of a symmetric positive definite m through its Cholesky factor */

static int
llmopt_inverse(const double *m, double *inv, double *work, unsigned d)
{
    double    s;
    unsigned  i, j, k, c;
    double   *l;

    l = work;

    if (llmopt_cholesky(m, l, d) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    /* solve L L' inv[:,c] = e_c column by column */

    for (c = 0; c < d; c++) {
        double  y[64];

        for (i = 0; i < d; i++) {
            s = (i == c) ? 1.0 : 0.0;

            for (k = 0; k < i; k++) {
                s -= l[i * d + k] * y[k];
            }

            y[i] = s / l[i * d + i];
        }

        for (j = d; j-- > 0; /* void */) {
            s = y[j];

            for (k = j + 1; k < d; k++) {
                s -= l[k * d + j] * inv[k * d + c];
            }

            inv[j * d + c] = s / l[j * d + j];
        }
    }

    return LLMOPT_OK;
}
