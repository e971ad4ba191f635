/*
 * Copyright (C) llmopt authors
 *
 * Contextual and context-free bandits behind one interface.  A policy's
 * learned state is one flat parameter block that the caller places, e.g. in
 * nginx shared memory: no pointers inside, plain doubles and integers, so it
 * can be copied, checksummed, summed across instances and mapped at any
 * address.  docs/ALGORITHMS.md describes the algorithms, the layout and
 * which fields are additive.
 *
 * Threading: select only reads the block and may run in any number of
 * processes at once, e.g. under a seqlock (llmopt_seqlock.h); it tolerates
 * a torn block (bounded loops, no index taken from the block) as long as
 * the caller drops the result when the seqlock says so.  update, rebuild,
 * merge and init write the block: one writer at a time.
 */

#ifndef _LLMOPT_BANDIT_H_INCLUDED_
#define _LLMOPT_BANDIT_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_rng.h"


#define LLMOPT_MAX_ARMS        32
#define LLMOPT_BANDIT_MAX_DIM  64       /* d of a linear policy */
#define LLMOPT_BANDIT_DECAY    1.0      /* exploration_decay: about
                                           2 c sqrt(n) uniform picks in n
                                           decisions (docs/ALGORITHMS.md) */


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
    unsigned            n_arms;             /* 1 .. LLMOPT_MAX_ARMS */
    unsigned            d;                  /* feature dimension */
    double              alpha;              /* linucb and ucb1 width,
                                               lin_ts posterior scale */
    double              lambda;             /* ridge prior, A = lambda I */
    double              epsilon;            /* epsilon_greedy */
    double              prior_alpha;        /* thompson Beta prior */
    double              prior_beta;
    double              exploration_floor;  /* f: share of uniform picks */
    double              exploration_decay;  /* c: at least c / sqrt(n) of
                                               uniform picks after n
                                               answers, all arms' counts
                                               (learning algorithms) */
    double              forgetting;         /* 1 = none, else (0, 1) */
    double              prior_mean;         /* linear: the prior mean of
                                               the reward, put on feature
                                               prior_index (the bias); 0 =
                                               shrink to 0 as plain ridge */
    unsigned            prior_index;        /* the bias's dimension */
    uint64_t            seed;               /* 0 = seeded by the caller */
    double              weights[LLMOPT_MAX_ARMS];  /* static */
} llmopt_bandit_conf_t;


typedef struct {
    unsigned            arm;
    double              propensity;     /* P(arm chosen | x, block) as
                                           drawn; 0 = unknown (lin_ts,
                                           thompson: see
                                           llmopt_bandit_propensity()) */
    double              score;          /* the arm's index value */
    unsigned            explore;        /* 1 if the arm's estimated mean
                                           is below the best allowed one */
} llmopt_choice_t;


/*
 * A view of one arm's record inside a block.  The first
 * llmopt_bandit_additive_doubles() doubles from "n" on are additive and
 * contiguous (n, sum_r, sum_r2, pulls, then A and b for linear
 * algorithms); A^-1 and theta are derived.  a, b, a_inv and theta are NULL
 * for the algorithms without a linear model.  Matrices are d x d,
 * row-major.
 */

typedef struct {
    double             *n;              /* weight: count, discounted */
    double             *sum_r;          /* sum of rewards, discounted */
    double             *sum_r2;         /* sum of squared rewards */
    double             *pulls;          /* raw count, never discounted */
    double             *a;              /* lambda I + sum x x' */
    double             *b;              /* sum r x */
    double             *a_inv;          /* derived: A^-1 */
    double             *theta;          /* derived: A^-1 b */
} llmopt_bandit_arm_t;


/* Returns the algorithm for a catalog name such as "linucb", or -1. */
int llmopt_algorithm_lookup(const char *name, size_t len);

/* The catalog name of an algorithm; "unknown" when out of range. */
const char *llmopt_algorithm_name(llmopt_algorithm_e alg);

/*
 * Fills conf with defaults: algorithm linucb, n_arms and d 0, alpha 1,
 * lambda 1, epsilon 0.1, Beta prior 1/1, exploration floor 0, exploration
 * decay LLMOPT_BANDIT_DECAY, forgetting 1 (none), seed 0, every weight 1.
 * The caller then sets algorithm, n_arms and d.
 */
void llmopt_bandit_conf_defaults(llmopt_bandit_conf_t *conf);

/*
 * LLMOPT_OK if conf can be used: 1 <= n_arms <= LLMOPT_MAX_ARMS, a known
 * algorithm, d <= LLMOPT_BANDIT_MAX_DIM for linear ones, hyperparameters
 * in range.  Otherwise LLMOPT_ERROR with the reason in err (may be NULL).
 */
int llmopt_bandit_conf_check(const llmopt_bandit_conf_t *conf,
    llmopt_err_t *err);

/* 1 if conf's algorithm keeps a linear model of the features, else 0. */
int llmopt_bandit_linear_model(const llmopt_bandit_conf_t *conf);

/*
 * Bytes of the parameter block for conf; a multiple of 8.  Linear
 * algorithms need 4 + 2 d^2 + 2 d doubles per arm, the others 4.
 */
size_t llmopt_bandit_size(const llmopt_bandit_conf_t *conf);

/* Additive doubles at the start of each arm record (4 + d^2 + d or 4). */
size_t llmopt_bandit_additive_doubles(const llmopt_bandit_conf_t *conf);

/*
 * Initialises a block of llmopt_bandit_size() bytes, 8-aligned, to the
 * prior: no data, A = lambda I, A^-1 = I / lambda, theta = 0.
 */
void llmopt_bandit_init(const llmopt_bandit_conf_t *conf, void *block);

/*
 * LLMOPT_OK if block was initialised for a conf of the same algorithm,
 * n_arms, d and lambda, e.g. a zone kept over a reload or a restored
 * checkpoint; LLMOPT_DECLINED otherwise.
 */
int llmopt_bandit_check(const llmopt_bandit_conf_t *conf, const void *block);

/* Fills view with pointers into arm's record of block; arm < n_arms. */
void llmopt_bandit_arm(const llmopt_bandit_conf_t *conf, const void *block,
    unsigned arm, llmopt_bandit_arm_t *view);

/*
 * Chooses an arm for context x (conf->d doubles).  "allowed" is a mask of
 * n_arms bytes (nonzero = may be chosen) or NULL for all; LLMOPT_DECLINED
 * when no arm is allowed (or, for static, no allowed arm has a positive
 * weight), LLMOPT_ERROR when conf is unusable or does not match the block.
 * With exploration floor f > 0 the algorithm's choice is replaced, with
 * probability f, by a uniform pick among the allowed arms; a learning
 * algorithm's floor is at least exploration_decay / sqrt(n), n the sum of
 * all arms' (discounted) answer counts in the block, so that no arm's
 * estimate is left behind for good (lock-in); the propensity counts it.
 * Reads the block only; never allocates; O(n_arms d^2) for linear
 * algorithms, O(n_arms) otherwise.  rng is the caller's (one per process).
 */
int llmopt_bandit_select(const llmopt_bandit_conf_t *conf, const void *block,
    const double *x, const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);

/*
 * The probability that select gives arm for x and allowed, in [0, 1].
 * Exact for static, linucb, ucb1 and epsilon_greedy (samples unused);
 * estimated for lin_ts and thompson from "samples" draws of the same
 * sampler select uses (standard error about sqrt(p (1 - p) / samples)),
 * floor included.  Costs "samples" selections: meant for the trainer or
 * offline evaluation, not the request path.  Returns a negative value when
 * conf, arm or allowed make the question meaningless.
 */
double llmopt_bandit_propensity(const llmopt_bandit_conf_t *conf,
    const void *block, const double *x, const unsigned char *allowed,
    unsigned arm, llmopt_rng_t *rng, unsigned samples);

/*
 * Learns reward for arm at context x.  The reward is clamped to [0, 1] (NaN
 * counts as 0).  Single writer only.  O(d^2) for linear algorithms: A, b,
 * A^-1 by Sherman-Morrison, theta; every 1024 pulls of an arm, or when the
 * rank-one update finds A^-1 no longer positive definite, A^-1 is
 * recomputed from A (O(d^3)) so rounding cannot accumulate.
 */
void llmopt_bandit_update(const llmopt_bandit_conf_t *conf, void *block,
    unsigned arm, const double *x, double reward);

/*
 * Recomputes the derived fields (A^-1, theta) from the additive ones,
 * e.g. after a restore or a merge.  O(n_arms d^3).
 */
void llmopt_bandit_rebuild(const llmopt_bandit_conf_t *conf, void *block);

/*
 * Adds the additive statistics of src into dst (both blocks of conf),
 * counting the ridge prior once, and rebuilds dst: dst then holds what one
 * block would hold after learning both streams.  Exact without forgetting;
 * with forgetting the streams are treated as simultaneous.  Blocks that
 * llmopt_bandit_check() rejects are left alone.
 */
void llmopt_bandit_merge(const llmopt_bandit_conf_t *conf, void *dst,
    const void *src);

/*
 * Keeps a share "keep" in [0, 1] of what an arm has learned: its counts,
 * sums and (linear) A and b beyond the prior are scaled by keep, its raw
 * pull count stays; keep 0 resets the arm to the prior.  For a detected
 * change (drift).  Rebuilds the derived fields.  Single writer only.
 */
void llmopt_bandit_forget_arm(const llmopt_bandit_conf_t *conf, void *block,
    unsigned arm, double keep);

/*
 * Copies arm src_arm's record from src, a block of any number of arms,
 * into arm dst_arm of dst, a block for conf, and adds its pulls to dst's
 * update count: what a policy learned of an arm survives a catalog edit
 * that adds, removes or reorders other arms.  LLMOPT_DECLINED, nothing
 * written, when src was not made for the same algorithm, lambda, prior
 * mean and (linear algorithms) d as conf, or an arm is out of range.
 * Single writer only.
 */
int llmopt_bandit_copy_arm(const llmopt_bandit_conf_t *conf, void *dst,
    unsigned dst_arm, const void *src, unsigned src_arm);

/* Updates the block has received in all. */
uint64_t llmopt_bandit_updates(const void *block);

/*
 * Number of updates an arm has received (its raw pull count), and its mean
 * reward (discounted with forgetting); 0 for an unknown arm.
 */
uint64_t llmopt_bandit_arm_count(const llmopt_bandit_conf_t *conf,
    const void *block, unsigned arm);
double llmopt_bandit_arm_mean(const llmopt_bandit_conf_t *conf,
    const void *block, unsigned arm);


#endif /* _LLMOPT_BANDIT_H_INCLUDED_ */
