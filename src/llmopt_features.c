/*
 * Copyright (C) llmopt authors
 */


#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_features.h"
#include "llmopt_request_scan.h"
#include "llmopt_hash.h"


#define LLMOPT_FEATURE_TOKENS_REF     131072.0   /* 128k tokens -> 1 */
#define LLMOPT_FEATURE_MESSAGES_REF   64.0       /* 64 messages -> 1 */
#define LLMOPT_FEATURE_SYSTEM_REF     32768.0    /* 32k tokens -> 1 */
#define LLMOPT_FEATURE_MAX_TOKENS_REF 32768.0    /* 32k tokens -> 1 */


#define LLMOPT_FEATURE_TENANT_SEED    0x6c6c6d6f70742d74ULL


static unsigned llmopt_feature_dims(const llmopt_feature_spec_t *spec,
    llmopt_feature_e id);
static double llmopt_feature_log_scale(double v, double ref);
static void llmopt_features_put(char *buf, size_t size, size_t *len,
    const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;


static const char  *llmopt_feature_names[LLMOPT_FEAT_LAST] = {
    "bias",
    "input_tokens",
    "messages",
    "system_len",
    "has_code",
    "has_tools",
    "json_format",
    "max_tokens",
    "stream",
    "hour",
    "tenant",
    "words"
};


int
llmopt_feature_lookup(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < LLMOPT_FEAT_LAST; i++) {
        if (strlen(llmopt_feature_names[i]) == len
            && memcmp(llmopt_feature_names[i], name, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


const char *
llmopt_feature_name(llmopt_feature_e id)
{
    if ((unsigned) id >= LLMOPT_FEAT_LAST) {
        return "unknown";
    }

    return llmopt_feature_names[id];
}


int
llmopt_feature_spec_finish(llmopt_feature_spec_t *spec, llmopt_err_t *err)
{
    unsigned  i, j, d;

    if (spec->tenant_buckets == 0) {
        spec->tenant_buckets = 4;
    }

    if (spec->word_buckets == 0) {
        spec->word_buckets = 8;
    }

    spec->d = 0;

    if (spec->n > LLMOPT_FEATURE_MAX_IDS) {
        llmopt_err_set(err, 0, 0, "too many features (%u, at most %d)",
                       spec->n, LLMOPT_FEATURE_MAX_IDS);
        return LLMOPT_ERROR;
    }

    if (spec->tenant_buckets > LLMOPT_FEATURE_MAX_DIM
        || spec->word_buckets > LLMOPT_FEATURE_MAX_DIM)
    {
        llmopt_err_set(err, 0, 0, "too many feature buckets (at most %d)",
                       LLMOPT_FEATURE_MAX_DIM);
        return LLMOPT_ERROR;
    }

    d = 0;

    for (i = 0; i < spec->n; i++) {
        if ((unsigned) spec->ids[i] >= LLMOPT_FEAT_LAST) {
            llmopt_err_set(err, 0, 0, "unknown feature id %d",
                           (int) spec->ids[i]);
            return LLMOPT_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (spec->ids[j] == spec->ids[i]) {
                llmopt_err_set(err, 0, 0, "feature \"%s\" is listed twice",
                               llmopt_feature_names[spec->ids[i]]);
                return LLMOPT_ERROR;
            }
        }

        d += llmopt_feature_dims(spec, spec->ids[i]);
    }

    if (d > LLMOPT_FEATURE_MAX_DIM) {
        llmopt_err_set(err, 0, 0, "the features have %u dimensions, "
                       "at most %d are supported", d, LLMOPT_FEATURE_MAX_DIM);
        return LLMOPT_ERROR;
    }

    spec->d = d;

    return LLMOPT_OK;
}


static unsigned
llmopt_feature_dims(const llmopt_feature_spec_t *spec, llmopt_feature_e id)
{
    switch (id) {
    case LLMOPT_FEAT_HOUR:
        return 2;
    case LLMOPT_FEAT_TENANT:
        return spec->tenant_buckets;
    case LLMOPT_FEAT_WORDS:
        return spec->word_buckets;
    default:
        return 1;
    }
}


/* log1p(v) / log1p(ref), clamped to [0, 1] */

static double
llmopt_feature_log_scale(double v, double ref)
{
    double  x;

    if (v <= 0) {
        return 0;
    }

    x = log1p(v) / log1p(ref);

    return x < 1 ? x : 1;
}


void
llmopt_feature_hour(llmopt_feature_ctx_t *ctx, double hour)
{
    double  angle;

    angle = hour * (2 * M_PI / 24);

    ctx->hour = hour;
    ctx->hour_sin = sin(angle);
    ctx->hour_cos = cos(angle);
}


void
llmopt_features_build(const llmopt_feature_spec_t *spec,
    const llmopt_request_t *req, const llmopt_feature_ctx_t *ctx, double *x)
{
    double     norm;
    uint64_t   h;
    unsigned   i, b, k, buckets;
    unsigned   folded[LLMOPT_FEATURE_MAX_DIM];
    uint16_t   words[LLMOPT_REQUEST_WORD_BUCKETS];

    k = 0;

    for (i = 0; i < spec->n; i++) {

        switch (spec->ids[i]) {

        case LLMOPT_FEAT_BIAS:
            x[k++] = 1;
            break;

        case LLMOPT_FEAT_INPUT_TOKENS:
            x[k++] = llmopt_feature_log_scale(
                         (double) (req->text_bytes
                                   / LLMOPT_FEATURE_BYTES_PER_TOKEN),
                         LLMOPT_FEATURE_TOKENS_REF);
            break;

        case LLMOPT_FEAT_MESSAGES:
            x[k++] = llmopt_feature_log_scale((double) req->n_messages,
                                              LLMOPT_FEATURE_MESSAGES_REF);
            break;

        case LLMOPT_FEAT_SYSTEM_LEN:
            x[k++] = llmopt_feature_log_scale(
                         (double) (req->system_bytes
                                   / LLMOPT_FEATURE_BYTES_PER_TOKEN),
                         LLMOPT_FEATURE_SYSTEM_REF);
            break;

        case LLMOPT_FEAT_HAS_CODE:
            x[k++] = req->has_code;
            break;

        case LLMOPT_FEAT_HAS_TOOLS:
            x[k++] = req->has_tools;
            break;

        case LLMOPT_FEAT_JSON_FORMAT:
            x[k++] = req->json_format;
            break;

        case LLMOPT_FEAT_MAX_TOKENS:
            x[k++] = llmopt_feature_log_scale((double) req->max_tokens,
                                              LLMOPT_FEATURE_MAX_TOKENS_REF);
            break;

        case LLMOPT_FEAT_STREAM:
            x[k++] = req->stream;
            break;

        case LLMOPT_FEAT_HOUR:
            /* hour 0 without a context */
            x[k++] = ctx != NULL ? ctx->hour_sin : 0;
            x[k++] = ctx != NULL ? ctx->hour_cos : 1;
            break;

        case LLMOPT_FEAT_TENANT:
            buckets = spec->tenant_buckets;

            for (b = 0; b < buckets; b++) {
                x[k + b] = 0;
            }

            if (ctx != NULL && ctx->tenant != NULL && ctx->tenant_len != 0) {
                h = llmopt_hash64(ctx->tenant, ctx->tenant_len,
                                  LLMOPT_FEATURE_TENANT_SEED);
                x[k + h % buckets] = 1;
            }

            k += buckets;
            break;

        case LLMOPT_FEAT_WORDS:
            buckets = spec->word_buckets;

            for (b = 0; b < buckets; b++) {
                folded[b] = 0;
            }

            (void) llmopt_request_words(req->body, req->prompt.start,
                                        req->prompt.end, words);

            for (b = 0; b < LLMOPT_REQUEST_WORD_BUCKETS; b++) {
                folded[b % buckets] += words[b];
            }

            norm = 0;

            for (b = 0; b < buckets; b++) {
                norm += (double) folded[b] * folded[b];
            }

            norm = norm > 0 ? 1 / sqrt(norm) : 0;

            for (b = 0; b < buckets; b++) {
                x[k + b] = folded[b] * norm;
            }

            k += buckets;
            break;

        default:
            break;
        }
    }
}


size_t
llmopt_features_json(const llmopt_feature_spec_t *spec, const double *x,
    char *buf, size_t size)
{
    int       vector;
    size_t    len;
    unsigned  i, j, k, dims;

    len = 0;
    k = 0;

    llmopt_features_put(buf, size, &len, "{");

    for (i = 0; i < spec->n; i++) {
        dims = llmopt_feature_dims(spec, spec->ids[i]);
        vector = (spec->ids[i] == LLMOPT_FEAT_HOUR
                  || spec->ids[i] == LLMOPT_FEAT_TENANT
                  || spec->ids[i] == LLMOPT_FEAT_WORDS);

        llmopt_features_put(buf, size, &len, "%s\"%s\":%s",
                            (i == 0) ? "" : ",",
                            llmopt_feature_name(spec->ids[i]),
                            vector ? "[" : "");

        for (j = 0; j < dims; j++, k++) {
            llmopt_features_put(buf, size, &len, "%s%.4g",
                                (j == 0) ? "" : ",",
                                isfinite(x[k]) ? x[k] : 0.0);
        }

        if (vector) {
            llmopt_features_put(buf, size, &len, "]");
        }
    }

    llmopt_features_put(buf, size, &len, "}");

    return len;
}


size_t
llmopt_features_names(const llmopt_feature_spec_t *spec, char *buf,
    size_t size)
{
    size_t    len;
    unsigned  i;

    len = 0;

    if (size) {
        buf[0] = '\0';
    }

    for (i = 0; i < spec->n; i++) {
        llmopt_features_put(buf, size, &len, "%s%s", i ? "," : "",
                            llmopt_feature_name(spec->ids[i]));

        if (spec->ids[i] == LLMOPT_FEAT_TENANT
            || spec->ids[i] == LLMOPT_FEAT_WORDS)
        {
            llmopt_features_put(buf, size, &len, ":%u",
                                llmopt_feature_dims(spec, spec->ids[i]));
        }
    }

    return len;
}


int
llmopt_features_parse(llmopt_feature_spec_t *spec, const char *s,
    size_t len, llmopt_err_t *err)
{
    int           id;
    size_t        i, end, colon;
    unsigned long buckets;
    char          num[16];

    memset(spec, 0, sizeof(llmopt_feature_spec_t));

    for (i = 0; i < len; i = end + 1) {
        for (end = i; end < len && s[end] != ','; end++) { /* void */ }
        for (colon = i; colon < end && s[colon] != ':'; colon++) { /* void */ }

        id = llmopt_feature_lookup(s + i, colon - i);

        if (id < 0 || spec->n == LLMOPT_FEATURE_MAX_IDS) {
            llmopt_err_set(err, 0, 0, "%s feature \"%.*s\"",
                           id < 0 ? "unknown" : "too many at",
                           (int) (colon - i), s + i);
            return LLMOPT_ERROR;
        }

        if (colon < end) {
            if ((id != LLMOPT_FEAT_TENANT && id != LLMOPT_FEAT_WORDS)
                || end - colon - 1 == 0 || end - colon - 1 >= sizeof(num)
                || strspn(s + colon + 1, "0123456789") < end - colon - 1)
            {
                llmopt_err_set(err, 0, 0, "bad buckets in \"%.*s\"",
                               (int) (end - i), s + i);
                return LLMOPT_ERROR;
            }

            memcpy(num, s + colon + 1, end - colon - 1);
            num[end - colon - 1] = '\0';
            buckets = strtoul(num, NULL, 10);

            if (buckets == 0 || buckets > LLMOPT_FEATURE_MAX_DIM) {
                llmopt_err_set(err, 0, 0, "bad buckets in \"%.*s\"",
                               (int) (end - i), s + i);
                return LLMOPT_ERROR;
            }

            if (id == LLMOPT_FEAT_TENANT) {
                spec->tenant_buckets = (unsigned) buckets;

            } else {
                spec->word_buckets = (unsigned) buckets;
            }
        }

        spec->ids[spec->n++] = (llmopt_feature_e) id;
    }

    return llmopt_feature_spec_finish(spec, err);
}


unsigned
llmopt_features_map(const llmopt_feature_spec_t *from,
    const llmopt_feature_spec_t *to, int *map)
{
    unsigned  i, j, k, at, dims, missing, offset[LLMOPT_FEAT_LAST];
    int       where[LLMOPT_FEAT_LAST];

    for (i = 0; i < LLMOPT_FEAT_LAST; i++) {
        where[i] = -1;
    }

    at = 0;

    for (i = 0; i < from->n; i++) {
        where[from->ids[i]] = (int) i;
        offset[from->ids[i]] = at;
        at += llmopt_feature_dims(from, from->ids[i]);
    }

    missing = 0;
    k = 0;

    for (i = 0; i < to->n; i++) {
        dims = llmopt_feature_dims(to, to->ids[i]);

        for (j = 0; j < dims; j++, k++) {
            if (where[to->ids[i]] >= 0
                && llmopt_feature_dims(from, to->ids[i]) == dims)
            {
                map[k] = (int) (offset[to->ids[i]] + j);

            } else {
                map[k] = -1;
                missing++;
            }
        }
    }

    return missing;
}


/* Appends to buf at *len like snprintf; *len keeps growing past size. */

static void
llmopt_features_put(char *buf, size_t size, size_t *len, const char *fmt,
    ...)
{
    int      n;
    va_list  args;

    va_start(args, fmt);

    if (*len < size) {
        n = vsnprintf(buf + *len, size - *len, fmt, args);

    } else {
        n = vsnprintf(NULL, 0, fmt, args);
    }

    va_end(args);

    if (n > 0) {
        *len += (size_t) n;
    }
}
