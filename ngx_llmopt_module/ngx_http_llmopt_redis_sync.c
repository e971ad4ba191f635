
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the learned state: instances learn as one.  Every sync
 * interval the trainer writes what this instance learned (its "local"
 * statistics, cumulative, so a write is idempotent and a late one
 * catches up) to a hash per policy, and reads the other instances'
 * hashes:
 *
 *   {<prefix>:<policy>}:<shape>:instances      set of instance ids
 *   {<prefix>:<policy>}:<shape>:i:<instance>   hash: params (the block,
 *       binary), updates, time_ms, arm:<name> (pulls of each arm)
 *
 * The hash tag keeps a policy's keys in one cluster slot; the shape keeps
 * changed catalogs apart.  The model workers read is the prior plus the
 * sum over instances (llmopt_bandit_merge).  The others' sum, as last
 * read whole, is kept in the zone (and the state file keeps it), so that
 * a new trainer serves the fleet's model while Redis is away.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_redis_sync.h"


static ngx_int_t ngx_http_llmopt_redis_restore(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_redis_t *rs,
    redisContext *ctx, ngx_uint_t i);
static ngx_int_t ngx_http_llmopt_redis_sync(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, redisContext *ctx, ngx_uint_t i,
    uint64_t now);
static ngx_uint_t ngx_http_llmopt_redis_sparse_valid(
    const llmopt_policy_t *policy, const redisReply *r);


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


/*
 * One policy's exchange on the node that serves its keys, following a
 * cluster's redirect (at most twice).
 */

ngx_int_t
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
    size_t                         len[4];
    const char                    *argv[4];
    redisReply                    *reply, *params;
    llmopt_trainer_policy_t       *tp;
    ngx_http_llmopt_policy_rt_t   *prt;

    prt = lmcf->policies.elts;
    tp = &lmcf->tpolicies[i];
    key = rs->buf;

    argv[0] = "HMGET";
    len[0] = 5;
    argv[1] = (char *) key;
    len[1] = ngx_sprintf(key, "%V:i:%V", &rs->tag[i], &lmcf->redis->instance)
             - key;
    argv[2] = "params";
    len[2] = 6;
    argv[3] = "sparse";
    len[3] = 6;

    reply = redisCommandArgv(ctx, rs->sparse[i] ? 4 : 3, argv, len);

    if (reply == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_llmopt_redis_moved(rs, reply, &rs->node[i]) == NGX_OK) {
        freeReplyObject(reply);
        return NGX_AGAIN;
    }

    if (reply->type == REDIS_REPLY_ERROR || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != (rs->sparse[i] ? 2 : 1))
    {
        freeReplyObject(reply);
        return NGX_ERROR;
    }

    params = reply->element[0];

    if (params->type == REDIS_REPLY_STRING
        && params->len == tp->size
        && llmopt_bandit_check(&prt[i].policy->bandit, params->str)
           == LLMOPT_OK
        && llmopt_bandit_updates(params->str)
           > llmopt_bandit_updates(tp->work))
    {
        ngx_memcpy(tp->work, params->str, tp->size);
        tp->dirty = 1;
        lmcf->sh->redis.restored++;

        ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                      "llmopt_redis: policy \"%V\" restored from Redis "
                      "(%uL updates)", &prt[i].name,
                      llmopt_bandit_updates(tp->work));
    }

    if (rs->sparse[i] != NULL
        && ngx_http_llmopt_redis_sparse_valid(prt[i].policy,
                                              reply->element[1])
        && llmopt_sparse_updates(reply->element[1]->str)
           > llmopt_sparse_updates(tp->sparse_local))
    {
        /* what this instance had learned; the others' part comes with
           the first exchange */
        ngx_memcpy(tp->sparse_local, reply->element[1]->str,
                   reply->element[1]->len);
        llmopt_sparse_sum(&prt[i].policy->sparse, tp->sparse,
                          tp->sparse_local, NULL);

        ngx_log_error(NGX_LOG_NOTICE, rs->log, 0,
                      "llmopt_redis: the sparse weights of policy \"%V\" "
                      "restored from Redis (%uL updates)", &prt[i].name,
                      llmopt_sparse_updates(tp->sparse_local));
    }

    freeReplyObject(reply);

    return NGX_OK;
}


/* A reply that is a sparse table of policy's shape. */

static ngx_uint_t
ngx_http_llmopt_redis_sparse_valid(const llmopt_policy_t *policy,
    const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING
           && r->len == llmopt_sparse_size(&policy->sparse)
           && llmopt_sparse_check(&policy->sparse, r->str) == LLMOPT_OK;
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
    size_t                         len[10 + 2 * LLMOPT_MAX_ARMS];
    ngx_int_t                      rc;
    ngx_uint_t                     a, k, seen, asked;
    const char                    *argv[10 + 2 * LLMOPT_MAX_ARMS];
    redisReply                    *reply, *members, *m, *params;
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

    if (rs->sparse[i] != NULL) {
        /* this instance's steps of the sparse table, as they are */
        argv[k] = "sparse"; len[k++] = 6;
        argv[k] = tp->sparse_local;
        len[k++] = llmopt_sparse_size(&prt->policy->sparse);
    }

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

        argv[0] = "HMGET"; len[0] = 5;
        argv[1] = (char *) rs->buf; len[1] = p + m->len - rs->buf;
        argv[2] = "params"; len[2] = 6;
        argv[3] = "sparse"; len[3] = 6;

        if (redisAppendCommandArgv(ctx, rs->sparse[i] ? 4 : 3, argv, len)
            != REDIS_OK)
        {
            freeReplyObject(members);
            return NGX_ERROR;
        }

        asked++;
    }

    freeReplyObject(members);

    llmopt_bandit_init(bc, rs->others[i]);
    seen = 0;

    if (rs->sparse[i] != NULL) {
        llmopt_sparse_init(&prt->policy->sparse, rs->sparse[i]);
    }

    for (k = 0; k < asked; k++) {
        if (redisGetReply(ctx, &r) != REDIS_OK) {
            return NGX_ERROR;
        }

        reply = r;

        if (reply->type == REDIS_REPLY_ERROR
            || reply->type != REDIS_REPLY_ARRAY
            || reply->elements != (rs->sparse[i] ? 2 : 1))
        {
            rc = NGX_ERROR;
            freeReplyObject(reply);
            continue;
        }

        params = reply->element[0];

        if (params->type == REDIS_REPLY_STRING && params->len == tp->size
            && llmopt_bandit_check(bc, params->str) == LLMOPT_OK)
        {
            llmopt_bandit_merge(bc, rs->others[i], params->str);
            seen++;
        }

        if (rs->sparse[i] != NULL
            && ngx_http_llmopt_redis_sparse_valid(prt->policy,
                                                  reply->element[1]))
        {
            llmopt_sparse_merge(&prt->policy->sparse, rs->sparse[i],
                                reply->element[1]->str);
        }

        freeReplyObject(reply);
    }

    if (rc != NGX_OK) {
        return rc;                      /* the last whole merge stays */
    }

    rs->n_others[i] = seen;

    if (rs->sparse[i] != NULL) {
        /* the table workers read: this instance's part and the others' */
        llmopt_sparse_sum(&prt->policy->sparse, tp->sparse,
                          tp->sparse_local, rs->sparse[i]);
    }

    /* into the zone, for the next trainer and the state file */
    ngx_memcpy(prt->others->params, rs->others[i], tp->size);
    tp->others = prt->others->params;

    tp->dirty = 1;                      /* publish the new merge */

    return NGX_OK;
}
