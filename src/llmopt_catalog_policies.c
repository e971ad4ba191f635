/*
 * Copyright (C) llmopt authors
 *
 * The "policies" section of the catalog: each policy's algorithm and
 * its hyperparameters, features, reward, fallback, feedback and latency
 * SLO keys; arms and guardrails are checked by llmopt_catalog_arms.c and
 * llmopt_catalog_guardrails.c.
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_arms.h"
#include "llmopt_catalog_cache.h"
#include "llmopt_catalog_guardrails.h"
#include "llmopt_catalog_policies.h"
#include "llmopt_catalog_values.h"
#include "llmopt_features.h"


/* Keys of each kind of mapping; the enums below index them. */

static const char *const  llmopt_catalog_policy_keys[] = {
    "algorithm", "alpha", "lambda", "epsilon", "prior", "prior_mean",
    "exploration_floor", "exploration_decay",
    "forgetting", "seed", "arms", "features", "tenant_buckets",
    "word_buckets", "reward", "feedback_wait", "feedback_tenant",
    "fallback", "max_cost",
    "breaker", "drift", "latency_slo", "latency_slo_action",
    "latency_slo_penalty", "budget", "canary", "unscored", "baseline",
    "sparse", "drop_unsupported", "cache", "variants", "cascade", NULL
};

enum {
    LLMOPT_POLICY_ALGORITHM = 0,
    LLMOPT_POLICY_ALPHA,
    LLMOPT_POLICY_LAMBDA,
    LLMOPT_POLICY_EPSILON,
    LLMOPT_POLICY_PRIOR,
    LLMOPT_POLICY_PRIOR_MEAN,
    LLMOPT_POLICY_EXPLORATION_FLOOR,
    LLMOPT_POLICY_EXPLORATION_DECAY,
    LLMOPT_POLICY_FORGETTING,
    LLMOPT_POLICY_SEED,
    LLMOPT_POLICY_ARMS,
    LLMOPT_POLICY_FEATURES,
    LLMOPT_POLICY_TENANT_BUCKETS,
    LLMOPT_POLICY_WORD_BUCKETS,
    LLMOPT_POLICY_REWARD,
    LLMOPT_POLICY_FEEDBACK_WAIT,
    LLMOPT_POLICY_FEEDBACK_TENANT,
    LLMOPT_POLICY_FALLBACK,
    LLMOPT_POLICY_MAX_COST,
    LLMOPT_POLICY_BREAKER,
    LLMOPT_POLICY_DRIFT,
    LLMOPT_POLICY_LATENCY_SLO,
    LLMOPT_POLICY_LATENCY_SLO_ACTION,
    LLMOPT_POLICY_LATENCY_SLO_PENALTY,
    LLMOPT_POLICY_BUDGET,
    LLMOPT_POLICY_CANARY,
    LLMOPT_POLICY_UNSCORED,
    LLMOPT_POLICY_BASELINE,
    LLMOPT_POLICY_SPARSE,
    LLMOPT_POLICY_DROP_UNSUPPORTED,
    LLMOPT_POLICY_CACHE,
    LLMOPT_POLICY_VARIANTS,
    LLMOPT_POLICY_CASCADE,
    LLMOPT_POLICY_LAST
};

static const char *const  llmopt_catalog_prior_keys[] = {
    "alpha", "beta", NULL
};

enum {
    LLMOPT_PRIOR_ALPHA = 0,
    LLMOPT_PRIOR_BETA,
    LLMOPT_PRIOR_LAST
};

static const char *const  llmopt_catalog_reward_keys[] = {
    "quality", "cost", "latency", "cost_ref", "latency_ref", NULL
};

enum {
    LLMOPT_REWARD_QUALITY = 0,
    LLMOPT_REWARD_COST,
    LLMOPT_REWARD_LATENCY,
    LLMOPT_REWARD_COST_REF,
    LLMOPT_REWARD_LATENCY_REF,
    LLMOPT_REWARD_LAST
};

/* used when a policy states no "features" */

static const char *const  llmopt_catalog_default_features[] = {
    "bias", "input_tokens", "messages", "has_code", "has_tools", "hour", NULL
};


static int llmopt_catalog_policy_entry(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_node_t *key,
    const llmopt_node_t *value);
static int llmopt_catalog_bandit(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_catalog_field_t *f, const char *where);
static int llmopt_catalog_features(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_node_t *pkey,
    llmopt_catalog_field_t *f, const char *where);
static int llmopt_catalog_reward(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);
static int llmopt_catalog_fallback(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);


int
llmopt_catalog_policies(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f)
{
    unsigned              i;
    const llmopt_node_t  *map;

    map = f->value;

    if (llmopt_catalog_named_map(ctx, f, "policy") != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    ctx->cat->policies = llmopt_catalog_alloc(ctx, map,
                                              map->n
                                              * sizeof(llmopt_policy_t));
    if (ctx->cat->policies == NULL) {
        return LLMOPT_ERROR;
    }

    for (i = 0; i < map->n; i++) {
        if (llmopt_catalog_policy_entry(ctx, &ctx->cat->policies[i],
                                        map->items[2 * i],
                                        map->items[2 * i + 1])
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        ctx->cat->n_policies++;
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_policy_entry(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_node_t *key,
    const llmopt_node_t *value)
{
    unsigned                k, drop;
    uint64_t                wait;
    const char             *action;
    llmopt_str_t            name;
    const llmopt_node_t    *item;
    llmopt_catalog_field_t  f[LLMOPT_POLICY_LAST];
    char                    where[LLMOPT_CATALOG_WHERE_LEN];

    if (llmopt_catalog_name(ctx, key, "policy name",
                            LLMOPT_CATALOG_NAME_MAX)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    policy->name = key->scalar;
    policy->line = key->line;
    policy->column = key->column;
    policy->fallback = -1;
    policy->baseline = -1;

    (void) snprintf(where, sizeof(where), "policy \"%s\"", key->scalar.data);

    if (value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, value, "%s must be a mapping", where);
    }

    if (llmopt_catalog_fields(ctx, value, llmopt_catalog_policy_keys, f,
                              where)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_POLICY_ALGORITHM].value == NULL) {
        return llmopt_catalog_fail(ctx, key, "missing required key "
                                   "\"algorithm\" in %s", where);
    }

    if (f[LLMOPT_POLICY_ARMS].value == NULL) {
        return llmopt_catalog_fail(ctx, key, "missing required key \"arms\" "
                                   "in %s", where);
    }

    if (llmopt_catalog_arms(ctx, policy, &f[LLMOPT_POLICY_ARMS], where)
        != LLMOPT_OK
        || llmopt_catalog_bandit(ctx, policy, f, where) != LLMOPT_OK
        || llmopt_catalog_features(ctx, policy, key, f, where) != LLMOPT_OK
        || llmopt_catalog_sparse(ctx, policy, f[LLMOPT_POLICY_ALGORITHM].value,
                                 &f[LLMOPT_POLICY_SPARSE], where)
           != LLMOPT_OK
        || llmopt_catalog_reward(ctx, policy, &f[LLMOPT_POLICY_REWARD], where)
           != LLMOPT_OK
        || llmopt_catalog_fallback(ctx, policy, &f[LLMOPT_POLICY_FALLBACK],
                                   where)
           != LLMOPT_OK
        || llmopt_catalog_variants(ctx, policy, &f[LLMOPT_POLICY_VARIANTS],
                                   where)
           != LLMOPT_OK
        || llmopt_catalog_cascade(ctx, policy, &f[LLMOPT_POLICY_CASCADE],
                                  where)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    /* translated requests of every arm leave out what has no counterpart */

    drop = 0;

    if (llmopt_catalog_bool(ctx, &f[LLMOPT_POLICY_DROP_UNSUPPORTED], where,
                            &drop)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    policy->drop_unsupported = drop;

    if (f[LLMOPT_POLICY_FEEDBACK_WAIT].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_POLICY_FEEDBACK_WAIT], where,
                                0, LLMOPT_CATALOG_WAIT_MAX,
                                "an integer of ms from 0 to 3600000", &wait)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        policy->feedback_wait_ms = wait;
    }

    /* what an answer whose feedback never came teaches */

    policy->reward.unscored = policy->feedback_wait_ms
                              ? LLMOPT_UNSCORED_OBSERVED
                              : LLMOPT_UNSCORED_NONE;

    /* the arm the dashboard's savings compare with (by arm name) */

    if (f[LLMOPT_POLICY_BASELINE].value != NULL) {
        if (llmopt_catalog_string(ctx, &f[LLMOPT_POLICY_BASELINE], where,
                                  &name)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        policy->baseline = llmopt_policy_arm(policy, name.data, name.len);

        if (policy->baseline < 0) {
            return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_BASELINE].value,
                                       "baseline \"%s\" names no arm of %s",
                                       name.data, where);
        }
    }

    if (f[LLMOPT_POLICY_UNSCORED].value != NULL) {
        item = f[LLMOPT_POLICY_UNSCORED].value;
        action = item->type == LLMOPT_CATALOG_SCALAR ? item->scalar.data : "";

        if (policy->feedback_wait_ms == 0) {
            return llmopt_catalog_fail(ctx, item, "\"unscored\" in %s needs "
                                       "a \"feedback_wait\" above 0",
                                       where);
        }

        for (k = LLMOPT_UNSCORED_OBSERVED;
             llmopt_unscored_name(k) != NULL
             && strcmp(action, llmopt_unscored_name(k)) != 0;
             k++)
        { /* void */ }

        if (llmopt_unscored_name(k) == NULL) {
            return llmopt_catalog_fail(ctx, item, "\"unscored\" in %s must "
                                       "be observed, skip or proxy", where);
        }

        policy->reward.unscored = k;
    }

    policy->feedback_tenant_same = 0;

    if (f[LLMOPT_POLICY_FEEDBACK_TENANT].value != NULL) {
        item = f[LLMOPT_POLICY_FEEDBACK_TENANT].value;
        action = item->type == LLMOPT_CATALOG_SCALAR ? item->scalar.data : "";

        if (strcmp(action, "same") == 0) {
            policy->feedback_tenant_same = 1;

        } else if (strcmp(action, "any") != 0) {
            return llmopt_catalog_fail(ctx, item, "\"feedback_tenant\" in %s "
                                       "must be any or same", where);
        }
    }

    if (f[LLMOPT_POLICY_LATENCY_SLO].value != NULL
        && llmopt_catalog_uint(ctx, &f[LLMOPT_POLICY_LATENCY_SLO], where, 1,
                               LLMOPT_CATALOG_WAIT_MAX,
                               "an integer of ms from 1 to 3600000",
                               &policy->latency_slo_ms)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    policy->latency_slo_penalise = 0;
    policy->reward.slo_penalty = 0.5;

    if (f[LLMOPT_POLICY_LATENCY_SLO_ACTION].value != NULL) {
        item = f[LLMOPT_POLICY_LATENCY_SLO_ACTION].value;
        action = item->type == LLMOPT_CATALOG_SCALAR ? item->scalar.data : "";

        if (strcmp(action, "penalise") == 0 || strcmp(action, "penalize") == 0)
        {
            policy->latency_slo_penalise = 1;

        } else if (strcmp(action, "exclude") != 0) {
            return llmopt_catalog_fail(ctx, item, "\"latency_slo_action\" "
                                       "in %s must be exclude or penalise",
                                       where);
        }
    }

    if (f[LLMOPT_POLICY_LATENCY_SLO_PENALTY].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_LATENCY_SLO_PENALTY],
                                 where, 0, 1, 1, 0,
                                 "a number above 0, at most 1",
                                 &policy->reward.slo_penalty)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_POLICY_MAX_COST].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_MAX_COST], where,
                                 0, 1, HUGE_VAL, 1, "a number of USD > 0",
                                 &policy->max_cost)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (llmopt_catalog_breaker(ctx, policy, &f[LLMOPT_POLICY_BREAKER], where)
        != LLMOPT_OK
        || llmopt_catalog_budget(ctx, policy, &f[LLMOPT_POLICY_BUDGET], where)
           != LLMOPT_OK
        || llmopt_catalog_canary(ctx, policy, &f[LLMOPT_POLICY_CANARY], where)
           != LLMOPT_OK
        || llmopt_catalog_cache(ctx, policy, &f[LLMOPT_POLICY_CACHE], where)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    return llmopt_catalog_drift(ctx, policy, &f[LLMOPT_POLICY_DRIFT], where);
}


/* The algorithm and its hyperparameters; arms are known by now. */

static int
llmopt_catalog_bandit(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    llmopt_catalog_field_t *f, const char *where)
{
    int                     alg;
    double                  sum;
    unsigned                i;
    llmopt_str_t            name;
    llmopt_bandit_conf_t   *conf;
    llmopt_catalog_field_t  prior[LLMOPT_PRIOR_LAST];
    char                    prior_where[LLMOPT_CATALOG_WHERE_LEN];

    conf = &policy->bandit;

    if (llmopt_catalog_string(ctx, &f[LLMOPT_POLICY_ALGORITHM], where, &name)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    /* sparse decides with llmopt_sparse; epsilon_greedy keeps the counts */
    policy->sparse_on = (name.len == 6 && memcmp(name.data, "sparse", 6) == 0);
    alg = policy->sparse_on ? LLMOPT_ALG_EPSILON_GREEDY
                            : llmopt_algorithm_lookup(name.data, name.len);

    if (alg < 0) {
        return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_ALGORITHM].value,
                                   "unknown algorithm \"%s\" in %s "
                                   "(expected linucb, lin_ts, thompson, "
                                   "ucb1, epsilon_greedy, static or "
                                   "sparse)", name.data, where);
    }

    memset(conf, 0, sizeof(llmopt_bandit_conf_t));
    conf->algorithm = (llmopt_algorithm_e) alg;
    llmopt_bandit_conf_defaults(conf);
    conf->algorithm = (llmopt_algorithm_e) alg;

    if ((f[LLMOPT_POLICY_ALPHA].value != NULL
         && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_ALPHA], where,
                                  0, 0, HUGE_VAL, 1, "a number >= 0",
                                  &conf->alpha)
            != LLMOPT_OK)
        || (f[LLMOPT_POLICY_LAMBDA].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_LAMBDA], where,
                                     0, 1, HUGE_VAL, 1, "a number > 0",
                                     &conf->lambda)
               != LLMOPT_OK)
        || (f[LLMOPT_POLICY_EPSILON].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_EPSILON], where,
                                     0, 0, 1, 0, "a number from 0 to 1",
                                     &conf->epsilon)
               != LLMOPT_OK)
        || (f[LLMOPT_POLICY_EXPLORATION_FLOOR].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_EXPLORATION_FLOOR],
                                     where, 0, 0, 1.0 / policy->n_arms, 0,
                                     "a number from 0 to 1 / arms",
                                     &conf->exploration_floor)
               != LLMOPT_OK)
        || (f[LLMOPT_POLICY_EXPLORATION_DECAY].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_EXPLORATION_DECAY],
                                     where, 0, 0, 1, 0, "a number from 0 to 1",
                                     &conf->exploration_decay)
               != LLMOPT_OK)
        || (f[LLMOPT_POLICY_FORGETTING].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_FORGETTING], where,
                                     0, 1, 1, 0, "a number in (0, 1]",
                                     &conf->forgetting)
               != LLMOPT_OK)
        || (f[LLMOPT_POLICY_PRIOR_MEAN].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_POLICY_PRIOR_MEAN], where,
                                     0, 0, 1, 0, "a number from 0 to 1",
                                     &conf->prior_mean)
               != LLMOPT_OK)
        || (f[LLMOPT_POLICY_SEED].value != NULL
            && llmopt_catalog_uint(ctx, &f[LLMOPT_POLICY_SEED], where,
                                   0, UINT64_MAX, "an integer >= 0",
                                   &conf->seed)
               != LLMOPT_OK))
    {
        return LLMOPT_ERROR;
    }

    if (conf->algorithm != LLMOPT_ALG_LINUCB
        && conf->algorithm != LLMOPT_ALG_LIN_TS)
    {
        /* checked above, unused by this algorithm: ignored */
        conf->prior_mean = 0;
    }

    if (f[LLMOPT_POLICY_PRIOR].value != NULL) {
        (void) snprintf(prior_where, sizeof(prior_where),
                        "prior of policy \"%s\"", policy->name.data);

        if (f[LLMOPT_POLICY_PRIOR].value->type != LLMOPT_CATALOG_MAP) {
            return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_PRIOR].value,
                                       "\"prior\" in %s must be a mapping "
                                       "with alpha and beta", where);
        }

        if (llmopt_catalog_fields(ctx, f[LLMOPT_POLICY_PRIOR].value,
                                  llmopt_catalog_prior_keys, prior,
                                  prior_where)
            != LLMOPT_OK
            || (prior[LLMOPT_PRIOR_ALPHA].value != NULL
                && llmopt_catalog_number(ctx, &prior[LLMOPT_PRIOR_ALPHA],
                                         prior_where, 0, 1, HUGE_VAL, 1,
                                         "a number > 0", &conf->prior_alpha)
                   != LLMOPT_OK)
            || (prior[LLMOPT_PRIOR_BETA].value != NULL
                && llmopt_catalog_number(ctx, &prior[LLMOPT_PRIOR_BETA],
                                         prior_where, 0, 1, HUGE_VAL, 1,
                                         "a number > 0", &conf->prior_beta)
                   != LLMOPT_OK))
        {
            return LLMOPT_ERROR;
        }
    }

    conf->n_arms = policy->n_arms;

    sum = 0;

    for (i = 0; i < policy->n_arms; i++) {
        conf->weights[i] = policy->arms[i].weight;
        sum += policy->arms[i].weight;
    }

    if (conf->algorithm == LLMOPT_ALG_STATIC && !(sum > 0)) {
        return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_ARMS].value,
                                   "the arms of static %s all have weight "
                                   "0", where);
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_features(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_node_t *pkey, llmopt_catalog_field_t *f, const char *where)
{
    int                     id;
    char                    known[LLMOPT_ERR_MSG_LEN];
    size_t                  n;
    uint64_t                buckets;
    unsigned                i, j;
    const char             *name;
    llmopt_err_t            ferr;
    const llmopt_node_t    *seq, *item, *at;
    llmopt_feature_spec_t  *spec, before;

    spec = &policy->features;
    spec->tenant_buckets = 4;
    spec->word_buckets = 8;

    if (f[LLMOPT_POLICY_TENANT_BUCKETS].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_POLICY_TENANT_BUCKETS], where,
                                1, LLMOPT_FEATURE_MAX_DIM,
                                "an integer from 1 to 64", &buckets)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        spec->tenant_buckets = (unsigned) buckets;
    }

    if (f[LLMOPT_POLICY_WORD_BUCKETS].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_POLICY_WORD_BUCKETS], where,
                                1, LLMOPT_FEATURE_MAX_DIM,
                                "an integer from 1 to 64", &buckets)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        spec->word_buckets = (unsigned) buckets;
    }

    seq = f[LLMOPT_POLICY_FEATURES].value;

    if (seq == NULL) {
        at = pkey;

        for (i = 0; llmopt_catalog_default_features[i] != NULL; i++) {
            name = llmopt_catalog_default_features[i];
            id = llmopt_feature_lookup(name, strlen(name));

            if (id < 0) {
                return llmopt_catalog_fail(ctx, pkey, "default feature "
                                           "\"%s\" of %s is unknown", name,
                                           where);
            }

            spec->ids[spec->n++] = (llmopt_feature_e) id;
        }

    } else {
        at = f[LLMOPT_POLICY_FEATURES].key;

        if (seq->type != LLMOPT_CATALOG_SEQ || seq->n == 0) {
            return llmopt_catalog_fail(ctx, seq, "\"features\" in %s must be "
                                       "a non-empty sequence of feature "
                                       "names", where);
        }

        if (seq->n > LLMOPT_FEATURE_MAX_IDS) {
            return llmopt_catalog_fail(ctx, seq, "\"features\" in %s has "
                                       "more than %d entries", where,
                                       LLMOPT_FEATURE_MAX_IDS);
        }

        for (i = 0; i < seq->n; i++) {
            item = seq->items[i];

            if (item->type != LLMOPT_CATALOG_SCALAR) {
                return llmopt_catalog_fail(ctx, item, "a feature in %s must "
                                           "be a name", where);
            }

            id = llmopt_feature_lookup(item->scalar.data, item->scalar.len);

            if (id < 0) {
                known[0] = '\0';
                n = 0;

                for (j = 0; j < LLMOPT_FEAT_LAST && n < sizeof(known); j++) {
                    name = llmopt_feature_name((llmopt_feature_e) j);
                    n += snprintf(known + n, sizeof(known) - n, "%s%s",
                                  j ? ", " : "",
                                  name != NULL ? name : "?");
                }

                return llmopt_catalog_fail(ctx, item, "unknown feature "
                                           "\"%s\" in %s (known: %s)",
                                           item->scalar.data, where, known);
            }

            for (j = 0; j < spec->n; j++) {
                if (spec->ids[j] == (llmopt_feature_e) id) {
                    return llmopt_catalog_fail(ctx, item, "feature \"%s\" "
                                               "is listed twice in %s",
                                               item->scalar.data, where);
                }
            }

            spec->ids[spec->n++] = (llmopt_feature_e) id;
        }
    }

    memset(&ferr, 0, sizeof(llmopt_err_t));

    if (llmopt_feature_spec_finish(spec, &ferr) != LLMOPT_OK) {
        return llmopt_catalog_fail(ctx, at, "features of %s: %s", where,
                                   ferr.msg);
    }

    policy->bandit.d = spec->d;

    if (policy->bandit.prior_mean != 0) {
        /* the prior mean sits on the bias: its dimension */

        for (i = 0; i < spec->n && spec->ids[i] != LLMOPT_FEAT_BIAS; i++) {
            /* void */
        }

        if (i == spec->n) {
            return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_PRIOR_MEAN].value,
                                       "\"prior_mean\" of %s needs the "
                                       "\"bias\" feature", where);
        }

        before = *spec;
        before.n = i;
        (void) llmopt_feature_spec_finish(&before, NULL);
        policy->bandit.prior_index = before.d;
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_reward(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *reward, const char *where)
{
    double                  sum;
    llmopt_reward_conf_t   *rc;
    llmopt_catalog_field_t  f[LLMOPT_REWARD_LAST];
    char                    rwhere[LLMOPT_CATALOG_WHERE_LEN];

    rc = &policy->reward;
    rc->quality = 0.6;
    rc->cost = 0.3;
    rc->latency = 0.1;
    rc->cost_ref = 0.01;
    rc->latency_ref = 2000;

    if (reward->value == NULL) {
        return LLMOPT_OK;
    }

    (void) snprintf(rwhere, sizeof(rwhere), "reward of policy \"%s\"",
                    policy->name.data);

    if (reward->value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, reward->value, "\"reward\" in %s "
                                   "must be a mapping", where);
    }

    if (llmopt_catalog_fields(ctx, reward->value, llmopt_catalog_reward_keys,
                              f, rwhere)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    /* weights not stated are 0 once any weight is stated */

    if (f[LLMOPT_REWARD_QUALITY].value != NULL
        || f[LLMOPT_REWARD_COST].value != NULL
        || f[LLMOPT_REWARD_LATENCY].value != NULL)
    {
        rc->quality = 0;
        rc->cost = 0;
        rc->latency = 0;
    }

    if ((f[LLMOPT_REWARD_QUALITY].value != NULL
         && llmopt_catalog_number(ctx, &f[LLMOPT_REWARD_QUALITY], rwhere,
                                  0, 0, HUGE_VAL, 1, "a number >= 0",
                                  &rc->quality)
            != LLMOPT_OK)
        || (f[LLMOPT_REWARD_COST].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_REWARD_COST], rwhere,
                                     0, 0, HUGE_VAL, 1, "a number >= 0",
                                     &rc->cost)
               != LLMOPT_OK)
        || (f[LLMOPT_REWARD_LATENCY].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_REWARD_LATENCY], rwhere,
                                     0, 0, HUGE_VAL, 1, "a number >= 0",
                                     &rc->latency)
               != LLMOPT_OK)
        || (f[LLMOPT_REWARD_COST_REF].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_REWARD_COST_REF], rwhere,
                                     0, 1, HUGE_VAL, 1, "a number > 0 (USD)",
                                     &rc->cost_ref)
               != LLMOPT_OK)
        || (f[LLMOPT_REWARD_LATENCY_REF].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_REWARD_LATENCY_REF],
                                     rwhere, 0, 1, HUGE_VAL, 1,
                                     "a number > 0 (ms)", &rc->latency_ref)
               != LLMOPT_OK))
    {
        return LLMOPT_ERROR;
    }

    sum = rc->quality + rc->cost + rc->latency;

    if (!(sum > 0) || isinf(sum)) {
        return llmopt_catalog_fail(ctx, reward->value, "the weights of %s "
                                   "are all 0", rwhere);
    }

    rc->quality /= sum;
    rc->cost /= sum;
    rc->latency /= sum;

    return LLMOPT_OK;
}


static int
llmopt_catalog_fallback(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *f, const char *where)
{
    int                    arm;
    unsigned               i, uses;
    llmopt_str_t           name;
    const llmopt_model_t  *model;

    if (f->value == NULL) {
        return LLMOPT_OK;
    }

    if (llmopt_catalog_string(ctx, f, where, &name) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    arm = llmopt_policy_arm(policy, name.data, name.len);

    if (arm >= 0) {
        policy->fallback = arm;
        return LLMOPT_OK;
    }

    uses = 0;

    for (i = 0; i < policy->n_arms; i++) {
        model = &ctx->cat->models[policy->arms[i].model];

        if (model->name.len == name.len
            && memcmp(model->name.data, name.data, name.len) == 0)
        {
            arm = (int) i;
            uses++;
        }
    }

    if (uses == 1) {
        policy->fallback = arm;
        return LLMOPT_OK;
    }

    if (uses > 1) {
        return llmopt_catalog_fail(ctx, f->value, "fallback \"%s\" of %s "
                                   "names a model that %u arms use: name "
                                   "one arm", name.data, where, uses);
    }

    return llmopt_catalog_fail(ctx, f->value, "fallback \"%s\" names no arm "
                               "of %s", name.data, where);
}
