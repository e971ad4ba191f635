
/*
 * Copyright (C) llmopt authors
 *
 * HTTP helpers of the glue (ngx_http_llmopt_http.c).
 */

#ifndef _NGX_HTTP_LLMOPT_HTTP_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * An error in the client's dialect, JSON, sent: what the output filters
 * said, or a status when none could be sent.
 */
ngx_int_t ngx_http_llmopt_send_error(ngx_http_request_t *r,
    llmopt_dialect_e dialect, ngx_uint_t status, const char *type,
    const char *code, u_char *msg, size_t len);

/* Sends b as the whole answer, application/json. */
ngx_int_t ngx_http_llmopt_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);

/* Sends b as the whole answer, of the given type. */
ngx_int_t ngx_http_llmopt_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b);

/*
 * The headers of every page the module serves (status in each format, its
 * dashboard, llmopt_feedback): no framing, no type sniffing, and a content
 * security policy, the dashboard's when dashboard is 1.
 */
ngx_int_t ngx_http_llmopt_page_headers(ngx_http_request_t *r,
    ngx_uint_t dashboard);

/* Adds name: value to the answer's headers; name must outlive r. */
ngx_int_t ngx_http_llmopt_add_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len);


typedef ngx_int_t (*ngx_http_llmopt_header_pt)(ngx_table_elt_t *h,
    void *data);

/*
 * Calls fn for each header of list named name (any case; NULL: every
 * header) until one returns other than NGX_OK, and returns that; NGX_OK
 * when the list ends.
 */
ngx_int_t ngx_http_llmopt_headers(ngx_list_t *list, ngx_str_t *name,
    ngx_http_llmopt_header_pt fn, void *data);

/* The path a routed location's POSTs go to in dialect ("/messages"). */
ngx_str_t *ngx_http_llmopt_endpoint(llmopt_dialect_e dialect);

/* The clocks: monotonic, ns; wall, ms since the epoch. */
uint64_t ngx_http_llmopt_now_ns(void);
uint64_t ngx_http_llmopt_wall_ms(void);


#endif /* _NGX_HTTP_LLMOPT_HTTP_H_INCLUDED_ */
