
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
 * sum over instances (llmopt_bandit_merge).  With stream=, every reward
 * learned is appended to a Redis Stream for offline evaluation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_llmopt_module.h"


#define NGX_HTTP_LLMOPT_REDIS_BACKOFF_MIN   250
#define NGX_HTTP_LLMOPT_REDIS_BACKOFF_MAX   10000
#define NGX_HTTP_LLMOPT_STREAM_MAX          16384   /* entries a tick */


typedef struct {
    llmopt_event_t                ev;
    double                        reward;
    ngx_uint_t                    source;
} ngx_http_llmopt_stream_entry_t;


typedef struct {
    redisContext                 *ctx;
    uint64_t                      next_try_ms;
    ngx_msec_t                    backoff;
    uint64_t                      next_sync_ms;

    ngx_uint_t                    n;             /* policies */
    ngx_str_t                    *tag;           /* "{prefix:policy}:shape" */
    void                        **others;        /* merged, per policy */
    ngx_uint_t                   *n_others;

    ngx_http_llmopt_stream_entry_t  *entries;
    ngx_uint_t                    n_entries;

    ngx_log_t                    *log;
} ngx_http_llmopt_redis_t;


static ngx_int_t ngx_http_llmopt_redis_connect(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs,
    uint64_t now);
static void ngx_http_llmopt_redis_fail(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now, const char *what);
static ngx_int_t ngx_http_llmopt_redis_sync(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now);
static ngx_int_t ngx_http_llmopt_redis_restore(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs);
static ngx_int_t ngx_http_llmopt_redis_stream(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs);
static void ngx_http_llmopt_redis_learned(void *data,
    const llmopt_event_t *ev, const llmopt_reward_t *rw);
static redisReply *ngx_http_llmopt_redis_reply(ngx_http_llmopt_redis_t *rs);


/*
 * llmopt_redis <addr|unix:path> [prefix=] [sync=] [instance=] [password=]
 *     [db=] [timeout=] [stream=key] [stream_maxlen=n]
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
            || ngx_strncmp(value[i].data, "timeout=", 8) == 0)
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

    rs->tag = ngx_pcalloc(pool, (rs->n + 1) * sizeof(ngx_str_t));
    rs->others = ngx_pcalloc(pool, (rs->n + 1) * sizeof(void *));
    rs->n_others = ngx_pcalloc(pool, (rs->n + 1) * sizeof(ngx_uint_t));

    if (rs->tag == NULL || rs->others == NULL || rs->n_others == NULL) {
        return;
    }

    prt = lmcf->policies.elts;

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
 * with Redis (the first one may restore); stream entries go out every
 * tick.  The caller then keeps the work in the zone and publishes.
 */

void
ngx_http_llmopt_redis_tick(ngx_http_llmopt_main_conf_t *lmcf, uint64_t now,
    ngx_log_t *log)
{
    ngx_http_llmopt_redis_t      *rs;
    ngx_http_llmopt_shredis_t    *sr;

    rs = lmcf->redis_state;

    if (rs == NULL) {
        return;
    }

    rs->log = log;
    sr = &lmcf->sh->redis;

    if (rs->ctx == NULL && now >= rs->next_try_ms) {
        (void) ngx_http_llmopt_redis_connect(lmcf, rs, now);
    }

    if (rs->ctx != NULL && now >= rs->next_sync_ms) {
        if (!sr->restore_done
            && ngx_http_llmopt_redis_restore(lmcf, rs) != NGX_OK)
        {
            ngx_http_llmopt_redis_fail(lmcf, rs, now, "restore");
        }
    }

    if (rs->ctx != NULL && now >= rs->next_sync_ms) {
        if (ngx_http_llmopt_redis_sync(lmcf, rs, now) == NGX_OK) {
            rs->next_sync_ms = now + lmcf->redis->sync;
            sr->syncs++;
            sr->last_ok_ms = now;
            sr->state = NGX_HTTP_LLMOPT_REDIS_UP;

        } else {
            ngx_http_llmopt_redis_fail(lmcf, rs, now, "sync");
        }
    }

    if (rs->n_entries) {
        if (rs->ctx == NULL
            || ngx_http_llmopt_redis_stream(lmcf, rs) != NGX_OK)
        {
            sr->stream_dropped += rs->n_entries;

            if (rs->ctx != NULL) {
                ngx_http_llmopt_redis_fail(lmcf, rs, now, "XADD");
            }
        }

        rs->n_entries = 0;
    }
}


/*
 * The lease is new (llmopt_trainer_init() copied the merged model into
 * the work copies): work starts from what this instance learned, kept in
 * the zone's local blocks.  Also for the master's last drain.
 */

void
ngx_http_llmopt_redis_lease(ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i;
    ngx_http_llmopt_redis_t      *rs;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;
    rs = lmcf->redis_state;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].local != NULL) {
            ngx_memcpy(lmcf->tpolicies[i].work, prt[i].local->params,
                       prt[i].local->size);
        }

        if (rs != NULL) {
            lmcf->tpolicies[i].others = rs->n_others[i] ? rs->others[i]
                                                        : NULL;
        }

        lmcf->tpolicies[i].dirty = 1;
    }

    if (rs != NULL) {
        lmcf->trainer.learned = ngx_http_llmopt_redis_learned;
        lmcf->trainer.learned_data = lmcf;
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


/* The trainer is going away: close the connection. */

void
ngx_http_llmopt_redis_exit(ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_http_llmopt_redis_t  *rs;

    rs = lmcf->redis_state;

    if (rs != NULL && rs->ctx != NULL) {
        redisFree(rs->ctx);
        rs->ctx = NULL;
    }
}


static ngx_int_t
ngx_http_llmopt_redis_connect(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now)
{
    char                          *argv[2], db[NGX_INT_T_LEN + 1];
    size_t                         argvlen[2];
    redisReply                    *reply;
    struct timeval                 tv;
    ngx_http_llmopt_redis_conf_t  *rc;

    rc = lmcf->redis;

    tv.tv_sec = rc->timeout / 1000;
    tv.tv_usec = (rc->timeout % 1000) * 1000;

    if (rc->port) {
        rs->ctx = redisConnectWithTimeout((char *) rc->host.data, rc->port,
                                          tv);
    } else {
        rs->ctx = redisConnectUnixWithTimeout((char *) rc->host.data, tv);
    }

    if (rs->ctx == NULL || rs->ctx->err) {
        ngx_http_llmopt_redis_fail(lmcf, rs, now, "connect");
        return NGX_ERROR;
    }

    if (redisSetTimeout(rs->ctx, tv) != REDIS_OK) {
        ngx_http_llmopt_redis_fail(lmcf, rs, now, "timeout");
        return NGX_ERROR;
    }

    if (rc->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) rc->password.data;
        argvlen[1] = rc->password.len;

        reply = redisCommandArgv(rs->ctx, 2, (const char **) argv, argvlen);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            if (reply) {
                freeReplyObject(reply);
            }

            ngx_http_llmopt_redis_fail(lmcf, rs, now, "AUTH");
            return NGX_ERROR;
        }

        freeReplyObject(reply);
    }

    if (rc->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = ngx_sprintf((u_char *) db, "%ui", rc->db) - (u_char *) db;

        reply = redisCommandArgv(rs->ctx, 2, (const char **) argv, argvlen);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            if (reply) {
                freeReplyObject(reply);
            }

            ngx_http_llmopt_redis_fail(lmcf, rs, now, "SELECT");
            return NGX_ERROR;
        }

        freeReplyObject(reply);
    }

    if (lmcf->sh->redis.state != NGX_HTTP_LLMOPT_REDIS_UP) {
        ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                      "llmopt_redis %V: connected", &rc->addr);
    }

    rs->backoff = NGX_HTTP_LLMOPT_REDIS_BACKOFF_MIN;

    return NGX_OK;
}


/* Drops the connection and tries again later, backing off. */

static void
ngx_http_llmopt_redis_fail(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now, const char *what)
{
    u_char                     *p;
    const char                 *why;
    ngx_http_llmopt_shredis_t  *sr;

    sr = &lmcf->sh->redis;

    why = rs->ctx == NULL ? "out of memory"
          : rs->ctx->err ? rs->ctx->errstr : "unexpected reply";

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

    if (rs->ctx != NULL) {
        redisFree(rs->ctx);
        rs->ctx = NULL;
    }

    rs->next_try_ms = now + rs->backoff;
    rs->backoff = ngx_min(rs->backoff * 2, NGX_HTTP_LLMOPT_REDIS_BACKOFF_MAX);
    rs->next_sync_ms = 0;
}


/* Reads one pipelined reply; NULL on a connection error. */

static redisReply *
ngx_http_llmopt_redis_reply(ngx_http_llmopt_redis_t *rs)
{
    void  *reply;

    if (redisGetReply(rs->ctx, &reply) != REDIS_OK) {
        return NULL;
    }

    return reply;
}


/*
 * The first exchange after the start: a policy whose hash in Redis has
 * learned more than the instance has here (an empty or older state file)
 * takes it back.
 */

static ngx_int_t
ngx_http_llmopt_redis_restore(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs)
{
    u_char                        *key;
    size_t                         len[3];
    ngx_int_t                      rc;
    ngx_uint_t                     i, restored;
    const char                    *argv[3];
    redisReply                    *reply;
    llmopt_trainer_policy_t       *tp;
    ngx_http_llmopt_policy_rt_t   *prt;
    ngx_http_llmopt_redis_conf_t  *conf;

    conf = lmcf->redis;
    prt = lmcf->policies.elts;

    key = ngx_alloc(256 + conf->prefix.len + 64 * 6 + conf->instance.len,
                    rs->log);
    if (key == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < rs->n; i++) {
        argv[0] = "HGET";
        len[0] = 4;
        argv[1] = (char *) key;
        len[1] = ngx_sprintf(key, "%V:i:%V", &rs->tag[i], &conf->instance)
                 - key;
        argv[2] = "params";
        len[2] = 6;

        if (redisAppendCommandArgv(rs->ctx, 3, argv, len) != REDIS_OK) {
            ngx_free(key);
            return NGX_ERROR;
        }
    }

    ngx_free(key);

    rc = NGX_OK;
    restored = 0;

    for (i = 0; i < rs->n; i++) {
        reply = ngx_http_llmopt_redis_reply(rs);

        if (reply == NULL) {
            return NGX_ERROR;
        }

        tp = &lmcf->tpolicies[i];

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
            restored++;

            ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                          "llmopt_redis: policy \"%V\" restored from Redis "
                          "(%uL updates)", &prt[i].name,
                          llmopt_bandit_updates(tp->work));
        }

        freeReplyObject(reply);
    }

    if (rc == NGX_OK) {
        lmcf->sh->redis.restored = restored;
        lmcf->sh->redis.restore_done = 1;
    }

    return rc;
}


/*
 * One exchange: write this instance's hash and join the instance set,
 * pipelined, for every policy; then read the others' parameters and
 * merge them.
 */

static ngx_int_t
ngx_http_llmopt_redis_sync(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now)
{
    u_char                        *buf, *p, *key, *set;
    size_t                        *len, size;
    ngx_int_t                      rc;
    ngx_uint_t                     i, a, argc, k, seen, max_instances;
    const char                   **argv;
    redisReply                    *reply, **members;
    llmopt_trainer_policy_t       *tp;
    const llmopt_bandit_conf_t    *bc;
    ngx_http_llmopt_policy_rt_t   *prt;
    ngx_http_llmopt_redis_conf_t  *conf;

    conf = lmcf->redis;
    prt = lmcf->policies.elts;

    /* room: per policy, the keys and one number per arm */

    size = 1024 + conf->instance.len;

    for (i = 0; i < rs->n; i++) {
        size += 2 * (rs->tag[i].len + conf->instance.len + 16)
                + prt[i].n_arms * (6 * 64 + 32);
    }

    argc = 8 + 2 * (LLMOPT_MAX_ARMS + 4);

    buf = ngx_alloc(size, rs->log);
    argv = ngx_alloc(argc * sizeof(char *), rs->log);
    len = ngx_alloc(argc * sizeof(size_t), rs->log);
    members = ngx_alloc((rs->n + 1) * sizeof(redisReply *), rs->log);

    if (buf == NULL || argv == NULL || len == NULL || members == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memzero(members, (rs->n + 1) * sizeof(redisReply *));

    for (i = 0; i < rs->n; i++) {
        tp = &lmcf->tpolicies[i];
        bc = &prt[i].policy->bandit;
        p = buf;

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

        for (a = 0; a < prt[i].n_arms; a++) {
            argv[k] = (char *) p;
            p = ngx_sprintf(p, "arm:%V", &prt[i].arms[a].name);
            len[k] = p - (u_char *) argv[k]; k++;
            argv[k] = (char *) p;
            p = ngx_sprintf(p, "%uL", llmopt_bandit_arm_count(bc, tp->work,
                                                               a));
            len[k] = p - (u_char *) argv[k]; k++;
        }

        if (redisAppendCommandArgv(rs->ctx, k, argv, len) != REDIS_OK) {
            rc = NGX_ERROR;
            goto done;
        }

        argv[0] = "SADD"; len[0] = 4;
        argv[1] = (char *) set;
        len[1] = rs->tag[i].len + sizeof(":instances") - 1;
        argv[2] = (char *) conf->instance.data; len[2] = conf->instance.len;

        if (redisAppendCommandArgv(rs->ctx, 3, argv, len) != REDIS_OK) {
            rc = NGX_ERROR;
            goto done;
        }

        argv[0] = "SMEMBERS"; len[0] = 8;

        if (redisAppendCommandArgv(rs->ctx, 2, argv, len) != REDIS_OK) {
            rc = NGX_ERROR;
            goto done;
        }
    }

    rc = NGX_OK;

    for (i = 0; i < rs->n; i++) {
        for (k = 0; k < 3; k++) {
            reply = ngx_http_llmopt_redis_reply(rs);

            if (reply == NULL) {
                rc = NGX_ERROR;
                goto done;
            }

            if (reply->type == REDIS_REPLY_ERROR) {
                rc = NGX_ERROR;
            }

            if (k == 2 && reply->type == REDIS_REPLY_ARRAY) {
                members[i] = reply;
                continue;
            }

            freeReplyObject(reply);
        }
    }

    if (rc != NGX_OK) {
        goto done;
    }

    /* the others' parameters, pipelined */

    max_instances = 0;

    for (i = 0; i < rs->n; i++) {
        for (k = 0; members[i] && k < members[i]->elements; k++) {
            reply = members[i]->element[k];

            if (reply->type != REDIS_REPLY_STRING
                || (reply->len == conf->instance.len
                    && ngx_strncmp(reply->str, conf->instance.data,
                                   reply->len) == 0))
            {
                continue;
            }

            p = ngx_sprintf(buf, "%V:i:", &rs->tag[i]);

            argv[0] = "HGET"; len[0] = 4;
            argv[1] = (char *) buf;
            len[1] = p - buf;
            argv[2] = "params"; len[2] = 6;

            /* the key: tag, ":i:", the member */
            if (len[1] + reply->len > size) {
                continue;
            }

            ngx_memcpy(p, reply->str, reply->len);
            len[1] += reply->len;

            if (redisAppendCommandArgv(rs->ctx, 3, argv, len) != REDIS_OK) {
                rc = NGX_ERROR;
                goto done;
            }
        }
    }

    for (i = 0; i < rs->n; i++) {
        tp = &lmcf->tpolicies[i];
        bc = &prt[i].policy->bandit;

        llmopt_bandit_init(bc, rs->others[i]);
        seen = 0;

        for (k = 0; members[i] && k < members[i]->elements; k++) {
            reply = members[i]->element[k];

            if (reply->type != REDIS_REPLY_STRING
                || (reply->len == conf->instance.len
                    && ngx_strncmp(reply->str, conf->instance.data,
                                   reply->len) == 0)
                || rs->tag[i].len + 3 + reply->len > size)
            {
                continue;
            }

            reply = ngx_http_llmopt_redis_reply(rs);

            if (reply == NULL) {
                rc = NGX_ERROR;
                goto done;
            }

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

        rs->n_others[i] = seen;
        tp->others = seen ? rs->others[i] : NULL;
        tp->dirty = 1;                  /* publish the new merge */

        if (seen + 1 > max_instances) {
            max_instances = seen + 1;
        }
    }

    lmcf->sh->redis.instances = max_instances;

done:

    for (i = 0; members && i < rs->n; i++) {
        if (members[i]) {
            freeReplyObject(members[i]);
        }
    }

    if (members) {
        ngx_free(members);
    }

    if (len) {
        ngx_free(len);
    }

    if (argv) {
        ngx_free(argv);
    }

    if (buf) {
        ngx_free(buf);
    }

    return rc;
}


/* The trainer learned a reward: keep it for the stream. */

static void
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
 * The entries of this tick, pipelined: XADD <key> MAXLEN ~ <n> * field
 * value ...; the fields are documented in README ("llmopt_redis").
 */

static ngx_int_t
ngx_http_llmopt_redis_stream(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs)
{
    u_char                          *buf, *p, *start, maxlen[NGX_INT_T_LEN];
    size_t                           len[40];
    ngx_int_t                        rc;
    ngx_uint_t                       i, j, k, n;
    const char                      *argv[40];
    redisReply                      *reply;
    const llmopt_event_t            *ev;
    ngx_http_llmopt_policy_rt_t     *prt;
    ngx_http_llmopt_stream_entry_t  *e;
    ngx_http_llmopt_redis_conf_t    *conf;

    static const char  *sources[] = { "feedback", "proxy", "failure" };

    conf = lmcf->redis;
    prt = lmcf->policies.elts;

    buf = ngx_alloc(LLMOPT_FEATURE_MAX_DIM * 24 + 2048, rs->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    n = ngx_sprintf(maxlen, "%ui", conf->stream_maxlen) - maxlen;

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
        argv[k] = name; len[k++] = sizeof(name) - 1;                          \
        start = p;                                                            \
        p = ngx_sprintf(p, __VA_ARGS__);                                      \
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
        ngx_http_llmopt_field("propensity", "%.6f", (double) ev->propensity);

        argv[k] = "x"; len[k++] = 1;
        start = p;
        for (j = 0; j < ev->d && j < LLMOPT_FEATURE_MAX_DIM; j++) {
            p = ngx_sprintf(p, "%s%.6f", j ? "," : "", (double) ev->x[j]);
        }
        argv[k] = (char *) start; len[k++] = p - start;

        ngx_http_llmopt_field("reward", "%.6f", e->reward);
        argv[k] = "source"; len[k++] = 6;
        argv[k] = sources[e->source < 3 ? e->source : 2];
        len[k] = ngx_strlen(argv[k]); k++;
        ngx_http_llmopt_field("status", "%ui", (ngx_uint_t) ev->status);
        ngx_http_llmopt_field("tokens_in", "%uD", ev->tokens_in);
        ngx_http_llmopt_field("tokens_out", "%uD", ev->tokens_out);
        ngx_http_llmopt_field("cost", "%.9f", ev->cost < 0 ? 0.0 : ev->cost);
        ngx_http_llmopt_field("latency_ms", "%.3f",
                              ev->latency_ms < 0 ? -1.0
                                                 : (double) ev->latency_ms);
        ngx_http_llmopt_field("ttft_ms", "%.3f",
                              ev->ttft_ms < 0 ? -1.0 : (double) ev->ttft_ms);
        ngx_http_llmopt_field("time_ms", "%uL", ev->time_ms);
        ngx_http_llmopt_field("catalog", "%016uxL", ev->catalog);
        argv[k] = "instance"; len[k++] = 8;
        argv[k] = (char *) conf->instance.data; len[k++] = conf->instance.len;

#undef ngx_http_llmopt_field

        if (redisAppendCommandArgv(rs->ctx, k, argv, len) != REDIS_OK) {
            ngx_free(buf);
            return NGX_ERROR;
        }
    }

    ngx_free(buf);

    rc = NGX_OK;

    for (i = 0; i < rs->n_entries; i++) {
        reply = ngx_http_llmopt_redis_reply(rs);

        if (reply == NULL) {
            lmcf->sh->redis.stream_dropped += rs->n_entries - i;
            rs->n_entries = 0;
            return NGX_ERROR;
        }

        if (reply->type == REDIS_REPLY_STRING) {
            lmcf->sh->redis.stream_added++;

        } else {
            lmcf->sh->redis.stream_dropped++;
            rc = NGX_ERROR;
        }

        freeReplyObject(reply);
    }

    rs->n_entries = 0;

    return rc;
}
