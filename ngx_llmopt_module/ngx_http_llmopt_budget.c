
/*
 * Copyright (C) llmopt authors
 *
 * The budgets of the policies in the zone (llmopt_budget.h for their
 * rules): the accounts of a policy live in the zone under its mutex
 * (which nginx frees when a worker dies holding it).  A request's
 * estimate is reserved once it is decided and settled with its real cost
 * when it ends; with llmopt_redis an instance spends only what Redis
 * granted it (the trainer asks for grants, ngx_http_llmopt_redis_budget.c),
 * so that several instances never spend more than the cap together.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_budget.h"

#include "llmopt_hash.h"


static uint64_t ngx_http_llmopt_budget_key(ngx_str_t *tenant);
static int64_t ngx_http_llmopt_budget_room(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_budget_account_t *acct, const int64_t cap[2], uint32_t window,
    ngx_uint_t *periods, ngx_uint_t *pending, double *used);


ngx_int_t
ngx_http_llmopt_budget_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_stats_t *st, ngx_http_llmopt_policy_rt_t *prt,
    ngx_log_t *log)
{
    size_t                     size;
    ngx_uint_t                 n;
    ngx_http_llmopt_budget_t  *b;

    if (!prt->policy->budgeted) {
        return NGX_OK;
    }

    n = prt->policy->budget.tenants;

    if (st->budget != NULL) {
        if (st->budget->n != n) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "llmopt policy \"%V\": budget \"tenants\" keeps "
                          "%ui accounts until a restart", &prt->name,
                          st->budget->n);
        }

        return NGX_OK;
    }

    size = sizeof(ngx_http_llmopt_budget_t)
           + (n - 1) * sizeof(llmopt_budget_account_t);

    b = ngx_slab_calloc_locked(shpool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->n = n;
    b->policy.key = LLMOPT_BUDGET_POLICY;
    st->budget = b;

    return NGX_OK;
}


/*
 * A copy of a budget's own account as of now (its periods rolled, old
 * reservations let go) and, when active is not NULL, how many tenant
 * accounts are in use this day or month.
 */

void
ngx_http_llmopt_budget_read(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_budget_t *b, llmopt_budget_account_t *acct,
    ngx_uint_t *active)
{
    uint64_t    now;
    uint32_t    period[2];
    ngx_uint_t  k, n;

    now = ngx_http_llmopt_wall_ms();
    llmopt_budget_periods(now, period);

    ngx_shmtx_lock(&lmcf->shpool->mutex);

    llmopt_budget_roll(&b->policy, period);
    llmopt_budget_age(&b->policy, llmopt_budget_window(now));
    *acct = b->policy;

    for (n = 0, k = 0; active != NULL && k < b->n; k++) {
        n += b->tenants[k].key != 0
             && (b->tenants[k].period[0] == period[0]
                 || b->tenants[k].period[1] == period[1]);
    }

    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    if (active != NULL) {
        *active = n;
    }
}


/* The key of a tenant's account: never 0 (free) or 1 (the policy). */

static uint64_t
ngx_http_llmopt_budget_key(ngx_str_t *tenant)
{
    uint64_t  key;

    key = llmopt_hash64(tenant->data, tenant->len, 0x6c6c6d6f70746275ULL);

    return key < 2 ? key + 2 : key;
}


/*
 * What is left of an account for a new reservation, nUSD; the period
 * that binds goes into *periods (a bit each), or *pending says that a
 * grant is awaited.
 */

static int64_t
ngx_http_llmopt_budget_room(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_budget_account_t *acct, const int64_t cap[2], uint32_t window,
    ngx_uint_t *periods, ngx_uint_t *pending, double *used)
{
    int64_t   left;
    unsigned  which;

    llmopt_budget_age(acct, window);

    left = llmopt_budget_left(acct, cap, lmcf->redis != NULL, &which);

    if (left == INT64_MAX) {
        return left;
    }

    if (lmcf->redis != NULL && acct->granted_all[which] < cap[which]) {
        /* the cap is not reached, this instance's grant is */
        *pending = 1;

    } else {
        *periods |= 1 << which;
    }

    *used = ngx_max(*used, llmopt_budget_used(acct, cap));

    return left;
}


/*
 * Clears fits[a] of the arms whose estimate does not fit what is left of
 * the policy's and the tenant's budgets, and near a cap of the dearer
 * half; est[] gets every arm's estimate, nUSD.  NGX_DECLINED when no arm
 * is left: *retry_s says when to come back.
 */

ngx_int_t
ngx_http_llmopt_budget_check(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_str_t *tenant,
    const llmopt_guard_need_t *need, unsigned char *fits, int64_t *est,
    time_t *retry_s)
{
    double                        used;
    int64_t                       left, l, dearest;
    uint64_t                      now, end_ms;
    ngx_uint_t                    a, n, p, pending, periods;
    llmopt_guard_need_t           out;
    llmopt_budget_account_t      *acct;
    ngx_http_llmopt_budget_t     *b;
    const llmopt_policy_t        *policy;
    const llmopt_budget_conf_t   *bc;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    prt = ctx->policy;
    policy = prt->policy;
    bc = &policy->budget;
    b = prt->stats->budget;

    if (b == NULL) {
        return NGX_OK;
    }

    out = *need;

    if (out.output_tokens == 0) {
        out.output_tokens = bc->output_tokens;
    }

    /* every arm's estimate; the dearest the request fits is what grants
       are sized by */

    dearest = 0;

    for (a = 0; a < prt->n_arms; a++) {
        est[a] = llmopt_budget_nusd(llmopt_guard_cost(
                     &lmcf->catalog.models[policy->arms[a].model], &out));

        if (fits[a] && est[a] > dearest) {
            dearest = est[a];
        }
    }

    now = ngx_http_llmopt_wall_ms();
    llmopt_budget_periods(now, ctx->budget_period);
    ctx->budget_window = llmopt_budget_window(now);

    periods = 0;
    pending = 0;
    used = 0;
    acct = NULL;

    ngx_shmtx_lock(&lmcf->shpool->mutex);

    llmopt_budget_roll(&b->policy, ctx->budget_period);
    left = ngx_http_llmopt_budget_room(lmcf, &b->policy, bc->cap_nusd,
                                       ctx->budget_window, &periods,
                                       &pending, &used);
    b->policy.need = ngx_max(b->policy.need, dearest);

    if (tenant->len
        && (bc->tenant_cap_nusd[0] || bc->tenant_cap_nusd[1]))
    {
        acct = llmopt_budget_find(b->tenants, b->n,
                                  ngx_http_llmopt_budget_key(tenant),
                                  ctx->budget_period, 1);

        if (acct != NULL) {
            llmopt_budget_roll(acct, ctx->budget_period);
            l = ngx_http_llmopt_budget_room(lmcf, acct, bc->tenant_cap_nusd,
                                            ctx->budget_window, &periods,
                                            &pending, &used);
            left = ngx_min(left, l);
            acct->need = ngx_max(acct->need, dearest);

        } else {
            (void) ngx_atomic_fetch_add(&b->no_room, 1);
        }
    }

    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    ctx->budget_tenant = acct;

    n = llmopt_budget_mask(est, prt->n_arms, fits, left,
                           used >= bc->near);

    if (n) {
        if (used >= bc->near) {
            (void) ngx_atomic_fetch_add(&b->limited, 1);
        }

        return NGX_OK;
    }

    if (b->mode == LLMOPT_BUDGET_OUTAGE && (pending || periods == 0)) {
        /* what it held is spent and no grant comes before Redis is
           back: refused until the trainer's next try */
        end_ms = lmcf->sh->redis.next_try_ms;
        (void) ngx_atomic_fetch_add(&b->outage_refused, 1);
        *retry_s = end_ms > now ? (time_t) ((end_ms - now + 999) / 1000) : 1;
        return NGX_DECLINED;
    }

    if (pending || periods == 0) {
        /* a grant is on its way; reseeding: none before the reseed ends */
        end_ms = b->mode == LLMOPT_BUDGET_RESEEDING ? b->reseed_until_ms : 0;
        (void) ngx_atomic_fetch_add(&b->pending, 1);
        *retry_s = end_ms > now ? (time_t) ((end_ms - now + 999) / 1000) : 1;
        return NGX_DECLINED;
    }

    /* refused: come back when the last binding period ends */

    end_ms = 0;

    for (p = 0; p < 2; p++) {
        if (periods & (1 << p)) {
            end_ms = ngx_max(end_ms, llmopt_budget_period_end(now, p));
        }
    }

    (void) ngx_atomic_fetch_add(&b->refused, 1);
    *retry_s = (time_t) ((end_ms - now + 999) / 1000);

    return NGX_DECLINED;
}


/*
 * Reserves the chosen arm's estimate in the policy's and the tenant's
 * accounts, if it still fits (another worker may have taken the room
 * since the check).
 */

ngx_int_t
ngx_http_llmopt_budget_reserve(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, int64_t est)
{
    unsigned                      which;
    ngx_int_t                     rc;
    llmopt_budget_account_t      *t;
    ngx_http_llmopt_budget_t     *b;
    const llmopt_budget_conf_t   *bc;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    b = ctx->policy->stats->budget;
    bc = &ctx->policy->policy->budget;
    t = ctx->budget_tenant;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&lmcf->shpool->mutex);

    if (llmopt_budget_left(&b->policy, bc->cap_nusd, lmcf->redis != NULL,
                           &which)
        >= est
        && (t == NULL
            || llmopt_budget_left(t, bc->tenant_cap_nusd, lmcf->redis != NULL,
                                  &which)
               >= est))
    {
        llmopt_budget_reserve(&b->policy, est, ctx->budget_window);
        b->policy.requests++;

        if (t != NULL) {
            llmopt_budget_reserve(t, est, ctx->budget_window);
            t->requests++;
        }

        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    if (rc == NGX_OK) {
        ctx->budgeted = 1;
        ctx->budget_est = est;

    } else {
        (void) ngx_atomic_fetch_add(&b->refused, 1);
    }

    return rc;
}


/*
 * What an attempt cost counts in the accounts; at the end of the request
 * (final) its reservation goes.
 */

void
ngx_http_llmopt_budget_spend(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, double cost, ngx_uint_t final)
{
    int64_t                       nusd, est;
    llmopt_budget_account_t      *t;
    ngx_http_llmopt_budget_t     *b;
    ngx_http_llmopt_main_conf_t  *lmcf;

    if (!ctx->budgeted) {
        return;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    b = ctx->policy->stats->budget;
    t = ctx->budget_tenant;
    nusd = llmopt_budget_nusd(cost);
    est = final ? ctx->budget_est : 0;

    ngx_shmtx_lock(&lmcf->shpool->mutex);

    llmopt_budget_settle(&b->policy, est, nusd, ctx->budget_period,
                         ctx->budget_window);

    if (t != NULL) {
        llmopt_budget_settle(t, est, nusd, ctx->budget_period,
                             ctx->budget_window);
    }

    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    if (final) {
        ctx->budgeted = 0;
    }
}
