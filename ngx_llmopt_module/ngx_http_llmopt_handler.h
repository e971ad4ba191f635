
/*
 * Copyright (C) llmopt authors
 *
 * The request walk (ngx_http_llmopt_handler.c).
 */


#ifndef _NGX_HTTP_LLMOPT_HANDLER_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_HANDLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * The PRECONTENT phase handler: a routed location's request walk, or its
 * failover (ngx_http_llmopt_failover.c).
 */
ngx_int_t ngx_http_llmopt_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_LLMOPT_HANDLER_H_INCLUDED_ */
