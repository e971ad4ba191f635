
/*
 * Copyright (C) llmopt authors
 *
 * The exact cache through nginx's own proxy_cache: the core's decision
 * and key (src/llmopt_cache.c) for the body as the upstream will get it,
 * as the variables proxy_cache_key, proxy_cache_bypass and proxy_no_cache
 * read; a hit seen by the header filter, settled at no cost, counted with
 * what it saved and kept from the trainer.
 *
 * When nginx reads them: proxy_cache_key and proxy_cache_bypass when the
 * upstream request is made (ngx_http_upstream_cache(), in the content
 * phase, after llmopt's PRECONTENT handler chose the arm and rewrote the
 * body), proxy_no_cache once the upstream's header is in, right after
 * the header filters ran (ngx_http_upstream_send_response()).  A failover
 * makes its upstream request anew, and the key is the new arm's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_cache.h"

#include "llmopt_sse_replay.h"


#define NGX_HTTP_LLMOPT_CACHE_READ  4096    /* bytes read back at once */
#define NGX_HTTP_LLMOPT_CACHE_JSON  (64 * 1024 * 1024)  /* an answer
                                                          replayed, at
                                                          most */


typedef enum {
    NGX_HTTP_LLMOPT_CACHE_VAR_KEY = 0,
    NGX_HTTP_LLMOPT_CACHE_VAR_BYPASS,
    NGX_HTTP_LLMOPT_CACHE_VAR_NO_CACHE,
    NGX_HTTP_LLMOPT_CACHE_VAR_STATUS,
    NGX_HTTP_LLMOPT_CACHE_VAR_SAVED
} ngx_http_llmopt_cache_var_e;


static ngx_int_t ngx_http_llmopt_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_http_llmopt_ctx_t *ngx_http_llmopt_cache_ctx(
    ngx_http_request_t *r);
static void ngx_http_llmopt_cache_decide(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_cache_key(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, const llmopt_cache_conf_t *conf,
    llmopt_cache_request_t *creq, char *key);
static ngx_int_t ngx_http_llmopt_cache_parse(ngx_http_request_t *r,
    ngx_buf_t **body, llmopt_json_tok_t **toks, unsigned *n);
static unsigned ngx_http_llmopt_cache_client(ngx_http_llmopt_ctx_t *ctx,
    ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_cache_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_cache_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_llmopt_cache_keep(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b);
static ngx_int_t ngx_http_llmopt_cache_replay(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);


static ngx_http_output_header_filter_pt  ngx_http_llmopt_cache_next_header;
static ngx_http_output_body_filter_pt    ngx_http_llmopt_cache_next_body;
static ngx_uint_t ngx_http_llmopt_cache_status(ngx_http_request_t *r);


static ngx_http_variable_t  ngx_http_llmopt_cache_vars[] = {

    { ngx_string("llmopt_cache_key"), NULL, ngx_http_llmopt_cache_variable,
      NGX_HTTP_LLMOPT_CACHE_VAR_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_cache_bypass"), NULL,
      ngx_http_llmopt_cache_variable,
      NGX_HTTP_LLMOPT_CACHE_VAR_BYPASS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_no_cache"), NULL, ngx_http_llmopt_cache_variable,
      NGX_HTTP_LLMOPT_CACHE_VAR_NO_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_cache_status"), NULL,
      ngx_http_llmopt_cache_variable,
      NGX_HTTP_LLMOPT_CACHE_VAR_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_cache_saved"), NULL,
      ngx_http_llmopt_cache_variable,
      NGX_HTTP_LLMOPT_CACHE_VAR_SAVED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_llmopt_cache_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_llmopt_cache_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $llmopt_cache_key: 64 hex digits, empty when the request may not be
 * cached; $llmopt_cache_bypass, $llmopt_no_cache: 1 or 0 (1 for every
 * request without a key: an empty key would be one entry for all);
 * $llmopt_cache_status: hit, miss, bypass, or why there is no key;
 * $llmopt_cache_saved: USD a hit saved.
 */

static ngx_int_t
ngx_http_llmopt_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    ngx_uint_t              status;
    ngx_http_llmopt_ctx_t  *ctx;
    llmopt_cache_decision_t d;

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    ctx = ngx_http_llmopt_cache_ctx(r);

    if (ctx != NULL) {
        ngx_http_llmopt_cache_decide(r, ctx);
    }

    switch (data) {

    case NGX_HTTP_LLMOPT_CACHE_VAR_KEY:
        v->data = ctx != NULL && ctx->cache_keyed ? ctx->cache_key : NULL;
        v->len = v->data != NULL ? LLMOPT_CACHE_KEY_LEN : 0;
        return NGX_OK;

    case NGX_HTTP_LLMOPT_CACHE_VAR_BYPASS:
        v->data = (u_char *) (ctx != NULL && ctx->cache_lookup ? "0" : "1");
        v->len = 1;
        return NGX_OK;

    case NGX_HTTP_LLMOPT_CACHE_VAR_NO_CACHE:
        ngx_memzero(&d, sizeof(llmopt_cache_decision_t));

        if (ctx != NULL) {
            d.keyed = ctx->cache_keyed;
            d.store = ctx->cache_store;
        }

        status = ngx_http_llmopt_cache_status(r);

        v->data = (u_char *) (llmopt_cache_storable(&d, status) ? "0" : "1");
        v->len = 1;
        return NGX_OK;

    case NGX_HTTP_LLMOPT_CACHE_VAR_STATUS:
        if (ctx == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = (u_char *) (ctx->cache_hit ? "hit"
                        : !ctx->cache_keyed ? ctx->cache_why
                        : ctx->cache_lookup ? "miss" : "bypass");
        v->data = p;
        v->len = ngx_strlen(p);
        return NGX_OK;

    default: /* NGX_HTTP_LLMOPT_CACHE_VAR_SAVED */
        if (ctx == NULL || !ctx->cache_hit || !ctx->settled) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 16);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%.12f", ctx->cache_saved) - p;
        return NGX_OK;
    }
}


/* The context of a routed request that went upstream, or NULL. */

static ngx_http_llmopt_ctx_t *
ngx_http_llmopt_cache_ctx(ngx_http_request_t *r)
{
    ngx_http_llmopt_ctx_t  *ctx;

    ctx = ngx_http_llmopt_get_ctx(r->main);

    if (ctx == NULL || !ctx->routed || ctx->passthrough || ctx->rejected
        || ctx->policy == NULL)
    {
        return NULL;
    }

    return ctx;
}


/* The core's decision and key, once for each arm the request goes to. */

static void
ngx_http_llmopt_cache_decide(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    llmopt_cache_request_t      creq;
    llmopt_cache_decision_t     d;
    const llmopt_cache_conf_t  *conf;

    if (ctx->cache_arm == ctx->arm + 1) {
        return;
    }

    ctx->cache_arm = ctx->arm + 1;
    ctx->cache_keyed = 0;
    ctx->cache_lookup = 0;
    ctx->cache_store = 0;

    conf = &ctx->policy->policy->cache;

    ngx_memzero(&creq, sizeof(llmopt_cache_request_t));
    creq.temperature = -1;
    creq.shadow = ctx->shadow;
    creq.client = ngx_http_llmopt_cache_client(ctx, r);

    if (conf->when == LLMOPT_CACHE_NEVER) {
        ctx->cache_why = "rule";
        return;
    }

    if (ngx_http_llmopt_cache_key(r, ctx, conf, &creq,
                                  (char *) ctx->cache_key)
        != NGX_OK)
    {
        ctx->cache_why = "body";
        return;
    }

    llmopt_cache_decide(conf, &creq, &d);

    if (creq.stream) {
        /* a failover's arm got the client's stream: nothing to replay */
        ctx->cache_replay = 0;
    }

    ctx->cache_keyed = d.keyed;
    ctx->cache_lookup = d.lookup;
    ctx->cache_store = d.store;
    ctx->cache_why = d.why;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llmopt cache key:%s lookup:%d why:%s",
                   d.keyed ? (char *) ctx->cache_key : "-", d.lookup,
                   d.why != NULL ? d.why : "-");
}


/*
 * The key of the body the upstream gets (the rewritten one, in memory),
 * and its temperature into creq.  NGX_DECLINED when it has none.
 */

static ngx_int_t
ngx_http_llmopt_cache_key(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    const llmopt_cache_conf_t *conf, llmopt_cache_request_t *creq, char *key)
{
    u_char                       *body;
    unsigned                      n, *scratch;
    ngx_str_t                     tenant;
    ngx_buf_t                    *b;
    llmopt_json_tok_t            *toks;
    llmopt_cache_scope_t          scope;
    const llmopt_model_t         *model;
    ngx_http_llmopt_arm_t        *arm;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_main_conf_t  *lmcf;

    if (ngx_http_llmopt_cache_parse(r, &b, &toks, &n) != NGX_OK) {
        return NGX_DECLINED;
    }

    body = b->pos;
    scratch = (unsigned *) (toks + n);

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    creq->temperature = llmopt_cache_temperature(body, toks, n);
    creq->stream = llmopt_cache_streams(body, toks, n);

    arm = &ctx->policy->arms[ctx->arm];
    model = &lmcf->catalog.models[ctx->policy->policy->arms[ctx->arm].model];

    scope.dialect = model->api;
    scope.upstream.data = (const char *) arm->upstream.data;
    scope.upstream.len = arm->upstream.len;
    scope.tenant.data = "";
    scope.tenant.len = 0;

    if (!conf->shared && llcf->tenant != NULL
        && ngx_http_complex_value(r, llcf->tenant, &tenant) == NGX_OK)
    {
        scope.tenant.data = (const char *) tenant.data;
        scope.tenant.len = tenant.len;
    }

    if (llmopt_cache_key(conf, &scope, body, toks, n, scratch, key)
        != LLMOPT_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The body the upstream gets, in one buffer in memory, tokenized: *toks
 * has room for *n indices after the tokens (the key's scratch).
 */

static ngx_int_t
ngx_http_llmopt_cache_parse(ngx_http_request_t *r, ngx_buf_t **body,
    llmopt_json_tok_t **toks, unsigned *n)
{
    size_t                       len;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    llmopt_err_t                 err;
    ngx_http_llmopt_loc_conf_t  *llcf;

    if (r->request_body == NULL || r->request_body->bufs == NULL
        || r->request_body->bufs->next != NULL)
    {
        return NGX_DECLINED;
    }

    b = r->request_body->bufs->buf;

    if (b->in_file || !ngx_buf_in_memory(b)) {
        return NGX_DECLINED;
    }

    len = b->last - b->pos;
    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);

    rc = llmopt_json_parse(b->pos, len, NULL, 0, llcf->max_depth, n, &err);
    if ((rc != LLMOPT_OK && rc != LLMOPT_AGAIN) || *n == 0) {
        return NGX_DECLINED;
    }

    *toks = ngx_palloc(r->pool, *n * (sizeof(llmopt_json_tok_t)
                                      + sizeof(unsigned)));
    if (*toks == NULL) {
        return NGX_DECLINED;
    }

    if (llmopt_json_parse(b->pos, len, *toks, *n, llcf->max_depth, n, &err)
        != LLMOPT_OK)
    {
        return NGX_DECLINED;
    }

    *body = b;

    return NGX_OK;
}


ngx_int_t
ngx_http_llmopt_cache_unstream(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req)
{
    unsigned                    n;
    ngx_buf_t                  *b;
    ngx_table_elt_t            *h;
    llmopt_json_tok_t          *toks;
    llmopt_cache_request_t      creq;
    llmopt_cache_decision_t       d;
    const llmopt_model_t         *model;
    const llmopt_cache_conf_t    *conf;
    ngx_http_llmopt_main_conf_t  *lmcf;

    conf = &ctx->policy->policy->cache;
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    model = &lmcf->catalog.models[ctx->policy->policy->arms[ctx->arm].model];

    if (conf->when == LLMOPT_CACHE_NEVER || !ctx->stream || ctx->shadow
        || model->api != ctx->dialect)
    {
        /* (a stream translated to another dialect streams as it came) */
        return NGX_OK;
    }

    if (ngx_http_llmopt_cache_parse(r, &b, &toks, &n) != NGX_OK) {
        return NGX_OK;
    }

    /* would it be cached as a JSON request? */

    ngx_memzero(&creq, sizeof(llmopt_cache_request_t));
    creq.temperature = llmopt_cache_temperature(b->pos, toks, n);
    creq.client = ngx_http_llmopt_cache_client(ctx, r);

    llmopt_cache_decide(conf, &creq, &d);

    if (!d.keyed || (!d.lookup && !d.store)) {
        /* no use of the cache: it streams as it came */
        return NGX_OK;
    }

    b->last = b->pos + llmopt_cache_unstream(b->pos, toks, n, b->pos);

    ctx->body_out = b->last - b->pos;
    ctx->cache_replay = 1;
    ctx->cache_usage = req->include_usage;
    ctx->strip = 0;
    ctx->cache_arm = 0;

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


void
ngx_http_llmopt_cache_filter_init(ngx_conf_t *cf)
{
    ngx_http_llmopt_cache_next_header = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_llmopt_cache_header_filter;

    ngx_http_llmopt_cache_next_body = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_llmopt_cache_body_filter;
}


/* A JSON 200 to replay: it goes out as an event stream. */

static ngx_int_t
ngx_http_llmopt_cache_header_filter(ngx_http_request_t *r)
{
    ngx_str_t              *type;
    ngx_http_llmopt_ctx_t  *ctx;

    static ngx_str_t  sse = ngx_string("text/event-stream");

    ctx = r == r->main ? ngx_http_llmopt_get_ctx(r) : NULL;

    if (ctx == NULL || !ctx->cache_replay) {
        return ngx_http_llmopt_cache_next_header(r);
    }

    type = &r->headers_out.content_type;

    if (r->headers_out.status != NGX_HTTP_OK
        || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0)
    {
        /* an error, or already a stream: as it is */
        ctx->cache_replay = 0;
        return ngx_http_llmopt_cache_next_header(r);
    }

    r->headers_out.content_type = sse;
    r->headers_out.content_type_len = sse.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);
    ngx_http_clear_last_modified(r);

    return ngx_http_llmopt_cache_next_header(r);
}


/* The answer kept until its end, then sent as one stream. */

static ngx_int_t
ngx_http_llmopt_cache_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t              last;
    ngx_chain_t            *cl;
    ngx_http_llmopt_ctx_t  *ctx;

    ctx = r == r->main ? ngx_http_llmopt_get_ctx(r) : NULL;

    if (ctx == NULL || !ctx->cache_replay || in == NULL) {
        return ngx_http_llmopt_cache_next_body(r, in);
    }

    last = 0;

    for (cl = in; cl != NULL; cl = cl->next) {
        if (ngx_http_llmopt_cache_keep(r, ctx, cl->buf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    return ngx_http_llmopt_cache_replay(r, ctx);
}


/* The bytes of b appended to the answer; b is consumed. */

static ngx_int_t
ngx_http_llmopt_cache_keep(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_buf_t *b)
{
    off_t       size;
    size_t      room;
    ssize_t     n;
    ngx_buf_t  *json, *grown;

    size = ngx_buf_size(b);

    if (size <= 0) {
        return NGX_OK;
    }

    json = ctx->cache_json;

    if (json == NULL || (off_t) (json->end - json->last) < size) {
        room = (json != NULL ? (size_t) (json->last - json->pos) : 0)
               + (size_t) size;

        if (room > NGX_HTTP_LLMOPT_CACHE_JSON) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "llmopt: an answer to replay as a stream is "
                          "larger than %uz bytes",
                          (size_t) NGX_HTTP_LLMOPT_CACHE_JSON);
            return NGX_ERROR;
        }

        grown = ngx_create_temp_buf(r->pool, ngx_max(2 * room, 4096));
        if (grown == NULL) {
            return NGX_ERROR;
        }

        if (json != NULL) {
            grown->last = ngx_cpymem(grown->last, json->pos,
                                     json->last - json->pos);
        }

        ctx->cache_json = grown;
        json = grown;
    }

    if (ngx_buf_in_memory(b)) {
        json->last = ngx_cpymem(json->last, b->pos, b->last - b->pos);
        b->pos = b->last;

    } else {
        n = ngx_read_file(b->file, json->last, (size_t) size, b->file_pos);
        if (n != (ssize_t) size) {
            return NGX_ERROR;
        }

        json->last += n;
    }

    if (b->in_file) {
        b->file_pos = b->file_last;
    }

    return NGX_OK;
}


/*
 * The whole answer as the stream of its dialect; what is no answer (it
 * did not parse) goes as it is.
 */

static ngx_int_t
ngx_http_llmopt_cache_replay(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    size_t               len;
    unsigned             n;
    ngx_int_t            rc;
    ngx_buf_t           *json, *b;
    ngx_chain_t          out;
    llmopt_err_t         err;
    llmopt_json_tok_t   *toks;
    llmopt_xlate_out_t   sse;

    json = ctx->cache_json;
    b = NULL;

    if (json != NULL) {
        len = json->last - json->pos;

        rc = llmopt_json_parse(json->pos, len, NULL, 0, 0, &n, &err);

        toks = (rc == LLMOPT_OK || rc == LLMOPT_AGAIN) && n > 0
               ? ngx_palloc(r->pool, n * sizeof(llmopt_json_tok_t)) : NULL;

        if (toks != NULL
            && llmopt_json_parse(json->pos, len, toks, n, 0, &n, &err)
               == LLMOPT_OK)
        {
            sse.data = NULL;
            sse.len = 0;
            sse.cap = 0;

            /* the room it needs, then the stream */

            rc = llmopt_sse_replay(ctx->dialect, json->pos, toks, n,
                                   ctx->cache_usage, &sse);

            if (rc == LLMOPT_AGAIN) {
                b = ngx_create_temp_buf(r->pool, sse.len);
                if (b == NULL) {
                    return NGX_ERROR;
                }

                sse.data = b->pos;
                sse.cap = sse.len;
                sse.len = 0;

                if (llmopt_sse_replay(ctx->dialect, json->pos, toks, n,
                                      ctx->cache_usage, &sse)
                    != LLMOPT_OK)
                {
                    return NGX_ERROR;
                }

                b->last = b->pos + sse.len;
            }
        }

        if (b == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "llmopt: the answer could not be replayed as a "
                          "stream: sent as it came");
            b = json;
        }

    } else {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_llmopt_cache_next_body(r, &out);
}


/* The client's Cache-Control (its own headers, before any rebuild). */

static unsigned
ngx_http_llmopt_cache_client(ngx_http_llmopt_ctx_t *ctx,
    ngx_http_request_t *r)
{
    unsigned          flags;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    flags = 0;
    part = ctx->headers_kept ? &ctx->client_headers
                             : &r->main->headers_in.headers.part;

    for ( /* void */ ; part != NULL; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == sizeof("Cache-Control") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                                   sizeof("Cache-Control") - 1) == 0)
            {
                flags |= llmopt_cache_control((const char *) h[i].value.data,
                                              h[i].value.len);
            }
        }
    }

    return flags;
}


/* The upstream's status once its header is in, else the response's. */

static ngx_uint_t
ngx_http_llmopt_cache_status(ngx_http_request_t *r)
{
    if (r->upstream != NULL && r->upstream->headers_in.status_n) {
        return r->upstream->headers_in.status_n;
    }

    return r->headers_out.status;
}


void
ngx_http_llmopt_cache_header(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
#if (NGX_HTTP_CACHE)
    ngx_http_upstream_t        *u;
    const llmopt_cache_conf_t  *conf;

    u = r->upstream;

    if (u == NULL || ctx->policy == NULL) {
        return;
    }

    conf = &ctx->policy->policy->cache;

    if (conf->when == LLMOPT_CACHE_NEVER) {
        return;
    }

    if (u->cache_status == NGX_HTTP_CACHE_HIT
        || u->cache_status == NGX_HTTP_CACHE_UPDATING
        || u->cache_status == NGX_HTTP_CACHE_STALE)
    {
        /* nginx answers from its cache: no upstream saw this request */
        ctx->cache_hit = 1;
        return;
    }

    ngx_http_llmopt_cache_decide(r, ctx);

    if (ctx->stream && !ctx->cache_replay) {
        /* as "X-Accel-Buffering: no" does: streams are never stored */
        u->buffering = 0;
        return;
    }

    if (conf->ttl_ms && u->cacheable && r->cache != NULL
        && ctx->cache_keyed && ctx->cache_store
        && ngx_http_llmopt_cache_status(r) == NGX_HTTP_OK)
    {
        r->cache->valid_sec = ngx_time()
                              + (time_t) ((conf->ttl_ms + 999) / 1000);
    }
#endif
}


void
ngx_http_llmopt_cache_read(ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b,
    void (*scan)(ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b))
{
    off_t      pos;
    ssize_t    n;
    ngx_buf_t  piece;
    u_char     buf[NGX_HTTP_LLMOPT_CACHE_READ];

    if (!b->in_file || b->file == NULL || b->file->fd == NGX_INVALID_FILE) {
        return;
    }

    for (pos = b->file_pos; pos < b->file_last; pos += n) {
        n = ngx_read_file(b->file, buf,
                          (size_t) ngx_min(b->file_last - pos,
                                           (off_t) sizeof(buf)),
                          pos);
        if (n <= 0) {
            return;
        }

        ngx_memzero(&piece, sizeof(ngx_buf_t));
        piece.pos = buf;
        piece.last = buf + n;
        piece.temporary = 1;

        scan(ctx, &piece);
    }
}


void
ngx_http_llmopt_cache_settle(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    if (!ctx->cache_hit) {
        return;
    }

    /* the cached usage at the arm's price: what the hit saved */

    ctx->cache_saved = ctx->event.cost > 0 ? ctx->event.cost : 0;
    ctx->event.cost = 0;
    ctx->cost = 0;
    ctx->cost_estimated = 0;
    ctx->reward = -1;
}


void
ngx_http_llmopt_cache_outcome(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    ngx_http_llmopt_arm_stats_t  *as;

    as = &ctx->policy->stats->arms[ctx->arm];

    (void) ngx_atomic_fetch_add(&as->cache_hits, 1);

    if (ctx->cache_saved > 0) {
        (void) ngx_atomic_fetch_add(&as->cache_saved_nusd,
                                    (ngx_atomic_uint_t) (ctx->cache_saved
                                                         * 1e9 + 0.5));
    }

    ngx_http_llmopt_budget_spend(r, ctx, 0, 1);
}
