/*
 * Copyright (C) llmopt authors
 *
 * Contextual and context-free bandits behind one interface.  A policy's
 * learned state is one flat parameter block that the caller places, e.g. in
 * nginx shared memory: no pointers inside, plain doubles and integers, so it
 * can be copied, checksummed, summed across instances and mapped at any
 * address.
 */

#ifndef _LLMOPT_BANDIT_H_INCLUDED_
#define _LLMOPT_BANDIT_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_rng.h"


#define LLMOPT_MAX_ARMS  32


typedef enum {
    LLMOPT_ALG_STATIC = 0,
    LLMOPT_ALG_LINUCB,
    LLMOPT_ALG_LIN_TS,
    LLMOPT_ALG_THOMPSON,
    LLMOPT_ALG_UCB1,
    LLMOPT_ALG_EPSILON_GREEDY
} llmopt_algorithm_e;


typedef struct {
    llmopt_algorithm_e  algorithm;
    unsigned            n_arms;
    unsigned            d;                  /* feature dimension */
    double              alpha;              /* linucb width, lin_ts scale */
    double              lambda;             /* ridge prior, A = lambda I */
    double              epsilon;            /* epsilon_greedy */
    double              prior_alpha;        /* thompson Beta prior */
    double              prior_beta;
    double              exploration_floor;  /* min share of each arm */
    double              forgetting;         /* 1 = none, else (0, 1) */
    uint64_t            seed;               /* 0 = seeded by the caller */
    double              weights[LLMOPT_MAX_ARMS];  /* static */
} llmopt_bandit_conf_t;


typedef struct {
    unsigned            arm;
    double              propensity;     /* P(arm chosen | x); 0 = not
                                           computed (lin_ts, thompson) */
    double              score;          /* the arm's index value */
    unsigned            explore;        /* 1 if not the greedy arm */
} llmopt_choice_t;


/* Returns the algorithm for a catalog name such as "linucb", or -1. */
int llmopt_algorithm_lookup(const char *name, size_t len);
const char *llmopt_algorithm_name(llmopt_algorithm_e alg);

/* Fills defaults for every hyperparameter of an algorithm. */
void llmopt_bandit_conf_defaults(llmopt_bandit_conf_t *conf);

/* Bytes of the parameter block for conf; aligned to 8. */
size_t llmopt_bandit_size(const llmopt_bandit_conf_t *conf);

/* Initialises a block of llmopt_bandit_size() bytes to the prior. */
void llmopt_bandit_init(const llmopt_bandit_conf_t *conf, void *block);

/*
 * Chooses an arm for context x (conf->d doubles).  "allowed" is a mask of
 * n_arms bytes (nonzero = may be chosen) or NULL for all; LLMOPT_DECLINED
 * when no arm is allowed.  Reads the block only; never allocates.
 */
int llmopt_bandit_select(const llmopt_bandit_conf_t *conf, const void *block,
    const double *x, const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);

/* Learns reward in [0, 1] for arm at context x.  Single writer only. */
void llmopt_bandit_update(const llmopt_bandit_conf_t *conf, void *block,
    unsigned arm, const double *x, double reward);

/*
 * Recomputes the derived fields (A^-1, theta, Cholesky factor) from the
 * additive ones, e.g. after a restore.
 */
void llmopt_bandit_rebuild(const llmopt_bandit_conf_t *conf, void *block);

/*
 * Adds the additive statistics of src (same conf) into dst, counting the
 * ridge prior once, and rebuilds dst.
 */
void llmopt_bandit_merge(const llmopt_bandit_conf_t *conf, void *dst,
    const void *src);

/* Updates the block has received in all. */
uint64_t llmopt_bandit_updates(const void *block);

/* Number of updates an arm has received, and its mean reward. */
uint64_t llmopt_bandit_arm_count(const llmopt_bandit_conf_t *conf,
    const void *block, unsigned arm);
double llmopt_bandit_arm_mean(const llmopt_bandit_conf_t *conf,
    const void *block, unsigned arm);


#endif /* _LLMOPT_BANDIT_H_INCLUDED_ */
