
/*
 * Copyright (C) llmopt authors
 *
 * The delayed-feedback endpoint (llmopt_feedback):
 *
 *     POST {"id": "<32 hex>", "score": 0.8}
 *     POST {"token": "<32 hex>.<64 hex>", "score": 0.8}
 *
 * The id is the routed request's X-LLMOpt-Request-Id; a token is the
 * X-LLMOpt-Feedback-Token sent with llmopt_feedback_secret, the id signed
 * with HMAC-SHA256.  The score is joined, under the zone's mutex, to the
 * outcome waiting in the pending table and the outcome goes to the
 * trainer.  Every answer is counted; nothing but a FOUND outcome is ever
 * touched, so no feedback changes another request's reward.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_feedback.h"

#include "llmopt_feedback.h"


static ngx_int_t ngx_http_llmopt_feedback_handler(ngx_http_request_t *r);
static void ngx_http_llmopt_feedback_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_feedback_process(ngx_http_request_t *r,
    u_char *body, size_t len);
static ngx_int_t ngx_http_llmopt_feedback_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *msg);
static ngx_int_t ngx_http_llmopt_feedback_answer(ngx_http_request_t *r,
    ngx_uint_t kind, ngx_uint_t status, const char *code, const char *msg,
    u_char *id);


char *
ngx_http_llmopt_feedback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_loc_conf_t *llcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (llcf->feedback) {
        return "is duplicate";
    }

    llcf->feedback = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_llmopt_feedback_handler;

    return NGX_CONF_OK;
}


/*
 * The key of a tenant in the pending table (llmopt_pending_insert, _take):
 * 64 bits of HMAC-SHA256 of the tenant key's value (len 0: none, which is
 * a tenant of its own), keyed with the table's random seed, so that no
 * tenant can search for a value that passes for another's.  Never 0 (any
 * tenant).  NGX_ERROR leaves UINT64_MAX, which no feedback is given.
 */

ngx_int_t
ngx_http_llmopt_feedback_tenant(ngx_http_llmopt_main_conf_t *lmcf,
    u_char *tenant, size_t len, uint64_t *key)
{
    unsigned int  n;
    u_char        md[EVP_MAX_MD_SIZE];

    *key = UINT64_MAX;

    if (lmcf->sh == NULL || lmcf->sh->pending == NULL) {
        /* nothing waits for feedback */
        return NGX_OK;
    }

    n = 0;

    if (HMAC(EVP_sha256(), &lmcf->sh->pending->seed, sizeof(uint64_t),
             len ? tenant : (u_char *) "", len, md, &n)
        == NULL || n < sizeof(uint64_t))
    {
        return NGX_ERROR;
    }

    ngx_memcpy(key, md, sizeof(uint64_t));

    if (*key == 0 || *key == UINT64_MAX) {
        *key = 1;
    }

    return NGX_OK;
}


/* out: 32 hex digits of the id, '.', 64 hex digits of the HMAC */

ngx_int_t
ngx_http_llmopt_feedback_token(ngx_str_t *secret, u_char *id_hex, u_char *out)
{
    unsigned int  len;
    u_char        md[EVP_MAX_MD_SIZE];

    len = 0;

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, id_hex, 32, md,
             &len)
        == NULL || len != 32)
    {
        return NGX_ERROR;
    }

    out = ngx_cpymem(out, id_hex, 32);
    *out++ = '.';
    (void) ngx_hex_dump(out, md, 32);

    return NGX_OK;
}


static ngx_int_t
ngx_http_llmopt_feedback_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                    *type;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (ngx_http_llmopt_page_headers(r, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (lmcf->sh == NULL || lmcf->sh->pending == NULL) {
        return ngx_http_llmopt_send_error(r, LLMOPT_DIALECT_OPENAI,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "server_error",
                   "no_zone", (u_char *) "llmopt has no zone to keep "
                   "feedback in", sizeof("llmopt has no zone to keep "
                                         "feedback in") - 1);
    }

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_llmopt_add_header(r, "Allow", (u_char *) "POST", 4)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_llmopt_feedback_refuse(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed", "Feedback is sent with POST.");
    }

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0)
    {
        return ngx_http_llmopt_feedback_refuse(r,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                   "Unsupported Content-Type: feedback is application/json.");
    }

    if (r->headers_in.content_length_n > LLMOPT_FEEDBACK_MAX) {
        return ngx_http_llmopt_feedback_refuse(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "Feedback is at most 4096 bytes.");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_llmopt_feedback_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_llmopt_feedback_body(ngx_http_request_t *r)
{
    u_char       *p, *body;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    u_char        buf[LLMOPT_FEEDBACK_MAX];

    len = 0;
    p = buf;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            n = b->file_last - b->file_pos;

            if (len + n > LLMOPT_FEEDBACK_MAX) {
                goto too_large;
            }

            n = ngx_read_file(b->file, p, n, b->file_pos);
            if (n == NGX_ERROR) {
                ngx_http_finalize_request(r,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

        } else {
            n = b->last - b->pos;

            if (len + n > LLMOPT_FEEDBACK_MAX) {
                goto too_large;
            }

            ngx_memcpy(p, b->pos, n);
        }

        p += n;
        len += n;
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(body, buf, len);
    body[len] = '\0';

    ngx_http_finalize_request(r,
                              ngx_http_llmopt_feedback_process(r, body, len));
    return;

too_large:

    ngx_http_finalize_request(r, ngx_http_llmopt_feedback_answer(r,
                                 NGX_HTTP_LLMOPT_FB_MALFORMED,
                                 NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 "request_too_large",
                                 "Feedback is at most 4096 bytes.", NULL));
}


static ngx_int_t
ngx_http_llmopt_feedback_process(ngx_http_request_t *r, u_char *body,
    size_t len)
{
    u_char                       *hex;
    uint64_t                      key;
    ngx_str_t                     tenant;
    llmopt_err_t                  err;
    llmopt_event_t                ev;
    llmopt_feedback_t             fb;
    llmopt_pending_e              found;
    ngx_http_llmopt_loc_conf_t   *llcf;
    ngx_http_llmopt_main_conf_t  *lmcf;
    u_char                        expect[32 + 1 + 64];

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    ngx_memzero(&err, sizeof(llmopt_err_t));

    if (llmopt_feedback_parse(body, len, &fb, &err) != LLMOPT_OK) {
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED, NGX_HTTP_BAD_REQUEST,
                   fb.code, err.msg, NULL);
    }

    hex = (u_char *) fb.id_hex;

    if (fb.kind == LLMOPT_FEEDBACK_TOKEN) {

        if (lmcf->feedback_secret.len == 0) {
            return ngx_http_llmopt_feedback_answer(r,
                       NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                       "invalid_token",
                       "Feedback tokens are not enabled here "
                       "(llmopt_feedback_secret); send the \"id\".", NULL);
        }

        if (ngx_http_llmopt_feedback_token(&lmcf->feedback_secret, hex,
                                           expect)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (CRYPTO_memcmp(expect + 33, fb.sig_hex, 64) != 0) {
            return ngx_http_llmopt_feedback_answer(r,
                       NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                       "invalid_token",
                       "The feedback token's signature does not match.",
                       NULL);
        }

    } else if (lmcf->feedback_secret.len) {
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                   "token_required",
                   "This endpoint takes signed feedback tokens "
                   "(X-LLMOpt-Feedback-Token) as \"token\".", NULL);
    }

    /* the tenant key of the feedback request, for feedback_tenant: same */

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_llmopt_module);

    ngx_str_null(&tenant);

    if ((llcf->tenant != NULL
         && ngx_http_complex_value(r, llcf->tenant, &tenant) != NGX_OK)
        || ngx_http_llmopt_feedback_tenant(lmcf, tenant.data, tenant.len,
                                           &key)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(&lmcf->shpool->mutex);
    found = llmopt_pending_take(lmcf->sh->pending, fb.id, key, &ev);
    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    switch (found) {

    case LLMOPT_PENDING_FOREIGN:
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                   "tenant_mismatch",
                   "This request takes feedback from its own tenant only.",
                   hex);

    case LLMOPT_PENDING_FOUND:
        ev.quality = (float) fb.score;
        ev.done_ms = ngx_http_llmopt_wall_ms();

        if (llmopt_ring_push(lmcf->sh->ring, &ev) != LLMOPT_OK) {
            return ngx_http_llmopt_feedback_answer(r,
                       NGX_HTTP_LLMOPT_FB_EXPIRED,
                       NGX_HTTP_SERVICE_UNAVAILABLE, "overloaded",
                       "The trainer is behind and this feedback was lost.",
                       hex);
        }

        return ngx_http_llmopt_feedback_answer(r, NGX_HTTP_LLMOPT_FB_ACCEPTED,
                                               NGX_HTTP_OK, NULL, NULL, hex);

    case LLMOPT_PENDING_DUPLICATE:
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_DUPLICATE, NGX_HTTP_CONFLICT,
                   "duplicate_feedback",
                   "Feedback for this request was given already.", hex);

    case LLMOPT_PENDING_EXPIRED:
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_EXPIRED, 410, "feedback_expired",
                   "The wait for this request's feedback has ended; its "
                   "reward is final.", hex);

    default:
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_UNKNOWN, NGX_HTTP_NOT_FOUND,
                   "unknown_request",
                   "No routed request with this id awaits feedback.", hex);
    }

}


/*
 * Refuses feedback on its headers alone (a malformed answer): the body is
 * discarded unread, with no "100 Continue" asking the client for it, as
 * nginx does for client_max_body_size.
 */

static ngx_int_t
ngx_http_llmopt_feedback_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *msg)
{
    ngx_int_t  rc;

    r->expect_tested = 1;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_llmopt_feedback_answer(r, NGX_HTTP_LLMOPT_FB_MALFORMED,
                                           status, code, msg, NULL);
}


static ngx_int_t
ngx_http_llmopt_feedback_answer(ngx_http_request_t *r, ngx_uint_t kind,
    ngx_uint_t status, const char *code, const char *msg, u_char *id)
{
    ngx_buf_t                    *b;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    if (lmcf->sh != NULL) {
        (void) ngx_atomic_fetch_add(&lmcf->sh->feedback[kind], 1);
    }

    if (status != NGX_HTTP_OK) {
        return ngx_http_llmopt_send_error(r, LLMOPT_DIALECT_OPENAI, status,
                   status >= 500 ? "server_error" : "invalid_request_error",
                   code, (u_char *) msg, ngx_strlen(msg));
    }

    b = ngx_create_temp_buf(r->pool, sizeof("{\"status\":\"accepted\","
                                            "\"id\":\"\"}\n") + 32);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":\"accepted\",\"id\":\"%*s\"}\n",
                          (size_t) 32, id);
    return ngx_http_llmopt_send_json(r, NGX_HTTP_OK, b);
}


