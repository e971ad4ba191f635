/*
 * Copyright (C) llmopt authors
 *
 * A policy's canary rollout (llmopt_catalog.h): its stages -- started,
 * restored, advanced or rolled back as answers come in, and the share of
 * the traffic the canary arm gets -- and the gate of a stage: the canary
 * arm's answers of the stage against the other arms' answers of the same
 * stage, on quality (mean), cost per request and latency (means), with
 * the tolerances of the policy's canary.  The rollout lives where the
 * caller keeps it (the glue: the zone); these functions read and write
 * that memory and the clock they are given, nothing else.
 */

#ifndef _LLMOPT_CANARY_H_INCLUDED_
#define _LLMOPT_CANARY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llmopt_catalog.h"


#define LLMOPT_CANARY_OFF          0     /* no canary in the policy */
#define LLMOPT_CANARY_RUNNING      1
#define LLMOPT_CANARY_COMPLETE     2     /* at its last stage, for good */
#define LLMOPT_CANARY_ROLLED_BACK  3     /* no traffic, for good */

#define LLMOPT_CANARY_WAIT         0     /* verdicts */
#define LLMOPT_CANARY_ADVANCE      1
#define LLMOPT_CANARY_ROLLBACK     2


/* Sums over the answers of one side in one stage. */

typedef struct {
    double        n;
    double        quality;
    double        cost;               /* USD */
    double        latency_n;          /* answers with a latency */
    double        latency;            /* ms */
} llmopt_canary_side_t;


/* Adds one answer: quality in [0, 1], cost USD (< 0: unknown, counted
   as 0), latency ms (< 0: unknown). */
void llmopt_canary_add(llmopt_canary_side_t *side, double quality,
    double cost, double latency_ms);

/*
 * WAIT until both sides have min_requests answers; then ROLLBACK when a
 * checked gate fails, with the reason in why, else ADVANCE (why says
 * what was measured).
 */
int llmopt_canary_verdict(const llmopt_canary_conf_t *conf,
    const llmopt_canary_side_t *canary, const llmopt_canary_side_t *control,
    char *why, size_t len);

const char *llmopt_canary_state_name(unsigned state);


/*
 * A rollout as it stands.  One writer (the trainer) changes it; readers
 * (the workers) read state and stage alone, each a word, so that a reader
 * racing the writer sees either the old or the new stage.  Plain memory
 * of a fixed layout: the state file keeps it byte for byte.
 */

#define LLMOPT_CANARY_WHY  192

typedef struct {
    volatile uint64_t     state;          /* LLMOPT_CANARY_* */
    volatile uint64_t     stage;
    volatile uint64_t     since_ms;       /* the stage began */
    volatile uint64_t     changes;        /* gates passed or failed */
    uint64_t              conf;           /* llmopt_canary_conf_hash() */
    llmopt_canary_side_t  side[2];        /* canary, the others */
    char                  why[LLMOPT_CANARY_WHY];   /* the last gate */
} llmopt_canary_t;


/* What tells one canary configuration (its arm's name, name_len bytes,
   and conf) from another. */
uint64_t llmopt_canary_conf_hash(const llmopt_canary_conf_t *conf,
    const char *name, size_t name_len);

/*
 * The rollout c of a policy whose canary is conf (its arm called name),
 * at start-up or a reload, at now (ms): one of the same configuration
 * still under way goes on; otherwise it starts anew at stage 0 (complete
 * at once with one stage).  Without a canary (conf->arm < 0) it is off.
 */
void llmopt_canary_start(llmopt_canary_t *c,
    const llmopt_canary_conf_t *conf, const char *name, size_t name_len,
    uint64_t now);

/*
 * Puts a saved rollout (the state file's copy) in place of c when it is
 * of c's configuration (c started first) and sane, its why terminated:
 * LLMOPT_OK; else LLMOPT_DECLINED and c unchanged.
 */
int llmopt_canary_restore(llmopt_canary_t *c,
    const llmopt_canary_conf_t *conf, const llmopt_canary_t *saved);

/* The share of the policy's traffic its canary arm gets now: < 0 without
   a canary, 0 rolled back. */
double llmopt_canary_share(const llmopt_canary_t *c,
    const llmopt_canary_conf_t *conf);

/*
 * A reward learned of arm, of an answer at time_ms (quality in [0, 1],
 * cost USD, latency ms, < 0 unknown), while a rollout may run: counted on
 * its side of the stage unless the rollout is not running or the answer
 * is older than the stage; then the gate.  WAIT: nothing changed beyond
 * the count.  ROLLBACK: c is rolled back, its why says why.  ADVANCE: c
 * is at its next stage since now, COMPLETE when that is its last.
 */
int llmopt_canary_learned(llmopt_canary_t *c,
    const llmopt_canary_conf_t *conf, unsigned arm, double quality,
    double cost, double latency_ms, uint64_t time_ms, uint64_t now);


#endif /* _LLMOPT_CANARY_H_INCLUDED_ */
