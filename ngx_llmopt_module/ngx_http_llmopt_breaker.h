
/*
 * Copyright (C) llmopt authors
 *
 * The circuit breaker of each arm in the zone (ngx_http_llmopt_breaker.c;
 * its rules are src/llmopt_breaker.c).
 */

#ifndef _NGX_HTTP_LLMOPT_BREAKER_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_BREAKER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"


/* "closed", "open" or "half_open" of the arm's circuit at now (ms). */
const char *ngx_http_llmopt_breaker_state(ngx_http_llmopt_arm_stats_t *as,
    uint64_t now);

/* Half-open arm a of prt gets its probe at now, unless another is under
   way: 1 when this request is it (llmopt_decide() asks). */
int ngx_http_llmopt_breaker_probe(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t a, uint64_t now);

/* An answer of ctx's arm came back (failed or not) at now: its counts,
   and the circuit opened or closed as llmopt_breaker_next() says. */
void ngx_http_llmopt_breaker_outcome(ngx_http_llmopt_ctx_t *ctx,
    ngx_uint_t failed, uint64_t now, ngx_log_t *log);


#endif /* _NGX_HTTP_LLMOPT_BREAKER_H_INCLUDED_ */
