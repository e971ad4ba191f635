/*
 * Copyright (C) llmopt authors
 *
 * The circuit breaker's rules (llmopt_breaker.h).
 */

#include "llmopt_core.h"
#include "llmopt_breaker.h"


const char *
llmopt_breaker_state(uint64_t open_until_ms, uint64_t now)
{
    return open_until_ms == 0 ? "closed"
           : now < open_until_ms ? "open" : "half_open";
}


int
llmopt_breaker_next(const llmopt_policy_t *policy,
    const llmopt_breaker_seen_t *seen, unsigned failed,
    uint64_t retry_after_ms, uint64_t now, uint64_t *until, unsigned *why)
{
    uint64_t  open_for, was;
    unsigned  rate;

    was = seen->open_until_ms;

    if (!failed) {
        /* a good answer of a half-open circuit: its probe's */
        return was != 0 && now >= was ? LLMOPT_BREAKER_CLOSE
                                      : LLMOPT_BREAKER_KEEP;
    }

    rate = policy->breaker_error_rate > 0
           && seen->window_n >= policy->breaker_min_requests
           && (double) seen->window_f
              >= policy->breaker_error_rate * (double) seen->window_n;

    open_for = 0;
    *why = 0;

    if (retry_after_ms) {
        /* the provider said when to come back */
        open_for = retry_after_ms;
        *why = LLMOPT_BREAKER_RETRY_AFTER;

    } else if (was != 0 && now >= was) {
        open_for = policy->breaker_cooldown_ms;
        *why = LLMOPT_BREAKER_PROBE_FAILED;

    } else if (policy->breaker_failures
               && seen->failures >= policy->breaker_failures)
    {
        open_for = policy->breaker_cooldown_ms;
        *why = LLMOPT_BREAKER_IN_A_ROW;

    } else if (rate) {
        open_for = policy->breaker_cooldown_ms;
        *why = LLMOPT_BREAKER_ERROR_RATE;
    }

    if (open_for == 0 || (was != 0 && now < was && now + open_for <= was)) {
        return LLMOPT_BREAKER_KEEP;
    }

    *until = now + open_for;

    return LLMOPT_BREAKER_OPEN;
}


const char *
llmopt_breaker_why(unsigned why)
{
    switch (why) {
    case LLMOPT_BREAKER_RETRY_AFTER:
        return "Retry-After";
    case LLMOPT_BREAKER_PROBE_FAILED:
        return "the probe failed";
    case LLMOPT_BREAKER_IN_A_ROW:
        return "failures in a row";
    case LLMOPT_BREAKER_ERROR_RATE:
        return "error rate";
    default:
        return "unknown";
    }
}
