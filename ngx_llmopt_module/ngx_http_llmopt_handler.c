
/*
 * Copyright (C) llmopt authors
 *
 * The request walk: which requests are routed, the body read, then its
 * parse and context (ngx_http_llmopt_request.c), the decision
 * (ngx_http_llmopt_decide.c), the rewrite of the body and the upstream
 * headers (ngx_http_llmopt_rewrite.c).  Runs in the PRECONTENT phase, so
 * that the stock proxy_pass of the location sends the result.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_decide.h"
#include "ngx_http_llmopt_failover.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_cache.h"
#include "ngx_http_llmopt_cascade.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_rewrite.h"
#include "ngx_http_llmopt_handler.h"


static void ngx_http_llmopt_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_walk(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_body(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, u_char **body, size_t *len);
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

    /* the client's dialect; an arm of the other one is translated */
    ctx->dialect = llcf->client;

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

    rc = ngx_http_llmopt_walk(r, ctx);

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

    rc = ngx_http_llmopt_cascade_start(r, ctx);

    if (rc == NGX_OK) {
        /* its attempts are under way; the cascade answers */
        return;
    }

    if (rc != NGX_DECLINED) {
        ngx_http_llmopt_budget_spend(r, ctx, 0, 1);
        ngx_http_finalize_request(r, rc);
        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * The walk once the body is read: parse, decide, rewrite, the upstream
 * headers.  NGX_OK, or the status of the answer sent instead.
 */

static ngx_int_t
ngx_http_llmopt_walk(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
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

    rc = ngx_http_llmopt_body(r, ctx, &body, &len);
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

    /* in shadow mode the client's body, as it is or translated */

    rc = ngx_http_llmopt_rewrite(r, ctx, &req);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_llmopt_cache_unstream(r, ctx, &req);
    if (rc != NGX_OK) {
        return rc;
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
ngx_http_llmopt_body(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    u_char **body, size_t *len)
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

    p = ngx_http_llmopt_in_buf(r, ctx, size);
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
