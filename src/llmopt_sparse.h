
/*
 * Copyright (C) llmopt authors
 *
 * The sparse learner ("algorithm: sparse"): hashed unigrams and bigrams of
 * the prompt and of the system prompt, each in its namespace, and the
 * policy's dense features, crossed with the arm in one table of float
 * weights; per-weight adaptive learning rates (AdaGrad with a prior
 * accumulator); SquareCB exploration with its exact propensity.
 * docs/LEARNING.md ("Sparse learner") describes it.
 *
 * Threading: the table has one writer (the trainer, llmopt_sparse_update)
 * and any number of readers (llmopt_sparse_select) in other processes, with
 * no lock.  Each weight is a naturally aligned 32-bit float, stored and
 * loaded whole (relaxed atomics), so a reader sees every weight either old
 * or new, never torn; a score may sum weights of before and after one
 * update, which is a score between the two models and harms nothing: the
 * propensity is computed from the very scores the choice was drawn from,
 * so it is exact for what was decided.
 */

#ifndef _LLMOPT_SPARSE_H_INCLUDED_
#define _LLMOPT_SPARSE_H_INCLUDED_


#include <stdint.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"


#define LLMOPT_SPARSE_BITS_MIN     10      /* log2 of the table's weights */
#define LLMOPT_SPARSE_BITS_MAX     24
#define LLMOPT_SPARSE_BITS         18      /* default: 2 MiB a policy */

/*
 * A text is read at most LLMOPT_SPARSE_HEAD bytes from its start and
 * LLMOPT_SPARSE_TAIL from its end; a request has at most
 * LLMOPT_SPARSE_MAX_FEATURES distinct text features, the first found.
 */
#define LLMOPT_SPARSE_HEAD         2048
#define LLMOPT_SPARSE_TAIL         512
#define LLMOPT_SPARSE_MAX_FEATURES 1024
#define LLMOPT_SPARSE_SEEN         2048    /* dedupe set, 2 x the above */

/* text features an event carries to the trainer (llmopt_sparse_carry_t) */
#define LLMOPT_SPARSE_CARRY        32

#define LLMOPT_SPARSE_PROMPT       0       /* namespaces of text features */
#define LLMOPT_SPARSE_SYSTEM       1


typedef struct {
    unsigned            bits;           /* 2^bits weights */
    unsigned            ngrams;         /* 1: words; 2: and bigrams */
    double              learning_rate;  /* (0, 10] */
    double              exploration;    /* SquareCB's gamma scale, > 0 */
    unsigned            n_arms;         /* 1 .. LLMOPT_MAX_ARMS */
    unsigned            d;              /* dense features, x[0 .. d-1] */
} llmopt_sparse_conf_t;


/*
 * A request's text features: buckets of the table (the arm is added when
 * scoring), prompt ones first, then the system prompt's; each feature of a
 * namespace has the same value, so that a namespace's vector has norm
 * 1 / sqrt(namespaces present) (the dense one included).  Memory of the
 * caller, filled by llmopt_sparse_features(); about 12 KB.
 */

typedef struct {
    unsigned            n;              /* entries of bucket */
    unsigned            n_prompt;       /* the first n_prompt: prompt's */
    float               value[2];       /* by namespace */
    float               dense_norm;     /* 1 / |(1, x)| / sqrt(spaces) */
    uint32_t            bucket[LLMOPT_SPARSE_MAX_FEATURES];
    uint32_t            seen[LLMOPT_SPARSE_SEEN];   /* scratch */
} llmopt_sparse_features_t;


/*
 * What an outcome event carries for the trainer's update: the chosen arm's
 * score and up to LLMOPT_SPARSE_CARRY of the text features, all of them
 * when there are no more, else a uniform sample whose step is scaled by
 * "scale" (features / carried) so the update is the same in expectation.
 * 152 bytes.
 */

typedef struct {
    float               score;          /* the arm's score at decision */
    float               value[2];       /* llmopt_sparse_features_t's */
    float               dense_norm;
    float               scale;          /* >= 1 */
    uint8_t             n;              /* entries of bucket */
    uint8_t             n_prompt;       /* the first n_prompt: prompt's */
    uint16_t            pad;
    uint32_t            bucket[LLMOPT_SPARSE_CARRY];
} llmopt_sparse_carry_t;


/* Fills conf with the defaults; the caller sets n_arms and d. */
void llmopt_sparse_conf_defaults(llmopt_sparse_conf_t *conf);

/*
 * LLMOPT_OK if conf can be used; LLMOPT_ERROR with the reason in err (may
 * be NULL) otherwise.
 */
int llmopt_sparse_conf_check(const llmopt_sparse_conf_t *conf,
    llmopt_err_t *err);

/* Bytes of the table for conf, a multiple of 64: 8 a weight and 64. */
size_t llmopt_sparse_size(const llmopt_sparse_conf_t *conf);

/* Lays out an empty table (every weight 0) in mem, 8-aligned. */
void llmopt_sparse_init(const llmopt_sparse_conf_t *conf, void *table);

/* LLMOPT_OK if table was laid out for conf's shape, else LLMOPT_DECLINED. */
int llmopt_sparse_check(const llmopt_sparse_conf_t *conf, const void *table);

/*
 * The text features of a request: prompt and system are raw JSON string
 * bytes (escapes are separators), either may be empty.  Words are runs of
 * letters (lowercased), digits, '_' and bytes >= 0x80; each namespace has
 * its words and, with ngrams 2, the pairs of consecutive words.  Reads at
 * most LLMOPT_SPARSE_HEAD + LLMOPT_SPARSE_TAIL bytes of each text; never
 * allocates.  x is the dense vector (conf->d entries) for dense_norm.
 */
void llmopt_sparse_features(const llmopt_sparse_conf_t *conf,
    const unsigned char *prompt, size_t prompt_len,
    const unsigned char *system, size_t system_len, const double *x,
    llmopt_sparse_features_t *f);

/*
 * Each arm's score for f and x: the sum of its weights times the values,
 * in score[0 .. n_arms - 1].  Reads the table without a lock.
 */
void llmopt_sparse_scores(const llmopt_sparse_conf_t *conf,
    const void *table, const llmopt_sparse_features_t *f, const double *x,
    double *score);

/*
 * Chooses an allowed arm (mask of n_arms bytes, NULL: all) by SquareCB:
 * with gamma = exploration * sqrt(1 + updates), an arm below the best
 * score by gap has probability 1 / (K + gamma gap), K the allowed arms, and
 * the best arm the rest.  choice->propensity is that probability, exact;
 * choice->explore is 1 when the arm is not the best.  Fills *carry for the
 * event (may be NULL), drawing its sample from rng after the choice.
 * LLMOPT_DECLINED when no arm is allowed.  Never allocates.
 */
int llmopt_sparse_select(const llmopt_sparse_conf_t *conf, const void *table,
    const llmopt_sparse_features_t *f, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice,
    llmopt_sparse_carry_t *carry);

/*
 * Fills *carry for an arm of score "score" chosen otherwise (a pin, a
 * probe, a canary, shadow's fallback), or by llmopt_sparse_select(): a
 * sample is drawn from rng when f has more than LLMOPT_SPARSE_CARRY text
 * features.
 */
void llmopt_sparse_carry(const llmopt_sparse_features_t *f, double score,
    llmopt_rng_t *rng, llmopt_sparse_carry_t *carry);

/*
 * The probabilities SquareCB gives each arm for these scores
 * (prob[0 .. n_arms - 1], 0 for an arm not allowed); returns the best
 * allowed arm, or -1 when none is allowed.
 */
int llmopt_sparse_probabilities(const llmopt_sparse_conf_t *conf,
    const void *table, const double *score, const unsigned char *allowed,
    double *prob);

/*
 * Learns reward (clamped to [0, 1]) for arm from an event's carry and its
 * dense features x (conf->d floats): squared loss, one AdaGrad step for
 * each weight of the arm the features touch.  An empty carry (all 0: no
 * features were taken for the request) teaches nothing.  The score is
 * computed again when the carry holds every feature, else the carried one
 * is used.  local, when not NULL (a table of conf's shape), gets the same
 * steps (weights and accumulators) and counts the update: this
 * instance's own part of a table shared through Redis, which the served
 * table holds summed with the other instances' (llmopt_sparse_sum).  The
 * single writer only.  O(LLMOPT_SPARSE_CARRY + d).
 */
void llmopt_sparse_update(const llmopt_sparse_conf_t *conf, void *table,
    void *local, unsigned arm, const llmopt_sparse_carry_t *carry,
    const float *x, double reward);

/*
 * Adds the weights, accumulators and updates of src into dst (both of
 * conf's shape, checked by the caller; dst has no reader): the other
 * instances' parts, summed.  O(2^bits).
 */
void llmopt_sparse_merge(const llmopt_sparse_conf_t *conf, void *dst,
    const void *src);

/*
 * table = a + b, weight by weight, accumulators and updates too (b NULL:
 * a alone), each weight stored whole so that readers without a lock see
 * it old or new (llmopt_sparse.h's threading note); a and b of conf's
 * shape, checked by the caller.  The single writer only.  O(2^bits).
 */
void llmopt_sparse_sum(const llmopt_sparse_conf_t *conf, void *table,
    const void *a, const void *b);

/* Updates the table has learned. */
uint64_t llmopt_sparse_updates(const void *table);


#endif /* _LLMOPT_SPARSE_H_INCLUDED_ */
