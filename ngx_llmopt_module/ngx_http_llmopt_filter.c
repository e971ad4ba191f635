
/*
 * Copyright (C) llmopt authors
 *
 * What comes back: the header filter notes the status, the stream type and
 * an evaluator's quality header and hands the client its request id; the
 * body filter scans the response for usage as it passes (llmopt_usage.c),
 * without buffering it, and removes the usage chunk the router asked for;
 * the log phase settles the outcome (tokens, cost, latency, reward) and
 * pushes it to the trainer's ring, or parks it in the pending table when
 * the policy waits for feedback.  A client that leaves once the answer
 * is under way does not end it: the rest is read, unsent, to its usage
 * (llmopt_drain_timeout), and what has no usage is charged an estimate.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_feedback.h"
#include "ngx_http_llmopt_guard.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_filter.h"


static ngx_int_t ngx_http_llmopt_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_llmopt_strip(ngx_http_request_t *r,
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
static void ngx_http_llmopt_outcome(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static void ngx_http_llmopt_count(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_retry_value(ngx_table_elt_t *h,
    void *data);
static ngx_int_t ngx_http_llmopt_score_value(ngx_table_elt_t *h,
    void *data);
static ngx_uint_t ngx_http_llmopt_bucket(const double *bounds, ngx_uint_t n,
    double v);
static void ngx_http_llmopt_client_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_drain_start(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_drain(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_chain_t *in);
static void ngx_http_llmopt_drain_timeout(ngx_event_t *ev);
static void ngx_http_llmopt_consume(ngx_buf_t *b);


const double  ngx_http_llmopt_time_bounds_ms[NGX_HTTP_LLMOPT_TIME_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    HUGE_VAL
};

const double
    ngx_http_llmopt_decision_bounds_ns[NGX_HTTP_LLMOPT_DECISION_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, HUGE_VAL
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_llmopt_filter_init(ngx_conf_t *cf)
{
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
    ngx_str_t                    *type;
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

    type = &r->headers_out.content_type;

    ctx->sse = (type->len >= sizeof("text/event-stream") - 1
                && ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                                   sizeof("text/event-stream") - 1) == 0);

    if (!ctx->sse || ctx->dialect != LLMOPT_DIALECT_OPENAI) {
        ctx->strip = 0;
    }

    ctx->usage = &ctx->usage_mem;

    llmopt_usage_init(ctx->usage, ctx->dialect, ctx->sse, ctx->strip);

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

    if (ctx->strip) {
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

    rc = ngx_http_next_body_filter(r, out);

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
        /* a buffer in a temp file is not read back: usage stays unseen */
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


/*
 * The outcome of a routed request, once: usage, status, cost, latency,
 * and the reward when it is final now (no feedback awaited).  Runs for the
 * first of the log handler and the $llmopt_* variables that needs it.
 */

void
ngx_http_llmopt_settle(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    uint64_t                      elapsed;
    ngx_uint_t                    i, status;
    llmopt_usage_t               *u;
    llmopt_event_t               *ev;
    llmopt_reward_t               rw;
    llmopt_usage_out_t            res;
    const llmopt_model_t         *model;
    llmopt_usage_estimate_t       est;
    ngx_http_upstream_state_t    *state;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_main_conf_t  *lmcf;

    if (ctx->settled) {
        return;
    }

    ctx->settled = 1;

    /* one clock read: the latency, and the wall time it ended */
    elapsed = ngx_http_llmopt_now_ns() - ctx->start_ns;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    prt = ctx->policy;
    u = ctx->usage;

    if (u != NULL && !u->finished) {
        (void) llmopt_usage_finish(u, &res);
    }

    ev = &ctx->event;
    ngx_memzero(ev, sizeof(llmopt_event_t));

    ev->kind = LLMOPT_EVENT_OUTCOME;
    ev->policy = (uint16_t) (prt - (ngx_http_llmopt_policy_rt_t *)
                                   lmcf->policies.elts);
    ev->arm = (uint16_t) ctx->arm;
    ev->d = (uint8_t) ctx->d;
    ev->catalog = lmcf->catalog.version;
    ev->time_ms = ctx->start_ms;
    ev->done_ms = ctx->start_ms + elapsed / 1000000;
    ev->propensity = (float) ctx->propensity;
    ev->quality = (float) ctx->quality;
    ev->cost = -1;
    ngx_memcpy(ev->id, ctx->id, LLMOPT_REQUEST_ID_LEN);

    for (i = 0; i < ctx->d && i < LLMOPT_FEATURE_MAX_DIM; i++) {
        ev->x[i] = (float) ctx->x[i];
    }

    ev->sparse = ctx->sparse;

    if (ctx->explore) {
        ev->flags |= LLMOPT_EVENT_EXPLORE;
    }

    if (ctx->sse) {
        ev->flags |= LLMOPT_EVENT_STREAM;
    }

    /* the upstream's own status; nginx's 502/504 when there was none */

    status = r->headers_out.status;

    if (r->upstream_states != NULL && r->upstream_states->nelts) {
        ev->retries = (uint16_t) ngx_min(r->upstream_states->nelts - 1,
                                         0xffff);

        state = r->upstream_states->elts;
        state = &state[r->upstream_states->nelts - 1];

        if (state->status) {
            status = state->status;
        }

        if (state->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            ev->flags |= LLMOPT_EVENT_TIMEOUT;
        }
    }

    if (r->err_status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ev->flags |= LLMOPT_EVENT_TIMEOUT;
    }

    if (r->connection->error && (u == NULL || !u->complete)) {
        /* the client went away before the end: nothing to learn */
        status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (r->err_status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST && !ctx->client_gone) {
        /* nginx ended it: the client left before the answer came */
        ctx->client_gone = NGX_HTTP_LLMOPT_GONE_BEFORE;
    }

    ev->status = (uint16_t) ngx_min(status, 999);
    ctx->upstream_status = status;

    if (prt->policy->latency_slo_penalise
        && prt->stats->arms[ctx->arm].slo_breach)
    {
        /* its arm breaks the latency SLO: the reward pays for it */
        ev->flags |= LLMOPT_EVENT_SLO;
    }

    model = &lmcf->catalog.models[prt->policy->arms[ctx->arm].model];

    if (u != NULL) {
        ev->finish = (uint8_t) u->finish;

        if (u->upstream_error) {
            ev->flags |= LLMOPT_EVENT_UPSTREAM_ERROR;
        }

        if (u->seen_usage) {
            ev->tokens_in = (uint32_t) ngx_min(u->input_tokens, 0xffffffff);
            ev->tokens_out = (uint32_t) ngx_min(u->output_tokens, 0xffffffff);
            ev->tokens_cached = (uint32_t) ngx_min(u->cached_tokens,
                                                   0xffffffff);
        }
    }

    if (u != NULL && llmopt_usage_final(u)) {
        ev->cost = llmopt_model_cost(model, ev->tokens_in, ev->tokens_cached,
                                     ev->tokens_out);

    } else if ((status >= 200 && status < 300 && u != NULL)
               || (status == NGX_HTTP_CLIENT_CLOSED_REQUEST
                   && r->upstream != NULL && r->upstream->request_sent))
    {
        /*
         * An answer without final usage (the client left, the upstream
         * broke off or never reports usage), or a prompt the provider
         * had when the client left: charged by estimate, never nothing.
         */
        llmopt_usage_estimate(u, ctx->input_est, &est);

        ev->cost = llmopt_model_cost(model, est.input_tokens, 0,
                                     est.output_tokens);
        ev->flags |= LLMOPT_EVENT_ESTIMATED;
        ctx->cost_estimated = 1;
    }

    ctx->cost = ev->cost;

    ctx->latency_ms = (double) elapsed / 1e6;
    ev->latency_ms = (float) ctx->latency_ms;
    ev->ttft_ms = (float) ctx->ttft_ms;

    if (prt->policy->feedback_wait_ms == 0
        && llmopt_reward(&prt->policy->reward, ev, &rw) == LLMOPT_OK)
    {
        ctx->reward = rw.reward;
    }
}


/* The log phase records what the body filter did not see end. */

ngx_int_t
ngx_http_llmopt_log_handler(ngx_http_request_t *r)
{
    ngx_http_llmopt_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx == NULL || !ctx->routed || ctx->passthrough || ctx->rejected
        || ctx->logged)
    {
        return NGX_OK;
    }

    ngx_http_llmopt_outcome(r, ctx);

    return NGX_OK;
}


/*
 * The outcome goes to the trainer's ring, or to the pending table when
 * its policy waits for feedback.  Once per request: at the end of the
 * response body, or in the log phase when there was no end to see.
 */

/*
 * The first arm failed and llmopt_failover tries another: the failure is
 * an outcome of that arm (counted, learned as a failure, told to its
 * circuit breaker), and the request starts over for the next one.
 */

void
ngx_http_llmopt_attempt_failed(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    ngx_http_llmopt_settle(r, ctx);
    ngx_http_llmopt_count(r, ctx);
    ngx_http_llmopt_budget_spend(r, ctx, ctx->event.cost, 0);

    if (lmcf->sh != NULL && lmcf->sh->ring != NULL) {
        /* final at once: feedback is for the answer the client gets */
        (void) llmopt_ring_push(lmcf->sh->ring, &ctx->event);
    }

    ctx->settled = 0;
    ctx->logged = 0;
    ctx->filtering = 0;
    ctx->usage = NULL;
    ctx->hold = NULL;
    ctx->held = 0;
    ctx->strip = 0;
    ctx->probe = 0;
    ctx->explore = 0;
    ctx->body_sent = 0;
    ctx->cost_estimated = 0;
    ctx->retry_after = 0;
    ctx->quality = -1;
    ctx->ttft_ms = -1;
    ctx->cost = -1;
    ctx->reward = -1;
    ctx->upstream_status = 0;
    ctx->start_ns = ngx_http_llmopt_now_ns();
    ctx->start_ms = ngx_http_llmopt_wall_ms();
}


static void
ngx_http_llmopt_outcome(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    llmopt_event_t                evicted;
    ngx_http_llmopt_shctx_t      *sh;
    ngx_http_llmopt_main_conf_t  *lmcf;

    if (ctx->logged) {
        return;
    }

    ctx->logged = 1;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    sh = lmcf->sh;

    if (sh == NULL || sh->ring == NULL) {
        return;
    }

    /* the slot's lines come from the trainer's core meanwhile */
    llmopt_ring_prefetch(sh->ring, (unsigned) ctx->d);

    ngx_http_llmopt_settle(r, ctx);
    ngx_http_llmopt_count(r, ctx);
    ngx_http_llmopt_budget_spend(r, ctx, ctx->event.cost, 1);

    if (ctx->upstream_status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        /* the trainer counts it as declined; no feedback can follow */
        (void) llmopt_ring_push(sh->ring, &ctx->event);
        return;
    }

    if (ctx->policy->policy->feedback_wait_ms && sh->pending != NULL) {

        ngx_shmtx_lock(&lmcf->shpool->mutex);

        if (llmopt_pending_insert(sh->pending, &ctx->event,
                                  ctx->feedback_tenant,
                                  ngx_http_llmopt_wall_ms(),
                                  ctx->policy->policy->feedback_wait_ms,
                                  &evicted)
            == LLMOPT_OK)
        {
            ngx_shmtx_unlock(&lmcf->shpool->mutex);

            if (evicted.kind != LLMOPT_EVENT_NONE) {
                /* the table is full: the one due first is final now */
                (void) llmopt_ring_push(sh->ring, &evicted);
            }

            return;
        }

        ngx_shmtx_unlock(&lmcf->shpool->mutex);
    }

    (void) llmopt_ring_push(sh->ring, &ctx->event);
}


/* The outcome in the policy's counters and histograms, for the status. */

static void
ngx_http_llmopt_count(ngx_http_request_t *r, ngx_http_llmopt_ctx_t *ctx)
{
    ngx_uint_t                    status;
    llmopt_event_t               *ev;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_arm_stats_t  *as;

    st = ctx->policy->stats;
    as = &st->arms[ctx->arm];
    ev = &ctx->event;
    status = ctx->upstream_status;

    (void) ngx_atomic_fetch_add(&st->decision[ngx_http_llmopt_bucket(
                                    ngx_http_llmopt_decision_bounds_ns,
                                    NGX_HTTP_LLMOPT_DECISION_BUCKETS,
                                    (double) ctx->decision_ns)], 1);
    (void) ngx_atomic_fetch_add(&st->decision_sum_ns, ctx->decision_ns);

    (void) ngx_atomic_fetch_add(&as->outcomes, 1);

    if (ctx->usage != NULL && ctx->usage->seen_usage) {
        (void) ngx_atomic_fetch_add(&as->tokens_in, ev->tokens_in);
        (void) ngx_atomic_fetch_add(&as->tokens_out, ev->tokens_out);
        (void) ngx_atomic_fetch_add(&as->tokens_cached, ev->tokens_cached);
    }

    if (ev->cost > 0) {
        (void) ngx_atomic_fetch_add(&as->cost_nusd,
                                    (ngx_atomic_uint_t) (ev->cost * 1e9
                                                         + 0.5));
    }

    if (ev->flags & LLMOPT_EVENT_ESTIMATED) {
        (void) ngx_atomic_fetch_add(&as->cost_estimated, 1);

        if (ev->cost > 0) {
            (void) ngx_atomic_fetch_add(&as->cost_estimated_nusd,
                                        (ngx_atomic_uint_t) (ev->cost * 1e9
                                                             + 0.5));
        }
    }

    if (ctx->client_gone && status != NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        /* the client left, the answer was read to its end all the same */
        (void) ngx_atomic_fetch_add(&as->drained, 1);
    }

    if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        (void) ngx_atomic_fetch_add(&as->client_gone, 1);

    } else if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        (void) ngx_atomic_fetch_add(&as->rate_limited, 1);

    } else if (status >= 500 || status == 0) {
        (void) ngx_atomic_fetch_add(&as->server_errors, 1);

    } else if (status < 200 || status >= 300
               || (ev->flags & LLMOPT_EVENT_UPSTREAM_ERROR))
    {
        (void) ngx_atomic_fetch_add(&as->other_errors, 1);
    }

    if (ev->flags & LLMOPT_EVENT_TIMEOUT) {
        (void) ngx_atomic_fetch_add(&as->timeouts, 1);
    }

    /* the circuit breaker learns of failures: 429, 5xx, no answer */

    if (status != NGX_HTTP_CLIENT_CLOSED_REQUEST
        && (ctx->policy->policy->breaker_failures
            || ctx->policy->policy->breaker_error_rate > 0))
    {
        ngx_http_llmopt_breaker_outcome(ctx,
            status == NGX_HTTP_TOO_MANY_REQUESTS || status >= 500
            || status == 0 || (ev->flags & LLMOPT_EVENT_TIMEOUT),
            ngx_http_llmopt_wall_ms(), r->connection->log);
    }

    (void) ngx_atomic_fetch_add(&as->latency[ngx_http_llmopt_bucket(
                                    ngx_http_llmopt_time_bounds_ms,
                                    NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                    ctx->latency_ms)], 1);
    (void) ngx_atomic_fetch_add(&as->latency_sum_us,
                                (ngx_atomic_uint_t) (ctx->latency_ms * 1000));

    if (ctx->ttft_ms >= 0) {
        (void) ngx_atomic_fetch_add(&as->ttft[ngx_http_llmopt_bucket(
                                        ngx_http_llmopt_time_bounds_ms,
                                        NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                        ctx->ttft_ms)], 1);
        (void) ngx_atomic_fetch_add(&as->ttft_sum_us,
                                    (ngx_atomic_uint_t) (ctx->ttft_ms * 1000));
    }
}


static ngx_uint_t
ngx_http_llmopt_bucket(const double *bounds, ngx_uint_t n, double v)
{
    ngx_uint_t  i;

    for (i = 0; i + 1 < n && v > bounds[i]; i++) {
        /* void */
    }

    return i;
}
