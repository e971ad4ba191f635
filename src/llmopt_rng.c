/*
 * Copyright (C) llmopt authors
 *
 * xoshiro256** seeded through splitmix64, and the distributions the bandits
 * need: uniform, normal (polar method), gamma (Marsaglia-Tsang), beta.
 */


#include <math.h>

#include "llmopt_rng.h"


static uint64_t llmopt_rng_splitmix(uint64_t *x);


static uint64_t
llmopt_rng_splitmix(uint64_t *x)
{
    uint64_t  z;

    z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


void
llmopt_rng_seed(llmopt_rng_t *rng, uint64_t seed)
{
    unsigned  i;

    for (i = 0; i < 4; i++) {
        rng->s[i] = llmopt_rng_splitmix(&seed);
    }
}


uint64_t
llmopt_rng_next(llmopt_rng_t *rng)
{
    uint64_t  *s, result, t;

    s = rng->s;

    result = s[1] * 5;
    result = ((result << 7) | (result >> 57)) * 9;

    t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);

    return result;
}


double
llmopt_rng_uniform(llmopt_rng_t *rng)
{
    /* the top 53 bits, scaled to [0, 1) */
    return (double) (llmopt_rng_next(rng) >> 11) * 0x1.0p-53;
}


double
llmopt_rng_normal(llmopt_rng_t *rng)
{
    double  u, v, s;

    do {
        u = 2.0 * llmopt_rng_uniform(rng) - 1.0;
        v = 2.0 * llmopt_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);

    /* the second variate is dropped: the state stays plain data */
    return u * sqrt(-2.0 * log(s) / s);
}


double
llmopt_rng_gamma(llmopt_rng_t *rng, double shape)
{
    double  d, c, x, v, u;

    if (!(shape > 0.0)) {
        return 0.0;
    }

    if (shape < 1.0) {
        /* boost: G(a) = G(a + 1) * U^(1/a) */
        u = llmopt_rng_uniform(rng);
        return llmopt_rng_gamma(rng, shape + 1.0) * pow(u, 1.0 / shape);
    }

    d = shape - 1.0 / 3.0;
    c = 1.0 / sqrt(9.0 * d);

    for ( ;; ) {
        do {
            x = llmopt_rng_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);

        v = v * v * v;
        u = llmopt_rng_uniform(rng);

        if (u < 1.0 - 0.0331 * x * x * x * x) {
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

    if (x + y <= 0.0) {
        return 0.5;
    }

    return x / (x + y);
}
