
/*
 * Copyright (C) llmopt authors
 *
 * The module in each process (ngx_http_llmopt_process.c).
 */

#ifndef _NGX_HTTP_LLMOPT_PROCESS_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_PROCESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* A worker's (or the helper's) start: its memory, warm-up, trainer. */
ngx_int_t ngx_http_llmopt_init_process(ngx_cycle_t *cycle);

/* A process exits: the trainer's last words, the caches freed. */
void ngx_http_llmopt_exit_process(ngx_cycle_t *cycle);

/* The master exits, last: the trainer's final drain and checkpoint. */
void ngx_http_llmopt_exit_master(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_LLMOPT_PROCESS_H_INCLUDED_ */
