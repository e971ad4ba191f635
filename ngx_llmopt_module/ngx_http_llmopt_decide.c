
/*
 * Copyright (C) llmopt authors
 *
 * The decision's glue: the request's features, and for llmopt_decide()
 * the zone's state of the policy's arms (SLO breaches, circuits, the
 * canary's stage, the drift boost's window), the pin header's names,
 * and its callbacks -- the bandit under the seqlock of the policy's
 * block, the budgets, a half-open circuit's probe.  What it decided goes
 * into the request's context and the zone's counters.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_feedback.h"
#include "ngx_http_llmopt_breaker.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_canary.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_decide.h"
#include "ngx_http_llmopt_sparse.h"

#include "llmopt_decide.h"


typedef struct {
    ngx_http_request_t           *r;
    ngx_http_llmopt_ctx_t        *ctx;
    ngx_http_llmopt_policy_rt_t  *prt;
    llmopt_request_t             *req;
    ngx_str_t                    *tenant;
    llmopt_guard_need_t          *need;
    int64_t                      *est;
    time_t                        retry;
} ngx_http_llmopt_decide_t;


static void ngx_http_llmopt_decide_state(ngx_http_llmopt_decide_t *dd,
    llmopt_decide_in_t *in, unsigned char *breach, uint64_t *until);
static int ngx_http_llmopt_decide_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);
static int ngx_http_llmopt_decide_budget(void *data, unsigned char *fits);
static int ngx_http_llmopt_decide_probe(void *data, unsigned a,
    uint64_t now);
static void ngx_http_llmopt_pins(ngx_http_request_t *r,
    ngx_http_llmopt_policy_rt_t *prt, ngx_str_t *name,
    llmopt_decide_in_t *in);
static ngx_int_t ngx_http_llmopt_pin_header(ngx_table_elt_t *h, void *data);
static ngx_int_t ngx_http_llmopt_over_budget(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, time_t retry);
static ngx_int_t ngx_http_llmopt_unfit(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_guard_need_t *need, unsigned why);


ngx_int_t
ngx_http_llmopt_decide(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_request_t *req)
{
    int                           rc;
    time_t                        now;
    int64_t                       est[LLMOPT_MAX_ARMS];
    ngx_str_t                     tenant;
    llmopt_guard_need_t           need;
    llmopt_decide_in_t            in;
    llmopt_decide_out_t           out;
    llmopt_feature_ctx_t          fctx;
    ngx_http_llmopt_decide_t      dd;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;
    unsigned char                 breach[LLMOPT_MAX_ARMS];
    uint64_t                      until[LLMOPT_MAX_ARMS];

    static time_t                 hour_now = -1;
    static llmopt_feature_ctx_t   hour;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    prt = ctx->policy;
    policy = prt->policy;

    now = ngx_time() + ngx_cached_time->gmtoff * 60;

    /* the hour's sine and cosine, once a second */

    if (now != hour_now) {
        hour_now = now;
        llmopt_feature_hour(&hour, (double) (now % 86400) / 3600.0);
    }

    fctx = hour;
    fctx.tenant = NULL;
    fctx.tenant_len = 0;
    tenant.len = 0;

    if (llcf->tenant != NULL
        && ngx_http_complex_value(r, llcf->tenant, &tenant) == NGX_OK
        && tenant.len)
    {
        fctx.tenant = (const char *) tenant.data;
        fctx.tenant_len = tenant.len;
    }

    if (fctx.tenant == NULL) {
        tenant.len = 0;
    }

    ctx->d = policy->features.d;
    ctx->stream = req->stream;

    llmopt_features_build(&policy->features, req, &fctx, ctx->x);

    if (policy->feedback_tenant_same) {
        /* feedback from this tenant key only; on error from nobody */
        (void) ngx_http_llmopt_feedback_tenant(lmcf, (u_char *) fctx.tenant,
                                               fctx.tenant_len,
                                               &ctx->feedback_tenant);
    }

    llmopt_guard_need(req, &need);
    ctx->input_est = need.input_tokens;

    dd.r = r;
    dd.ctx = ctx;
    dd.prt = prt;
    dd.req = req;
    dd.tenant = &tenant;
    dd.need = &need;
    dd.est = est;
    dd.retry = 0;

    ngx_http_llmopt_decide_state(&dd, &in, breach, until);

    /* the request's start time serves: no clock read of its own */
    in.now_ms = ctx->start_ms;
    in.canary_share = policy->canary.arm >= 0
                      ? ngx_http_llmopt_canary_share(prt) : -1;
    in.shadow = llcf->shadow;
    in.explore_until_ms = prt->stats->explore_until_ms;

    if (llcf->pin_header.len) {
        ngx_http_llmopt_pins(r, prt, &llcf->pin_header, &in);
    }

    rc = llmopt_decide(&in, &out);

    if (rc == LLMOPT_DECIDE_UNFIT) {
        return ngx_http_llmopt_unfit(r, ctx, &need, out.why);
    }

    if (rc == LLMOPT_DECIDE_BUDGET) {
        return ngx_http_llmopt_over_budget(r, ctx, dd.retry);
    }

    ctx->arm = out.arm;
    ctx->propensity = out.propensity;
    ctx->explore = out.explore;
    ctx->probe = out.probe;
    ctx->canary = out.canary;
    ctx->variant = out.variant;
    ctx->variant_propensity = out.variant_propensity;

    if (policy->sparse_on
        && (out.reason != LLMOPT_DECIDE_BANDIT || out.shadow))
    {
        /* served by another rule: the table learns of the arm served */
        ngx_http_llmopt_sparse_served(ctx, req, &prt->rng);
    }

    if (out.reason == LLMOPT_DECIDE_PINNED) {
        ctx->pinned = 1;
        (void) ngx_atomic_fetch_add(&prt->stats->pinned, 1);

    } else if (out.reason == LLMOPT_DECIDE_FALLBACK) {
        ctx->fallback = 1;
        (void) ngx_atomic_fetch_add(&prt->stats->fallback, 1);
    }

    if (out.shadow) {
        /* decided and counted, not applied: the default arm serves */
        ctx->shadow = 1;
        ctx->shadow_arm = out.shadow_arm;
        (void) ngx_atomic_fetch_add(&prt->stats->arm_shadow[out.shadow_arm],
                                    1);
    }

    if (policy->budgeted
        && ngx_http_llmopt_budget_reserve(r, ctx, est[ctx->arm]) != NGX_OK)
    {
        /* the room went to another request since the check */
        return ngx_http_llmopt_over_budget(r, ctx, 1);
    }

    (void) ngx_atomic_fetch_add(&prt->stats->requests, 1);
    (void) ngx_atomic_fetch_add(&prt->stats->arm_requests[ctx->arm], 1);

    if (ctx->explore) {
        (void) ngx_atomic_fetch_add(&prt->stats->arm_explore[ctx->arm], 1);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_llmopt_decide_again(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req, ngx_uint_t failed)
{
    llmopt_guard_need_t           need;
    llmopt_decide_in_t            in;
    llmopt_decide_out_t           out;
    ngx_http_llmopt_decide_t      dd;
    ngx_http_llmopt_policy_rt_t  *prt;
    unsigned char                 breach[LLMOPT_MAX_ARMS];
    unsigned char                 failed_arms[LLMOPT_MAX_ARMS];
    uint64_t                      until[LLMOPT_MAX_ARMS];

    prt = ctx->policy;

    llmopt_guard_need(req, &need);

    ngx_memzero(&dd, sizeof(ngx_http_llmopt_decide_t));
    dd.r = r;
    dd.ctx = ctx;
    dd.prt = prt;
    dd.req = req;
    dd.need = &need;

    ngx_http_llmopt_decide_state(&dd, &in, breach, until);

    ngx_memzero(failed_arms, sizeof(failed_arms));
    failed_arms[failed] = 1;

    in.failed = failed_arms;
    in.now_ms = ngx_http_llmopt_wall_ms();

    if (llmopt_decide(&in, &out) != LLMOPT_DECIDE_OK) {
        return NGX_DECLINED;
    }

    ctx->arm = out.arm;
    ctx->propensity = out.propensity;
    ctx->explore = out.explore;
    ctx->variant = out.variant;
    ctx->variant_propensity = out.variant_propensity;

    if (prt->policy->sparse_on && out.reason != LLMOPT_DECIDE_BANDIT) {
        ngx_http_llmopt_sparse_served(ctx, req, &prt->rng);
    }

    (void) ngx_atomic_fetch_add(&prt->stats->arm_requests[ctx->arm], 1);

    if (ctx->explore) {
        (void) ngx_atomic_fetch_add(&prt->stats->arm_explore[ctx->arm], 1);
    }

    return NGX_OK;
}


/* The input of llmopt_decide() common to both: the zone's state, read. */

static void
ngx_http_llmopt_decide_state(ngx_http_llmopt_decide_t *dd,
    llmopt_decide_in_t *in, unsigned char *breach, uint64_t *until)
{
    ngx_uint_t                    a;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    lmcf = ngx_http_get_module_main_conf(dd->r, ngx_http_llmopt_module);
    prt = dd->prt;

    for (a = 0; a < prt->n_arms; a++) {
        breach[a] = prt->stats->arms[a].slo_breach ? 1 : 0;
        until[a] = prt->stats->arms[a].breaker_open_until_ms;
    }

    ngx_memzero(in, sizeof(llmopt_decide_in_t));

    in->catalog = &lmcf->catalog;
    in->policy = prt->policy;
    in->need = dd->need;
    in->x = dd->ctx->x;
    in->fallback = (unsigned) prt->fallback;
    in->slo_breach = breach;
    in->breaker_until = until;
    in->canary_share = -1;
    in->variant_tally = prt->stats->variants;
    in->rng = &prt->rng;
    in->select = ngx_http_llmopt_decide_select;
    in->budget = ngx_http_llmopt_decide_budget;
    in->probe = ngx_http_llmopt_decide_probe;
    in->data = dd;
}


/*
 * Chooses under the seqlock of the policy's block, straight from shared
 * memory; a worker keeps a copy of the last consistent parameters and uses
 * it when the writer keeps the lock busy.
 */

static int
ngx_http_llmopt_decide_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    ngx_http_llmopt_decide_t *dd = data;

    int                           rc;
    uint64_t                      seq;
    ngx_uint_t                    i;
    const void                   *params;
    ngx_http_llmopt_block_t      *block;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = dd->prt;

    if (prt->policy->sparse_on) {
        /* its own table, read without the seqlock */
        return ngx_http_llmopt_sparse_select(dd->ctx, dd->req, x, allowed,
                                             rng, choice);
    }

    block = prt->block;
    params = NULL;
    rc = LLMOPT_DECLINED;

    for (i = 0; i < LLMOPT_SEQLOCK_TRIES; i++) {
        seq = llmopt_seqlock_read_begin(&block->lock);

        rc = llmopt_bandit_select(&prt->policy->bandit, block->params, x,
                                  allowed, rng, choice);

        if (!llmopt_seqlock_read_retry(&block->lock, seq)) {
            params = block->params;
            break;
        }
    }

    if (params != NULL) {
        if (seq != prt->last_seq
            && llmopt_seqlock_read_copy(&block->lock, prt->last_good,
                                        block->params, block->size,
                                        LLMOPT_SEQLOCK_TRIES, &seq)
               == LLMOPT_OK)
        {
            /* new parameters were published: the copy follows them */
            prt->last_seq = seq;
        }

    } else {
        if (prt->last_seq & 1) {
            return LLMOPT_DECLINED;         /* no consistent copy yet */
        }

        rc = llmopt_bandit_select(&prt->policy->bandit, prt->last_good, x,
                                  allowed, rng, choice);
    }

    return rc;
}


static int
ngx_http_llmopt_decide_budget(void *data, unsigned char *fits)
{
    ngx_http_llmopt_decide_t *dd = data;

    return ngx_http_llmopt_budget_check(dd->r, dd->ctx, dd->tenant, dd->need,
                                        fits, dd->est, &dd->retry)
           == NGX_OK ? LLMOPT_OK : LLMOPT_DECLINED;
}


static int
ngx_http_llmopt_decide_probe(void *data, unsigned a, uint64_t now)
{
    ngx_http_llmopt_decide_t *dd = data;

    return ngx_http_llmopt_breaker_probe(dd->prt, a, now);
}


/*
 * The pin header (llmopt_pin_header, only where configured) names the arm
 * to use; llmopt_decide() takes the first that fits the request, and
 * ngx_http_llmopt_set_headers() keeps the header from the upstream.
 */

typedef struct {
    ngx_http_llmopt_policy_rt_t  *prt;
    llmopt_decide_in_t           *in;
} ngx_http_llmopt_pin_t;


static void
ngx_http_llmopt_pins(ngx_http_request_t *r, ngx_http_llmopt_policy_rt_t *prt,
    ngx_str_t *name, llmopt_decide_in_t *in)
{
    ngx_http_llmopt_pin_t  pin;

    pin.prt = prt;
    pin.in = in;

    (void) ngx_http_llmopt_headers(&r->headers_in.headers, name,
                                   ngx_http_llmopt_pin_header, &pin);
}


static ngx_int_t
ngx_http_llmopt_pin_header(ngx_table_elt_t *h, void *data)
{
    ngx_http_llmopt_pin_t *pin = data;

    ngx_uint_t  a;

    if (pin->in->n_pins == LLMOPT_DECIDE_MAX_PINS) {
        return NGX_DONE;
    }

    for (a = 0; a < pin->prt->n_arms; a++) {
        if (h->value.len == pin->prt->arms[a].name.len
            && ngx_strncmp(h->value.data, pin->prt->arms[a].name.data,
                           h->value.len) == 0)
        {
            pin->in->pins[pin->in->n_pins++] = (int) a;
            break;
        }
    }

    return NGX_OK;
}


/*
 * A budget's cap is reached (or this instance awaits a grant of Redis):
 * a 429 in the client's dialect with Retry-After.
 */

static ngx_int_t
ngx_http_llmopt_over_budget(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    time_t retry)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (p == NULL
        || ngx_http_llmopt_add_header(r, "Retry-After", p,
                                      ngx_sprintf(p, "%T", retry) - p)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_llmopt_reject(r, ctx, NGX_HTTP_LLMOPT_REJECT_BUDGET,
               NGX_HTTP_TOO_MANY_REQUESTS,
               ctx->dialect == LLMOPT_DIALECT_ANTHROPIC ? "rate_limit_error"
                                                        : "insufficient_quota",
               "budget_exceeded",
               retry > 1 ? "This endpoint's spending budget is used up "
                           "for now; see Retry-After."
                         : "This endpoint's spending budget has no room "
                           "for this request right now; retry shortly.");
}


/*
 * No arm of the policy can take the request: a 400 in the client's
 * dialect saying why, as the providers do for a prompt too long.
 */

static ngx_int_t
ngx_http_llmopt_unfit(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_guard_need_t *need, unsigned why)
{
    u_char  *msg;

    msg = ngx_pnalloc(r->pool, 256);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(why & LLMOPT_GUARD_COST)) {
        /* every arm too small; with a cost bit, some window did fit */
        ngx_sprintf(msg, "The request needs about %uL tokens (%uL in, %uL "
                    "out); no model of this endpoint has a context window "
                    "that large.%Z",
                    need->input_tokens + need->output_tokens,
                    need->input_tokens, need->output_tokens);

        return ngx_http_llmopt_reject(r, ctx,
                   NGX_HTTP_LLMOPT_REJECT_CONSTRAINT, NGX_HTTP_BAD_REQUEST,
                   "invalid_request_error", "context_length_exceeded",
                   (char *) msg);
    }

    ngx_sprintf(msg, "The request's estimated cost (about %uL tokens in, "
                "%uL out) exceeds this endpoint's limit of %.4f USD for "
                "every model; ask for fewer tokens.%Z", need->input_tokens,
                need->output_tokens, ctx->policy->policy->max_cost);

    return ngx_http_llmopt_reject(r, ctx, NGX_HTTP_LLMOPT_REJECT_CONSTRAINT,
                                  NGX_HTTP_BAD_REQUEST,
                                  "invalid_request_error", "cost_limit",
                                  (char *) msg);
}
