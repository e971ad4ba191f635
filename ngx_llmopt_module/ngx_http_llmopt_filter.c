
/*
 * Copyright (C) llmopt authors
 *
 * What comes back: the header filter notes the status, the stream type,
 * a 429's Retry-After and an evaluator's quality header and hands the
 * client its request id; the body filter scans the response for usage as
 * it passes (llmopt_usage.c), without buffering it, and removes the usage
 * chunk the router asked for; a translated answer goes through the
 * translation (ngx_http_llmopt_translate.c).  A client that leaves once
 * the answer is
 * under way does not end it: the rest is read, unsent, to its usage
 * (llmopt_drain_timeout).  The end of the answer is the outcome's
 * (ngx_http_llmopt_outcome.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_cache.h"
#include "ngx_http_llmopt_feedback.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_translate.h"
#include "ngx_http_llmopt_filter.h"


static ngx_int_t ngx_http_llmopt_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_llmopt_strip(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);
static ngx_int_t ngx_http_llmopt_translated(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);
static ngx_int_t ngx_http_llmopt_emit(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, const u_char *p, size_t pass,
    ngx_chain_t ***last);
static void ngx_http_llmopt_keep(ngx_http_llmopt_ctx_t *ctx, const u_char *p,
    size_t from, size_t n);
static void ngx_http_llmopt_scan(ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b);
static void ngx_http_llmopt_first_token(ngx_http_llmopt_ctx_t *ctx);
static double ngx_http_llmopt_header_score(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_http_llmopt_retry_value(ngx_table_elt_t *h,
    void *data);
static ngx_int_t ngx_http_llmopt_score_value(ngx_table_elt_t *h,
    void *data);
static void ngx_http_llmopt_client_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_drain_start(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_drain(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_chain_t *in);
static void ngx_http_llmopt_drain_timeout(ngx_event_t *ev);
static void ngx_http_llmopt_consume(ngx_buf_t *b);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_llmopt_filter_init(ngx_conf_t *cf)
{
    /* below ours: it sees what these filters send on */
    ngx_http_llmopt_cache_filter_init(cf);

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_llmopt_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_llmopt_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_llmopt_header_filter(ngx_http_request_t *r)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_str_t                    *type;
    llmopt_dialect_e              upstream;
    ngx_http_llmopt_ctx_t        *ctx;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_main_conf_t  *lmcf;
    u_char                        token[32 + 1 + 64];

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_llmopt_module);

    if (ctx == NULL) {
        ctx = ngx_http_llmopt_get_ctx(r);
    }

    if (ctx == NULL || !ctx->routed || ctx->passthrough || ctx->rejected
        || ctx->filtering)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx->filtering = 1;

    ngx_http_llmopt_cache_header(r, ctx);

    type = &r->headers_out.content_type;

    ctx->sse = (type->len >= sizeof("text/event-stream") - 1
                && ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                                   sizeof("text/event-stream") - 1) == 0);

    if (!ctx->sse || ctx->dialect != LLMOPT_DIALECT_OPENAI) {
        ctx->strip = 0;
    }

    /* the usage is read in the upstream's own dialect */

    upstream = ctx->dialect;
    rc = NGX_OK;

    if (ctx->xlate != NULL && ctx->xlate->on) {
        upstream = ctx->xlate->x.upstream;
        ctx->strip = 0;

        rc = ngx_http_llmopt_xlate_header(r, ctx);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    ctx->usage = &ctx->usage_mem;

    llmopt_usage_init(ctx->usage, upstream, ctx->sse, ctx->strip);

    if (ctx->strip) {
        /* the body gets shorter: a stream is chunked anyway */
        ngx_http_clear_content_length(r);
    }

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);

    if (llcf->drain_timeout && r->upstream != NULL) {
        /* a client that leaves from now on does not end the upstream */
        r->read_event_handler = ngx_http_llmopt_client_read;
    }

    if (llcf->quality_header.len && r->upstream != NULL) {
        ctx->quality = ngx_http_llmopt_header_score(r, &llcf->quality_header);
    }

    if (r->headers_out.status == NGX_HTTP_TOO_MANY_REQUESTS
        && r->upstream != NULL)
    {
        ctx->retry_after = ngx_http_llmopt_retry_after(r);
    }

    if (ngx_http_llmopt_add_header(r, "X-LLMOpt-Request-Id", ctx->request_id,
                                   sizeof(ctx->request_id))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (lmcf->feedback_secret.len) {
        p = ngx_pnalloc(r->pool, sizeof(token));
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_llmopt_feedback_token(&lmcf->feedback_secret,
                                           ctx->request_id, p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_llmopt_add_header(r, "X-LLMOpt-Feedback-Token", p,
                                       sizeof(token))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (rc == NGX_DECLINED) {
        /* a translated JSON answer: sent whole, by the body filter */
        return NGX_OK;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_llmopt_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t               rc;
    ngx_chain_t            *cl, *out;
    ngx_http_llmopt_ctx_t  *ctx;
    llmopt_usage_out_t      res;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_llmopt_module);

    if (ctx != NULL && ctx->draining) {
        return ngx_http_llmopt_drain(r, ctx, in);
    }

    if (in == NULL || ctx == NULL || ctx->usage == NULL || ctx->body_done) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->xlate != NULL && ctx->xlate->on) {
        rc = ngx_http_llmopt_translated(r, ctx, in, &out);
        if (rc != NGX_OK) {
            return rc;
        }

    } else if (ctx->strip) {
        if (ngx_http_llmopt_strip(r, ctx, in, &out) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->body_done) {
            ngx_http_llmopt_outcome(r, ctx);
        }

    } else {
        out = in;

        for (cl = in; cl; cl = cl->next) {
            ngx_http_llmopt_scan(ctx, cl->buf);

            if (cl->buf->last_buf) {
                (void) llmopt_usage_finish(ctx->usage, &res);
                ctx->body_done = 1;

                /*
                 * The outcome is recorded before the last bytes go out: a
                 * client that posts feedback as soon as it has the answer
                 * finds its request waiting for it.
                 */
                ngx_http_llmopt_outcome(r, ctx);
                break;
            }
        }
    }

    if (out == NULL && ctx->xlate != NULL && ctx->xlate->on) {
        /* nothing translated yet */
        return NGX_OK;
    }

    rc = ngx_http_next_body_filter(r, out);

    if (ctx->xlate != NULL && ctx->xlate->on) {
        ngx_http_llmopt_xlate_sent(r, ctx, out);
    }

    if (rc == NGX_ERROR && r->connection->error && !ctx->body_done) {
        /* the client is gone: the answer is read on, to its usage */
        return ngx_http_llmopt_drain_start(r, ctx);
    }

    ctx->body_sent = 1;

    return rc;
}


/*
 * The client's side of a routed answer that is under way, in place of
 * the upstream's check of a broken connection: a client that leaves (its
 * connection closed or reset, an HTTP/2 stream cancelled) leaves the
 * upstream to be read on (ngx_http_llmopt_drain_start()).
 */

static void
ngx_http_llmopt_client_read(ngx_http_request_t *r)
{
    int                     n;
    char                    buf[1];
    ngx_err_t               err;
    ngx_event_t            *ev;
    ngx_connection_t       *c;
    ngx_http_llmopt_ctx_t  *ctx;

    c = r->connection;
    ev = c->read;

    if (c->error) {
        goto gone;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        /* a reset stream comes with c->error */
        return;
    }
#endif

#if (NGX_HAVE_EPOLLRDHUP)
    if ((ngx_event_flags & NGX_USE_EPOLL_EVENT) && ngx_use_epoll_rdhup) {
        if (!ev->pending_eof) {
            return;
        }

        goto closed;
    }
#endif

    n = recv(c->fd, buf, 1, MSG_PEEK);
    err = ngx_socket_errno;

    if (n > 0 || (n == -1 && err == NGX_EAGAIN)) {
        /* a pipelined request, or nothing: it waits */
        if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && ev->active) {
            (void) ngx_del_event(ev, NGX_READ_EVENT, 0);
        }

        return;
    }

#if (NGX_HAVE_EPOLLRDHUP)
closed:
#endif

    ev->eof = 1;
    c->error = 1;

gone:

    if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && ev->active) {
        (void) ngx_del_event(ev, NGX_READ_EVENT, 0);
    }

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx != NULL && !ctx->draining && !ctx->body_done
        && ctx->usage != NULL)
    {
        (void) ngx_http_llmopt_drain_start(r, ctx);
    }
}


/*
 * The client went away with the answer under way: what nginx still held
 * for it is dropped (so that the upstream's buffers come free), and from
 * now on the body filter reads the rest of the answer for its usage and
 * sends nothing, for llmopt_drain_timeout at most.  The answer was asked
 * for and (in part) delivered: the provider bills it, and so do budgets.
 */

static ngx_int_t
ngx_http_llmopt_drain_start(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    ngx_chain_t                 *cl;
    ngx_http_llmopt_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);

    ctx->client_gone = ctx->body_sent ? NGX_HTTP_LLMOPT_GONE_DURING
                                      : NGX_HTTP_LLMOPT_GONE_BEFORE;

    if (llcf->drain_timeout == 0) {
        /* llmopt_drain_timeout 0: the request ends, as nginx ends it */
        return NGX_ERROR;
    }

    ctx->draining = 1;

    for (cl = r->out; cl; cl = cl->next) {
        ngx_http_llmopt_consume(cl->buf);
    }

    r->out = NULL;
    r->connection->buffered &= ~NGX_HTTP_WRITE_BUFFERED;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llmopt: the client went away, the answer is read on to "
                  "its usage (%M ms at most)", llcf->drain_timeout);

    ctx->drain_event.handler = ngx_http_llmopt_drain_timeout;
    ctx->drain_event.data = r;
    ctx->drain_event.log = r->connection->log;

    ngx_add_timer(&ctx->drain_event, llcf->drain_timeout);

    return NGX_OK;
}


/* A buffer as if sent: its producer may reuse it. */

static void
ngx_http_llmopt_consume(ngx_buf_t *b)
{
    if (ngx_buf_in_memory(b)) {
        b->pos = b->last;
    }

    if (b->in_file) {
        b->file_pos = b->file_last;
    }
}


/* The body filter while draining: scan, send nothing, settle at the end. */

static ngx_int_t
ngx_http_llmopt_drain(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    llmopt_usage_out_t   res;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ctx->body_done) {
            ngx_http_llmopt_scan(ctx, b);
        }

        ngx_http_llmopt_consume(b);

        if (b->last_buf && !ctx->body_done) {
            (void) llmopt_usage_finish(ctx->usage, &res);
            ctx->body_done = 1;

            if (ctx->drain_event.timer_set) {
                ngx_del_timer(&ctx->drain_event);
            }

            ngx_http_llmopt_outcome(r, ctx);
        }
    }

    return NGX_OK;
}


/*
 * The answer did not end in time: the request ends as nginx ends one
 * whose client stopped reading, through the send timeout's path (the
 * upstream module finalizes the request and lets go of its connection).
 */

static void
ngx_http_llmopt_drain_timeout(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "llmopt: the answer did not end within "
                  "llmopt_drain_timeout of the client's leaving");

    c->write->timedout = 1;
    c->write->handler(c->write);
}


/*
 * Feeds a buffer to the scanner, for what it finds alone: the bytes go on
 * as they are (no strip), or nowhere (draining).
 */

static void
ngx_http_llmopt_scan(ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b)
{
    size_t              len;
    const u_char       *p;
    llmopt_usage_out_t  res;

    if (!ngx_buf_in_memory(b) || b->pos == NULL) {
        /* proxy_cache's file (or a temp file): its bytes read back */
        ngx_http_llmopt_cache_read(ctx, b, ngx_http_llmopt_scan);
        return;
    }

    p = b->pos;
    len = b->last - b->pos;

    if (len && !ctx->sse && ctx->ttft_ms < 0) {
        /* a JSON answer comes whole: its first byte is its first token */
        ctx->ttft_ms = (double) (ngx_http_llmopt_now_ns() - ctx->start_ns)
                       / 1e6;
    }

    while (len) {
        (void) llmopt_usage_feed(ctx->usage, p, len, &res);

        /* a usage chunk to drop (while draining a stripped stream) */
        if (res.consumed == 0 && res.pass + res.drop == 0) {
            break;
        }

        p += res.consumed;
        len -= res.consumed;
    }

    ngx_http_llmopt_first_token(ctx);
}


/*
 * A translated answer: the usage is scanned in the upstream's bytes, which
 * the translation then takes; at their end the outcome is recorded before
 * the last bytes go out, and a JSON answer's header goes first.
 */

static ngx_int_t
ngx_http_llmopt_translated(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_chain_t *in, ngx_chain_t **out)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t         *cl, **last;
    llmopt_usage_out_t   res;

    *out = NULL;
    last = out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        ngx_http_llmopt_scan(ctx, b);

        if (ngx_http_llmopt_xlate_buf(r, ctx, b, &last) != NGX_OK) {
            return NGX_ERROR;
        }

        if (!b->last_buf) {
            continue;
        }

        (void) llmopt_usage_finish(ctx->usage, &res);
        ctx->body_done = 1;

        ngx_http_llmopt_outcome(r, ctx);

        if (ngx_http_llmopt_xlate_end(r, ctx, &last) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->xlate->held) {
            ctx->xlate->held = 0;

            rc = ngx_http_next_header_filter(r);

            if (rc == NGX_ERROR || rc > NGX_OK) {
                return rc;
            }
        }

        break;
    }

    return NGX_OK;
}


/*
 * The usage chunk that the router asked for is cut out of an OpenAI
 * stream.  Every byte sent on is a copy (held bytes, and bytes of the
 * upstream's buffers), so the upstream can reuse its buffers at once; the
 * contract of llmopt_usage_feed() is in docs/USAGE.md.
 */

static ngx_int_t
ngx_http_llmopt_strip(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    ngx_chain_t *in, ngx_chain_t **out)
{
    size_t               len;
    ngx_buf_t           *b;
    ngx_chain_t         *cl, **last, *tl;
    const u_char        *p;
    llmopt_usage_out_t   res;

    *out = NULL;
    last = out;

    if (ctx->hold == NULL) {
        ctx->hold = ngx_palloc(r->pool, LLMOPT_USAGE_HOLD_MAX);
        if (ctx->hold == NULL) {
            return NGX_ERROR;
        }
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b) && b->pos != NULL) {
            p = b->pos;
            len = b->last - b->pos;

            while (len) {
                (void) llmopt_usage_feed(ctx->usage, p, len, &res);

                if (ngx_http_llmopt_emit(r, ctx, p, res.pass, &last)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                ngx_http_llmopt_keep(ctx, p, res.pass + res.drop, res.hold);

                if (res.consumed == 0 && res.pass + res.drop == 0) {
                    break;
                }

                p += res.consumed;
                len -= res.consumed;
            }

            ngx_http_llmopt_first_token(ctx);

            b->pos = b->last;

        } else if (ngx_buf_size(b)) {
            /*
             * A buffer in a temp file (proxy_buffering on with a long
             * response) is not read back: what is held goes out, the
             * buffer follows as it is, and nothing more is cut.
             */

            if (ngx_http_llmopt_emit(r, ctx, NULL, ctx->held, &last)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ctx->held = 0;
            ctx->strip = 0;

            tl = ngx_alloc_chain_link(r->pool);
            if (tl == NULL) {
                return NGX_ERROR;
            }

            tl->buf = b;
            tl->next = cl->next;
            *last = tl;

            return NGX_OK;
        }

        if (b->last_buf) {
            (void) llmopt_usage_finish(ctx->usage, &res);

            if (ngx_http_llmopt_emit(r, ctx, NULL, res.pass, &last)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ctx->held = 0;
            ctx->body_done = 1;
        }

        if (b->last_buf || b->flush || b->sync) {
            /* carry the flags over on an empty buffer of our own */

            tl = ngx_alloc_chain_link(r->pool);
            if (tl == NULL) {
                return NGX_ERROR;
            }

            tl->buf = ngx_calloc_buf(r->pool);
            if (tl->buf == NULL) {
                return NGX_ERROR;
            }

            tl->buf->last_buf = b->last_buf;
            tl->buf->last_in_chain = b->last_in_chain;
            tl->buf->flush = b->flush;
            tl->buf->sync = 1;
            tl->next = NULL;

            *last = tl;
            last = &tl->next;
        }

        if (b->last_buf) {
            break;
        }
    }

    return NGX_OK;
}


/*
 * Sends on the first "pass" bytes of pending = hold[0 .. held) followed by
 * p[...], as one new buffer.
 */

static ngx_int_t
ngx_http_llmopt_emit(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx,
    const u_char *p, size_t pass, ngx_chain_t ***last)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (pass == 0) {
        return NGX_OK;
    }

    b = ngx_create_temp_buf(r->pool, pass);
    if (b == NULL) {
        return NGX_ERROR;
    }

    n = ngx_min(pass, ctx->held);

    b->last = ngx_cpymem(b->last, ctx->hold, n);

    if (pass > n && p != NULL) {
        b->last = ngx_cpymem(b->last, p, pass - n);
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    **last = cl;
    *last = &cl->next;

    return NGX_OK;
}


/* Keeps pending[from .. from + n) as the new hold. */

static void
ngx_http_llmopt_keep(ngx_http_llmopt_ctx_t *ctx, const u_char *p, size_t from,
    size_t n)
{
    size_t  k;

    if (n == 0) {
        ctx->held = 0;
        return;
    }

    if (from < ctx->held) {
        k = ctx->held - from;
        ngx_memmove(ctx->hold, ctx->hold + from, k);
        ngx_memcpy(ctx->hold + k, p, n - k);

    } else {
        ngx_memmove(ctx->hold, p + (from - ctx->held), n);
    }

    ctx->held = n;
}


static void
ngx_http_llmopt_first_token(ngx_http_llmopt_ctx_t *ctx)
{
    if (ctx->ttft_ms < 0 && ctx->usage->first_content_offset >= 0) {
        ctx->ttft_ms = (double) (ngx_http_llmopt_now_ns() - ctx->start_ns)
                       / 1e6;
    }
}


/*
 * A 429's Retry-After: seconds or an HTTP date; 0 when absent or bad.  At
 * most an hour.
 */

static ngx_int_t
ngx_http_llmopt_retry_value(ngx_table_elt_t *h, void *data)
{
    time_t       t;
    ngx_int_t    n;
    ngx_msec_t  *ms = data;

    n = ngx_atoi(h->value.data, h->value.len);

    if (n == NGX_ERROR) {
        t = ngx_parse_http_time(h->value.data, h->value.len);
        n = t == NGX_ERROR || t <= ngx_time() ? 0 : t - ngx_time();
    }

    *ms = (ngx_msec_t) ngx_min(n, 3600) * 1000;

    return NGX_DONE;
}


ngx_msec_t
ngx_http_llmopt_retry_after(ngx_http_request_t *r)
{
    ngx_msec_t  ms;

    static ngx_str_t  name = ngx_string("Retry-After");

    ms = 0;

    (void) ngx_http_llmopt_headers(&r->upstream->headers_in.headers, &name,
                                   ngx_http_llmopt_retry_value, &ms);

    return ms;
}


/* "1", "0", "0.75", "1.0": a plain decimal in [0, 1]; else -1 */

static ngx_int_t
ngx_http_llmopt_score_value(ngx_table_elt_t *h, void *data)
{
    u_char      *p, *end;
    double       v, scale, *out = data;
    ngx_uint_t   digits;

    p = h->value.data;
    end = p + h->value.len;

    v = 0;
    digits = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        digits++;
    }

    if (p < end && *p == '.') {
        p++;
        scale = 0.1;

        while (p < end && *p >= '0' && *p <= '9') {
            v += (*p++ - '0') * scale;
            scale /= 10;
            digits++;
        }
    }

    *out = (digits == 0 || p != end || v > 1) ? -2 : v;

    return NGX_DONE;
}


/* A score in [0, 1] from an upstream response header; -1 if none. */

static double
ngx_http_llmopt_header_score(ngx_http_request_t *r, ngx_str_t *name)
{
    double  v;

    v = -1;

    (void) ngx_http_llmopt_headers(&r->upstream->headers_in.headers, name,
                                   ngx_http_llmopt_score_value, &v);

    if (v == -2) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "llmopt: ignored quality header \"%V\", not a number "
                      "in [0, 1]", name);
        return -1;
    }

    return v;
}

