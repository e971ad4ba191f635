/*
 * Copyright (C) llmopt authors
 *
 * The variant learner: Thompson sampling among a model's prompt variants
 * with the exact propensity of its choice, its update, the A/B report
 * against the control (llmopt_variant.h).
 */


#include <math.h>

#include "llmopt_variant.h"


#define LLMOPT_VARIANT_NODES   48        /* quadrature points */
#define LLMOPT_VARIANT_SPAN    7.0       /* of z, from -7 to 7 */


static void llmopt_variant_posterior(const llmopt_sample_t *s, double *mean,
    double *sd);
static double llmopt_variant_phi(double z);


int
llmopt_variant_select(const llmopt_variant_t *variants, unsigned n,
    const llmopt_variant_tally_t *row, unsigned dialect, llmopt_rng_t *rng,
    unsigned *variant, double *propensity)
{
    int       on_floor;
    double    draw, best, p, z, x, h, w, prod, floor;
    unsigned  v, k, m, chosen;
    double    mean[LLMOPT_MAX_VARIANTS], sd[LLMOPT_MAX_VARIANTS];
    unsigned  allowed[LLMOPT_MAX_VARIANTS];

    if (n > LLMOPT_MAX_VARIANTS) {
        n = LLMOPT_MAX_VARIANTS;
    }

    m = 0;

    for (v = 0; v < n; v++) {
        if (variants[v].dialects & (1u << dialect)) {
            allowed[m++] = v;
        }
    }

    if (m == 0) {
        return LLMOPT_DECLINED;
    }

    if (m == 1) {
        *variant = allowed[0];
        *propensity = 1.0;
        return LLMOPT_OK;
    }

    floor = LLMOPT_VARIANT_FLOOR;

    /* the floor's draw, then Thompson's (drawn either way) */

    on_floor = llmopt_rng_uniform(rng) < floor;
    chosen = on_floor ? allowed[llmopt_rng_below(rng, m)] : allowed[0];
    best = -HUGE_VAL;

    for (v = 0; v < m; v++) {
        k = allowed[v];
        llmopt_variant_posterior(&row[k].reward, &mean[k], &sd[k]);

        draw = mean[k] + sd[k] * llmopt_rng_normal(rng);

        if (draw > best) {
            best = draw;

            if (!on_floor) {
                chosen = k;
            }
        }
    }

    *variant = chosen;

    if (m == 2) {
        k = allowed[0] == chosen ? allowed[1] : allowed[0];
        p = llmopt_variant_phi((mean[chosen] - mean[k])
                               / sqrt(sd[chosen] * sd[chosen]
                                      + sd[k] * sd[k]));

    } else {
        /* P(chosen is highest) = E over its draw x of prod P(draw < x) */

        h = 2 * LLMOPT_VARIANT_SPAN / LLMOPT_VARIANT_NODES;
        p = 0;

        for (k = 0; k < LLMOPT_VARIANT_NODES; k++) {
            z = -LLMOPT_VARIANT_SPAN + (k + 0.5) * h;
            w = exp(-0.5 * z * z) * h / sqrt(2 * M_PI);
            x = mean[chosen] + sd[chosen] * z;
            prod = 1;

            for (v = 0; v < m && prod > 0; v++) {
                if (allowed[v] != chosen) {
                    prod *= llmopt_variant_phi((x - mean[allowed[v]])
                                               / sd[allowed[v]]);
                }
            }

            p += w * prod;
        }

        p = p < 1 ? p : 1;
    }

    *propensity = (1 - floor) * p + floor / m;

    return LLMOPT_OK;
}


void
llmopt_variant_learn(llmopt_variant_tally_t *row, unsigned n, unsigned v,
    double reward, double propensity)
{
    double    y, m0, mu, sd;
    unsigned  u;

    if (n > LLMOPT_MAX_VARIANTS) {
        n = LLMOPT_MAX_VARIANTS;
    }

    if (v >= n) {
        return;
    }

    if (!(reward >= 0)) {
        reward = 0;

    } else if (reward > 1) {
        reward = 1;
    }

    if (propensity > 0 && propensity <= 1) {
        llmopt_variant_posterior(&row[0].reward, &m0, &sd);

        for (u = 1; u < n; u++) {
            llmopt_variant_posterior(&row[u].reward, &mu, &sd);

            y = mu - m0;

            if (v == u) {
                y += (reward - mu) / propensity;

            } else if (v == 0) {
                y -= (reward - m0) / propensity;
            }

            row[u].aipw += y;
            row[u].aipw_sq += y * y;
        }
    }

    row[v].reward.n += 1;
    row[v].reward.sum += reward;
    row[v].reward.sq += reward * reward;
}


void
llmopt_variant_ab(const llmopt_variant_tally_t *rows, unsigned n_rows,
    unsigned variant, llmopt_variant_ab_t *out)
{
    double                         n, s, q, c_n, c_sum, x_n, x_sum;
    unsigned                       r, k;
    const llmopt_variant_tally_t  *row;

    n = s = q = c_n = c_sum = x_n = x_sum = 0;

    for (r = 0; r < n_rows; r++) {
        row = &rows[r * LLMOPT_MAX_VARIANTS];

        for (k = 0; k < LLMOPT_MAX_VARIANTS; k++) {
            n += row[k].reward.n;
        }

        s += row[variant].aipw;
        q += row[variant].aipw_sq;
        c_n += row[0].reward.n;
        c_sum += row[0].reward.sum;
        x_n += row[variant].reward.n;
        x_sum += row[variant].reward.sum;
    }

    out->n = x_n;
    out->mean_diff = (x_n > 0 ? x_sum / x_n : 0)
                     - (c_n > 0 ? c_sum / c_n : 0);

    if (variant == 0 || !(n > 0) || c_n < 2 || x_n < 2) {
        out->diff = 0;
        out->p_always = 1;
        return;
    }

    out->diff = s / n;
    out->p_always = llmopt_msprt(s / n, 2 * q / (n * n),
                                 LLMOPT_VARIANT_TAU2);
}


/* A torn or empty sample reads as the prior. */

static void
llmopt_variant_posterior(const llmopt_sample_t *s, double *mean, double *sd)
{
    double  n, sum, m;

    n = s->n;
    sum = s->sum;

    if (!(n >= 0) || !(sum >= 0) || sum > n) {
        n = 0;
        sum = 0;
    }

    m = (sum + 1) / (n + 2);
    *mean = m;
    *sd = sqrt(m * (1 - m) / (n + 3));
}


/* the standard normal's distribution function */

static double
llmopt_variant_phi(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}
