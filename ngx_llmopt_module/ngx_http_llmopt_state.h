
/*
 * Copyright (C) llmopt authors
 *
 * The state file: learned state that outlasts a restart.
 */

#ifndef _NGX_HTTP_LLMOPT_STATE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_STATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * Writes the state file from the trainer's copies (and the fleet's part,
 * budgets, canaries, the zone's attic): a temporary file synced and
 * renamed over it.  In the trainer only.
 */
ngx_int_t ngx_http_llmopt_state_checkpoint(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now, ngx_log_t *log);

/* At start, in a new zone: learned state back from the state file. */
ngx_int_t ngx_http_llmopt_state_restore(ngx_log_t *log,
    ngx_http_llmopt_main_conf_t *lmcf);


#endif /* _NGX_HTTP_LLMOPT_STATE_H_INCLUDED_ */
