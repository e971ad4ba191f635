
/*
 * Copyright (C) llmopt authors
 *
 * A routed location's directives and its check
 * (ngx_http_llmopt_location.c).
 */

#ifndef _NGX_HTTP_LLMOPT_LOCATION_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_LOCATION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* llmopt_route policy [dialect=openai|anthropic|responses|auto] */
char *ngx_http_llmopt_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* llmopt_failover: the location a failed answer is sent to, by error_page. */
char *ngx_http_llmopt_failover_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* llmopt_passthrough off | [methods=...] [paths=...]: proxied unrouted. */
char *ngx_http_llmopt_passthrough(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * At merge, a location with llmopt_route or llmopt_failover: its policy
 * (conf->policy set), its dialect against its name, its upstreams, the
 * Allow of its 405s.  NGX_CONF_OK or NGX_CONF_ERROR, said.
 */
char *ngx_http_llmopt_check_route(ngx_conf_t *cf,
    ngx_http_llmopt_loc_conf_t *conf, ngx_http_llmopt_main_conf_t *lmcf);


#endif /* _NGX_HTTP_LLMOPT_LOCATION_H_INCLUDED_ */
