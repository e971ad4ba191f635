
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis (ngx_http_llmopt_redis.c): the directive and what the
 * trainer calls.
 */

#ifndef _NGX_HTTP_LLMOPT_REDIS_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * llmopt_redis <addr|unix:path> [prefix=] [sync=] [instance=] [password=]
 *     [db=] [timeout=] [idle=] [stream=key] [stream_maxlen=n]
 */
char *ngx_http_llmopt_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* At init_main_conf: Redis needs the trainer in its helper process. */
char *ngx_http_llmopt_redis_check(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);

/* In the trainer's process, once: its memory for Redis. */
void ngx_http_llmopt_redis_start(ngx_http_llmopt_main_conf_t *lmcf);

/* Every tick of the lease holder, after learning: what is due. */
void ngx_http_llmopt_redis_tick(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now, ngx_log_t *log);


#endif /* _NGX_HTTP_LLMOPT_REDIS_H_INCLUDED_ */
