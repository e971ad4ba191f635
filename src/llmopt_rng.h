/*
 * Copyright (C) llmopt authors
 *
 * A small, fast, seedable generator (xoshiro256**) and the distributions the
 * bandits need.  State is plain data: one per worker, never shared.  The
 * same seed gives the same stream on every platform with IEEE doubles and
 * the same libm.
 */

#ifndef _LLMOPT_RNG_H_INCLUDED_
#define _LLMOPT_RNG_H_INCLUDED_


#include <stdint.h>


typedef struct {
    uint64_t  s[4];
    double    spare;            /* second normal variate of the last pair */
    unsigned  has_spare;
} llmopt_rng_t;


/*
 * Seeds the state through splitmix64, so any seed (0 included) gives a
 * well-mixed, nonzero state.  Forgets a pending spare normal.
 */
void llmopt_rng_seed(llmopt_rng_t *rng, uint64_t seed);

/* 64 uniformly random bits. */
uint64_t llmopt_rng_next(llmopt_rng_t *rng);

/* Uniform integer in [0, n), without modulo bias; 0 when n is 0. */
uint32_t llmopt_rng_below(llmopt_rng_t *rng, uint32_t n);

/* Uniform double in [0, 1), 53 random bits. */
double llmopt_rng_uniform(llmopt_rng_t *rng);

/* Standard normal N(0, 1) (polar method; pairs, the spare is kept). */
double llmopt_rng_normal(llmopt_rng_t *rng);

/*
 * Gamma(shape, 1) (Marsaglia-Tsang; shape < 1 boosted).  0 for a shape
 * that is not > 0 (NaN included): callers reading shared memory under a
 * seqlock may pass torn values and must get a bounded, harmless answer.
 */
double llmopt_rng_gamma(llmopt_rng_t *rng, double shape);

/* Beta(a, b) as G(a) / (G(a) + G(b)); 0.5 when both gammas are 0. */
double llmopt_rng_beta(llmopt_rng_t *rng, double a, double b);


#endif /* _LLMOPT_RNG_H_INCLUDED_ */
