
/*
 * Copyright (C) llmopt authors
 */


#ifndef _NGX_HTTP_LLMOPT_REWRITE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REWRITE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* The body for ctx->arm: its model and settings; NGX_OK or a status. */
ngx_int_t ngx_http_llmopt_rewrite(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req);

/* The upstream headers for arm, built from the client's. */
ngx_int_t ngx_http_llmopt_set_headers(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_http_llmopt_arm_t *arm);

/* The request's id ($llmopt_request_id), random. */
void ngx_http_llmopt_request_id(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/* The W3C trace context of the request (llmopt_trace). */
ngx_int_t ngx_http_llmopt_trace(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_http_llmopt_loc_conf_t *llcf);


#endif /* _NGX_HTTP_LLMOPT_REWRITE_H_INCLUDED_ */
