
/*
 * Copyright (C) llmopt authors
 *
 * The zone made and attached (ngx_http_llmopt_zone_init.c).
 */

#ifndef _NGX_HTTP_LLMOPT_ZONE_INIT_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_ZONE_INIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"


/*
 * The bytes a zone of lmcf's catalog and events/pending settings needs at
 * start, and what leaves room for reloads that change every policy's arms
 * (old blocks wait for old workers; removed arms wait in the attic).
 */
void ngx_http_llmopt_zone_need(ngx_http_llmopt_main_conf_t *lmcf,
    size_t *need, size_t *roomy);

/*
 * The shm_zone's init: at start a new zone (and the state file read back),
 * at a reload the old one kept, each policy's part kept, carried or new.
 */
ngx_int_t ngx_http_llmopt_init_zone(ngx_shm_zone_t *shm_zone, void *data);


#endif /* _NGX_HTTP_LLMOPT_ZONE_INIT_H_INCLUDED_ */
