
/*
 * Copyright (C) llmopt authors
 *
 * The trainer: its lease, its tick, its process
 * (ngx_http_llmopt_trainer.c).
 */

#ifndef _NGX_HTTP_LLMOPT_TRAINER_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_TRAINER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/* Defaults, and the manager path that makes nginx run a cache manager. */
char *ngx_http_llmopt_trainer_conf(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);

/* In each process: the trainer's timer, where it may hold the lease. */
ngx_int_t ngx_http_llmopt_trainer_init_process(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);

/* A worker trainer's last words: learn what is left, publish, save. */
void ngx_http_llmopt_trainer_exit_process(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);

/*
 * The master, last of all: learns what the ring still holds, finalises
 * what waits for feedback, writes the state file a last time.
 */
void ngx_http_llmopt_trainer_exit_master(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);


#endif /* _NGX_HTTP_LLMOPT_TRAINER_H_INCLUDED_ */
