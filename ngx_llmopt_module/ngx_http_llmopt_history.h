
/*
 * Copyright (C) llmopt authors
 *
 * The history of a policy's counters in the zone, for the dashboard
 * (ngx_http_llmopt_history.c).
 */

#ifndef _NGX_HTTP_LLMOPT_HISTORY_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_HISTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"


/* The bytes of one snapshot of n_arms arms, as the rings hold it. */
size_t ngx_http_llmopt_snap_size(ngx_uint_t n_arms);

/* The rings of stats, for n_arms arms, in the zone (under its mutex). */
ngx_int_t ngx_http_llmopt_history_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_stats_t *stats,
    ngx_uint_t n_arms);

/* The trainer, every tick: a snapshot when a boundary has passed. */
void ngx_http_llmopt_history_tick(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now);

/* The policy's counters now, as a snapshot would hold them. */
ngx_http_llmopt_snap_t *ngx_http_llmopt_history_live(
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_snap_t *snap);

/*
 * A copy of the snapshot "back" places before the newest of a ring;
 * NGX_DECLINED when there is none or it was being written.
 */
ngx_int_t ngx_http_llmopt_history_get(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t ring, ngx_uint_t back, ngx_http_llmopt_snap_t *snap);

/*
 * The newest snapshot taken at or before time_ms; NGX_DECLINED when there
 * is no history at all.
 */
ngx_int_t ngx_http_llmopt_history_before(ngx_http_llmopt_policy_rt_t *prt,
    uint64_t time_ms, ngx_http_llmopt_snap_t *snap);


#endif /* _NGX_HTTP_LLMOPT_HISTORY_H_INCLUDED_ */
