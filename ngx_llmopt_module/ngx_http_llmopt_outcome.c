
/*
 * Copyright (C) llmopt authors
 *
 * A routed request's outcome: settled once (tokens, cost, latency, the
 * reward when it is final now; what has no usage is charged an estimate),
 * counted in the policy's counters and histograms, its budget spent and
 * its circuit told, then pushed to the trainer's ring or parked in the
 * pending table when the policy waits for feedback.  At the end of the
 * answer, in the log phase for what the body filter did not see end, and
 * for a failed attempt that llmopt_failover retries.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_breaker.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_cache.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_outcome.h"


static void ngx_http_llmopt_count(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_uint_t ngx_http_llmopt_bucket(const double *bounds, ngx_uint_t n,
    double v);


const double  ngx_http_llmopt_time_bounds_ms[NGX_HTTP_LLMOPT_TIME_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    HUGE_VAL
};

const double
    ngx_http_llmopt_decision_bounds_ns[NGX_HTTP_LLMOPT_DECISION_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, HUGE_VAL
};


/*
 * The outcome of a routed request, once: usage, status, cost, latency,
 * and the reward when it is final now (no feedback awaited).  Runs for the
 * first of the log handler and the $llmopt_* variables that needs it.
 */

void
ngx_http_llmopt_settle(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    uint64_t                      elapsed;
    ngx_uint_t                    i, status;
    llmopt_usage_t               *u;
    llmopt_event_t               *ev;
    llmopt_reward_t               rw;
    llmopt_usage_out_t            res;
    const llmopt_model_t         *model;
    llmopt_usage_estimate_t       est;
    ngx_http_upstream_state_t    *state;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_main_conf_t  *lmcf;

    if (ctx->settled) {
        return;
    }

    ctx->settled = 1;

    /* one clock read: the latency, and the wall time it ended */
    elapsed = ngx_http_llmopt_now_ns() - ctx->start_ns;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    prt = ctx->policy;
    u = ctx->usage;

    if (u != NULL && !u->finished) {
        (void) llmopt_usage_finish(u, &res);
    }

    ev = &ctx->event;
    ngx_memzero(ev, sizeof(llmopt_event_t));

    ev->kind = LLMOPT_EVENT_OUTCOME;
    ev->policy = (uint16_t) (prt - (ngx_http_llmopt_policy_rt_t *)
                                   lmcf->policies.elts);
    ev->arm = (uint16_t) ctx->arm;
    ev->d = (uint8_t) ctx->d;
    ev->catalog = lmcf->catalog.version;
    ev->time_ms = ctx->start_ms;
    ev->done_ms = ctx->start_ms + elapsed / 1000000;
    ev->propensity = (float) ctx->propensity;
    ev->variant = (uint8_t) (ctx->variant > 0 ? ctx->variant : 0);
    ev->variant_propensity = ctx->variant >= 0
                             ? (float) ctx->variant_propensity : 0;
    ev->quality = (float) ctx->quality;
    ev->cost = -1;
    ngx_memcpy(ev->id, ctx->id, LLMOPT_REQUEST_ID_LEN);

    for (i = 0; i < ctx->d && i < LLMOPT_FEATURE_MAX_DIM; i++) {
        ev->x[i] = (float) ctx->x[i];
    }

    ev->sparse = ctx->sparse;

    if (ctx->explore) {
        ev->flags |= LLMOPT_EVENT_EXPLORE;
    }

    if (ctx->sse) {
        ev->flags |= LLMOPT_EVENT_STREAM;
    }

    /* the upstream's own status; nginx's 502/504 when there was none */

    status = r->headers_out.status;

    if (r->upstream_states != NULL && r->upstream_states->nelts) {
        ev->retries = (uint16_t) ngx_min(r->upstream_states->nelts - 1,
                                         0xffff);

        state = r->upstream_states->elts;
        state = &state[r->upstream_states->nelts - 1];

        if (state->status) {
            status = state->status;
        }

        if (state->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            ev->flags |= LLMOPT_EVENT_TIMEOUT;
        }
    }

    if (r->err_status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ev->flags |= LLMOPT_EVENT_TIMEOUT;
    }

    if (r->connection->error && (u == NULL || !u->complete)) {
        /* the client went away before the end: nothing to learn */
        status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (r->err_status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST && !ctx->client_gone) {
        /* nginx ended it: the client left before the answer came */
        ctx->client_gone = NGX_HTTP_LLMOPT_GONE_BEFORE;
    }

    ev->status = (uint16_t) ngx_min(status, 999);
    ctx->upstream_status = status;

    if (prt->policy->latency_slo_penalise
        && prt->stats->arms[ctx->arm].slo_breach)
    {
        /* its arm breaks the latency SLO: the reward pays for it */
        ev->flags |= LLMOPT_EVENT_SLO;
    }

    model = &lmcf->catalog.models[prt->policy->arms[ctx->arm].model];

    if (u != NULL) {
        ev->finish = (uint8_t) u->finish;

        if (u->upstream_error) {
            ev->flags |= LLMOPT_EVENT_UPSTREAM_ERROR;
        }

        if (u->seen_usage) {
            ev->tokens_in = (uint32_t) ngx_min(u->input_tokens, 0xffffffff);
            ev->tokens_out = (uint32_t) ngx_min(u->output_tokens, 0xffffffff);
            ev->tokens_cached = (uint32_t) ngx_min(u->cached_tokens,
                                                   0xffffffff);
        }
    }

    if (u != NULL && llmopt_usage_final(u)) {
        ev->cost = llmopt_model_cost(model, ev->tokens_in, ev->tokens_cached,
                                     ev->tokens_out);

    } else if ((status >= 200 && status < 300 && u != NULL)
               || (status == NGX_HTTP_CLIENT_CLOSED_REQUEST
                   && r->upstream != NULL && r->upstream->request_sent))
    {
        /*
         * An answer without final usage (the client left, the upstream
         * broke off or never reports usage), or a prompt the provider
         * had when the client left: charged by estimate, never nothing.
         */
        llmopt_usage_estimate(u, ctx->input_est, &est);

        ev->cost = llmopt_model_cost(model, est.input_tokens, 0,
                                     est.output_tokens);
        ev->flags |= LLMOPT_EVENT_ESTIMATED;
        ctx->cost_estimated = 1;
    }

    ctx->cost = ev->cost;

    ngx_http_llmopt_cache_settle(r, ctx);

    ctx->latency_ms = (double) elapsed / 1e6;
    ev->latency_ms = (float) ctx->latency_ms;
    ev->ttft_ms = (float) ctx->ttft_ms;

    if (prt->policy->feedback_wait_ms == 0 && !ctx->cache_hit
        && llmopt_reward(&prt->policy->reward, ev, &rw) == LLMOPT_OK)
    {
        ctx->reward = rw.reward;
    }
}


/* The log phase records what the body filter did not see end. */

ngx_int_t
ngx_http_llmopt_log_handler(ngx_http_request_t *r)
{
    ngx_http_llmopt_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx == NULL || !ctx->routed || ctx->passthrough || ctx->rejected
        || ctx->logged)
    {
        return NGX_OK;
    }

    ngx_http_llmopt_outcome(r, ctx);

    return NGX_OK;
}


/*
 * The first arm failed and llmopt_failover tries another: the failure is
 * an outcome of that arm (counted, learned as a failure, told to its
 * circuit breaker), and the request starts over for the next one.
 */

void
ngx_http_llmopt_attempt_failed(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    ngx_http_llmopt_settle(r, ctx);
    ngx_http_llmopt_count(r, ctx);
    ngx_http_llmopt_budget_spend(r, ctx, ctx->event.cost, 0);

    if (lmcf->sh != NULL && lmcf->sh->ring != NULL) {
        /* final at once: feedback is for the answer the client gets */
        (void) llmopt_ring_push(lmcf->sh->ring, &ctx->event);
    }

    ctx->settled = 0;
    ctx->logged = 0;
    ctx->filtering = 0;
    ctx->usage = NULL;
    ctx->hold = NULL;
    ctx->held = 0;
    ctx->strip = 0;
    ctx->probe = 0;
    ctx->explore = 0;
    ctx->body_sent = 0;
    ctx->cost_estimated = 0;
    ctx->retry_after = 0;
    ctx->quality = -1;
    ctx->ttft_ms = -1;
    ctx->cost = -1;
    ctx->reward = -1;
    ctx->upstream_status = 0;
    ctx->start_ns = ngx_http_llmopt_now_ns();
    ctx->start_ms = ngx_http_llmopt_wall_ms();
}


/*
 * The outcome goes to the trainer's ring, or to the pending table when
 * its policy waits for feedback.  Once per request: at the end of the
 * response body, or in the log phase when there was no end to see.
 */

/*
 * The answer is over: the outcome once (settled, counted, its budget
 * spent), to the trainer's ring or the pending table.
 */

void
ngx_http_llmopt_outcome(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    llmopt_event_t                evicted;
    ngx_http_llmopt_shctx_t      *sh;
    ngx_http_llmopt_main_conf_t  *lmcf;

    if (ctx->logged) {
        return;
    }

    ctx->logged = 1;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    sh = lmcf->sh;

    if (sh == NULL || sh->ring == NULL) {
        return;
    }

    /* the slot's lines come from the trainer's core meanwhile */
    llmopt_ring_prefetch(sh->ring, (unsigned) ctx->d);

    ngx_http_llmopt_settle(r, ctx);

    if (ctx->cache_hit) {
        /* answered by proxy_cache: no cost, nothing to learn */
        ngx_http_llmopt_cache_outcome(r, ctx);
        return;
    }

    ngx_http_llmopt_count(r, ctx);
    ngx_http_llmopt_budget_spend(r, ctx, ctx->event.cost, 1);

    if (ctx->upstream_status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        /* the trainer counts it as declined; no feedback can follow */
        (void) llmopt_ring_push(sh->ring, &ctx->event);
        return;
    }

    if (ctx->policy->policy->feedback_wait_ms && sh->pending != NULL) {

        ngx_shmtx_lock(&lmcf->shpool->mutex);

        if (llmopt_pending_insert(sh->pending, &ctx->event,
                                  ctx->feedback_tenant,
                                  ngx_http_llmopt_wall_ms(),
                                  ctx->policy->policy->feedback_wait_ms,
                                  &evicted)
            == LLMOPT_OK)
        {
            ngx_shmtx_unlock(&lmcf->shpool->mutex);

            if (evicted.kind != LLMOPT_EVENT_NONE) {
                /* the table is full: the one due first is final now */
                (void) llmopt_ring_push(sh->ring, &evicted);
            }

            return;
        }

        ngx_shmtx_unlock(&lmcf->shpool->mutex);
    }

    (void) llmopt_ring_push(sh->ring, &ctx->event);
}


/* The outcome in the policy's counters and histograms, for the status. */

static void
ngx_http_llmopt_count(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    ngx_uint_t                    status;
    llmopt_event_t               *ev;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_arm_stats_t  *as;

    st = ctx->policy->stats;
    as = &st->arms[ctx->arm];
    ev = &ctx->event;
    status = ctx->upstream_status;

    (void) ngx_atomic_fetch_add(&st->decision[ngx_http_llmopt_bucket(
                                    ngx_http_llmopt_decision_bounds_ns,
                                    NGX_HTTP_LLMOPT_DECISION_BUCKETS,
                                    (double) ctx->decision_ns)], 1);
    (void) ngx_atomic_fetch_add(&st->decision_sum_ns, ctx->decision_ns);

    (void) ngx_atomic_fetch_add(&as->outcomes, 1);

    if (ctx->usage != NULL && ctx->usage->seen_usage) {
        (void) ngx_atomic_fetch_add(&as->tokens_in, ev->tokens_in);
        (void) ngx_atomic_fetch_add(&as->tokens_out, ev->tokens_out);
        (void) ngx_atomic_fetch_add(&as->tokens_cached, ev->tokens_cached);
    }

    if (ev->cost > 0) {
        (void) ngx_atomic_fetch_add(&as->cost_nusd,
                                    (ngx_atomic_uint_t) (ev->cost * 1e9
                                                         + 0.5));
    }

    if (ev->flags & LLMOPT_EVENT_ESTIMATED) {
        (void) ngx_atomic_fetch_add(&as->cost_estimated, 1);

        if (ev->cost > 0) {
            (void) ngx_atomic_fetch_add(&as->cost_estimated_nusd,
                                        (ngx_atomic_uint_t) (ev->cost * 1e9
                                                             + 0.5));
        }
    }

    if (ctx->client_gone && status != NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        /* the client left, the answer was read to its end all the same */
        (void) ngx_atomic_fetch_add(&as->drained, 1);
    }

    if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        (void) ngx_atomic_fetch_add(&as->client_gone, 1);

    } else if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        (void) ngx_atomic_fetch_add(&as->rate_limited, 1);

    } else if (status >= 500 || status == 0) {
        (void) ngx_atomic_fetch_add(&as->server_errors, 1);

    } else if (status < 200 || status >= 300
               || (ev->flags & LLMOPT_EVENT_UPSTREAM_ERROR))
    {
        (void) ngx_atomic_fetch_add(&as->other_errors, 1);
    }

    if (ev->flags & LLMOPT_EVENT_TIMEOUT) {
        (void) ngx_atomic_fetch_add(&as->timeouts, 1);
    }

    /* the circuit breaker learns of failures: 429, 5xx, no answer */

    if (status != NGX_HTTP_CLIENT_CLOSED_REQUEST
        && (ctx->policy->policy->breaker_failures
            || ctx->policy->policy->breaker_error_rate > 0))
    {
        ngx_http_llmopt_breaker_outcome(ctx,
            status == NGX_HTTP_TOO_MANY_REQUESTS || status >= 500
            || status == 0 || (ev->flags & LLMOPT_EVENT_TIMEOUT),
            ngx_http_llmopt_wall_ms(), r->connection->log);
    }

    (void) ngx_atomic_fetch_add(&as->latency[ngx_http_llmopt_bucket(
                                    ngx_http_llmopt_time_bounds_ms,
                                    NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                    ctx->latency_ms)], 1);
    (void) ngx_atomic_fetch_add(&as->latency_sum_us,
                                (ngx_atomic_uint_t) (ctx->latency_ms * 1000));

    if (ctx->ttft_ms >= 0) {
        (void) ngx_atomic_fetch_add(&as->ttft[ngx_http_llmopt_bucket(
                                        ngx_http_llmopt_time_bounds_ms,
                                        NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                        ctx->ttft_ms)], 1);
        (void) ngx_atomic_fetch_add(&as->ttft_sum_us,
                                    (ngx_atomic_uint_t) (ctx->ttft_ms * 1000));
    }
}


static ngx_uint_t
ngx_http_llmopt_bucket(const double *bounds, ngx_uint_t n, double v)
{
    ngx_uint_t  i;

    for (i = 0; i + 1 < n && v > bounds[i]; i++) {
        /* void */
    }

    return i;
}
