/*
 * Copyright (C) llmopt authors
 *
 * Request bodies from one dialect into the other: the entry point and what
 * both directions use to refuse (or, when allowed, drop and list) a field
 * without a counterpart.  The directions: llmopt_translate_req_openai.c
 * (from OpenAI) and llmopt_translate_req_anthropic.c (from Anthropic).
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "llmopt_translate_write.h"


int
llmopt_translate_request(llmopt_xlate_t *x, const unsigned char *buf,
    size_t len, const llmopt_json_tok_t *toks, unsigned ntoks,
    llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    int                 rc;
    llmopt_xlate_req_t  r;

    x->stream = 0;
    x->include_usage = 0;
    x->json_tool = 0;
    x->json_tool_len = 0;
    x->n_dropped = 0;

    if (x->client == x->upstream || x->upstream == LLMOPT_DIALECT_RESPONSES
        || ntoks == 0 || toks[0].type != JSMN_OBJECT)
    {
        llmopt_err_set(err, 500, 0, "nothing to translate");
        return LLMOPT_ERROR;
    }

    r.x = x;
    r.d.buf = buf;
    r.d.toks = toks;
    r.d.ntoks = ntoks;
    r.out = out;
    r.err = err;

    switch (x->client) {
    case LLMOPT_DIALECT_OPENAI:
        rc = llmopt_xlate_oa_to_an(&r);
        break;
    case LLMOPT_DIALECT_ANTHROPIC:
        rc = llmopt_xlate_an_to_oa(&r);
        break;
    default:
        rc = llmopt_xlate_rs_request(&r);
        break;
    }

    if (rc != LLMOPT_OK) {
        return rc;
    }

    return llmopt_xlate_done(out);
}


/*
 * A field without a counterpart: LLMOPT_ERROR with the message, or, when
 * the catalog allows dropping, LLMOPT_DECLINED (skip it) and its path
 * listed.
 */

int
llmopt_xlate_refuse(llmopt_xlate_req_t *r, const char *fmt, ...)
{
    char     path[LLMOPT_XLATE_PATH_MAX];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);

    if (r->x->drop_unsupported) {
        llmopt_xlate_note(r, path);
        return LLMOPT_DECLINED;
    }

    llmopt_err_set(r->err, 400, 0,
                   "\"%s\" has no counterpart in the %s API of the model",
                   path, r->x->upstream == LLMOPT_DIALECT_OPENAI
                         ? "OpenAI chat completions" : "Anthropic messages");
    r->err->type = "invalid_request_error";

    return LLMOPT_ERROR;
}


void
llmopt_xlate_path(char *path, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(path, LLMOPT_XLATE_PATH_MAX, fmt, ap);
    va_end(ap);
}


void
llmopt_xlate_note(llmopt_xlate_req_t *r, const char *path)
{
    if (r->x->n_dropped < LLMOPT_XLATE_MAX_DROPPED) {
        snprintf(r->x->dropped[r->x->n_dropped], LLMOPT_XLATE_PATH_MAX,
                 "%s", path);
    }

    r->x->n_dropped++;
}


int
llmopt_xlate_bad(llmopt_xlate_req_t *r, const char *path, const char *what)
{
    llmopt_err_set(r->err, 400, 0, "\"%s\" %s", path, what);
    r->err->type = "invalid_request_error";

    return LLMOPT_ERROR;
}


/*
 * Every non-null member of obj whose key is not in known is refused, its
 * path "path.key"; cache_control is always dropped and listed (the OpenAI
 * API caches prompts by itself).
 */

int
llmopt_xlate_keys(llmopt_xlate_req_t *r, int obj, const char *const *known,
    const char *path)
{
    int                       i, k, n, rc;
    char                      full[LLMOPT_XLATE_PATH_MAX];
    const char *const        *p;
    const llmopt_json_tok_t  *key;

    if (llmopt_xlate_kind(&r->d, obj) != LLMOPT_JSON_OBJECT) {
        return llmopt_xlate_bad(r, path[0] ? path : "body",
                                "must be an object");
    }

    n = r->d.toks[obj].size;
    i = obj + 1;

    for (k = 0; k < n; k++, i = llmopt_xlate_next(&r->d, i + 1)) {
        key = &r->d.toks[i];

        for (p = known; *p != NULL; p++) {
            if (llmopt_json_str_eq(r->d.buf, key, *p, strlen(*p))) {
                break;
            }
        }

        if (*p != NULL || llmopt_xlate_kind(&r->d, i + 1) == LLMOPT_JSON_NULL)
        {
            continue;
        }

        llmopt_xlate_path(full, "%s%s%.*s", path, path[0] ? "." : "",
                 (int) (key->end - key->start),
                 (const char *) r->d.buf + key->start);

        if (llmopt_json_str_eq(r->d.buf, key, "cache_control", 13)) {
            llmopt_xlate_note(r, full);
            continue;
        }

        rc = llmopt_xlate_refuse(r, "%s", full);
        if (rc == LLMOPT_ERROR) {
            return rc;
        }
    }

    return LLMOPT_OK;
}


/*
 * Text content in either dialect as a list of text blocks: a string, or an
 * array of {"type":"text","text":...}; appended as such blocks, with
 * separators from *first.
 */

int
llmopt_xlate_parts_text(llmopt_xlate_req_t *r, int content, const char *path,
    int *first)
{
    int   i, k, n, rc;
    char  sub[LLMOPT_XLATE_PATH_MAX];

    if (llmopt_xlate_kind(&r->d, content) == LLMOPT_JSON_STRING) {
        llmopt_xlate_sep(r->out, first);
        llmopt_xlate_lit(r->out, "{\"type\":\"text\",\"text\":");
        llmopt_xlate_raw(r->out, &r->d, content);
        llmopt_xlate_lit(r->out, "}");
        return LLMOPT_OK;
    }

    if (llmopt_xlate_kind(&r->d, content) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_bad(r, path, "must be a string or an array");
    }

    n = r->d.toks[content].size;
    i = content + 1;

    for (k = 0; k < n; k++, i = llmopt_xlate_next(&r->d, i)) {
        llmopt_xlate_path(sub, "%s[%d]", path, k);

        if (!llmopt_xlate_is(&r->d, llmopt_xlate_member(&r->d, i, "type"),
                             "text"))
        {
            rc = llmopt_xlate_refuse(r, "%s.type", sub);
            if (rc == LLMOPT_ERROR) {
                return rc;
            }

            continue;
        }

        llmopt_xlate_sep(r->out, first);

        rc = llmopt_xlate_text_block(r, i, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    return LLMOPT_OK;
}




int
llmopt_xlate_text_block(llmopt_xlate_req_t *r, int part, const char *path)
{
    int                       text, rc;
    static const char *const  known[] = { "type", "text", NULL };

    rc = llmopt_xlate_keys(r, part, known, path);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    text = llmopt_xlate_member(&r->d, part, "text");
    if (llmopt_xlate_kind(&r->d, text) != LLMOPT_JSON_STRING) {
        return llmopt_xlate_bad(r, path, "needs a \"text\" string");
    }

    llmopt_xlate_lit(r->out, "{\"type\":\"text\",\"text\":");
    llmopt_xlate_raw(r->out, &r->d, text);
    llmopt_xlate_lit(r->out, "}");

    return LLMOPT_OK;
}
