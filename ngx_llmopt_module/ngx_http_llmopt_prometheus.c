/*
 * Copyright (C) llmopt authors
 *
 * The Prometheus text exposition (format 0.0.4) of llmopt_status: a function
 * per section, in the order they are written.  Metric names, labels and
 * buckets are listed in README ("Metrics").  Counters are as in the JSON
 * status; histograms are cumulative, as Prometheus wants them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_canary.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_prometheus.h"


#define NGX_HTTP_LLMOPT_PROM_HEAD     8192
#define NGX_HTTP_LLMOPT_PROM_POLICY   8192
#define NGX_HTTP_LLMOPT_PROM_ARM      13824


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
    { "llmopt_arm_cache_hits_total", "counter",
      "Requests routed to an arm that nginx answered from proxy_cache" },
    { "llmopt_arm_cache_saved_usd_total", "counter",
      "What an arm's cache hits would have cost at its price, USD" },
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


static u_char *ngx_http_llmopt_prom_info(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_policies(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_guard(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf, ngx_pool_t *pool);
static u_char *ngx_http_llmopt_prom_decision(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_arms(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_arm(u_char *p, ngx_uint_t m,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t a);
static u_char *ngx_http_llmopt_prom_times(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf, ngx_uint_t ttft);
static u_char *ngx_http_llmopt_prom_variants(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_trainer(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_redis(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_feedback(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf);
static u_char *ngx_http_llmopt_prom_family(u_char *p,
    ngx_http_llmopt_prom_meta_t *meta);
static u_char *ngx_http_llmopt_prom_labels(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt, ngx_str_t *arm, const char *extra);
static u_char *ngx_http_llmopt_prom_histogram(u_char *p, const char *name,
    ngx_http_llmopt_policy_rt_t *prt, ngx_str_t *arm, ngx_atomic_t *counts,
    const double *bounds, ngx_uint_t n, double scale, double sum);
static u_char *ngx_http_llmopt_prom_value(u_char *p, u_char *s, size_t len);


ngx_int_t
ngx_http_llmopt_prometheus(ngx_http_request_t *r,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    u_char                       *p;
    size_t                        size;
    ngx_buf_t                    *b;
    ngx_str_t                     type;
    ngx_uint_t                    i;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;
    size = NGX_HTTP_LLMOPT_PROM_HEAD + 6 * lmcf->catalog_file.len;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        size += NGX_HTTP_LLMOPT_PROM_POLICY + 8 * prt[i].name.len
                + prt[i].n_arms * (NGX_HTTP_LLMOPT_PROM_ARM
                                   + 72 * (prt[i].name.len + 64))
                + prt[i].policy->n_variants * (prt[i].n_arms + 1)
                  * 2 * (8 * prt[i].name.len + 256);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_llmopt_prom_info(b->last, lmcf);
    p = ngx_http_llmopt_prom_policies(p, lmcf);

    p = ngx_http_llmopt_prom_guard(p, lmcf, r->pool);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_llmopt_prom_decision(p, lmcf);
    p = ngx_http_llmopt_prom_arms(p, lmcf);
    p = ngx_http_llmopt_prom_times(p, lmcf, 0);
    p = ngx_http_llmopt_prom_times(p, lmcf, 1);
    p = ngx_http_llmopt_prom_variants(p, lmcf);

    if (lmcf->sh != NULL && lmcf->sh->ring != NULL) {
        p = ngx_http_llmopt_prom_trainer(p, lmcf);

        if (lmcf->redis != NULL) {
            p = ngx_http_llmopt_prom_redis(p, lmcf);
        }

        p = ngx_http_llmopt_prom_feedback(p, lmcf);
    }

    b->last = p;

    ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    return ngx_http_llmopt_send_body(r, NGX_HTTP_OK, &type, b);
}


/* llmopt_info and the zone's size. */

static u_char *
ngx_http_llmopt_prom_info(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    size_t  free, zone;

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

    return p;
}


/* The counters of each policy. */

static u_char *
ngx_http_llmopt_prom_policies(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i, a, m;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_policy_rt_t  *prt;

    static const char  *reasons[NGX_HTTP_LLMOPT_REJECT_LAST] = {
        "reason=\"bad_request\"", "reason=\"too_large\"",
        "reason=\"media_type\"", "reason=\"constraint\"",
        "reason=\"budget\""
    };

    prt = lmcf->policies.elts;

    for (m = 0; ngx_http_llmopt_prom_policy_meta[m].name; m++) {
        p = ngx_http_llmopt_prom_family(p,
                                        &ngx_http_llmopt_prom_policy_meta[m]);

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

    return p;
}


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

        p = ngx_http_llmopt_prom_family(p, &meta[m]);

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


/* The time of the decision path, a histogram per policy. */

static u_char *
ngx_http_llmopt_prom_decision(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;

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

    return p;
}


/* The counters and gauges of each arm, metric by metric. */

static u_char *
ngx_http_llmopt_prom_arms(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i, a, m;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;

    for (m = 0; ngx_http_llmopt_prom_arm_meta[m].name; m++) {
        p = ngx_http_llmopt_prom_family(p, &ngx_http_llmopt_prom_arm_meta[m]);

        for (i = 0; i < lmcf->policies.nelts; i++) {
            for (a = 0; a < prt[i].n_arms; a++) {
                p = ngx_http_llmopt_prom_arm(p, m, &prt[i], a);
            }
        }
    }

    return p;
}


/* The line or lines of metric m (ngx_http_llmopt_prom_arm_meta) of arm a. */

static u_char *
ngx_http_llmopt_prom_arm(u_char *p, ngx_uint_t m,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t a)
{
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_arm_stats_t  *as;
    const llmopt_bandit_conf_t   *bc;

    st = prt->stats;
    bc = &prt->policy->bandit;
    as = &st->arms[a];

#define ngx_http_llmopt_prom_line(extra, fmt, ...)                            \
    p = ngx_sprintf(p, "%s", ngx_http_llmopt_prom_arm_meta[m].name);          \
    p = ngx_http_llmopt_prom_labels(p, prt, &prt->arms[a].name, extra);       \
    p = ngx_sprintf(p, " " fmt "\n", __VA_ARGS__)

/* USD from nano-USD, all nine decimals */
#define ngx_http_llmopt_prom_usd(nusd)                                        \
    ngx_http_llmopt_prom_line(NULL, "%uA.%09uA", (nusd) / 1000000000,        \
                              (nusd) % 1000000000)

    switch (m) {
    case 0:
        ngx_http_llmopt_prom_line(NULL, "%uA", st->arm_requests[a]);
        break;
    case 1:
        ngx_http_llmopt_prom_line(NULL, "%uA", st->arm_explore[a]);
        break;
    case 2:
        ngx_http_llmopt_prom_line(NULL, "%uL",
            (uint64_t) llmopt_bandit_arm_count(bc, prt->block->params, a));
        break;
    case 3:
        ngx_http_llmopt_prom_line(NULL, "%.6f",
            llmopt_bandit_arm_mean(bc, prt->block->params, a));
        break;
    case 4:
        ngx_http_llmopt_prom_line(NULL, "%uA", as->outcomes);
        break;
    case 5:
        ngx_http_llmopt_prom_line("kind=\"in\"", "%uA", as->tokens_in);
        ngx_http_llmopt_prom_line("kind=\"out\"", "%uA", as->tokens_out);
        ngx_http_llmopt_prom_line("kind=\"cached\"", "%uA",
                                  as->tokens_cached);
        break;
    case 6:
        ngx_http_llmopt_prom_usd(as->cost_nusd);
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
                                  as->breaker_open_until_ms != 0);
        break;
    case 10:
        ngx_http_llmopt_prom_line(NULL, "%uA", as->breaker_opens);
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
        ngx_http_llmopt_prom_line(NULL, "%uA", as->cost_estimated);
        break;
    case 15:
        ngx_http_llmopt_prom_usd(as->cost_estimated_nusd);
        break;
    case 16:
        ngx_http_llmopt_prom_line(NULL, "%uA", as->cache_hits);
        break;
    case 17:
        ngx_http_llmopt_prom_usd(as->cache_saved_nusd);
        break;
    default:
        ngx_http_llmopt_prom_line("kind=\"scored\"", "%uL",
            (uint64_t) st->tally[a].scored);
        ngx_http_llmopt_prom_line("kind=\"unscored\"", "%uL",
            (uint64_t) st->tally[a].unscored);
        break;
    }

#undef ngx_http_llmopt_prom_usd
#undef ngx_http_llmopt_prom_line

    return p;
}


/*
 * Time from the decision to the end of the response (ttft 0) or to its
 * first token, a histogram per arm.
 */

static u_char *
ngx_http_llmopt_prom_times(u_char *p, ngx_http_llmopt_main_conf_t *lmcf,
    ngx_uint_t ttft)
{
    const char                   *name;
    ngx_uint_t                    i, a;
    ngx_http_llmopt_arm_stats_t  *as;
    ngx_http_llmopt_policy_rt_t  *prt;

    if (ttft) {
        name = "llmopt_ttft_seconds";
        p = ngx_sprintf(p, "# HELP llmopt_ttft_seconds Time from the "
                        "decision to the first token (streams) or first "
                        "byte (JSON)\n"
                        "# TYPE llmopt_ttft_seconds histogram\n");

    } else {
        name = "llmopt_upstream_seconds";
        p = ngx_sprintf(p, "# HELP llmopt_upstream_seconds Time from the "
                        "decision to the end of the response\n"
                        "# TYPE llmopt_upstream_seconds histogram\n");
    }

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        for (a = 0; a < prt[i].n_arms; a++) {
            as = &prt[i].stats->arms[a];
            p = ngx_http_llmopt_prom_histogram(p, name, &prt[i],
                                               &prt[i].arms[a].name,
                                               ttft ? as->ttft : as->latency,
                                               ngx_http_llmopt_time_bounds_ms,
                                               NGX_HTTP_LLMOPT_TIME_BUCKETS,
                                               1e-3,
                                               (ttft ? as->ttft_sum_us
                                                     : as->latency_sum_us)
                                               * 1e-6);
        }
    }

    return p;
}


/* The prompt variants: tallies per arm, p-values against the control. */

static u_char *
ngx_http_llmopt_prom_variants(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    u_char                        label[LLMOPT_CATALOG_NAME_MAX + 16];
    ngx_uint_t                    i, a, v, k;
    llmopt_variant_ab_t           ab;
    llmopt_variant_tally_t       *t;
    ngx_http_llmopt_policy_rt_t  *prt;

    static const char  *name[3] = {
        "llmopt_variant_answers_total", "llmopt_variant_reward_total",
        "llmopt_variant_always_valid_p"
    };
    static const char  *help[3] = {
        "Answers learned, per arm and prompt variant\n"
        "# TYPE llmopt_variant_answers_total counter",
        "Sum of their rewards\n# TYPE llmopt_variant_reward_total counter",
        "Always-valid p-value of the variant against the control\n"
        "# TYPE llmopt_variant_always_valid_p gauge"
    };

    prt = lmcf->policies.elts;

    for (k = 0; k < 3; k++) {
        p = ngx_sprintf(p, "# HELP %s %s\n", name[k], help[k]);

        for (i = 0; i < lmcf->policies.nelts; i++) {
            if (prt[i].stats->variants == NULL) {
                continue;
            }

            for (v = 0; v < prt[i].policy->n_variants; v++) {
                ngx_sprintf(label, "variant=\"%s\"%Z",
                            prt[i].policy->variants[v].name.data);

                llmopt_variant_ab(prt[i].stats->variants, prt[i].n_arms, v,
                                  &ab);

                for (a = 0; a < (k == 2 ? 1 : prt[i].n_arms); a++) {
                    t = &prt[i].stats->variants[a * LLMOPT_MAX_VARIANTS + v];
                    p = ngx_sprintf(p, "%s", name[k]);
                    p = ngx_http_llmopt_prom_labels(p, &prt[i],
                                                    k == 2 ? NULL
                                                    : &prt[i].arms[a].name,
                                                    (char *) label);
                    p = ngx_sprintf(p, k ? " %.6f\n" : " %.0f\n",
                                    k == 2 ? ab.p_always
                                    : k ? t->reward.sum : t->reward.n);
                }
            }
        }
    }

    return p;
}


/* The trainer and the outcome ring. */

static u_char *
ngx_http_llmopt_prom_trainer(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    uint64_t                      now, beat;
    llmopt_ring_t                *ring;
    ngx_http_llmopt_shtrainer_t  *tr;

    tr = &lmcf->sh->trainer;
    ring = lmcf->sh->ring;
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

    return p;
}


/* The trainer's Redis client. */

static u_char *
ngx_http_llmopt_prom_redis(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
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

    return p;
}


/* The feedback endpoint's answers and the outcomes waiting for feedback. */

static u_char *
ngx_http_llmopt_prom_feedback(u_char *p, ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t     i;
    ngx_atomic_t  *fb;

    static const char  *feedback[NGX_HTTP_LLMOPT_FB_LAST] = {
        "accepted", "malformed", "forbidden", "unknown", "duplicate",
        "expired"
    };

    fb = lmcf->sh->feedback;

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

    return p;
}


/* The HELP and TYPE lines of a metric family. */

static u_char *
ngx_http_llmopt_prom_family(u_char *p, ngx_http_llmopt_prom_meta_t *meta)
{
    return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", meta->name,
                       meta->help, meta->name, meta->type);
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
