/*
 * Copyright (C) llmopt authors
 *
 * The bandits' choice: each algorithm's score of the allowed arms, the
 * arm it picks, the exploration floor and its decay, and the propensity
 * of the pick.  Reads the block only (llmopt_bandit.c writes it).
 */


#include <math.h>
#include <string.h>

#include "llmopt_bandit.h"
#include "llmopt_bandit_block.h"
#include "llmopt_linalg.h"


/* one draw of the algorithm's scores over the allowed arms */

typedef struct {
    double    score[LLMOPT_MAX_ARMS];
    double    mean[LLMOPT_MAX_ARMS];
    double    best;                 /* highest score */
    double    best_mean;            /* highest mean */
    double    total_weight;         /* static: allowed positive weights */
    unsigned  allowed;              /* arms allowed */
    unsigned  ties;                 /* arms at the highest score */
    unsigned  mean_ties;            /* arms at the highest mean */
} llmopt_bandit_draw_t;


static void llmopt_bandit_scores(const llmopt_bandit_conf_t *conf,
    const void *block, const double *x, const unsigned char *allowed,
    llmopt_rng_t *rng, llmopt_bandit_draw_t *draw);
static unsigned llmopt_bandit_argmax(const llmopt_bandit_conf_t *conf,
    const llmopt_bandit_draw_t *draw, const unsigned char *allowed,
    llmopt_rng_t *rng);
static unsigned llmopt_bandit_roulette(const llmopt_bandit_conf_t *conf,
    const llmopt_bandit_draw_t *draw, const unsigned char *allowed,
    llmopt_rng_t *rng);
static unsigned llmopt_bandit_nth_allowed(const llmopt_bandit_conf_t *conf,
    const unsigned char *allowed, unsigned nth);
static double llmopt_bandit_floor(const llmopt_bandit_conf_t *conf,
    const void *block);
static double llmopt_bandit_exact(const llmopt_bandit_conf_t *conf,
    const llmopt_bandit_draw_t *draw, unsigned arm);
static void llmopt_bandit_lin_ts_widths(const llmopt_bandit_conf_t *conf,
    const void *block, const double *x, const unsigned char *allowed,
    double *width);
static void llmopt_bandit_lin_ts_redraw(const llmopt_bandit_conf_t *conf,
    const unsigned char *allowed, const double *width, llmopt_rng_t *rng,
    llmopt_bandit_draw_t *draw);


/*
 * Scores and means of the allowed arms; disallowed arms are left
 * untouched.  Every loop is bounded by conf, never by the block, so a torn
 * block read under a seqlock gives garbage numbers but no harm.
 */

static void
llmopt_bandit_scores(const llmopt_bandit_conf_t *conf, const void *block,
    const double *x, const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_bandit_draw_t *draw)
{
    double               q, n, s, plays, log_plays, w;
    unsigned             i, d;
    llmopt_bandit_arm_t  rec;

    d = conf->d;
    plays = 0;
    log_plays = 0;

    if (conf->algorithm == LLMOPT_ALG_UCB1) {
        for (i = 0; i < conf->n_arms; i++) {
            llmopt_bandit_arm(conf, block, i, &rec);
            plays += *rec.n > 0 ? *rec.n : 0;
        }

        log_plays = log(plays > 1 ? plays : 1);
    }

    draw->allowed = 0;
    draw->ties = 0;
    draw->mean_ties = 0;
    draw->best = -INFINITY;
    draw->best_mean = -INFINITY;
    draw->total_weight = 0;

    for (i = 0; i < conf->n_arms; i++) {
        if (allowed != NULL && !allowed[i]) {
            continue;
        }

        draw->allowed++;
        llmopt_bandit_arm(conf, block, i, &rec);

        n = *rec.n;
        s = *rec.sum_r;

        switch (conf->algorithm) {

        case LLMOPT_ALG_STATIC:
            w = conf->weights[i] > 0 ? conf->weights[i] : 0;
            draw->total_weight += w;
            draw->score[i] = w;
            draw->mean[i] = n > 0 ? s / n : 0;
            break;

        case LLMOPT_ALG_LINUCB:
        case LLMOPT_ALG_LIN_TS:
            draw->mean[i] = llmopt_linalg_dot(rec.theta, x, d);
            q = llmopt_linalg_quad(rec.a_inv, x, d);
            q = q > 0 ? sqrt(q) : 0;        /* also NaN from a torn read */

            if (conf->algorithm == LLMOPT_ALG_LIN_TS) {
                /*
                 * x' (theta + alpha L z) with L L' = A^-1, z ~ N(0, I_d) is
                 * N(x' theta, alpha^2 x' A^-1 x): one normal per arm draws
                 * exactly the score the full d-dimensional sample would.
                 */
                q *= llmopt_rng_normal(rng);
            }

            draw->score[i] = draw->mean[i] + conf->alpha * q;
            break;

        case LLMOPT_ALG_THOMPSON:
            /* successes += r, failures += 1 - r: fractional Bernoulli */
            draw->score[i] = llmopt_rng_beta(rng, conf->prior_alpha + s,
                                             conf->prior_beta + (n - s));
            draw->mean[i] = (conf->prior_alpha + s)
                            / (conf->prior_alpha + conf->prior_beta + n);
            break;

        case LLMOPT_ALG_UCB1:
            draw->mean[i] = n > 0 ? s / n : 0;

            if (!(*rec.pulls >= 1) || !(n > 0)) {
                draw->score[i] = INFINITY;  /* untried arms first */

            } else {
                draw->score[i] = draw->mean[i]
                                 + conf->alpha * sqrt(2.0 * log_plays / n);
            }

            break;

        default: /* LLMOPT_ALG_EPSILON_GREEDY */
            /* untried arms first, as ucb1: a mean of 0 would never be */
            draw->mean[i] = *rec.pulls >= 1 && n > 0 ? s / n : INFINITY;
            draw->score[i] = draw->mean[i];
            break;
        }

        if (draw->ties == 0 || draw->score[i] > draw->best) {
            draw->best = draw->score[i];
            draw->ties = 1;

        } else if (draw->score[i] == draw->best) {
            draw->ties++;
        }

        if (draw->mean_ties == 0 || draw->mean[i] > draw->best_mean) {
            draw->best_mean = draw->mean[i];
            draw->mean_ties = 1;

        } else if (draw->mean[i] == draw->best_mean) {
            draw->mean_ties++;
        }
    }
}


/* an allowed arm at the highest score, uniformly among ties */

static unsigned
llmopt_bandit_argmax(const llmopt_bandit_conf_t *conf,
    const llmopt_bandit_draw_t *draw, const unsigned char *allowed,
    llmopt_rng_t *rng)
{
    unsigned  i, nth;

    nth = draw->ties > 1 ? llmopt_rng_below(rng, draw->ties) : 0;

    for (i = 0; i < conf->n_arms; i++) {
        if ((allowed == NULL || allowed[i])
            && draw->score[i] == draw->best
            && nth-- == 0)
        {
            return i;
        }
    }

    /* a NaN best (torn read): any allowed arm */

    return llmopt_bandit_nth_allowed(conf, allowed, 0);
}


/* static: an allowed arm with probability weight / total_weight */

static unsigned
llmopt_bandit_roulette(const llmopt_bandit_conf_t *conf,
    const llmopt_bandit_draw_t *draw, const unsigned char *allowed,
    llmopt_rng_t *rng)
{
    double    u;
    unsigned  i, last;

    u = llmopt_rng_uniform(rng) * draw->total_weight;
    last = conf->n_arms;

    for (i = 0; i < conf->n_arms; i++) {
        if ((allowed != NULL && !allowed[i]) || !(draw->score[i] > 0)) {
            continue;
        }

        last = i;

        if (u < draw->score[i]) {
            return i;
        }

        u -= draw->score[i];
    }

    return last;                    /* rounding left u at the very top */
}


static unsigned
llmopt_bandit_nth_allowed(const llmopt_bandit_conf_t *conf,
    const unsigned char *allowed, unsigned nth)
{
    unsigned  i;

    for (i = 0; i < conf->n_arms; i++) {
        if ((allowed == NULL || allowed[i]) && nth-- == 0) {
            return i;
        }
    }

    return 0;
}


/*
 * The share of uniform picks: the exploration floor, and for a learning
 * algorithm at least exploration_decay / sqrt(n) of the answers n it has
 * learned from (all arms, discounted), so that an arm whose first answers
 * were bad is still tried now and then, less and less (about 2 c sqrt(n)
 * uniform picks in n decisions).  Reads the counts as select does: a torn
 * read gives a floor in [0, 1] all the same.
 */

static double
llmopt_bandit_floor(const llmopt_bandit_conf_t *conf, const void *block)
{
    double               f, decay, n, plays;
    unsigned             i;
    llmopt_bandit_arm_t  rec;

    f = conf->exploration_floor;
    f = f > 0 ? (f < 1 ? f : 1) : 0;
    decay = conf->exploration_decay;

    if (!(decay > 0) || conf->algorithm == LLMOPT_ALG_STATIC) {
        return f;
    }

    plays = 0;

    for (i = 0; i < conf->n_arms; i++) {
        llmopt_bandit_arm(conf, block, i, &rec);
        n = *rec.n;
        plays += n > 0 ? n : 0;         /* also NaN */
    }

    decay /= sqrt(plays > 1 ? plays : 1);
    decay = decay < 1 ? decay : 1;

    return decay > f ? decay : f;
}


/*
 * The probability that the algorithm itself (floor aside) picks arm, for
 * the deterministic and the explicitly randomised algorithms; -1 for the
 * sampling ones.
 */

static double
llmopt_bandit_exact(const llmopt_bandit_conf_t *conf,
    const llmopt_bandit_draw_t *draw, unsigned arm)
{
    double  greedy;

    switch (conf->algorithm) {

    case LLMOPT_ALG_STATIC:
        return draw->score[arm] > 0 ? draw->score[arm] / draw->total_weight
                                    : 0;

    case LLMOPT_ALG_LINUCB:
    case LLMOPT_ALG_UCB1:
        return draw->score[arm] == draw->best ? 1.0 / draw->ties : 0;

    case LLMOPT_ALG_EPSILON_GREEDY:
        greedy = draw->mean[arm] == draw->best_mean
                 ? 1.0 / draw->mean_ties : 0;

        return (1.0 - conf->epsilon) * greedy
               + conf->epsilon / draw->allowed;

    default:
        return -1;
    }
}


int
llmopt_bandit_select(const llmopt_bandit_conf_t *conf, const void *block,
    const double *x, const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice)
{
    double                f, p;
    unsigned              arm;
    llmopt_bandit_draw_t  draw;

    if (llmopt_bandit_usable(conf, block) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    llmopt_bandit_scores(conf, block, x, allowed, rng, &draw);

    if (draw.allowed == 0) {
        return LLMOPT_DECLINED;
    }

    switch (conf->algorithm) {

    case LLMOPT_ALG_STATIC:
        if (!(draw.total_weight > 0)) {
            return LLMOPT_DECLINED;
        }

        arm = llmopt_bandit_roulette(conf, &draw, allowed, rng);
        break;

    case LLMOPT_ALG_EPSILON_GREEDY:
        if (llmopt_rng_uniform(rng) < conf->epsilon) {
            arm = llmopt_bandit_nth_allowed(conf, allowed,
                                            llmopt_rng_below(rng,
                                                             draw.allowed));
            break;
        }

        arm = llmopt_bandit_argmax(conf, &draw, allowed, rng);
        break;

    default:
        arm = llmopt_bandit_argmax(conf, &draw, allowed, rng);
        break;
    }

    f = llmopt_bandit_floor(conf, block);

    if (f > 0 && llmopt_rng_uniform(rng) < f) {
        arm = llmopt_bandit_nth_allowed(conf, allowed,
                                        llmopt_rng_below(rng, draw.allowed));
    }

    p = llmopt_bandit_exact(conf, &draw, arm);

    choice->arm = arm;
    choice->score = draw.score[arm];
    choice->propensity = p < 0 ? 0 : (1.0 - f) * p + f / draw.allowed;
    choice->explore = conf->algorithm != LLMOPT_ALG_STATIC
                      && draw.mean[arm] < draw.best_mean;

    return LLMOPT_OK;
}


double
llmopt_bandit_propensity(const llmopt_bandit_conf_t *conf,
    const void *block, const double *x, const unsigned char *allowed,
    unsigned arm, llmopt_rng_t *rng, unsigned samples)
{
    double                f, p, wins, width[LLMOPT_MAX_ARMS];
    unsigned              s;
    llmopt_bandit_draw_t  draw;

    if (llmopt_bandit_usable(conf, block) != LLMOPT_OK
        || arm >= conf->n_arms)
    {
        return -1;
    }

    llmopt_bandit_scores(conf, block, x, allowed, rng, &draw);

    if (draw.allowed == 0
        || (conf->algorithm == LLMOPT_ALG_STATIC
            && !(draw.total_weight > 0)))
    {
        return -1;
    }

    if (allowed != NULL && !allowed[arm]) {
        return 0;
    }

    p = llmopt_bandit_exact(conf, &draw, arm);

    if (p < 0) {
        if (samples == 0) {
            return -1;
        }

        /* the first draw is a sample too; a tie is shared */

        if (conf->algorithm == LLMOPT_ALG_LIN_TS) {
            llmopt_bandit_lin_ts_widths(conf, block, x, allowed, width);
        }

        wins = 0;

        for (s = 0; s < samples; s++) {
            if (s > 0) {
                if (conf->algorithm == LLMOPT_ALG_LIN_TS) {
                    /* means and widths do not change: redraw the normals */
                    llmopt_bandit_lin_ts_redraw(conf, allowed, width, rng,
                                                &draw);

                } else {
                    llmopt_bandit_scores(conf, block, x, allowed, rng,
                                         &draw);
                }
            }

            if (draw.score[arm] == draw.best) {
                wins += 1.0 / draw.ties;
            }
        }

        p = wins / samples;
    }

    f = llmopt_bandit_floor(conf, block);

    return (1.0 - f) * p + f / draw.allowed;
}


/* lin_ts: alpha sqrt(x' A^-1 x) of each allowed arm */

static void
llmopt_bandit_lin_ts_widths(const llmopt_bandit_conf_t *conf,
    const void *block, const double *x, const unsigned char *allowed,
    double *width)
{
    double               q;
    unsigned             i;
    llmopt_bandit_arm_t  rec;

    for (i = 0; i < conf->n_arms; i++) {
        if (allowed != NULL && !allowed[i]) {
            continue;
        }

        llmopt_bandit_arm(conf, block, i, &rec);
        q = llmopt_linalg_quad(rec.a_inv, x, conf->d);
        width[i] = conf->alpha * (q > 0 ? sqrt(q) : 0);
    }
}


/* lin_ts: new scores from the means of draw and the widths */

static void
llmopt_bandit_lin_ts_redraw(const llmopt_bandit_conf_t *conf,
    const unsigned char *allowed, const double *width, llmopt_rng_t *rng,
    llmopt_bandit_draw_t *draw)
{
    unsigned  i;

    draw->ties = 0;

    for (i = 0; i < conf->n_arms; i++) {
        if (allowed != NULL && !allowed[i]) {
            continue;
        }

        draw->score[i] = draw->mean[i] + width[i] * llmopt_rng_normal(rng);

        if (draw->ties == 0 || draw->score[i] > draw->best) {
            draw->best = draw->score[i];
            draw->ties = 1;

        } else if (draw->score[i] == draw->best) {
            draw->ties++;
        }
    }
}
