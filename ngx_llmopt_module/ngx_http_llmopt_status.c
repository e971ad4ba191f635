
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_status: what the router does, as JSON.  Reads counters and
 * parameters from the zone without locks; figures of one policy may be a
 * few requests apart from each other, never torn.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_module.h"


static ngx_int_t ngx_http_llmopt_status_handler(ngx_http_request_t *r);
static size_t ngx_http_llmopt_status_size(ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_status_policy(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);
static u_char *ngx_http_llmopt_json_str(u_char *p, u_char *s, size_t len);
static u_char *ngx_http_llmopt_status_learning(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);


char *
ngx_http_llmopt_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_llmopt_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_llmopt_status_handler(ngx_http_request_t *r)
{
    size_t                        size;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    i;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    size = ngx_http_llmopt_status_size(lmcf);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"version\":\"%s\",\"nginx\":\"%s\","
                          "\"pid\":%P,", NGX_HTTP_LLMOPT_VERSION,
                          NGINX_VERSION, ngx_pid);

    if (lmcf->loaded) {
        b->last = ngx_sprintf(b->last, "\"catalog\":{\"file\":");
        b->last = ngx_http_llmopt_json_str(b->last, lmcf->catalog_file.data,
                                           lmcf->catalog_file.len);
        b->last = ngx_sprintf(b->last, ",\"version\":\"%016uxL\"},",
                              lmcf->catalog.version);
    }

    if (lmcf->shm_zone != NULL && lmcf->sh != NULL) {
        b->last = ngx_sprintf(b->last, "\"zone\":{\"name\":");
        b->last = ngx_http_llmopt_json_str(b->last,
                                           lmcf->shm_zone->shm.name.data,
                                           lmcf->shm_zone->shm.name.len);
        b->last = ngx_sprintf(b->last, ",\"size\":%uz,\"generation\":%ui},",
                              lmcf->shm_zone->shm.size,
                              lmcf->sh->generation);
    }

    b->last = ngx_sprintf(b->last, "\"policies\":{");

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (i) {
            *b->last++ = ',';
        }

        b->last = ngx_http_llmopt_status_policy(b->last, &prt[i]);
    }

    *b->last++ = '}';

    if (lmcf->sh != NULL && lmcf->sh->ring != NULL) {
        b->last = ngx_http_llmopt_status_learning(b->last, lmcf);
    }

    b->last = ngx_sprintf(b->last, "}\n");

    return ngx_http_llmopt_send_json(r, NGX_HTTP_OK, b);
}


/* names are at most LLMOPT_CATALOG_NAME_MAX bytes, escaped at most x6 */

#define NGX_HTTP_LLMOPT_STATUS_POLICY  512
#define NGX_HTTP_LLMOPT_STATUS_ARM     (6 * 64 * 2 + 256)


static size_t
ngx_http_llmopt_status_size(ngx_http_llmopt_main_conf_t *lmcf)
{
    size_t                        size;
    ngx_uint_t                    i;
    ngx_http_llmopt_policy_rt_t  *prt;

    size = 4096 + 6 * (lmcf->catalog_file.len + 64);

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        size += NGX_HTTP_LLMOPT_STATUS_POLICY + 6 * prt[i].name.len
                + prt[i].n_arms * NGX_HTTP_LLMOPT_STATUS_ARM;
    }

    return size;
}


static u_char *
ngx_http_llmopt_status_policy(u_char *p, ngx_http_llmopt_policy_rt_t *prt)
{
    ngx_uint_t                  a;
    ngx_http_llmopt_arm_t      *arm;
    ngx_http_llmopt_stats_t    *st;
    const llmopt_bandit_conf_t *bc;

    st = prt->stats;
    bc = &prt->policy->bandit;

    p = ngx_http_llmopt_json_str(p, prt->name.data, prt->name.len);

    p = ngx_sprintf(p, ":{\"algorithm\":\"%s\",\"dialect\":\"%s\","
                    "\"d\":%ui,\"requests\":%uA,\"passthrough\":%uA,"
                    "\"fallback\":%uA,\"rejected\":{\"bad_request\":%uA,"
                    "\"too_large\":%uA,\"media_type\":%uA},\"arms\":{",
                    llmopt_algorithm_name(bc->algorithm),
                    prt->policy->dialect == LLMOPT_DIALECT_ANTHROPIC
                    ? "anthropic" : "openai",
                    (ngx_uint_t) bc->d, st->requests, st->passthrough,
                    st->fallback,
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_BAD_JSON],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_TOO_LARGE],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_MEDIA_TYPE]);

    for (a = 0; a < prt->n_arms; a++) {
        arm = &prt->arms[a];

        if (a) {
            *p++ = ',';
        }

        p = ngx_http_llmopt_json_str(p, arm->name.data, arm->name.len);
        p = ngx_sprintf(p, ":{\"model\":");
        p = ngx_http_llmopt_json_str(p, arm->model.data, arm->model.len);
        p = ngx_sprintf(p, ",\"upstream\":");
        p = ngx_http_llmopt_json_str(p, arm->upstream.data,
                                     arm->upstream.len);
        p = ngx_sprintf(p, ",\"requests\":%uA,\"explore\":%uA,"
                        "\"updates\":%uL,\"mean_reward\":%.4f}",
                        st->arm_requests[a], st->arm_explore[a],
                        (uint64_t) llmopt_bandit_arm_count(bc,
                                                  prt->block->params, a),
                        llmopt_bandit_arm_mean(bc, prt->block->params, a));
    }

    p = ngx_sprintf(p, "}}");

    return p;
}


static u_char *
ngx_http_llmopt_json_str(u_char *p, u_char *s, size_t len)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s, len);
    *p++ = '"';

    return p;
}


/* The trainer, the event ring and the feedback endpoint. */

static u_char *
ngx_http_llmopt_status_learning(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    uint64_t                      now, beat;
    ngx_atomic_t                 *fb;
    llmopt_ring_t                *ring;
    llmopt_pending_t             *pt;
    ngx_http_llmopt_shtrainer_t  *st;

    st = &lmcf->sh->trainer;
    ring = lmcf->sh->ring;
    pt = lmcf->sh->pending;
    fb = lmcf->sh->feedback;

    now = ngx_http_llmopt_wall_ms();
    beat = st->heartbeat_ms;

    p = ngx_sprintf(p, ",\"trainer\":{\"driver\":\"%s\",\"lease_pid\":%uA,"
                    "\"heartbeat_ms_ago\":%uL,\"interval_ms\":%M,"
                    "\"ticks\":%uA,\"events\":%uA,\"updates\":%uA,"
                    "\"declined\":%uA,\"stale\":%uA,\"expired\":%uA,"
                    "\"takeovers\":%uA,\"tick_us_max\":%uA,"
                    "\"checkpoints\":%uA,\"checkpoint_errors\":%uA,"
                    "\"restored\":%uA}",
                    st->driver == NGX_HTTP_LLMOPT_DRIVER_HELPER ? "helper"
                    : st->driver == NGX_HTTP_LLMOPT_DRIVER_WORKER ? "worker"
                    : "none",
                    st->lease_pid, beat && now > beat ? now - beat : 0,
                    lmcf->trainer_interval, st->ticks, st->events,
                    st->updates, st->declined, st->stale, st->expired,
                    st->takeovers, st->tick_us_max, st->checkpoints,
                    st->checkpoint_errors, st->restored);

    p = ngx_sprintf(p, ",\"ring\":{\"capacity\":%uD,\"depth\":%uD,"
                    "\"drops\":%uL,\"popped\":%uL,\"skipped\":%uL}",
                    ring->capacity, llmopt_ring_depth(ring),
                    llmopt_ring_drops(ring), llmopt_ring_popped(ring),
                    llmopt_ring_skipped(ring));

    p = ngx_sprintf(p, ",\"feedback\":{\"accepted\":%uA,\"malformed\":%uA,"
                    "\"forbidden\":%uA,\"unknown\":%uA,\"duplicate\":%uA,"
                    "\"expired\":%uA",
                    fb[NGX_HTTP_LLMOPT_FB_ACCEPTED],
                    fb[NGX_HTTP_LLMOPT_FB_MALFORMED],
                    fb[NGX_HTTP_LLMOPT_FB_FORBIDDEN],
                    fb[NGX_HTTP_LLMOPT_FB_UNKNOWN],
                    fb[NGX_HTTP_LLMOPT_FB_DUPLICATE],
                    fb[NGX_HTTP_LLMOPT_FB_EXPIRED]);

    if (pt != NULL) {
        /* a racy read of counters: fine for status */
        p = ngx_sprintf(p, ",\"pending\":%uD,\"capacity\":%uD,"
                        "\"inserted\":%uL,\"evicted\":%uL,"
                        "\"finalised\":%uL",
                        pt->pending, pt->capacity, pt->inserted, pt->evicted,
                        pt->expired);
    }

    *p++ = '}';

    return p;
}
