
/*
 * Copyright (C) llmopt authors
 *
 * The status dashboard's page (ngx_http_llmopt_dashboard.c).
 */

#ifndef _NGX_HTTP_LLMOPT_DASHBOARD_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_DASHBOARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * Sends the page; its headers, set by the caller:
 * ngx_http_llmopt_page_headers().
 */
ngx_int_t ngx_http_llmopt_dashboard(ngx_http_request_t *r);


#endif /* _NGX_HTTP_LLMOPT_DASHBOARD_H_INCLUDED_ */
