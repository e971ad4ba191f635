/*
 * Copyright (C) llmopt authors
 *
 * The "cache" key of a policy: when its requests may be cached, for how
 * long, whether tenants share entries, what of the body the key leaves
 * out (llmopt_cache.h is what it means).
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_cache.h"
#include "llmopt_catalog_cache.h"
#include "llmopt_catalog_guardrails.h"


#define LLMOPT_CACHE_TTL_MAX_MS  (366ULL * 86400 * 1000)   /* a year */


static const char *const  llmopt_catalog_cache_keys[] = {
    "when", "temperature_le", "ttl", "shared", "exclude", NULL
};

enum {
    LLMOPT_CACHE_F_WHEN = 0,
    LLMOPT_CACHE_F_TEMPERATURE_LE,
    LLMOPT_CACHE_F_TTL,
    LLMOPT_CACHE_F_SHARED,
    LLMOPT_CACHE_F_EXCLUDE,
    LLMOPT_CACHE_F_LAST
};


static int llmopt_catalog_cache_when(llmopt_catalog_ctx_t *ctx,
    llmopt_cache_conf_t *c, llmopt_catalog_field_t *f, const char *where);
static int llmopt_catalog_cache_ttl(llmopt_catalog_ctx_t *ctx,
    llmopt_cache_conf_t *c, const llmopt_node_t *node, const char *where);
static int llmopt_catalog_cache_exclude(llmopt_catalog_ctx_t *ctx,
    llmopt_cache_conf_t *c, const llmopt_node_t *node, const char *where);


int
llmopt_catalog_cache(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *cache, const char *where)
{
    int                     rc;
    const char             *s;
    const llmopt_node_t    *item;
    llmopt_cache_conf_t    *c;
    llmopt_catalog_field_t  f[LLMOPT_CACHE_F_LAST];
    char                    cwhere[LLMOPT_CATALOG_WHERE_LEN];

    c = &policy->cache;
    llmopt_cache_conf_defaults(c);

    rc = llmopt_catalog_submap(ctx, policy, cache, "cache",
                               llmopt_catalog_cache_keys, f, where, cwhere);
    if (rc != LLMOPT_OK) {
        return rc == LLMOPT_DECLINED ? LLMOPT_OK : LLMOPT_ERROR;
    }

    if (llmopt_catalog_cache_when(ctx, c, f, cwhere) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_CACHE_F_TTL].value != NULL
        && llmopt_catalog_cache_ttl(ctx, c, f[LLMOPT_CACHE_F_TTL].value,
                                    cwhere)
           != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    item = f[LLMOPT_CACHE_F_SHARED].value;

    if (item != NULL) {
        s = item->type == LLMOPT_CATALOG_SCALAR && item->plain
            ? item->scalar.data : "";

        if (strcmp(s, "true") == 0) {
            c->shared = 1;

        } else if (strcmp(s, "false") != 0) {
            return llmopt_catalog_fail(ctx, item, "\"shared\" in %s must be "
                                       "true or false", cwhere);
        }
    }

    if (f[LLMOPT_CACHE_F_EXCLUDE].value != NULL) {
        return llmopt_catalog_cache_exclude(ctx, c,
                                            f[LLMOPT_CACHE_F_EXCLUDE].value,
                                            cwhere);
    }

    return LLMOPT_OK;
}


/*
 * when: always, never or temperature_le (the default when
 * temperature_le is stated, always else); temperature_le: a number from
 * 0 to 2.  "when: {temperature_le: 0.3}" says the same.
 */

static int
llmopt_catalog_cache_when(llmopt_catalog_ctx_t *ctx, llmopt_cache_conf_t *c,
    llmopt_catalog_field_t *f, const char *where)
{
    const char             *s;
    const llmopt_node_t    *when;
    llmopt_catalog_field_t  t;

    when = f[LLMOPT_CACHE_F_WHEN].value;
    t = f[LLMOPT_CACHE_F_TEMPERATURE_LE];

    if (when != NULL && when->type == LLMOPT_CATALOG_MAP) {
        if (when->n != 1 || strcmp(when->items[0]->scalar.data,
                                   "temperature_le") != 0)
        {
            return llmopt_catalog_fail(ctx, when, "\"when\" in %s must be "
                                       "always, never, temperature_le or "
                                       "{temperature_le: N}", where);
        }

        if (t.value != NULL) {
            return llmopt_catalog_fail(ctx, t.key, "\"temperature_le\" in %s "
                                       "is stated twice", where);
        }

        t.key = when->items[0];
        t.value = when->items[1];
        s = "temperature_le";

    } else if (when != NULL) {
        s = when->type == LLMOPT_CATALOG_SCALAR ? when->scalar.data : "";

    } else {
        s = t.value != NULL ? "temperature_le" : "always";
    }

    if (strcmp(s, "always") == 0) {
        c->when = LLMOPT_CACHE_ALWAYS;

    } else if (strcmp(s, "never") == 0) {
        c->when = LLMOPT_CACHE_NEVER;

    } else if (strcmp(s, "temperature_le") == 0) {
        c->when = LLMOPT_CACHE_TEMPERATURE;

        if (t.value == NULL) {
            return llmopt_catalog_fail(ctx, when, "\"when: temperature_le\" "
                                       "in %s needs \"temperature_le: N\"",
                                       where);
        }

        return llmopt_catalog_number(ctx, &t, where, 0, 0, 2, 0,
                                     "a number from 0 to 2",
                                     &c->temperature_max);

    } else {
        return llmopt_catalog_fail(ctx, when, "\"when\" in %s must be "
                                   "always, never or temperature_le", where);
    }

    if (t.value != NULL) {
        return llmopt_catalog_fail(ctx, t.key, "\"temperature_le\" in %s "
                                   "goes with \"when: temperature_le\" only",
                                   where);
    }

    return LLMOPT_OK;
}


/* ttl: 600000 (ms), or a number with a unit: 500ms, 30s, 10m, 2h, 1d. */

static int
llmopt_catalog_cache_ttl(llmopt_catalog_ctx_t *ctx, llmopt_cache_conf_t *c,
    const llmopt_node_t *node, const char *where)
{
    char         *end;
    double        v, unit;
    const char   *s;

    s = node->type == LLMOPT_CATALOG_SCALAR ? node->scalar.data : "";

    v = strtod(s, &end);
    unit = 0;

    if (end != s && s[0] >= '0' && s[0] <= '9') {
        if (*end == '\0' || strcmp(end, "ms") == 0) {
            unit = 1;

        } else if (strcmp(end, "s") == 0) {
            unit = 1000;

        } else if (strcmp(end, "m") == 0) {
            unit = 60000;

        } else if (strcmp(end, "h") == 0) {
            unit = 3600000;

        } else if (strcmp(end, "d") == 0) {
            unit = 86400000;
        }
    }

    v *= unit;

    if (unit == 0 || !(v >= 1000) || v > (double) LLMOPT_CACHE_TTL_MAX_MS) {
        return llmopt_catalog_fail(ctx, node, "\"ttl\" in %s must be a time "
                                   "from 1s to 366d: ms, or a number with "
                                   "ms, s, m, h or d", where);
    }

    c->ttl_ms = (uint64_t) v;

    return LLMOPT_OK;
}


/*
 * exclude: the root members the key leaves out, in place of the default
 * [user, metadata]; "stream" and "stream_options" always are.  A key
 * without "model" or "messages" would give one request another's answer.
 */

static int
llmopt_catalog_cache_exclude(llmopt_catalog_ctx_t *ctx,
    llmopt_cache_conf_t *c, const llmopt_node_t *node, const char *where)
{
    unsigned              i, j;
    const llmopt_node_t  *item;

    if (node->type != LLMOPT_CATALOG_SEQ
        || node->n > LLMOPT_CACHE_MAX_EXCLUDE)
    {
        return llmopt_catalog_fail(ctx, node, "\"exclude\" in %s must be a "
                                   "list of at most %d member names", where,
                                   LLMOPT_CACHE_MAX_EXCLUDE);
    }

    c->n_exclude = 0;

    for (i = 0; i < node->n; i++) {
        item = node->items[i];

        if (item->type != LLMOPT_CATALOG_SCALAR || item->scalar.len == 0
            || memchr(item->scalar.data, '\\', item->scalar.len) != NULL
            || llmopt_catalog_control(item->scalar.data, item->scalar.len)
               < item->scalar.len)
        {
            return llmopt_catalog_fail(ctx, item, "\"exclude\" in %s must "
                                       "name members of the request body",
                                       where);
        }

        if (strcmp(item->scalar.data, "model") == 0
            || strcmp(item->scalar.data, "messages") == 0
            || strcmp(item->scalar.data, "system") == 0)
        {
            return llmopt_catalog_fail(ctx, item, "\"exclude\" in %s cannot "
                                       "leave \"%s\" out of the key: "
                                       "different requests would share "
                                       "an answer", where,
                                       item->scalar.data);
        }

        for (j = 0; j < i; j++) {
            if (strcmp(node->items[j]->scalar.data, item->scalar.data) == 0)
            {
                return llmopt_catalog_fail(ctx, item, "\"%s\" is listed "
                                           "twice in \"exclude\" in %s",
                                           item->scalar.data, where);
            }
        }

        c->exclude[c->n_exclude++] = item->scalar;
    }

    return LLMOPT_OK;
}
