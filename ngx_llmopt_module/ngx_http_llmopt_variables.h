
/*
 * Copyright (C) llmopt authors
 *
 * The $llmopt_* variables (ngx_http_llmopt_variables.c).
 */

#ifndef _NGX_HTTP_LLMOPT_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* At preconfiguration: adds the variables. */
ngx_int_t ngx_http_llmopt_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_LLMOPT_VARIABLES_H_INCLUDED_ */
