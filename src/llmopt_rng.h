/*
 * Copyright (C) llmopt authors
 *
 * A small, fast, seedable generator (xoshiro256**) and the distributions the
 * bandits need.  State is plain data: one per worker, never shared.
 */

#ifndef _LLMOPT_RNG_H_INCLUDED_
#define _LLMOPT_RNG_H_INCLUDED_


#include <stdint.h>


typedef struct {
    uint64_t  s[4];
} llmopt_rng_t;


void llmopt_rng_seed(llmopt_rng_t *rng, uint64_t seed);
uint64_t llmopt_rng_next(llmopt_rng_t *rng);
double llmopt_rng_uniform(llmopt_rng_t *rng);           /* [0, 1) */
double llmopt_rng_normal(llmopt_rng_t *rng);            /* N(0, 1) */
double llmopt_rng_gamma(llmopt_rng_t *rng, double shape);
double llmopt_rng_beta(llmopt_rng_t *rng, double a, double b);


#endif /* _LLMOPT_RNG_H_INCLUDED_ */
