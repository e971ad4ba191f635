
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the decision stream: with stream=, every reward the
 * trainer learns is kept, and each tick appended to a Redis Stream for
 * offline evaluation (scripts/offline-eval), with the decision that
 * earned it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_redis_stream.h"


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

ngx_int_t
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

    buf = ngx_alloc(LLMOPT_FEATURE_MAX_DIM * 24 + 3072, rs->log);
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

            /* the names of x's features, for a candidate's features */

            argv[k] = "features"; len[k++] = 8;
            start = p;
            if (ev->policy < rs->n) {
                p += llmopt_features_names(&prt[ev->policy].policy->features,
                                           (char *) p, 1024);
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
