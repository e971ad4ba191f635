/*
 * Copyright (C) llmopt authors
 *
 * The llmopt_status location (ngx_http_llmopt_status.c).
 */


#ifndef _NGX_HTTP_LLMOPT_STATUS_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* The llmopt_status directive: the location answers with the status. */
char *ngx_http_llmopt_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * The headers of every page the module serves (status in each format, its
 * dashboard, llmopt_feedback): no framing, no type sniffing, and a content
 * security policy, the dashboard's when dashboard is 1.
 */
ngx_int_t ngx_http_llmopt_page_headers(ngx_http_request_t *r,
    ngx_uint_t dashboard);


#endif /* _NGX_HTTP_LLMOPT_STATUS_H_INCLUDED_ */
