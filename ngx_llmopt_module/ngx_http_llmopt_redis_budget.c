
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the fleet's budgets: budgets shared through Redis
 * (README, "Budgets"; what to ask, claim and make of the answers is
 * llmopt_budget.h's, an instance's accounts ngx_http_llmopt_budget.c's).
 * Per period and key a hash, and per policy the instances alive:
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


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_redis_budget.h"


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


static ngx_int_t ngx_http_llmopt_redis_grant(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, size_t len,
    const int64_t *args, llmopt_budget_reply_t *reply, uint64_t *reseed,
    ngx_uint_t *live);
static void ngx_http_llmopt_redis_mode(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, ngx_uint_t i, ngx_uint_t mode, uint64_t now);


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


void
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
