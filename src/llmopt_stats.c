/*
 * Copyright (C) llmopt authors
 */


#include <math.h>
#include <string.h>

#include "llmopt_stats.h"


static double llmopt_stats_ibeta(double a, double b, double x);
static double llmopt_stats_ibeta_cf(double a, double b, double x);
static double llmopt_stats_t_quantile(double df);
void
llmopt_sample_moments(const llmopt_sample_t *s, double *mean, double *var)
{
    *mean = s->n > 0 ? s->sum / s->n : 0;
    *var = s->n > 1 ? (s->sq - s->n * *mean * *mean) / (s->n - 1) : 0;

    if (*var < 0) {
        *var = 0;
    }
}


void
llmopt_welch(const llmopt_sample_t *a, const llmopt_sample_t *b,
    llmopt_test_t *out)
{
    double  ma, va, mb, vb, se2, t, q, num, den;

    memset(out, 0, sizeof(llmopt_test_t));
    out->p = 1;

    llmopt_sample_moments(a, &ma, &va);
    llmopt_sample_moments(b, &mb, &vb);

    out->diff = mb - ma;
    out->lo = out->hi = out->diff;

    if (a->n < 2 || b->n < 2) {
        return;
    }

    se2 = va / a->n + vb / b->n;

    if (!(se2 > 0)) {
        /* no spread at all: equal means are no evidence, unequal ones are
           certain */
        out->p = out->diff == 0 ? 1 : 0;
        out->df = a->n + b->n - 2;
        return;
    }

    num = se2 * se2;
    den = (va / a->n) * (va / a->n) / (a->n - 1)
          + (vb / b->n) * (vb / b->n) / (b->n - 1);
    out->df = den > 0 ? num / den : a->n + b->n - 2;

    t = out->diff / sqrt(se2);
    out->p = llmopt_t_two_sided(t, out->df);

    q = llmopt_stats_t_quantile(out->df);
    out->lo = out->diff - q * sqrt(se2);
    out->hi = out->diff + q * sqrt(se2);
}


void
llmopt_z_prop(double xa, double na, double xb, double nb, llmopt_test_t *out)
{
    double  pa, pb, pool, se, z, seu;

    memset(out, 0, sizeof(llmopt_test_t));
    out->p = 1;

    if (na <= 0 || nb <= 0) {
        return;
    }

    pa = xa / na;
    pb = xb / nb;
    out->diff = pb - pa;

    pool = (xa + xb) / (na + nb);
    se = sqrt(pool * (1 - pool) * (1 / na + 1 / nb));

    if (se > 0) {
        z = out->diff / se;
        out->p = erfc(fabs(z) / sqrt(2.0));
    }

    seu = sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb);
    out->lo = out->diff - 1.959963984540054 * seu;
    out->hi = out->diff + 1.959963984540054 * seu;
    out->df = HUGE_VAL;
}


double
llmopt_msprt_p(const llmopt_sample_t *a, const llmopt_sample_t *b,
    double tau2)
{
    double  ma, va, mb, vb, v;

    if (a->n < 2 || b->n < 2 || !(tau2 > 0)) {
        return 1;
    }

    llmopt_sample_moments(a, &ma, &va);
    llmopt_sample_moments(b, &mb, &vb);

    v = va / a->n + vb / b->n;

    return llmopt_msprt(mb - ma, v, tau2);
}


double
llmopt_msprt(double d, double v, double tau2)
{
    double  lr;

    if (!(tau2 > 0)) {
        return 1;
    }

    if (!(v > 0)) {
        return d == 0 ? 1 : 0;
    }

    /* the normal likelihood ratio of "the difference is drawn from
       N(0, tau2)" against "it is 0", for an estimate of variance v */

    lr = sqrt(v / (v + tau2)) * exp(tau2 * d * d / (2 * v * (v + tau2)));

    return lr > 1 ? 1 / lr : 1;
}


double
llmopt_t_two_sided(double t, double df)
{
    double  x;

    if (!(df > 0)) {
        return 1;
    }

    if (isinf(df)) {
        return erfc(fabs(t) / sqrt(2.0));
    }

    x = df / (df + t * t);

    return llmopt_stats_ibeta(df / 2, 0.5, x);
}


/* the t that leaves 2.5 % in each tail, by bisection */

static double
llmopt_stats_t_quantile(double df)
{
    int     i;
    double  lo, hi, mid;

    lo = 0;
    hi = 1000;

    for (i = 0; i < 100; i++) {
        mid = (lo + hi) / 2;

        if (llmopt_t_two_sided(mid, df) > 0.05) {
            lo = mid;
        } else {
            hi = mid;
        }
    }

    return (lo + hi) / 2;
}


/* the regularised incomplete beta function I_x(a, b) */

static double
llmopt_stats_ibeta(double a, double b, double x)
{
    double  front;

    if (x <= 0) {
        return 0;
    }

    if (x >= 1) {
        return 1;
    }

    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b)
                + a * log(x) + b * log(1 - x));

    /* the continued fraction converges fast on this side */

    if (x < (a + 1) / (a + b + 2)) {
        return front * llmopt_stats_ibeta_cf(a, b, x) / a;
    }

    return 1 - front * llmopt_stats_ibeta_cf(b, a, 1 - x) / b;
}


/* its continued fraction, evaluated by the modified Lentz method */

static double
llmopt_stats_ibeta_cf(double a, double b, double x)
{
    int     m, m2;
    double  aa, c, d, del, h, tiny;

    tiny = 1e-300;
    c = 1;
    d = 1 - (a + b) * x / (a + 1);
    d = fabs(d) < tiny ? tiny : d;
    d = 1 / d;
    h = d;

    for (m = 1; m <= 300; m++) {
        m2 = 2 * m;

        aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        h *= d * c;

        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        del = d * c;
        h *= del;

        if (fabs(del - 1) < 1e-14) {
            break;
        }
    }

    return h;
}
