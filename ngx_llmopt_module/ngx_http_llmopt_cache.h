
/*
 * Copyright (C) llmopt authors
 *
 * The exact cache's glue (ngx_http_llmopt_cache.c): the variables that
 * drive nginx's proxy_cache, and what a hit does to the outcome.
 */

#ifndef _NGX_HTTP_LLMOPT_CACHE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* At preconfiguration: $llmopt_cache_key, _bypass, $llmopt_no_cache... */
ngx_int_t ngx_http_llmopt_cache_add_variables(ngx_conf_t *cf);

/*
 * A stream that may be cached is sent upstream as a JSON request (its
 * "stream" and "stream_options" taken out), so that every entry is one
 * shape; its answer, fresh or cached, is replayed to the client as the
 * stream of its dialect (llmopt_sse_replay()).  After the rewrite.
 * NGX_OK, or a status.
 */
ngx_int_t ngx_http_llmopt_cache_unstream(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req);

/*
 * The filters that replay a JSON answer as a stream, below llmopt's
 * (which scan the JSON for its usage).
 */
void ngx_http_llmopt_cache_filter_init(ngx_conf_t *cf);

/*
 * The header filter's part: whether nginx answered from its cache (a
 * hit), the rule's ttl for an answer it will store, and no buffering for
 * a stream of a policy that caches (nginx caches buffered answers only).
 */
void ngx_http_llmopt_cache_header(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/*
 * The bytes of a buffer in a file (a proxy_cache entry, the temp file of
 * one being stored), read back a piece at a time and handed to scan as
 * buffers in memory, so that the usage of an answer nginx caches (and
 * of a hit) is seen.  A read that fails leaves the rest unseen.
 */
void ngx_http_llmopt_cache_read(ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b,
    void (*scan)(ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b));

/*
 * Settling a hit: it cost nothing; what the cached usage would have cost
 * at the arm's price is what it saved.
 */
void ngx_http_llmopt_cache_settle(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/*
 * The outcome of a hit, in place of the arm's: counted as a hit with its
 * saved cost, its budget reservation released, and not learned.
 */
void ngx_http_llmopt_cache_outcome(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);


#endif /* _NGX_HTTP_LLMOPT_CACHE_H_INCLUDED_ */
