
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

#include "ngx_http_llmopt_module.h"
#include "llmopt_json.h"


#define NGX_HTTP_LLMOPT_FEEDBACK_MAX   4096


static ngx_int_t ngx_http_llmopt_feedback_handler(ngx_http_request_t *r);
static void ngx_http_llmopt_feedback_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_feedback_process(ngx_http_request_t *r,
    u_char *body, size_t len);
static ngx_int_t ngx_http_llmopt_feedback_answer(ngx_http_request_t *r,
    ngx_uint_t kind, ngx_uint_t status, const char *code, const char *msg,
    u_char *id);
static ngx_int_t ngx_http_llmopt_unhex(u_char *dst, const u_char *src,
    size_t len);


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

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed",
                   "Feedback is sent with POST.", NULL);
    }

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                   "Unsupported Content-Type: feedback is application/json.",
                   NULL);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_LLMOPT_FEEDBACK_MAX) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "Feedback is at most 4096 bytes.", NULL);
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
    u_char        buf[NGX_HTTP_LLMOPT_FEEDBACK_MAX];

    len = 0;
    p = buf;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            n = b->file_last - b->file_pos;

            if (len + n > NGX_HTTP_LLMOPT_FEEDBACK_MAX) {
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

            if (len + n > NGX_HTTP_LLMOPT_FEEDBACK_MAX) {
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
    int                           id_tok, token_tok, score_tok;
    char                         *end;
    double                        score;
    unsigned                      count;
    u_char                       *s, *hex;
    size_t                        slen;
    llmopt_err_t                  err;
    llmopt_event_t                ev;
    llmopt_pending_e              found;
    llmopt_json_tok_t             toks[64];
    ngx_http_llmopt_main_conf_t  *lmcf;
    u_char                        id[LLMOPT_REQUEST_ID_LEN];
    u_char                        expect[32 + 1 + 64];
    u_char                        num[64];

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    ngx_memzero(&err, sizeof(llmopt_err_t));

    if (llmopt_json_parse(body, len, toks, 64, 8, &count, &err)
        != LLMOPT_OK)
    {
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED, NGX_HTTP_BAD_REQUEST,
                   "invalid_json", err.msg[0] ? err.msg
                                              : "Feedback must be a small "
                                                "JSON object.", NULL);
    }

    id_tok = llmopt_json_member(body, toks, count, 0, "id", 2);
    token_tok = llmopt_json_member(body, toks, count, 0, "token", 5);
    score_tok = llmopt_json_member(body, toks, count, 0, "score", 5);

    /* the score: a number in [0, 1] */

    if (score_tok < 0
        || llmopt_json_kind(body, &toks[score_tok]) != LLMOPT_JSON_NUMBER)
    {
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED, NGX_HTTP_BAD_REQUEST,
                   "invalid_score",
                   "\"score\" must be a number from 0 to 1.", NULL);
    }

    slen = toks[score_tok].end - toks[score_tok].start;

    if (slen >= sizeof(num)) {
        slen = sizeof(num) - 1;
    }

    ngx_memcpy(num, body + toks[score_tok].start, slen);
    num[slen] = '\0';

    score = strtod((char *) num, &end);

    if (*end != '\0' || !(score >= 0.0 && score <= 1.0)) {
        return ngx_http_llmopt_feedback_answer(r,
                   NGX_HTTP_LLMOPT_FB_MALFORMED, NGX_HTTP_BAD_REQUEST,
                   "invalid_score",
                   "\"score\" must be a number from 0 to 1.", NULL);
    }

    /* the id, bare or in a signed token */

    if (token_tok >= 0) {
        if (llmopt_json_kind(body, &toks[token_tok]) != LLMOPT_JSON_STRING) {
            goto bad_id;
        }

        s = body + toks[token_tok].start;
        slen = toks[token_tok].end - toks[token_tok].start;

        if (slen != sizeof(expect) || s[32] != '.'
            || ngx_http_llmopt_unhex(id, s, 32) != NGX_OK)
        {
            goto bad_id;
        }

        if (lmcf->feedback_secret.len == 0) {
            return ngx_http_llmopt_feedback_answer(r,
                       NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                       "invalid_token",
                       "Feedback tokens are not enabled here "
                       "(llmopt_feedback_secret); send the \"id\".", NULL);
        }

        ngx_strlow(s, s, 32);

        if (ngx_http_llmopt_feedback_token(&lmcf->feedback_secret, s, expect)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_strlow(s + 33, s + 33, 64);

        if (CRYPTO_memcmp(expect, s, sizeof(expect)) != 0) {
            return ngx_http_llmopt_feedback_answer(r,
                       NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                       "invalid_token",
                       "The feedback token's signature does not match.",
                       NULL);
        }

        hex = s;

    } else if (id_tok >= 0) {
        if (llmopt_json_kind(body, &toks[id_tok]) != LLMOPT_JSON_STRING) {
            goto bad_id;
        }

        s = body + toks[id_tok].start;
        slen = toks[id_tok].end - toks[id_tok].start;

        if (slen != 32 || ngx_http_llmopt_unhex(id, s, 32) != NGX_OK) {
            goto bad_id;
        }

        if (lmcf->feedback_secret.len) {
            return ngx_http_llmopt_feedback_answer(r,
                       NGX_HTTP_LLMOPT_FB_FORBIDDEN, NGX_HTTP_FORBIDDEN,
                       "token_required",
                       "This endpoint takes signed feedback tokens "
                       "(X-LLMOpt-Feedback-Token) as \"token\".", NULL);
        }

        hex = s;

    } else {
        goto bad_id;
    }

    ngx_strlow(hex, hex, 32);

    ngx_shmtx_lock(&lmcf->shpool->mutex);
    found = llmopt_pending_take(lmcf->sh->pending, id, &ev);
    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    switch (found) {

    case LLMOPT_PENDING_FOUND:
        ev.quality = (float) score;
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

bad_id:

    return ngx_http_llmopt_feedback_answer(r, NGX_HTTP_LLMOPT_FB_MALFORMED,
               NGX_HTTP_BAD_REQUEST, "invalid_id",
               "Feedback needs \"id\": the 32 hex digits of "
               "X-LLMOpt-Request-Id, or \"token\".", NULL);
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


static ngx_int_t
ngx_http_llmopt_unhex(u_char *dst, const u_char *src, size_t len)
{
    ngx_int_t  hi, lo;

    for (/* void */; len >= 2; len -= 2) {
        hi = ngx_hextoi((u_char *) src, 1);
        lo = ngx_hextoi((u_char *) src + 1, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        *dst++ = (u_char) (hi << 4 | lo);
        src += 2;
    }

    return len ? NGX_ERROR : NGX_OK;
}
