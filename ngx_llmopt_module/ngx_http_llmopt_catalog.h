
/*
 * Copyright (C) llmopt authors
 *
 * The catalog as nginx loads it (ngx_http_llmopt_catalog.c).
 */

#ifndef _NGX_HTTP_LLMOPT_CATALOG_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_CATALOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* llmopt_catalog file: loaded now, each policy made ready. */
char *ngx_http_llmopt_catalog(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* llmopt_env_file file: the environment the catalog may name. */
char *ngx_http_llmopt_env_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* The policy of that name, NULL when the catalog has none. */
ngx_http_llmopt_policy_rt_t *ngx_http_llmopt_find_policy(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_str_t *name);

/*
 * NGX_OK when proxy_pass http://name reaches something without a
 * resolver: an upstream{} block of that name, or an address; else
 * NGX_DECLINED, and host is the name without its port.
 */
ngx_int_t ngx_http_llmopt_upstream_host(ngx_conf_t *cf,
    const llmopt_str_t *name, ngx_str_t *host);


#endif /* _NGX_HTTP_LLMOPT_CATALOG_H_INCLUDED_ */
