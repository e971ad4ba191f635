
/*
 * Copyright (C) llmopt authors
 *
 * The guardrails over the zone: circuit breakers, budgets, canaries
 * (ngx_http_llmopt_guard.c).
 */

#ifndef _NGX_HTTP_LLMOPT_GUARD_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_GUARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "llmopt_guard.h"
#include "llmopt_reward.h"


/*
 * Half-open arm a gets its probe at now, unless another is under way
 * (llmopt_decide() asks, llmopt_decide.h): 1 when this request is it.
 */
int ngx_http_llmopt_breaker_probe(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t a, uint64_t now);

/*
 * An answer of the request's arm came back (failed or not): its counts in
 * the zone, then what llmopt_breaker_next() says, applied.
 */
void ngx_http_llmopt_breaker_outcome(ngx_http_llmopt_ctx_t *ctx,
    ngx_uint_t failed, uint64_t now, ngx_log_t *log);

/* The name of an arm's circuit state at now, for status. */
const char *ngx_http_llmopt_breaker_state(ngx_http_llmopt_arm_stats_t *as,
    uint64_t now);

/* A policy's budget accounts in the zone, once for its name. */
ngx_int_t ngx_http_llmopt_budget_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_stats_t *st, ngx_http_llmopt_policy_rt_t *prt,
    ngx_log_t *log);

/*
 * A copy of a budget's own account as of now and, when active is not
 * NULL, how many tenant accounts are in use this day or month.
 */
void ngx_http_llmopt_budget_read(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_budget_t *b, llmopt_budget_account_t *acct,
    ngx_uint_t *active);

/*
 * Clears fits[a] of the arms whose estimate does not fit the budgets;
 * est[] gets every arm's estimate, nUSD.  NGX_DECLINED when no arm is
 * left: *retry_s says when to come back.
 */
ngx_int_t ngx_http_llmopt_budget_check(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_str_t *tenant,
    const llmopt_guard_need_t *need, unsigned char *fits, int64_t *est,
    time_t *retry_s);

/* Reserves the chosen arm's estimate est, if it still fits. */
ngx_int_t ngx_http_llmopt_budget_reserve(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, int64_t est);

/* What an attempt cost counts; at the end (final) its reservation goes. */
void ngx_http_llmopt_budget_spend(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, double cost, ngx_uint_t final);

/* A policy's canary starts anew when its configuration is new. */
void ngx_http_llmopt_canary_init(ngx_http_llmopt_stats_t *st,
    ngx_http_llmopt_policy_rt_t *prt);

/* A canary the state file kept, taken if it is of this configuration. */
ngx_int_t ngx_http_llmopt_canary_restore(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_canary_t *saved);

/* The share of the policy's traffic its canary arm gets now. */
double ngx_http_llmopt_canary_share(ngx_http_llmopt_policy_rt_t *prt);

/* The trainer, for every reward learned of a policy with a canary. */
void ngx_http_llmopt_canary_learned(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_event_t *ev, const llmopt_reward_t *rw, uint64_t now,
    ngx_log_t *log);


#endif /* _NGX_HTTP_LLMOPT_GUARD_H_INCLUDED_ */
