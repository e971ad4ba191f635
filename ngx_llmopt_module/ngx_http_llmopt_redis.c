
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis: instances learn as one through Redis.  Only the trainer
 * talks to it, from the helper process, with hiredis's blocking API and
 * timeouts: a slow or absent Redis delays the trainer, never a request.
 *
 * Every sync interval the trainer writes what this instance learned (its
 * "local" statistics, cumulative, so a write is idempotent and a late one
 * catches up) to a hash per policy, and reads the other instances' hashes:
 *
 *   {<prefix>:<policy>}:<shape>:instances      set of instance ids
 *   {<prefix>:<policy>}:<shape>:i:<instance>   hash: params (the block,
 *       binary), updates, time_ms, arm:<name> (pulls of each arm)
 *
 * The hash tag keeps a policy's keys in one cluster slot; the shape keeps
 * changed catalogs apart.  The model workers read is the prior plus the
 * sum over instances (llmopt_bandit_merge).  The others' sum, as last
 * read whole, is kept in the zone (and the state file keeps it), so that
 * a new trainer serves the fleet's model while Redis is away.  Budgets
 * shared by the instances keep each one's record there too (below,
 * "Budgets shared through Redis").  With stream=, every reward learned is
 * appended to a Redis Stream for offline evaluation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_redis.h"


#define NGX_HTTP_LLMOPT_REDIS_BACKOFF_MIN   250
#define NGX_HTTP_LLMOPT_REDIS_BACKOFF_MAX   1000    /* back within 1 s */
#define NGX_HTTP_LLMOPT_REDIS_NODES         16      /* cluster nodes known */
#define NGX_HTTP_LLMOPT_STREAM_MAX          16384   /* entries a tick */


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

    ngx_http_llmopt_stream_entry_t  *entries;
    ngx_uint_t                    n_entries;

    u_char                       *buf;           /* scratch for keys */
    size_t                        size;

    ngx_log_t                    *log;
};


static redisContext *ngx_http_llmopt_redis_ctx(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs,
    ngx_uint_t node);
static void ngx_http_llmopt_redis_fail(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now, const char *what,
    redisContext *ctx);
static ngx_int_t ngx_http_llmopt_redis_moved(ngx_http_llmopt_redis_t *rs,
    redisReply *reply, ngx_uint_t *node);
static ngx_int_t ngx_http_llmopt_redis_policy(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs,
    ngx_uint_t i, uint64_t now, ngx_uint_t restore);
static ngx_int_t ngx_http_llmopt_redis_restore(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs,
    redisContext *ctx, ngx_uint_t i);
static ngx_int_t ngx_http_llmopt_redis_sync(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, redisContext *ctx, ngx_uint_t i,
    uint64_t now);
static void ngx_http_llmopt_redis_budgets(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now);
static ngx_int_t ngx_http_llmopt_redis_grant(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, size_t len,
    const int64_t *args, llmopt_budget_reply_t *reply, uint64_t *reseed,
    ngx_uint_t *live);
static void ngx_http_llmopt_redis_mode(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, ngx_uint_t mode, uint64_t now);
static ngx_int_t ngx_http_llmopt_redis_stream(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs,
    uint64_t now);


/*
 * llmopt_redis <addr|unix:path> [prefix=] [sync=] [instance=] [password=]
 *     [db=] [timeout=] [idle=] [stream=key] [stream_maxlen=n]
 */

char *
ngx_http_llmopt_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    u_char                        *p, host[NGX_MAXHOSTNAMELEN];
    ngx_str_t                     *value, v;
    ngx_int_t                      n;
    ngx_uint_t                     i;
    ngx_http_llmopt_redis_conf_t  *rc;

    if (lmcf->redis != NULL) {
        return "is duplicate";
    }

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_http_llmopt_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rc->addr = value[1];
    rc->sync = 1000;
    rc->timeout = 250;
    rc->idle = 10000;
    rc->stream_maxlen = 100000;
    ngx_str_set(&rc->prefix, "llmopt");

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rc->host.len = value[1].len - 5;
        rc->host.data = ngx_pnalloc(cf->pool, rc->host.len + 1);
        if (rc->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rc->host.data, value[1].data + 5, rc->host.len);
        rc->host.data[rc->host.len] = '\0';
        rc->port = 0;

    } else {
        p = ngx_strlchr(value[1].data, value[1].data + value[1].len, ':');

        if (value[1].len && value[1].data[0] == '[') {
            /* [::1]:6379 */
            p = ngx_strlchr(value[1].data, value[1].data + value[1].len, ']');
            if (p == NULL || p + 1 >= value[1].data + value[1].len
                || p[1] != ':')
            {
                goto invalid_addr;
            }

            rc->host.data = value[1].data + 1;
            rc->host.len = p - value[1].data - 1;
            p++;

        } else {
            if (p == NULL) {
                p = value[1].data + value[1].len;
            }

            rc->host.data = value[1].data;
            rc->host.len = p - value[1].data;
        }

        if (p < value[1].data + value[1].len) {
            n = ngx_atoi(p + 1, value[1].data + value[1].len - p - 1);
            if (n < 1 || n > 65535) {
                goto invalid_addr;
            }

            rc->port = n;

        } else {
            rc->port = 6379;
        }

        if (rc->host.len == 0) {
            goto invalid_addr;
        }

        v.data = ngx_pnalloc(cf->pool, rc->host.len + 1);
        if (v.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(v.data, rc->host.data, rc->host.len);
        v.data[rc->host.len] = '\0';
        rc->host.data = v.data;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rc->prefix.data = value[i].data + 7;
            rc->prefix.len = value[i].len - 7;

            if (rc->prefix.len == 0
                || ngx_strlchr(rc->prefix.data,
                               rc->prefix.data + rc->prefix.len, '}'))
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "instance=", 9) == 0) {
            rc->instance.data = value[i].data + 9;
            rc->instance.len = value[i].len - 9;

            if (rc->instance.len == 0 || rc->instance.len > 128) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rc->password.data = value[i].data + 9;
            rc->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "stream=", 7) == 0) {
            rc->stream.data = value[i].data + 7;
            rc->stream.len = value[i].len - 7;

            if (rc->stream.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR || n > 65535) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "stream_maxlen=", 14) == 0) {
            n = ngx_atoi(value[i].data + 14, value[i].len - 14);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            rc->stream_maxlen = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sync=", 5) == 0
            || ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "idle=", 5) == 0)
        {
            p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
            v.data = p + 1;
            v.len = value[i].data + value[i].len - v.data;

            n = ngx_parse_time(&v, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            if (value[i].data[0] == 's') {
                rc->sync = n;

            } else if (value[i].data[0] == 'i') {
                rc->idle = n;

            } else {
                rc->timeout = n;
            }

            continue;
        }

        goto invalid;
    }

    if (rc->instance.len == 0) {
        /* the host name: unique where one nginx runs per host */
        if (gethostname((char *) host, NGX_MAXHOSTNAMELEN) == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "llmopt_redis: gethostname() failed; set "
                               "instance=");
            return NGX_CONF_ERROR;
        }

        host[NGX_MAXHOSTNAMELEN - 1] = '\0';
        rc->instance.len = ngx_strlen(host);
        rc->instance.data = ngx_pnalloc(cf->pool, rc->instance.len);
        if (rc->instance.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rc->instance.data, host, rc->instance.len);
    }

    if (rc->idle < 2 * rc->sync) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "llmopt_redis: \"idle\" must be at least twice "
                           "\"sync\"");
        return NGX_CONF_ERROR;
    }

    lmcf->redis = rc;

    return NGX_CONF_OK;

invalid_addr:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "llmopt_redis: invalid address \"%V\" (host:port, "
                       "[ipv6]:port or unix:path)", &value[1]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "llmopt_redis: invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * Redis is the helper's: with driver=worker (or master_process off) the
 * trainer runs in a worker, where a blocking call would stall requests.
 */

char *
ngx_http_llmopt_redis_check(ngx_conf_t *cf, ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_core_conf_t  *ccf;

    if (lmcf->redis == NULL) {
        return NGX_CONF_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (lmcf->trainer_driver == NGX_HTTP_LLMOPT_DRIVER_WORKER
        || ccf->master == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"llmopt_redis\" needs the helper trainer "
                           "(master_process on, llmopt_trainer "
                           "driver=auto or helper): a worker must never wait "
                           "for Redis");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* In the trainer's process, once: its memory for Redis. */

void
ngx_http_llmopt_redis_start(ngx_http_llmopt_main_conf_t *lmcf)
{
    size_t                         size;
    ngx_uint_t                     i;
    ngx_pool_t                    *pool;
    ngx_http_llmopt_redis_t       *rs;
    ngx_http_llmopt_policy_rt_t   *prt;
    ngx_http_llmopt_redis_conf_t  *rc;

    rc = lmcf->redis;

    if (rc == NULL || lmcf->redis_state != NULL || lmcf->tpolicies == NULL) {
        return;
    }

    pool = ngx_cycle->pool;

    rs = ngx_pcalloc(pool, sizeof(ngx_http_llmopt_redis_t));
    if (rs == NULL) {
        return;
    }

    rs->n = lmcf->policies.nelts;
    rs->backoff = NGX_HTTP_LLMOPT_REDIS_BACKOFF_MIN;
    rs->log = ngx_cycle->log;

    /* the configured server is node 0 */

    ngx_cpystrn(rs->nodes[0].host, rc->host.data,
                ngx_min(rc->host.len + 1, sizeof(rs->nodes[0].host)));
    rs->nodes[0].port = rc->port;
    rs->n_nodes = 1;

    rs->tag = ngx_pcalloc(pool, (rs->n + 1) * sizeof(ngx_str_t));
    rs->node = ngx_pcalloc(pool, (rs->n + 1) * sizeof(ngx_uint_t));
    rs->others = ngx_pcalloc(pool, (rs->n + 1) * sizeof(void *));
    rs->n_others = ngx_pcalloc(pool, (rs->n + 1) * sizeof(ngx_uint_t));

    if (rs->tag == NULL || rs->node == NULL || rs->others == NULL
        || rs->n_others == NULL)
    {
        return;
    }

    prt = lmcf->policies.elts;
    rs->size = 1024 + 2 * rc->instance.len + 2 * NGX_MAXHOSTNAMELEN;

    for (i = 0; i < rs->n; i++) {
        size = prt[i].block->size;

        rs->tag[i].data = ngx_pnalloc(pool, rc->prefix.len + prt[i].name.len
                                            + 32);
        rs->others[i] = ngx_palloc(pool, size);
        lmcf->tpolicies[i].scratch = ngx_palloc(pool, size);

        if (rs->tag[i].data == NULL || rs->others[i] == NULL
            || lmcf->tpolicies[i].scratch == NULL)
        {
            return;
        }

        rs->tag[i].len = ngx_sprintf(rs->tag[i].data, "{%V:%V}:%016uxL",
                                     &rc->prefix, &prt[i].name,
                                     prt[i].shape)
                         - rs->tag[i].data;

        rs->size = ngx_max(rs->size, 1024 + 2 * rs->tag[i].len
                                     + 2 * rc->instance.len
                                     + prt[i].n_arms * (6 * 64 + 32));
    }

    rs->buf = ngx_pnalloc(pool, rs->size);
    if (rs->buf == NULL) {
        return;
    }

    if (rc->stream.len) {
        rs->entries = ngx_palloc(pool, NGX_HTTP_LLMOPT_STREAM_MAX
                                 * sizeof(ngx_http_llmopt_stream_entry_t));
        if (rs->entries == NULL) {
            return;
        }
    }

    lmcf->redis_state = rs;
}


/*
 * Every tick of the lease holder, after learning: when due, an exchange
 * with Redis for every policy (the first one may restore); stream entries
 * go out every tick.  The caller then keeps the work in the zone and
 * publishes.
 */

void
ngx_http_llmopt_redis_tick(ngx_http_llmopt_main_conf_t *lmcf, uint64_t now,
    ngx_log_t *log)
{
    ngx_uint_t                  i, max;
    ngx_http_llmopt_redis_t    *rs;
    ngx_http_llmopt_shredis_t  *sr;

    rs = lmcf->redis_state;

    if (rs == NULL) {
        return;
    }

    rs->log = log;
    sr = &lmcf->sh->redis;

    if (!rs->up && now < rs->next_try_ms) {
        goto stream;
    }

    if (!sr->restore_done) {
        for (i = 0; i < rs->n; i++) {
            if (ngx_http_llmopt_redis_policy(lmcf, rs, i, now, 1) != NGX_OK) {
                goto stream;
            }
        }

        sr->restore_done = 1;
    }

    if (now >= rs->next_sync_ms || !rs->up) {
        max = 0;

        for (i = 0; i < rs->n; i++) {
            if (ngx_http_llmopt_redis_policy(lmcf, rs, i, now, 0) != NGX_OK) {
                goto stream;
            }

            max = ngx_max(max, rs->n_others[i] + 1);
        }

        sr->instances = max;
        sr->syncs++;
        sr->last_ok_ms = now;
        sr->state = NGX_HTTP_LLMOPT_REDIS_UP;

        rs->up = 1;
        rs->backoff = NGX_HTTP_LLMOPT_REDIS_BACKOFF_MIN;
        rs->next_sync_ms = now + lmcf->redis->sync;
    }

stream:

    ngx_http_llmopt_redis_budgets(lmcf, rs, now);

    if (rs->n_entries) {
        if (!rs->up || ngx_http_llmopt_redis_stream(lmcf, rs, now) != NGX_OK)
        {
            sr->stream_dropped += rs->n_entries;
        }

        rs->n_entries = 0;
    }
}


/*
 * The lease is new (llmopt_trainer_init() copied the merged model into
 * the work copies): work starts from what this instance learned, kept in
 * the zone's local blocks, and is published merged with the other
 * instances' statistics as the zone last kept them (from Redis or the
 * state file), so that a reload, a respawned trainer or a restart serves
 * the fleet's model while Redis is away.  Also for the master's last
 * drain.
 */

void
ngx_http_llmopt_redis_lease(ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i;
    ngx_http_llmopt_redis_t      *rs;
    ngx_http_llmopt_policy_rt_t  *prt;
    llmopt_trainer_policy_t      *tp;

    prt = lmcf->policies.elts;
    rs = lmcf->redis_state;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        tp = &lmcf->tpolicies[i];

        if (prt[i].local != NULL) {
            ngx_memcpy(tp->work, prt[i].local->params, prt[i].local->size);
        }

        tp->others = NULL;

        if (prt[i].others != NULL
            && llmopt_bandit_updates(prt[i].others->params) > 0
            && llmopt_bandit_check(&prt[i].policy->bandit,
                                   prt[i].others->params)
               == LLMOPT_OK)
        {
            tp->others = prt[i].others->params;
        }

        tp->dirty = 1;
    }

    if (rs != NULL) {
        rs->next_sync_ms = 0;          /* at once */
    }
}


/* After learning: what this instance learned, into the zone. */

void
ngx_http_llmopt_redis_keep(ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].local != NULL && lmcf->tpolicies[i].dirty) {
            ngx_memcpy(prt[i].local->params, lmcf->tpolicies[i].work,
                       prt[i].local->size);
        }
    }
}


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

static redisContext *
ngx_http_llmopt_redis_ctx(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t node)
{
    char                          *argv[2], db[NGX_INT_T_LEN + 1];
    size_t                         argvlen[2];
    redisReply                    *reply;
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

    if (rc->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) rc->password.data;
        argvlen[1] = rc->password.len;

        reply = redisCommandArgv(ctx, 2, (const char **) argv, argvlen);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            if (reply) {
                freeReplyObject(reply);
            }

            return NULL;
        }

        freeReplyObject(reply);
    }

    if (rc->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = ngx_sprintf((u_char *) db, "%ui", rc->db) - (u_char *) db;

        reply = redisCommandArgv(ctx, 2, (const char **) argv, argvlen);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            if (reply) {
                freeReplyObject(reply);
            }

            return NULL;
        }

        freeReplyObject(reply);
    }

    if (lmcf->sh->redis.state != NGX_HTTP_LLMOPT_REDIS_UP) {
        ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                      "llmopt_redis %s:%d: connected", nd->host, nd->port);
    }

    return ctx;
}


/* Drops every connection and tries again later, backing off. */

static void
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
 * Budgets shared through Redis (README, "Budgets"; what to ask, claim
 * and make of the answers is llmopt_budget.h's).  Per period and key a
 * hash, and per policy the instances alive:
 *
 *   {<prefix>:<policy>}:budget:<d|m><period>:<all|tenant hash>
 *       g:<instance>   its record, nUSD: granted, or spent when more
 *       s:<instance>   nUSD it spent and had in flight
 *       reseed         ms until which nothing new is granted (records
 *                      were lost and are being claimed back)
 *   {<prefix>:<policy>}:budget:live
 *       sorted set of instances by the ms of their last exchange
 *
 * Every tick an account whose grant runs low asks for a chunk, and every
 * sync every account of the current periods reports its claim; the
 * script raises the instance's record to the claim, starts a reseed when
 * its record is below what it granted before (Redis lost it), grants
 * what the records leave of the cap (nothing while reseeding), and says
 * what the others spent.  While Redis cannot be reached an instance
 * spends what it holds and its share of the outage allowance.
 */

#define NGX_HTTP_LLMOPT_GRANTS_MAX   256      /* asked a tick */

/* the script's arguments after the key's name, in this order */
enum {
    NGX_HTTP_LLMOPT_GRANT_CAP = 0,
    NGX_HTTP_LLMOPT_GRANT_WANT,
    NGX_HTTP_LLMOPT_GRANT_TTL,
    NGX_HTTP_LLMOPT_GRANT_KNOWN,
    NGX_HTTP_LLMOPT_GRANT_CLAIM,
    NGX_HTTP_LLMOPT_GRANT_USED,
    NGX_HTTP_LLMOPT_GRANT_NOW,
    NGX_HTTP_LLMOPT_GRANT_IDLE,
    NGX_HTTP_LLMOPT_GRANT_ARGS
};

typedef struct {
    uint64_t                      key;
    uint32_t                      period;
    ngx_uint_t                    p;
    int64_t                       args[NGX_HTTP_LLMOPT_GRANT_ARGS];
} ngx_http_llmopt_grant_t;


/*
 * KEYS: the period's hash, the live set; ARGV: the instance, then the
 * arguments above.  Returns old record, new record, all records, the
 * others' use, the reseed's end (ms), the instances alive.  The integer
 * an earlier version kept under the hash's name (granted to all) becomes
 * the record "legacy".
 */

static const char  ngx_http_llmopt_grant_lua[] =
    "local h, me = KEYS[1], ARGV[1] "
    "local cap, want = tonumber(ARGV[2]), tonumber(ARGV[3]) "
    "local known, claim = tonumber(ARGV[5]), tonumber(ARGV[6]) "
    "local now, idle = tonumber(ARGV[8]), tonumber(ARGV[9]) "
    "if redis.call('TYPE', h).ok == 'string' then "
    "  local g = redis.call('GET', h) "
    "  redis.call('DEL', h) "
    "  redis.call('HSET', h, 'g:legacy', g) "
    "end "
    "local old = tonumber(redis.call('HGET', h, 'g:' .. me) or '0') "
    "local reseed = tonumber(redis.call('HGET', h, 'reseed') or '0') "
    "if known > old then "
    "  reseed = now + idle "
    "  redis.call('HSET', h, 'reseed', string.format('%d', reseed)) "
    "end "
    "local mine, all, others = math.max(old, claim), 0, 0 "
    "local f = redis.call('HGETALL', h) "
    "for k = 1, #f, 2 do "
    "  local n, v = f[k], tonumber(f[k + 1]) "
    "  if n ~= 'g:' .. me and n ~= 's:' .. me then "
    "    if string.sub(n, 1, 2) == 'g:' then all = all + v "
    "    elseif string.sub(n, 1, 2) == 's:' then others = others + v end "
    "  end "
    "end "
    "all = all + mine "
    "if reseed <= now and want > 0 and cap > all then "
    "  local give = math.min(want, cap - all) "
    "  mine = mine + give "
    "  all = all + give "
    "end "
    "redis.call('HSET', h, 'g:' .. me, string.format('%d', mine), "
    "           's:' .. me, ARGV[7]) "
    "redis.call('PEXPIRE', h, ARGV[4]) "
    "redis.call('ZADD', KEYS[2], now, me) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - idle) "
    "redis.call('PEXPIRE', KEYS[2], 3 * idle) "
    "return {old, mine, all, others, reseed, redis.call('ZCARD', KEYS[2])}";


static void
ngx_http_llmopt_redis_budgets(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now)
{
    u_char                        *key;
    size_t                         len;
    int64_t                        want, used;
    uint64_t                       reseed, until;
    ngx_int_t                      rc;
    uint32_t                       period[2];
    ngx_uint_t                     i, k, n, p, live, report, mode;
    const int64_t                 *c;
    llmopt_budget_reply_t          reply;
    llmopt_budget_account_t       *acct;
    ngx_http_llmopt_budget_t      *b;
    ngx_http_llmopt_grant_t        grants[NGX_HTTP_LLMOPT_GRANTS_MAX];
    const llmopt_budget_conf_t    *bc;
    ngx_http_llmopt_policy_rt_t   *prt;

    prt = lmcf->policies.elts;

    llmopt_budget_periods(now, period);

    report = rs->up && now >= rs->next_report_ms;

    if (report) {
        rs->next_report_ms = now + lmcf->redis->sync;
    }

    for (i = 0; i < rs->n; i++) {
        b = prt[i].stats->budget;
        bc = &prt[i].policy->budget;

        if (!prt[i].policy->budgeted || b == NULL) {
            continue;
        }

        n = 0;

        ngx_shmtx_lock(&lmcf->shpool->mutex);

        for (k = 0; k <= b->n; k++) {
            acct = k == b->n ? &b->policy : &b->tenants[k];
            c = k == b->n ? bc->cap_nusd : bc->tenant_cap_nusd;

            if (acct->key == 0) {
                continue;
            }

            llmopt_budget_roll(acct, period);
            llmopt_budget_age(acct, llmopt_budget_window(now));

            /* away: what it holds, and its share of the allowance */
            llmopt_budget_outage(acct, c, rs->up ? 0 : bc->outage,
                                 b->live ? b->live
                                         : lmcf->sh->redis.instances);

            for (p = 0; rs->up && p < 2; p++) {
                if (c[p] <= 0 || n == NGX_HTTP_LLMOPT_GRANTS_MAX) {
                    continue;
                }

                want = llmopt_budget_want(acct, c, bc->chunk, p);

                /* a tenant's account reports while it is in use */
                if (want == 0
                    && !(report
                         && (k == b->n || acct->granted_all[p]
                             || acct->spent[p]
                             || llmopt_budget_reserved(acct))))
                {
                    continue;
                }

                grants[n].key = acct->key;
                grants[n].period = period[p];
                grants[n].p = p;
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_CAP] = c[p];
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_WANT] = want;
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_TTL] =
                    (p ? 40LL : 2LL) * 86400000;
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_KNOWN] =
                    acct->granted[p];
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_CLAIM] =
                    llmopt_budget_claim(acct, p, &used);
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_USED] = used;
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_NOW] = (int64_t) now;
                grants[n].args[NGX_HTTP_LLMOPT_GRANT_IDLE] =
                    lmcf->redis->idle;
                n++;
            }
        }

        ngx_shmtx_unlock(&lmcf->shpool->mutex);

        if (!rs->up) {
            ngx_http_llmopt_redis_mode(lmcf, rs, i, LLMOPT_BUDGET_OUTAGE, now);
            continue;
        }

        until = 0;
        live = 0;

        for (k = 0; k < n; k++) {
            key = rs->buf;
            p = grants[k].p;

            if (grants[k].key == LLMOPT_BUDGET_POLICY) {
                len = ngx_sprintf(key, "%*s:budget:%c%uD:all",
                                  rs->tag[i].len - 17, rs->tag[i].data,
                                  p ? 'm' : 'd', grants[k].period)
                      - key;

            } else {
                len = ngx_sprintf(key, "%*s:budget:%c%uD:%016uxL",
                                  rs->tag[i].len - 17, rs->tag[i].data,
                                  p ? 'm' : 'd', grants[k].period,
                                  grants[k].key)
                      - key;
            }

            rc = ngx_http_llmopt_redis_grant(lmcf, rs, i, len, grants[k].args,
                                             &reply, &reseed, &live);

            if (rc == NGX_DECLINED) {
                continue;                     /* this key alone */
            }

            if (rc != NGX_OK) {
                /* Redis went away: the outage, at once */
                ngx_http_llmopt_redis_budgets(lmcf, rs, now);
                return;
            }

            (void) ngx_atomic_fetch_add(&b->grants, 1);

            if (reseed > now) {
                until = ngx_max(until, reseed);
            }

            ngx_shmtx_lock(&lmcf->shpool->mutex);

            acct = grants[k].key == LLMOPT_BUDGET_POLICY
                   ? &b->policy
                   : llmopt_budget_find(b->tenants, b->n, grants[k].key,
                                        period, 0);

            if (acct != NULL && acct->period[p] == grants[k].period
                && llmopt_budget_merge(acct, p, &reply))
            {
                (void) ngx_atomic_fetch_add(&b->lost, 1);
            }

            ngx_shmtx_unlock(&lmcf->shpool->mutex);
        }

        if (n == 0) {
            continue;
        }

        if (live) {
            b->live = live;
        }

        b->reseed_until_ms = until;
        mode = until ? LLMOPT_BUDGET_RESEEDING : LLMOPT_BUDGET_SHARED;

        if (until == 0 && !report) {
            /* a grant alone may not be of every key: the reports say */
            continue;
        }

        ngx_http_llmopt_redis_mode(lmcf, rs, i, mode, now);
    }
}


/* A budget's mode changes: a WARN line says what the instance does now. */

static void
ngx_http_llmopt_redis_mode(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, ngx_uint_t mode, uint64_t now)
{
    unsigned                      which, p;
    int64_t                       left;
    ngx_uint_t                    level;
    llmopt_budget_account_t       acct;
    ngx_http_llmopt_budget_t     *b;
    const llmopt_budget_conf_t   *bc;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = &((ngx_http_llmopt_policy_rt_t *) lmcf->policies.elts)[i];
    b = prt->stats->budget;
    bc = &prt->policy->budget;

    if (b->mode == mode) {
        return;
    }

    level = b->mode == LLMOPT_BUDGET_ALONE && mode == LLMOPT_BUDGET_SHARED
            ? NGX_LOG_NOTICE : NGX_LOG_WARN;     /* the start is no news */
    b->mode = mode;
    (void) ngx_atomic_fetch_add(&b->modes, 1);

    ngx_shmtx_lock(&lmcf->shpool->mutex);
    acct = b->policy;
    ngx_shmtx_unlock(&lmcf->shpool->mutex);

    left = llmopt_budget_left(&acct, bc->cap_nusd, 1, &which);

    switch (mode) {

    case LLMOPT_BUDGET_OUTAGE:
        ngx_log_error(NGX_LOG_WARN, rs->log, 0,
                      "llmopt_redis: policy \"%V\" budget: outage, this "
                      "instance spends what it holds ($%.6f) and %s",
                      &prt->name,
                      (double) ngx_max(left, 0) / LLMOPT_BUDGET_NUSD,
                      bc->outage > 0 ? "its share of the outage allowance"
                                     : "nothing more");
        break;

    case LLMOPT_BUDGET_RESEEDING:
        ngx_log_error(NGX_LOG_WARN, rs->log, 0,
                      "llmopt_redis: policy \"%V\" budget: reseeding, Redis "
                      "had lost records of the period; the instances claim "
                      "them back and nothing new is granted for %uL ms",
                      &prt->name,
                      b->reseed_until_ms > now ? b->reseed_until_ms - now
                                               : 0);
        break;

    default:
        p = bc->cap_nusd[LLMOPT_BUDGET_DAY] > 0 || bc->cap_nusd[1] == 0
            ? LLMOPT_BUDGET_DAY : LLMOPT_BUDGET_MONTH;

        ngx_log_error(level, rs->log, 0,
                      "llmopt_redis: policy \"%V\" budget: shared, the fleet "
                      "spent $%.6f of $%.6f a %s (%ui instances alive)",
                      &prt->name,
                      (double) llmopt_budget_fleet(&acct, p)
                      / LLMOPT_BUDGET_NUSD,
                      bc->cap[p], p == LLMOPT_BUDGET_DAY ? "day" : "month",
                      (ngx_uint_t) b->live);
        break;
    }
}


/*
 * One grant script on the node that serves the policy's keys.
 * NGX_DECLINED: the script failed on this key (logged once a minute).
 */

static ngx_int_t
ngx_http_llmopt_redis_grant(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, size_t len,
    const int64_t *args, llmopt_budget_reply_t *reply, uint64_t *reseed,
    ngx_uint_t *live)
{
    u_char        *p, *key, *live_key;
    size_t         lens[6 + NGX_HTTP_LLMOPT_GRANT_ARGS];
    ngx_int_t      rc;
    ngx_uint_t     tries, k;
    const char    *argv[6 + NGX_HTTP_LLMOPT_GRANT_ARGS];
    redisReply    *r;
    redisContext  *ctx;

    key = rs->buf;
    live_key = key + len + 1;
    p = ngx_sprintf(live_key, "%*s:budget:live", rs->tag[i].len - 17,
                    rs->tag[i].data);

    argv[0] = "EVAL"; lens[0] = 4;
    argv[1] = ngx_http_llmopt_grant_lua;
    lens[1] = sizeof(ngx_http_llmopt_grant_lua) - 1;
    argv[2] = "2"; lens[2] = 1;
    argv[3] = (char *) key; lens[3] = len;
    argv[4] = (char *) live_key; lens[4] = p - live_key;
    argv[5] = (char *) lmcf->redis->instance.data;
    lens[5] = lmcf->redis->instance.len;

    for (k = 0; k < NGX_HTTP_LLMOPT_GRANT_ARGS; k++) {
        p++;
        argv[6 + k] = (char *) p;
        p = ngx_sprintf(p, "%L", args[k]);
        lens[6 + k] = p - (u_char *) argv[6 + k];
    }

    for (tries = 0; tries < 3; tries++) {
        ctx = ngx_http_llmopt_redis_ctx(lmcf, rs, rs->node[i]);

        if (ctx == NULL || ctx->err) {
            ngx_http_llmopt_redis_fail(lmcf, rs, ngx_http_llmopt_wall_ms(),
                                       "connect", ctx);
            return NGX_ERROR;
        }

        r = redisCommandArgv(ctx, 6 + NGX_HTTP_LLMOPT_GRANT_ARGS, argv, lens);

        if (r == NULL) {
            break;
        }

        if (ngx_http_llmopt_redis_moved(rs, r, &rs->node[i]) == NGX_OK) {
            freeReplyObject(r);
            lmcf->sh->redis.redirects++;
            continue;
        }

        rc = NGX_ERROR;

        if (r->type == REDIS_REPLY_ARRAY && r->elements == 6) {
            rc = NGX_OK;

            for (k = 0; k < 6; k++) {
                if (r->element[k]->type != REDIS_REPLY_INTEGER) {
                    rc = NGX_ERROR;
                }
            }
        }

        if (r->type == REDIS_REPLY_ERROR
            && (ngx_strncmp(r->str, "ERR", 3) == 0
                || ngx_strncmp(r->str, "WRONGTYPE", 9) == 0))
        {
            /* this key's trouble (another program's key of that name):
               the others go on; LOADING, READONLY and the like fail */
            if (ngx_http_llmopt_wall_ms() >= rs->next_key_error_ms) {
                rs->next_key_error_ms = ngx_http_llmopt_wall_ms() + 60000;

                ngx_log_error(NGX_LOG_ERR, rs->log, 0,
                              "llmopt_redis: budget key \"%*s\": %*s",
                              len, key, r->len, r->str);
            }

            freeReplyObject(r);

            return NGX_DECLINED;
        }

        if (rc == NGX_OK) {
            reply->old = r->element[0]->integer;
            reply->mine = r->element[1]->integer;
            reply->all = r->element[2]->integer;
            reply->others = r->element[3]->integer;
            *reseed = (uint64_t) ngx_max(r->element[4]->integer, 0);
            *live = (ngx_uint_t) ngx_max(r->element[5]->integer, 0);
        }

        freeReplyObject(r);

        if (rc == NGX_OK) {
            return NGX_OK;
        }

        break;
    }

    ngx_http_llmopt_redis_fail(lmcf, rs, ngx_http_llmopt_wall_ms(),
                               "budget grant", ctx);

    return NGX_ERROR;
}


/*
 * A cluster's "MOVED <slot> <host>:<port>" (or "ASK"): the node to ask
 * instead, added when new.  NGX_OK when the reply was such a redirect.
 */

static ngx_int_t
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


/*
 * One policy's exchange on the node that serves its keys, following a
 * cluster's redirect (at most twice).
 */

static ngx_int_t
ngx_http_llmopt_redis_policy(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, uint64_t now,
    ngx_uint_t restore)
{
    ngx_int_t      rc;
    ngx_uint_t     tries;
    redisContext  *ctx;

    for (tries = 0; tries < 3; tries++) {
        ctx = ngx_http_llmopt_redis_ctx(lmcf, rs, rs->node[i]);

        if (ctx == NULL || ctx->err) {
            ngx_http_llmopt_redis_fail(lmcf, rs, now, "connect", ctx);
            return NGX_ERROR;
        }

        rc = restore ? ngx_http_llmopt_redis_restore(lmcf, rs, ctx, i)
                     : ngx_http_llmopt_redis_sync(lmcf, rs, ctx, i, now);

        if (rc == NGX_OK) {
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            ngx_http_llmopt_redis_fail(lmcf, rs, now,
                                       restore ? "restore" : "sync", ctx);
            return NGX_ERROR;
        }

        /* NGX_AGAIN: redirected, rs->node[i] is the new node */
        lmcf->sh->redis.redirects++;
    }

    ngx_http_llmopt_redis_fail(lmcf, rs, now, "too many redirects", NULL);

    return NGX_ERROR;
}


/*
 * The first exchange after the start: a policy whose hash in Redis has
 * learned more than the instance has here (an empty or older state file)
 * takes it back.
 */

static ngx_int_t
ngx_http_llmopt_redis_restore(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, redisContext *ctx, ngx_uint_t i)
{
    u_char                        *key;
    size_t                         len[3];
    ngx_int_t                      rc;
    const char                    *argv[3];
    redisReply                    *reply;
    llmopt_trainer_policy_t       *tp;
    ngx_http_llmopt_policy_rt_t   *prt;

    prt = lmcf->policies.elts;
    tp = &lmcf->tpolicies[i];
    key = rs->buf;

    argv[0] = "HGET";
    len[0] = 4;
    argv[1] = (char *) key;
    len[1] = ngx_sprintf(key, "%V:i:%V", &rs->tag[i], &lmcf->redis->instance)
             - key;
    argv[2] = "params";
    len[2] = 6;

    reply = redisCommandArgv(ctx, 3, argv, len);

    if (reply == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_llmopt_redis_moved(rs, reply, &rs->node[i]) == NGX_OK) {
        freeReplyObject(reply);
        return NGX_AGAIN;
    }

    rc = NGX_OK;

    if (reply->type == REDIS_REPLY_ERROR) {
        rc = NGX_ERROR;

    } else if (reply->type == REDIS_REPLY_STRING
               && reply->len == tp->size
               && llmopt_bandit_check(&prt[i].policy->bandit, reply->str)
                  == LLMOPT_OK
               && llmopt_bandit_updates(reply->str)
                  > llmopt_bandit_updates(tp->work))
    {
        ngx_memcpy(tp->work, reply->str, tp->size);
        tp->dirty = 1;
        lmcf->sh->redis.restored++;

        ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                      "llmopt_redis: policy \"%V\" restored from Redis "
                      "(%uL updates)", &prt[i].name,
                      llmopt_bandit_updates(tp->work));
    }

    freeReplyObject(reply);

    return rc;
}


/*
 * One policy's exchange: write this instance's hash and join the
 * instance set, pipelined; then read the others' parameters and merge
 * them.  NGX_AGAIN: the cluster sent us elsewhere.
 */

static ngx_int_t
ngx_http_llmopt_redis_sync(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, redisContext *ctx, ngx_uint_t i,
    uint64_t now)
{
    u_char                        *p, *key, *set, *end;
    void                          *r;
    size_t                         len[8 + 2 * LLMOPT_MAX_ARMS];
    ngx_int_t                      rc;
    ngx_uint_t                     a, k, seen, asked;
    const char                    *argv[8 + 2 * LLMOPT_MAX_ARMS];
    redisReply                    *reply, *members, *m;
    llmopt_trainer_policy_t       *tp;
    const llmopt_bandit_conf_t    *bc;
    ngx_http_llmopt_policy_rt_t   *prt;
    ngx_http_llmopt_redis_conf_t  *conf;

    conf = lmcf->redis;
    prt = &((ngx_http_llmopt_policy_rt_t *) lmcf->policies.elts)[i];
    tp = &lmcf->tpolicies[i];
    bc = &prt->policy->bandit;

    p = rs->buf;
    end = rs->buf + rs->size;

    key = p;
    p = ngx_sprintf(p, "%V:i:%V", &rs->tag[i], &conf->instance);
    set = p;
    p = ngx_sprintf(p, "%V:instances", &rs->tag[i]);

    k = 0;
    argv[k] = "HSET"; len[k++] = 4;
    argv[k] = (char *) key; len[k++] = set - key;
    argv[k] = "params"; len[k++] = 6;
    argv[k] = tp->work; len[k++] = tp->size;
    argv[k] = "updates"; len[k++] = 7;
    argv[k] = (char *) p;
    p = ngx_sprintf(p, "%uL", llmopt_bandit_updates(tp->work));
    len[k] = p - (u_char *) argv[k]; k++;
    argv[k] = "time_ms"; len[k++] = 7;
    argv[k] = (char *) p;
    p = ngx_sprintf(p, "%uL", now);
    len[k] = p - (u_char *) argv[k]; k++;

    for (a = 0; a < prt->n_arms; a++) {
        argv[k] = (char *) p;
        p = ngx_slprintf(p, end, "arm:%V", &prt->arms[a].name);
        len[k] = p - (u_char *) argv[k]; k++;
        argv[k] = (char *) p;
        p = ngx_slprintf(p, end, "%uL",
                         llmopt_bandit_arm_count(bc, tp->work, a));
        len[k] = p - (u_char *) argv[k]; k++;
    }

    if (redisAppendCommandArgv(ctx, k, argv, len) != REDIS_OK) {
        return NGX_ERROR;
    }

    argv[0] = "SADD"; len[0] = 4;
    argv[1] = (char *) set; len[1] = rs->tag[i].len + sizeof(":instances") - 1;
    argv[2] = (char *) conf->instance.data; len[2] = conf->instance.len;

    if (redisAppendCommandArgv(ctx, 3, argv, len) != REDIS_OK) {
        return NGX_ERROR;
    }

    argv[0] = "SMEMBERS"; len[0] = 8;

    if (redisAppendCommandArgv(ctx, 2, argv, len) != REDIS_OK) {
        return NGX_ERROR;
    }

    /* three replies; a redirect is read to the end of the pipeline */

    rc = NGX_OK;
    members = NULL;

    for (k = 0; k < 3; k++) {
        if (redisGetReply(ctx, &r) != REDIS_OK) {
            if (members) {
                freeReplyObject(members);
            }

            return NGX_ERROR;
        }

        reply = r;

        if (ngx_http_llmopt_redis_moved(rs, reply, &rs->node[i]) == NGX_OK) {
            rc = NGX_AGAIN;

        } else if (reply->type == REDIS_REPLY_ERROR && rc == NGX_OK) {
            rc = NGX_ERROR;
        }

        if (k == 2 && reply->type == REDIS_REPLY_ARRAY) {
            members = reply;
            continue;
        }

        freeReplyObject(reply);
    }

    if (rc != NGX_OK || members == NULL) {
        if (members) {
            freeReplyObject(members);
        }

        return rc == NGX_OK ? NGX_ERROR : rc;
    }

    /* the others' parameters, pipelined: the same slot, the same node */

    asked = 0;

    for (k = 0; k < members->elements; k++) {
        m = members->element[k];

        if (m->type != REDIS_REPLY_STRING
            || (m->len == conf->instance.len
                && ngx_strncmp(m->str, conf->instance.data, m->len) == 0)
            || rs->tag[i].len + 3 + m->len > rs->size)
        {
            continue;
        }

        p = ngx_sprintf(rs->buf, "%V:i:", &rs->tag[i]);
        ngx_memcpy(p, m->str, m->len);

        argv[0] = "HGET"; len[0] = 4;
        argv[1] = (char *) rs->buf; len[1] = p + m->len - rs->buf;
        argv[2] = "params"; len[2] = 6;

        if (redisAppendCommandArgv(ctx, 3, argv, len) != REDIS_OK) {
            freeReplyObject(members);
            return NGX_ERROR;
        }

        asked++;
    }

    freeReplyObject(members);

    llmopt_bandit_init(bc, rs->others[i]);
    seen = 0;

    for (k = 0; k < asked; k++) {
        if (redisGetReply(ctx, &r) != REDIS_OK) {
            return NGX_ERROR;
        }

        reply = r;

        if (reply->type == REDIS_REPLY_STRING && reply->len == tp->size
            && llmopt_bandit_check(bc, reply->str) == LLMOPT_OK)
        {
            llmopt_bandit_merge(bc, rs->others[i], reply->str);
            seen++;

        } else if (reply->type == REDIS_REPLY_ERROR) {
            rc = NGX_ERROR;
        }

        freeReplyObject(reply);
    }

    if (rc != NGX_OK) {
        return rc;                      /* the last whole merge stays */
    }

    rs->n_others[i] = seen;

    /* into the zone, for the next trainer and the state file */
    ngx_memcpy(prt->others->params, rs->others[i], tp->size);
    tp->others = prt->others->params;

    tp->dirty = 1;                      /* publish the new merge */

    return NGX_OK;
}


/* The trainer learned a reward: keep it for the stream. */

void
ngx_http_llmopt_redis_learned(void *data, const llmopt_event_t *ev,
    const llmopt_reward_t *rw)
{
    ngx_http_llmopt_main_conf_t *lmcf = data;

    ngx_http_llmopt_redis_t         *rs;
    ngx_http_llmopt_stream_entry_t  *e;

    rs = lmcf->redis_state;

    if (rs == NULL || rs->entries == NULL) {
        return;
    }

    if (rs->n_entries == NGX_HTTP_LLMOPT_STREAM_MAX) {
        lmcf->sh->redis.stream_dropped++;
        return;
    }

    e = &rs->entries[rs->n_entries++];
    e->ev = *ev;
    e->reward = rw->reward;
    e->source = rw->source;
}


/*
 * The entries of this tick, pipelined to the node of the stream's key:
 * XADD <key> MAXLEN ~ <n> * field value ...; the fields are documented in
 * README ("llmopt_redis").  Entries not added are counted as dropped by
 * the caller (all on an error) or here.
 */

static ngx_int_t
ngx_http_llmopt_redis_stream(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now)
{
    u_char                          *buf, *p, *start, maxlen[NGX_INT_T_LEN];
    void                            *r;
    size_t                           len[48];
    ngx_int_t                        rc;
    ngx_uint_t                       i, j, k, n, tries, moved;
    const char                      *argv[48];
    redisReply                      *reply;
    redisContext                    *ctx;
    const llmopt_event_t            *ev;
    ngx_http_llmopt_policy_rt_t     *prt;
    ngx_http_llmopt_stream_entry_t  *e;
    ngx_http_llmopt_redis_conf_t    *conf;

    static const char  *sources[] = { "feedback", "proxy", "failure",
                                      "unscored" };

    conf = lmcf->redis;
    prt = lmcf->policies.elts;

    buf = ngx_alloc(LLMOPT_FEATURE_MAX_DIM * 24 + 2048, rs->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    n = ngx_sprintf(maxlen, "%ui", conf->stream_maxlen) - maxlen;

    for (tries = 0; tries < 3; tries++) {

        ctx = ngx_http_llmopt_redis_ctx(lmcf, rs, rs->stream_node);

        if (ctx == NULL || ctx->err) {
            ngx_free(buf);
            ngx_http_llmopt_redis_fail(lmcf, rs, now, "connect", ctx);
            return NGX_ERROR;
        }

        for (i = 0; i < rs->n_entries; i++) {
            e = &rs->entries[i];
            ev = &e->ev;
            p = buf;
            k = 0;

            argv[k] = "XADD"; len[k++] = 4;
            argv[k] = (char *) conf->stream.data; len[k++] = conf->stream.len;
            argv[k] = "MAXLEN"; len[k++] = 6;
            argv[k] = "~"; len[k++] = 1;
            argv[k] = (char *) maxlen; len[k++] = n;
            argv[k] = "*"; len[k++] = 1;

#define ngx_http_llmopt_field(name, ...)                                      \
            argv[k] = name; len[k++] = sizeof(name) - 1;                      \
            start = p;                                                        \
            p = ngx_sprintf(p, __VA_ARGS__);                                  \
            argv[k] = (char *) start; len[k++] = p - start

            argv[k] = "id"; len[k++] = 2;
            start = p;
            p = ngx_hex_dump(p, (u_char *) ev->id, LLMOPT_REQUEST_ID_LEN);
            argv[k] = (char *) start; len[k++] = p - start;

            argv[k] = "policy"; len[k++] = 6;
            if (ev->policy < rs->n) {
                argv[k] = (char *) prt[ev->policy].name.data;
                len[k++] = prt[ev->policy].name.len;
            } else {
                argv[k] = "?"; len[k++] = 1;
            }

            argv[k] = "arm"; len[k++] = 3;
            if (ev->policy < rs->n && ev->arm < prt[ev->policy].n_arms) {
                argv[k] = (char *) prt[ev->policy].arms[ev->arm].name.data;
                len[k++] = prt[ev->policy].arms[ev->arm].name.len;
            } else {
                argv[k] = "?"; len[k++] = 1;
            }

            ngx_http_llmopt_field("arm_index", "%ui", (ngx_uint_t) ev->arm);
            ngx_http_llmopt_field("propensity", "%.6f",
                                  (double) ev->propensity);

            argv[k] = "x"; len[k++] = 1;
            start = p;
            for (j = 0; j < ev->d && j < LLMOPT_FEATURE_MAX_DIM; j++) {
                p = ngx_sprintf(p, "%s%.6f", j ? "," : "", (double) ev->x[j]);
            }
            argv[k] = (char *) start; len[k++] = p - start;

            ngx_http_llmopt_field("reward", "%.6f", e->reward);
            argv[k] = "source"; len[k++] = 6;
            argv[k] = sources[e->source < 4 ? e->source : 2];
            len[k] = ngx_strlen(argv[k]); k++;
            ngx_http_llmopt_field("status", "%ui", (ngx_uint_t) ev->status);
            ngx_http_llmopt_field("tokens_in", "%uD", ev->tokens_in);
            ngx_http_llmopt_field("tokens_out", "%uD", ev->tokens_out);
            ngx_http_llmopt_field("cost", "%.9f",
                                  ev->cost < 0 ? 0.0 : ev->cost);
            ngx_http_llmopt_field("latency_ms", "%.3f",
                                  ev->latency_ms < 0
                                  ? -1.0 : (double) ev->latency_ms);
            ngx_http_llmopt_field("ttft_ms", "%.3f",
                                  ev->ttft_ms < 0
                                  ? -1.0 : (double) ev->ttft_ms);
            ngx_http_llmopt_field("time_ms", "%uL", ev->time_ms);
            ngx_http_llmopt_field("catalog", "%016uxL", ev->catalog);
            argv[k] = "instance"; len[k++] = 8;
            argv[k] = (char *) conf->instance.data;
            len[k++] = conf->instance.len;

#undef ngx_http_llmopt_field

            if (redisAppendCommandArgv(ctx, k, argv, len) != REDIS_OK) {
                ngx_free(buf);
                ngx_http_llmopt_redis_fail(lmcf, rs, now, "XADD", ctx);
                return NGX_ERROR;
            }
        }

        rc = NGX_OK;
        moved = 0;

        for (i = 0; i < rs->n_entries; i++) {
            if (redisGetReply(ctx, &r) != REDIS_OK) {
                /* sent, unanswered (a timeout): Redis may still add them */
                lmcf->sh->redis.stream_unconfirmed += rs->n_entries - i;
                rs->n_entries = 0;
                ngx_free(buf);
                ngx_http_llmopt_redis_fail(lmcf, rs, now, "XADD", ctx);
                return NGX_ERROR;
            }

            reply = r;

            if (ngx_http_llmopt_redis_moved(rs, reply, &rs->stream_node)
                == NGX_OK)
            {
                moved++;

            } else if (reply->type == REDIS_REPLY_STRING) {
                lmcf->sh->redis.stream_added++;

            } else {
                lmcf->sh->redis.stream_dropped++;
                rc = NGX_ERROR;
            }

            freeReplyObject(reply);
        }

        if (moved == 0 || moved != rs->n_entries) {
            /* every entry answered, or some moved and some not: those are
               counted dropped, the rest added */
            lmcf->sh->redis.stream_dropped += moved;
            rs->n_entries = 0;
            ngx_free(buf);
            return rc == NGX_OK ? NGX_OK : NGX_DONE;
        }

        lmcf->sh->redis.redirects++;
    }

    ngx_free(buf);

    return NGX_ERROR;
}
