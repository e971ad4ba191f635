
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

#include <math.h>

#include "ngx_http_llmopt_module.h"


static ngx_int_t ngx_http_llmopt_status_handler(ngx_http_request_t *r);
static size_t ngx_http_llmopt_status_size(ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_status_policy(ngx_http_request_t *r,
    u_char *p, ngx_http_llmopt_policy_rt_t *prt);
static u_char *ngx_http_llmopt_status_arm(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t a, const void *params,
    ngx_http_llmopt_snap_t **snaps);
static u_char *ngx_http_llmopt_status_times(u_char *p, const char *name,
    ngx_atomic_t *counts, const double *bounds, ngx_uint_t n, double scale,
    double sum, uint64_t total, ngx_uint_t p95);
static double ngx_http_llmopt_quantile(ngx_atomic_t *counts,
    const double *bounds, ngx_uint_t n, double q);
static u_char *ngx_http_llmopt_status_zone(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static ngx_uint_t ngx_http_llmopt_status_format(ngx_http_request_t *r);
static ngx_int_t ngx_http_llmopt_status_accept(ngx_table_elt_t *h,
    void *data);
static u_char *ngx_http_llmopt_status_redis(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_status_budget(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_policy_rt_t *prt);
static u_char *ngx_http_llmopt_status_canary(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);
static void ngx_http_llmopt_tally_sample(const llmopt_arm_tally_t *t,
    llmopt_sample_t *s);
static u_char *ngx_http_llmopt_status_experiment(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);
static ngx_int_t ngx_http_llmopt_series(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_json_str(u_char *p, u_char *s, size_t len);
static u_char *ngx_http_llmopt_status_learning(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static ngx_int_t ngx_http_llmopt_prometheus(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_labels(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt, ngx_str_t *arm, const char *extra);
static u_char *ngx_http_llmopt_prom_histogram(u_char *p, const char *name,
    ngx_http_llmopt_policy_rt_t *prt, ngx_str_t *arm, ngx_atomic_t *counts,
    const double *bounds, ngx_uint_t n, double scale, double sum);
static u_char *ngx_http_llmopt_prom_value(u_char *p, u_char *s, size_t len);


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
 * The headers of every answer of llmopt's own endpoints (llmopt_status in
 * each format, its dashboard, llmopt_feedback): a browser must neither
 * frame them (a dashboard in another site's frame could be clicked through)
 * nor read them as another type than the one sent.  The dashboard may run
 * its inline script and style and ask its own origin for data, nothing
 * else; any other answer is data, which may load nothing.
 */

ngx_int_t
ngx_http_llmopt_page_headers(ngx_http_request_t *r, ngx_uint_t dashboard)
{
    ngx_str_t  csp;

    if (dashboard) {
        ngx_str_set(&csp, "default-src 'none'; script-src 'unsafe-inline'; "
                          "style-src 'unsafe-inline'; connect-src 'self'; "
                          "img-src 'self' data:; frame-ancestors 'none'");

    } else {
        ngx_str_set(&csp, "default-src 'none'; frame-ancestors 'none'");
    }

    if (ngx_http_llmopt_add_header(r, "X-Content-Type-Options",
                                   (u_char *) "nosniff", 7)
        != NGX_OK
        || ngx_http_llmopt_add_header(r, "X-Frame-Options",
                                      (u_char *) "DENY", 4)
           != NGX_OK
        || ngx_http_llmopt_add_header(r, "Content-Security-Policy",
                                      csp.data, csp.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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


/*
 * A policy's budget: its caps, its mode, what this instance and the
 * fleet spent, what was reserved and granted (with llmopt_redis), and
 * the requests limited or refused.
 */

static u_char *
ngx_http_llmopt_status_budget(u_char *p, ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt)
{
    const int64_t               *cap;
    uint64_t                     now;
    unsigned                     which;
    ngx_uint_t                   k, active;
    llmopt_budget_account_t      acct;
    ngx_http_llmopt_budget_t    *b;
    const llmopt_budget_conf_t  *bc;

    static const char  *names[2] = { "day", "month" };

    b = prt->stats->budget;
    bc = &prt->policy->budget;
    cap = bc->cap_nusd;

    ngx_http_llmopt_budget_read(lmcf, b, &acct, &active);
    now = ngx_http_llmopt_wall_ms();

    p = ngx_sprintf(p, ",\"budget\":{\"shared\":%s,\"mode\":\"%s\","
                    "\"near\":%.2f,\"reserved\":%.9f",
                    lmcf->redis != NULL ? "true" : "false",
                    llmopt_budget_mode_name(lmcf->redis != NULL
                                            ? b->mode : LLMOPT_BUDGET_ALONE),
                    bc->near,
                    llmopt_budget_reserved(&acct) / LLMOPT_BUDGET_NUSD);

    for (k = 0; k < 2; k++) {
        int64_t  c2[2] = { 0, 0 };

        if (cap[k] == 0) {
            continue;
        }

        c2[k] = cap[k];

        p = ngx_sprintf(p, ",\"%s\":{\"cap\":%.9f,\"spent\":%.9f,"
                        "\"fleet_spent\":%.9f,"
                        "\"granted\":%.9f,\"granted_all\":%.9f,"
                        "\"left\":%.9f}", names[k],
                        cap[k] / LLMOPT_BUDGET_NUSD,
                        acct.spent[k] / LLMOPT_BUDGET_NUSD,
                        llmopt_budget_fleet(&acct, k) / LLMOPT_BUDGET_NUSD,
                        (lmcf->redis ? acct.granted[k] : cap[k])
                        / LLMOPT_BUDGET_NUSD,
                        (lmcf->redis ? acct.granted_all[k] : cap[k])
                        / LLMOPT_BUDGET_NUSD,
                        llmopt_budget_left(&acct, c2, lmcf->redis != NULL,
                                           &which)
                        / LLMOPT_BUDGET_NUSD);
    }

    p = ngx_sprintf(p, ",\"tenant_caps\":{\"day\":%.9f,\"month\":%.9f},"
                    "\"tenants\":%ui,\"tenant_slots\":%ui,"
                    "\"requests\":%uL,\"limited\":%uA,\"refused\":%uA,"
                    "\"pending\":%uA,\"outage_refused\":%uA,"
                    "\"no_room\":%uA,\"grants\":%uA,\"instances\":%uA,"
                    "\"modes\":%uA,\"lost\":%uA,\"reseed_ms\":%uL}",
                    bc->tenant_cap[0], bc->tenant_cap[1], active, b->n,
                    acct.requests, b->limited, b->refused, b->pending,
                    b->outage_refused, b->no_room, b->grants, b->live,
                    b->modes, b->lost,
                    (uint64_t) (b->reseed_until_ms > now
                                ? b->reseed_until_ms - now : 0));

    return p;
}


/* A policy's canary: state, stage, and the stage's two sides so far. */

static u_char *
ngx_http_llmopt_status_canary(u_char *p, ngx_http_llmopt_policy_rt_t *prt)
{
    double                       share;
    ngx_uint_t                   k;
    llmopt_canary_side_t         side[2];
    ngx_http_llmopt_stats_t     *st;
    const llmopt_canary_conf_t  *c;

    st = prt->stats;
    c = &prt->policy->canary;
    ngx_memcpy(side, st->canary.side, sizeof(side));
    share = ngx_http_llmopt_canary_share(prt);

    p = ngx_sprintf(p, ",\"canary\":{\"arm\":");
    p = ngx_http_llmopt_json_str(p, prt->arms[c->arm].name.data,
                                 prt->arms[c->arm].name.len);
    p = ngx_sprintf(p, ",\"state\":\"%s\",\"stage\":%uA,\"share\":%.4f,"
                    "\"stages\":[",
                    llmopt_canary_state_name(st->canary.state),
                    st->canary.stage, share < 0 ? 0 : share);

    for (k = 0; k < c->n_stages; k++) {
        p = ngx_sprintf(p, "%s%.4f", k ? "," : "", c->stages[k]);
    }

    p = ngx_sprintf(p, "],\"since_ms\":%uA,\"changes\":%uA",
                    st->canary.since_ms, st->canary.changes);

    for (k = 0; k < 2; k++) {
        p = ngx_sprintf(p, ",\"%s\":{\"answers\":%.0f,\"quality\":%.4f,"
                        "\"cost\":%.9f,\"latency_ms\":%.1f}",
                        k ? "others" : "canary", side[k].n,
                        side[k].n ? side[k].quality / side[k].n : 0.0,
                        side[k].n ? side[k].cost / side[k].n : 0.0,
                        side[k].latency_n ? side[k].latency / side[k].latency_n
                                          : 0.0);
    }

    p = ngx_sprintf(p, ",\"last\":");
    p = ngx_http_llmopt_json_str(p, st->canary.why,
                                 ngx_strnlen(st->canary.why,
                                             sizeof(st->canary.why)));

    *p++ = '}';

    return p;
}


/* The rewards an arm learned, as a sample for llmopt_stats. */

static void
ngx_http_llmopt_tally_sample(const llmopt_arm_tally_t *t, llmopt_sample_t *s)
{
    s->n = t->rewards;
    s->sum = t->reward_sum;
    s->sq = t->reward_sq;
}


/*
 * A static policy is an A/B split: each arm against the first (control),
 * from the rewards learned -- Welch's t-test on the mean reward, the
 * two-proportion z-test on the failure rate, 95 % intervals of the
 * differences, and an always-valid p-value (mSPRT) that may be read at
 * any time: "significant" is that one below 0.05.
 */

#define NGX_HTTP_LLMOPT_MSPRT_TAU2  0.01      /* a difference of ~0.1 */

static u_char *
ngx_http_llmopt_status_experiment(u_char *p, ngx_http_llmopt_policy_rt_t *prt)
{
    double               av;
    ngx_uint_t           a;
    llmopt_test_t        w, z;
    llmopt_sample_t      c, x;
    llmopt_arm_tally_t  *t;

    t = prt->stats->tally;

    ngx_http_llmopt_tally_sample(&t[0], &c);

    p = ngx_sprintf(p, ",\"experiment\":{\"control\":");
    p = ngx_http_llmopt_json_str(p, prt->arms[0].name.data,
                                 prt->arms[0].name.len);
    p = ngx_sprintf(p, ",\"arms\":{");

    for (a = 1; a < prt->n_arms; a++) {
        ngx_http_llmopt_tally_sample(&t[a], &x);

        llmopt_welch(&c, &x, &w);
        llmopt_z_prop(t[0].failures, t[0].rewards, t[a].failures,
                      t[a].rewards, &z);
        av = llmopt_msprt_p(&c, &x, NGX_HTTP_LLMOPT_MSPRT_TAU2);

        if (a > 1) {
            *p++ = ',';
        }

        p = ngx_http_llmopt_json_str(p, prt->arms[a].name.data,
                                     prt->arms[a].name.len);
        p = ngx_sprintf(p, ":{\"n\":%uL,\"reward_diff\":%.4f,"
                        "\"ci95\":[%.4f,%.4f],\"p\":%.4f,"
                        "\"always_valid_p\":%.4f,\"significant\":%s,"
                        "\"failure_rate_diff\":%.4f,"
                        "\"failure_ci95\":[%.4f,%.4f],\"failure_p\":%.4f}",
                        (uint64_t) x.n, w.diff, w.lo, w.hi, w.p, av,
                        av < 0.05 ? "true" : "false", z.diff, z.lo, z.hi,
                        z.p);
    }

    return ngx_sprintf(p, "}}");
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


/* names are at most LLMOPT_CATALOG_NAME_MAX bytes, escaped at most x6 */

#define NGX_HTTP_LLMOPT_STATUS_POLICY  (4096 + 64)  /* a budget: ~1 KB */
#define NGX_HTTP_LLMOPT_STATUS_EXP     (6 * 64 + 400)
#define NGX_HTTP_LLMOPT_STATUS_ARM     (6 * 64 * 2 + 2048 + 448)
#define NGX_HTTP_LLMOPT_STATUS_THETA   (LLMOPT_FEATURE_MAX_DIM * 32 + 512)


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
        size += NGX_HTTP_LLMOPT_STATUS_POLICY + 6 * prt[i].name.len
                + prt[i].n_arms * (NGX_HTTP_LLMOPT_STATUS_ARM
                                   + NGX_HTTP_LLMOPT_STATUS_THETA
                                   + NGX_HTTP_LLMOPT_STATUS_EXP);
    }

    return size;
}


static u_char *
ngx_http_llmopt_status_policy(ngx_http_request_t *r, u_char *p,
    ngx_http_llmopt_policy_rt_t *prt)
{
    size_t                        snap;
    uint64_t                      now, seq, decisions, explore;
    ngx_uint_t                    a, k;
    const void                   *params;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_block_t      *block;
    ngx_http_llmopt_snap_t       *snaps[3];
    const llmopt_bandit_conf_t   *bc;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);
    st = prt->stats;
    bc = &prt->policy->bandit;
    block = prt->block;

    /* a consistent copy of the parameters, or the live ones at worst */

    params = ngx_palloc(r->pool, block->size);
    if (params == NULL) {
        return NULL;
    }

    if (llmopt_seqlock_read_copy(&block->lock, (void *) params,
                                 block->params, block->size,
                                 LLMOPT_SEQLOCK_TRIES, &seq)
        != LLMOPT_OK)
    {
        params = block->params;
    }

    /* counters now, a minute ago and an hour ago */

    snap = ngx_http_llmopt_snap_size(prt->n_arms);

    for (k = 0; k < 3; k++) {
        snaps[k] = ngx_pcalloc(r->pool, snap);
        if (snaps[k] == NULL) {
            return NULL;
        }
    }

    now = ngx_http_llmopt_wall_ms();

    (void) ngx_http_llmopt_history_live(prt, snaps[0]);

    for (k = 1; k < 3; k++) {
        if (ngx_http_llmopt_history_before(prt,
                                           now - (k == 1 ? 60000 : 3600000),
                                           snaps[k])
            != NGX_OK)
        {
            ngx_memzero(snaps[k], snap);       /* all of it is the window */
        }
    }

    decisions = 0;
    explore = 0;

    for (k = 0; k < NGX_HTTP_LLMOPT_DECISION_BUCKETS; k++) {
        decisions += st->decision[k];
    }

    for (a = 0; a < prt->n_arms; a++) {
        explore += st->arm_explore[a];
    }

    p = ngx_http_llmopt_json_str(p, prt->name.data, prt->name.len);

    p = ngx_sprintf(p, ":{\"algorithm\":\"%s\",\"dialect\":\"%s\","
                    "\"shape\":\"%016uxL\","
                    "\"d\":%ui,\"requests\":%uA,\"passthrough\":%uA,"
                    "\"fallback\":%uA,\"failovers\":%uA,\"pinned\":%uA,"
                    "\"rejected\":{\"bad_request\":%uA,"
                    "\"too_large\":%uA,\"media_type\":%uA,"
                    "\"constraint\":%uA,\"budget\":%uA},"
                    "\"explore_share\":%.4f,",
                    llmopt_algorithm_name(bc->algorithm),
                    prt->policy->dialect == LLMOPT_DIALECT_ANTHROPIC
                    ? "anthropic" : "openai", prt->shape,
                    (ngx_uint_t) bc->d, st->requests, st->passthrough,
                    st->fallback, st->failovers, st->pinned,
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_BAD_JSON],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_TOO_LARGE],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_MEDIA_TYPE],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_CONSTRAINT],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_BUDGET],
                    decisions ? (double) explore / decisions : 0.0);

    p = ngx_http_llmopt_status_times(p, "decision_us", st->decision,
                                     ngx_http_llmopt_decision_bounds_ns,
                                     NGX_HTTP_LLMOPT_DECISION_BUCKETS, 1e-3,
                                     st->decision_sum_ns * 1e-3, decisions,
                                     0);

    if (bc->algorithm == LLMOPT_ALG_STATIC && prt->n_arms > 1) {
        p = ngx_http_llmopt_status_experiment(p, prt);
    }

    if (prt->policy->budgeted && st->budget != NULL) {
        p = ngx_http_llmopt_status_budget(p, lmcf, prt);
    }

    if (prt->policy->canary.arm >= 0) {
        p = ngx_http_llmopt_status_canary(p, prt);
    }

    if (prt->policy->drift_response == LLMOPT_DRIFT_EXPLORE) {
        now = ngx_http_llmopt_wall_ms();
        p = ngx_sprintf(p, ",\"drift_explore_ms\":%uL",
                        (uint64_t) st->explore_until_ms > now
                        ? (uint64_t) st->explore_until_ms - now : 0);
    }

    if (prt->policy->feedback_wait_ms) {
        p = ngx_sprintf(p, ",\"feedback_wait_ms\":%uL,\"unscored\":\"%s\"",
                        prt->policy->feedback_wait_ms,
                        llmopt_unscored_name(prt->policy->reward.unscored));
    }

    /* the catalog's baseline arm, null: the dashboard takes the costliest */

    p = ngx_sprintf(p, ",\"baseline\":");

    if (prt->policy->baseline >= 0) {
        p = ngx_http_llmopt_json_str(p, prt->arms[prt->policy->baseline]
                                        .name.data,
                                     prt->arms[prt->policy->baseline]
                                        .name.len);

    } else {
        p = ngx_sprintf(p, "null");
    }

    p = ngx_sprintf(p, ",\"history\":%s,\"arms\":{",
                    st->history != NULL ? "true" : "false");

    for (a = 0; a < prt->n_arms; a++) {
        if (a) {
            *p++ = ',';
        }

        p = ngx_http_llmopt_status_arm(p, prt, a, params, snaps);
    }

    p = ngx_sprintf(p, "}}");

    return p;
}


static u_char *
ngx_http_llmopt_status_arm(u_char *p, ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t a, const void *params, ngx_http_llmopt_snap_t **snaps)
{
    char                          theta[NGX_HTTP_LLMOPT_STATUS_THETA];
    double                        n, mean, var, half, share[3];
    uint64_t                      total[3], mine[3], count, now;
    ngx_uint_t                    k, w;
    llmopt_sample_t               sample;
    llmopt_bandit_arm_t           view;
    ngx_http_llmopt_arm_t        *arm;
    llmopt_arm_tally_t           *tally;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_arm_stats_t  *as;
    const llmopt_model_t         *model;
    const llmopt_bandit_conf_t   *bc;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_llmopt_module);

    st = prt->stats;
    bc = &prt->policy->bandit;
    model = &lmcf->catalog.models[prt->policy->arms[a].model];
    arm = &prt->arms[a];
    as = &st->arms[a];
    tally = &st->tally[a];
    now = ngx_http_llmopt_wall_ms();

    /* traffic shares: the last minute, the last hour, since the start */

    for (w = 0; w < 3; w++) {
        total[w] = 0;

        for (k = 0; k < prt->n_arms; k++) {
            total[w] += snaps[0]->arms[k].requests
                        - (w < 2 ? snaps[w + 1]->arms[k].requests : 0);
        }

        mine[w] = snaps[0]->arms[a].requests
                  - (w < 2 ? snaps[w + 1]->arms[a].requests : 0);
        share[w] = total[w] ? (double) mine[w] / total[w] : 0;
    }

    p = ngx_http_llmopt_json_str(p, arm->name.data, arm->name.len);
    p = ngx_sprintf(p, ":{\"model\":");
    p = ngx_http_llmopt_json_str(p, arm->model.data, arm->model.len);
    p = ngx_sprintf(p, ",\"upstream\":");
    p = ngx_http_llmopt_json_str(p, arm->upstream.data, arm->upstream.len);

    /* the catalog's prices, USD per 1M tokens: what the dashboard's
       counterfactual costs take from the token counters */

    p = ngx_sprintf(p, ",\"price\":{\"input\":%.4f,\"output\":%.4f,"
                    "\"cached_input\":%.4f}",
                    model->price_input, model->price_output,
                    model->price_cached_input);

    p = ngx_sprintf(p, ",\"shadow\":%uA", st->arm_shadow[a]);
    p = ngx_sprintf(p, ",\"requests\":%uA,\"explore\":%uA,"
                    "\"explore_share\":%.4f,"
                    "\"share\":{\"minute\":%.4f,\"hour\":%.4f,"
                    "\"total\":%.4f},"
                    "\"window\":{\"minute\":%uL,\"hour\":%uL},"
                    "\"updates\":%uL,\"mean_reward\":%.4f,",
                    st->arm_requests[a], st->arm_explore[a],
                    st->arm_requests[a]
                    ? (double) st->arm_explore[a] / st->arm_requests[a] : 0.0,
                    share[0], share[1], share[2], mine[0], mine[1],
                    (uint64_t) llmopt_bandit_arm_count(bc, params, a),
                    llmopt_bandit_arm_mean(bc, params, a));

    /* rewards learned, undiscounted, with a normal 95 % interval */

    ngx_http_llmopt_tally_sample(tally, &sample);
    n = sample.n;

    if (n > 0) {
        llmopt_sample_moments(&sample, &mean, &var);
        half = n > 1 ? 1.96 * sqrt(var / n) : 1;

        p = ngx_sprintf(p, "\"reward\":{\"n\":%uL,\"mean\":%.4f,"
                        "\"sd\":%.4f,"
                        "\"ci95\":[%.4f,%.4f],\"failures\":%uL},",
                        (uint64_t) n, mean, n > 1 ? sqrt(var) : 0.0,
                        ngx_max(mean - half, 0.0),
                        ngx_min(mean + half, 1.0),
                        (uint64_t) tally->failures);

    } else {
        p = ngx_sprintf(p, "\"reward\":{\"n\":0,\"mean\":null,"
                        "\"sd\":null,\"ci95\":null,\"failures\":0},");
    }

    /* answers with a score, and those whose feedback never came */

    p = ngx_sprintf(p, "\"scored\":%uL,\"unscored\":%uL,",
                    (uint64_t) tally->scored, (uint64_t) tally->unscored);

    p = ngx_sprintf(p, "\"outcomes\":%uA,\"tokens\":{\"in\":%uA,"
                    "\"out\":%uA,\"cached\":%uA},\"cost_usd\":%uA.%09uA,"
                    "\"errors\":{\"rate_limited\":%uA,\"server\":%uA,"
                    "\"other\":%uA,\"timeouts\":%uA},"
                    "\"client_gone\":%uA,\"drained\":%uA,"
                    "\"cost_estimated\":{\"outcomes\":%uA,"
                    "\"usd\":%uA.%09uA},"
                    "\"breaker\":{\"state\":\"%s\",\"failures\":%uA,"
                    "\"opens\":%uA,\"probes\":%uA,\"open_ms\":%uL},"
                    "\"drift\":{\"reward\":%uA,\"latency\":%uA},"
                    "\"slo\":{\"p95_ms\":",
                    as->outcomes, as->tokens_in, as->tokens_out,
                    as->tokens_cached, as->cost_nusd / 1000000000,
                    as->cost_nusd % 1000000000, as->rate_limited,
                    as->server_errors, as->other_errors, as->timeouts,
                    as->client_gone, as->drained, as->cost_estimated,
                    as->cost_estimated_nusd / 1000000000,
                    as->cost_estimated_nusd % 1000000000,
                    ngx_http_llmopt_breaker_state(as, now),
                    as->breaker_failures, as->breaker_opens,
                    as->breaker_probes,
                    as->breaker_open_until_ms > now
                    ? (uint64_t) (as->breaker_open_until_ms - now) : 0,
                    as->drift_alarms[0], as->drift_alarms[1]);

    /* the trainer measures the recent p95 only for a latency_slo */

    if (prt->policy->latency_slo_ms) {
        p = ngx_sprintf(p, "%uA", as->slo_p95_ms);

    } else {
        p = ngx_sprintf(p, "null");
    }

    p = ngx_sprintf(p, ",\"breach\":%s},",
                    as->slo_breach ? "true" : "false");

    count = snaps[0]->arms[a].latency_n;
    p = ngx_http_llmopt_status_times(p, "latency_ms", as->latency,
                                     ngx_http_llmopt_time_bounds_ms,
                                     NGX_HTTP_LLMOPT_TIME_BUCKETS, 1,
                                     as->latency_sum_us * 1e-3, count, 1);

    *p++ = ',';

    count = snaps[0]->arms[a].ttft_n;
    p = ngx_http_llmopt_status_times(p, "ttft_ms", as->ttft,
                                     ngx_http_llmopt_time_bounds_ms,
                                     NGX_HTTP_LLMOPT_TIME_BUCKETS, 1,
                                     as->ttft_sum_us * 1e-3, count, 1);

    /* the model: pulls, discounted weight, and theta of linear ones */

    llmopt_bandit_arm(bc, params, a, &view);

    p = ngx_sprintf(p, ",\"params\":{\"pulls\":%uL,\"weight\":%.4f",
                    (uint64_t) *view.pulls, *view.n);

    if (prt->local != NULL) {
        /* llmopt_redis: what this instance learned itself (a racy read of
           one number, fine for status) */
        p = ngx_sprintf(p, ",\"local_pulls\":%uL",
                        (uint64_t) llmopt_bandit_arm_count(bc,
                                               prt->local->params, a));
    }

    if (view.theta != NULL
        && llmopt_features_json(&prt->policy->features, view.theta, theta,
                                sizeof(theta))
           < sizeof(theta))
    {
        p = ngx_sprintf(p, ",\"theta\":%s", theta);
    }

    p = ngx_sprintf(p, "}}");

    return p;
}


/*
 * "name":{"p50":..,"p95":..,"p99":..,"mean":..} of a histogram, the
 * quantiles interpolated linearly inside their bucket (from 0 for the
 * first); a quantile in the open last bucket is its lower bound.
 */

static u_char *
ngx_http_llmopt_status_times(u_char *p, const char *name,
    ngx_atomic_t *counts, const double *bounds, ngx_uint_t n, double scale,
    double sum, uint64_t total, ngx_uint_t p95)
{
    if (total == 0) {
        return ngx_sprintf(p, "\"%s\":{\"p50\":null,%s\"p99\":null,"
                           "\"mean\":null,\"n\":0}", name,
                           p95 ? "\"p95\":null," : "");
    }

    p = ngx_sprintf(p, "\"%s\":{\"p50\":%.3f,", name,
                    ngx_http_llmopt_quantile(counts, bounds, n, 0.50)
                    * scale);

    if (p95) {
        p = ngx_sprintf(p, "\"p95\":%.3f,",
                        ngx_http_llmopt_quantile(counts, bounds, n, 0.95)
                        * scale);
    }

    return ngx_sprintf(p, "\"p99\":%.3f,\"mean\":%.3f,\"n\":%uL}",
                       ngx_http_llmopt_quantile(counts, bounds, n, 0.99)
                       * scale, sum / total, total);
}


static double
ngx_http_llmopt_quantile(ngx_atomic_t *counts, const double *bounds,
    ngx_uint_t n, double q)
{
    double      rank, below, lo, hi;
    uint64_t    total, c[64];
    ngx_uint_t  i;

    total = 0;

    for (i = 0; i < n; i++) {
        c[i] = counts[i];               /* one read of each */
        total += c[i];
    }

    if (total == 0) {
        return 0;
    }

    rank = q * total;
    below = 0;

    for (i = 0; i < n; i++) {
        if (c[i] && below + c[i] >= rank) {
            lo = i ? bounds[i - 1] : 0;
            hi = bounds[i];

            if (i + 1 == n) {
                return lo;
            }

            return lo + (hi - lo) * (rank - below) / c[i];
        }

        below += c[i];
    }

    return n > 1 ? bounds[n - 2] : 0;
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
 * The Prometheus text exposition (format 0.0.4).  Metric names, labels and
 * buckets are listed in README ("Metrics").  Counters are as in the JSON
 * status; histograms are cumulative, as Prometheus wants them.
 */

#define NGX_HTTP_LLMOPT_PROM_HEAD     8192
#define NGX_HTTP_LLMOPT_PROM_POLICY   8192
#define NGX_HTTP_LLMOPT_PROM_ARM      13312


typedef struct {
    const char  *name;
    const char  *type;
    const char  *help;
} ngx_http_llmopt_prom_meta_t;


static ngx_http_llmopt_prom_meta_t  ngx_http_llmopt_prom_policy_meta[] = {
    { "llmopt_requests_total", "counter",
      "Requests routed by a policy" },
    { "llmopt_passthrough_total", "counter",
      "Requests passed to the fallback arm unparsed (not POST)" },
    { "llmopt_fallback_total", "counter",
      "Requests sent to the fallback arm because no choice could be made" },
    { "llmopt_rejected_total", "counter",
      "Requests answered with an error by llmopt, by reason" },
    { "llmopt_failovers_total", "counter",
      "Requests sent to a second arm after the first failed" },
    { NULL, NULL, NULL }
};


static ngx_http_llmopt_prom_meta_t  ngx_http_llmopt_prom_arm_meta[] = {
    { "llmopt_arm_requests_total", "counter",
      "Requests routed to an arm" },
    { "llmopt_arm_explore_total", "counter",
      "Requests routed to an arm that was not the greedy choice" },
    { "llmopt_arm_updates_total", "counter",
      "Rewards the trainer has learned for an arm" },
    { "llmopt_arm_mean_reward", "gauge",
      "Mean reward learned for an arm, in [0, 1]" },
    { "llmopt_arm_outcomes_total", "counter",
      "Responses of an arm that ended" },
    { "llmopt_arm_tokens_total", "counter",
      "Tokens of an arm's responses: in (cached included), out, cached" },
    { "llmopt_arm_cost_usd_total", "counter",
      "Cost of an arm's responses, USD, from the catalog's prices" },
    { "llmopt_arm_errors_total", "counter",
      "Failed responses of an arm: rate_limited (429), server (5xx or "
      "none), other, timeout" },
    { "llmopt_arm_client_gone_total", "counter",
      "Responses of an arm whose client went away before the end" },
    { "llmopt_arm_breaker_open", "gauge",
      "1 when an arm's circuit is open or half-open" },
    { "llmopt_arm_breaker_opens_total", "counter",
      "Times an arm's circuit opened" },
    { "llmopt_arm_drift_alarms_total", "counter",
      "Changes detected in an arm's rewards or latencies, by kind" },
    { "llmopt_arm_slo_breach", "gauge",
      "1 when an arm's recent p95 latency breaks its policy's latency_slo" },
    { "llmopt_arm_drained_total", "counter",
      "Answers of an arm read to their end after the client went away" },
    { "llmopt_arm_cost_estimated_total", "counter",
      "Responses of an arm charged an estimate: no final usage came" },
    { "llmopt_arm_cost_estimated_usd_total", "counter",
      "Estimated part of an arm's cost, USD (in llmopt_arm_cost_usd_total "
      "too)" },
    { "llmopt_arm_answers_total", "counter",
      "Successful answers of an arm learned with a score (scored), or "
      "whose policy waited for feedback that never came (unscored)" },
    { NULL, NULL, NULL }
};


/* Budgets and canaries, for the policies that have them. */

enum {
    NGX_HTTP_LLMOPT_PROM_BUDGET_CAP = 0,
    NGX_HTTP_LLMOPT_PROM_BUDGET_SPENT,
    NGX_HTTP_LLMOPT_PROM_BUDGET_FLEET,
    NGX_HTTP_LLMOPT_PROM_BUDGET_RESERVED,
    NGX_HTTP_LLMOPT_PROM_BUDGET_MODE,
    NGX_HTTP_LLMOPT_PROM_BUDGET_LIMITED,
    NGX_HTTP_LLMOPT_PROM_BUDGET_REFUSED,
    NGX_HTTP_LLMOPT_PROM_CANARY_SHARE,          /* the canary's from here */
    NGX_HTTP_LLMOPT_PROM_CANARY_STAGE,
    NGX_HTTP_LLMOPT_PROM_CANARY_ROLLED_BACK,
    NGX_HTTP_LLMOPT_PROM_GUARD_LAST
};


static ngx_http_llmopt_prom_meta_t  ngx_http_llmopt_prom_guard_meta[] = {
    { "llmopt_budget_cap_usd", "gauge",
      "A policy's budget cap, USD, by period" },
    { "llmopt_budget_spent_usd", "gauge",
      "What this instance spent of a policy's budget in the current "
      "period, USD" },
    { "llmopt_budget_fleet_spent_usd", "gauge",
      "What all instances spent of a policy's budget in the current "
      "period, USD, as this instance last heard" },
    { "llmopt_budget_reserved_usd", "gauge",
      "Estimated cost of a policy's requests in flight, USD" },
    { "llmopt_budget_mode", "gauge",
      "1 for how this instance shares a policy's budget now (alone, "
      "shared, outage, reseeding)" },
    { "llmopt_budget_limited_total", "counter",
      "Requests limited to the cheaper arms near a budget's cap" },
    { "llmopt_budget_refused_total", "counter",
      "Requests refused (429) at a budget's cap, while this instance "
      "awaited a grant (reason pending), or once it spent what it held "
      "while Redis was away (reason outage)" },
    { "llmopt_canary_share", "gauge",
      "Share of a policy's traffic its canary arm gets now" },
    { "llmopt_canary_stage", "gauge",
      "Stage of a canary rollout, from 0" },
    { "llmopt_canary_rolled_back", "gauge",
      "1 when a canary arm was rolled back" },
    { NULL, NULL, NULL }
};


static u_char *
ngx_http_llmopt_prom_guard(u_char *p, ngx_http_llmopt_main_conf_t *lmcf,
    ngx_pool_t *pool)
{
    u_char                        label_buf[32];
    double                        share;
    ngx_uint_t                    i, k, m, mode, budgets, canaries;
    llmopt_budget_account_t      *acct;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_prom_meta_t  *meta;

    static const char  *periods[2] = {
        "period=\"day\"", "period=\"month\""
    };

    prt = lmcf->policies.elts;
    meta = ngx_http_llmopt_prom_guard_meta;
    budgets = 0;
    canaries = 0;

    /* each budget's own account, read once */

    acct = ngx_palloc(pool, (lmcf->policies.nelts + 1)
                            * sizeof(llmopt_budget_account_t));
    if (acct == NULL) {
        return NULL;
    }

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].policy->budgeted && prt[i].stats->budget != NULL) {
            ngx_http_llmopt_budget_read(lmcf, prt[i].stats->budget, &acct[i],
                                        NULL);
            budgets++;
        }

        canaries += prt[i].policy->canary.arm >= 0;
    }

    for (m = 0; m < NGX_HTTP_LLMOPT_PROM_GUARD_LAST; m++) {
        if (m < NGX_HTTP_LLMOPT_PROM_CANARY_SHARE ? budgets == 0
                                                  : canaries == 0)
        {
            continue;
        }

        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", meta[m].name,
                        meta[m].help, meta[m].name, meta[m].type);

        for (i = 0; i < lmcf->policies.nelts; i++) {
            st = prt[i].stats;

            if (m >= NGX_HTTP_LLMOPT_PROM_CANARY_SHARE) {
                if (prt[i].policy->canary.arm < 0) {
                    continue;
                }

                p = ngx_sprintf(p, "%s", meta[m].name);
                p = ngx_http_llmopt_prom_labels(p, &prt[i],
                        &prt[i].arms[prt[i].policy->canary.arm].name, NULL);

                if (m == NGX_HTTP_LLMOPT_PROM_CANARY_SHARE) {
                    share = ngx_http_llmopt_canary_share(&prt[i]);
                    p = ngx_sprintf(p, " %.4f\n", share < 0 ? 0 : share);

                } else if (m == NGX_HTTP_LLMOPT_PROM_CANARY_STAGE) {
                    p = ngx_sprintf(p, " %uA\n", st->canary.stage);

                } else {
                    p = ngx_sprintf(p, " %d\n", st->canary.state
                                               == LLMOPT_CANARY_ROLLED_BACK);
                }

                continue;
            }

            if (!prt[i].policy->budgeted || st->budget == NULL) {
                continue;
            }

            switch (m) {

            case NGX_HTTP_LLMOPT_PROM_BUDGET_CAP:
            case NGX_HTTP_LLMOPT_PROM_BUDGET_SPENT:
            case NGX_HTTP_LLMOPT_PROM_BUDGET_FLEET:
                for (k = 0; k < 2; k++) {
                    if (prt[i].policy->budget.cap[k] <= 0) {
                        continue;
                    }

                    p = ngx_sprintf(p, "%s", meta[m].name);
                    p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL,
                                                    periods[k]);
                    p = ngx_sprintf(p, " %.9f\n",
                                    m == NGX_HTTP_LLMOPT_PROM_BUDGET_CAP
                                    ? prt[i].policy->budget.cap[k]
                                    : m == NGX_HTTP_LLMOPT_PROM_BUDGET_SPENT
                                    ? acct[i].spent[k] / LLMOPT_BUDGET_NUSD
                                    : llmopt_budget_fleet(&acct[i], k)
                                      / LLMOPT_BUDGET_NUSD);
                }

                break;

            case NGX_HTTP_LLMOPT_PROM_BUDGET_MODE:
                mode = lmcf->redis != NULL ? st->budget->mode
                                           : LLMOPT_BUDGET_ALONE;

                for (k = LLMOPT_BUDGET_ALONE; k <= LLMOPT_BUDGET_RESEEDING;
                     k++)
                {
                    p = ngx_sprintf(p, "%s", meta[m].name);
                    (void) ngx_sprintf(label_buf, "mode=\"%s\"%Z",
                                       llmopt_budget_mode_name(k));
                    p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL,
                                                    (char *) label_buf);
                    p = ngx_sprintf(p, " %d\n", k == mode);
                }

                break;

            case NGX_HTTP_LLMOPT_PROM_BUDGET_RESERVED:
                p = ngx_sprintf(p, "%s", meta[m].name);
                p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL, NULL);
                p = ngx_sprintf(p, " %.9f\n",
                                llmopt_budget_reserved(&acct[i])
                                / LLMOPT_BUDGET_NUSD);
                break;

            case NGX_HTTP_LLMOPT_PROM_BUDGET_LIMITED:
                p = ngx_sprintf(p, "%s", meta[m].name);
                p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL, NULL);
                p = ngx_sprintf(p, " %uA\n", st->budget->limited);
                break;

            default:            /* NGX_HTTP_LLMOPT_PROM_BUDGET_REFUSED */
                p = ngx_sprintf(p, "%s", meta[m].name);
                p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL,
                                                "reason=\"cap\"");
                p = ngx_sprintf(p, " %uA\n%s", st->budget->refused,
                                meta[m].name);
                p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL,
                                                "reason=\"pending\"");
                p = ngx_sprintf(p, " %uA\n%s", st->budget->pending,
                                meta[m].name);
                p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL,
                                                "reason=\"outage\"");
                p = ngx_sprintf(p, " %uA\n", st->budget->outage_refused);
                break;
            }
        }
    }

    return p;
}


static ngx_int_t
ngx_http_llmopt_prometheus(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    u_char                        *p;
    size_t                         size, free, zone;
    uint64_t                       now, beat;
    ngx_buf_t                     *b;
    ngx_uint_t                     i, a, m;
    ngx_atomic_t                  *fb;
    llmopt_ring_t                 *ring;
    ngx_http_llmopt_stats_t       *st;
    ngx_http_llmopt_arm_stats_t   *as;
    ngx_http_llmopt_policy_rt_t   *prt;
    ngx_http_llmopt_shtrainer_t   *tr;
    const llmopt_bandit_conf_t    *bc;
    ngx_str_t                      type;

    static const char  *reasons[NGX_HTTP_LLMOPT_REJECT_LAST] = {
        "reason=\"bad_request\"", "reason=\"too_large\"",
        "reason=\"media_type\"", "reason=\"constraint\"",
        "reason=\"budget\""
    };

    static const char  *feedback[NGX_HTTP_LLMOPT_FB_LAST] = {
        "accepted", "malformed", "forbidden", "unknown", "duplicate",
        "expired"
    };

    prt = lmcf->policies.elts;
    size = NGX_HTTP_LLMOPT_PROM_HEAD + 6 * lmcf->catalog_file.len;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        size += NGX_HTTP_LLMOPT_PROM_POLICY + 8 * prt[i].name.len
                + prt[i].n_arms * (NGX_HTTP_LLMOPT_PROM_ARM
                                   + 64 * (prt[i].name.len + 64));
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_sprintf(p, "# HELP llmopt_info llmopt and nginx versions\n"
                    "# TYPE llmopt_info gauge\n"
                    "llmopt_info{version=\"%s\",nginx=\"%s\","
                    "catalog=\"%016uxL\"} 1\n", NGX_HTTP_LLMOPT_VERSION,
                    NGINX_VERSION, lmcf->catalog.version);

    if (lmcf->shm_zone != NULL && lmcf->shpool != NULL) {
        free = lmcf->shpool->pfree << ngx_pagesize_shift;
        zone = lmcf->shm_zone->shm.size;

        p = ngx_sprintf(p, "# HELP llmopt_zone_size_bytes Size of the "
                        "llmopt zone\n"
                        "# TYPE llmopt_zone_size_bytes gauge\n"
                        "llmopt_zone_size_bytes %uz\n"
                        "# HELP llmopt_zone_used_bytes Bytes of the llmopt "
                        "zone in use (pages handed out)\n"
                        "# TYPE llmopt_zone_used_bytes gauge\n"
                        "llmopt_zone_used_bytes %uz\n",
                        zone, free < zone ? zone - free : 0);
    }

    /* per policy */

    for (m = 0; ngx_http_llmopt_prom_policy_meta[m].name; m++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                        ngx_http_llmopt_prom_policy_meta[m].name,
                        ngx_http_llmopt_prom_policy_meta[m].help,
                        ngx_http_llmopt_prom_policy_meta[m].name,
                        ngx_http_llmopt_prom_policy_meta[m].type);

        for (i = 0; i < lmcf->policies.nelts; i++) {
            st = prt[i].stats;

            if (m == 3) {
                for (a = 0; a < NGX_HTTP_LLMOPT_REJECT_LAST; a++) {
                    p = ngx_sprintf(p, "%s",
                                    ngx_http_llmopt_prom_policy_meta[m].name);
                    p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL,
                                                    reasons[a]);
                    p = ngx_sprintf(p, " %uA\n", st->rejected[a]);
                }

                continue;
            }

            p = ngx_sprintf(p, "%s", ngx_http_llmopt_prom_policy_meta[m].name);
            p = ngx_http_llmopt_prom_labels(p, &prt[i], NULL, NULL);
            p = ngx_sprintf(p, " %uA\n", m == 0 ? st->requests
                                         : m == 1 ? st->passthrough
                                         : m == 2 ? st->fallback
                                         : st->failovers);
        }
    }

    p = ngx_http_llmopt_prom_guard(p, lmcf, r->pool);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "# HELP llmopt_decision_seconds Time of the decision "
                    "path: parse, features, choice, rewrite\n"
                    "# TYPE llmopt_decision_seconds histogram\n");

    for (i = 0; i < lmcf->policies.nelts; i++) {
        st = prt[i].stats;
        p = ngx_http_llmopt_prom_histogram(p, "llmopt_decision_seconds",
                                           &prt[i], NULL, st->decision,
                                           ngx_http_llmopt_decision_bounds_ns,
                                           NGX_HTTP_LLMOPT_DECISION_BUCKETS,
                                           1e-9, st->decision_sum_ns * 1e-9);
    }

    /* per arm */

    for (m = 0; ngx_http_llmopt_prom_arm_meta[m].name; m++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                        ngx_http_llmopt_prom_arm_meta[m].name,
                        ngx_http_llmopt_prom_arm_meta[m].help,
                        ngx_http_llmopt_prom_arm_meta[m].name,
                        ngx_http_llmopt_prom_arm_meta[m].type);

        for (i = 0; i < lmcf->policies.nelts; i++) {
            st = prt[i].stats;
            bc = &prt[i].policy->bandit;

            for (a = 0; a < prt[i].n_arms; a++) {
                as = &st->arms[a];

#define ngx_http_llmopt_prom_line(extra, fmt, v)                              \
                p = ngx_sprintf(p, "%s",                                      \
                                ngx_http_llmopt_prom_arm_meta[m].name);       \
                p = ngx_http_llmopt_prom_labels(p, &prt[i],                   \
                                                &prt[i].arms[a].name, extra); \
                p = ngx_sprintf(p, " " fmt "\n", v)

                switch (m) {
                case 0:
                    ngx_http_llmopt_prom_line(NULL, "%uA",
                                              st->arm_requests[a]);
                    break;
                case 1:
                    ngx_http_llmopt_prom_line(NULL, "%uA",
                                              st->arm_explore[a]);
                    break;
                case 2:
                    ngx_http_llmopt_prom_line(NULL, "%uL",
                        (uint64_t) llmopt_bandit_arm_count(bc,
                                               prt[i].block->params, a));
                    break;
                case 3:
                    ngx_http_llmopt_prom_line(NULL, "%.6f",
                        llmopt_bandit_arm_mean(bc, prt[i].block->params, a));
                    break;
                case 4:
                    ngx_http_llmopt_prom_line(NULL, "%uA", as->outcomes);
                    break;
                case 5:
                    ngx_http_llmopt_prom_line("kind=\"in\"", "%uA",
                                              as->tokens_in);
                    ngx_http_llmopt_prom_line("kind=\"out\"", "%uA",
                                              as->tokens_out);
                    ngx_http_llmopt_prom_line("kind=\"cached\"", "%uA",
                                              as->tokens_cached);
                    break;
                case 6:
                    p = ngx_sprintf(p, "%s",
                                    ngx_http_llmopt_prom_arm_meta[m].name);
                    p = ngx_http_llmopt_prom_labels(p, &prt[i],
                                                    &prt[i].arms[a].name,
                                                    NULL);
                    p = ngx_sprintf(p, " %uA.%09uA\n",
                                    as->cost_nusd / 1000000000,
                                    as->cost_nusd % 1000000000);
                    break;
                case 7:
                    ngx_http_llmopt_prom_line("kind=\"rate_limited\"", "%uA",
                                              as->rate_limited);
                    ngx_http_llmopt_prom_line("kind=\"server\"", "%uA",
                                              as->server_errors);
                    ngx_http_llmopt_prom_line("kind=\"other\"", "%uA",
                                              as->other_errors);
                    ngx_http_llmopt_prom_line("kind=\"timeout\"", "%uA",
                                              as->timeouts);
                    break;
                case 8:
                    ngx_http_llmopt_prom_line(NULL, "%uA", as->client_gone);
                    break;
                case 9:
                    ngx_http_llmopt_prom_line(NULL, "%d",
                                              as->breaker_open_until_ms
                                              != 0);
                    break;
                case 10:
                    ngx_http_llmopt_prom_line(NULL, "%uA",
                                              as->breaker_opens);
                    break;
                case 11:
                    ngx_http_llmopt_prom_line("kind=\"reward\"", "%uA",
                                              as->drift_alarms[0]);
                    ngx_http_llmopt_prom_line("kind=\"latency\"", "%uA",
                                              as->drift_alarms[1]);
                    break;
                case 12:
                    ngx_http_llmopt_prom_line(NULL, "%uA", as->slo_breach);
                    break;
                case 13:
                    ngx_http_llmopt_prom_line(NULL, "%uA", as->drained);
                    break;
                case 14:
                    ngx_http_llmopt_prom_line(NULL, "%uA",
                                              as->cost_estimated);
                    break;
                case 15:
                    p = ngx_sprintf(p, "%s",
                                    ngx_http_llmopt_prom_arm_meta[m].name);
                    p = ngx_http_llmopt_prom_labels(p, &prt[i],
                                                    &prt[i].arms[a].name,
                                                    NULL);
                    p = ngx_sprintf(p, " %uA.%09uA\n",
                                    as->cost_estimated_nusd / 1000000000,
                                    as->cost_estimated_nusd % 1000000000);
                    break;
                default:
                    ngx_http_llmopt_prom_line("kind=\"scored\"", "%uL",
                        (uint64_t) st->tally[a].scored);
                    ngx_http_llmopt_prom_line("kind=\"unscored\"", "%uL",
                        (uint64_t) st->tally[a].unscored);
                    break;
                }

#undef ngx_http_llmopt_prom_line
            }
        }
    }

    p = ngx_sprintf(p, "# HELP llmopt_upstream_seconds Time from the "
                    "decision to the end of the response\n"
                    "# TYPE llmopt_upstream_seconds histogram\n");

    for (i = 0; i < lmcf->policies.nelts; i++) {
        for (a = 0; a < prt[i].n_arms; a++) {
            as = &prt[i].stats->arms[a];
            p = ngx_http_llmopt_prom_histogram(p, "llmopt_upstream_seconds",
                                               &prt[i], &prt[i].arms[a].name,
                                               as->latency,
                                               ngx_http_llmopt_time_bounds_ms,
                                               NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                               1e-3,
                                               as->latency_sum_us * 1e-6);
        }
    }

    p = ngx_sprintf(p, "# HELP llmopt_ttft_seconds Time from the decision "
                    "to the first token (streams) or first byte (JSON)\n"
                    "# TYPE llmopt_ttft_seconds histogram\n");

    for (i = 0; i < lmcf->policies.nelts; i++) {
        for (a = 0; a < prt[i].n_arms; a++) {
            as = &prt[i].stats->arms[a];
            p = ngx_http_llmopt_prom_histogram(p, "llmopt_ttft_seconds",
                                               &prt[i], &prt[i].arms[a].name,
                                               as->ttft,
                                               ngx_http_llmopt_time_bounds_ms,
                                               NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                               1e-3,
                                               as->ttft_sum_us * 1e-6);
        }
    }

    /* the trainer, the ring, feedback */

    if (lmcf->sh != NULL && lmcf->sh->ring != NULL) {
        tr = &lmcf->sh->trainer;
        ring = lmcf->sh->ring;
        fb = lmcf->sh->feedback;
        now = ngx_http_llmopt_wall_ms();
        beat = tr->heartbeat_ms;

        p = ngx_sprintf(p,
            "# HELP llmopt_trainer_ticks_total Trainer ticks\n"
            "# TYPE llmopt_trainer_ticks_total counter\n"
            "llmopt_trainer_ticks_total %uA\n"
            "# HELP llmopt_trainer_events_total Outcome events the trainer "
            "took\n"
            "# TYPE llmopt_trainer_events_total counter\n"
            "llmopt_trainer_events_total %uA\n"
            "# HELP llmopt_trainer_updates_total Rewards learned\n"
            "# TYPE llmopt_trainer_updates_total counter\n"
            "llmopt_trainer_updates_total %uA\n"
            "# HELP llmopt_trainer_declined_total Events with nothing to "
            "learn (client gone), or of another catalog\n"
            "# TYPE llmopt_trainer_declined_total counter\n"
            "llmopt_trainer_declined_total %uA\n"
            "# HELP llmopt_trainer_expired_total Outcomes learned when their "
            "feedback wait ended\n"
            "# TYPE llmopt_trainer_expired_total counter\n"
            "llmopt_trainer_expired_total %uA\n"
            "# HELP llmopt_trainer_takeovers_total Trainer leases taken from "
            "another process\n"
            "# TYPE llmopt_trainer_takeovers_total counter\n"
            "llmopt_trainer_takeovers_total %uA\n"
            "# HELP llmopt_trainer_checkpoints_total State files written\n"
            "# TYPE llmopt_trainer_checkpoints_total counter\n"
            "llmopt_trainer_checkpoints_total %uA\n"
            "# HELP llmopt_trainer_checkpoint_errors_total State files that "
            "could not be written\n"
            "# TYPE llmopt_trainer_checkpoint_errors_total counter\n"
            "llmopt_trainer_checkpoint_errors_total %uA\n"
            "# HELP llmopt_trainer_lease_pid Process that holds the trainer "
            "lease, 0 if none\n"
            "# TYPE llmopt_trainer_lease_pid gauge\n"
            "llmopt_trainer_lease_pid %uA\n"
            "# HELP llmopt_trainer_heartbeat_age_seconds Time since the "
            "trainer's last tick\n"
            "# TYPE llmopt_trainer_heartbeat_age_seconds gauge\n"
            "llmopt_trainer_heartbeat_age_seconds %.3f\n"
            "# HELP llmopt_trainer_tick_seconds_max Longest trainer tick\n"
            "# TYPE llmopt_trainer_tick_seconds_max gauge\n"
            "llmopt_trainer_tick_seconds_max %.6f\n"
            "# HELP llmopt_trainer_lag_seconds Longest an outcome waited for "
            "the trainer, from its last byte, in the last tick\n"
            "# TYPE llmopt_trainer_lag_seconds gauge\n"
            "llmopt_trainer_lag_seconds %.3f\n",
            tr->ticks, tr->events, tr->updates, tr->declined, tr->expired,
            tr->takeovers, tr->checkpoints, tr->checkpoint_errors,
            tr->lease_pid,
            (double) (beat && now > beat ? now - beat : 0) / 1000,
            (double) tr->tick_us_max / 1e6, (double) tr->lag_ms / 1000);

        p = ngx_sprintf(p,
            "# HELP llmopt_ring_capacity Slots of the outcome ring\n"
            "# TYPE llmopt_ring_capacity gauge\n"
            "llmopt_ring_capacity %uD\n"
            "# HELP llmopt_ring_depth Outcome events waiting for the "
            "trainer\n"
            "# TYPE llmopt_ring_depth gauge\n"
            "llmopt_ring_depth %uD\n"
            "# HELP llmopt_ring_drops_total Outcome events dropped: ring "
            "full\n"
            "# TYPE llmopt_ring_drops_total counter\n"
            "llmopt_ring_drops_total %uL\n"
            "# HELP llmopt_ring_skipped_total Ring slots given up: a writer "
            "died\n"
            "# TYPE llmopt_ring_skipped_total counter\n"
            "llmopt_ring_skipped_total %uL\n",
            ring->capacity, llmopt_ring_depth(ring), llmopt_ring_drops(ring),
            llmopt_ring_skipped(ring));

        if (lmcf->redis != NULL) {
            p = ngx_sprintf(p,
                "# HELP llmopt_redis_up 1 when the last exchange with Redis "
                "succeeded\n"
                "# TYPE llmopt_redis_up gauge\n"
                "llmopt_redis_up %d\n"
                "# HELP llmopt_redis_syncs_total Exchanges with Redis\n"
                "# TYPE llmopt_redis_syncs_total counter\n"
                "llmopt_redis_syncs_total %uA\n"
                "# HELP llmopt_redis_errors_total Failed connections or "
                "exchanges with Redis\n"
                "# TYPE llmopt_redis_errors_total counter\n"
                "llmopt_redis_errors_total %uA\n"
                "# HELP llmopt_redis_instances Instances whose statistics "
                "are merged, this one too\n"
                "# TYPE llmopt_redis_instances gauge\n"
                "llmopt_redis_instances %uA\n"
                "# HELP llmopt_redis_stream_entries_total Entries of the "
                "event stream, by result\n"
                "# TYPE llmopt_redis_stream_entries_total counter\n"
                "llmopt_redis_stream_entries_total{result=\"added\"} %uA\n"
                "llmopt_redis_stream_entries_total{result=\"dropped\"} "
                "%uA\n"
                "llmopt_redis_stream_entries_total{result=\"unconfirmed\"} "
                "%uA\n",
                lmcf->sh->redis.state == NGX_HTTP_LLMOPT_REDIS_UP,
                lmcf->sh->redis.syncs, lmcf->sh->redis.errors,
                lmcf->sh->redis.instances, lmcf->sh->redis.stream_added,
                lmcf->sh->redis.stream_dropped,
                lmcf->sh->redis.stream_unconfirmed);
        }

        p = ngx_sprintf(p, "# HELP llmopt_feedback_total Answers of the "
                        "feedback endpoint, by result\n"
                        "# TYPE llmopt_feedback_total counter\n");

        for (i = 0; i < NGX_HTTP_LLMOPT_FB_LAST; i++) {
            p = ngx_sprintf(p, "llmopt_feedback_total{result=\"%s\"} %uA\n",
                            feedback[i], fb[i]);
        }

        if (lmcf->sh->pending != NULL) {
            p = ngx_sprintf(p, "# HELP llmopt_feedback_pending Outcomes "
                            "waiting for feedback\n"
                            "# TYPE llmopt_feedback_pending gauge\n"
                            "llmopt_feedback_pending %uD\n",
                            llmopt_pending_count(lmcf->sh->pending));
        }
    }

    b->last = p;

    ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    return ngx_http_llmopt_send_body(r, NGX_HTTP_OK, &type, b);
}


static u_char *
ngx_http_llmopt_prom_labels(u_char *p, ngx_http_llmopt_policy_rt_t *prt,
    ngx_str_t *arm, const char *extra)
{
    p = ngx_cpymem(p, "{policy=\"", sizeof("{policy=\"") - 1);
    p = ngx_http_llmopt_prom_value(p, prt->name.data, prt->name.len);
    *p++ = '"';

    if (arm != NULL) {
        p = ngx_cpymem(p, ",arm=\"", sizeof(",arm=\"") - 1);
        p = ngx_http_llmopt_prom_value(p, arm->data, arm->len);
        *p++ = '"';
    }

    if (extra != NULL) {
        p = ngx_sprintf(p, ",%s", extra);
    }

    *p++ = '}';

    return p;
}


static u_char *
ngx_http_llmopt_prom_histogram(u_char *p, const char *name,
    ngx_http_llmopt_policy_rt_t *prt, ngx_str_t *arm, ngx_atomic_t *counts,
    const double *bounds, ngx_uint_t n, double scale, double sum)
{
    u_char            le[64];
    uint64_t          total;
    ngx_uint_t        i;

    total = 0;

    for (i = 0; i < n; i++) {
        total += counts[i];

        if (i + 1 < n) {
            ngx_sprintf(le, "le=\"%.9f\"%Z", bounds[i] * scale);

        } else {
            ngx_sprintf(le, "le=\"+Inf\"%Z");
        }

        p = ngx_sprintf(p, "%s_bucket", name);
        p = ngx_http_llmopt_prom_labels(p, prt, arm, (char *) le);
        p = ngx_sprintf(p, " %uL\n", total);
    }

    p = ngx_sprintf(p, "%s_sum", name);
    p = ngx_http_llmopt_prom_labels(p, prt, arm, NULL);
    p = ngx_sprintf(p, " %.6f\n", sum);

    p = ngx_sprintf(p, "%s_count", name);
    p = ngx_http_llmopt_prom_labels(p, prt, arm, NULL);
    p = ngx_sprintf(p, " %uL\n", total);

    return p;
}


/* A label value: backslash, double quote and newline escaped. */

static u_char *
ngx_http_llmopt_prom_value(u_char *p, u_char *s, size_t len)
{
    while (len--) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s++;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
            s++;

        } else {
            *p++ = *s++;
        }
    }

    return p;
}


/*
 * The per-minute series of every policy: {"policies":{"p":{"t":[...],
 * "arms":{"a":{"requests":[...],...}}}}}.  Point i covers the minute from
 * t[i] (unix seconds of the snapshot that opens it) to the next snapshot;
 * the last point, open, runs to now.  Documented in README ("Dashboard").
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
    ngx_buf_t                    *b;
    ngx_uint_t                    i, a, f, k, n;
    ngx_http_llmopt_snap_t      **s, *live;
    ngx_http_llmopt_point_t      *x, *y;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;

    size = 256;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        size += 256 + 6 * prt[i].name.len
                + NGX_HTTP_LLMOPT_COARSE_SLOTS * 16 * 5
                + prt[i].n_arms * (6 * 64 + 256
                                   + NGX_HTTP_LLMOPT_COARSE_SLOTS * 13 * 24);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = ngx_palloc(r->pool, (NGX_HTTP_LLMOPT_COARSE_SLOTS + 1) * sizeof(void *));
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"resolution_s\":%d,\"time_ms\":%uL,"
                    "\"policies\":{", NGX_HTTP_LLMOPT_COARSE_MS / 1000,
                    ngx_http_llmopt_wall_ms());

    for (i = 0; i < lmcf->policies.nelts; i++) {
        snap = ngx_http_llmopt_snap_size(prt[i].n_arms);

        /* the snapshots oldest first, then the counters now */

        n = 0;

        s[0] = NULL;

        for (k = NGX_HTTP_LLMOPT_COARSE_SLOTS - 1; k-- > 0; /* void */) {
            if (s[n] == NULL) {
                /* a slot not taken is tried again for the next one */
                s[n] = ngx_palloc(r->pool, snap);
                if (s[n] == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                s[n + 1] = NULL;
            }

            if (ngx_http_llmopt_history_get(&prt[i], 1, k, s[n]) == NGX_OK
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
