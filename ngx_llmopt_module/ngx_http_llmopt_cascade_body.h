
/*
 * Copyright (C) llmopt authors
 *
 * What a cascade's attempts send and keep (ngx_http_llmopt_cascade_body.c).
 */


#ifndef _NGX_HTTP_LLMOPT_CASCADE_BODY_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_CASCADE_BODY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "llmopt_cascade.h"

#include "ngx_http_llmopt_common.h"


/* 1 when the client's body (req) has "logprobs": true. */
ngx_uint_t ngx_http_llmopt_cascade_asked(llmopt_request_t *req);

/* sr's body for arm with "logprobs": true added, as
   ngx_http_llmopt_rewrite() writes one; an HTTP status on failure. */
ngx_int_t ngx_http_llmopt_cascade_rewrite(ngx_http_request_t *sr,
    ngx_http_llmopt_ctx_t *sctx, llmopt_request_t *req,
    ngx_http_llmopt_arm_t *arm);

/* body (parsed into toks) with choices[0].logprobs null, or body. */
ngx_buf_t *ngx_http_llmopt_cascade_strip(ngx_pool_t *pool, ngx_buf_t *body,
    const llmopt_json_tok_t *toks, unsigned ntoks);

/* 1 when every arm of tier of prt has its circuit open at now (ms). */
ngx_uint_t ngx_http_llmopt_cascade_skip(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t tier, uint64_t now);

/* The extractor of tier of prt in this worker, compiled on first use;
   NULL without memory. */
llmopt_cascade_extractor_t *ngx_http_llmopt_cascade_extractor(
    ngx_http_request_t *r, ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t tier);

/*
 * The body filter of the attempts: an answer larger than
 * subrequest_output_buffer_size is dropped past it (and escalated), not
 * an error of the connection.  Set before llmopt's own filter.
 */
ngx_int_t ngx_http_llmopt_cascade_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_LLMOPT_CASCADE_BODY_H_INCLUDED_ */
