
/*
 * Copyright (C) llmopt authors
 *
 * The request path: read the body, parse it, build features, choose an arm,
 * rewrite the body and the upstream headers.  Runs in the PRECONTENT phase,
 * so that the stock proxy_pass of the location sends the result.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>
#if (NGX_LINUX)
#include <sys/random.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "ngx_http_llmopt_module.h"


static void ngx_http_llmopt_out_free(ngx_http_llmopt_ctx_t *ctx);
static void ngx_http_llmopt_ctx_cleanup(void *data);
static ngx_http_llmopt_ctx_t *ngx_http_llmopt_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_llmopt_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_route(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_body(ngx_http_request_t *r,
    u_char **body, size_t *len);
static ngx_int_t ngx_http_llmopt_parse(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req, u_char *body,
    size_t len);
static ngx_int_t ngx_http_llmopt_failover(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_pinned(ngx_http_request_t *r,
    ngx_http_llmopt_policy_rt_t *prt, unsigned char *fits, ngx_str_t *name,
    llmopt_choice_t *choice);
static ngx_int_t ngx_http_llmopt_found_header(ngx_table_elt_t *h,
    void *data);
static ngx_int_t ngx_http_llmopt_pin_header(ngx_table_elt_t *h,
    void *data);
static ngx_uint_t ngx_http_llmopt_named(ngx_str_t *key, ngx_keyval_t *kv,
    ngx_uint_t n);
static ngx_uint_t ngx_http_llmopt_credential(ngx_str_t *key);
static ngx_int_t ngx_http_llmopt_unfit(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_guard_need_t *need, unsigned why);
static ngx_int_t ngx_http_llmopt_decide(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req);
static ngx_int_t ngx_http_llmopt_select(ngx_http_llmopt_policy_rt_t *prt,
    const double *x, const unsigned char *allowed, llmopt_choice_t *choice);
static ngx_int_t ngx_http_llmopt_rewrite(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req);
static ngx_int_t ngx_http_llmopt_set_headers(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_http_llmopt_arm_t *arm);
static ngx_int_t ngx_http_llmopt_stream_options(ngx_http_request_t *r,
    llmopt_request_t *req, ngx_str_t *opts);
static ngx_int_t ngx_http_llmopt_trace(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_http_llmopt_loc_conf_t *llcf);
static u_char *ngx_http_llmopt_random(ngx_http_request_t *r, size_t n);
static void ngx_http_llmopt_request_id(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_uint_t ngx_http_llmopt_allowed(const unsigned char *allowed,
    ngx_uint_t n_arms, ngx_uint_t except);
static void ngx_http_llmopt_boost(ngx_http_llmopt_policy_rt_t *prt,
    const unsigned char *allowed, llmopt_choice_t *choice);
static ngx_int_t ngx_http_llmopt_over_budget(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, time_t retry);
static ngx_int_t ngx_http_llmopt_reject(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_uint_t kind, ngx_uint_t status,
    const char *type, const char *code, const char *msg);
static ngx_int_t ngx_http_llmopt_is_json(ngx_http_request_t *r);
static ngx_uint_t ngx_http_llmopt_own_path(ngx_http_request_t *r,
    llmopt_dialect_e dialect);
static ngx_uint_t ngx_http_llmopt_pass_path(ngx_http_request_t *r,
    ngx_http_llmopt_loc_conf_t *llcf);
static void ngx_http_llmopt_sent_path(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_uint_t ngx_http_llmopt_path_under(ngx_str_t *path,
    ngx_str_t *top);
static ngx_int_t ngx_http_llmopt_not_routed(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_http_llmopt_loc_conf_t *llcf,
    ngx_uint_t own, ngx_uint_t pass);


/*
 * The context is kept in a pool cleanup as well as in r->ctx: an internal
 * redirect clears r->ctx, and the decision must survive it.
 */

ngx_http_llmopt_ctx_t *
ngx_http_llmopt_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_llmopt_ctx_t  *ctx;

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
 * Per worker caches of request memory: contexts, and buffers for rewritten
 * bodies in classes of 4, 8, 16, 32 and 64 KB.  They come from the cache
 * and go back to it when the request's pool is destroyed, so that a routed
 * request takes from malloc what a plain proxied one does.  Pool blocks of
 * their own would make the heap swing under load, and glibc then gives the
 * heap's top back to the kernel and faults it in again, which costs more
 * than all of llmopt's work where page-table updates are slow (virtual
 * machines).  A cache keeps at most 128 contexts (about 200 KB) and 256 KB
 * a class.
 */

#define NGX_HTTP_LLMOPT_CTX_KEEP     128
#define NGX_HTTP_LLMOPT_OUT_CLASSES  5
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
 * A buffer for a rewritten body of size bytes: from the cache up to 64 KB
 * (its class kept in the context, the one such buffer a context holds at a
 * time), from the pool beyond.
 */

static ngx_buf_t *
ngx_http_llmopt_out_buf(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    size_t size)
{
    size_t       cap;
    u_char      *p;
    ngx_buf_t   *b;
    ngx_uint_t   k;

    /* a failover's second rewrite: the first attempt is over */
    ngx_http_llmopt_out_free(ctx);

    cap = NGX_HTTP_LLMOPT_OUT_MIN;

    for (k = 0; k < NGX_HTTP_LLMOPT_OUT_CLASSES; k++) {
        if (size <= cap) {
            break;
        }

        cap <<= 1;
    }

    if (k == NGX_HTTP_LLMOPT_OUT_CLASSES) {
        return ngx_create_temp_buf(r->pool, size);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_http_llmopt_cache_get(&ngx_http_llmopt_out_cache[k], cap,
                                  r->connection->log);
    if (p == NULL) {
        return NULL;
    }

    ctx->out = p;
    ctx->out_class = k;

    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + cap;
    b->temporary = 1;

    return b;
}


/* gives the context's rewritten body, if any, back to its class */

static void
ngx_http_llmopt_out_free(ngx_http_llmopt_ctx_t *ctx)
{
    ngx_uint_t  k;

    if (ctx->out == NULL) {
        return;
    }

    k = ctx->out_class;

    /* a class keeps NGX_HTTP_LLMOPT_OUT_KEEP bytes at most */
    ngx_http_llmopt_cache_put(&ngx_http_llmopt_out_cache[k], ctx->out,
                              NGX_HTTP_LLMOPT_OUT_MIN << k,
                              NGX_HTTP_LLMOPT_OUT_KEEP
                              / (NGX_HTTP_LLMOPT_OUT_MIN << k));
    ctx->out = NULL;
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

    ngx_http_llmopt_cache_put(&ngx_http_llmopt_ctx_cache, ctx,
                              sizeof(ngx_http_llmopt_ctx_t),
                              NGX_HTTP_LLMOPT_CTX_KEEP);
}


static ngx_http_llmopt_ctx_t *
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

    cln->handler = ngx_http_llmopt_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_llmopt_module);

    return ctx;
}


/*
 * Calls fn for each header of list named name (case-blind; every header
 * when name is NULL) until fn returns something else than NGX_OK, and
 * returns that; NGX_OK when the list ends.
 */

ngx_int_t
ngx_http_llmopt_headers(ngx_list_t *list, ngx_str_t *name,
    ngx_http_llmopt_header_pt fn, void *data)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &list->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (name != NULL
            && (h[i].key.len != name->len
                || ngx_strncasecmp(h[i].key.data, name->data, name->len)
                   != 0))
        {
            continue;
        }

        rc = fn(&h[i], data);

        if (rc != NGX_OK) {
            return rc;
        }
    }
}


ngx_int_t
ngx_http_llmopt_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   own, pass;
    ngx_http_llmopt_ctx_t       *ctx;
    ngx_http_llmopt_loc_conf_t  *llcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);

    if (llcf->failover) {
        return ngx_http_llmopt_failover(r);
    }

    if (llcf->policy == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx != NULL) {
        /* still reading the body, or routed before an internal redirect */
        return ctx->routed ? NGX_DECLINED : ctx->status;
    }

    ctx = ngx_http_llmopt_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->policy = llcf->policy;
    ctx->status = NGX_DONE;

    /* the arms of a policy all speak one API: the client must speak it */
    ctx->dialect = ctx->policy->policy->dialect;

    ngx_http_llmopt_request_id(r, ctx);

    if (ngx_http_llmopt_trace(r, ctx, llcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    own = ngx_http_llmopt_own_path(r, ctx->dialect);

    if (r->method != NGX_HTTP_POST || !own) {
        pass = ngx_http_llmopt_pass_path(r, llcf);

        if (!pass || !(r->method & llcf->pass_methods)) {
            /* the catalog's credentials go only where llmopt routes */
            return ngx_http_llmopt_not_routed(r, ctx, llcf, own, pass);
        }

        /* llmopt_passthrough, e.g. GET /v1/models: to the fallback arm */
        ctx->routed = 1;
        ctx->passthrough = 1;
        ctx->arm = ctx->policy->fallback;
        (void) ngx_atomic_fetch_add(&ctx->policy->stats->passthrough, 1);

        if (ngx_http_llmopt_set_headers(r, ctx,
                                        &ctx->policy->arms[ctx->arm])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DECLINED;
    }

    /*
     * A body refused on its headers alone is refused before the client
     * sends it: no "100 Continue" from the discard in
     * ngx_http_llmopt_reject(), as nginx does for client_max_body_size
     */

    if (!ngx_http_llmopt_is_json(r)) {
        r->expect_tested = 1;
        return ngx_http_llmopt_reject(r, ctx,
                   NGX_HTTP_LLMOPT_REJECT_MEDIA_TYPE,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "invalid_request_error",
                   "unsupported_media_type",
                   "Unsupported Content-Type: the request body must be "
                   "application/json.");
    }

    if (r->headers_in.content_length_n > (off_t) llcf->max_body) {
        r->expect_tested = 1;
        return ngx_http_llmopt_reject(r, ctx,
                   NGX_HTTP_LLMOPT_REJECT_TOO_LARGE,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   "invalid_request_error", "request_too_large",
                   "The request body is larger than this endpoint allows.");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_llmopt_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


/*
 * Whether the request's path is the endpoint of the dialect: its last
 * segments are "/chat/completions" (OpenAI) or "/messages" (Anthropic),
 * both as nginx normalised it and as proxy_pass sends it on.
 */

static ngx_uint_t
ngx_http_llmopt_own_path(ngx_http_request_t *r, llmopt_dialect_e dialect)
{
    ngx_str_t   sent, *e;

    e = ngx_http_llmopt_endpoint(dialect);
    ngx_http_llmopt_sent_path(r, &sent);

    return r->uri.len >= e->len
           && ngx_strncmp(r->uri.data + r->uri.len - e->len, e->data, e->len)
              == 0
           && sent.len >= e->len
           && ngx_strncmp(sent.data + sent.len - e->len, e->data, e->len)
              == 0;
}


/*
 * Whether the path is one of llmopt_passthrough's paths= (any path when
 * it names none), or below one ("/v1/models" has "/v1/models/gpt-4o",
 * not "/v1/modelsx"), both as nginx normalised it and as proxy_pass
 * sends it on.
 */

static ngx_uint_t
ngx_http_llmopt_pass_path(ngx_http_request_t *r,
    ngx_http_llmopt_loc_conf_t *llcf)
{
    ngx_str_t   *p, sent;
    ngx_uint_t   i;

    if (llcf->pass_methods == 0) {
        return 0;
    }

    if (llcf->pass_paths == NULL) {
        return 1;
    }

    ngx_http_llmopt_sent_path(r, &sent);

    p = llcf->pass_paths->elts;

    for (i = 0; i < llcf->pass_paths->nelts; i++) {
        if (ngx_http_llmopt_path_under(&r->uri, &p[i])
            && ngx_http_llmopt_path_under(&sent, &p[i]))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The path proxy_pass sends, without a variable URI of its own: the
 * client's bytes up to '?' while nginx keeps them, else r->uri.
 */

static void
ngx_http_llmopt_sent_path(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char  *q;

    if (!r->valid_unparsed_uri) {
        *path = r->uri;
        return;
    }

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');

    path->data = r->unparsed_uri.data;
    path->len = (q ? q : r->unparsed_uri.data + r->unparsed_uri.len)
                - path->data;
}


/* path is top, or below it ("/a" has "/a/b", not "/ab"; "/a/" has "/a/b") */

static ngx_uint_t
ngx_http_llmopt_path_under(ngx_str_t *path, ngx_str_t *top)
{
    return path->len >= top->len
           && ngx_strncmp(path->data, top->data, top->len) == 0
           && (path->len == top->len || top->data[top->len - 1] == '/'
               || path->data[top->len] == '/');
}


/*
 * A request of a routed location that is neither routed nor passed on:
 * a 405 with Allow when its path takes other methods, else a 404, in
 * the policy's dialect.  Not an outcome, and not counted as rejected.
 */

static ngx_int_t
ngx_http_llmopt_not_routed(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_http_llmopt_loc_conf_t *llcf, ngx_uint_t own, ngx_uint_t pass)
{
    u_char     *msg, *last;
    ngx_int_t   rc;
    ngx_str_t  *allow, *e;

    ctx->routed = 1;
    ctx->rejected = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    allow = &llcf->allow[(own ? 1 : 0) | (pass ? 2 : 0)];
    e = ngx_http_llmopt_endpoint(ctx->dialect);

    msg = ngx_pnalloc(r->pool, 128 + allow->len + e->len);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (allow->len) {
        if (ngx_http_llmopt_add_header(r, "Allow", allow->data, allow->len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        last = ngx_sprintf(msg, "This path accepts %V only.", allow);

        rc = ngx_http_llmopt_send_error(r, ctx->dialect,
                                        NGX_HTTP_NOT_ALLOWED,
                                        "invalid_request_error",
                                        "method_not_allowed", msg,
                                        last - msg);

    } else {
        last = ngx_sprintf(msg, "Not found: this endpoint answers POST "
                           "requests to a path that ends in \"%V\".", e);

        rc = ngx_http_llmopt_send_error(r, ctx->dialect, NGX_HTTP_NOT_FOUND,
                                        ctx->dialect
                                        == LLMOPT_DIALECT_ANTHROPIC
                                        ? "not_found_error"
                                        : "invalid_request_error",
                                        "not_found", msg, last - msg);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static void
ngx_http_llmopt_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_llmopt_ctx_t  *ctx;

    ctx = ngx_http_llmopt_get_ctx(r);

    rc = ngx_http_llmopt_route(r, ctx);

    if (rc == NGX_DONE) {
        /* an error response was sent and the request finalized (and may
           be freed); ngx_http_llmopt_reject() gave back any reservation */
        return;
    }

    if (rc != NGX_OK) {
        /* not sent upstream: a budget reservation goes back at once */
        ngx_http_llmopt_budget_spend(r, ctx, 0, 1);
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx->routed = 1;
    ctx->status = NGX_DECLINED;

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_llmopt_route(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    size_t                       len;
    u_char                      *body;
    uint64_t                     start;
    ngx_int_t                    rc;
    llmopt_request_t             req;
    ngx_http_llmopt_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);

    start = ngx_http_llmopt_now_ns();

    ctx->start_ns = start;
    ctx->start_ms = ngx_http_llmopt_wall_ms();
    ctx->ttft_ms = -1;
    ctx->quality = -1;
    ctx->cost = -1;
    ctx->reward = -1;

    rc = ngx_http_llmopt_body(r, &body, &len);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->body_in = len;
    ctx->body = body;
    ctx->body_len = len;

    if (len > llcf->max_body) {
        return ngx_http_llmopt_reject(r, ctx,
                   NGX_HTTP_LLMOPT_REJECT_TOO_LARGE,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   "invalid_request_error", "request_too_large",
                   "The request body is larger than this endpoint allows.");
    }

    rc = ngx_http_llmopt_parse(r, ctx, &req, body, len);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_llmopt_decide(r, ctx, &req);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->shadow) {
        /* the client's body as it is, to the default arm */
        ctx->body_out = ctx->body_in;

    } else {
        rc = ngx_http_llmopt_rewrite(r, ctx, &req);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ngx_http_llmopt_set_headers(r, ctx, &ctx->policy->arms[ctx->arm])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->decision_ns = ngx_http_llmopt_now_ns() - start;

    return NGX_OK;
}


/*
 * The body as one contiguous buffer: the single in-memory buffer nginx read
 * it into, or a copy of the parts (memory and temp file) when it is split.
 */

static ngx_int_t
ngx_http_llmopt_body(ngx_http_request_t *r, u_char **body, size_t *len)
{
    off_t         size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *body = (u_char *) "";
    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        *body = cl->buf->pos;
        *len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *body = p;
    *len = size;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            /* a chunked body ends with an empty buffer */
            if (b->last != b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "llmopt: could not read the request body from "
                          "\"%V\" (%z of %O bytes)", &b->file->name, n,
                          b->file_last - b->file_pos);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_llmopt_parse(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_request_t *req, u_char *body, size_t len)
{
    int                           rc;
    llmopt_err_t                  err;
    llmopt_json_tok_t            *toks;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_main_conf_t  *lmcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    ngx_memzero(&err, sizeof(llmopt_err_t));

    for ( ;; ) {
        rc = llmopt_request_parse(req, ctx->dialect, body, len, lmcf->toks,
                                  lmcf->ntoks, llcf->max_depth, &err);

        if (rc != LLMOPT_AGAIN) {
            break;
        }

        /* the worker's token array grows once and is kept */

        if (req->tokens_needed > NGX_HTTP_LLMOPT_MAX_TOKENS) {
            return ngx_http_llmopt_reject(r, ctx,
                       NGX_HTTP_LLMOPT_REJECT_TOO_LARGE,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                       "invalid_request_error", "request_too_large",
                       "The request body has too many JSON values.");
        }

        toks = ngx_alloc(req->tokens_needed * sizeof(llmopt_json_tok_t),
                         r->connection->log);
        if (toks == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (lmcf->ntoks > 1024) {
            ngx_free(lmcf->toks);
        }

        lmcf->toks = toks;
        lmcf->ntoks = req->tokens_needed;
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


static ngx_int_t
ngx_http_llmopt_decide(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_request_t *req)
{
    time_t                        now, retry;
    double                        share;
    unsigned                      why;
    int64_t                       est[LLMOPT_MAX_ARMS];
    ngx_int_t                     probe;
    ngx_str_t                     tenant;
    ngx_uint_t                    n, a, c;
    llmopt_choice_t               choice;
    llmopt_guard_need_t           need;
    ngx_http_llmopt_main_conf_t  *lmcf;
    unsigned char                 fits[LLMOPT_MAX_ARMS];
    unsigned char                 allowed[LLMOPT_MAX_ARMS];
    llmopt_feature_ctx_t          fctx;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    static time_t                 hour_now = -1;
    static llmopt_feature_ctx_t   hour;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    prt = ctx->policy;
    policy = prt->policy;

    now = ngx_time() + ngx_cached_time->gmtoff * 60;

    /* the hour's sine and cosine, once a second */

    if (now != hour_now) {
        hour_now = now;
        llmopt_feature_hour(&hour, (double) (now % 86400) / 3600.0);
    }

    fctx = hour;
    fctx.tenant = NULL;
    fctx.tenant_len = 0;

    if (llcf->tenant != NULL
        && ngx_http_complex_value(r, llcf->tenant, &tenant) == NGX_OK
        && tenant.len)
    {
        fctx.tenant = (const char *) tenant.data;
        fctx.tenant_len = tenant.len;
    }

    ctx->d = policy->features.d;
    ctx->stream = req->stream;

    llmopt_features_build(&policy->features, req, &fctx, ctx->x);

    /* the arms the request fits (context windows, max_cost) */

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (policy->feedback_tenant_same) {
        /* feedback from this tenant key only; on error from nobody */
        (void) ngx_http_llmopt_feedback_tenant(lmcf, (u_char *) fctx.tenant,
                                               fctx.tenant_len,
                                               &ctx->feedback_tenant);
    }

    llmopt_guard_need(req, &need);
    ctx->input_est = need.input_tokens;

    if (llmopt_guard_mask(&lmcf->catalog, policy, &need, fits, &why) == 0) {
        return ngx_http_llmopt_unfit(r, ctx, &need, why);
    }

    /* ... within the latency SLO (unless none is; penalised arms stay) */

    if (policy->latency_slo_ms && !policy->latency_slo_penalise) {
        n = 0;

        for (a = 0; a < prt->n_arms; a++) {
            if (fits[a] && prt->stats->arms[a].slo_breach) {
                fits[a] = 2;            /* fits, but slow */
            }

            n += fits[a] == 1;
        }

        for (a = 0; a < prt->n_arms; a++) {
            fits[a] = n ? fits[a] == 1 : fits[a] != 0;
        }
    }

    /* ... within the budgets (near a cap: the cheaper arms) ... */

    if (policy->budgeted) {
        if (!(llcf->tenant != NULL && fctx.tenant != NULL)) {
            tenant.len = 0;
        }

        if (ngx_http_llmopt_budget_check(r, ctx, &tenant, &need, fits, est,
                                         &retry)
            != NGX_OK)
        {
            return ngx_http_llmopt_over_budget(r, ctx, retry);
        }
    }

    /* ... and whose circuit is closed; a half-open one may get a probe */

    ngx_memcpy(allowed, fits, prt->n_arms);

    /* the request's start time serves: no clock read of its own */

    n = ngx_http_llmopt_breaker_mask(prt, allowed, ctx->start_ms, &probe);

    if (probe >= 0) {
        choice.arm = (unsigned) probe;
        choice.propensity = 1.0;
        choice.explore = 1;
        ctx->probe = 1;

    } else if (n == 0) {
        /* every circuit is open: trying one beats failing at once */
        ngx_memcpy(allowed, fits, prt->n_arms);
    }

    /* a canary arm gets its stage's share, drawn here */

    share = policy->canary.arm >= 0 ? ngx_http_llmopt_canary_share(prt) : -1;

    if (share >= 0 && probe < 0) {
        c = (ngx_uint_t) policy->canary.arm;
        n = ngx_http_llmopt_allowed(allowed, prt->n_arms, c);

        if (allowed[c] && (n == 0 || llmopt_rng_uniform(&prt->rng) < share))
        {
            choice.arm = c;
            choice.propensity = n ? share : 1.0;
            choice.explore = 0;
            ctx->canary = 1;

        } else if (n) {
            allowed[c] = 0;
            share = 1.0 - share;        /* the others' part of the traffic */
        }
    }

    if (llcf->pin_header.len
        && ngx_http_llmopt_pinned(r, prt, fits, &llcf->pin_header, &choice)
           == NGX_OK)
    {
        ctx->pinned = 1;
        ctx->probe = 0;
        probe = -1;
        (void) ngx_atomic_fetch_add(&prt->stats->pinned, 1);
    }

    if (ctx->pinned || probe >= 0 || ctx->canary) {
        ctx->canary = ctx->canary && !ctx->pinned;
        ctx->arm = choice.arm;
        ctx->propensity = choice.propensity;
        ctx->explore = choice.explore ? 1 : 0;

    } else if (ngx_http_llmopt_select(prt, ctx->x, allowed, &choice)
               == NGX_OK)
    {
        if (policy->drift_response == LLMOPT_DRIFT_EXPLORE
            && prt->stats->explore_until_ms > ctx->start_ms)
        {
            ngx_http_llmopt_boost(prt, allowed, &choice);
        }

        ctx->arm = choice.arm;
        ctx->propensity = choice.propensity * (share >= 0 ? share : 1.0);
        ctx->explore = choice.explore ? 1 : 0;

    } else {
        ctx->arm = prt->fallback;
        ctx->propensity = 1.0;
        ctx->fallback = 1;
        (void) ngx_atomic_fetch_add(&prt->stats->fallback, 1);
    }

    if (llcf->shadow && !ctx->pinned) {
        /* decided and counted, not applied: the default arm serves */
        ctx->shadow = 1;
        ctx->shadow_arm = ctx->arm;
        (void) ngx_atomic_fetch_add(&prt->stats->arm_shadow[ctx->arm], 1);
        ctx->arm = prt->fallback;
        ctx->explore = 0;
        ctx->propensity = 1.0;
    }

    if (policy->budgeted
        && ngx_http_llmopt_budget_reserve(r, ctx, est[ctx->arm]) != NGX_OK)
    {
        /* the room went to another request since the check */
        return ngx_http_llmopt_over_budget(r, ctx, 1);
    }

    (void) ngx_atomic_fetch_add(&prt->stats->requests, 1);
    (void) ngx_atomic_fetch_add(&prt->stats->arm_requests[ctx->arm], 1);

    if (ctx->explore) {
        (void) ngx_atomic_fetch_add(&prt->stats->arm_explore[ctx->arm], 1);
    }

    return NGX_OK;
}


/* The arms allowed, but for arm except (out of range: none). */

static ngx_uint_t
ngx_http_llmopt_allowed(const unsigned char *allowed, ngx_uint_t n_arms,
    ngx_uint_t except)
{
    ngx_uint_t  a, n;

    for (n = 0, a = 0; a < n_arms; a++) {
        n += allowed[a] && a != except;
    }

    return n;
}


/*
 * After a drift alarm with "response: explore": for a while a share of
 * the decisions go to an arm drawn uniformly among those allowed; the
 * propensity is the mixture's.
 */

static void
ngx_http_llmopt_boost(ngx_http_llmopt_policy_rt_t *prt,
    const unsigned char *allowed, llmopt_choice_t *choice)
{
    double      eps;
    ngx_uint_t  a, n, k;

    eps = prt->policy->drift_explore;
    n = ngx_http_llmopt_allowed(allowed, prt->n_arms, NGX_MAX_UINT32_VALUE);

    if (n < 2) {
        return;
    }

    if (llmopt_rng_uniform(&prt->rng) < eps) {
        k = (ngx_uint_t) (llmopt_rng_uniform(&prt->rng) * n);

        for (a = 0; a < prt->n_arms; a++) {
            if (allowed[a] && k-- == 0) {
                break;
            }
        }

        if (a < prt->n_arms && a != choice->arm) {
            choice->propensity = eps / n;
            choice->arm = a;
            choice->explore = 1;
            return;
        }
    }

    choice->propensity = (1 - eps) * choice->propensity + eps / n;
}


typedef struct {
    ngx_http_llmopt_policy_rt_t  *prt;
    unsigned char                *fits;
    llmopt_choice_t              *choice;
    ngx_int_t                     found;
} ngx_http_llmopt_pin_t;


static ngx_int_t
ngx_http_llmopt_pin_header(ngx_table_elt_t *h, void *data)
{
    ngx_http_llmopt_pin_t *pin = data;

    ngx_uint_t  a;

    for (a = 0; a < pin->prt->n_arms && pin->found != NGX_OK; a++) {
        if (pin->fits[a] && h->value.len == pin->prt->arms[a].name.len
            && ngx_strncmp(h->value.data, pin->prt->arms[a].name.data,
                           h->value.len) == 0)
        {
            pin->choice->arm = a;
            pin->choice->propensity = 1.0;
            pin->choice->explore = 0;
            pin->found = NGX_OK;
        }
    }

    return NGX_OK;
}


/*
 * The pin header (llmopt_pin_header, only where configured) names the arm
 * to use, if it fits the request; ngx_http_llmopt_set_headers() keeps it
 * from the upstream.
 */

static ngx_int_t
ngx_http_llmopt_pinned(ngx_http_request_t *r,
    ngx_http_llmopt_policy_rt_t *prt, unsigned char *fits, ngx_str_t *name,
    llmopt_choice_t *choice)
{
    ngx_http_llmopt_pin_t  pin;

    pin.prt = prt;
    pin.fits = fits;
    pin.choice = choice;
    pin.found = NGX_DECLINED;

    (void) ngx_http_llmopt_headers(&r->headers_in.headers, name,
                                   ngx_http_llmopt_pin_header, &pin);

    return pin.found;
}


/*
 * llmopt_failover, in the location error_page sends a failed answer to:
 * the failed arm's outcome is learned, and the request goes to the
 * policy's choice among the other arms that fit and whose circuit is
 * closed, with the body and the headers rewritten for it.  Once only: a
 * second failure goes to the client.
 */

static ngx_int_t
ngx_http_llmopt_failover(ngx_http_request_t *r)
{
    ngx_int_t               rc, probe;
    ngx_uint_t              failed, n;
    unsigned                why;
    llmopt_choice_t         choice;
    llmopt_request_t        req;
    llmopt_guard_need_t     need;
    ngx_http_llmopt_ctx_t  *ctx;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;
    unsigned char           fits[LLMOPT_MAX_ARMS];
    unsigned char           allowed[LLMOPT_MAX_ARMS];
    u_char                  msg[160];

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx == NULL || !ctx->routed || ctx->rejected || ctx->passthrough
        || ctx->failed_over || ctx->body == NULL)
    {
        /* nothing llmopt chose, or a second failure: as configured */
        return NGX_DECLINED;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    prt = ctx->policy;
    failed = ctx->arm;

    if (r->upstream != NULL
        && r->headers_out.status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        ctx->retry_after = ngx_http_llmopt_retry_after(r);
    }

    ngx_http_llmopt_attempt_failed(r, ctx);

    ctx->failed_over = 1;
    (void) ngx_atomic_fetch_add(&prt->stats->failovers, 1);

    /* the body again, parsed (the worker's token array was reused) */

    rc = ngx_http_llmopt_parse(r, ctx, &req, ctx->body, ctx->body_len);
    if (rc != NGX_OK) {
        return rc == NGX_DONE ? NGX_DONE : rc;
    }

    llmopt_guard_need(&req, &need);
    (void) llmopt_guard_mask(&lmcf->catalog, prt->policy, &need, fits, &why);
    fits[failed] = 0;

    ngx_memcpy(allowed, fits, prt->n_arms);
    n = ngx_http_llmopt_breaker_mask(prt, allowed, ngx_http_llmopt_wall_ms(),
                                     &probe);

    if (probe >= 0) {
        /* no probe on a failover: the client is waiting */
        prt->stats->arms[probe].breaker_probe_until_ms = 0;
        n = ngx_http_llmopt_allowed(allowed, prt->n_arms,
                                    NGX_MAX_UINT32_VALUE);
    }

    if (n == 0) {
        ngx_memcpy(allowed, fits, prt->n_arms);
        n = ngx_http_llmopt_allowed(allowed, prt->n_arms,
                                    NGX_MAX_UINT32_VALUE);
    }

    if (n == 0
        || ngx_http_llmopt_select(prt, ctx->x, allowed, &choice) != NGX_OK)
    {
        /* the failed attempt's status, as settled; 502 when none came */
        ngx_sprintf(msg, "The model failed (%ui) and no other model of "
                    "this endpoint can take the request.%Z",
                    ctx->event.status ? (ngx_uint_t) ctx->event.status
                                      : (ngx_uint_t) NGX_HTTP_BAD_GATEWAY);

        ctx->rejected = 1;
        ngx_http_llmopt_budget_spend(r, ctx, 0, 1);

        rc = ngx_http_llmopt_send_error(r, ctx->dialect,
                                        NGX_HTTP_BAD_GATEWAY,
                                        "api_error", "upstream_failed",
                                        msg, ngx_strlen(msg));
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    ctx->arm = choice.arm;
    ctx->propensity = choice.propensity;
    ctx->explore = choice.explore ? 1 : 0;

    (void) ngx_atomic_fetch_add(&prt->stats->arm_requests[ctx->arm], 1);

    if (ctx->explore) {
        (void) ngx_atomic_fetch_add(&prt->stats->arm_explore[ctx->arm], 1);
    }

    rc = ngx_http_llmopt_rewrite(r, ctx, &req);
    if (rc != NGX_OK) {
        return rc;
    }

    /* built anew from the client's: nothing of the failed arm's goes */
    if (ngx_http_llmopt_set_headers(r, ctx, &prt->arms[ctx->arm]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llmopt: policy \"%V\": arm \"%V\" failed, failover to "
                  "\"%V\"", &prt->name, &prt->arms[failed].name,
                  &prt->arms[ctx->arm].name);

    /* the upstream of the new arm: $llmopt_upstream follows ctx->arm */

    r->headers_out.status = 0;
    r->err_status = 0;

    return NGX_DECLINED;
}


/*
 * A budget's cap is reached (or this instance awaits a grant of Redis):
 * a 429 in the client's dialect with Retry-After.
 */

static ngx_int_t
ngx_http_llmopt_over_budget(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    time_t retry)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (p == NULL
        || ngx_http_llmopt_add_header(r, "Retry-After", p,
                                      ngx_sprintf(p, "%T", retry) - p)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_llmopt_reject(r, ctx, NGX_HTTP_LLMOPT_REJECT_BUDGET,
               NGX_HTTP_TOO_MANY_REQUESTS,
               ctx->dialect == LLMOPT_DIALECT_ANTHROPIC ? "rate_limit_error"
                                                        : "insufficient_quota",
               "budget_exceeded",
               retry > 1 ? "This endpoint's spending budget is used up "
                           "for now; see Retry-After."
                         : "This endpoint's spending budget has no room "
                           "for this request right now; retry shortly.");
}


/*
 * No arm of the policy can take the request: a 400 in the client's
 * dialect saying why, as the providers do for a prompt too long.
 */

static ngx_int_t
ngx_http_llmopt_unfit(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_guard_need_t *need, unsigned why)
{
    u_char  *msg;

    msg = ngx_pnalloc(r->pool, 256);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(why & LLMOPT_GUARD_COST)) {
        /* every arm too small; with a cost bit, some window did fit */
        ngx_sprintf(msg, "The request needs about %uL tokens (%uL in, %uL "
                    "out); no model of this endpoint has a context window "
                    "that large.%Z",
                    need->input_tokens + need->output_tokens,
                    need->input_tokens, need->output_tokens);

        return ngx_http_llmopt_reject(r, ctx,
                   NGX_HTTP_LLMOPT_REJECT_CONSTRAINT, NGX_HTTP_BAD_REQUEST,
                   "invalid_request_error", "context_length_exceeded",
                   (char *) msg);
    }

    ngx_sprintf(msg, "The request's estimated cost (about %uL tokens in, "
                "%uL out) exceeds this endpoint's limit of %.4f USD for "
                "every model; ask for fewer tokens.%Z", need->input_tokens,
                need->output_tokens, ctx->policy->policy->max_cost);

    return ngx_http_llmopt_reject(r, ctx, NGX_HTTP_LLMOPT_REJECT_CONSTRAINT,
                                  NGX_HTTP_BAD_REQUEST,
                                  "invalid_request_error", "cost_limit",
                                  (char *) msg);
}


/*
 * Chooses under the seqlock of the policy's block, straight from shared
 * memory; a worker keeps a copy of the last consistent parameters and uses
 * it when the writer keeps the lock busy.
 */

static ngx_int_t
ngx_http_llmopt_select(ngx_http_llmopt_policy_rt_t *prt, const double *x,
    const unsigned char *allowed, llmopt_choice_t *choice)
{
    int                       rc;
    uint64_t                  seq;
    ngx_uint_t                i;
    const void               *params;
    ngx_http_llmopt_block_t  *block;

    block = prt->block;
    params = NULL;

    for (i = 0; i < LLMOPT_SEQLOCK_TRIES; i++) {
        seq = llmopt_seqlock_read_begin(&block->lock);

        rc = llmopt_bandit_select(&prt->policy->bandit, block->params, x,
                                  allowed, &prt->rng, choice);

        if (!llmopt_seqlock_read_retry(&block->lock, seq)) {
            params = block->params;
            break;
        }
    }

    if (params != NULL) {
        if (seq != prt->last_seq
            && llmopt_seqlock_read_copy(&block->lock, prt->last_good,
                                        block->params, block->size,
                                        LLMOPT_SEQLOCK_TRIES, &seq)
               == LLMOPT_OK)
        {
            /* new parameters were published: the copy follows them */
            prt->last_seq = seq;
        }

    } else {
        if (prt->last_seq & 1) {
            return NGX_DECLINED;            /* no consistent copy yet */
        }

        rc = llmopt_bandit_select(&prt->policy->bandit, prt->last_good, x,
                                  allowed, &prt->rng, choice);
    }

    return rc == LLMOPT_OK && choice->arm < prt->n_arms ? NGX_OK
                                                        : NGX_DECLINED;
}


static ngx_int_t
ngx_http_llmopt_rewrite(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_request_t *req)
{
    size_t                  size;
    unsigned                n;
    ngx_int_t               rc;
    ngx_str_t               opts;
    ngx_buf_t              *b;
    ngx_chain_t            *cl;
    ngx_table_elt_t        *h;
    llmopt_kv_t             more[LLMOPT_REQUEST_MAX_SET];
    const llmopt_kv_t      *set;
    ngx_http_llmopt_arm_t  *arm;

    arm = &ctx->policy->arms[ctx->arm];

    set = arm->set;
    n = arm->n_set;

    if (ctx->dialect == LLMOPT_DIALECT_OPENAI && req->stream
        && !req->include_usage && n < LLMOPT_REQUEST_MAX_SET)
    {
        /* ask for the usage chunk; the body filter takes it out again */

        rc = ngx_http_llmopt_stream_options(r, req, &opts);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            ngx_memcpy(more, arm->set, n * sizeof(llmopt_kv_t));
            more[n].key.data = "stream_options";
            more[n].key.len = sizeof("stream_options") - 1;
            more[n].json.data = (const char *) opts.data;
            more[n].json.len = opts.len;
            set = more;
            n++;
            ctx->strip = 1;
        }
    }

    size = llmopt_request_rewrite_size(req, set, n);

    b = ngx_http_llmopt_out_buf(r, ctx, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += llmopt_request_rewrite(req, set, n, b->pos);
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->request_body->buf = b;

    ctx->body_out = b->last - b->pos;

    /* the upstream gets the new length; $content_length shows it too */

    r->headers_in.content_length_n = ctx->body_out;

    h = r->headers_in.content_length;

    if (h != NULL) {
        h->value.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%O", ctx->body_out)
                       - h->value.data;
    }

    return NGX_OK;
}


/*
 * The "stream_options" that asks an OpenAI stream for its usage chunk:
 * {"include_usage":true} in place of a missing or null member, the
 * client's object with include_usage added in front otherwise.
 * NGX_DECLINED when the client turned usage off itself or sent something
 * else than an object: then we do not ask.
 */

static ngx_int_t
ngx_http_llmopt_stream_options(ngx_http_request_t *r, llmopt_request_t *req,
    ngx_str_t *opts)
{
    u_char         *p;
    size_t          i, len;
    llmopt_span_t   value;
    const u_char   *v;

    if (llmopt_request_member(req, "stream_options",
                              sizeof("stream_options") - 1, &value)
        != LLMOPT_OK)
    {
        ngx_str_set(opts, "{\"include_usage\":true}");
        return NGX_OK;
    }

    v = req->body + value.start;
    len = value.end - value.start;

    if (len == 4 && ngx_strncmp(v, "null", 4) == 0) {
        ngx_str_set(opts, "{\"include_usage\":true}");
        return NGX_OK;
    }

    if (len < 2 || v[0] != '{'
        || ngx_strnstr((u_char *) v, "include_usage", len) != NULL)
    {
        /* not an object, or the client set include_usage (false) itself */
        return NGX_DECLINED;
    }

    for (i = 1; i < len - 1; i++) {
        if (v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n') {
            break;
        }
    }

    if (i == len - 1) {
        ngx_str_set(opts, "{\"include_usage\":true}");
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len + sizeof("{\"include_usage\":true,"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    opts->data = p;

    p = ngx_cpymem(p, "{\"include_usage\":true,",
                   sizeof("{\"include_usage\":true,") - 1);
    p = ngx_cpymem(p, v + 1, len - 1);

    opts->len = p - opts->data;

    return NGX_OK;
}


/* the first header of the name (ngx_http_llmopt_headers stops there) */

static ngx_int_t
ngx_http_llmopt_found_header(ngx_table_elt_t *h, void *data)
{
    *(ngx_table_elt_t **) data = h;

    return NGX_DONE;
}


/*
 * Credential headers: when an arm sends one of its own, the client's go,
 * every one of them, whatever the dialect they belong to.
 */

static ngx_str_t  ngx_http_llmopt_credentials[] = {
    ngx_string("authorization"),
    ngx_string("proxy-authorization"),
    ngx_string("x-api-key"),
    ngx_string("api-key"),
    ngx_string("x-goog-api-key"),
    ngx_null_string
};


static ngx_uint_t
ngx_http_llmopt_credential(ngx_str_t *key)
{
    ngx_str_t  *c;

    for (c = ngx_http_llmopt_credentials; c->len; c++) {
        if (key->len == c->len
            && ngx_strncasecmp(key->data, c->data, c->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* whether one of n headers kv is named key (case-blind) */

static ngx_uint_t
ngx_http_llmopt_named(ngx_str_t *key, ngx_keyval_t *kv, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (kv[i].key.len == key->len
            && ngx_strncasecmp(kv[i].key.data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The request headers the upstream gets for an arm: the client's, less
 * every header of a name the arm sets (duplicates too), less all
 * credential headers when the arm sends credentials, less the pin header;
 * then the arm's own.  The list is built anew in the request's pool, always
 * from the client's headers as they came, so that a failover to another
 * arm keeps nothing of the first one's.
 *
 * The client's headers are found through ctx->client_headers, a copy of
 * the first part of their list taken before the first rebuild: the parts
 * and their elements stay in the pool untouched, and nothing pushes onto
 * that list again once r->headers_in.headers is a new one.  The list head
 * itself is never copied: its "last" points into it.
 */

static ngx_int_t
ngx_http_llmopt_set_headers(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_http_llmopt_arm_t *arm)
{
    ngx_str_t                   *pin;
    ngx_uint_t                   i, n, credentials;
    ngx_keyval_t                *kv;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h, *copy;
    ngx_http_llmopt_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    pin = &llcf->pin_header;

    kv = arm->headers.elts;
    credentials = 0;

    for (i = 0; i < arm->headers.nelts; i++) {
        credentials |= ngx_http_llmopt_credential(&kv[i].key);
    }

    if (!ctx->headers_kept) {

        if (arm->headers.nelts == 0 && pin->len == 0) {
            /* the client's headers as they are */
            return NGX_OK;
        }

        ctx->client_headers = r->headers_in.headers.part;
        ctx->headers_kept = 1;
    }

    n = arm->headers.nelts;

    for (part = &ctx->client_headers; part != NULL; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&r->headers_in.headers, r->pool, ngx_max(n, 1),
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &ctx->client_headers; part != NULL; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (h[i].key.len == 0
                || ngx_http_llmopt_named(&h[i].key, kv, arm->headers.nelts)
                || (credentials && ngx_http_llmopt_credential(&h[i].key))
                || (pin->len == h[i].key.len
                    && ngx_strncasecmp(pin->data, h[i].key.data, pin->len)
                       == 0))
            {
                continue;
            }

            copy = ngx_list_push(&r->headers_in.headers);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            *copy = h[i];
        }
    }

    for (i = 0; i < arm->headers.nelts; i++) {

        copy = ngx_list_push(&r->headers_in.headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        copy->hash = 1;
        copy->key = kv[i].key;
        copy->value = kv[i].value;
        copy->lowcase_key = ngx_pnalloc(r->pool, kv[i].key.len);
        if (copy->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(copy->lowcase_key, kv[i].key.data, kv[i].key.len);
#if (nginx_version >= 1023000)
        copy->next = NULL;
#endif
    }

    return NGX_OK;
}


/* 128 random bits, as 32 hex digits */

static void
ngx_http_llmopt_request_id(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    ngx_memcpy(ctx->id, ngx_http_llmopt_random(r, 16), 16);
    ngx_hex_dump(ctx->request_id, ctx->id, 16);
}


/* n <= 16 random bytes from a per-worker getrandom() pool */

static u_char *
ngx_http_llmopt_random(ngx_http_request_t *r, size_t n)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (lmcf->random_used + n > sizeof(lmcf->random)) {
#if (NGX_LINUX)
        if (getrandom(lmcf->random, sizeof(lmcf->random), 0)
            != (ssize_t) sizeof(lmcf->random))
#endif
        {
            for (i = 0; i < sizeof(lmcf->random); i++) {
                lmcf->random[i] = (u_char) ngx_random();
            }
        }

        lmcf->random_used = 0;
    }

    p = lmcf->random + lmcf->random_used;
    lmcf->random_used += n;

    return p;
}


/*
 * W3C trace context: a valid "traceparent" of the client passes through
 * and its trace-id is $llmopt_trace_id; with llmopt_trace on, a request
 * without one (or with a malformed one) gets a new one, which the proxy
 * then sends upstream.
 */

static ngx_int_t
ngx_http_llmopt_trace(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_http_llmopt_loc_conf_t *llcf)
{
    u_char           *v, *p;
    ngx_uint_t        k;
    ngx_table_elt_t  *found;

    static ngx_str_t  name = ngx_string("traceparent");

    found = NULL;

    (void) ngx_http_llmopt_headers(&r->headers_in.headers, &name,
                                   ngx_http_llmopt_found_header, &found);

    if (found != NULL && found->value.len == 55) {

        /* version "00", 32 hex trace-id, 16 hex parent-id, 2 hex flags */

        v = found->value.data;

        for (k = 0; k < 55; k++) {
            if (k == 2 || k == 35 || k == 52) {
                if (v[k] != '-') {
                    break;
                }

            } else if (!((v[k] >= '0' && v[k] <= '9')
                         || (v[k] >= 'a' && v[k] <= 'f')))
            {
                break;
            }
        }

        if (k == 55 && ngx_strncmp(v, "00", 2) == 0
            && ngx_strncmp(v + 3, "00000000000000000000000000000000", 32)
               != 0
            && ngx_strncmp(v + 36, "0000000000000000", 16) != 0)
        {
            ngx_memcpy(ctx->trace_id, v + 3, 32);
            ctx->has_trace = 1;
            return NGX_OK;
        }
    }

    if (!llcf->trace) {
        return NGX_OK;
    }

    if (found == NULL) {
        found = ngx_list_push(&r->headers_in.headers);
        if (found == NULL) {
            return NGX_ERROR;
        }

        found->hash = 1;
#if (nginx_version >= 1023000)
        found->next = NULL;
#endif
        ngx_str_set(&found->key, "traceparent");
        found->lowcase_key = (u_char *) "traceparent";
    }

    p = ngx_pnalloc(r->pool, 55);
    if (p == NULL) {
        return NGX_ERROR;
    }

    found->value.data = p;
    found->value.len = 55;

    p = ngx_cpymem(p, "00-", 3);
    p = ngx_hex_dump(p, ngx_http_llmopt_random(r, 16), 16);
    *p++ = '-';
    p = ngx_hex_dump(p, ngx_http_llmopt_random(r, 8), 8);
    (void) ngx_cpymem(p, "-01", 3);

    ngx_memcpy(ctx->trace_id, found->value.data + 3, 32);
    ctx->has_trace = 1;

    return NGX_OK;
}


static ngx_int_t
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


/*
 * An error in the client's dialect:
 *   OpenAI    {"error":{"message":..,"type":..,"param":null,"code":..}}
 *   Anthropic {"type":"error","error":{"type":..,"message":..}}
 */

ngx_int_t
ngx_http_llmopt_send_error(ngx_http_request_t *r, llmopt_dialect_e dialect,
    ngx_uint_t status, const char *type, const char *code, u_char *msg,
    size_t len)
{
    size_t        size;
    ngx_buf_t    *b;

    size = sizeof("{\"type\":\"error\",\"error\":{\"type\":\"\",\"message\":\"\","
                  "\"param\":null,\"code\":\"\"}}\n")
           + ngx_strlen(type) + (code ? ngx_strlen(code) : 4)
           + len + ngx_escape_json(NULL, msg, len);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (dialect == LLMOPT_DIALECT_ANTHROPIC) {
        b->last = ngx_sprintf(b->last,
                              "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                              "\"message\":\"", type);
        b->last = (u_char *) ngx_escape_json(b->last, msg, len);
        b->last = ngx_cpymem(b->last, "\"}}\n", sizeof("\"}}\n") - 1);

    } else {
        b->last = ngx_cpymem(b->last, "{\"error\":{\"message\":\"",
                             sizeof("{\"error\":{\"message\":\"") - 1);
        b->last = (u_char *) ngx_escape_json(b->last, msg, len);
        b->last = ngx_sprintf(b->last, "\",\"type\":\"%s\",\"param\":null,"
                              "\"code\":", type);

        if (code != NULL) {
            b->last = ngx_sprintf(b->last, "\"%s\"}}\n", code);

        } else {
            b->last = ngx_cpymem(b->last, "null}}\n", sizeof("null}}\n") - 1);
        }
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_http_llmopt_send_json(r, status, b);
}


/* Sends b, a whole JSON document, as the response with this status. */

ngx_int_t
ngx_http_llmopt_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b)
{
    ngx_str_t  type = ngx_string("application/json");

    return ngx_http_llmopt_send_body(r, status, &type, b);
}


/* Sends b as the whole response, of this status and content type. */

ngx_int_t
ngx_http_llmopt_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    u_char      *semicolon;
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type = *type;
    semicolon = ngx_strlchr(type->data, type->data + type->len, ';');
    r->headers_out.content_type_len = semicolon ? (size_t) (semicolon
                                                            - type->data)
                                                : type->len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* application/json, with or without parameters; absent is taken as JSON */

static ngx_int_t
ngx_http_llmopt_is_json(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.content_type;

    if (h == NULL) {
        return 1;
    }

    p = h->value.data;
    last = p + h->value.len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if ((size_t) (last - p) < sizeof("application/json") - 1
        || ngx_strncasecmp(p, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0)
    {
        return 0;
    }

    p += sizeof("application/json") - 1;

    return p == last || *p == ';' || *p == ' ' || *p == '\t';
}


uint64_t
ngx_http_llmopt_now_ns(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


uint64_t
ngx_http_llmopt_wall_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
