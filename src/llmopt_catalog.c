/*
 * Copyright (C) llmopt authors
 *
 * The catalog model: validation of the tree the YAML loader builds, the
 * conversions it needs (arm params to raw JSON, ${VAR} in header values),
 * and lookups.  Runs at configuration time only.
 */


#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_hash.h"
#include "llmopt_json.h"


#define LLMOPT_CATALOG_FILE_MAX       (16 * 1024 * 1024)
#define LLMOPT_CATALOG_WAIT_MAX       3600000       /* ms, one hour */
#define LLMOPT_CATALOG_WHERE_LEN      160


typedef llmopt_catalog_node_t  llmopt_node_t;


typedef struct {
    llmopt_catalog_t      *cat;
    const llmopt_alloc_t  *alloc;
    llmopt_err_t          *err;
} llmopt_catalog_ctx_t;


/* A key of a mapping with a fixed set of keys, and its value. */

typedef struct {
    const llmopt_node_t   *key;
    const llmopt_node_t   *value;
} llmopt_catalog_field_t;


/* Output of the two-pass writers: data NULL only counts. */

typedef struct {
    char                  *data;
    size_t                 len;
} llmopt_catalog_buf_t;


static int llmopt_catalog_named_map(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *item);
static int llmopt_catalog_fail(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void *llmopt_catalog_alloc(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, size_t size);
static int llmopt_catalog_strdup(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *data, size_t len,
    llmopt_str_t *out);
static int llmopt_catalog_fields(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *map, const char *const *names,
    llmopt_catalog_field_t *fields, const char *where);
static int llmopt_catalog_unique(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *map, const char *what, const char *where,
    unsigned nocase);
static int llmopt_catalog_is_null(const llmopt_node_t *node);
static int llmopt_catalog_name(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *what, size_t max);
static int llmopt_catalog_upstream(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *where);
static size_t llmopt_catalog_control(const char *s, size_t len);
static int llmopt_catalog_string(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, llmopt_str_t *out);
static int llmopt_catalog_parse_number(const llmopt_str_t *s, double *value,
    unsigned *integral);
static int llmopt_catalog_number(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, double lo,
    unsigned lo_open, double hi, unsigned hi_open, const char *expect,
    double *out);
static int llmopt_catalog_uint(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, uint64_t lo,
    uint64_t hi, const char *expect, uint64_t *out);

static int llmopt_catalog_models(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f);
static int llmopt_catalog_model_entry(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_node_t *key,
    const llmopt_node_t *value);
static int llmopt_catalog_price(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_catalog_field_t *f);
static int llmopt_catalog_headers(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_catalog_field_t *f,
    const char *where);
static int llmopt_catalog_expand(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *header, const char *where,
    llmopt_catalog_buf_t *buf);

static int llmopt_catalog_policies(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f);
static int llmopt_catalog_policy_entry(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_node_t *key,
    const llmopt_node_t *value);
static int llmopt_catalog_bandit(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_catalog_field_t *f, const char *where);
static int llmopt_catalog_arms(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);
static int llmopt_catalog_arm(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_arm_t *arm, unsigned i,
    const llmopt_node_t *node, unsigned *named);
static int llmopt_catalog_arm_names(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const unsigned *named,
    const llmopt_node_t *const *nodes);
static int llmopt_catalog_params(llmopt_catalog_ctx_t *ctx, llmopt_arm_t *arm,
    const llmopt_catalog_field_t *f, const char *where);
static int llmopt_catalog_features(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_node_t *pkey,
    llmopt_catalog_field_t *f, const char *where);
static int llmopt_catalog_submap(llmopt_catalog_ctx_t *ctx,
    const llmopt_policy_t *policy, const llmopt_catalog_field_t *field,
    const char *key, const char *const *names, llmopt_catalog_field_t *f,
    const char *where, char *sub_where);
static int llmopt_catalog_drift(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *drift,
    const char *where);
static int llmopt_catalog_breaker(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *breaker,
    const char *where);
static int llmopt_catalog_budget(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *budget,
    const char *where);
static int llmopt_catalog_canary(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *canary,
    const char *where);
static int llmopt_catalog_reward(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);
static int llmopt_catalog_fallback(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);

static int llmopt_catalog_json(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, llmopt_catalog_buf_t *buf, unsigned depth);
static int llmopt_catalog_json_scalar(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, llmopt_catalog_buf_t *buf);
static void llmopt_catalog_json_string(const char *s, size_t len,
    llmopt_catalog_buf_t *buf);
static unsigned llmopt_catalog_json_number(const char *s, size_t len);
static void llmopt_catalog_put(llmopt_catalog_buf_t *buf, const char *s,
    size_t len);


/* Keys of each kind of mapping; the enums below index them. */

static const char *const  llmopt_catalog_top_keys[] = {
    "models", "policies", NULL
};

enum {
    LLMOPT_TOP_MODELS = 0,
    LLMOPT_TOP_POLICIES,
    LLMOPT_TOP_LAST
};

static const char *const  llmopt_catalog_model_keys[] = {
    "upstream", "model", "api", "price", "context_window", "headers", NULL
};

enum {
    LLMOPT_MODEL_UPSTREAM = 0,
    LLMOPT_MODEL_MODEL,
    LLMOPT_MODEL_API,
    LLMOPT_MODEL_PRICE,
    LLMOPT_MODEL_CONTEXT_WINDOW,
    LLMOPT_MODEL_HEADERS,
    LLMOPT_MODEL_LAST
};

static const char *const  llmopt_catalog_price_keys[] = {
    "input", "output", "cached_input", NULL
};

enum {
    LLMOPT_PRICE_INPUT = 0,
    LLMOPT_PRICE_OUTPUT,
    LLMOPT_PRICE_CACHED_INPUT,
    LLMOPT_PRICE_LAST
};

static const char *const  llmopt_catalog_policy_keys[] = {
    "algorithm", "alpha", "lambda", "epsilon", "prior", "prior_mean",
    "exploration_floor",
    "forgetting", "seed", "arms", "features", "tenant_buckets",
    "word_buckets", "reward", "feedback_wait", "feedback_tenant",
    "fallback", "max_cost",
    "breaker", "drift", "latency_slo", "latency_slo_action",
    "latency_slo_penalty", "budget", "canary", "unscored", "baseline", NULL
};

enum {
    LLMOPT_POLICY_ALGORITHM = 0,
    LLMOPT_POLICY_ALPHA,
    LLMOPT_POLICY_LAMBDA,
    LLMOPT_POLICY_EPSILON,
    LLMOPT_POLICY_PRIOR,
    LLMOPT_POLICY_PRIOR_MEAN,
    LLMOPT_POLICY_EXPLORATION_FLOOR,
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
    LLMOPT_POLICY_LAST
};

/* by LLMOPT_UNSCORED_*; "none" is not a word of the catalog */
static const char *const  llmopt_catalog_unscored[] = {
    "none", "observed", "skip", "proxy", NULL
};

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

static const char *const  llmopt_catalog_prior_keys[] = {
    "alpha", "beta", NULL
};

enum {
    LLMOPT_PRIOR_ALPHA = 0,
    LLMOPT_PRIOR_BETA,
    LLMOPT_PRIOR_LAST
};

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


int
llmopt_catalog_load_file(llmopt_catalog_t *cat, const char *path,
    const llmopt_alloc_t *alloc, llmopt_err_t *err)
{
    FILE    *file;
    long     size;
    char    *text;
    size_t   n;

    memset(cat, 0, sizeof(llmopt_catalog_t));

    err->line = 0;
    err->column = 0;

    file = fopen(path, "rb");
    if (file == NULL) {
        llmopt_err_set(err, 0, 0, "cannot open: %s", strerror(errno));
        return LLMOPT_ERROR;
    }

    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0
        || fseek(file, 0, SEEK_SET) != 0)
    {
        llmopt_err_set(err, 0, 0, "cannot read: %s", strerror(errno));
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    if (size > LLMOPT_CATALOG_FILE_MAX) {
        llmopt_err_set(err, 0, 0, "the file is larger than %d bytes",
                       LLMOPT_CATALOG_FILE_MAX);
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    text = alloc->alloc(alloc->ctx, (size_t) size + 1);
    if (text == NULL) {
        llmopt_err_set(err, 0, 0, "out of memory");
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    n = fread(text, 1, (size_t) size, file);

    if (n != (size_t) size || ferror(file)) {
        llmopt_err_set(err, 0, 0, "cannot read: %s",
                       ferror(file) ? strerror(errno) : "short read");
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    (void) fclose(file);

    text[n] = '\0';

    return llmopt_catalog_load_string(cat, path, text, n, alloc, err);
}


int
llmopt_catalog_build(llmopt_catalog_t *cat, const char *name,
    const char *text, size_t len, const llmopt_catalog_node_t *root,
    const llmopt_alloc_t *alloc, llmopt_err_t *err)
{
    llmopt_catalog_ctx_t    ctx;
    llmopt_catalog_field_t  f[LLMOPT_TOP_LAST];

    memset(cat, 0, sizeof(llmopt_catalog_t));

    ctx.cat = cat;
    ctx.alloc = alloc;
    ctx.err = err;

    if (root->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(&ctx, root, "the catalog must be a "
                                   "mapping with \"models\" and "
                                   "\"policies\"");
    }

    if (llmopt_catalog_fields(&ctx, root, llmopt_catalog_top_keys, f,
                              "the catalog")
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_TOP_MODELS].value == NULL) {
        return llmopt_catalog_fail(&ctx, root, "missing required key "
                                   "\"models\" in the catalog");
    }

    if (llmopt_catalog_models(&ctx, &f[LLMOPT_TOP_MODELS]) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_TOP_POLICIES].value == NULL) {
        return llmopt_catalog_fail(&ctx, root, "missing required key "
                                   "\"policies\" in the catalog");
    }

    if (llmopt_catalog_policies(&ctx, &f[LLMOPT_TOP_POLICIES]) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (llmopt_catalog_strdup(&ctx, root, name, strlen(name), &cat->file)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    cat->version = llmopt_hash64(text, len, 0);

    return LLMOPT_OK;
}


const llmopt_policy_t *
llmopt_catalog_policy(const llmopt_catalog_t *cat, const char *name,
    size_t len)
{
    unsigned  i;

    for (i = 0; i < cat->n_policies; i++) {
        if (cat->policies[i].name.len == len
            && memcmp(cat->policies[i].name.data, name, len) == 0)
        {
            return &cat->policies[i];
        }
    }

    return NULL;
}


const llmopt_model_t *
llmopt_catalog_model(const llmopt_catalog_t *cat, const char *name,
    size_t len)
{
    unsigned  i;

    for (i = 0; i < cat->n_models; i++) {
        if (cat->models[i].name.len == len
            && memcmp(cat->models[i].name.data, name, len) == 0)
        {
            return &cat->models[i];
        }
    }

    return NULL;
}


int
llmopt_policy_arm(const llmopt_policy_t *policy, const char *name,
    size_t len)
{
    unsigned  i;

    for (i = 0; i < policy->n_arms; i++) {
        if (policy->arms[i].name.len == len
            && memcmp(policy->arms[i].name.data, name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


double
llmopt_model_cost(const llmopt_model_t *model, uint64_t input_tokens,
    uint64_t cached_tokens, uint64_t output_tokens)
{
    if (cached_tokens > input_tokens) {
        cached_tokens = input_tokens;
    }

    return ((double) (input_tokens - cached_tokens) * model->price_input
            + (double) cached_tokens * model->price_cached_input
            + (double) output_tokens * model->price_output)
           / 1e6;
}


/*
 * The top-level "models" and "policies": a non-empty mapping of unique
 * names; "item" is "model" or "policy".
 */

static int
llmopt_catalog_named_map(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *item)
{
    const char           *items;
    const llmopt_node_t  *map;

    map = f->value;
    items = (item[0] == 'm') ? "models" : "policies";

    if (llmopt_catalog_is_null(map)
        || (map->type == LLMOPT_CATALOG_MAP && map->n == 0))
    {
        return llmopt_catalog_fail(ctx, f->key, "\"%s\" is empty: the "
                                   "catalog needs at least one %s", items,
                                   item);
    }

    if (map->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, map, "\"%s\" must be a mapping "
                                   "of %s names to %s", items, item, items);
    }

    return llmopt_catalog_unique(ctx, map, item, NULL, 0);
}


static int
llmopt_catalog_models(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f)
{
    unsigned              i;
    const llmopt_node_t  *map;

    map = f->value;

    if (llmopt_catalog_named_map(ctx, f, "model") != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    ctx->cat->models = llmopt_catalog_alloc(ctx, map,
                                            map->n * sizeof(llmopt_model_t));
    if (ctx->cat->models == NULL) {
        return LLMOPT_ERROR;
    }

    for (i = 0; i < map->n; i++) {
        if (llmopt_catalog_model_entry(ctx, &ctx->cat->models[i],
                                       map->items[2 * i],
                                       map->items[2 * i + 1])
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        ctx->cat->n_models++;
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_model_entry(llmopt_catalog_ctx_t *ctx, llmopt_model_t *model,
    const llmopt_node_t *key, const llmopt_node_t *value)
{
    uint64_t                context_window;
    llmopt_str_t            api;
    llmopt_catalog_buf_t    buf;
    llmopt_catalog_field_t  f[LLMOPT_MODEL_LAST];
    char                    where[LLMOPT_CATALOG_WHERE_LEN];

    if (llmopt_catalog_name(ctx, key, "model name", LLMOPT_CATALOG_NAME_MAX)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    model->name = key->scalar;
    model->line = key->line;
    model->column = key->column;

    (void) snprintf(where, sizeof(where), "model \"%s\"", key->scalar.data);

    if (value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, value, "%s must be a mapping", where);
    }

    if (llmopt_catalog_fields(ctx, value, llmopt_catalog_model_keys, f,
                              where)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_MODEL_UPSTREAM].value == NULL) {
        return llmopt_catalog_fail(ctx, key, "missing required key "
                                   "\"upstream\" in %s", where);
    }

    if (llmopt_catalog_string(ctx, &f[LLMOPT_MODEL_UPSTREAM], where,
                              &model->upstream)
        != LLMOPT_OK
        || llmopt_catalog_upstream(ctx, f[LLMOPT_MODEL_UPSTREAM].value,
                                   where)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    model->model = model->name;

    /* the id is $llmopt_model, in headers and logs: a name, only longer */

    if (f[LLMOPT_MODEL_MODEL].value != NULL
        && (llmopt_catalog_string(ctx, &f[LLMOPT_MODEL_MODEL], where,
                                  &model->model)
            != LLMOPT_OK
            || llmopt_catalog_name(ctx, f[LLMOPT_MODEL_MODEL].value,
                                   "model id", LLMOPT_CATALOG_ID_MAX)
               != LLMOPT_OK))
    {
        return LLMOPT_ERROR;
    }

    /* the provider id as a JSON string, ready for the body rewrite */

    buf.data = NULL;
    buf.len = 0;
    llmopt_catalog_json_string(model->model.data, model->model.len, &buf);

    buf.data = llmopt_catalog_alloc(ctx, key, buf.len + 1);
    if (buf.data == NULL) {
        return LLMOPT_ERROR;
    }

    buf.len = 0;
    llmopt_catalog_json_string(model->model.data, model->model.len, &buf);
    buf.data[buf.len] = '\0';

    model->model_json.data = buf.data;
    model->model_json.len = buf.len;

    model->api = LLMOPT_DIALECT_OPENAI;

    if (f[LLMOPT_MODEL_API].value != NULL) {
        if (llmopt_catalog_string(ctx, &f[LLMOPT_MODEL_API], where, &api)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        if (strcmp(api.data, "openai") == 0) {
            model->api = LLMOPT_DIALECT_OPENAI;

        } else if (strcmp(api.data, "anthropic") == 0) {
            model->api = LLMOPT_DIALECT_ANTHROPIC;

        } else {
            return llmopt_catalog_fail(ctx, f[LLMOPT_MODEL_API].value,
                                       "unknown api \"%s\" in %s (expected "
                                       "openai or anthropic)", api.data,
                                       where);
        }
    }

    if (f[LLMOPT_MODEL_PRICE].value == NULL) {
        return llmopt_catalog_fail(ctx, key, "missing required key \"price\" "
                                   "in %s", where);
    }

    if (llmopt_catalog_price(ctx, model, &f[LLMOPT_MODEL_PRICE])
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_MODEL_CONTEXT_WINDOW].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_MODEL_CONTEXT_WINDOW], where,
                                1, UINT64_MAX, "an integer > 0",
                                &context_window)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        model->context_window = context_window;
    }

    if (f[LLMOPT_MODEL_HEADERS].value != NULL) {
        return llmopt_catalog_headers(ctx, model, &f[LLMOPT_MODEL_HEADERS],
                                      where);
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_price(llmopt_catalog_ctx_t *ctx, llmopt_model_t *model,
    const llmopt_catalog_field_t *price)
{
    llmopt_catalog_field_t  f[LLMOPT_PRICE_LAST];
    char                    where[LLMOPT_CATALOG_WHERE_LEN];

    (void) snprintf(where, sizeof(where), "price of model \"%s\"",
                    model->name.data);

    if (price->value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, price->value, "\"price\" in model "
                                   "\"%s\" must be a mapping with input and "
                                   "output (USD per 1M tokens)",
                                   model->name.data);
    }

    if (llmopt_catalog_fields(ctx, price->value, llmopt_catalog_price_keys,
                              f, where)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_PRICE_INPUT].value == NULL) {
        return llmopt_catalog_fail(ctx, price->key, "missing required key "
                                   "\"input\" in %s", where);
    }

    if (f[LLMOPT_PRICE_OUTPUT].value == NULL) {
        return llmopt_catalog_fail(ctx, price->key, "missing required key "
                                   "\"output\" in %s", where);
    }

    if (llmopt_catalog_number(ctx, &f[LLMOPT_PRICE_INPUT], where, 0, 0,
                              HUGE_VAL, 1, "a number >= 0",
                              &model->price_input)
        != LLMOPT_OK
        || llmopt_catalog_number(ctx, &f[LLMOPT_PRICE_OUTPUT], where, 0, 0,
                                 HUGE_VAL, 1, "a number >= 0",
                                 &model->price_output)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    model->price_cached_input = model->price_input;

    if (f[LLMOPT_PRICE_CACHED_INPUT].value != NULL) {
        return llmopt_catalog_number(ctx, &f[LLMOPT_PRICE_CACHED_INPUT],
                                     where, 0, 0, HUGE_VAL, 1,
                                     "a number >= 0",
                                     &model->price_cached_input);
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_headers(llmopt_catalog_ctx_t *ctx, llmopt_model_t *model,
    const llmopt_catalog_field_t *f, const char *where)
{
    size_t                 k;
    unsigned               i;
    const unsigned char          *p;
    llmopt_header_t       *h;
    llmopt_catalog_buf_t   buf;
    const llmopt_node_t   *map, *name, *value;

    map = f->value;

    if (map->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, map, "\"headers\" in %s must be a "
                                   "mapping of header names to values",
                                   where);
    }

    if (llmopt_catalog_unique(ctx, map, "header", where, 1) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (map->n == 0) {
        return LLMOPT_OK;
    }

    model->headers = llmopt_catalog_alloc(ctx, map,
                                          map->n * sizeof(llmopt_header_t));
    if (model->headers == NULL) {
        return LLMOPT_ERROR;
    }

    for (i = 0; i < map->n; i++) {
        name = map->items[2 * i];
        value = map->items[2 * i + 1];
        h = &model->headers[i];

        /* a token of RFC 9110 */

        p = (const unsigned char *) name->scalar.data;

        for (k = 0; k < name->scalar.len; k++) {
            if (p[k] <= 0x20 || p[k] >= 0x7f
                || strchr("\"(),/:;<=>?@[\\]{}", p[k]) != NULL)
            {
                break;
            }
        }

        if (name->scalar.len == 0 || k < name->scalar.len) {
            return llmopt_catalog_fail(ctx, name, "invalid header name "
                                       "\"%.*s\"%s in %s (a token: letters, "
                                       "digits and !#$%%&'*+-.^_`|~)",
                                       (int) (k < 64 ? k : 64),
                                       name->scalar.data,
                                       k < name->scalar.len || k > 64
                                       ? "..." : "", where);
        }

        if (value->type != LLMOPT_CATALOG_SCALAR) {
            return llmopt_catalog_fail(ctx, value, "header \"%s\" in %s must "
                                       "be a string", name->scalar.data,
                                       where);
        }

        /* the value may be a secret: never quote it in a message */

        if (llmopt_catalog_control(value->scalar.data, value->scalar.len)
            < value->scalar.len)
        {
            return llmopt_catalog_fail(ctx, value, "the value of header "
                                       "\"%s\" in %s contains a control "
                                       "character (a line break, NUL...; "
                                       "only tab is allowed)",
                                       name->scalar.data, where);
        }

        buf.data = NULL;
        buf.len = 0;

        if (llmopt_catalog_expand(ctx, value, name->scalar.data, where, &buf)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        buf.data = llmopt_catalog_alloc(ctx, value, buf.len + 1);
        if (buf.data == NULL) {
            return LLMOPT_ERROR;
        }

        buf.len = 0;
        (void) llmopt_catalog_expand(ctx, value, name->scalar.data, where,
                                     &buf);
        buf.data[buf.len] = '\0';

        h->name = name->scalar;
        h->value.data = buf.data;
        h->value.len = buf.len;
    }

    model->n_headers = map->n;

    return LLMOPT_OK;
}


/*
 * Writes a header value with ${NAME} replaced by the environment variable
 * NAME and "$$" by "$"; any other "$" stays.  Unset variables, and
 * variables holding a control character other than tab, are errors (the
 * value of header "header" in where).
 */

static int
llmopt_catalog_expand(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    const char *header, const char *where, llmopt_catalog_buf_t *buf)
{
    char          name[128];
    size_t        i, j, n;
    const char   *s, *env;

    s = node->scalar.data;
    n = node->scalar.len;

    for (i = 0; i < n; i++) {

        if (s[i] != '$' || i + 1 == n || (s[i + 1] != '{' && s[i + 1] != '$'))
        {
            llmopt_catalog_put(buf, &s[i], 1);
            continue;
        }

        if (s[i + 1] == '$') {
            llmopt_catalog_put(buf, "$", 1);
            i++;
            continue;
        }

        for (j = i + 2; j < n && s[j] != '}'; j++) {
            if (!((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z')
                  || s[j] == '_' || (j > i + 2 && s[j] >= '0' && s[j] <= '9')))
            {
                break;
            }
        }

        if (j == n || s[j] != '}' || j == i + 2 || j - i - 2 >= sizeof(name))
        {
            return llmopt_catalog_fail(ctx, node, "bad ${VAR} reference in "
                                       "a header value (a variable name is "
                                       "letters, digits and _; write $$ for "
                                       "a literal $)");
        }

        memcpy(name, &s[i + 2], j - i - 2);
        name[j - i - 2] = '\0';

        env = getenv(name);

        if (env == NULL) {
            return llmopt_catalog_fail(ctx, node, "environment variable "
                                       "\"%s\" is not set", name);
        }

        if (llmopt_catalog_control(env, strlen(env)) < strlen(env)) {
            return llmopt_catalog_fail(ctx, node, "environment variable "
                                       "\"%s\" in the value of header "
                                       "\"%s\" in %s contains a control "
                                       "character (a line break...; only "
                                       "tab is allowed)", name, header,
                                       where);
        }

        llmopt_catalog_put(buf, env, strlen(env));

        i = j;
    }

    return LLMOPT_OK;
}


static int
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
    unsigned                k;
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
        || llmopt_catalog_reward(ctx, policy, &f[LLMOPT_POLICY_REWARD], where)
           != LLMOPT_OK
        || llmopt_catalog_fallback(ctx, policy, &f[LLMOPT_POLICY_FALLBACK],
                                   where)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

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
             llmopt_catalog_unscored[k] != NULL
             && strcmp(action, llmopt_catalog_unscored[k]) != 0;
             k++)
        { /* void */ }

        if (llmopt_catalog_unscored[k] == NULL) {
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
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    return llmopt_catalog_drift(ctx, policy, &f[LLMOPT_POLICY_DRIFT], where);
}


/*
 * The mapping a policy has under key (drift, budget, canary, breaker),
 * its keys names[] read into f; sub_where (LLMOPT_CATALOG_WHERE_LEN
 * bytes) names it for messages.  LLMOPT_DECLINED when there is none.
 */

static int
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

static int
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

static int
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

static int
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

static int
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

    alg = llmopt_algorithm_lookup(name.data, name.len);

    if (alg < 0) {
        return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_ALGORITHM].value,
                                   "unknown algorithm \"%s\" in %s "
                                   "(expected linucb, lin_ts, thompson, "
                                   "ucb1, epsilon_greedy or static)",
                                   name.data, where);
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

    if (f[LLMOPT_POLICY_PRIOR_MEAN].value != NULL
        && conf->algorithm != LLMOPT_ALG_LINUCB
        && conf->algorithm != LLMOPT_ALG_LIN_TS)
    {
        return llmopt_catalog_fail(ctx, f[LLMOPT_POLICY_PRIOR_MEAN].value,
                                   "\"prior_mean\" in %s applies to linucb "
                                   "and lin_ts only", where);
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
llmopt_catalog_arms(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *f, const char *where)
{
    unsigned              i, named[LLMOPT_MAX_ARMS];
    const llmopt_node_t  *seq;
    llmopt_dialect_e      api;
    const llmopt_model_t *model;

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

    /* the body is rewritten, not translated: one api per policy */

    api = ctx->cat->models[policy->arms[0].model].api;
    policy->dialect = api;

    for (i = 1; i < policy->n_arms; i++) {
        model = &ctx->cat->models[policy->arms[i].model];

        if (model->api != api) {
            return llmopt_catalog_fail(ctx, seq->items[i], "arm \"%s\" of %s "
                                       "uses api %s, arm \"%s\" uses %s: the "
                                       "arms of a policy must share one api",
                                       policy->arms[i].name.data, where,
                                       model->api == LLMOPT_DIALECT_OPENAI
                                       ? "openai" : "anthropic",
                                       policy->arms[0].name.data,
                                       api == LLMOPT_DIALECT_OPENAI
                                       ? "openai" : "anthropic");
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


/* Raw JSON of a YAML value, for arm params. */

static int
llmopt_catalog_json(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    llmopt_catalog_buf_t *buf, unsigned depth)
{
    unsigned  i;

    switch (node->type) {

    case LLMOPT_CATALOG_SCALAR:
        return llmopt_catalog_json_scalar(ctx, node, buf);

    case LLMOPT_CATALOG_MAP:
        if (buf->data == NULL
            && llmopt_catalog_unique(ctx, node, "key", "params", 0)
               != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        llmopt_catalog_put(buf, "{", 1);

        for (i = 0; i < node->n; i++) {
            if (i) {
                llmopt_catalog_put(buf, ",", 1);
            }

            llmopt_catalog_json_string(node->items[2 * i]->scalar.data,
                                       node->items[2 * i]->scalar.len, buf);
            llmopt_catalog_put(buf, ":", 1);

            if (llmopt_catalog_json(ctx, node->items[2 * i + 1], buf,
                                    depth + 1)
                != LLMOPT_OK)
            {
                return LLMOPT_ERROR;
            }
        }

        llmopt_catalog_put(buf, "}", 1);
        return LLMOPT_OK;

    default: /* LLMOPT_CATALOG_SEQ */
        llmopt_catalog_put(buf, "[", 1);

        for (i = 0; i < node->n; i++) {
            if (i) {
                llmopt_catalog_put(buf, ",", 1);
            }

            if (llmopt_catalog_json(ctx, node->items[i], buf, depth + 1)
                != LLMOPT_OK)
            {
                return LLMOPT_ERROR;
            }
        }

        llmopt_catalog_put(buf, "]", 1);
        return LLMOPT_OK;
    }
}


/*
 * A plain scalar is null, a boolean or a number when YAML 1.2's core schema
 * says so, else a string; a quoted or block scalar is always a string.
 */

static int
llmopt_catalog_json_scalar(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, llmopt_catalog_buf_t *buf)
{
    int           n;
    char          num[32];
    double        value;
    unsigned      integral;
    const char   *s;

    s = node->scalar.data;

    if (!node->plain) {
        llmopt_catalog_json_string(s, node->scalar.len, buf);
        return LLMOPT_OK;
    }

    if (llmopt_catalog_is_null(node)) {
        llmopt_catalog_put(buf, "null", 4);
        return LLMOPT_OK;
    }

    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0
        || strcmp(s, "TRUE") == 0)
    {
        llmopt_catalog_put(buf, "true", 4);
        return LLMOPT_OK;
    }

    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0
        || strcmp(s, "FALSE") == 0)
    {
        llmopt_catalog_put(buf, "false", 5);
        return LLMOPT_OK;
    }

    if (!llmopt_catalog_parse_number(&node->scalar, &value, &integral)) {
        llmopt_catalog_json_string(s, node->scalar.len, buf);
        return LLMOPT_OK;
    }

    if (llmopt_catalog_json_number(s, node->scalar.len)) {
        llmopt_catalog_put(buf, s, node->scalar.len);
        return LLMOPT_OK;
    }

    if (!isfinite(value)) {
        return llmopt_catalog_fail(ctx, node, "%s cannot be a JSON value; "
                                   "quote it for a string", s);
    }

    /* "+1", ".5", "0x1f" and the like: the shortest exact decimal */

    if (integral && fabs(value) < 9007199254740992.0) {
        n = snprintf(num, sizeof(num), "%.0f", value);

    } else {
        n = snprintf(num, sizeof(num), "%.15g", value);

        if (strtod(num, NULL) != value) {
            n = snprintf(num, sizeof(num), "%.17g", value);
        }
    }

    llmopt_catalog_put(buf, num, (size_t) n);

    return LLMOPT_OK;
}


static void
llmopt_catalog_json_string(const char *s, size_t len,
    llmopt_catalog_buf_t *buf)
{
    buf->len += llmopt_json_quote(buf->data != NULL
                                  ? (unsigned char *) buf->data + buf->len
                                  : NULL, s, len);
}


/* 1 if s is a number exactly as JSON writes numbers. */

static unsigned
llmopt_catalog_json_number(const char *s, size_t len)
{
    size_t  i, start;

    i = 0;

    if (i < len && s[i] == '-') {
        i++;
    }

    if (i < len && s[i] == '0') {
        i++;

    } else {
        start = i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    if (i < len && s[i] == '.') {
        start = ++i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;

        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }

        start = i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    return i == len;
}


/*
 * Numbers of YAML 1.2's core schema: [-+]digits, 0o octal, 0x hex,
 * [-+](.digits | digits[.digits])[e[-+]digits], [-+].inf, .nan.
 */

static int
llmopt_catalog_parse_number(const llmopt_str_t *str, double *value,
    unsigned *integral)
{
    size_t       i, len, digits;
    const char  *s, *p;

    s = str->data;
    len = str->len;

    if (len == 0) {
        return 0;
    }

    if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0
        || strcmp(s, ".NAN") == 0)
    {
        *value = NAN;
        *integral = 0;
        return 1;
    }

    p = (s[0] == '+' || s[0] == '-') ? s + 1 : s;

    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0
        || strcmp(p, ".INF") == 0)
    {
        *value = (s[0] == '-') ? -HUGE_VAL : HUGE_VAL;
        *integral = 0;
        return 1;
    }

    if (p == s && len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        for (i = 2; i < len; i++) {
            if (s[1] == 'x' ? !((s[i] >= '0' && s[i] <= '9')
                                || (s[i] >= 'a' && s[i] <= 'f')
                                || (s[i] >= 'A' && s[i] <= 'F'))
                            : !(s[i] >= '0' && s[i] <= '7'))
            {
                return 0;
            }
        }

        *value = (double) strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
        *integral = 1;
        return 1;
    }

    i = p - s;
    digits = 0;
    *integral = 1;

    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }

    if (i < len && s[i] == '.') {
        *integral = 0;
        i++;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }

    if (digits == 0) {
        return 0;
    }

    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        *integral = 0;
        i++;

        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }

        digits = 0;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }

        if (digits == 0) {
            return 0;
        }
    }

    if (i != len) {
        return 0;
    }

    *value = strtod(s, NULL);

    return 1;
}


static int
llmopt_catalog_number(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, double lo,
    unsigned lo_open, double hi, unsigned hi_open, const char *expect,
    double *out)
{
    double    value;
    unsigned  integral;

    if (f->value->type != LLMOPT_CATALOG_SCALAR || !f->value->plain
        || !llmopt_catalog_parse_number(&f->value->scalar, &value, &integral)
        || !isfinite(value)
        || (lo_open ? !(value > lo) : !(value >= lo))
        || (hi_open ? !(value < hi) : !(value <= hi)))
    {
        return llmopt_catalog_fail(ctx, f->value, "\"%s\" in %s must be %s",
                                   f->key->scalar.data, where, expect);
    }

    *out = value;

    return LLMOPT_OK;
}


static int
llmopt_catalog_uint(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, uint64_t lo,
    uint64_t hi, const char *expect, uint64_t *out)
{
    size_t                i;
    uint64_t              value;
    const llmopt_node_t  *node;

    node = f->value;

    if (node->type != LLMOPT_CATALOG_SCALAR || !node->plain
        || node->scalar.len == 0 || node->scalar.len > 20)
    {
        goto invalid;
    }

    for (i = (node->scalar.data[0] == '+'); i < node->scalar.len; i++) {
        if (node->scalar.data[i] < '0' || node->scalar.data[i] > '9') {
            goto invalid;
        }
    }

    if (i == (size_t) (node->scalar.data[0] == '+')) {
        goto invalid;
    }

    errno = 0;
    value = strtoull(node->scalar.data, NULL, 10);

    if (errno == ERANGE || value < lo || value > hi) {
        goto invalid;
    }

    *out = value;

    return LLMOPT_OK;

invalid:

    return llmopt_catalog_fail(ctx, node, "\"%s\" in %s must be %s",
                               f->key->scalar.data, where, expect);
}


/*
 * Checks a mapping against the keys it may have and collects the values:
 * keys outside names and repeated keys are errors.
 */

static int
llmopt_catalog_fields(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *map,
    const char *const *names, llmopt_catalog_field_t *fields,
    const char *where)
{
    unsigned              i, k;
    const llmopt_node_t  *key;

    for (k = 0; names[k] != NULL; k++) {
        fields[k].key = NULL;
        fields[k].value = NULL;
    }

    for (i = 0; i < map->n; i++) {
        key = map->items[2 * i];

        for (k = 0; names[k] != NULL; k++) {
            if (strcmp(key->scalar.data, names[k]) == 0
                && strlen(names[k]) == key->scalar.len)
            {
                break;
            }
        }

        if (names[k] == NULL) {
            return llmopt_catalog_fail(ctx, key, "unknown key \"%s\" in %s",
                                       key->scalar.data, where);
        }

        if (fields[k].key != NULL) {
            return llmopt_catalog_fail(ctx, key, "duplicate key \"%s\" in %s "
                                       "(first at line %u)", names[k], where,
                                       fields[k].key->line);
        }

        fields[k].key = key;
        fields[k].value = map->items[2 * i + 1];
    }

    return LLMOPT_OK;
}


/* Refuses a key that repeats in a mapping, case-blind if nocase. */

static int
llmopt_catalog_unique(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *map,
    const char *what, const char *where, unsigned nocase)
{
    unsigned              i, j;
    const llmopt_node_t  *a, *b;

    for (i = 1; i < map->n; i++) {
        a = map->items[2 * i];

        for (j = 0; j < i; j++) {
            b = map->items[2 * j];

            if (a->scalar.len == b->scalar.len
                && (nocase ? strncasecmp(a->scalar.data, b->scalar.data,
                                         a->scalar.len)
                           : memcmp(a->scalar.data, b->scalar.data,
                                    a->scalar.len))
                   == 0)
            {
                return llmopt_catalog_fail(ctx, a, "duplicate %s \"%s\"%s%s "
                                           "(first at line %u)", what,
                                           a->scalar.data,
                                           where != NULL ? " in " : "",
                                           where != NULL ? where : "",
                                           b->line);
            }
        }
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_is_null(const llmopt_node_t *node)
{
    const char  *s;

    if (node->type != LLMOPT_CATALOG_SCALAR || !node->plain) {
        return 0;
    }

    s = node->scalar.data;

    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0
           || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}


/*
 * Model, policy and arm names, model ids and params keys end up in
 * variables, headers, logs, JSON and the zone: 1 to max bytes of
 * printable ASCII without spaces, quotes or backslashes.  what names the
 * string in the message ("model name"); only the part before the first
 * bad byte is quoted.
 */

static int
llmopt_catalog_name(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    const char *what, size_t max)
{
    size_t                 i;
    const unsigned char   *p;

    p = (const unsigned char *) node->scalar.data;

    for (i = 0; i < node->scalar.len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '"' || p[i] == '\\') {
            break;
        }
    }

    if (node->scalar.len == 0 || node->scalar.len > max
        || i < node->scalar.len)
    {
        return llmopt_catalog_fail(ctx, node, "invalid %s \"%.*s\"%s: use "
                                   "1 to %d printable ASCII characters "
                                   "without spaces, quotes or backslashes",
                                   what, (int) (i < 64 ? i : 64),
                                   node->scalar.data,
                                   i < node->scalar.len || i > 64
                                   ? "..." : "", (int) max);
    }

    return LLMOPT_OK;
}


/*
 * An upstream name is the host of "proxy_pass http://$llmopt_upstream":
 * letters, digits and "-._:" only, so it cannot add a path, a user or
 * a second host to that URL.
 */

static int
llmopt_catalog_upstream(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    const char *where)
{
    size_t        i;
    const char   *p;

    p = node->scalar.data;

    for (i = 0; i < node->scalar.len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || strchr("-._:", p[i]) != NULL)
            || p[i] == '\0')
        {
            break;
        }
    }

    if (i < node->scalar.len || i > LLMOPT_CATALOG_ID_MAX) {
        return llmopt_catalog_fail(ctx, node, "invalid upstream name "
                                   "\"%.*s\"%s in %s: use 1 to %d letters, "
                                   "digits, \"-\", \".\", \"_\" or \":\" "
                                   "(the name of an upstream{} block)",
                                   (int) (i < 64 ? i : 64), p,
                                   i < node->scalar.len || i > 64
                                   ? "..." : "", where,
                                   LLMOPT_CATALOG_ID_MAX);
    }

    return LLMOPT_OK;
}


/*
 * The offset of the first control byte of s[0 .. len - 1] that may not
 * stand in a header value (0x00-0x1f but tab, and 0x7f), or len.
 */

static size_t
llmopt_catalog_control(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
            break;
        }
    }

    return i;
}


/* A non-empty scalar, taken as text. */

static int
llmopt_catalog_string(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, llmopt_str_t *out)
{
    if (f->value->type != LLMOPT_CATALOG_SCALAR
        || f->value->scalar.len == 0 || llmopt_catalog_is_null(f->value))
    {
        return llmopt_catalog_fail(ctx, f->value, "\"%s\" in %s must be a "
                                   "non-empty string", f->key->scalar.data,
                                   where);
    }

    *out = f->value->scalar;

    return LLMOPT_OK;
}


static void
llmopt_catalog_put(llmopt_catalog_buf_t *buf, const char *s, size_t len)
{
    if (buf->data != NULL) {
        memcpy(buf->data + buf->len, s, len);
    }

    buf->len += len;
}


static void *
llmopt_catalog_alloc(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    size_t size)
{
    void  *p;

    p = ctx->alloc->alloc(ctx->alloc->ctx, size);

    if (p == NULL) {
        (void) llmopt_catalog_fail(ctx, node, "out of memory");
        return NULL;
    }

    memset(p, 0, size);

    return p;
}


static int
llmopt_catalog_strdup(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    const char *data, size_t len, llmopt_str_t *out)
{
    char  *p;

    p = llmopt_catalog_alloc(ctx, node, len + 1);
    if (p == NULL) {
        return LLMOPT_ERROR;
    }

    memcpy(p, data, len);
    p[len] = '\0';

    out->data = p;
    out->len = len;

    return LLMOPT_OK;
}


static int
llmopt_catalog_fail(llmopt_catalog_ctx_t *ctx, const llmopt_node_t *node,
    const char *fmt, ...)
{
    char     *p;
    va_list   args;

    ctx->err->status = 0;
    ctx->err->offset = 0;
    ctx->err->line = node != NULL ? node->line : 0;
    ctx->err->column = node != NULL ? node->column : 0;

    va_start(args, fmt);
    (void) vsnprintf(ctx->err->msg, sizeof(ctx->err->msg), fmt, args);
    va_end(args);

    /* a message may quote the catalog: never a line break into the log */

    for (p = ctx->err->msg; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }

    return LLMOPT_ERROR;
}


const char *
llmopt_unscored_name(unsigned unscored)
{
    return unscored <= LLMOPT_UNSCORED_PROXY
           ? llmopt_catalog_unscored[unscored] : NULL;
}
