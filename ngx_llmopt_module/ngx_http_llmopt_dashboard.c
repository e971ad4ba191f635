
/*
 * Copyright (C) llmopt authors
 *
 * The status dashboard: one page, built into the module with uPlot (see
 * dashboard/ and scripts/embed-dashboard), that reads the JSON status and
 * the per-minute series from the location it was served from.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_dashboard.h"

#include <ngx_http_llmopt_page.h>         /* generated in objs/ */


/* The page; its headers, set by the caller: ngx_http_llmopt_page_headers() */

ngx_int_t
ngx_http_llmopt_dashboard(ngx_http_request_t *r)
{
    ngx_buf_t  *b;
    ngx_str_t   type;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) ngx_http_llmopt_page;
    b->last = b->pos + sizeof(ngx_http_llmopt_page);
    b->memory = 1;

    ngx_str_set(&type, "text/html; charset=utf-8");

    return ngx_http_llmopt_send_body(r, NGX_HTTP_OK, &type, b);
}
