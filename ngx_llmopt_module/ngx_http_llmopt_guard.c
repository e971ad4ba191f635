
/*
 * Copyright (C) llmopt authors
 *
 * The circuit breaker of each arm, in the zone: failures in a row
 * (429, 5xx, no answer, a timeout) open it for the policy's cooldown, a
 * 429's Retry-After opens it for that long; once the time is up the arm is
 * half-open and one request at a time is sent to it as a probe: a good
 * answer closes the circuit, a failure opens it again.  Workers update it
 * with atomic operations; a race costs at most one extra probe.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_module.h"


/* how long one probe has before another worker may send one */
#define NGX_HTTP_LLMOPT_PROBE_MS   10000


const char *
ngx_http_llmopt_breaker_state(ngx_http_llmopt_arm_stats_t *as, uint64_t now)
{
    uint64_t  until;

    until = as->breaker_open_until_ms;

    return until == 0 ? "closed" : now < until ? "open" : "half_open";
}


/*
 * Clears allowed[a] of the arms whose circuit is open.  A half-open arm
 * is left out too, unless this request becomes its probe: then *probe is
 * its index (else -1).  Returns the arms still allowed.
 */

ngx_uint_t
ngx_http_llmopt_breaker_mask(ngx_http_llmopt_policy_rt_t *prt,
    unsigned char *allowed, uint64_t now, ngx_int_t *probe)
{
    uint64_t                      until, probing;
    ngx_uint_t                    a, n;
    ngx_http_llmopt_arm_stats_t  *as;

    *probe = -1;
    n = 0;

    for (a = 0; a < prt->n_arms; a++) {
        if (!allowed[a]) {
            continue;
        }

        as = &prt->stats->arms[a];
        until = as->breaker_open_until_ms;

        if (until == 0) {
            n++;
            continue;
        }

        allowed[a] = 0;

        if (now < until || *probe >= 0) {
            continue;
        }

        probing = as->breaker_probe_until_ms;

        if (now >= probing
            && ngx_atomic_cmp_set(&as->breaker_probe_until_ms, probing,
                                  now + NGX_HTTP_LLMOPT_PROBE_MS))
        {
            (void) ngx_atomic_fetch_add(&as->breaker_probes, 1);
            *probe = a;
        }
    }

    return n;
}


/* An answer of the arm came back: close, count or open its circuit. */

void
ngx_http_llmopt_breaker_outcome(ngx_http_llmopt_ctx_t *ctx, ngx_uint_t failed,
    uint64_t now, ngx_log_t *log)
{
    uint64_t                      until, open_for;
    ngx_uint_t                    n;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_arm_stats_t  *as;

    policy = ctx->policy->policy;
    as = &ctx->policy->stats->arms[ctx->arm];
    until = as->breaker_open_until_ms;

    if (!failed) {
        if (as->breaker_failures) {
            as->breaker_failures = 0;
        }

        if (until != 0 && now >= until
            && ngx_atomic_cmp_set(&as->breaker_open_until_ms, until, 0))
        {
            as->breaker_probe_until_ms = 0;

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "llmopt: policy \"%V\" arm \"%V\": circuit closed, "
                          "the probe succeeded", &ctx->policy->name,
                          &ctx->policy->arms[ctx->arm].name);
        }

        return;
    }

    n = ngx_atomic_fetch_add(&as->breaker_failures, 1) + 1;

    open_for = 0;

    if (ctx->retry_after) {
        /* the provider said when to come back */
        open_for = ctx->retry_after;

    } else if (until != 0 && now >= until) {
        /* the probe of a half-open circuit failed */
        open_for = policy->breaker_cooldown_ms;

    } else if (policy->breaker_failures && n >= policy->breaker_failures) {
        open_for = policy->breaker_cooldown_ms;
    }

    if (open_for == 0 || (until != 0 && now < until && now + open_for <= until))
    {
        return;
    }

    if (!ngx_atomic_cmp_set(&as->breaker_open_until_ms, until, now + open_for))
    {
        return;                         /* another worker opened it */
    }

    as->breaker_failures = 0;
    as->breaker_probe_until_ms = 0;
    (void) ngx_atomic_fetch_add(&as->breaker_opens, 1);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "llmopt: policy \"%V\" arm \"%V\": circuit open for %uL ms "
                  "(%s)", &ctx->policy->name,
                  &ctx->policy->arms[ctx->arm].name, open_for,
                  ctx->retry_after ? "Retry-After"
                  : until != 0 ? "the probe failed" : "failures in a row");
}
