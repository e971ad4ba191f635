
/*
 * Copyright (C) llmopt authors
 *
 * Translation in the request path, for an arm whose model speaks another
 * dialect than the client: the body (the core's llmopt_translate_request()
 * before the arm's rewrite, so that the arm's params are set in its own
 * dialect), the upstream path, and the answer: a JSON answer or error
 * collected (bounded) and translated whole, a stream translated event by
 * event as it passes (llmopt_xlate_stream_feed()).  The filters call it;
 * the usage scanner keeps reading the upstream's own bytes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_translate.h"


static void ngx_http_llmopt_xlate_path(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_dialect_e upstream);
static ngx_int_t ngx_http_llmopt_xlate_collect(ngx_http_request_t *r,
    ngx_http_llmopt_xlate_t *xl, const u_char *p, size_t len);
static ngx_int_t ngx_http_llmopt_xlate_feed(ngx_http_request_t *r,
    ngx_http_llmopt_xlate_t *xl, const u_char *p, size_t len,
    ngx_chain_t ***last);
static ngx_int_t ngx_http_llmopt_xlate_json(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_buf_t **b);
static ngx_int_t ngx_http_llmopt_xlate_fail(ngx_http_request_t *r,
    ngx_http_llmopt_xlate_t *xl, const char *msg, ngx_buf_t **b);
static void ngx_http_llmopt_xlate_flush(ngx_buf_t *b);
static ngx_buf_t *ngx_http_llmopt_xlate_out(ngx_http_request_t *r,
    ngx_http_llmopt_xlate_t *xl, size_t size, ngx_chain_t ***last);


llmopt_dialect_e
ngx_http_llmopt_arm_dialect(ngx_http_llmopt_ctx_t *ctx,
    ngx_http_llmopt_arm_t *arm)
{
    return llmopt_model_dialect(arm->spec, ctx->dialect);
}


ngx_int_t
ngx_http_llmopt_xlate_request(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req)
{
    size_t                    size;
    ngx_int_t                 rc;
    llmopt_err_t              err;
    llmopt_dialect_e          upstream;
    llmopt_xlate_out_t        out;
    ngx_http_llmopt_arm_t    *arm;
    ngx_http_llmopt_xlate_t  *xl;

    arm = &ctx->policy->arms[ctx->arm];
    upstream = ngx_http_llmopt_arm_dialect(ctx, arm);

    ngx_http_llmopt_xlate_path(r, ctx, upstream);

    xl = ctx->xlate;

    if (upstream == ctx->dialect) {
        if (xl != NULL) {
            xl->on = 0;
        }

        return NGX_DECLINED;
    }

    if (xl == NULL) {
        xl = ngx_pcalloc(r->pool, sizeof(ngx_http_llmopt_xlate_t));
        if (xl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->xlate = xl;
    }

    /* a failover's second translation starts afresh */

    ngx_memzero(&xl->x, sizeof(llmopt_xlate_t));

    xl->on = 1;
    xl->stream = 0;
    xl->held = 0;
    xl->over = 0;
    xl->answer_len = 0;

    xl->x.client = ctx->dialect;
    xl->x.upstream = upstream;
    xl->x.max_tokens = arm->spec->max_tokens;
    xl->x.created = ngx_time();
    xl->x.drop_unsupported = arm->drop_unsupported;

    ngx_memzero(&err, sizeof(llmopt_err_t));

    size = 2 * req->len + 1024;

    for ( ;; ) {
        out.data = ngx_pnalloc(r->pool, size);
        if (out.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        out.len = 0;
        out.cap = size;

        rc = llmopt_translate_request(&xl->x, req->body, req->len, req->toks,
                                      req->ntoks, &out, &err);

        if (rc != LLMOPT_AGAIN) {
            break;
        }

        size = out.len;
        xl->x.n_dropped = 0;
    }

    if (rc != LLMOPT_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "llmopt: arm \"%V\" of policy \"%V\": request not "
                      "translated: %s", &arm->name, &ctx->policy->name,
                      err.msg);

        return ngx_http_llmopt_reject(r, ctx, NGX_HTTP_LLMOPT_REJECT_BAD_JSON,
                                      err.status ? err.status
                                                 : NGX_HTTP_BAD_REQUEST,
                                      err.type ? err.type
                                               : "invalid_request_error",
                                      NULL, err.msg);
    }

    if (xl->x.n_dropped) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "llmopt: translation dropped %ui fields, the first "
                       "\"%s\" (arm \"%V\")", (ngx_uint_t) xl->x.n_dropped,
                       xl->x.dropped[0], &arm->name);
    }

    /* the arm's rewrite reads the body as its upstream will */

    return ngx_http_llmopt_parse_as(r, ctx, req, upstream, out.data,
                                    out.len);
}


/*
 * The path the upstream gets: the client's, its endpoint (the last
 * segments, "/chat/completions" or "/messages") replaced by the upstream
 * dialect's.  proxy_pass without a URI of its own then sends r->uri.
 */

static void
ngx_http_llmopt_xlate_path(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    llmopt_dialect_e upstream)
{
    u_char     *p;
    size_t      prefix;
    ngx_str_t  *from, *to;

    if (!ctx->uri_kept) {
        ctx->client_uri = r->uri;
        ctx->client_unparsed = r->valid_unparsed_uri;
        ctx->uri_kept = 1;
    }

    r->uri = ctx->client_uri;
    r->valid_unparsed_uri = ctx->client_unparsed;

    if (upstream == ctx->dialect) {
        return;
    }

    from = ngx_http_llmopt_endpoint(ctx->dialect);
    to = ngx_http_llmopt_endpoint(upstream);

    if (r->uri.len < from->len
        || ngx_strncmp(r->uri.data + r->uri.len - from->len, from->data,
                       from->len)
           != 0)
    {
        return;
    }

    prefix = r->uri.len - from->len;

    p = ngx_pnalloc(r->pool, prefix + to->len);
    if (p == NULL) {
        /* the client's path: the upstream answers 404, a failure */
        return;
    }

    ngx_memcpy(p, r->uri.data, prefix);
    ngx_memcpy(p + prefix, to->data, to->len);

    r->uri.data = p;
    r->uri.len = prefix + to->len;
    r->valid_unparsed_uri = 0;
}


ngx_int_t
ngx_http_llmopt_xlate_header(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    u_char                   *keep;
    ngx_http_llmopt_xlate_t  *xl;

    xl = ctx->xlate;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    if (ctx->sse && r->headers_out.status >= NGX_HTTP_OK
        && r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        xl->stream = 1;

        xl->st = ngx_palloc(r->pool, sizeof(llmopt_xlate_stream_t));
        xl->line = ngx_palloc(r->pool, LLMOPT_XLATE_LINE_DEFAULT);

        if (xl->st == NULL || xl->line == NULL) {
            return NGX_ERROR;
        }

        llmopt_xlate_stream_init(xl->st, &xl->x, xl->line,
                                 LLMOPT_XLATE_LINE_DEFAULT);

        xl->room = LLMOPT_XLATE_OUT_MIN(LLMOPT_XLATE_LINE_DEFAULT);

        if (xl->x.client == LLMOPT_DIALECT_RESPONSES) {
            /* the output items, which the .done events repeat */

            keep = ngx_palloc(r->pool, LLMOPT_XLATE_KEEP_DEFAULT);
            if (keep == NULL) {
                return NGX_ERROR;
            }

            llmopt_xlate_stream_keep(xl->st, keep, LLMOPT_XLATE_KEEP_DEFAULT);
            xl->room = LLMOPT_XLATE_OUT_KEEP(LLMOPT_XLATE_LINE_DEFAULT,
                                             LLMOPT_XLATE_KEEP_DEFAULT);
        }

        ngx_str_set(&r->headers_out.content_type, "text/event-stream");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
        r->headers_out.charset.len = 0;

        return NGX_OK;
    }

    /* an answer, an error: its status and length once it is whole */

    xl->held = 1;

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_llmopt_xlate_buf(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_buf_t *b, ngx_chain_t ***last)
{
    u_char                   *p;
    size_t                    len;
    ssize_t                   n;
    ngx_int_t                 rc;
    ngx_http_llmopt_xlate_t  *xl;

    xl = ctx->xlate;

    if (xl->over) {
        /* a JSON answer past the bound: the rest is not kept */
        b->pos = b->last;
        b->file_pos = b->file_last;
        return NGX_OK;
    }

    if (ngx_buf_in_memory(b) && b->pos != NULL) {
        p = b->pos;
        len = b->last - b->pos;
        b->pos = b->last;

    } else if (b->in_file && b->file_last > b->file_pos) {
        /* proxy_buffering wrote a part to a temp file: read it back */

        len = (size_t) (b->file_last - b->file_pos);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        n = ngx_read_file(b->file, p, len, b->file_pos);

        if (n != (ssize_t) len) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "llmopt: could not read the answer from \"%V\"",
                          &b->file->name);
            return NGX_ERROR;
        }

        b->file_pos = b->file_last;

    } else {
        return NGX_OK;
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (xl->stream) {
        rc = ngx_http_llmopt_xlate_feed(r, xl, p, len, last);

    } else {
        rc = ngx_http_llmopt_xlate_collect(r, xl, p, len);
    }

    return rc;
}


/* The JSON answer grows, doubling, up to MAX_ANSWER; beyond, it is over. */

static ngx_int_t
ngx_http_llmopt_xlate_collect(ngx_http_request_t *r,
    ngx_http_llmopt_xlate_t *xl, const u_char *p, size_t len)
{
    size_t   cap;
    u_char  *a;

    if (xl->over) {
        return NGX_OK;
    }

    if (xl->answer_len + len > NGX_HTTP_LLMOPT_XLATE_MAX_ANSWER) {
        xl->over = 1;
        return NGX_OK;
    }

    if (xl->answer_len + len > xl->answer_cap) {
        cap = ngx_max(xl->answer_cap * 2, 4096);

        while (cap < xl->answer_len + len) {
            cap *= 2;
        }

        a = ngx_pnalloc(r->pool, cap);
        if (a == NULL) {
            return NGX_ERROR;
        }

        if (xl->answer_len) {
            ngx_memcpy(a, xl->answer, xl->answer_len);
        }

        if (xl->answer != NULL) {
            (void) ngx_pfree(r->pool, xl->answer);
        }

        xl->answer = a;
        xl->answer_cap = cap;
    }

    ngx_memcpy(xl->answer + xl->answer_len, p, len);
    xl->answer_len += len;

    return NGX_OK;
}


/*
 * Feeds stream bytes to the core; its output goes into buffers that come
 * back free once sent, one more whenever an event does not fit.
 */

static ngx_int_t
ngx_http_llmopt_xlate_feed(ngx_http_request_t *r, ngx_http_llmopt_xlate_t *xl,
    const u_char *p, size_t len, ngx_chain_t ***last)
{
    int                  rc;
    size_t               used, size;
    ngx_buf_t           *b;
    llmopt_xlate_out_t   out;

    size = NGX_HTTP_LLMOPT_XLATE_BUF;

    while (len || xl->st->pending) {
        b = ngx_http_llmopt_xlate_out(r, xl, size, last);
        if (b == NULL) {
            return NGX_ERROR;
        }

        out.data = b->last;
        out.len = 0;
        out.cap = b->end - b->last;

        rc = llmopt_xlate_stream_feed(xl->st, p, len, &out, &used);

        b->last += ngx_min(out.len, out.cap);
        ngx_http_llmopt_xlate_flush(b);

        p += used;
        len -= used;

        /* the core says LLMOPT_ERROR when nothing fit in an empty buffer */

        if (rc == LLMOPT_ERROR
            || (rc == LLMOPT_AGAIN && out.len == 0 && used == 0))
        {
            if (size == xl->room) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "llmopt: a stream event does not fit in %uz "
                              "bytes", size);
                return NGX_ERROR;
            }

            /* one event larger than the buffer: room for any event */
            size = xl->room;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_llmopt_xlate_end(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_chain_t ***last)
{
    int                       rc;
    size_t                    size;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    llmopt_xlate_out_t        out;
    ngx_http_llmopt_xlate_t  *xl;

    xl = ctx->xlate;

    if (xl->stream) {
        size = NGX_HTTP_LLMOPT_XLATE_BUF;

        for ( ;; ) {
            b = ngx_http_llmopt_xlate_out(r, xl, size, last);
            if (b == NULL) {
                return NGX_ERROR;
            }

            out.data = b->last;
            out.len = 0;
            out.cap = b->end - b->last;

            rc = llmopt_xlate_stream_finish(xl->st, &out);

            if (rc == LLMOPT_OK) {
                b->last += out.len;
                break;
            }

            /* what fit is sent; the rest needs up to the room of any event */

            b->last += ngx_min(out.len, out.cap);
            ngx_http_llmopt_xlate_flush(b);

            if (out.len == 0) {
                if (size == xl->room) {
                    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                                  "llmopt: a stream's end does not fit in "
                                  "%uz bytes", size);
                    return NGX_ERROR;
                }

                size = xl->room;
            }
        }

    } else {
        if (ngx_http_llmopt_xlate_json(r, ctx, &b) != NGX_OK) {
            return NGX_ERROR;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
        **last = cl;
        *last = &cl->next;
    }

    ngx_http_llmopt_xlate_flush(b);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return NGX_OK;
}


/* Sent at once; one left empty is a flush only (no zero size buf). */

static void
ngx_http_llmopt_xlate_flush(ngx_buf_t *b)
{
    b->flush = 1;

    if (b->last == b->pos) {
        b->temporary = 0;
    }
}


/*
 * The whole JSON answer in the client's dialect: a 2xx answer by
 * llmopt_translate_response(), an error by llmopt_translate_error() (its
 * status may change: Anthropic's 529 is an OpenAI client's 503); one too
 * large, or not an answer of the upstream's dialect, a 502.
 */

static ngx_int_t
ngx_http_llmopt_xlate_json(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_buf_t **b)
{
    int                           rc, status;
    size_t                        size;
    unsigned                      count;
    ngx_buf_t                    *buf;
    llmopt_err_t                  err;
    llmopt_xlate_out_t            out;
    ngx_http_llmopt_xlate_t      *xl;
    ngx_http_llmopt_main_conf_t  *lmcf;
    u_char                        msg[128];

    xl = ctx->xlate;
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (xl->over) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "llmopt: the answer is larger than %uz bytes, not "
                      "translated", (size_t) NGX_HTTP_LLMOPT_XLATE_MAX_ANSWER);

        (void) ngx_sprintf(msg, "The answer of the model is larger than the "
                           "proxy translates (%uz bytes).%Z",
                           (size_t) NGX_HTTP_LLMOPT_XLATE_MAX_ANSWER);

        return ngx_http_llmopt_xlate_fail(r, xl, (char *) msg, b);
    }

    ngx_memzero(&err, sizeof(llmopt_err_t));

    for ( ;; ) {
        rc = llmopt_json_parse(xl->answer, xl->answer_len, lmcf->toks,
                               lmcf->ntoks, NGX_HTTP_LLMOPT_MAX_DEPTH, &count,
                               &err);

        if (rc != LLMOPT_AGAIN) {
            break;
        }

        if (count > NGX_HTTP_LLMOPT_MAX_TOKENS
            || ngx_http_llmopt_tokens(r, count) != NGX_OK)
        {
            rc = LLMOPT_ERROR;
            break;
        }
    }

    if (rc != LLMOPT_OK) {
        count = 0;
    }

    status = (int) r->headers_out.status;

    size = 2 * xl->answer_len + 1024;

    for ( ;; ) {
        buf = ngx_create_temp_buf(r->pool, size);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        out.data = buf->pos;
        out.len = 0;
        out.cap = size;

        if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
            if (count == 0) {
                return ngx_http_llmopt_xlate_fail(r, xl, "The answer of the "
                                                  "model is not JSON.", b);
            }

            rc = llmopt_translate_response(&xl->x, xl->answer,
                                           xl->answer_len, lmcf->toks, count,
                                           &out, &err);

            if (rc == LLMOPT_ERROR) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "llmopt: answer not translated: %s", err.msg);

                return ngx_http_llmopt_xlate_fail(r, xl, err.msg, b);
            }

        } else {
            rc = llmopt_translate_error(&xl->x, status, xl->answer,
                                        xl->answer_len,
                                        count ? lmcf->toks : NULL, count,
                                        &out, &status);
        }

        if (rc != LLMOPT_AGAIN) {
            break;
        }

        size = out.len;
    }

    buf->last = buf->pos + out.len;

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = out.len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    *b = buf;

    return NGX_OK;
}


/* A 502 in the client's dialect saying msg. */

static ngx_int_t
ngx_http_llmopt_xlate_fail(ngx_http_request_t *r, ngx_http_llmopt_xlate_t *xl,
    const char *msg, ngx_buf_t **b)
{
    size_t               len;
    ngx_buf_t           *buf;
    llmopt_xlate_out_t   out;

    len = ngx_strlen(msg);

    buf = ngx_create_temp_buf(r->pool, 6 * len + 256);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    out.data = buf->pos;
    out.len = 0;
    out.cap = 6 * len + 256;

    if (llmopt_translate_error_body(xl->x.client, NGX_HTTP_BAD_GATEWAY, msg,
                                    len, &out)
        != LLMOPT_OK)
    {
        return NGX_ERROR;
    }

    buf->last = buf->pos + out.len;

    r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = out.len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    *b = buf;

    return NGX_OK;
}


/*
 * An output buffer with room for size bytes, from those sent already, at
 * the end of the chain *last; the current one while it has the room.
 */

static ngx_buf_t *
ngx_http_llmopt_xlate_out(ngx_http_request_t *r, ngx_http_llmopt_xlate_t *xl,
    size_t size, ngx_chain_t ***last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &xl->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL || (size_t) (b->end - b->start) < size) {
        b->start = ngx_palloc(r->pool, size);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + size;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->memory = 0;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_llmopt_module;

    cl->next = NULL;
    **last = cl;
    *last = &cl->next;

    return b;
}


void
ngx_http_llmopt_xlate_sent(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_chain_t *out)
{
    ngx_http_llmopt_xlate_t  *xl;

    xl = ctx->xlate;

    ngx_chain_update_chains(r->pool, &xl->free, &xl->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_llmopt_module);
}
