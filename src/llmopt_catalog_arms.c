/*
 * Copyright (C) llmopt authors
 *
 * A policy's "arms": the model each one calls, its name, weight and
 * params (as the raw JSON the rewriter sets into a request).
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_arms.h"
#include "llmopt_catalog_values.h"


/* Keys of each kind of mapping; the enums below index them. */

static const char *const  llmopt_catalog_arm_keys[] = {
    "model", "name", "params", "weight", NULL
};

enum {
    LLMOPT_ARM_MODEL = 0,
    LLMOPT_ARM_NAME,
    LLMOPT_ARM_PARAMS,
    LLMOPT_ARM_WEIGHT,
    LLMOPT_ARM_LAST
};


static int llmopt_catalog_arm(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_arm_t *arm, unsigned i,
    const llmopt_node_t *node, unsigned *named);
static int llmopt_catalog_arm_names(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const unsigned *named,
    const llmopt_node_t *const *nodes);
static int llmopt_catalog_params(llmopt_catalog_ctx_t *ctx, llmopt_arm_t *arm,
    const llmopt_catalog_field_t *f, const char *where);


int
llmopt_catalog_arms(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *f, const char *where)
{
    unsigned              i, named[LLMOPT_MAX_ARMS];
    const llmopt_node_t  *seq;
    const llmopt_model_t *model, *first;

    seq = f->value;

    if (llmopt_catalog_is_null(seq)
        || (seq->type == LLMOPT_CATALOG_SEQ && seq->n == 0))
    {
        return llmopt_catalog_fail(ctx, f->key, "\"arms\" in %s is empty",
                                   where);
    }

    if (seq->type != LLMOPT_CATALOG_SEQ) {
        return llmopt_catalog_fail(ctx, seq, "\"arms\" in %s must be a "
                                   "sequence", where);
    }

    if (seq->n > LLMOPT_MAX_ARMS) {
        return llmopt_catalog_fail(ctx, seq->items[LLMOPT_MAX_ARMS],
                                   "%s has %u arms, more than %d", where,
                                   seq->n, LLMOPT_MAX_ARMS);
    }

    policy->arms = llmopt_catalog_alloc(ctx, seq,
                                        seq->n * sizeof(llmopt_arm_t));
    if (policy->arms == NULL) {
        return LLMOPT_ERROR;
    }

    for (i = 0; i < seq->n; i++) {
        if (llmopt_catalog_arm(ctx, policy, &policy->arms[i], i,
                               seq->items[i], &named[i])
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    policy->n_arms = seq->n;

    if (llmopt_catalog_arm_names(ctx, policy, named,
                                 (const llmopt_node_t *const *) seq->items)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    /*
     * The client's dialect where the location does not say: the first arm
     * with an api of its own tells it (openai when none has one); a policy
     * whose arms speak both is "mixed", its locations must say.
     */

    policy->dialect = LLMOPT_DIALECT_OPENAI;
    policy->mixed = 0;
    first = NULL;

    for (i = 0; i < policy->n_arms; i++) {
        model = &ctx->cat->models[policy->arms[i].model];

        if (model->api_client) {
            continue;
        }

        if (first == NULL) {
            first = model;
            policy->dialect = model->api;

        } else if (model->api != first->api) {
            policy->mixed = 1;
        }
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_arm(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    llmopt_arm_t *arm, unsigned i, const llmopt_node_t *node,
    unsigned *named)
{
    unsigned                m;
    llmopt_str_t            model;
    llmopt_catalog_field_t  f[LLMOPT_ARM_LAST];
    char                    where[LLMOPT_CATALOG_WHERE_LEN];

    (void) snprintf(where, sizeof(where), "arm %u of policy \"%s\"", i + 1,
                    policy->name.data);

    arm->line = node->line;
    arm->column = node->column;
    arm->weight = 1;
    *named = 0;

    memset(f, 0, sizeof(f));

    if (node->type == LLMOPT_CATALOG_SCALAR
        && !llmopt_catalog_is_null(node))
    {
        /* "- gpt-4o" is short for "- {model: gpt-4o}" */

        f[LLMOPT_ARM_MODEL].key = node;
        f[LLMOPT_ARM_MODEL].value = node;

    } else if (node->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, node, "%s must be a mapping with "
                                   "\"model\"", where);

    } else {
        if (llmopt_catalog_fields(ctx, node, llmopt_catalog_arm_keys, f,
                                  where)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        if (f[LLMOPT_ARM_MODEL].value == NULL) {
            return llmopt_catalog_fail(ctx, node, "missing required key "
                                       "\"model\" in %s", where);
        }
    }

    if (llmopt_catalog_string(ctx, &f[LLMOPT_ARM_MODEL], where, &model)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    for (m = 0; m < ctx->cat->n_models; m++) {
        if (ctx->cat->models[m].name.len == model.len
            && memcmp(ctx->cat->models[m].name.data, model.data, model.len)
               == 0)
        {
            break;
        }
    }

    if (m == ctx->cat->n_models) {
        return llmopt_catalog_fail(ctx, f[LLMOPT_ARM_MODEL].value,
                                   "unknown model \"%s\" in %s (not under "
                                   "\"models\")", model.data, where);
    }

    arm->model = m;

    if (f[LLMOPT_ARM_NAME].value != NULL) {
        if (f[LLMOPT_ARM_NAME].value->type != LLMOPT_CATALOG_SCALAR) {
            return llmopt_catalog_fail(ctx, f[LLMOPT_ARM_NAME].value,
                                       "\"name\" in %s must be a string",
                                       where);
        }

        if (llmopt_catalog_name(ctx, f[LLMOPT_ARM_NAME].value, "arm name",
                                LLMOPT_CATALOG_NAME_MAX)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        arm->name = f[LLMOPT_ARM_NAME].value->scalar;
        *named = 1;
    }

    if (f[LLMOPT_ARM_WEIGHT].value != NULL
        && llmopt_catalog_number(ctx, &f[LLMOPT_ARM_WEIGHT], where, 0, 0,
                                 HUGE_VAL, 1, "a number >= 0", &arm->weight)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_ARM_PARAMS].value != NULL) {
        return llmopt_catalog_params(ctx, arm, &f[LLMOPT_ARM_PARAMS], where);
    }

    return LLMOPT_OK;
}


/*
 * Names the arms that have no name: the first unnamed arm of a model takes
 * the model's key, later unnamed arms of that model "<model>#2", "#3"...
 * Then every name must be unique in the policy.
 */

static int
llmopt_catalog_arm_names(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const unsigned *named, const llmopt_node_t *const *nodes)
{
    int                    n;
    char                   name[LLMOPT_CATALOG_NAME_MAX + 16];
    unsigned               i, j, k;
    llmopt_arm_t          *arm;
    const llmopt_model_t  *model;

    for (i = 0; i < policy->n_arms; i++) {
        arm = &policy->arms[i];

        if (named[i]) {
            continue;
        }

        model = &ctx->cat->models[arm->model];

        k = 1;

        for (j = 0; j < i; j++) {
            if (!named[j] && policy->arms[j].model == arm->model) {
                k++;
            }
        }

        if (k == 1) {
            arm->name = model->name;
            continue;
        }

        n = snprintf(name, sizeof(name), "%s#%u", model->name.data, k);

        if (n > LLMOPT_CATALOG_NAME_MAX) {
            return llmopt_catalog_fail(ctx, nodes[i], "the default name "
                                       "\"%s\" of arm %u of policy \"%s\" "
                                       "is longer than %d bytes; give the "
                                       "arm a \"name\"", name, i + 1,
                                       policy->name.data,
                                       LLMOPT_CATALOG_NAME_MAX);
        }

        if (llmopt_catalog_strdup(ctx, nodes[i], name, (size_t) n,
                                  &arm->name)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    for (i = 1; i < policy->n_arms; i++) {
        for (j = 0; j < i; j++) {
            if (policy->arms[i].name.len == policy->arms[j].name.len
                && memcmp(policy->arms[i].name.data, policy->arms[j].name.data,
                          policy->arms[i].name.len)
                   == 0)
            {
                return llmopt_catalog_fail(ctx, nodes[i], "duplicate arm "
                                           "name \"%s\" in policy \"%s\" "
                                           "(arm %u has it too)",
                                           policy->arms[i].name.data,
                                           policy->name.data, j + 1);
            }
        }
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_params(llmopt_catalog_ctx_t *ctx, llmopt_arm_t *arm,
    const llmopt_catalog_field_t *f, const char *where)
{
    unsigned               i;
    llmopt_kv_t           *kv;
    llmopt_catalog_buf_t   buf;
    const llmopt_node_t   *map, *key, *value;

    map = f->value;

    if (map->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, map, "\"params\" in %s must be a "
                                   "mapping of request fields to values",
                                   where);
    }

    if (map->n > LLMOPT_CATALOG_MAX_PARAMS) {
        return llmopt_catalog_fail(ctx, map, "\"params\" in %s has %u "
                                   "entries, more than %d", where, map->n,
                                   LLMOPT_CATALOG_MAX_PARAMS);
    }

    if (llmopt_catalog_unique(ctx, map, "key", where, 0) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (map->n == 0) {
        return LLMOPT_OK;
    }

    arm->params = llmopt_catalog_alloc(ctx, map,
                                       map->n * sizeof(llmopt_kv_t));
    if (arm->params == NULL) {
        return LLMOPT_ERROR;
    }

    for (i = 0; i < map->n; i++) {
        key = map->items[2 * i];
        value = map->items[2 * i + 1];
        kv = &arm->params[i];

        if (strcmp(key->scalar.data, "model") == 0) {
            return llmopt_catalog_fail(ctx, key, "\"model\" cannot be set in "
                                       "params of %s: an arm's model is "
                                       "its \"model\"", where);
        }

        if (key->scalar.len == 0) {
            return llmopt_catalog_fail(ctx, key, "empty key in params of %s",
                                       where);
        }

        if (llmopt_catalog_name(ctx, key, "params key",
                                LLMOPT_CATALOG_NAME_MAX)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        buf.data = NULL;
        buf.len = 0;

        if (llmopt_catalog_json(ctx, value, &buf, 0) != LLMOPT_OK) {
            return LLMOPT_ERROR;
        }

        buf.data = llmopt_catalog_alloc(ctx, value, buf.len + 1);
        if (buf.data == NULL) {
            return LLMOPT_ERROR;
        }

        buf.len = 0;
        (void) llmopt_catalog_json(ctx, value, &buf, 0);
        buf.data[buf.len] = '\0';

        kv->key = key->scalar;
        kv->json.data = buf.data;
        kv->json.len = buf.len;
    }

    arm->n_params = map->n;

    return LLMOPT_OK;
}
