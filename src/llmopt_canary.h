/*
 * Copyright (C) llmopt authors
 *
 * The gate of a canary stage: the canary arm's answers of the stage
 * against the other arms' answers of the same stage, on quality (mean),
 * cost per request and latency (means), with the tolerances of the
 * policy's canary (llmopt_catalog.h).
 */

#ifndef _LLMOPT_CANARY_H_INCLUDED_
#define _LLMOPT_CANARY_H_INCLUDED_


#include <stddef.h>

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


#endif /* _LLMOPT_CANARY_H_INCLUDED_ */
