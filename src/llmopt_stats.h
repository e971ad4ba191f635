/*
 * Copyright (C) llmopt authors
 *
 * Two-sample tests for experiments (A/B splits): Welch's t-test on mean
 * rewards, the two-proportion z-test on failure rates, each with a 95 %
 * interval of the difference, and an always-valid p-value (a mixture
 * sequential probability ratio test, mSPRT) that stays valid however often
 * it is looked at.  From sufficient statistics: count, sum, sum of squares.
 */

#ifndef _LLMOPT_STATS_H_INCLUDED_
#define _LLMOPT_STATS_H_INCLUDED_


#include <stdint.h>


typedef struct {
    double   n;
    double   sum;
    double   sq;            /* sum of squares */
} llmopt_sample_t;


typedef struct {
    double   diff;          /* b - a */
    double   lo, hi;        /* 95 % interval of diff */
    double   p;             /* two-sided p-value; 1 when undefined */
    double   df;            /* Welch-Satterthwaite degrees of freedom */
} llmopt_test_t;


/* Welch's t-test of mean(b) - mean(a); p = 1 with fewer than 2 each. */
/* The mean and the unbiased variance (>= 0) of a sample. */
void llmopt_sample_moments(const llmopt_sample_t *s, double *mean,
    double *var);

void llmopt_welch(const llmopt_sample_t *a, const llmopt_sample_t *b,
    llmopt_test_t *out);

/* The two-proportion z-test of xb/nb - xa/na (pooled standard error). */
void llmopt_z_prop(double xa, double na, double xb, double nb,
    llmopt_test_t *out);

/*
 * The always-valid p-value of mean(b) != mean(a) from a normal mSPRT with
 * mixing variance tau2 (on the difference, in squared reward units):
 * 1 / likelihood ratio, capped at 1.  Taking the minimum over looks keeps
 * the false-alarm rate at or below the level.
 */
double llmopt_msprt_p(const llmopt_sample_t *a, const llmopt_sample_t *b,
    double tau2);

/*
 * The same for an estimate d of the difference whose variance is v: the
 * normal mixture's 1 / likelihood ratio, capped at 1 (v not > 0: 1 when
 * d is 0, else 0).
 */
double llmopt_msprt(double d, double v, double tau2);

/* Student's t distribution: P(|T| > t) with df degrees of freedom. */
double llmopt_t_two_sided(double t, double df);


#endif /* _LLMOPT_STATS_H_INCLUDED_ */
