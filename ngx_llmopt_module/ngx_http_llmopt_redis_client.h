
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the client (ngx_http_llmopt_redis_client.c): the
 * trainer's state for Redis, which the ngx_http_llmopt_redis_*.c files
 * share, and the connections to the nodes.
 */

#ifndef _NGX_HTTP_LLMOPT_REDIS_CLIENT_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REDIS_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_llmopt_common.h"


#define NGX_HTTP_LLMOPT_REDIS_BACKOFF_MIN   250
#define NGX_HTTP_LLMOPT_REDIS_BACKOFF_MAX   1000    /* back within 1 s */
#define NGX_HTTP_LLMOPT_REDIS_NODES         16      /* cluster nodes known */
#define NGX_HTTP_LLMOPT_STREAM_MAX          16384   /* entries a tick */


/* A reward learned, for the stream (ngx_http_llmopt_redis_stream.c). */

typedef struct {
    llmopt_event_t                ev;
    double                        reward;
    ngx_uint_t                    source;
} ngx_http_llmopt_stream_entry_t;


/* A Redis server: the configured one, or a cluster node it sent us to. */

typedef struct {
    u_char                        host[NGX_MAXHOSTNAMELEN + 1];
    int                           port;          /* 0: unix socket */
    redisContext                 *ctx;
} ngx_http_llmopt_redis_node_t;


struct ngx_http_llmopt_redis_s {
    ngx_http_llmopt_redis_node_t  nodes[NGX_HTTP_LLMOPT_REDIS_NODES];
    ngx_uint_t                    n_nodes;
    ngx_uint_t                    up;            /* last exchange good */

    uint64_t                      next_try_ms;
    ngx_msec_t                    backoff;
    uint64_t                      next_sync_ms;
    uint64_t                      next_report_ms;  /* budgets' claims */
    uint64_t                      next_key_error_ms;  /* logged again */

    ngx_uint_t                    n;             /* policies */
    ngx_str_t                    *tag;           /* "{prefix:policy}:shape" */
    ngx_uint_t                   *node;          /* serving each policy */
    ngx_uint_t                    stream_node;
    void                        **others;        /* merged, per policy */
    ngx_uint_t                   *n_others;
    void                        **sparse;        /* the others' sparse
                                                    tables summed, per
                                                    sparse policy, or NULL */

    ngx_http_llmopt_stream_entry_t  *entries;
    ngx_uint_t                    n_entries;

    u_char                       *buf;           /* scratch for keys */
    size_t                        size;

    ngx_log_t                    *log;
};


/* Closes every connection. */
void ngx_http_llmopt_redis_exit(ngx_http_llmopt_main_conf_t *lmcf);

/* The connection to node (made when there is none): NULL, or one whose
   err the caller checks. */
redisContext *ngx_http_llmopt_redis_ctx(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t node);

/* An exchange (what) failed at now: every connection dropped, the next
   try backed off, logged once and shown in the status. */
void ngx_http_llmopt_redis_fail(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now, const char *what,
    redisContext *ctx);

/* A cluster's MOVED or ASK in reply: NGX_OK and *node the node to ask
   (added if new), else NGX_DECLINED. */
ngx_int_t ngx_http_llmopt_redis_moved(ngx_http_llmopt_redis_t *rs,
    redisReply *reply, ngx_uint_t *node);


#endif /* _NGX_HTTP_LLMOPT_REDIS_CLIENT_H_INCLUDED_ */
