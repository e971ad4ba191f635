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

#include "ngx_http_llmopt_common.h"


/* The llmopt_status directive: the location answers with the status. */
char *ngx_http_llmopt_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_LLMOPT_STATUS_H_INCLUDED_ */
