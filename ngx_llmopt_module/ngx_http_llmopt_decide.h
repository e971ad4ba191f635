
/*
 * Copyright (C) llmopt authors
 */


#ifndef _NGX_HTTP_LLMOPT_DECIDE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_DECIDE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * The first decision of a request: its features, then llmopt_decide()
 * over the zone's state; sets ctx->arm and the rest, counts it, reserves
 * its budget.  NGX_OK, or the status of the answer sent instead (a 400
 * when no arm fits, a 429 over budget).
 */
ngx_int_t ngx_http_llmopt_decide(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req);

/*
 * A failover's decision: llmopt_decide() again with arm failed left out.
 * NGX_OK with ctx->arm set and counted, NGX_DECLINED when no other arm
 * can take the request.
 */
ngx_int_t ngx_http_llmopt_decide_again(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req, ngx_uint_t failed);


#endif /* _NGX_HTTP_LLMOPT_DECIDE_H_INCLUDED_ */
