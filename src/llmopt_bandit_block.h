/*
 * Copyright (C) llmopt authors
 *
 * The bandit's block header and checks, shared by its two files: the
 * block and its learning (llmopt_bandit.c) and the choice
 * (llmopt_bandit_select.c).  Private to them: nothing else includes it.
 */

#ifndef _LLMOPT_BANDIT_BLOCK_H_INCLUDED_
#define _LLMOPT_BANDIT_BLOCK_H_INCLUDED_


#include "llmopt_bandit.h"


#define LLMOPT_BANDIT_MAGIC    0x326f6d6cU     /* "lmo2" */

#define LLMOPT_BANDIT_ADDITIVE_HEAD  4          /* n, sum_r, sum_r2, pulls */

#define LLMOPT_ALG_COUNT       (LLMOPT_ALG_EPSILON_GREEDY + 1)


typedef struct {
    uint32_t  magic;
    uint32_t  algorithm;
    uint32_t  n_arms;
    uint32_t  d;
    uint64_t  updates;
    double    lambda;               /* the prior the block was built with */
    double    prior_mean;           /* ... and its mean */
} llmopt_bandit_head_t;


/* 1 if conf's algorithm keeps A and b (linucb, lin_ts), else 0. */
int llmopt_bandit_linear(const llmopt_bandit_conf_t *conf);

/*
 * The cheap part of llmopt_bandit_conf_check() and llmopt_bandit_check(),
 * for every request: LLMOPT_OK if conf is usable with block, else
 * LLMOPT_ERROR.
 */
int llmopt_bandit_usable(const llmopt_bandit_conf_t *conf,
    const void *block);


#endif /* _LLMOPT_BANDIT_BLOCK_H_INCLUDED_ */
