/*
 * Copyright (C) llmopt authors
 *
 * llmopt_status: the location, the format it answers in (JSON, Prometheus,
 * the dashboard, the series), and the JSON status of the router: version,
 * catalog, zone, policies, learning, Redis.  Reads counters and parameters
 * from the zone without locks; figures of one policy may be a few requests
 * apart from each other, never torn.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_dashboard.h"
#include "ngx_http_llmopt_history.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_prometheus.h"
#include "ngx_http_llmopt_status_policy.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_status.h"


static ngx_int_t ngx_http_llmopt_status_handler(ngx_http_request_t *r);
static size_t ngx_http_llmopt_status_size(ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_status_zone(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static ngx_uint_t ngx_http_llmopt_status_format(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_status_accept(ngx_table_elt_t *h,
    void *data);
static u_char *ngx_http_llmopt_status_redis(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static ngx_int_t ngx_http_llmopt_series(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf);
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


#define NGX_HTTP_LLMOPT_FMT_JSON        0
#define NGX_HTTP_LLMOPT_FMT_PROMETHEUS  1
#define NGX_HTTP_LLMOPT_FMT_HTML        2
#define NGX_HTTP_LLMOPT_FMT_SERIES      3
#define NGX_HTTP_LLMOPT_FMT_BAD         4


static ngx_int_t
ngx_http_llmopt_status_handler(ngx_http_request_t *r)
{
    size_t                        size;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    i, fmt;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    fmt = ngx_http_llmopt_status_format(r);

    /* every answer, the 405 and 400 too */

    if (ngx_http_llmopt_page_headers(r, fmt == NGX_HTTP_LLMOPT_FMT_HTML)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    switch (fmt) {

    case NGX_HTTP_LLMOPT_FMT_BAD:
        return ngx_http_llmopt_send_error(r, LLMOPT_DIALECT_OPENAI,
                   NGX_HTTP_BAD_REQUEST, "invalid_request_error",
                   "invalid_format", (u_char *) "format is json, prometheus, "
                   "html or series", sizeof("format is json, prometheus, "
                                            "html or series") - 1);

    case NGX_HTTP_LLMOPT_FMT_PROMETHEUS:
        return ngx_http_llmopt_prometheus(r, lmcf);

    case NGX_HTTP_LLMOPT_FMT_HTML:
        return ngx_http_llmopt_dashboard(r);

    case NGX_HTTP_LLMOPT_FMT_SERIES:
        return ngx_http_llmopt_series(r, lmcf);

    default:
        break;
    }

    size = ngx_http_llmopt_status_size(lmcf);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"version\":\"%s\",\"nginx\":\"%s\","
                          "\"pid\":%P,\"time_ms\":%uL,",
                          NGX_HTTP_LLMOPT_VERSION, NGINX_VERSION, ngx_pid,
                          ngx_http_llmopt_wall_ms());

    if (lmcf->loaded) {
        b->last = ngx_sprintf(b->last, "\"catalog\":{\"file\":");
        b->last = ngx_http_llmopt_json_str(b->last, lmcf->catalog_file.data,
                                           lmcf->catalog_file.len);
        b->last = ngx_sprintf(b->last, ",\"version\":\"%016uxL\"},",
                              lmcf->catalog.version);
    }

    if (lmcf->shm_zone != NULL && lmcf->sh != NULL) {
        b->last = ngx_http_llmopt_status_zone(b->last, lmcf);
    }

    b->last = ngx_sprintf(b->last, "\"policies\":{");

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (i) {
            *b->last++ = ',';
        }

        b->last = ngx_http_llmopt_status_policy(r, b->last, &prt[i]);

        if (b->last == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    *b->last++ = '}';

    if (lmcf->sh != NULL && lmcf->sh->ring != NULL) {
        b->last = ngx_http_llmopt_status_learning(b->last, lmcf);
    }

    if (lmcf->redis != NULL && lmcf->sh != NULL) {
        b->last = ngx_http_llmopt_status_redis(b->last, lmcf);
    }

    b->last = ngx_sprintf(b->last, "}\n");

    return ngx_http_llmopt_send_json(r, NGX_HTTP_OK, b);
}


/*
 * "?format=" wins; else the Accept header: a browser (text/html) gets the
 * dashboard, Prometheus (openmetrics or text/plain) the exposition, the
 * rest JSON.
 */

/* the format an Accept header asks for; NGX_DONE once one is found */

static ngx_int_t
ngx_http_llmopt_status_accept(ngx_table_elt_t *h, void *data)
{
    ngx_uint_t  *fmt = data;
    ngx_str_t   *v;

    v = &h->value;

    if (ngx_strlcasestrn(v->data, v->data + v->len, (u_char *) "text/html",
                         9 - 1) != NULL)
    {
        *fmt = NGX_HTTP_LLMOPT_FMT_HTML;
        return NGX_DONE;
    }

    if (ngx_strlcasestrn(v->data, v->data + v->len,
                         (u_char *) "application/openmetrics-text", 28 - 1)
        != NULL
        || ngx_strlcasestrn(v->data, v->data + v->len,
                            (u_char *) "text/plain", 10 - 1) != NULL)
    {
        *fmt = NGX_HTTP_LLMOPT_FMT_PROMETHEUS;
        return NGX_DONE;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_llmopt_status_format(ngx_http_request_t *r)
{
    ngx_str_t   format;
    ngx_uint_t  fmt;

    static ngx_str_t  accept = ngx_string("Accept");

    static ngx_str_t  names[] = {
        ngx_string("json"), ngx_string("prometheus"), ngx_string("html"),
        ngx_string("series")
    };

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        for (fmt = 0; fmt < NGX_HTTP_LLMOPT_FMT_BAD; fmt++) {
            if (format.len == names[fmt].len
                && ngx_strncmp(format.data, names[fmt].data, format.len) == 0)
            {
                return fmt;
            }
        }

        return NGX_HTTP_LLMOPT_FMT_BAD;
    }

    (void) ngx_http_llmopt_add_header(r, "Vary", (u_char *) "Accept",
                                      sizeof("Accept") - 1);

    fmt = NGX_HTTP_LLMOPT_FMT_JSON;

    (void) ngx_http_llmopt_headers(&r->headers_in.headers, &accept,
                                   ngx_http_llmopt_status_accept, &fmt);

    return fmt;
}


/* Redis as the trainer last saw it; never the password. */

static const char *
ngx_http_llmopt_redis_state_name(ngx_uint_t state)
{
    return state == NGX_HTTP_LLMOPT_REDIS_UP ? "up"
           : state == NGX_HTTP_LLMOPT_REDIS_DOWN ? "down" : "connecting";
}


static u_char *
ngx_http_llmopt_status_redis(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    uint64_t                       now, ok;
    ngx_http_llmopt_shredis_t     *sr;
    ngx_http_llmopt_redis_conf_t  *rc;

    sr = &lmcf->sh->redis;
    rc = lmcf->redis;
    now = ngx_http_llmopt_wall_ms();
    ok = sr->last_ok_ms;

    p = ngx_sprintf(p, ",\"redis\":{\"addr\":");
    p = ngx_http_llmopt_json_str(p, rc->addr.data, rc->addr.len);
    p = ngx_sprintf(p, ",\"instance\":");
    p = ngx_http_llmopt_json_str(p, rc->instance.data, rc->instance.len);
    p = ngx_sprintf(p, ",\"prefix\":");
    p = ngx_http_llmopt_json_str(p, rc->prefix.data, rc->prefix.len);
    p = ngx_sprintf(p, ",\"state\":\"%s\",\"sync_ms\":%M,\"idle_ms\":%M,"
                    "\"syncs\":%uA,\"errors\":%uA,\"last_sync_ms_ago\":",
                    ngx_http_llmopt_redis_state_name(sr->state), rc->sync,
                    rc->idle, sr->syncs, sr->errors);

    if (ok) {
        p = ngx_sprintf(p, "%uL", now > ok ? now - ok : 0);

    } else {
        p = ngx_sprintf(p, "null");
    }

    p = ngx_sprintf(p, ",\"instances\":%uA,\"restored\":%uA,"
                    "\"redirects\":%uA,\"last_error\":", sr->instances,
                    sr->restored, sr->redirects);
    p = ngx_http_llmopt_json_str(p, sr->last_error,
                                 ngx_strnlen(sr->last_error,
                                             sizeof(sr->last_error) - 1));

    if (rc->stream.len) {
        p = ngx_sprintf(p, ",\"stream\":{\"key\":");
        p = ngx_http_llmopt_json_str(p, rc->stream.data, rc->stream.len);
        p = ngx_sprintf(p, ",\"added\":%uA,\"dropped\":%uA,"
                        "\"unconfirmed\":%uA}", sr->stream_added,
                        sr->stream_dropped, sr->stream_unconfirmed);
    }

    *p++ = '}';

    return p;
}


static u_char *
ngx_http_llmopt_status_zone(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    size_t            size, free;
    ngx_slab_pool_t  *shpool;

    shpool = lmcf->shpool;
    size = lmcf->shm_zone->shm.size;

    /* pages never handed out; a racy read, fine for status */
    free = shpool->pfree << ngx_pagesize_shift;

    p = ngx_sprintf(p, "\"zone\":{\"name\":");
    p = ngx_http_llmopt_json_str(p, lmcf->shm_zone->shm.name.data,
                                 lmcf->shm_zone->shm.name.len);

    return ngx_sprintf(p, ",\"size\":%uz,\"used\":%uz,\"free\":%uz,"
                       "\"generation\":%ui,\"retired\":%ui},",
                       size, free < size ? size - free : 0, free,
                       lmcf->sh->generation, lmcf->sh->n_retired);
}


static size_t
ngx_http_llmopt_status_size(ngx_http_llmopt_main_conf_t *lmcf)
{
    size_t                        size;
    ngx_uint_t                    i;
    ngx_http_llmopt_policy_rt_t  *prt;

    size = 4096 + 6 * (lmcf->catalog_file.len + 64);

    if (lmcf->redis != NULL) {
        size += 1024 + 6 * (lmcf->redis->addr.len + lmcf->redis->instance.len
                            + lmcf->redis->prefix.len
                            + lmcf->redis->stream.len + 128);
    }

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        size += ngx_http_llmopt_status_policy_size(&prt[i]);
    }

    return size;
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
                    "\"restored\":%uA,\"lag_ms\":%uA,"
                    "\"updates_per_s\":%.3f,\"events_per_s\":%.3f}",
                    st->driver == NGX_HTTP_LLMOPT_DRIVER_HELPER ? "helper"
                    : st->driver == NGX_HTTP_LLMOPT_DRIVER_WORKER ? "worker"
                    : "none",
                    st->lease_pid, beat && now > beat ? now - beat : 0,
                    lmcf->trainer_interval, st->ticks, st->events,
                    st->updates, st->declined, st->stale, st->expired,
                    st->takeovers, st->tick_us_max, st->checkpoints,
                    st->checkpoint_errors, st->restored, st->lag_ms,
                    st->updates_per_ks / 1000.0, st->events_per_ks / 1000.0);

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


/*
 * The series of every policy: {"resolution_s":60,"policies":{"p":{"t":
 * [...],"arms":{"a":{"requests":[...],...}}}}}, per minute from the
 * minute ring, or with ?resolution=600 per 10 minutes from the day ring.
 * Point i covers the time from t[i] (unix seconds of the snapshot that
 * opens it) to the next snapshot; the last point, open, runs to now.
 * Documented in docs/STATUS.md ("The series").
 */

static const char  *ngx_http_llmopt_series_fields[] = {
    "requests", "explore", "outcomes", "errors", "cost_usd", "latency_n",
    "latency_ms_sum", "ttft_n", "ttft_ms_sum", "rewards", "reward_sum",
    "breaker_opens", "breaker_open", NULL
};


static ngx_int_t
ngx_http_llmopt_series(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    u_char                       *p;
    size_t                        size, snap;
    ngx_str_t                     arg;
    ngx_buf_t                    *b;
    ngx_uint_t                    i, a, f, k, n, ring, slots;
    ngx_http_llmopt_snap_t      **s, *live;
    ngx_http_llmopt_point_t      *x, *y;
    ngx_http_llmopt_policy_rt_t  *prt;

    ring = LLMOPT_HISTORY_MINUTE;

    if (ngx_http_arg(r, (u_char *) "resolution", 10, &arg) == NGX_OK) {
        if (arg.len == 3 && ngx_strncmp(arg.data, "600", 3) == 0) {
            ring = LLMOPT_HISTORY_DAY;

        } else if (arg.len != 2 || ngx_strncmp(arg.data, "60", 2) != 0) {
            return ngx_http_llmopt_send_error(r, LLMOPT_DIALECT_OPENAI,
                       NGX_HTTP_BAD_REQUEST, "invalid_request_error",
                       "invalid_resolution",
                       (u_char *) "resolution is 60 or 600",
                       sizeof("resolution is 60 or 600") - 1);
        }
    }

    slots = llmopt_history_rings[ring].slots;
    prt = lmcf->policies.elts;

    size = 256;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        size += 256 + 6 * prt[i].name.len + slots * 16 * 5
                + prt[i].n_arms * (6 * 64 + 256 + slots * 13 * 24);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = ngx_palloc(r->pool, (slots + 1) * sizeof(void *));
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"resolution_s\":%d,\"time_ms\":%uL,"
                    "\"policies\":{",
                    (int) (llmopt_history_rings[ring].period_ms / 1000),
                    ngx_http_llmopt_wall_ms());

    for (i = 0; i < lmcf->policies.nelts; i++) {
        snap = ngx_http_llmopt_snap_size(prt[i].n_arms);

        /* the snapshots oldest first, then the counters now */

        n = 0;

        s[0] = NULL;

        for (k = slots - 1; k-- > 0; /* void */) {
            if (s[n] == NULL) {
                /* a slot not taken is tried again for the next one */
                s[n] = ngx_palloc(r->pool, snap);
                if (s[n] == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                s[n + 1] = NULL;
            }

            if (ngx_http_llmopt_history_get(&prt[i], ring, k, s[n])
                == NGX_OK
                && (n == 0 || s[n]->time_ms > s[n - 1]->time_ms))
            {
                n++;
            }
        }

        live = ngx_palloc(r->pool, snap);
        if (live == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        s[n] = ngx_http_llmopt_history_live(&prt[i], live);

        if (i) {
            *p++ = ',';
        }

        p = ngx_http_llmopt_json_str(p, prt[i].name.data, prt[i].name.len);
        p = ngx_sprintf(p, ":{\"t\":[");

        for (k = 0; k < n; k++) {
            p = ngx_sprintf(p, "%s%uL", k ? "," : "", s[k]->time_ms / 1000);
        }

        /* reloads, failovers and ring drops in a point; the lag at its
           end */

        for (f = 0; f < 4; f++) {
            p = ngx_sprintf(p, "],\"%s\":[", (char *) (f == 0 ? "reloads"
                                           : f == 1 ? "failovers"
                                           : f == 2 ? "drops" : "lag_ms"));

            for (k = 0; k < n; k++) {
                p = ngx_sprintf(p, "%s%uL", k ? "," : "",
                                f == 0 ? s[k + 1]->generation
                                         - s[k]->generation
                                : f == 1 ? s[k + 1]->failovers
                                           - s[k]->failovers
                                : f == 2 ? s[k + 1]->drops - s[k]->drops
                                : s[k + 1]->lag_ms);
            }
        }

        p = ngx_sprintf(p, "],\"arms\":{");

        for (a = 0; a < prt[i].n_arms; a++) {
            if (a) {
                *p++ = ',';
            }

            p = ngx_http_llmopt_json_str(p, prt[i].arms[a].name.data,
                                         prt[i].arms[a].name.len);
            *p++ = ':';
            *p++ = '{';

            for (f = 0; ngx_http_llmopt_series_fields[f]; f++) {
                p = ngx_sprintf(p, "%s\"%s\":[", f ? "," : "",
                                ngx_http_llmopt_series_fields[f]);

                for (k = 0; k < n; k++) {
                    x = &s[k]->arms[a];
                    y = &s[k + 1]->arms[a];

                    if (k) {
                        *p++ = ',';
                    }

                    switch (f) {
                    case 0:
                        p = ngx_sprintf(p, "%uL", y->requests - x->requests);
                        break;
                    case 1:
                        p = ngx_sprintf(p, "%uL", y->explore - x->explore);
                        break;
                    case 2:
                        p = ngx_sprintf(p, "%uL", y->outcomes - x->outcomes);
                        break;
                    case 3:
                        p = ngx_sprintf(p, "%uL", y->errors - x->errors);
                        break;
                    case 4:
                        p = ngx_sprintf(p, "%.9f",
                                        (y->cost_nusd - x->cost_nusd) / 1e9);
                        break;
                    case 5:
                        p = ngx_sprintf(p, "%uL", y->latency_n - x->latency_n);
                        break;
                    case 6:
                        p = ngx_sprintf(p, "%.3f",
                                        (y->latency_sum_us - x->latency_sum_us)
                                        / 1e3);
                        break;
                    case 7:
                        p = ngx_sprintf(p, "%uL", y->ttft_n - x->ttft_n);
                        break;
                    case 8:
                        p = ngx_sprintf(p, "%.3f",
                                        (y->ttft_sum_us - x->ttft_sum_us)
                                        / 1e3);
                        break;
                    case 9:
                        p = ngx_sprintf(p, "%uL",
                                        (uint64_t) (y->rewards - x->rewards));
                        break;
                    case 10:
                        p = ngx_sprintf(p, "%.6f",
                                        y->reward_sum - x->reward_sum);
                        break;
                    case 11:
                        p = ngx_sprintf(p, "%uL",
                                        y->breaker_opens - x->breaker_opens);
                        break;
                    default:
                        p = ngx_sprintf(p, "%uL", y->breaker_open);
                        break;
                    }
                }

                *p++ = ']';
            }

            *p++ = '}';
        }

        p = ngx_sprintf(p, "}}");
    }

    p = ngx_sprintf(p, "}}\n");

    b->last = p;

    return ngx_http_llmopt_send_json(r, NGX_HTTP_OK, b);
}
