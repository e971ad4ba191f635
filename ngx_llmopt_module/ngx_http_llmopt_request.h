
/*
 * Copyright (C) llmopt authors
 *
 * A routed request's context, memory, parse and refusal
 * (ngx_http_llmopt_request.c).
 */

#ifndef _NGX_HTTP_LLMOPT_REQUEST_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * The request's context, also after an internal redirect cleared r->ctx
 * (it is kept in a pool cleanup); NULL when llmopt made none.
 */
ngx_http_llmopt_ctx_t *ngx_http_llmopt_get_ctx(ngx_http_request_t *r);

/* A new context for r, zeroed, from the cache; NULL: out of memory. */
ngx_http_llmopt_ctx_t *ngx_http_llmopt_create_ctx(ngx_http_request_t *r);

/* What the process's caches of request memory hold, freed as it exits. */
void ngx_http_llmopt_cache_free(void);

/*
 * Parses body (len bytes) in the request's dialect into req, growing the
 * worker's token array as needed: NGX_OK, or the status of the 4xx sent.
 */
ngx_int_t ngx_http_llmopt_parse(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req, u_char *body,
    size_t len);

/* The same in dialect: a translated body, as its upstream reads it. */
ngx_int_t ngx_http_llmopt_parse_as(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req,
    llmopt_dialect_e dialect, u_char *body, size_t len);

/*
 * The worker's JSON token array (main conf toks) with room for n tokens:
 * NGX_OK, or NGX_ERROR out of memory.  What it held is gone.
 */
ngx_int_t ngx_http_llmopt_tokens(ngx_http_request_t *r, ngx_uint_t n);

/*
 * Refuses the request (kind: NGX_HTTP_LLMOPT_REJECT_*) with an error of
 * status in its dialect, counted; gives back a budget reservation.
 */
ngx_int_t ngx_http_llmopt_reject(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_uint_t kind, ngx_uint_t status,
    const char *type, const char *code, const char *msg);

/* A buffer of at least size bytes for the rewritten body, of the cache. */
ngx_buf_t *ngx_http_llmopt_out_buf(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, size_t size);

/*
 * Memory of at least size bytes for the client's body in one piece, of the
 * cache, the request's until it ends; NULL: out of memory.
 */
u_char *ngx_http_llmopt_in_buf(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, size_t size);


#endif /* _NGX_HTTP_LLMOPT_REQUEST_H_INCLUDED_ */
