/*
 * Copyright (C) llmopt authors
 *
 * Tests for experiments: known values of the t distribution, Welch's test
 * and the two-proportion z-test, and, over 2,000 seeded A/A experiments,
 * how often each reports a difference that is not there (printed): the
 * fixed-horizon tests about 5 %, the always-valid one at most 5 % however
 * often it is looked at.
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "llmopt_stats.h"
#include "llmopt_rng.h"


static void
add(llmopt_sample_t *s, double x)
{
    s->n += 1;
    s->sum += x;
    s->sq += x * x;
}


int
main(void)
{
    unsigned          e, i, welch_fp, z_fp, seq_fp, power, looked;
    double            q, minp;
    llmopt_rng_t      rng;
    llmopt_test_t     t;
    llmopt_sample_t   a, b;

    is_num(llmopt_t_two_sided(2.0, 10), 0.0734, 0.0005, "P(|T| > 2), df 10");
    is_num(llmopt_t_two_sided(2.228, 10), 0.05, 0.0005, "t(.975, 10) = 2.228");
    is_num(llmopt_t_two_sided(1.96, 1e9), 0.05, 0.0005, "df large: normal");
    is_num(llmopt_t_two_sided(0, 5), 1, 1e-12, "t 0: p 1");

    a.n = 10; a.sum = 0; a.sq = 9;            /* mean 0, variance 1 */
    b.n = 10; b.sum = 10; b.sq = 19;          /* mean 1, variance 1 */
    llmopt_welch(&a, &b, &t);
    is_num(t.diff, 1, 1e-12, "Welch: the difference");
    is_num(t.df, 18, 1e-9, "Welch: df 18 for equal n and variances");
    is_num(t.p, 0.0382, 0.0005, "Welch: p 0.038");
    is_num(t.lo, 0.0604, 0.001, "Welch: 95 %% interval low");
    is_num(t.hi, 1.9396, 0.001, "Welch: 95 %% interval high");

    llmopt_z_prop(30, 100, 45, 100, &t);
    is_num(t.diff, 0.15, 1e-12, "z: the difference of proportions");
    is_num(t.p, 0.0285, 0.0005, "z: p 0.028");

    a.n = 1; a.sum = 1; a.sq = 1;
    llmopt_welch(&a, &b, &t);
    is_num(t.p, 1, 0, "Welch with one value: no verdict");

    /* A/A: both arms succeed 70 % of the time; 400 rewards each */

    llmopt_rng_seed(&rng, 2026);
    welch_fp = z_fp = seq_fp = 0;
    looked = 0;

    for (e = 0; e < 2000; e++) {
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        minp = 1;

        for (i = 1; i <= 400; i++) {
            add(&a, llmopt_rng_uniform(&rng) < 0.7);
            add(&b, llmopt_rng_uniform(&rng) < 0.7);

            if (i % 20 == 0) {
                /* peek every 20: the always-valid p may be read anytime */
                q = llmopt_msprt_p(&a, &b, 0.01);
                minp = q < minp ? q : minp;
                looked++;
            }
        }

        llmopt_welch(&a, &b, &t);
        welch_fp += t.p < 0.05;
        llmopt_z_prop(a.sum, a.n, b.sum, b.n, &t);
        z_fp += t.p < 0.05;
        seq_fp += minp < 0.05;
    }

    printf("# A/A over 2000 seeded experiments of 400 + 400 rewards:"
           " Welch %.1f %%, z %.1f %% (level 5 %%), always-valid with %u"
           " looks each %.1f %% (at most 5 %%)\n", 100.0 * welch_fp / 2000,
           100.0 * z_fp / 2000, looked / 2000, 100.0 * seq_fp / 2000);

    ok(welch_fp >= 60 && welch_fp <= 140,
       "Welch false positives near 5 %% (%u of 2000)", welch_fp);
    ok(z_fp >= 60 && z_fp <= 140, "z false positives near 5 %% (%u)", z_fp);
    ok(seq_fp <= 110, "always-valid, peeking 20 times: at most about 5 %%"
       " (%u)", seq_fp);

    /* and a real difference is found: 70 % against 80 % */

    power = 0;

    for (e = 0; e < 500; e++) {
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));

        for (i = 0; i < 400; i++) {
            add(&a, llmopt_rng_uniform(&rng) < 0.7);
            add(&b, llmopt_rng_uniform(&rng) < 0.8);
        }

        llmopt_welch(&a, &b, &t);
        power += t.p < 0.05 && t.diff > 0;
    }

    printf("# 70 %% against 80 %%, 400 each: Welch finds it in %.1f %%\n",
           100.0 * power / 500);
    ok(power > 400, "a difference of 10 points is found (%u of 500)", power);

    return tap_done();
}
