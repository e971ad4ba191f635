
/*
 * Copyright (C) llmopt authors
 *
 * The header and body filters (ngx_http_llmopt_filter.c).
 */

#ifndef _NGX_HTTP_LLMOPT_FILTER_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* At postconfiguration: the filters join nginx's chains. */
ngx_int_t ngx_http_llmopt_filter_init(ngx_conf_t *cf);

/* The upstream's Retry-After of r, ms; 0: none. */
ngx_msec_t ngx_http_llmopt_retry_after(ngx_http_request_t *r);


#endif /* _NGX_HTTP_LLMOPT_FILTER_H_INCLUDED_ */
