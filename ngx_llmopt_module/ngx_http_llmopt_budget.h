
/*
 * Copyright (C) llmopt authors
 *
 * The budgets of the policies in the zone (ngx_http_llmopt_budget.c; the
 * accounts' rules are src/llmopt_budget.c).
 */

#ifndef _NGX_HTTP_LLMOPT_BUDGET_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_BUDGET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "llmopt_guard.h"


/* The accounts of prt's budget in the zone block st, allocated from
   shpool (locked) unless a reload finds them there. */
ngx_int_t ngx_http_llmopt_budget_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_stats_t *st, ngx_http_llmopt_policy_rt_t *prt,
    ngx_log_t *log);

/* A copy of b's own account as of now and, when active is not NULL, how
   many tenant accounts are in use this day or month. */
void ngx_http_llmopt_budget_read(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_budget_t *b, llmopt_budget_account_t *acct,
    ngx_uint_t *active);

/* Clears fits[a] of the arms the policy's and the tenant's budgets have
   no room for; est[] gets every arm's estimate, nUSD.  NGX_DECLINED when
   no arm is left, *retry_s saying when to come back. */
ngx_int_t ngx_http_llmopt_budget_check(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_str_t *tenant,
    const llmopt_guard_need_t *need, unsigned char *fits, int64_t *est,
    time_t *retry_s);

/* Reserves est nUSD of the decided arm, if it still fits: NGX_OK, else
   NGX_DECLINED. */
ngx_int_t ngx_http_llmopt_budget_reserve(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, int64_t est);

/* What an attempt cost (USD) counts; final: the reservation goes. */
void ngx_http_llmopt_budget_spend(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, double cost, ngx_uint_t final);


#endif /* _NGX_HTTP_LLMOPT_BUDGET_H_INCLUDED_ */
