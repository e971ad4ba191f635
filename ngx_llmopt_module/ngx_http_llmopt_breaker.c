
/*
 * Copyright (C) llmopt authors
 *
 * The circuit breaker of each arm, in the zone: its counts, the probe's
 * claim, and the rules of src/llmopt_breaker.c applied to them.  Workers
 * update it with atomic operations; a race costs at most one extra probe.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_breaker.h"

#include "llmopt_breaker.h"


/* how long one probe has before another worker may send one */
#define NGX_HTTP_LLMOPT_PROBE_MS   10000


static void ngx_http_llmopt_breaker_window(ngx_http_llmopt_arm_stats_t *as,
    uint64_t window_ms, uint64_t now, ngx_uint_t failed, uint64_t *n,
    uint64_t *f);


const char *
ngx_http_llmopt_breaker_state(ngx_http_llmopt_arm_stats_t *as, uint64_t now)
{
    return llmopt_breaker_state(as->breaker_open_until_ms, now);
}


/*
 * Half-open arm a gets its probe at now, unless another is under way
 * (llmopt_decide() asks, llmopt_decide.h): 1 when this request is it.
 */

int
ngx_http_llmopt_breaker_probe(ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t a,
    uint64_t now)
{
    uint64_t                      probing;
    ngx_http_llmopt_arm_stats_t  *as;

    as = &prt->stats->arms[a];
    probing = as->breaker_probe_until_ms;

    if (now >= probing
        && ngx_atomic_cmp_set(&as->breaker_probe_until_ms, probing,
                              now + NGX_HTTP_LLMOPT_PROBE_MS))
    {
        (void) ngx_atomic_fetch_add(&as->breaker_probes, 1);
        return 1;
    }

    return 0;
}


/*
 * The error-rate window of an arm: two buckets of half a window each,
 * by the parity of the half-window's number; an answer counts in the
 * current one (a stale bucket is emptied first), the rate is over the
 * current and the previous half.  Races between workers cost a count
 * at most.
 */

static void
ngx_http_llmopt_breaker_window(ngx_http_llmopt_arm_stats_t *as,
    uint64_t window_ms, uint64_t now, ngx_uint_t failed, uint64_t *n,
    uint64_t *f)
{
    uint64_t    idx, e;
    ngx_uint_t  b;

    idx = now / ngx_max(window_ms / 2, 1) + 2;   /* 0 stays "never" */
    b = idx & 1;
    e = as->breaker_win_epoch[b];

    if (e != idx && ngx_atomic_cmp_set(&as->breaker_win_epoch[b], e, idx)) {
        as->breaker_win_n[b] = 0;
        as->breaker_win_f[b] = 0;
    }

    (void) ngx_atomic_fetch_add(&as->breaker_win_n[b], 1);

    if (failed) {
        (void) ngx_atomic_fetch_add(&as->breaker_win_f[b], 1);
    }

    *n = 0;
    *f = 0;

    for (b = 0; b < 2; b++) {
        e = as->breaker_win_epoch[b];

        if (e == idx || e + 1 == idx) {
            *n += as->breaker_win_n[b];
            *f += as->breaker_win_f[b];
        }
    }
}


/*
 * An answer of the arm came back: its counts in the zone, then what
 * llmopt_breaker_next() says, applied with a compare-and-set.
 */

void
ngx_http_llmopt_breaker_outcome(ngx_http_llmopt_ctx_t *ctx, ngx_uint_t failed,
    uint64_t now, ngx_log_t *log)
{
    int                           next;
    uint64_t                      until;
    unsigned                      why;
    llmopt_breaker_seen_t         seen;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_arm_stats_t  *as;

    policy = ctx->policy->policy;
    as = &ctx->policy->stats->arms[ctx->arm];

    seen.open_until_ms = as->breaker_open_until_ms;
    seen.window_n = 0;
    seen.window_f = 0;

    if (policy->breaker_error_rate > 0) {
        ngx_http_llmopt_breaker_window(as, policy->breaker_window_ms, now,
                                       failed, &seen.window_n,
                                       &seen.window_f);
    }

    if (!failed) {
        if (as->breaker_failures) {
            as->breaker_failures = 0;
        }

        seen.failures = 0;

    } else {
        seen.failures = ngx_atomic_fetch_add(&as->breaker_failures, 1) + 1;
    }

    why = 0;
    until = 0;

    next = llmopt_breaker_next(policy, &seen, failed, ctx->retry_after, now,
                               &until, &why);

    if (next == LLMOPT_BREAKER_CLOSE) {
        if (ngx_atomic_cmp_set(&as->breaker_open_until_ms,
                               seen.open_until_ms, 0))
        {
            as->breaker_probe_until_ms = 0;

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "llmopt: policy \"%V\" arm \"%V\": circuit closed, "
                          "the probe succeeded", &ctx->policy->name,
                          &ctx->policy->arms[ctx->arm].name);
        }

        return;
    }

    if (next != LLMOPT_BREAKER_OPEN
        || !ngx_atomic_cmp_set(&as->breaker_open_until_ms, seen.open_until_ms,
                               until))
    {
        return;                         /* or another worker opened it */
    }

    as->breaker_failures = 0;
    as->breaker_probe_until_ms = 0;
    as->breaker_win_epoch[0] = 0;          /* the window starts anew */
    as->breaker_win_epoch[1] = 0;
    (void) ngx_atomic_fetch_add(&as->breaker_opens, 1);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "llmopt: policy \"%V\" arm \"%V\": circuit open for %uL ms "
                  "(%s)", &ctx->policy->name,
                  &ctx->policy->arms[ctx->arm].name, until - now,
                  llmopt_breaker_why(why));
}
