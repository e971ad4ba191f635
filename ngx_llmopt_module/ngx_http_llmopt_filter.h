
/*
 * Copyright (C) llmopt authors
 *
 * The header and body filters, and the outcome of a routed request
 * (ngx_http_llmopt_filter.c).
 */

#ifndef _NGX_HTTP_LLMOPT_FILTER_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* At postconfiguration: the filters join nginx's chains. */
ngx_int_t ngx_http_llmopt_filter_init(ngx_conf_t *cf);

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

/* The upstream's Retry-After of r, ms; 0: none. */
ngx_msec_t ngx_http_llmopt_retry_after(ngx_http_request_t *r);


/* Histogram bounds of the zone's counters (ngx_http_llmopt_zone.h). */
extern const double  ngx_http_llmopt_time_bounds_ms[];
extern const double  ngx_http_llmopt_decision_bounds_ns[];


#endif /* _NGX_HTTP_LLMOPT_FILTER_H_INCLUDED_ */
