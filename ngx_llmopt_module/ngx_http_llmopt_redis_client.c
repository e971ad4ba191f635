
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the client: the connections to the configured server and
 * to the cluster nodes it sends us to (AUTH, SELECT), a failure's
 * backoff, a cluster's redirects.  What goes over them is the other
 * ngx_http_llmopt_redis_*.c files'.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_redis_client.h"


static ngx_int_t ngx_http_llmopt_redis_hello(redisContext *ctx,
    const char *command, const char *arg, size_t len);


/* The trainer is going away: close the connections. */

void
ngx_http_llmopt_redis_exit(ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                i;
    ngx_http_llmopt_redis_t  *rs;

    rs = lmcf->redis_state;

    for (i = 0; rs != NULL && i < rs->n_nodes; i++) {
        if (rs->nodes[i].ctx != NULL) {
            redisFree(rs->nodes[i].ctx);
            rs->nodes[i].ctx = NULL;
        }
    }
}


/* The connection to a node, made when there is none. */

redisContext *
ngx_http_llmopt_redis_ctx(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t node)
{
    char                           db[NGX_INT_T_LEN + 1];
    size_t                         len;
    redisContext                  *ctx;
    struct timeval                 tv;
    ngx_http_llmopt_redis_node_t  *nd;
    ngx_http_llmopt_redis_conf_t  *rc;

    rc = lmcf->redis;
    nd = &rs->nodes[node];

    if (nd->ctx != NULL) {
        return nd->ctx;
    }

    tv.tv_sec = rc->timeout / 1000;
    tv.tv_usec = (rc->timeout % 1000) * 1000;

    if (nd->port) {
        ctx = redisConnectWithTimeout((char *) nd->host, nd->port, tv);
    } else {
        ctx = redisConnectUnixWithTimeout((char *) nd->host, tv);
    }

    if (ctx == NULL) {
        return NULL;
    }

    nd->ctx = ctx;

    if (ctx->err || redisSetTimeout(ctx, tv) != REDIS_OK) {
        return NULL;
    }

    if (rc->password.len
        && ngx_http_llmopt_redis_hello(ctx, "AUTH", (char *) rc->password.data,
                                       rc->password.len)
           != NGX_OK)
    {
        return NULL;
    }

    if (rc->db) {
        len = ngx_sprintf((u_char *) db, "%ui", rc->db) - (u_char *) db;

        if (ngx_http_llmopt_redis_hello(ctx, "SELECT", db, len) != NGX_OK) {
            return NULL;
        }
    }

    if (lmcf->sh->redis.state != NGX_HTTP_LLMOPT_REDIS_UP) {
        ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                      "llmopt_redis %s:%d: connected", nd->host, nd->port);
    }

    return ctx;
}


/*
 * A command of one argument that sets a new connection up (AUTH, SELECT):
 * NGX_OK, or NGX_ERROR when it went unanswered or was refused.
 */

static ngx_int_t
ngx_http_llmopt_redis_hello(redisContext *ctx, const char *command,
    const char *arg, size_t len)
{
    size_t       argvlen[2];
    ngx_int_t    rc;
    const char  *argv[2];
    redisReply  *reply;

    argv[0] = command;
    argvlen[0] = ngx_strlen(command);
    argv[1] = arg;
    argvlen[1] = len;

    reply = redisCommandArgv(ctx, 2, argv, argvlen);

    if (reply == NULL) {
        return NGX_ERROR;
    }

    rc = reply->type == REDIS_REPLY_ERROR ? NGX_ERROR : NGX_OK;

    freeReplyObject(reply);

    return rc;
}


/* Drops every connection and tries again later, backing off. */

void
ngx_http_llmopt_redis_fail(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now, const char *what,
    redisContext *ctx)
{
    u_char                     *p;
    const char                 *why;
    ngx_http_llmopt_shredis_t  *sr;

    sr = &lmcf->sh->redis;

    why = ctx == NULL ? "cannot connect"
          : ctx->err ? ctx->errstr : "unexpected reply";

    p = ngx_snprintf(sr->last_error, sizeof(sr->last_error) - 1, "%s: %s",
                     what, why);
    *p = '\0';

    if (sr->state != NGX_HTTP_LLMOPT_REDIS_DOWN) {
        ngx_log_error(NGX_LOG_WARN, rs->log, 0,
                      "llmopt_redis %V: %s: %s; learning goes on locally, "
                      "retrying", &lmcf->redis->addr, what, why);
    }

    sr->errors++;
    sr->state = NGX_HTTP_LLMOPT_REDIS_DOWN;

    ngx_http_llmopt_redis_exit(lmcf);

    rs->up = 0;
    rs->next_try_ms = now + rs->backoff;
    rs->backoff = ngx_min(rs->backoff * 2, NGX_HTTP_LLMOPT_REDIS_BACKOFF_MAX);
    sr->next_try_ms = rs->next_try_ms;
}


/*
 * A cluster's "MOVED <slot> <host>:<port>" (or "ASK"): the node to ask
 * instead, added when new.  NGX_OK when the reply was such a redirect.
 */

ngx_int_t
ngx_http_llmopt_redis_moved(ngx_http_llmopt_redis_t *rs, redisReply *reply,
    ngx_uint_t *node)
{
    char        *host, *colon;
    size_t       len;
    ngx_int_t    port;
    ngx_uint_t   i;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR
        || (ngx_strncmp(reply->str, "MOVED ", 6) != 0
            && ngx_strncmp(reply->str, "ASK ", 4) != 0))
    {
        return NGX_DECLINED;
    }

    host = strchr(reply->str, ' ');
    host = host ? strchr(host + 1, ' ') : NULL;
    colon = host ? strrchr(host, ':') : NULL;

    if (host == NULL || colon == NULL) {
        return NGX_DECLINED;
    }

    host++;
    len = colon - host;
    port = ngx_atoi((u_char *) colon + 1, ngx_strlen(colon + 1));

    if (len == 0 || len >= NGX_MAXHOSTNAMELEN || port < 1 || port > 65535) {
        return NGX_DECLINED;
    }

    for (i = 0; i < rs->n_nodes; i++) {
        if (rs->nodes[i].port == port
            && ngx_strlen(rs->nodes[i].host) == len
            && ngx_strncmp(rs->nodes[i].host, host, len) == 0)
        {
            *node = i;
            return NGX_OK;
        }
    }

    if (rs->n_nodes == NGX_HTTP_LLMOPT_REDIS_NODES) {
        return NGX_DECLINED;
    }

    ngx_memcpy(rs->nodes[i].host, host, len);
    rs->nodes[i].host[len] = '\0';
    rs->nodes[i].port = port;
    rs->nodes[i].ctx = NULL;
    rs->n_nodes++;

    *node = i;

    return NGX_OK;
}
