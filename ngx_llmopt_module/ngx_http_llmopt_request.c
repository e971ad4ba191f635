
/*
 * Copyright (C) llmopt authors
 *
 * A routed request's own memory and answers: its context (kept across
 * internal redirects) and the worker's caches of contexts and rewritten
 * bodies; the parse of its body (llmopt_request_parse()); a refusal's
 * answer, counted.  Used by the handler, the decision, the rewrite, the
 * failover and the filters alike.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"


static ngx_uint_t ngx_http_llmopt_class(size_t size);
static void ngx_http_llmopt_class_put(u_char *p, ngx_uint_t k);
static void ngx_http_llmopt_out_free(ngx_http_llmopt_ctx_t *ctx);
static void ngx_http_llmopt_in_free(ngx_http_llmopt_ctx_t *ctx);
static void ngx_http_llmopt_ctx_cleanup(void *data);


/*
 * The context is kept in a pool cleanup as well as in r->ctx: an internal
 * redirect clears r->ctx, and the decision must survive it.
 */

ngx_http_llmopt_ctx_t *
ngx_http_llmopt_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_llmopt_ctx_t  *ctx;

    if (r != r->main) {
        /* a cascade's attempt has a context of its own */
        ctx = ngx_http_get_module_ctx(r, ngx_http_llmopt_module);

        if (ctx != NULL) {
            return ctx;
        }
    }

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llmopt_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_llmopt_ctx_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_llmopt_module);
                break;
            }
        }
    }

    return ctx;
}


/*
 * Per worker caches of request memory: contexts, and buffers for bodies
 * (a rewritten body, and the copy of a client's body nginx read in parts
 * or into a file) in classes of 4 KB, 8 KB, ... 16 MB.  They come from the
 * cache and go back to it when the request's pool is destroyed, so that a
 * routed request takes from malloc what a plain proxied one does.  Pool
 * blocks of their own would make the heap swing under load, and glibc then
 * gives the heap's top back to the kernel and faults it in again, which
 * costs more than all of llmopt's work where page-table updates are slow
 * (virtual machines); a body of 128 KB or more would be a mapping of its
 * own each time, every page of it faulted in (about 0.5 ms for 1 MB).  A
 * cache keeps at most 128 contexts (about 200 KB), 256 KB of each class up
 * to 64 KB and one buffer of each larger class: a worker holds at most
 * about 1.5 MB plus 4 x the largest body it was sent (llmopt_max_body
 * bounds it).
 */

#define NGX_HTTP_LLMOPT_CTX_KEEP     128
#define NGX_HTTP_LLMOPT_OUT_CLASSES  13
#define NGX_HTTP_LLMOPT_OUT_MIN      4096
#define NGX_HTTP_LLMOPT_OUT_KEEP     (256 * 1024)


typedef struct ngx_http_llmopt_free_s  ngx_http_llmopt_free_t;

struct ngx_http_llmopt_free_s {
    ngx_http_llmopt_free_t  *next;
};


typedef struct {
    ngx_http_llmopt_free_t  *head;
    ngx_uint_t               n;
} ngx_http_llmopt_cache_t;


static ngx_http_llmopt_cache_t  ngx_http_llmopt_ctx_cache;
static ngx_http_llmopt_cache_t  ngx_http_llmopt_out_cache[
                                                NGX_HTTP_LLMOPT_OUT_CLASSES];


/*
 * Under AddressSanitizer what waits in a cache is poisoned, but for its
 * link: a context or a body used after its request ended is reported as if
 * it had been freed.
 */

#if defined(__SANITIZE_ADDRESS__)
#define ngx_http_llmopt_poison(p, size)                                       \
    ASAN_POISON_MEMORY_REGION((u_char *) (p) + sizeof(void *),               \
                              (size) - sizeof(void *))
#define ngx_http_llmopt_unpoison(p, size)                                     \
    ASAN_UNPOISON_MEMORY_REGION(p, size)
#else
#define ngx_http_llmopt_poison(p, size)
#define ngx_http_llmopt_unpoison(p, size)
#endif


static void *
ngx_http_llmopt_cache_get(ngx_http_llmopt_cache_t *c, size_t size,
    ngx_log_t *log)
{
    ngx_http_llmopt_free_t  *f;

    f = c->head;

    if (f == NULL) {
        return ngx_alloc(size, log);
    }

    c->head = f->next;
    c->n--;

    ngx_http_llmopt_unpoison(f, size);

    return f;
}


static void
ngx_http_llmopt_cache_put(ngx_http_llmopt_cache_t *c, void *p, size_t size,
    ngx_uint_t keep)
{
    ngx_http_llmopt_free_t  *f;

    if (c->n >= keep) {
        ngx_free(p);
        return;
    }

    f = p;
    f->next = c->head;
    c->head = f;
    c->n++;

    ngx_http_llmopt_poison(p, size);
}


static void
ngx_http_llmopt_cache_drain(ngx_http_llmopt_cache_t *c)
{
    ngx_http_llmopt_free_t  *f;

    while (c->head != NULL) {
        f = c->head;
        c->head = f->next;
        ngx_free(f);
    }

    c->n = 0;
}


/* what the process's caches hold, freed as it exits */

void
ngx_http_llmopt_cache_free(void)
{
    ngx_uint_t  k;

    ngx_http_llmopt_cache_drain(&ngx_http_llmopt_ctx_cache);

    for (k = 0; k < NGX_HTTP_LLMOPT_OUT_CLASSES; k++) {
        ngx_http_llmopt_cache_drain(&ngx_http_llmopt_out_cache[k]);
    }
}


/*
 * A buffer for a rewritten body of size bytes: from the cache up to 16 MB
 * (its class kept in the context, the one such buffer a context holds at a
 * time), from the pool beyond.
 */

ngx_buf_t *
ngx_http_llmopt_out_buf(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    size_t size)
{
    u_char      *p;
    ngx_buf_t   *b;
    ngx_uint_t   k;

    /* a failover's second rewrite: the first attempt is over */
    ngx_http_llmopt_out_free(ctx);

    k = ngx_http_llmopt_class(size);

    if (k == NGX_HTTP_LLMOPT_OUT_CLASSES) {
        return ngx_create_temp_buf(r->pool, size);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_http_llmopt_cache_get(&ngx_http_llmopt_out_cache[k],
                                  NGX_HTTP_LLMOPT_OUT_MIN << k,
                                  r->connection->log);
    if (p == NULL) {
        return NULL;
    }

    ctx->out = p;
    ctx->out_class = k;

    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + (NGX_HTTP_LLMOPT_OUT_MIN << k);
    b->temporary = 1;

    return b;
}


/*
 * Memory for the client's body in one piece, size bytes: from the cache up
 * to 16 MB (the context's one such buffer), from the pool beyond.
 */

u_char *
ngx_http_llmopt_in_buf(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    size_t size)
{
    u_char      *p;
    ngx_uint_t   k;

    ngx_http_llmopt_in_free(ctx);

    k = ngx_http_llmopt_class(size);

    if (k == NGX_HTTP_LLMOPT_OUT_CLASSES) {
        return ngx_pnalloc(r->pool, size);
    }

    p = ngx_http_llmopt_cache_get(&ngx_http_llmopt_out_cache[k],
                                  NGX_HTTP_LLMOPT_OUT_MIN << k,
                                  r->connection->log);
    if (p == NULL) {
        return NULL;
    }

    ctx->in = p;
    ctx->in_class = k;

    return p;
}


/* The class of a buffer of size bytes; NGX_HTTP_LLMOPT_OUT_CLASSES: none. */

static ngx_uint_t
ngx_http_llmopt_class(size_t size)
{
    size_t      cap;
    ngx_uint_t  k;

    cap = NGX_HTTP_LLMOPT_OUT_MIN;

    for (k = 0; k < NGX_HTTP_LLMOPT_OUT_CLASSES; k++) {
        if (size <= cap) {
            break;
        }

        cap <<= 1;
    }

    return k;
}


/* gives a buffer back to its class: 256 KB of a class, or one buffer */

static void
ngx_http_llmopt_class_put(u_char *p, ngx_uint_t k)
{
    size_t  size;

    size = NGX_HTTP_LLMOPT_OUT_MIN << k;

    ngx_http_llmopt_cache_put(&ngx_http_llmopt_out_cache[k], p, size,
                              ngx_max(NGX_HTTP_LLMOPT_OUT_KEEP / size, 1));
}


/* gives the context's rewritten body, if any, back to its class */

static void
ngx_http_llmopt_out_free(ngx_http_llmopt_ctx_t *ctx)
{
    if (ctx->out != NULL) {
        ngx_http_llmopt_class_put(ctx->out, ctx->out_class);
        ctx->out = NULL;
    }
}


/* the same for the copy of the client's body */

static void
ngx_http_llmopt_in_free(ngx_http_llmopt_ctx_t *ctx)
{
    if (ctx->in != NULL) {
        ngx_http_llmopt_class_put(ctx->in, ctx->in_class);
        ctx->in = NULL;
    }
}


static void
ngx_http_llmopt_ctx_cleanup(void *data)
{
    ngx_http_llmopt_ctx_t  *ctx = data;

    /* the request's pool goes: nothing can use the context any more */

    if (ctx->drain_event.timer_set) {
        ngx_del_timer(&ctx->drain_event);
    }

    ngx_http_llmopt_out_free(ctx);
    ngx_http_llmopt_in_free(ctx);

    ngx_http_llmopt_cache_put(&ngx_http_llmopt_ctx_cache, ctx,
                              sizeof(ngx_http_llmopt_ctx_t),
                              NGX_HTTP_LLMOPT_CTX_KEEP);
}


ngx_http_llmopt_ctx_t *
ngx_http_llmopt_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_llmopt_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ctx = ngx_http_llmopt_cache_get(&ngx_http_llmopt_ctx_cache,
                                    sizeof(ngx_http_llmopt_ctx_t),
                                    r->connection->log);
    if (ctx == NULL) {
        return NULL;
    }

    ngx_memzero(ctx, sizeof(ngx_http_llmopt_ctx_t));
    ctx->variant = -1;

    cln->handler = ngx_http_llmopt_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_llmopt_module);

    return ctx;
}


ngx_int_t
ngx_http_llmopt_parse(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_request_t *req, u_char *body, size_t len)
{
    return ngx_http_llmopt_parse_as(r, ctx, req, ctx->dialect, body, len);
}


ngx_int_t
ngx_http_llmopt_parse_as(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_request_t *req, llmopt_dialect_e dialect, u_char *body,
    size_t len)
{
    int                           rc;
    llmopt_err_t                  err;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_main_conf_t  *lmcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    ngx_memzero(&err, sizeof(llmopt_err_t));

    for ( ;; ) {
        rc = llmopt_request_parse(req, dialect, body, len, lmcf->toks,
                                  lmcf->ntoks, llcf->max_depth, &err);

        if (rc != LLMOPT_AGAIN) {
            break;
        }

        if (req->tokens_needed > NGX_HTTP_LLMOPT_MAX_TOKENS) {
            return ngx_http_llmopt_reject(r, ctx,
                       NGX_HTTP_LLMOPT_REJECT_TOO_LARGE,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                       "invalid_request_error", "request_too_large",
                       "The request body has too many JSON values.");
        }

        if (ngx_http_llmopt_tokens(r, req->tokens_needed) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (rc == LLMOPT_OK) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llmopt: bad request body: %s", err.msg);

    return ngx_http_llmopt_reject(r, ctx, NGX_HTTP_LLMOPT_REJECT_BAD_JSON,
                                  err.status ? err.status : NGX_HTTP_BAD_REQUEST,
                                  err.type ? err.type
                                           : "invalid_request_error",
                                  NULL, err.msg);
}


/* the worker's token array grows once and is kept */

ngx_int_t
ngx_http_llmopt_tokens(ngx_http_request_t *r, ngx_uint_t n)
{
    llmopt_json_tok_t            *toks;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (n <= lmcf->ntoks) {
        return NGX_OK;
    }

    toks = ngx_alloc(n * sizeof(llmopt_json_tok_t), r->connection->log);
    if (toks == NULL) {
        return NGX_ERROR;
    }

    if (lmcf->ntoks > 1024) {
        ngx_free(lmcf->toks);
    }

    lmcf->toks = toks;
    lmcf->ntoks = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_llmopt_reject(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_uint_t kind, ngx_uint_t status, const char *type, const char *code,
    const char *msg)
{
    ngx_int_t  rc;

    (void) ngx_atomic_fetch_add(&ctx->policy->stats->rejected[kind], 1);

    ctx->routed = 1;
    ctx->rejected = 1;

    /* no outcome will follow: a reservation goes back now */
    ngx_http_llmopt_budget_spend(r, ctx, 0, 1);

    if (r->request_body == NULL) {
        /* not read yet: the body is discarded */
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }
    }

    rc = ngx_http_llmopt_send_error(r, ctx->dialect, status, type, code,
                                    (u_char *) msg, ngx_strlen(msg));
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}
