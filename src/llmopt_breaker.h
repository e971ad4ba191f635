/*
 * Copyright (C) llmopt authors
 *
 * The circuit breaker of an arm, its rules: failures in a row (429, 5xx,
 * no answer, a timeout) or an error rate over a window open it for the
 * policy's cooldown, a 429's Retry-After for that long; once the time is
 * up it is half-open and one request at a time goes to it as a probe
 * (llmopt_decide.h): a good answer closes it, a failure opens it again.
 * The counts live where the caller keeps them (the glue: the zone, with
 * atomics); these functions only say what an answer does.
 */

#ifndef _LLMOPT_BREAKER_H_INCLUDED_
#define _LLMOPT_BREAKER_H_INCLUDED_


#include <stdint.h>

#include "llmopt_catalog.h"


/* what an answer does (llmopt_breaker_next()) */
#define LLMOPT_BREAKER_KEEP          0
#define LLMOPT_BREAKER_CLOSE         1     /* the probe succeeded */
#define LLMOPT_BREAKER_OPEN          2     /* until *until */

/* why it opens */
#define LLMOPT_BREAKER_RETRY_AFTER   1
#define LLMOPT_BREAKER_PROBE_FAILED  2
#define LLMOPT_BREAKER_IN_A_ROW      3
#define LLMOPT_BREAKER_ERROR_RATE    4


/* An arm's circuit as an answer found it, that answer counted. */

typedef struct {
    uint64_t     open_until_ms;     /* before the answer; 0 = closed */
    uint64_t     failures;          /* in a row, this one included */
    uint64_t     window_n;          /* answers in the error-rate window */
    uint64_t     window_f;          /* failures among them */
} llmopt_breaker_seen_t;


/* "closed", "open" or "half_open" at now (ms). */
const char *llmopt_breaker_state(uint64_t open_until_ms, uint64_t now);

/*
 * What an answer (failed or not; retry_after_ms of a 429, 0 when none)
 * at now does to the circuit of policy's arm: KEEP, CLOSE, or OPEN with
 * *until the new end and *why an LLMOPT_BREAKER_* reason.  An open
 * circuit is only ever lengthened.
 */
int llmopt_breaker_next(const llmopt_policy_t *policy,
    const llmopt_breaker_seen_t *seen, unsigned failed,
    uint64_t retry_after_ms, uint64_t now, uint64_t *until, unsigned *why);

/* The log's words for an LLMOPT_BREAKER_* reason. */
const char *llmopt_breaker_why(unsigned why);


#endif /* _LLMOPT_BREAKER_H_INCLUDED_ */
