
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the decision stream (ngx_http_llmopt_redis_stream.c).
 */

#ifndef _NGX_HTTP_LLMOPT_REDIS_STREAM_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REDIS_STREAM_H_INCLUDED_


#include "ngx_http_llmopt_redis_client.h"


/* The trainer learned a reward (a llmopt_trainer_t callback, data the
   main conf): kept for the stream. */
void ngx_http_llmopt_redis_learned(void *data, const llmopt_event_t *ev,
    const llmopt_reward_t *rw);

/* The entries kept this tick, to the stream's node: NGX_OK; NGX_DONE
   when some were refused; NGX_ERROR with the failure handled. */
ngx_int_t ngx_http_llmopt_redis_stream(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now);


#endif /* _NGX_HTTP_LLMOPT_REDIS_STREAM_H_INCLUDED_ */
