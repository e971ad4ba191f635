
/*
 * Copyright (C) llmopt authors
 *
 * The trainer's learning step, independent of how it is driven: it pops
 * outcome events from the ring, turns each into a reward, updates a
 * private copy of the policy's parameter block and publishes the copies
 * into the shared blocks under their seqlocks.  The nginx glue runs it in
 * the single process that holds the trainer lease; scripts/bench-trainer
 * runs it against a ring in plain shared memory.
 *
 * One writer: a trainer owns the shared blocks it publishes to.  Nothing
 * here allocates, blocks or logs.
 */

#ifndef _LLMOPT_TRAINER_H_INCLUDED_
#define _LLMOPT_TRAINER_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_ring.h"
#include "llmopt_reward.h"
#include "llmopt_seqlock.h"


/* A slot claimed but not written for this long belongs to a dead writer. */
#define LLMOPT_TRAINER_STUCK_MS   1000


/*
 * What a policy has learned of each arm, undiscounted, in memory the
 * caller may share with readers (status): only the trainer writes it.
 */

typedef struct {
    double                  rewards;       /* rewards learned */
    double                  reward_sum;
    double                  reward_sq;     /* sum of squared rewards */
    double                  failures;      /* learned as failures (0) */
    double                  scored;        /* successes with a score */
    double                  quality_sum;   /*   and the sum of the scores */
    double                  unscored;      /* successes whose feedback
                                              never came, learned or not */
} llmopt_arm_tally_t;


typedef struct {
    const llmopt_policy_t  *policy;        /* its bandit and reward confs */
    llmopt_seqlock_t       *lock;          /* of the shared block */
    void                   *shared;        /* published parameters */
    void                   *work;          /* the trainer's copy */
    size_t                  size;          /* llmopt_bandit_size() */
    unsigned                dirty;         /* work differs from shared */
    llmopt_arm_tally_t     *tally;         /* n_arms entries, or NULL */
    llmopt_variant_tally_t *variants;      /* LLMOPT_VARIANT_TALLY(n_arms)
                                              of the variant learner,
                                              shared with decisions, or
                                              NULL */

    /* algorithm sparse: the shared table, learned in place (its readers
       take no lock, llmopt_sparse.h), or NULL; with Redis, sparse_local is
       this instance's own part of it (the same steps), or NULL */
    void                   *sparse;
    void                   *sparse_local;

    /* what other instances learned (one block of their merged additive
       statistics, llmopt_bandit_merge), or NULL; publish then shares
       work merged with it, made in scratch (size bytes) */
    const void             *others;
    void                   *scratch;

    /* since llmopt_trainer_init() */
    uint64_t                updates;
    double                  reward_sum;
} llmopt_trainer_policy_t;


typedef struct {
    llmopt_ring_t            *ring;         /* may be NULL: learn() only */
    llmopt_trainer_policy_t  *policies;     /* by catalog index */
    unsigned                  n_policies;
    uint64_t                  catalog;      /* version events must carry */

    uint64_t                  stuck_pos;    /* tail seen claimed, unwritten */
    uint64_t                  stuck_since;  /* ms, 0 = not stuck */

    /* counters since init */
    uint64_t                  events;       /* learned or declined */
    uint64_t                  updates;
    uint64_t                  declined;     /* no reward: 499, not outcome */
    uint64_t                  stale;        /* other catalog, bad index */
    uint64_t                  failures;     /* learned with reward 0 */
    uint64_t                  unscored;     /* feedback awaited, none came
                                               (learned or declined) */
    uint64_t                  publishes;
    uint64_t                  skipped;      /* stuck slots given up */

    /* the longest a popped event waited, from its last byte to now_ms of
       drain; the caller resets it when it reads it */
    uint64_t                  lag_ms;

    /* called for every event learned, after the update; may be NULL (set
       it after llmopt_trainer_init) */
    void                    (*learned)(void *data, const llmopt_event_t *ev,
                                       const llmopt_reward_t *rw);
    void                     *learned_data;
} llmopt_trainer_t;


/*
 * Sets t up over n policies whose lock, shared, work, size and tally (or
 * NULL) the caller has filled; tallies are added to, never reset; every work copy is loaded from its shared block, which the
 * caller must own as the single writer from now on.
 */
void llmopt_trainer_init(llmopt_trainer_t *t, llmopt_ring_t *ring,
    uint64_t catalog, llmopt_trainer_policy_t *policies, unsigned n);

/*
 * Learns one OUTCOME event into the work copy of its policy.  LLMOPT_OK:
 * learned, reward in *out (may be NULL); LLMOPT_DECLINED: nothing to learn
 * (not an outcome, client gone, another catalog version, index out of
 * range, an unscored answer its policy does not learn).  The reward is
 * llmopt_reward_arm()'s, with the mean of the arm's scored qualities in
 * its tally (none without a tally).
 */
int llmopt_trainer_learn(llmopt_trainer_t *t, const llmopt_event_t *ev,
    llmopt_reward_t *out);

/*
 * Pops and learns at most max events; returns how many were popped.  A
 * slot claimed by a producer that never wrote it is skipped after
 * LLMOPT_TRAINER_STUCK_MS of now_ms.
 */
unsigned llmopt_trainer_drain(llmopt_trainer_t *t, unsigned max,
    uint64_t now_ms);

/*
 * Copies every dirty work block (merged with "others" when set) into its
 * shared block under the seqlock; returns the number of blocks published.
 * Set dirty when others changed.
 */
unsigned llmopt_trainer_publish(llmopt_trainer_t *t);


#endif /* _LLMOPT_TRAINER_H_INCLUDED_ */
