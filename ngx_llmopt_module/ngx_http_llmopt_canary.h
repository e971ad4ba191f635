
/*
 * Copyright (C) llmopt authors
 *
 * The canary rollout of each policy in the zone (ngx_http_llmopt_canary.c;
 * its stages and gate are src/llmopt_canary.c).
 */

#ifndef _NGX_HTTP_LLMOPT_CANARY_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_CANARY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "llmopt_canary.h"
#include "llmopt_reward.h"


/* The rollout of prt in the zone block st, as the zone is set up: one of
   the same configuration goes on over a reload, else it starts anew. */
void ngx_http_llmopt_canary_init(ngx_http_llmopt_stats_t *st,
    ngx_http_llmopt_policy_rt_t *prt);

/* A rollout from the state file in place of prt's, if it is of the same
   configuration and sane: NGX_OK, else NGX_DECLINED. */
ngx_int_t ngx_http_llmopt_canary_restore(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_canary_t *saved);

/* The share of prt's traffic its canary arm gets now (< 0: no canary). */
double ngx_http_llmopt_canary_share(ngx_http_llmopt_policy_rt_t *prt);

/* The trainer, for every reward learned of prt with a canary: counts it,
   and logs a stage's gate passed or failed. */
void ngx_http_llmopt_canary_learned(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_event_t *ev, const llmopt_reward_t *rw, uint64_t now,
    ngx_log_t *log);


#endif /* _NGX_HTTP_LLMOPT_CANARY_H_INCLUDED_ */
