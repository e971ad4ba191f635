/*
 * Copyright (C) llmopt authors
 *
 * The generator and its distributions: determinism and moments.
 */

#include <stdlib.h>

#include "tap.h"
#include "llmopt_rng.h"


#define SAMPLES  200000


static void test_determinism(void);
static void test_uniform(void);
static void test_below(void);
static void test_normal(void);
static void test_gamma(double shape);
static void test_beta(double a, double b);
static void test_degenerate(void);


int
main(void)
{
    test_determinism();
    test_uniform();
    test_below();
    test_normal();
    test_gamma(0.5);
    test_gamma(1.0);
    test_gamma(3.7);
    test_beta(2.0, 5.0);
    test_beta(0.5, 0.5);
    test_beta(30.0, 70.0);
    test_degenerate();

    return tap_done();
}


static void
test_determinism(void)
{
    int           i, same;
    double        x;
    llmopt_rng_t  a, b;

    llmopt_rng_seed(&a, 42);
    llmopt_rng_seed(&b, 42);

    same = 1;
    for (i = 0; i < 1000; i++) {
        same &= llmopt_rng_next(&a) == llmopt_rng_next(&b);
        same &= llmopt_rng_normal(&a) == llmopt_rng_normal(&b);
        same &= llmopt_rng_beta(&a, 2, 3) == llmopt_rng_beta(&b, 2, 3);
    }

    ok(same, "same seed, same stream (bits, normals, betas)");

    llmopt_rng_seed(&a, 42);
    llmopt_rng_seed(&b, 43);
    ok(llmopt_rng_next(&a) != llmopt_rng_next(&b), "other seed, other stream");

    /* reseeding forgets a pending spare normal */

    llmopt_rng_seed(&a, 5);
    x = llmopt_rng_normal(&a);
    llmopt_rng_seed(&a, 5);
    ok(llmopt_rng_normal(&a) == x, "reseeding restarts the normal pairs");

    llmopt_rng_seed(&a, 0);
    ok(a.s[0] != 0 || a.s[1] != 0 || a.s[2] != 0 || a.s[3] != 0,
       "seed 0 gives a nonzero state");

    /* xoshiro256** seeded by splitmix64(1), computed independently */

    llmopt_rng_seed(&a, 1);
    ok(llmopt_rng_next(&a) == 0xb3f2af6d0fc710c5ULL
       && llmopt_rng_next(&a) == 0x853b559647364ceaULL
       && llmopt_rng_next(&a) == 0x92f89756082a4514ULL,
       "stream matches the reference xoshiro256** for seed 1");
}


static void
test_uniform(void)
{
    int           i, inside;
    double        u, sum, sum2;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 1);

    inside = 1;
    sum = 0;
    sum2 = 0;

    for (i = 0; i < SAMPLES; i++) {
        u = llmopt_rng_uniform(&rng);
        inside &= u >= 0 && u < 1;
        sum += u;
        sum2 += u * u;
    }

    ok(inside, "uniform in [0, 1)");
    is_num(sum / SAMPLES, 0.5, 0.005, "uniform mean 1/2");
    is_num(sum2 / SAMPLES - (sum / SAMPLES) * (sum / SAMPLES), 1.0 / 12,
           0.002, "uniform variance 1/12");
}


static void
test_below(void)
{
    int           i, inside, fair;
    unsigned      counts[7] = { 0 }, k;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 2);

    inside = 1;

    for (i = 0; i < 70000; i++) {
        k = llmopt_rng_below(&rng, 7);
        inside &= k < 7;

        if (k < 7) {
            counts[k]++;
        }
    }

    ok(inside, "below(7) in [0, 7)");

    fair = 1;
    for (k = 0; k < 7; k++) {
        fair &= counts[k] > 9500 && counts[k] < 10500;
    }

    ok(fair, "below(7) about uniform");

    is_int(llmopt_rng_below(&rng, 0), 0, "below(0) is 0");
    is_int(llmopt_rng_below(&rng, 1), 0, "below(1) is 0");
    ok(llmopt_rng_below(&rng, 0xffffffffu) < 0xffffffffu,
       "below(2^32 - 1) in range");
}


static void
test_normal(void)
{
    int           i;
    double        z, sum, sum2, sum4;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 3);

    sum = 0;
    sum2 = 0;
    sum4 = 0;

    for (i = 0; i < SAMPLES; i++) {
        z = llmopt_rng_normal(&rng);
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
    }

    is_num(sum / SAMPLES, 0, 0.01, "normal mean 0");
    is_num(sum2 / SAMPLES, 1, 0.015, "normal variance 1");
    is_num(sum4 / SAMPLES, 3, 0.1, "normal fourth moment 3");
}


static void
test_gamma(double shape)
{
    int           i, positive;
    double        g, sum, sum2, mean;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 4);

    sum = 0;
    sum2 = 0;
    positive = 1;

    for (i = 0; i < SAMPLES; i++) {
        g = llmopt_rng_gamma(&rng, shape);
        positive &= g >= 0;
        sum += g;
        sum2 += g * g;
    }

    mean = sum / SAMPLES;

    ok(positive, "gamma(%g) >= 0", shape);
    is_num(mean, shape, 0.02 * shape + 0.01, "gamma(%g) mean", shape);
    is_num(sum2 / SAMPLES - mean * mean, shape, 0.05 * shape + 0.01,
           "gamma(%g) variance", shape);
}


static void
test_beta(double a, double b)
{
    int           i, inside;
    double        x, sum, sum2, mean, want_mean, want_var;
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 5);

    sum = 0;
    sum2 = 0;
    inside = 1;

    for (i = 0; i < SAMPLES; i++) {
        x = llmopt_rng_beta(&rng, a, b);
        inside &= x >= 0 && x <= 1;
        sum += x;
        sum2 += x * x;
    }

    mean = sum / SAMPLES;
    want_mean = a / (a + b);
    want_var = a * b / ((a + b) * (a + b) * (a + b + 1));

    ok(inside, "beta(%g, %g) in [0, 1]", a, b);
    is_num(mean, want_mean, 0.005, "beta(%g, %g) mean", a, b);
    is_num(sum2 / SAMPLES - mean * mean, want_var, 0.05 * want_var + 1e-4,
           "beta(%g, %g) variance", a, b);
}


static void
test_degenerate(void)
{
    llmopt_rng_t  rng;

    llmopt_rng_seed(&rng, 6);

    is_num(llmopt_rng_gamma(&rng, 0), 0, 0, "gamma(0) is 0");
    is_num(llmopt_rng_gamma(&rng, -1), 0, 0, "gamma(-1) is 0");
    is_num(llmopt_rng_gamma(&rng, NAN), 0, 0, "gamma(NaN) is 0");
    ok(isinf(llmopt_rng_gamma(&rng, INFINITY)), "gamma(inf) is inf");
    is_num(llmopt_rng_beta(&rng, 0, 0), 0.5, 0, "beta(0, 0) is 1/2");
    is_num(llmopt_rng_beta(&rng, NAN, 1), 0, 0, "beta(NaN, 1) is 0");
    is_num(llmopt_rng_beta(&rng, INFINITY, 1), 1, 0, "beta(inf, 1) is 1");
    ok(llmopt_rng_gamma(&rng, 1e-300) >= 0, "tiny shape terminates");
}
