
/*
 * Copyright (C) llmopt authors
 *
 * HTTP helpers of the glue: answers in JSON (an error in the client's
 * dialect), the headers of llmopt's own pages, walking and adding
 * headers, the endpoints of the dialects, and the clocks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"


/* the path a routed location's POSTs go to, by dialect */

static ngx_str_t  ngx_http_llmopt_endpoints[] = {
    ngx_string("/chat/completions"),       /* LLMOPT_DIALECT_OPENAI */
    ngx_string("/messages"),               /* LLMOPT_DIALECT_ANTHROPIC */
    ngx_string("/responses")               /* LLMOPT_DIALECT_RESPONSES */
};


/*
 * An error in the client's dialect:
 *   OpenAI    {"error":{"message":..,"type":..,"param":null,"code":..}}
 *             (the Responses API's too)
 *   Anthropic {"type":"error","error":{"type":..,"message":..}}
 */

ngx_int_t
ngx_http_llmopt_send_error(ngx_http_request_t *r, llmopt_dialect_e dialect,
    ngx_uint_t status, const char *type, const char *code, u_char *msg,
    size_t len)
{
    size_t        size;
    ngx_buf_t    *b;

    size = sizeof("{\"type\":\"error\",\"error\":{\"type\":\"\",\"message\":\"\","
                  "\"param\":null,\"code\":\"\"}}\n")
           + ngx_strlen(type) + (code ? ngx_strlen(code) : 4)
           + len + ngx_escape_json(NULL, msg, len);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (dialect == LLMOPT_DIALECT_ANTHROPIC) {
        b->last = ngx_sprintf(b->last,
                              "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                              "\"message\":\"", type);
        b->last = (u_char *) ngx_escape_json(b->last, msg, len);
        b->last = ngx_cpymem(b->last, "\"}}\n", sizeof("\"}}\n") - 1);

    } else {
        b->last = ngx_cpymem(b->last, "{\"error\":{\"message\":\"",
                             sizeof("{\"error\":{\"message\":\"") - 1);
        b->last = (u_char *) ngx_escape_json(b->last, msg, len);
        b->last = ngx_sprintf(b->last, "\",\"type\":\"%s\",\"param\":null,"
                              "\"code\":", type);

        if (code != NULL) {
            b->last = ngx_sprintf(b->last, "\"%s\"}}\n", code);

        } else {
            b->last = ngx_cpymem(b->last, "null}}\n", sizeof("null}}\n") - 1);
        }
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_http_llmopt_send_json(r, status, b);
}


/* Sends b, a whole JSON document, as the response with this status. */

ngx_int_t
ngx_http_llmopt_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b)
{
    ngx_str_t  type = ngx_string("application/json");

    return ngx_http_llmopt_send_body(r, status, &type, b);
}


/* Sends b as the whole response, of this status and content type. */

ngx_int_t
ngx_http_llmopt_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    u_char      *semicolon;
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type = *type;
    semicolon = ngx_strlchr(type->data, type->data + type->len, ';');
    r->headers_out.content_type_len = semicolon ? (size_t) (semicolon
                                                            - type->data)
                                                : type->len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


uint64_t
ngx_http_llmopt_now_ns(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


uint64_t
ngx_http_llmopt_wall_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


ngx_int_t
ngx_http_llmopt_add_header(ngx_http_request_t *r, char *name, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/*
 * Calls fn for each header of list named name (case-blind; every header
 * when name is NULL) until fn returns something else than NGX_OK, and
 * returns that; NGX_OK when the list ends.
 */

ngx_int_t
ngx_http_llmopt_headers(ngx_list_t *list, ngx_str_t *name,
    ngx_http_llmopt_header_pt fn, void *data)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &list->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (name != NULL
            && (h[i].key.len != name->len
                || ngx_strncasecmp(h[i].key.data, name->data, name->len)
                   != 0))
        {
            continue;
        }

        rc = fn(&h[i], data);

        if (rc != NGX_OK) {
            return rc;
        }
    }
}


ngx_str_t *
ngx_http_llmopt_endpoint(llmopt_dialect_e dialect)
{
    return &ngx_http_llmopt_endpoints[dialect];
}


/*
 * The headers of every answer of llmopt's own endpoints (llmopt_status in
 * each format, its dashboard, llmopt_feedback): a browser must neither
 * frame them (a dashboard in another site's frame could be clicked through)
 * nor read them as another type than the one sent.  The dashboard may run
 * its inline script and style and ask its own origin for data, nothing
 * else; any other answer is data, which may load nothing.
 */

ngx_int_t
ngx_http_llmopt_page_headers(ngx_http_request_t *r, ngx_uint_t dashboard)
{
    ngx_str_t  csp;

    if (dashboard) {
        ngx_str_set(&csp, "default-src 'none'; script-src 'unsafe-inline'; "
                          "style-src 'unsafe-inline'; connect-src 'self'; "
                          "img-src 'self' data:; frame-ancestors 'none'");

    } else {
        ngx_str_set(&csp, "default-src 'none'; frame-ancestors 'none'");
    }

    if (ngx_http_llmopt_add_header(r, "X-Content-Type-Options",
                                   (u_char *) "nosniff", 7)
        != NGX_OK
        || ngx_http_llmopt_add_header(r, "X-Frame-Options",
                                      (u_char *) "DENY", 4)
           != NGX_OK
        || ngx_http_llmopt_add_header(r, "Content-Security-Policy",
                                      csp.data, csp.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
