
/*
 * Copyright (C) llmopt authors
 *
 * A policy's cascade in nginx (ngx_http_llmopt_cascade.c): each tier's
 * attempt a subrequest, its answer judged, escalated or served.
 */


#ifndef _NGX_HTTP_LLMOPT_CASCADE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_CASCADE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * Once the body is read, decided and rewritten: a request of a policy
 * with a cascade whose client does not stream is taken over, its first
 * tier's attempt started (NGX_OK: the cascade answers the client and
 * finalizes r).  NGX_DECLINED: not a cascade's, routed as usual.  An
 * HTTP status: it could not start.
 */
ngx_int_t ngx_http_llmopt_cascade_start(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/* $llmopt_tiers: "arm:cost,arm:cost" of the tiers tried, in order. */
ngx_int_t ngx_http_llmopt_cascade_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#endif /* _NGX_HTTP_LLMOPT_CASCADE_H_INCLUDED_ */
