/*
 * Copyright (C) llmopt authors
 *
 * The JSON status of one policy and its arms: counters now, a minute and
 * an hour ago, latency quantiles, the bandit's parameters, budget, canary,
 * and the A/B statistics of a static policy.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_breaker.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_canary.h"
#include "ngx_http_llmopt_history.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_status_policy.h"

#include "llmopt_stats.h"


static u_char *ngx_http_llmopt_status_arm(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t a, const void *params,
    ngx_http_llmopt_snap_t **snaps);
static u_char *ngx_http_llmopt_status_times(u_char *p, const char *name,
    ngx_atomic_t *counts, const double *bounds, ngx_uint_t n, double scale,
    double sum, uint64_t total, ngx_uint_t p95);
static double ngx_http_llmopt_quantile(ngx_atomic_t *counts,
    const double *bounds, ngx_uint_t n, double q);
static u_char *ngx_http_llmopt_status_budget(u_char *p,
    ngx_http_llmopt_main_conf_t *lmcf, ngx_http_llmopt_policy_rt_t *prt);
static u_char *ngx_http_llmopt_status_canary(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);
static void ngx_http_llmopt_tally_sample(const llmopt_arm_tally_t *t,
    llmopt_sample_t *s);
static u_char *ngx_http_llmopt_status_variants(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);
static u_char *ngx_http_llmopt_status_experiment(u_char *p,
    ngx_http_llmopt_policy_rt_t *prt);


/* names are at most LLMOPT_CATALOG_NAME_MAX bytes, escaped at most x6 */

#define NGX_HTTP_LLMOPT_STATUS_POLICY  (4096 + 64)  /* a budget: ~1 KB */
#define NGX_HTTP_LLMOPT_STATUS_EXP     (6 * 64 + 400)
#define NGX_HTTP_LLMOPT_STATUS_ARM     (6 * 64 * 2 + 2048 + 448 + 96)
#define NGX_HTTP_LLMOPT_STATUS_THETA   (LLMOPT_FEATURE_MAX_DIM * 32 + 512)
#define NGX_HTTP_LLMOPT_STATUS_VARIANT (6 * 64 + 320)


size_t
ngx_http_llmopt_status_policy_size(ngx_http_llmopt_policy_rt_t *prt)
{
    return NGX_HTTP_LLMOPT_STATUS_POLICY + 6 * prt->name.len
           + (prt->policy->sparse_on ? 128 : 0)
           + (prt->policy->n_variants + 1) * NGX_HTTP_LLMOPT_STATUS_VARIANT
           + prt->n_arms * (NGX_HTTP_LLMOPT_STATUS_ARM
                            + NGX_HTTP_LLMOPT_STATUS_THETA
                            + NGX_HTTP_LLMOPT_STATUS_EXP);
}


u_char *
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
                    prt->policy->sparse_on
                    ? "sparse" : llmopt_algorithm_name(bc->algorithm),
                    llmopt_dialect_name(prt->policy->dialect), prt->shape,
                    (ngx_uint_t) bc->d, st->requests, st->passthrough,
                    st->fallback, st->failovers, st->pinned,
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_BAD_JSON],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_TOO_LARGE],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_MEDIA_TYPE],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_CONSTRAINT],
                    st->rejected[NGX_HTTP_LLMOPT_REJECT_BUDGET],
                    decisions ? (double) explore / decisions : 0.0);

    if (prt->policy->sparse_on && prt->block->sparse) {
        /* the sparse learner's table; the counts below are its arms' */
        p = ngx_sprintf(p, "\"sparse\":{\"bits\":%ui,\"ngrams\":%ui,"
                        "\"bytes\":%uz,\"updates\":%uL},",
                        (ngx_uint_t) prt->policy->sparse.bits,
                        (ngx_uint_t) prt->policy->sparse.ngrams,
                        prt->block->sparse,
                        llmopt_sparse_updates(
                            ngx_http_llmopt_block_sparse(prt->block)));
    }

    p = ngx_http_llmopt_status_times(p, "decision_us", st->decision,
                                     ngx_http_llmopt_decision_bounds_ns,
                                     NGX_HTTP_LLMOPT_DECISION_BUCKETS, 1e-3,
                                     st->decision_sum_ns * 1e-3, decisions,
                                     0);

    if (bc->algorithm == LLMOPT_ALG_STATIC && prt->n_arms > 1) {
        p = ngx_http_llmopt_status_experiment(p, prt);
    }

    if (prt->policy->n_variants) {
        p = ngx_http_llmopt_status_variants(p, prt);
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
                    "\"cache\":{\"hits\":%uA,\"saved_usd\":%uA.%09uA},"
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
                    as->cache_hits, as->cache_saved_nusd / 1000000000,
                    as->cache_saved_nusd % 1000000000,
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
    p = ngx_http_llmopt_json_str(p, (u_char *) st->canary.why,
                                 ngx_strnlen((u_char *) st->canary.why,
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


/*
 * The prompt variants, over all arms: each one's answers and mean reward,
 * and against the control the learner's A/B report (llmopt_variant_ab():
 * the difference estimated under its adaptive choices, with an
 * always-valid p-value; "significant" below 0.05).
 */

static u_char *
ngx_http_llmopt_status_variants(u_char *p, ngx_http_llmopt_policy_rt_t *prt)
{
    double                         n, sum;
    ngx_uint_t                     v, a;
    llmopt_variant_ab_t            ab;
    const llmopt_variant_t        *var;
    const llmopt_variant_tally_t  *t;

    static llmopt_variant_tally_t  none[LLMOPT_VARIANT_TALLY(
                                       LLMOPT_MAX_ARMS)];

    var = prt->policy->variants;
    t = prt->stats->variants != NULL ? prt->stats->variants : none;

    p = ngx_sprintf(p, ",\"variants\":{\"control\":");
    p = ngx_http_llmopt_json_str(p, (u_char *) var[0].name.data,
                                 var[0].name.len);
    p = ngx_sprintf(p, ",\"by_variant\":{");

    for (v = 0; v < prt->policy->n_variants; v++) {
        n = 0;
        sum = 0;

        for (a = 0; a < prt->n_arms; a++) {
            n += t[a * LLMOPT_MAX_VARIANTS + v].reward.n;
            sum += t[a * LLMOPT_MAX_VARIANTS + v].reward.sum;
        }

        llmopt_variant_ab(t, prt->n_arms, v, &ab);

        if (v > 0) {
            *p++ = ',';
        }

        p = ngx_http_llmopt_json_str(p, (u_char *) var[v].name.data,
                                     var[v].name.len);
        p = ngx_sprintf(p, ":{\"n\":%uL,\"mean_reward\":%.4f,"
                        "\"reward_diff\":%.4f,\"mean_diff\":%.4f,"
                        "\"always_valid_p\":%.4f,\"significant\":%s}",
                        (uint64_t) n, n > 0 ? sum / n : 0.0, ab.diff,
                        ab.mean_diff, ab.p_always,
                        ab.p_always < 0.05 ? "true" : "false");
    }

    return ngx_sprintf(p, "}}");
}


u_char *
ngx_http_llmopt_json_str(u_char *p, u_char *s, size_t len)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s, len);
    *p++ = '"';

    return p;
}
