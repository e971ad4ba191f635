
/*
 * Copyright (C) llmopt authors
 *
 * A routed request's outcome (ngx_http_llmopt_outcome.c).
 */

#ifndef _NGX_HTTP_LLMOPT_OUTCOME_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_OUTCOME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * The answer is over, once: settled, counted, its budget spent, and its
 * event pushed to the trainer's ring or parked in the pending table.
 */
void ngx_http_llmopt_outcome(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/* The log phase records what the body filter did not see end. */
ngx_int_t ngx_http_llmopt_log_handler(ngx_http_request_t *r);

/*
 * The outcome of a routed request, once: usage, status, cost, latency,
 * and the reward when it is final now (no feedback awaited).  Runs for the
 * first of the log handler and the $llmopt_* variables that needs it.
 */
void ngx_http_llmopt_settle(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/*
 * The first arm failed and llmopt_failover tries another: the failure is
 * an outcome of that arm, and the request starts over for the next one.
 */
void ngx_http_llmopt_attempt_failed(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/* Histogram bounds of the zone's counters (ngx_http_llmopt_zone.h). */
extern const double  ngx_http_llmopt_time_bounds_ms[];
extern const double  ngx_http_llmopt_decision_bounds_ns[];


#endif /* _NGX_HTTP_LLMOPT_OUTCOME_H_INCLUDED_ */
