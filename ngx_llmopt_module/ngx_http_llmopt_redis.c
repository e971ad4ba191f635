
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis: the directive, the trainer's memory for Redis and its
 * tick, which does what is due -- the learned state's restore and sync
 * (ngx_http_llmopt_redis_sync.c), the fleet's budgets
 * (ngx_http_llmopt_redis_budget.c), the decision stream
 * (ngx_http_llmopt_redis_stream.c) -- over the connections of
 * ngx_http_llmopt_redis_client.c.  Only the trainer talks to Redis, from
 * the helper process, with hiredis's blocking API and timeouts: a slow
 * or absent Redis delays the trainer, never a request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_redis.h"
#include "ngx_http_llmopt_redis_client.h"
#include "ngx_http_llmopt_redis_sync.h"
#include "ngx_http_llmopt_redis_budget.h"
#include "ngx_http_llmopt_redis_stream.h"


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
    rs->sparse = ngx_pcalloc(pool, (rs->n + 1) * sizeof(void *));

    if (rs->tag == NULL || rs->node == NULL || rs->others == NULL
        || rs->n_others == NULL || rs->sparse == NULL)
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

        if (lmcf->tpolicies[i].sparse_local != NULL) {
            rs->sparse[i] = ngx_palloc(pool,
                                   llmopt_sparse_size(&prt[i].policy->sparse));
            if (rs->sparse[i] == NULL) {
                return;
            }
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
