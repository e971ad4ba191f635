/*
 * Copyright (C) llmopt authors
 *
 * The "models" section of the catalog: each model's upstream, id, API
 * (and what translating to it needs), price, context window and headers
 * (with ${VAR} expanded).
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_models.h"
#include "llmopt_catalog_values.h"
#include "llmopt_json.h"


/* Keys of each kind of mapping; the enums below index them. */

static const char *const  llmopt_catalog_model_keys[] = {
    "upstream", "model", "api", "price", "context_window", "headers",
    "max_tokens", "drop_unsupported", NULL
};

enum {
    LLMOPT_MODEL_UPSTREAM = 0,
    LLMOPT_MODEL_MODEL,
    LLMOPT_MODEL_API,
    LLMOPT_MODEL_PRICE,
    LLMOPT_MODEL_CONTEXT_WINDOW,
    LLMOPT_MODEL_HEADERS,
    LLMOPT_MODEL_MAX_TOKENS,
    LLMOPT_MODEL_DROP_UNSUPPORTED,
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


static int llmopt_catalog_model_entry(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_node_t *key,
    const llmopt_node_t *value);
static int llmopt_catalog_api(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_catalog_field_t *f,
    const char *where);
static int llmopt_catalog_says(const char *upstream, const char *word);
static int llmopt_catalog_price(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_catalog_field_t *f);
static int llmopt_catalog_headers(llmopt_catalog_ctx_t *ctx,
    llmopt_model_t *model, const llmopt_catalog_field_t *f,
    const char *where);


int
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
    char                   *json;
    size_t                  n;
    uint64_t                context_window;
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

    n = llmopt_json_quote(NULL, model->model.data, model->model.len);

    json = llmopt_catalog_alloc(ctx, key, n + 1);
    if (json == NULL) {
        return LLMOPT_ERROR;
    }

    (void) llmopt_json_quote((unsigned char *) json, model->model.data,
                             model->model.len);
    json[n] = '\0';

    model->model_json.data = json;
    model->model_json.len = n;

    if (llmopt_catalog_api(ctx, model, f, where) != LLMOPT_OK) {
        return LLMOPT_ERROR;
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


/*
 * "api" (openai, anthropic or responses); without one, anthropic when the
 * upstream's name says so, else the client's.  "max_tokens" and "drop_unsupported",
 * for requests translated to it.
 */

static int
llmopt_catalog_api(llmopt_catalog_ctx_t *ctx, llmopt_model_t *model,
    const llmopt_catalog_field_t *f, const char *where)
{
    unsigned      drop;
    uint64_t      max_tokens;
    llmopt_str_t  api;

    model->api = LLMOPT_DIALECT_OPENAI;
    model->api_client = 0;

    if (f[LLMOPT_MODEL_API].value == NULL) {
        if (llmopt_catalog_says(model->upstream.data, "anthropic")) {
            model->api = LLMOPT_DIALECT_ANTHROPIC;

        } else {
            model->api_client = 1;
        }

    } else {
        if (llmopt_catalog_string(ctx, &f[LLMOPT_MODEL_API], where, &api)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        if (strcmp(api.data, "openai") == 0) {
            model->api = LLMOPT_DIALECT_OPENAI;

        } else if (strcmp(api.data, "anthropic") == 0) {
            model->api = LLMOPT_DIALECT_ANTHROPIC;

        } else if (strcmp(api.data, "responses") == 0) {
            model->api = LLMOPT_DIALECT_RESPONSES;

        } else {
            return llmopt_catalog_fail(ctx, f[LLMOPT_MODEL_API].value,
                                       "unknown api \"%s\" in %s (expected "
                                       "openai, anthropic or responses)",
                                       api.data, where);
        }
    }

    model->max_tokens = LLMOPT_CATALOG_MAX_TOKENS;

    if (f[LLMOPT_MODEL_MAX_TOKENS].value != NULL) {
        if (llmopt_catalog_uint(ctx, &f[LLMOPT_MODEL_MAX_TOKENS], where, 1,
                                INT32_MAX, "an integer > 0", &max_tokens)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        model->max_tokens = (int64_t) max_tokens;
    }

    drop = 0;

    if (llmopt_catalog_bool(ctx, &f[LLMOPT_MODEL_DROP_UNSUPPORTED], where,
                            &drop)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    model->drop_unsupported = drop;

    return LLMOPT_OK;
}


/* whether the upstream's name holds word, case-blind ("up_Anthropic") */

static int
llmopt_catalog_says(const char *upstream, const char *word)
{
    size_t  n;

    n = strlen(word);

    for ( /* void */ ; *upstream != '\0'; upstream++) {
        if (strncasecmp(upstream, word, n) == 0) {
            return 1;
        }
    }

    return 0;
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
