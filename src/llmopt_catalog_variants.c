/*
 * Copyright (C) llmopt authors
 *
 * A policy's "variants": each one's edits checked (sizes, UTF-8, what its
 * policy's api can express) and written once as the escaped JSON pieces
 * the rewriter splices into a request (llmopt_variant.h).
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_policies.h"
#include "llmopt_catalog_values.h"
#include "llmopt_json.h"


static const char *const  llmopt_catalog_variant_keys[] = {
    "system", "system_mode", "append", "examples", "response_format", NULL
};

enum {
    LLMOPT_VARIANT_SYSTEM = 0,
    LLMOPT_VARIANT_SYSTEM_MODE,
    LLMOPT_VARIANT_APPEND,
    LLMOPT_VARIANT_EXAMPLES,
    LLMOPT_VARIANT_RESPONSE_FORMAT,
    LLMOPT_VARIANT_LAST
};

static const char *const  llmopt_catalog_example_keys[] = {
    "user", "assistant", NULL
};


static int llmopt_catalog_variant(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, llmopt_variant_t *v, const llmopt_node_t *key,
    const llmopt_node_t *value);
static int llmopt_catalog_variant_text(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *what, const char *where);
static int llmopt_catalog_variant_put(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *pre, const llmopt_str_t *text,
    const char *post, llmopt_str_t *out);
static int llmopt_catalog_variant_examples(llmopt_catalog_ctx_t *ctx,
    llmopt_variant_t *v, const llmopt_node_t *seq, const char *where);


int
llmopt_catalog_variants(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *f, const char *where)
{
    unsigned              i, k;
    const llmopt_str_t   *key;
    const llmopt_node_t  *map;

    map = f->value;
    policy->variants = NULL;
    policy->n_variants = 0;

    if (map == NULL) {
        return LLMOPT_OK;
    }

    if (map->type != LLMOPT_CATALOG_MAP || map->n == 0) {
        return llmopt_catalog_fail(ctx, map, "\"variants\" in %s must be a "
                                   "mapping of variant names to their "
                                   "edits, the control first", where);
    }

    if (map->n > LLMOPT_MAX_VARIANTS) {
        return llmopt_catalog_fail(ctx, map->items[2 * LLMOPT_MAX_VARIANTS],
                                   "%s has %u variants, more than %d", where,
                                   map->n, LLMOPT_MAX_VARIANTS);
    }

    if (llmopt_catalog_unique(ctx, map, "variant", where, 0) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    policy->variants = llmopt_catalog_alloc(ctx, map,
                                            map->n * sizeof(llmopt_variant_t));
    if (policy->variants == NULL) {
        return LLMOPT_ERROR;
    }

    for (i = 0; i < map->n; i++) {
        memset(&policy->variants[i], 0, sizeof(llmopt_variant_t));
        policy->variants[i].index = i;
        policy->variants[i].control = (i == 0);

        if (llmopt_catalog_variant(ctx, policy, &policy->variants[i],
                                   map->items[2 * i], map->items[2 * i + 1])
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    policy->n_variants = map->n;

    /* an arm that sets what a variant edits would undo the edit */

    for (i = 0; i < policy->n_arms; i++) {
        for (k = 0; k < policy->arms[i].n_params; k++) {
            key = &policy->arms[i].params[k].key;

            if ((key->len == 8 && memcmp(key->data, "messages", 8) == 0)
                || (key->len == 6 && memcmp(key->data, "system", 6) == 0))
            {
                return llmopt_catalog_fail(ctx, map, "arm \"%s\" of %s sets "
                                           "\"%s\" in its params: it "
                                           "cannot have variants",
                                           policy->arms[i].name.data, where,
                                           key->data);
            }
        }
    }

    return LLMOPT_OK;
}


static int
llmopt_catalog_variant(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    llmopt_variant_t *v, const llmopt_node_t *key, const llmopt_node_t *value)
{
    unsigned                a;
    const char             *mode;
    llmopt_str_t            text;
    llmopt_catalog_buf_t    buf;
    const llmopt_node_t    *node;
    llmopt_catalog_field_t  f[LLMOPT_VARIANT_LAST];
    char                    where[LLMOPT_CATALOG_WHERE_LEN];

    if (llmopt_catalog_name(ctx, key, "variant name",
                            LLMOPT_CATALOG_NAME_MAX)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    v->name = key->scalar;
    v->line = key->line;
    v->column = key->column;
    v->dialects = LLMOPT_VARIANT_DIALECTS;

    (void) snprintf(where, sizeof(where), "variant \"%s\" of policy \"%s\"",
                    key->scalar.data, policy->name.data);

    if (llmopt_catalog_is_null(value)) {
        return LLMOPT_OK;               /* no edits: a control */
    }

    if (value->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(ctx, value, "%s must be a mapping of "
                                   "edits", where);
    }

    if (llmopt_catalog_fields(ctx, value, llmopt_catalog_variant_keys, f,
                              where)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    /* the system prompt: prepended (the default) or replaced */

    node = f[LLMOPT_VARIANT_SYSTEM].value;

    if (node != NULL) {
        if (llmopt_catalog_variant_text(ctx, node, "system", where)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        text = node->scalar;

        if (llmopt_catalog_variant_put(ctx, node, "", &text, "",
                                       &v->system_str)
            != LLMOPT_OK
            || llmopt_catalog_variant_put(ctx, node,
                                          "{\"type\":\"text\",\"text\":",
                                          &text, "}", &v->system_block)
               != LLMOPT_OK
            || llmopt_catalog_variant_put(ctx, node,
                                          "{\"role\":\"system\","
                                          "\"content\":", &text, "}",
                                          &v->system_msg)
               != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    node = f[LLMOPT_VARIANT_SYSTEM_MODE].value;

    if (node != NULL) {
        mode = node->type == LLMOPT_CATALOG_SCALAR ? node->scalar.data : "";

        if (f[LLMOPT_VARIANT_SYSTEM].value == NULL) {
            return llmopt_catalog_fail(ctx, node, "\"system_mode\" in %s "
                                       "needs a \"system\"", where);
        }

        if (strcmp(mode, "replace") == 0) {
            v->system_replace = 1;

        } else if (strcmp(mode, "prepend") != 0) {
            return llmopt_catalog_fail(ctx, node, "\"system_mode\" in %s "
                                       "must be prepend or replace", where);
        }
    }

    /* an instruction after the last user turn */

    node = f[LLMOPT_VARIANT_APPEND].value;

    if (node != NULL) {
        if (llmopt_catalog_variant_text(ctx, node, "append", where)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        text = node->scalar;

        if (llmopt_catalog_variant_put(ctx, node, "", &text, "",
                                       &v->append_str)
            != LLMOPT_OK
            || llmopt_catalog_variant_put(ctx, node,
                                          "{\"type\":\"text\",\"text\":",
                                          &text, "}", &v->append_block)
               != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }
    }

    if (f[LLMOPT_VARIANT_EXAMPLES].value != NULL
        && llmopt_catalog_variant_examples(ctx, v,
                                           f[LLMOPT_VARIANT_EXAMPLES].value,
                                           where)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    /*
     * Structured output: OpenAI's "response_format".  The Messages API has
     * no such member (a JSON answer there is a tool's input schema, which
     * would change what the client gets back): refused for Anthropic.
     */

    node = f[LLMOPT_VARIANT_RESPONSE_FORMAT].value;

    if (node != NULL) {
        for (a = 0; a < policy->n_arms; a++) {
            if (ctx->cat->models[policy->arms[a].model].api
                != LLMOPT_DIALECT_OPENAI)
            {
                return llmopt_catalog_fail(ctx, node, "\"response_format\" "
                                           "in %s cannot be expressed in "
                                           "the anthropic api of arm \"%s\"",
                                           where, policy->arms[a].name.data);
            }
        }

        if (node->type != LLMOPT_CATALOG_MAP) {
            return llmopt_catalog_fail(ctx, node, "\"response_format\" in %s "
                                       "must be a mapping, e.g. {type: "
                                       "json_object}", where);
        }

        buf.data = NULL;
        buf.len = 0;

        if (llmopt_catalog_json(ctx, node, &buf, 0) != LLMOPT_OK) {
            return LLMOPT_ERROR;
        }

        buf.data = llmopt_catalog_alloc(ctx, node, buf.len + 1);
        if (buf.data == NULL) {
            return LLMOPT_ERROR;
        }

        buf.len = 0;
        (void) llmopt_catalog_json(ctx, node, &buf, 0);
        buf.data[buf.len] = '\0';

        v->response_format.data = buf.data;
        v->response_format.len = buf.len;
        v->dialects = 1u << LLMOPT_DIALECT_OPENAI;
    }

    return LLMOPT_OK;
}


/* A text of a variant: a string of 1 to 8192 bytes of valid UTF-8. */

static int
llmopt_catalog_variant_text(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *what, const char *where)
{
    size_t                len;
    unsigned              count;
    llmopt_err_t          err;
    unsigned char        *json;

    if (node->type != LLMOPT_CATALOG_SCALAR || node->scalar.len == 0
        || llmopt_catalog_is_null(node))
    {
        return llmopt_catalog_fail(ctx, node, "\"%s\" in %s must be a "
                                   "non-empty string", what, where);
    }

    if (node->scalar.len > LLMOPT_VARIANT_TEXT_MAX) {
        return llmopt_catalog_fail(ctx, node, "\"%s\" in %s has %zu bytes, "
                                   "more than %d", what, where,
                                   node->scalar.len, LLMOPT_VARIANT_TEXT_MAX);
    }

    /* the JSON validator is the one UTF-8 check: {"t":"text"} */

    len = llmopt_json_quote(NULL, node->scalar.data, node->scalar.len) + 6;

    json = llmopt_catalog_alloc(ctx, node, len);
    if (json == NULL) {
        return LLMOPT_ERROR;
    }

    memcpy(json, "{\"t\":", 5);
    len = 5 + llmopt_json_quote(json + 5, node->scalar.data,
                                node->scalar.len);
    json[len++] = '}';

    if (llmopt_json_parse(json, len, NULL, 0, 2, &count, &err)
        == LLMOPT_ERROR)
    {
        return llmopt_catalog_fail(ctx, node, "\"%s\" in %s is not valid "
                                   "UTF-8", what, where);
    }

    return LLMOPT_OK;
}


/* pre, then text as a JSON string, then post; NUL-terminated */

static int
llmopt_catalog_variant_put(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *pre, const llmopt_str_t *text,
    const char *post, llmopt_str_t *out)
{
    size_t   len, pre_len, post_len;
    char    *p;

    pre_len = strlen(pre);
    post_len = strlen(post);
    len = pre_len + llmopt_json_quote(NULL, text->data, text->len)
          + post_len;

    p = llmopt_catalog_alloc(ctx, node, len + 1);
    if (p == NULL) {
        return LLMOPT_ERROR;
    }

    memcpy(p, pre, pre_len);
    len = pre_len + llmopt_json_quote((unsigned char *) p + pre_len,
                                      text->data, text->len);
    memcpy(p + len, post, post_len);
    len += post_len;
    p[len] = '\0';

    out->data = p;
    out->len = len;

    return LLMOPT_OK;
}


/*
 * "examples": a sequence of {user: text, assistant: text}, written as the
 * message objects both apis take, comma-separated.
 */

static int
llmopt_catalog_variant_examples(llmopt_catalog_ctx_t *ctx,
    llmopt_variant_t *v, const llmopt_node_t *seq, const char *where)
{
    size_t                  len;
    unsigned                i, k, pass;
    char                   *p;
    llmopt_str_t            piece;
    const llmopt_node_t    *item;
    llmopt_catalog_field_t  f[2];
    llmopt_str_t            parts[2 * LLMOPT_VARIANT_MAX_SHOTS];
    static const char      *roles[2] = { "user", "assistant" };

    if (seq->type != LLMOPT_CATALOG_SEQ || seq->n == 0) {
        return llmopt_catalog_fail(ctx, seq, "\"examples\" in %s must be a "
                                   "sequence of {user, assistant} pairs",
                                   where);
    }

    if (seq->n > LLMOPT_VARIANT_MAX_SHOTS) {
        return llmopt_catalog_fail(ctx, seq, "\"examples\" in %s has %u "
                                   "pairs, more than %d", where, seq->n,
                                   LLMOPT_VARIANT_MAX_SHOTS);
    }

    for (i = 0; i < seq->n; i++) {
        item = seq->items[i];

        if (item->type != LLMOPT_CATALOG_MAP) {
            return llmopt_catalog_fail(ctx, item, "example %u in %s must be "
                                       "a mapping {user, assistant}", i + 1,
                                       where);
        }

        if (llmopt_catalog_fields(ctx, item, llmopt_catalog_example_keys, f,
                                  where)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        for (k = 0; k < 2; k++) {
            if (f[k].value == NULL) {
                return llmopt_catalog_fail(ctx, item, "example %u in %s "
                                           "needs \"%s\"", i + 1, where,
                                           roles[k]);
            }

            if (llmopt_catalog_variant_text(ctx, f[k].value, roles[k],
                                            where)
                != LLMOPT_OK
                || llmopt_catalog_variant_put(ctx, f[k].value,
                                              k ? "{\"role\":\"assistant\","
                                                  "\"content\":"
                                                : "{\"role\":\"user\","
                                                  "\"content\":",
                                              &f[k].value->scalar, "}",
                                              &parts[2 * i + k])
                   != LLMOPT_OK)
            {
                return LLMOPT_ERROR;
            }
        }
    }

    /* joined: count, then write */

    p = NULL;
    len = 0;

    for (pass = 0; pass < 2; pass++) {
        len = 0;

        for (i = 0; i < 2 * seq->n; i++) {
            piece = parts[i];

            if (i) {
                if (p != NULL) {
                    p[len] = ',';
                }

                len++;
            }

            if (p != NULL) {
                memcpy(p + len, piece.data, piece.len);
            }

            len += piece.len;
        }

        if (pass == 0) {
            p = llmopt_catalog_alloc(ctx, seq, len + 1);
            if (p == NULL) {
                return LLMOPT_ERROR;
            }
        }
    }

    p[len] = '\0';
    v->examples.data = p;
    v->examples.len = len;

    return LLMOPT_OK;
}
