/*
 * Copyright (C) llmopt authors
 *
 * The Prometheus exposition of llmopt_status
 * (ngx_http_llmopt_prometheus.c).
 */


#ifndef _NGX_HTTP_LLMOPT_PROMETHEUS_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_PROMETHEUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* Answers r with the metrics, text format 0.0.4. */
ngx_int_t ngx_http_llmopt_prometheus(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf);


#endif /* _NGX_HTTP_LLMOPT_PROMETHEUS_H_INCLUDED_ */
