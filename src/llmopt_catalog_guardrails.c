/*
 * Copyright (C) llmopt authors
 *
 * A policy's guardrails: "breaker", "budget", "canary" and "drift"
 * (the latency SLO keys are plain policy keys, llmopt_catalog_policies.c).
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_guardrails.h"
#include "llmopt_catalog_values.h"


/* Keys of each kind of mapping; the enums below index them. */

static const char *const  llmopt_catalog_drift_keys[] = {
    "response", "keep", "explore", "explore_for", NULL
};

enum {
    LLMOPT_DRIFT_F_RESPONSE = 0,
    LLMOPT_DRIFT_F_KEEP,
    LLMOPT_DRIFT_F_EXPLORE,
    LLMOPT_DRIFT_F_EXPLORE_FOR,
    LLMOPT_DRIFT_F_LAST
};

static const char *const  llmopt_catalog_breaker_keys[] = {
    "failures", "cooldown", "error_rate", "window", "min_requests", NULL
};

enum {
    LLMOPT_BREAKER_FAILURES = 0,
    LLMOPT_BREAKER_COOLDOWN,
    LLMOPT_BREAKER_ERROR_RATE,
    LLMOPT_BREAKER_WINDOW,
    LLMOPT_BREAKER_MIN_REQUESTS,
    LLMOPT_BREAKER_LAST
};

static const char *const  llmopt_catalog_budget_keys[] = {
    "day", "month", "tenant_day", "tenant_month", "near", "output_tokens",
    "tenants", "chunk", "outage", NULL
};

enum {
    LLMOPT_BUDGET_F_DAY = 0,
    LLMOPT_BUDGET_F_MONTH,
    LLMOPT_BUDGET_F_TENANT_DAY,
    LLMOPT_BUDGET_F_TENANT_MONTH,
    LLMOPT_BUDGET_F_NEAR,
    LLMOPT_BUDGET_F_OUTPUT_TOKENS,
    LLMOPT_BUDGET_F_TENANTS,
    LLMOPT_BUDGET_F_CHUNK,
    LLMOPT_BUDGET_F_OUTAGE,
    LLMOPT_BUDGET_F_LAST
};

static const char *const  llmopt_catalog_canary_keys[] = {
    "arm", "stages", "min_requests", "max_quality_drop", "max_cost_rise",
    "max_latency_rise", NULL
};

enum {
    LLMOPT_CANARY_F_ARM = 0,
    LLMOPT_CANARY_F_STAGES,
    LLMOPT_CANARY_F_MIN_REQUESTS,
    LLMOPT_CANARY_F_QUALITY,
    LLMOPT_CANARY_F_COST,
    LLMOPT_CANARY_F_LATENCY,
    LLMOPT_CANARY_F_LAST
};




/* The mapping a policy has under key (llmopt_catalog_guardrails.h). */

int
llmopt_catalog_submap(llmopt_catalog_ctx_t *ctx, const llmopt_policy_t *policy,
    const llmopt_catalog_field_t *field, const char *key,
    const char *const *names, llmopt_catalog_field_t *f, const char *where,
    char *sub_where)
{
    if (field->value == NULL) {
        return LLMOPT_DECLINED;
    }

    (void) snprintf(sub_where, LLMOPT_CATALOG_WHERE_LEN,
                    "%s of policy \"%s\"", key, policy->name.data);

    if (field->value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, field->value, "\"%s\" in %s must be "
                                   "a mapping", key, where);
    }

    return llmopt_catalog_fields(ctx, field->value, names, f, sub_where);
}


/*
 * drift: {response: none | reset | forget | explore, keep: 0.25,
 *         explore: 0.2, explore_for: 60000}
 */

int
llmopt_catalog_drift(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *drift, const char *where)
{
    int                     rc;
    const char             *r;
    const llmopt_node_t    *response;
    llmopt_catalog_field_t  f[LLMOPT_DRIFT_F_LAST];
    char                    dwhere[LLMOPT_CATALOG_WHERE_LEN];

    policy->drift_response = LLMOPT_DRIFT_NONE;
    policy->drift_keep = 0.25;
    policy->drift_explore = 0.2;
    policy->drift_explore_ms = 60000;

    rc = llmopt_catalog_submap(ctx, policy, drift, "drift",
                               llmopt_catalog_drift_keys, f, where, dwhere);
    if (rc != LLMOPT_OK) {
        return rc == LLMOPT_DECLINED ? LLMOPT_OK : LLMOPT_ERROR;
    }

    response = f[LLMOPT_DRIFT_F_RESPONSE].value;

    if (response != NULL) {
        r = response->type == LLMOPT_CATALOG_SCALAR ? response->scalar.data
                                                    : "";

        if (strcmp(r, "none") == 0) {
            policy->drift_response = LLMOPT_DRIFT_NONE;

        } else if (strcmp(r, "reset") == 0) {
            policy->drift_response = LLMOPT_DRIFT_RESET;

        } else if (strcmp(r, "forget") == 0) {
            policy->drift_response = LLMOPT_DRIFT_FORGET;

        } else if (strcmp(r, "explore") == 0) {
            policy->drift_response = LLMOPT_DRIFT_EXPLORE;

        } else {
            return llmopt_catalog_fail(ctx, response, "\"response\" in %s "
                                       "must be none, reset, forget or "
                                       "explore", dwhere);
        }
    }

    if (f[LLMOPT_DRIFT_F_KEEP].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_DRIFT_F_KEEP], dwhere,
                                 0, 0, 1, 0, "a number from 0 to 1",
                                 &policy->drift_keep)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_DRIFT_F_EXPLORE].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_DRIFT_F_EXPLORE], dwhere,
                                 0, 1, 1, 0, "a number above 0, at most 1",
                                 &policy->drift_explore)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_DRIFT_F_EXPLORE_FOR].value != NULL
        && llmopt_catalog_uint(ctx, &f[LLMOPT_DRIFT_F_EXPLORE_FOR], dwhere,
                               1, 86400000,
                               "an integer of ms from 1 to 86400000",
                               &policy->drift_explore_ms)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    return LLMOPT_OK;
}


/*
 * budget: {day: USD, month: USD, tenant_day: USD, tenant_month: USD,
 *          near: 0.8, output_tokens: 1024, tenants: 1024, chunk: 0.05,
 *          outage: 0}
 */

int
llmopt_catalog_budget(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *budget, const char *where)
{
    int                     rc;
    double                 *caps[4];
    uint64_t                v;
    unsigned                k;
    llmopt_budget_conf_t   *b;
    llmopt_catalog_field_t  f[LLMOPT_BUDGET_F_LAST];
    char                    bwhere[LLMOPT_CATALOG_WHERE_LEN];

    b = &policy->budget;
    memset(b, 0, sizeof(llmopt_budget_conf_t));
    b->near = 0.8;
    b->output_tokens = 1024;
    b->tenants = 1024;
    b->chunk = 0.05;
    policy->budgeted = 0;

    rc = llmopt_catalog_submap(ctx, policy, budget, "budget",
                               llmopt_catalog_budget_keys, f, where, bwhere);
    if (rc != LLMOPT_OK) {
        return rc == LLMOPT_DECLINED ? LLMOPT_OK : LLMOPT_ERROR;
    }

    caps[0] = &b->cap[LLMOPT_BUDGET_DAY];
    caps[1] = &b->cap[LLMOPT_BUDGET_MONTH];
    caps[2] = &b->tenant_cap[LLMOPT_BUDGET_DAY];
    caps[3] = &b->tenant_cap[LLMOPT_BUDGET_MONTH];

    for (k = 0; k < 4; k++) {
        if (f[k].value == NULL) {
            continue;
        }

        if (llmopt_catalog_number(ctx, &f[k], bwhere, 0, 1, 1e9, 0,
                                  "a number of USD > 0", caps[k])
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        policy->budgeted = 1;
    }

    for (k = 0; k < 2; k++) {
        b->cap_nusd[k] = llmopt_budget_nusd(b->cap[k]);
        b->tenant_cap_nusd[k] = llmopt_budget_nusd(b->tenant_cap[k]);
    }

    if (!policy->budgeted) {
        return llmopt_catalog_fail(ctx, budget->value, "\"budget\" in %s "
                                   "states no cap: day, month, tenant_day "
                                   "or tenant_month", where);
    }

    if (f[LLMOPT_BUDGET_F_NEAR].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_BUDGET_F_NEAR], bwhere, 0, 1,
                                 1, 0, "a number above 0, at most 1",
                                 &b->near)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_BUDGET_F_CHUNK].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_BUDGET_F_CHUNK], bwhere, 0, 1,
                                 1, 0, "a number above 0, at most 1",
                                 &b->chunk)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_BUDGET_F_OUTAGE].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_BUDGET_F_OUTAGE], bwhere, 0,
                                 0, 1, 0, "a number from 0 to 1",
                                 &b->outage)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_BUDGET_F_OUTPUT_TOKENS].value != NULL
        && llmopt_catalog_uint(ctx, &f[LLMOPT_BUDGET_F_OUTPUT_TOKENS], bwhere,
                               1, 10000000, "an integer from 1 to 10000000",
                               &b->output_tokens)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_BUDGET_F_TENANTS].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_BUDGET_F_TENANTS], bwhere, 1,
                                1000000, "an integer from 1 to 1000000", &v)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        b->tenants = (unsigned) v;
    }

    return LLMOPT_OK;
}


/*
 * canary: {arm: name, stages: [5, 25, 50, 100], min_requests: 100,
 *          max_quality_drop: 0.05, max_cost_rise: 0.2,
 *          max_latency_rise: 0.2}
 */

int
llmopt_catalog_canary(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *canary, const char *where)
{
    int                     rc;
    int                     arm;
    double                  pct, *gates[3];
    unsigned                i, k;
    llmopt_canary_conf_t   *c;
    const llmopt_node_t    *stages, *item;
    llmopt_catalog_field_t  f[LLMOPT_CANARY_F_LAST], sf;
    char                    cwhere[LLMOPT_CATALOG_WHERE_LEN];

    static const double  defaults[] = { 5, 25, 50, 100 };

    c = &policy->canary;
    memset(c, 0, sizeof(llmopt_canary_conf_t));
    c->arm = -1;
    c->min_requests = 100;
    c->max_quality_drop = 0.05;
    c->max_cost_rise = -1;
    c->max_latency_rise = -1;

    rc = llmopt_catalog_submap(ctx, policy, canary, "canary",
                               llmopt_catalog_canary_keys, f, where, cwhere);
    if (rc != LLMOPT_OK) {
        return rc == LLMOPT_DECLINED ? LLMOPT_OK : LLMOPT_ERROR;
    }

    item = f[LLMOPT_CANARY_F_ARM].value;

    if (item == NULL) {
        return llmopt_catalog_fail(ctx, canary->value, "missing required key "
                                   "\"arm\" in %s", cwhere);
    }

    arm = item->type == LLMOPT_CATALOG_SCALAR
          ? llmopt_policy_arm(policy, item->scalar.data, item->scalar.len)
          : -1;

    if (arm < 0) {
        return llmopt_catalog_fail(ctx, item, "\"arm\" in %s must name an "
                                   "arm of the policy", cwhere);
    }

    if (policy->n_arms < 2) {
        return llmopt_catalog_fail(ctx, item, "%s needs another arm to "
                                   "compare with", cwhere);
    }

    c->arm = arm;

    stages = f[LLMOPT_CANARY_F_STAGES].value;

    if (stages == NULL) {
        c->n_stages = 4;

        for (i = 0; i < 4; i++) {
            c->stages[i] = defaults[i] / 100;
        }

    } else {
        if (stages->type != LLMOPT_CATALOG_SEQ || stages->n == 0
            || stages->n > LLMOPT_CANARY_STAGES)
        {
            return llmopt_catalog_fail(ctx, stages, "\"stages\" in %s must "
                                       "be a list of 1 to %d percentages",
                                       cwhere, LLMOPT_CANARY_STAGES);
        }

        for (i = 0; i < stages->n; i++) {
            sf.key = f[LLMOPT_CANARY_F_STAGES].key;
            sf.value = stages->items[i];

            if (llmopt_catalog_number(ctx, &sf, cwhere, 0, 1, 100, 0,
                                      "a percentage above 0, at most 100",
                                      &pct)
                != LLMOPT_OK)
            {
                return LLMOPT_ERROR;
            }

            if (i > 0 && !(pct / 100 > c->stages[i - 1])) {
                return llmopt_catalog_fail(ctx, stages->items[i], "\"stages\""
                                           " in %s must rise", cwhere);
            }

            c->stages[i] = pct / 100;
        }

        c->n_stages = stages->n;
    }

    if (f[LLMOPT_CANARY_F_MIN_REQUESTS].value != NULL
        && llmopt_catalog_uint(ctx, &f[LLMOPT_CANARY_F_MIN_REQUESTS], cwhere,
                               1, 100000000, "an integer from 1 to 100000000",
                               &c->min_requests)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    gates[0] = &c->max_quality_drop;
    gates[1] = &c->max_cost_rise;
    gates[2] = &c->max_latency_rise;

    for (k = 0; k < 3; k++) {
        if (f[LLMOPT_CANARY_F_QUALITY + k].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_CANARY_F_QUALITY + k],
                                     cwhere, 0, 0, 1e6, 0,
                                     "a number >= 0", gates[k])
               != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    return LLMOPT_OK;
}


/*
 * breaker: {failures: 5, cooldown: 30000, error_rate: 0.5, window: 10000,
 *           min_requests: 20}; failures 0 turns that trigger off, no
 *           error_rate the other
 */

int
llmopt_catalog_breaker(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *breaker, const char *where)
{
    int                     rc;
    uint64_t                v;
    llmopt_catalog_field_t  f[LLMOPT_BREAKER_LAST];
    char                    bwhere[LLMOPT_CATALOG_WHERE_LEN];

    policy->breaker_failures = 5;
    policy->breaker_cooldown_ms = 30000;
    policy->breaker_error_rate = 0;
    policy->breaker_window_ms = 10000;
    policy->breaker_min_requests = 20;

    rc = llmopt_catalog_submap(ctx, policy, breaker, "breaker",
                               llmopt_catalog_breaker_keys, f, where, bwhere);
    if (rc != LLMOPT_OK) {
        return rc == LLMOPT_DECLINED ? LLMOPT_OK : LLMOPT_ERROR;
    }

    if (f[LLMOPT_BREAKER_FAILURES].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_BREAKER_FAILURES], bwhere, 0,
                                1000, "an integer from 0 to 1000", &v)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        policy->breaker_failures = (unsigned) v;
    }

    if (f[LLMOPT_BREAKER_COOLDOWN].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_BREAKER_COOLDOWN], bwhere, 1,
                                LLMOPT_CATALOG_WAIT_MAX,
                                "an integer of ms from 1 to 3600000", &v)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        policy->breaker_cooldown_ms = v;
    }

    if (f[LLMOPT_BREAKER_ERROR_RATE].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_BREAKER_ERROR_RATE], bwhere,
                                 0, 1, 1, 0, "a number above 0, at most 1",
                                 &policy->breaker_error_rate)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_BREAKER_WINDOW].value != NULL
        && llmopt_catalog_uint(ctx, &f[LLMOPT_BREAKER_WINDOW], bwhere, 100,
                               LLMOPT_CATALOG_WAIT_MAX,
                               "an integer of ms from 100 to 3600000",
                               &policy->breaker_window_ms)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_BREAKER_MIN_REQUESTS].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_BREAKER_MIN_REQUESTS], bwhere,
                                1, 1000000, "an integer from 1 to 1000000",
                                &v)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        policy->breaker_min_requests = (unsigned) v;
    }

    return LLMOPT_OK;
}
