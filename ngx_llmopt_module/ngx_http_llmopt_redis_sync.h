
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the learned state (ngx_http_llmopt_redis_sync.c).
 */

#ifndef _NGX_HTTP_LLMOPT_REDIS_SYNC_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REDIS_SYNC_H_INCLUDED_


#include "ngx_http_llmopt_redis_client.h"


/* The lease is new: work starts from what this instance learned, and is
   published merged with the others' statistics as the zone kept them. */
void ngx_http_llmopt_redis_lease(ngx_http_llmopt_main_conf_t *lmcf);

/* After learning: what this instance learned, into the zone. */
void ngx_http_llmopt_redis_keep(ngx_http_llmopt_main_conf_t *lmcf);

/* Policy i's exchange at now (restore: the first one, which may take
   Redis's copy back), following a cluster's redirects: NGX_OK, or
   NGX_ERROR with the failure handled. */
ngx_int_t ngx_http_llmopt_redis_policy(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, uint64_t now,
    ngx_uint_t restore);


#endif /* _NGX_HTTP_LLMOPT_REDIS_SYNC_H_INCLUDED_ */
