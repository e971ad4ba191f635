
/*
 * Copyright (C) llmopt authors
 *
 * A request whose arm speaks another dialect than its client
 * (ngx_http_llmopt_translate.c): the body, the path and the answer
 * translated by the core (src/llmopt_translate.h).
 */

#ifndef _NGX_HTTP_LLMOPT_TRANSLATE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_TRANSLATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "llmopt_translate.h"


/* the largest JSON answer translated; a larger one is a 502 */
#define NGX_HTTP_LLMOPT_XLATE_MAX_ANSWER  (8 * 1024 * 1024)

/* a translated stream's output buffers */
#define NGX_HTTP_LLMOPT_XLATE_BUF         16384


struct ngx_http_llmopt_xlate_s {
    llmopt_xlate_t                x;             /* the core's, kept for
                                                    the answer */
    unsigned                      on:1;          /* this attempt is
                                                    translated */
    unsigned                      stream:1;      /* the answer is SSE */
    unsigned                      held:1;        /* a JSON answer: its
                                                    header waits for the
                                                    whole body */
    unsigned                      over:1;        /* ... which outgrew
                                                    MAX_ANSWER */
    llmopt_xlate_stream_t        *st;            /* a stream's state */
    u_char                       *line;          /* its data buffer */
    size_t                        room;          /* the output room any
                                                    one event fits in */
    u_char                       *answer;        /* the JSON answer */
    size_t                        answer_len;
    size_t                        answer_cap;
    ngx_chain_t                  *free;          /* output buffers */
    ngx_chain_t                  *busy;
};


/*
 * The dialect of arm for the request's client (ctx->dialect): the arm's
 * model's api, or the client's.
 */
llmopt_dialect_e ngx_http_llmopt_arm_dialect(ngx_http_llmopt_ctx_t *ctx,
    ngx_http_llmopt_arm_t *arm);

/*
 * For the arm of ctx: when it speaks the client's dialect, the path as the
 * client sent it and NGX_DECLINED; else the upstream dialect's path, the
 * client's body req translated and parsed anew as the upstream's (req then
 * describes the translation) and NGX_OK; or the status of the 400 sent in
 * the client's dialect (a field with no counterpart) or of another error.
 */
ngx_int_t ngx_http_llmopt_xlate_request(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, llmopt_request_t *req);

/*
 * The header filter of a translated answer: the client's Content-Type, no
 * Content-Length.  NGX_OK: send the header on; NGX_DECLINED: it waits for
 * the end of a JSON answer (ngx_http_llmopt_xlate_end()); NGX_ERROR.
 */
ngx_int_t ngx_http_llmopt_xlate_header(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);

/*
 * Takes the upstream's bytes of b (consumed) and appends the client's to
 * *last: a stream's events as they are translated, a JSON answer's once
 * whole.  NGX_OK or NGX_ERROR.
 */
ngx_int_t ngx_http_llmopt_xlate_buf(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_buf_t *b, ngx_chain_t ***last);

/*
 * The upstream's answer is over: appends the rest of the client's (a
 * stream's end, the translated JSON answer or error, whose status and
 * length are set in r->headers_out) and the last buffer to *last.
 */
ngx_int_t ngx_http_llmopt_xlate_end(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_chain_t ***last);

/* After the body filter sent out: its buffers free again once sent. */
void ngx_http_llmopt_xlate_sent(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_chain_t *out);


#endif /* _NGX_HTTP_LLMOPT_TRANSLATE_H_INCLUDED_ */
