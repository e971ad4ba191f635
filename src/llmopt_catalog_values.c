/*
 * Copyright (C) llmopt authors
 *
 * Values of the catalog, whatever the section: YAML 1.2 scalar typing
 * (null, booleans, numbers), numbers and integers in a range, names,
 * strings, ${VAR} expansion, YAML to JSON for arm params, the checks of a
 * mapping's keys, and the error message with its position.
 */


#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"
#include "llmopt_json.h"


static int llmopt_catalog_json_scalar(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, llmopt_catalog_buf_t *buf);
static void llmopt_catalog_json_string(const char *s, size_t len,
    llmopt_catalog_buf_t *buf);
static void llmopt_catalog_put(llmopt_catalog_buf_t *buf, const char *s,
    size_t len);


/*
 * The top-level "models" and "policies": a non-empty mapping of unique
 * names; "item" is "model" or "policy".
 */

int
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


/*
 * Checks a mapping against the keys it may have and collects the values:
 * keys outside names and repeated keys are errors.
 */

int
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

int
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


int
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

int
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

int
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

size_t
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

int
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


int
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


int
llmopt_catalog_bool(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, unsigned *out)
{
    const llmopt_node_t  *node;

    node = f->value;

    if (node == NULL) {
        return LLMOPT_OK;
    }

    if (node->type == LLMOPT_CATALOG_SCALAR && node->plain) {
        if (strcmp(node->scalar.data, "true") == 0) {
            *out = 1;
            return LLMOPT_OK;
        }

        if (strcmp(node->scalar.data, "false") == 0) {
            *out = 0;
            return LLMOPT_OK;
        }
    }

    return llmopt_catalog_fail(ctx, node, "\"%s\" in %s must be true or "
                               "false", f->key->scalar.data, where);
}


int
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
 * Numbers of YAML 1.2's core schema: [-+]digits, 0o octal, 0x hex,
 * [-+](.digits | digits[.digits])[e[-+]digits], [-+].inf, .nan.
 */

int
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


/*
 * Writes a header value with ${NAME} replaced by the environment variable
 * NAME and "$$" by "$"; any other "$" stays.  Unset variables, and
 * variables holding a control character other than tab, are errors (the
 * value of header "header" in where).
 */

int
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


/* Raw JSON of a YAML value, for arm params. */

int
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

    if (llmopt_json_number_len((const unsigned char *) s, node->scalar.len)
        == node->scalar.len)
    {
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


static void
llmopt_catalog_put(llmopt_catalog_buf_t *buf, const char *s, size_t len)
{
    if (buf->data != NULL) {
        memcpy(buf->data + buf->len, s, len);
    }

    buf->len += len;
}


void *
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


int
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


int
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
