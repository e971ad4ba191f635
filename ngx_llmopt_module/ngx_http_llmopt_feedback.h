
/*
 * Copyright (C) llmopt authors
 *
 * The llmopt_feedback location and the tokens of the feedback it takes
 * (ngx_http_llmopt_feedback.c).
 */

#ifndef _NGX_HTTP_LLMOPT_FEEDBACK_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_FEEDBACK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* The llmopt_feedback directive: the location takes scores. */
char *ngx_http_llmopt_feedback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * The feedback token of a request, with llmopt_feedback_secret: into out,
 * 32 hex digits of the id (id_hex), '.', 64 hex digits of the HMAC.
 */
ngx_int_t ngx_http_llmopt_feedback_token(ngx_str_t *secret,
    u_char *id_hex, u_char *out);

/*
 * The key of a tenant in the pending table: 64 bits of an HMAC of its
 * tenant key's value (len 0: none), never 0.  NGX_ERROR leaves UINT64_MAX.
 */
ngx_int_t ngx_http_llmopt_feedback_tenant(ngx_http_llmopt_main_conf_t *lmcf,
    u_char *tenant, size_t len, uint64_t *key);


#endif /* _NGX_HTTP_LLMOPT_FEEDBACK_H_INCLUDED_ */
