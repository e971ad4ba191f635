/*
 * Copyright (C) llmopt authors
 *
 * xoshiro256** seeded through splitmix64, and the distributions the bandits
 * need: uniform, bounded integer (Lemire's multiply-and-reject), normal
 * (Marsaglia's polar method), gamma (Marsaglia-Tsang), beta.
 */


#include <math.h>

#include "llmopt_rng.h"


static uint64_t llmopt_rng_splitmix(uint64_t *x);
static uint64_t llmopt_rng_rotl(uint64_t x, int k);


static uint64_t
llmopt_rng_splitmix(uint64_t *x)
{
    uint64_t  z;

    z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static uint64_t
llmopt_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}


void
llmopt_rng_seed(llmopt_rng_t *rng, uint64_t seed)
{
    unsigned  i;

    for (i = 0; i < 4; i++) {
        rng->s[i] = llmopt_rng_splitmix(&seed);
    }

    rng->spare = 0;
    rng->has_spare = 0;
}


uint64_t
llmopt_rng_next(llmopt_rng_t *rng)
{
    uint64_t  *s, result, t;

    s = rng->s;

    result = llmopt_rng_rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = llmopt_rng_rotl(s[3], 45);

    return result;
}


uint32_t
llmopt_rng_below(llmopt_rng_t *rng, uint32_t n)
{
    uint32_t  floor;
    uint64_t  m;

    if (n == 0) {
        return 0;
    }

    /* the high 32 bits of a 32x32 product; reject the biased low part */

    m = (llmopt_rng_next(rng) >> 32) * n;

    if ((uint32_t) m < n) {
        floor = (uint32_t) (-n) % n;

        while ((uint32_t) m < floor) {
            m = (llmopt_rng_next(rng) >> 32) * n;
        }
    }

    return (uint32_t) (m >> 32);
}


double
llmopt_rng_uniform(llmopt_rng_t *rng)
{
    return (double) (llmopt_rng_next(rng) >> 11) * 0x1.0p-53;
}


double
llmopt_rng_normal(llmopt_rng_t *rng)
{
    double  u, v, s, f;

    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }

    do {
        u = 2.0 * llmopt_rng_uniform(rng) - 1.0;
        v = 2.0 * llmopt_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);

    f = sqrt(-2.0 * log(s) / s);

    rng->spare = v * f;
    rng->has_spare = 1;

    return u * f;
}


double
llmopt_rng_gamma(llmopt_rng_t *rng, double shape)
{
    double  d, c, x, v, u;

    if (!(shape > 0.0)) {
        return 0.0;
    }

    if (shape < 1.0) {
        /* G(a) = G(a + 1) U^(1/a) */
        u = llmopt_rng_uniform(rng);
        return llmopt_rng_gamma(rng, shape + 1.0) * pow(u, 1.0 / shape);
    }

    if (isinf(shape)) {
        return shape;
    }

    d = shape - 1.0 / 3.0;
    c = 1.0 / sqrt(9.0 * d);

    /* acceptance is above 95% for every shape >= 1: the loop is short */

    for ( ;; ) {
        do {
            x = llmopt_rng_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);

        v = v * v * v;
        u = llmopt_rng_uniform(rng);

        if (u < 1.0 - 0.0331 * (x * x) * (x * x)) {
            return d * v;
        }

        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) {
            return d * v;
        }
    }
}


double
llmopt_rng_beta(llmopt_rng_t *rng, double a, double b)
{
    double  x, y;

    x = llmopt_rng_gamma(rng, a);
    y = llmopt_rng_gamma(rng, b);

    if (!(x + y > 0.0)) {
        return 0.5;
    }

    if (isinf(x) || isinf(y)) {
        return isinf(x) ? (isinf(y) ? 0.5 : 1.0) : 0.0;
    }

    return x / (x + y);
}
