
/*
 * Copyright (C) llmopt authors
 *
 * What a cascade's attempts send and keep (ngx_http_llmopt_cascade.c):
 * the body with "logprobs" asked, the answer without them for a client
 * that did not ask, each tier's extractor in the worker, the open tiers,
 * and the body filter that keeps an answer within the in-memory buffer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "llmopt_cascade.h"
#include "llmopt_rewrite.h"

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_rewrite.h"
#include "ngx_http_llmopt_cascade_body.h"


static ngx_int_t ngx_http_llmopt_cascade_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_body_filter_pt  ngx_http_llmopt_cascade_next;

/* Per worker: each policy's tiers' extractors, compiled on first use. */
static llmopt_cascade_extractor_t  *ngx_http_llmopt_cascade_ex;
static u_char                      *ngx_http_llmopt_cascade_ex_ready;


/* 1 when the client's body has "logprobs": true. */

ngx_uint_t
ngx_http_llmopt_cascade_asked(llmopt_request_t *req)
{
    int  v;

    if (req->ntoks == 0) {
        return 0;
    }

    v = llmopt_json_member(req->body, req->toks, req->ntoks, 0, "logprobs",
                           8);

    return v >= 0
           && llmopt_json_kind(req->body, &req->toks[v]) == LLMOPT_JSON_BOOLEAN
           && req->body[req->toks[v].start] == 't';
}


/*
 * The body for arm with "logprobs": true added to its params, as
 * ngx_http_llmopt_rewrite() writes one (an attempt never streams).
 */

ngx_int_t
ngx_http_llmopt_cascade_rewrite(ngx_http_request_t *sr,
    ngx_http_llmopt_ctx_t *sctx, llmopt_request_t *req,
    ngx_http_llmopt_arm_t *arm)
{
    size_t        size;
    unsigned      n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    llmopt_kv_t   set[LLMOPT_REQUEST_MAX_SET];

    n = (unsigned) arm->n_set;

    if (n >= LLMOPT_REQUEST_MAX_SET) {
        return ngx_http_llmopt_rewrite(sr, sctx, req);
    }

    ngx_memcpy(set, arm->set, n * sizeof(llmopt_kv_t));
    set[n].key.data = "logprobs";
    set[n].key.len = sizeof("logprobs") - 1;
    set[n].json.data = "true";
    set[n].json.len = sizeof("true") - 1;
    n++;

    size = llmopt_request_rewrite_size(req, set, n);

    b = ngx_http_llmopt_out_buf(sr, sctx, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += llmopt_request_rewrite(req, set, n, b->pos);
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(sr->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    sr->request_body->bufs = cl;
    sr->request_body->buf = b;

    sctx->body_out = b->last - b->pos;
    sr->headers_in.content_length_n = sctx->body_out;

    return NGX_OK;
}


/* body with choices[0].logprobs null, as when nobody asked; body itself
   when it has none (or no memory for the copy). */

ngx_buf_t *
ngx_http_llmopt_cascade_strip(ngx_pool_t *pool, ngx_buf_t *body,
    const llmopt_json_tok_t *toks, unsigned ntoks)
{
    u_char     *p;
    size_t      start, end, len;
    ngx_buf_t  *b;

    if (llmopt_cascade_answer_logprobs_span(body->pos, toks, ntoks, &start,
                                            &end)
        != LLMOPT_OK)
    {
        return body;
    }

    len = body->last - body->pos;

    b = ngx_create_temp_buf(pool, len - (end - start) + 4);
    if (b == NULL) {
        return body;
    }

    p = ngx_cpymem(b->last, body->pos, start);
    p = ngx_cpymem(p, "null", 4);
    p = ngx_cpymem(p, body->pos + end, len - end);
    b->last = p;

    return b;
}


/* 1 when every arm of tier of prt has its circuit open at now. */

ngx_uint_t
ngx_http_llmopt_cascade_skip(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t tier, uint64_t now)
{
    ngx_uint_t                    i;
    const llmopt_tier_t          *t;
    ngx_http_llmopt_arm_stats_t  *as;

    t = &prt->policy->cascade.tiers[tier];

    for (i = 0; i < t->n_arms; i++) {
        as = &prt->stats->arms[t->arms[i]];

        if (as->breaker_open_until_ms <= now) {
            return 0;
        }
    }

    return 1;
}


/* The extractor of tier of prt in this worker: its regex compiled once. */

llmopt_cascade_extractor_t *
ngx_http_llmopt_cascade_extractor(ngx_http_request_t *r,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t tier)
{
    ngx_uint_t                    k, n;
    llmopt_err_t                  err;
    const llmopt_tier_t          *t;
    llmopt_cascade_extractor_t   *ex;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    n = lmcf->policies.nelts * LLMOPT_CASCADE_MAX_TIERS;

    if (ngx_http_llmopt_cascade_ex == NULL) {
        /* for the worker's life: a reload is a new worker */
        ngx_http_llmopt_cascade_ex = ngx_calloc(
                                    n * sizeof(llmopt_cascade_extractor_t),
                                    r->connection->log);
        ngx_http_llmopt_cascade_ex_ready = ngx_calloc(n, r->connection->log);

        if (ngx_http_llmopt_cascade_ex == NULL
            || ngx_http_llmopt_cascade_ex_ready == NULL)
        {
            ngx_http_llmopt_cascade_ex = NULL;
            return NULL;
        }
    }

    k = (prt - (ngx_http_llmopt_policy_rt_t *) lmcf->policies.elts)
        * LLMOPT_CASCADE_MAX_TIERS + tier;
    ex = &ngx_http_llmopt_cascade_ex[k];

    if (!ngx_http_llmopt_cascade_ex_ready[k]) {
        t = &prt->policy->cascade.tiers[tier];
        ngx_memzero(&err, sizeof(llmopt_err_t));

        /* checked when the catalog was loaded: it compiles */
        if (llmopt_cascade_extractor_init(ex, t->regex.len ? t->regex.data
                                                           : NULL, &err)
            != LLMOPT_OK)
        {
            ngx_memzero(ex, sizeof(llmopt_cascade_extractor_t));
        }

        ngx_http_llmopt_cascade_ex_ready[k] = 1;
    }

    return ex;
}


ngx_int_t
ngx_http_llmopt_cascade_filter_init(ngx_conf_t *cf)
{
    ngx_http_llmopt_cascade_next = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_llmopt_cascade_body_filter;

    return NGX_OK;
}


/* An attempt's answer kept up to the in-memory buffer, the rest dropped. */

static ngx_int_t
ngx_http_llmopt_cascade_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                      size, room;
    ngx_chain_t               *cl, *out, **ll;
    ngx_http_llmopt_ctx_t     *sctx;
    ngx_http_core_loc_conf_t  *clcf;

    if (r == r->main || !r->subrequest_in_memory) {
        return ngx_http_llmopt_cascade_next(r, in);
    }

    sctx = ngx_http_get_module_ctx(r, ngx_http_llmopt_module);

    if (sctx == NULL) {
        return ngx_http_llmopt_cascade_next(r, in);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->headers_out.content_length_n > (off_t)
                                          clcf->subrequest_output_buffer_size)
    {
        /* the buffer is made at its full size, the answer cut below */
        r->headers_out.content_length_n = -1;
    }

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {

        if (!ngx_buf_special(cl->buf) && !cl->buf->in_file) {
            size = cl->buf->last - cl->buf->pos;
            room = (off_t) clcf->subrequest_output_buffer_size - sctx->kept;

            if (sctx->too_big || size > room) {
                /* consumed, and not passed on: no empty buffer goes */
                sctx->too_big = 1;
                cl->buf->pos = cl->buf->last;
                continue;
            }

            sctx->kept += size;
        }

        *ll = ngx_alloc_chain_link(r->pool);
        if (*ll == NULL) {
            return NGX_ERROR;
        }

        (*ll)->buf = cl->buf;
        ll = &(*ll)->next;
    }

    *ll = NULL;

    if (out == NULL && in != NULL) {
        return NGX_OK;
    }

    return ngx_http_llmopt_cascade_next(r, out);
}
