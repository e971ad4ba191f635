
/*
 * Copyright (C) llmopt authors
 *
 * What goes upstream for the arm decided: the body rewritten for its
 * model and settings (an OpenAI stream asked for its usage chunk), first
 * translated when the arm speaks another dialect than the client
 * (ngx_http_llmopt_translate.c), the headers built anew from the client's
 * for its provider (credentials of the client kept from it, or carried
 * over into the other dialect's header), the request id and the W3C trace
 * context.
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
#include "ngx_http_llmopt_translate.h"

#include "llmopt_rewrite.h"


/* what a translated request to Anthropic says when the client did not */
#define NGX_HTTP_LLMOPT_ANTHROPIC_VERSION  "2023-06-01"


static ngx_int_t ngx_http_llmopt_stream_options(ngx_http_request_t *r,
    llmopt_request_t *req, ngx_str_t *opts);
static ngx_int_t ngx_http_llmopt_found_header(ngx_table_elt_t *h,
    void *data);
static ngx_uint_t ngx_http_llmopt_credential(ngx_str_t *key);
static ngx_uint_t ngx_http_llmopt_named(ngx_str_t *key, ngx_keyval_t *kv,
    ngx_uint_t n);
static ngx_int_t ngx_http_llmopt_push_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);
static ngx_uint_t ngx_http_llmopt_foreign(ngx_str_t *key,
    llmopt_dialect_e upstream);
static ngx_int_t ngx_http_llmopt_carry_credential(ngx_http_request_t *r,
    ngx_table_elt_t *h, llmopt_dialect_e upstream);
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
    const llmopt_variant_t *variant;

    arm = &ctx->policy->arms[ctx->arm];

    set = arm->set;
    n = arm->n_set;
    ctx->strip = 0;

    /* another dialect: req is the translation, the arm's params follow */

    rc = ngx_http_llmopt_xlate_request(r, ctx, req);

    if (rc != NGX_OK && rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->shadow) {
        if (rc == NGX_DECLINED) {
            /* the client's body as it is, to the default arm */
            ctx->body_out = ctx->body_in;
            return NGX_OK;
        }

        /* translated, the arm's model: the client's means nothing there */
        n = 1;

    } else if (rc == NGX_DECLINED && ctx->dialect == LLMOPT_DIALECT_OPENAI
               && req->stream && !req->include_usage
               && n < LLMOPT_REQUEST_MAX_SET)
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

    /* the prompt variant decided for the arm, if any */

    variant = ctx->variant >= 0
              ? &ctx->policy->policy->variants[ctx->variant] : NULL;

    size = llmopt_request_rewrite_variant_size(req, set, n, variant);

    b = ngx_http_llmopt_out_buf(r, ctx, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += llmopt_request_rewrite_variant(req, set, n, variant, b->pos);
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
 * An arm of the other dialect (a translated request) gets no header of
 * the client's dialect (anthropic-* to OpenAI, openai-* to Anthropic) nor
 * Accept-Encoding (the answer is translated as it comes); the client's
 * credential, when the arm has none, in the arm's header (Authorization:
 * Bearer <key> <-> x-api-key: <key>); and an Anthropic upstream an
 * anthropic-version when neither side set one.
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
    ngx_uint_t                   i, n, credentials, versioned, translated;
    ngx_keyval_t                *kv;
    llmopt_dialect_e             upstream;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h, *copy;
    ngx_http_llmopt_loc_conf_t  *llcf;

    static ngx_str_t  version = ngx_string("anthropic-version");
    static ngx_str_t  dated = ngx_string(NGX_HTTP_LLMOPT_ANTHROPIC_VERSION);

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);
    pin = &llcf->pin_header;

    upstream = ngx_http_llmopt_arm_dialect(ctx, arm);
    translated = !ctx->passthrough && upstream != ctx->dialect;

    kv = arm->headers.elts;
    credentials = 0;

    for (i = 0; i < arm->headers.nelts; i++) {
        credentials |= ngx_http_llmopt_credential(&kv[i].key);
    }

    versioned = ngx_http_llmopt_named(&version, kv, arm->headers.nelts);

    if (!ctx->headers_kept) {

        if (arm->headers.nelts == 0 && pin->len == 0 && !translated) {
            /* the client's headers as they are */
            return NGX_OK;
        }

        ctx->client_headers = r->headers_in.headers.part;
        ctx->headers_kept = 1;
    }

    n = arm->headers.nelts + 1;

    for (part = &ctx->client_headers; part != NULL; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&r->headers_in.headers, r->pool, n,
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
                       == 0)
                || (translated
                    && ngx_http_llmopt_foreign(&h[i].key, upstream)))
            {
                continue;
            }

            copy = ngx_list_push(&r->headers_in.headers);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            *copy = h[i];

            if (translated && !credentials
                && ngx_http_llmopt_carry_credential(r, copy, upstream)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (h[i].key.len == version.len
                && ngx_strncasecmp(h[i].key.data, version.data, version.len)
                   == 0)
            {
                versioned = 1;
            }
        }
    }

    for (i = 0; i < arm->headers.nelts; i++) {
        if (ngx_http_llmopt_push_header(r, &kv[i].key, &kv[i].value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (translated && upstream == LLMOPT_DIALECT_ANTHROPIC && !versioned) {
        if (ngx_http_llmopt_push_header(r, &version, &dated) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_llmopt_push_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *copy;

    copy = ngx_list_push(&r->headers_in.headers);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    copy->hash = 1;
    copy->key = *key;
    copy->value = *value;
    copy->lowcase_key = ngx_pnalloc(r->pool, key->len);
    if (copy->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(copy->lowcase_key, key->data, key->len);
#if (nginx_version >= 1023000)
    copy->next = NULL;
#endif

    return NGX_OK;
}


/*
 * Headers a translated request does not send: those of the client's own
 * dialect (the other provider's versions, betas, organisations), and
 * Accept-Encoding, so that the answer comes uncompressed.
 */

static ngx_uint_t
ngx_http_llmopt_foreign(ngx_str_t *key, llmopt_dialect_e upstream)
{
    ngx_str_t  *prefix;

    static ngx_str_t  prefixes[] = {
        ngx_string("anthropic-"),           /* to an OpenAI upstream */
        ngx_string("openai-")               /* to an Anthropic upstream */
    };

    if (key->len == sizeof("accept-encoding") - 1
        && ngx_strncasecmp(key->data, (u_char *) "accept-encoding",
                           key->len)
           == 0)
    {
        return 1;
    }

    prefix = &prefixes[upstream == LLMOPT_DIALECT_OPENAI ? 0 : 1];

    return key->len >= prefix->len
           && ngx_strncasecmp(key->data, prefix->data, prefix->len) == 0;
}


/*
 * The client's credential in the upstream dialect's header: an Anthropic
 * upstream's "x-api-key: <key>" from "Authorization: Bearer <key>", an
 * OpenAI upstream's "Authorization: Bearer <key>" from "x-api-key: <key>".
 * Other headers stay as they are.
 */

static ngx_int_t
ngx_http_llmopt_carry_credential(ngx_http_request_t *r, ngx_table_elt_t *h,
    llmopt_dialect_e upstream)
{
    u_char  *p;

    static ngx_str_t  bearer = ngx_string("Bearer ");

    if (upstream == LLMOPT_DIALECT_ANTHROPIC
        && h->key.len == sizeof("authorization") - 1
        && ngx_strncasecmp(h->key.data, (u_char *) "authorization",
                           h->key.len)
           == 0
        && h->value.len > bearer.len
        && ngx_strncasecmp(h->value.data, bearer.data, bearer.len) == 0)
    {
        ngx_str_set(&h->key, "x-api-key");
        h->lowcase_key = (u_char *) "x-api-key";
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
        h->value.data += bearer.len;
        h->value.len -= bearer.len;

        return NGX_OK;
    }

    if (upstream == LLMOPT_DIALECT_OPENAI
        && h->key.len == sizeof("x-api-key") - 1
        && ngx_strncasecmp(h->key.data, (u_char *) "x-api-key", h->key.len)
           == 0)
    {
        p = ngx_pnalloc(r->pool, bearer.len + h->value.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, bearer.data, bearer.len);
        ngx_memcpy(p + bearer.len, h->value.data, h->value.len);

        ngx_str_set(&h->key, "Authorization");
        h->lowcase_key = (u_char *) "authorization";
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
        h->value.data = p;
        h->value.len = bearer.len + h->value.len;
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
