/*
 * Copyright (C) llmopt authors
 *
 * The JSON status of a policy (ngx_http_llmopt_status_policy.c).
 */


#ifndef _NGX_HTTP_LLMOPT_STATUS_POLICY_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_STATUS_POLICY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* The bytes ngx_http_llmopt_status_policy() may write for prt, at most. */
size_t ngx_http_llmopt_status_policy_size(ngx_http_llmopt_policy_rt_t *prt);

/*
 * Writes "name":{...} of policy prt at p; returns the end, or NULL when
 * out of memory (r's pool).
 */
u_char *ngx_http_llmopt_status_policy(ngx_http_request_t *r, u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);

/* s[0 .. len - 1] as a JSON string, quotes included: at most 6 * len + 2. */
u_char *ngx_http_llmopt_json_str(u_char *p, u_char *s, size_t len);


#endif /* _NGX_HTTP_LLMOPT_STATUS_POLICY_H_INCLUDED_ */
