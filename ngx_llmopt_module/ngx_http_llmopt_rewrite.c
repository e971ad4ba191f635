
/*
 * Copyright (C) llmopt authors
 *
 * What goes upstream for the arm decided: the body rewritten for its
 * model and settings (an OpenAI stream asked for its usage chunk), the
 * headers built anew from the client's for its provider (credentials of
 * the client kept from it), the request id and the W3C trace context.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if (NGX_LINUX)
#include <sys/random.h>
#endif

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_rewrite.h"

#include "llmopt_rewrite.h"


static ngx_int_t ngx_http_llmopt_stream_options(ngx_http_request_t *r,
    llmopt_request_t *req, ngx_str_t *opts);
static ngx_int_t ngx_http_llmopt_found_header(ngx_table_elt_t *h,
    void *data);
static ngx_uint_t ngx_http_llmopt_credential(ngx_str_t *key);
static ngx_uint_t ngx_http_llmopt_named(ngx_str_t *key, ngx_keyval_t *kv,
    ngx_uint_t n);
static u_char *ngx_http_llmopt_random(ngx_http_request_t *r, size_t n);


ngx_int_t
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

ngx_int_t
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

void
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

ngx_int_t
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
