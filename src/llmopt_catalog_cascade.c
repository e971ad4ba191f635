
/*
 * Copyright (C) llmopt authors
 *
 * A policy's "cascade" mapping (docs/CASCADE.md): its tiers, each an arm,
 * a set of arms or a pair, with its extractor and logprobs, and the
 * core's tunables (max_tiers, time_budget_ms, learning_rate, l2,
 * forced_share, forced_floor, forced_half_life).
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_policies.h"
#include "llmopt_catalog_values.h"
#include "llmopt_cascade.h"


static const char *const  llmopt_catalog_cascade_keys[] = {
    "tiers", "max_tiers", "time_budget_ms", "learning_rate", "l2",
    "forced_share", "forced_floor", "forced_half_life", NULL
};

enum {
    LLMOPT_CASCADE_F_TIERS = 0,
    LLMOPT_CASCADE_F_MAX_TIERS,
    LLMOPT_CASCADE_F_TIME_BUDGET,
    LLMOPT_CASCADE_F_RATE,
    LLMOPT_CASCADE_F_L2,
    LLMOPT_CASCADE_F_SHARE,
    LLMOPT_CASCADE_F_FLOOR,
    LLMOPT_CASCADE_F_HALF,
    LLMOPT_CASCADE_F_LAST
};

static const char *const  llmopt_catalog_tier_keys[] = {
    "arm", "arms", "pair", "answer", "logprobs", NULL
};

enum {
    LLMOPT_TIER_F_ARM = 0,
    LLMOPT_TIER_F_ARMS,
    LLMOPT_TIER_F_PAIR,
    LLMOPT_TIER_F_ANSWER,
    LLMOPT_TIER_F_LOGPROBS,
    LLMOPT_TIER_F_LAST
};

static const char *const  llmopt_catalog_answer_keys[] = {
    "regex", NULL
};


static int llmopt_catalog_tier(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_tier_t *tier, const llmopt_node_t *node,
    const char *where);
static int llmopt_catalog_tier_arm(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_tier_t *tier, const llmopt_node_t *node,
    const char *where);
static int llmopt_catalog_tier_answer(llmopt_catalog_ctx_t *ctx,
    llmopt_tier_t *tier, const llmopt_catalog_field_t *f,
    const char *where);


int
llmopt_catalog_cascade(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *field, const char *where)
{
    unsigned                 i;
    uint64_t                 max_tiers, budget;
    const llmopt_node_t     *tiers;
    llmopt_policy_cascade_t *c;
    llmopt_catalog_field_t   f[LLMOPT_CASCADE_F_LAST];
    char                     cwhere[LLMOPT_CATALOG_WHERE_LEN];

    c = &policy->cascade;
    memset(c, 0, sizeof(llmopt_policy_cascade_t));
    llmopt_cascade_conf_default(&c->conf);

    if (field->value == NULL) {
        return LLMOPT_OK;
    }

    (void) snprintf(cwhere, sizeof(cwhere), "cascade of policy \"%s\"",
                    policy->name.data);

    if (field->value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, field->value, "\"cascade\" in %s "
                                   "must be a mapping", where);
    }

    if (llmopt_catalog_fields(ctx, field->value, llmopt_catalog_cascade_keys,
                              f, cwhere)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    tiers = f[LLMOPT_CASCADE_F_TIERS].value;

    if (tiers == NULL) {
        return llmopt_catalog_fail(ctx, field->value, "missing required key "
                                   "\"tiers\" in %s", cwhere);
    }

    if (tiers->type != LLMOPT_CATALOG_SEQ || tiers->n < 2
        || tiers->n > LLMOPT_CASCADE_MAX_TIERS)
    {
        return llmopt_catalog_fail(ctx, tiers, "\"tiers\" in %s must be a "
                                   "list of 2 to %u tiers", cwhere,
                                   LLMOPT_CASCADE_MAX_TIERS);
    }

    c->tiers = llmopt_catalog_alloc(ctx, tiers,
                                    tiers->n * sizeof(llmopt_tier_t));
    if (c->tiers == NULL) {
        return LLMOPT_ERROR;
    }

    memset(c->tiers, 0, tiers->n * sizeof(llmopt_tier_t));

    for (i = 0; i < tiers->n; i++) {
        c->n_tiers = i;

        if (llmopt_catalog_tier(ctx, policy, &c->tiers[i], tiers->items[i],
                                cwhere)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    c->n_tiers = tiers->n;

    max_tiers = c->conf.max_tiers < c->n_tiers ? c->conf.max_tiers
                                               : c->n_tiers;
    budget = 0;

    if ((f[LLMOPT_CASCADE_F_MAX_TIERS].value != NULL
         && llmopt_catalog_uint(ctx, &f[LLMOPT_CASCADE_F_MAX_TIERS], cwhere,
                                1, c->n_tiers, "an integer from 1 to the "
                                "number of tiers", &max_tiers)
            != LLMOPT_OK)
        || (f[LLMOPT_CASCADE_F_TIME_BUDGET].value != NULL
            && llmopt_catalog_uint(ctx, &f[LLMOPT_CASCADE_F_TIME_BUDGET],
                                   cwhere, 0, LLMOPT_CATALOG_WAIT_MAX,
                                   "an integer of ms from 0 to 3600000",
                                   &budget)
               != LLMOPT_OK)
        || (f[LLMOPT_CASCADE_F_RATE].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_CASCADE_F_RATE], cwhere,
                                     0, 1, 10, 0, "a number in (0, 10]",
                                     &c->conf.rate)
               != LLMOPT_OK)
        || (f[LLMOPT_CASCADE_F_L2].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_CASCADE_F_L2], cwhere,
                                     0, 0, 1, 0, "a number in [0, 1]",
                                     &c->conf.l2)
               != LLMOPT_OK)
        || (f[LLMOPT_CASCADE_F_SHARE].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_CASCADE_F_SHARE], cwhere,
                                     0, 0, 1, 0, "a number in [0, 1]",
                                     &c->conf.forced_share)
               != LLMOPT_OK)
        || (f[LLMOPT_CASCADE_F_FLOOR].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_CASCADE_F_FLOOR], cwhere,
                                     0, 0, 1, 0, "a number in [0, 1]",
                                     &c->conf.forced_floor)
               != LLMOPT_OK)
        || (f[LLMOPT_CASCADE_F_HALF].value != NULL
            && llmopt_catalog_number(ctx, &f[LLMOPT_CASCADE_F_HALF], cwhere,
                                     0, 1, 1e12, 0,
                                     "a number of decisions in (0, 1e12]",
                                     &c->conf.forced_half)
               != LLMOPT_OK))
    {
        return LLMOPT_ERROR;
    }

    if (c->conf.forced_floor > c->conf.forced_share) {
        return llmopt_catalog_fail(ctx, f[LLMOPT_CASCADE_F_FLOOR].value
                                        ? f[LLMOPT_CASCADE_F_FLOOR].value
                                        : f[LLMOPT_CASCADE_F_SHARE].value,
                                   "forced_floor %g in %s is above "
                                   "forced_share %g",
                                   c->conf.forced_floor, cwhere,
                                   c->conf.forced_share);
    }

    c->conf.max_tiers = (unsigned) max_tiers;
    c->conf.time_budget_ms = (double) budget;

    return LLMOPT_OK;
}


int
llmopt_policy_tier(const llmopt_policy_t *policy, unsigned arm)
{
    unsigned  i, j;

    for (i = 0; i < policy->cascade.n_tiers; i++) {
        for (j = 0; j < policy->cascade.tiers[i].n_arms; j++) {
            if (policy->cascade.tiers[i].arms[j] == arm) {
                return (int) i;
            }
        }
    }

    return -1;
}


/* One tier: an arm's name, or a mapping with arm, arms or pair. */

static int
llmopt_catalog_tier(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    llmopt_tier_t *tier, const llmopt_node_t *node, const char *where)
{
    unsigned                i, given;
    const llmopt_node_t    *list, *flag;
    llmopt_catalog_field_t  f[LLMOPT_TIER_F_LAST];
    char                    twhere[LLMOPT_CATALOG_WHERE_LEN];

    tier->line = node->line;
    tier->column = node->column;

    (void) snprintf(twhere, sizeof(twhere), "tier %u of cascade of policy "
                    "\"%s\"", policy->cascade.n_tiers + 1,
                    policy->name.data);

    tier->arms = llmopt_catalog_alloc(ctx, node,
                                      policy->n_arms * sizeof(unsigned));
    if (tier->arms == NULL) {
        return LLMOPT_ERROR;
    }

    if (node->type == LLMOPT_CATALOG_SCALAR) {
        tier->kind = LLMOPT_TIER_ARM;
        return llmopt_catalog_tier_arm(ctx, policy, tier, node, twhere);
    }

    if (node->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, node, "%s must be an arm's name or "
                                   "a mapping", twhere);
    }

    if (llmopt_catalog_fields(ctx, node, llmopt_catalog_tier_keys, f, twhere)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    given = (f[LLMOPT_TIER_F_ARM].value != NULL)
            + (f[LLMOPT_TIER_F_ARMS].value != NULL)
            + (f[LLMOPT_TIER_F_PAIR].value != NULL);

    if (given != 1) {
        return llmopt_catalog_fail(ctx, node, "%s needs exactly one of "
                                   "\"arm\", \"arms\" and \"pair\"", twhere);
    }

    if (f[LLMOPT_TIER_F_ARM].value != NULL) {
        tier->kind = LLMOPT_TIER_ARM;

        if (llmopt_catalog_tier_arm(ctx, policy, tier,
                                    f[LLMOPT_TIER_F_ARM].value, twhere)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

    } else {
        tier->kind = f[LLMOPT_TIER_F_PAIR].value != NULL ? LLMOPT_TIER_PAIR
                                                         : LLMOPT_TIER_ARMS;
        list = f[tier->kind == LLMOPT_TIER_PAIR ? LLMOPT_TIER_F_PAIR
                                                : LLMOPT_TIER_F_ARMS].value;

        if (list->type != LLMOPT_CATALOG_SEQ || list->n == 0
            || (tier->kind == LLMOPT_TIER_PAIR && list->n != 2))
        {
            return llmopt_catalog_fail(ctx, list, "\"%s\" in %s must be a "
                                       "list of %s arms",
                                       tier->kind == LLMOPT_TIER_PAIR
                                       ? "pair" : "arms", twhere,
                                       tier->kind == LLMOPT_TIER_PAIR
                                       ? "two" : "one or more");
        }

        for (i = 0; i < list->n; i++) {
            if (llmopt_catalog_tier_arm(ctx, policy, tier, list->items[i],
                                        twhere)
                != LLMOPT_OK)
            {
                return LLMOPT_ERROR;
            }
        }
    }

    if (llmopt_catalog_tier_answer(ctx, tier, &f[LLMOPT_TIER_F_ANSWER],
                                   twhere)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    flag = f[LLMOPT_TIER_F_LOGPROBS].value;

    if (flag != NULL) {
        if (flag->type != LLMOPT_CATALOG_SCALAR || !flag->plain
            || (strcmp(flag->scalar.data, "true") != 0
                && strcmp(flag->scalar.data, "false") != 0))
        {
            return llmopt_catalog_fail(ctx, flag, "\"logprobs\" in %s must "
                                       "be true or false", twhere);
        }

        tier->logprobs = (flag->scalar.data[0] == 't');
    }

    for (i = 0; tier->logprobs && i < tier->n_arms; i++) {
        if (ctx->cat->models[policy->arms[tier->arms[i]].model].api
            != LLMOPT_DIALECT_OPENAI)
        {
            return llmopt_catalog_fail(ctx, flag, "\"logprobs\" in %s: arm "
                                       "\"%s\" is not of the OpenAI "
                                       "dialect, whose API alone gives "
                                       "log-probabilities", twhere,
                                       policy->arms[tier->arms[i]].name.data);
        }
    }

    return LLMOPT_OK;
}


/* Adds the arm node names to tier; an arm is in one tier at most. */

static int
llmopt_catalog_tier_arm(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    llmopt_tier_t *tier, const llmopt_node_t *node, const char *where)
{
    int       arm, other;
    unsigned  i;

    if (node->type != LLMOPT_CATALOG_SCALAR || node->scalar.len == 0
        || llmopt_catalog_is_null(node))
    {
        return llmopt_catalog_fail(ctx, node, "an arm of %s must be a "
                                   "non-empty string", where);
    }

    arm = llmopt_policy_arm(policy, node->scalar.data, node->scalar.len);

    if (arm < 0) {
        return llmopt_catalog_fail(ctx, node, "\"%s\" in %s names no arm of "
                                   "the policy", node->scalar.data, where);
    }

    for (i = 0; i < tier->n_arms; i++) {
        if (tier->arms[i] == (unsigned) arm) {
            return llmopt_catalog_fail(ctx, node, "arm \"%s\" twice in %s",
                                       node->scalar.data, where);
        }
    }

    other = llmopt_policy_tier(policy, (unsigned) arm);

    if (other >= 0) {
        return llmopt_catalog_fail(ctx, node, "arm \"%s\" of %s is in tier "
                                   "%d already", node->scalar.data, where,
                                   other + 1);
    }

    tier->arms[tier->n_arms++] = (unsigned) arm;

    return LLMOPT_OK;
}


/* answer: {regex: ...}, compiled once to check it (the glue compiles its
   own per process). */

static int
llmopt_catalog_tier_answer(llmopt_catalog_ctx_t *ctx, llmopt_tier_t *tier,
    const llmopt_catalog_field_t *f, const char *where)
{
    llmopt_err_t                err;
    llmopt_catalog_field_t      af[2];
    llmopt_cascade_extractor_t  ex;

    if (f->value == NULL) {
        return LLMOPT_OK;
    }

    if (f->value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, f->value, "\"answer\" in %s must be "
                                   "a mapping", where);
    }

    if (llmopt_catalog_fields(ctx, f->value, llmopt_catalog_answer_keys, af,
                              where)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (af[0].value == NULL) {
        return LLMOPT_OK;
    }

    if (llmopt_catalog_string(ctx, &af[0], where, &tier->regex)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    memset(&err, 0, sizeof(llmopt_err_t));

    if (llmopt_cascade_extractor_init(&ex, tier->regex.data, &err)
        != LLMOPT_OK)
    {
        return llmopt_catalog_fail(ctx, af[0].value, "\"regex\" in %s: %s",
                                   where, err.msg);
    }

    llmopt_cascade_extractor_free(&ex);

    return LLMOPT_OK;
}
