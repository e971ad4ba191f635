
/*
 * Copyright (C) llmopt authors
 */


#ifndef _NGX_HTTP_LLMOPT_FAILOVER_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_FAILOVER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The handler of the location llmopt_failover is in: NGX_DECLINED to
 * proxy the request to the other arm chosen (or when llmopt chose none:
 * as configured), NGX_DONE when the client got a 502, or an error.
 */
ngx_int_t ngx_http_llmopt_failover(ngx_http_request_t *r);


#endif /* _NGX_HTTP_LLMOPT_FAILOVER_H_INCLUDED_ */
