/*
 * Copyright (C) llmopt authors
 *
 * The translators' shared pieces: the bounded output writer, members of a
 * parsed document, stop reasons, usage and error bodies of both dialects.
 */


#include <string.h>

#include "llmopt_translate_write.h"


typedef struct {
    const char           *name;       /* JSON, quotes included */
    llmopt_xlate_stop_e   stop;
} llmopt_xlate_stop_name_t;


static const char *llmopt_xlate_error_type(llmopt_dialect_e dl, int status);


/* every name either dialect uses, first the one each stop is written as */

static const llmopt_xlate_stop_name_t  llmopt_xlate_stops[] = {
    { "\"end_turn\"", LLMOPT_XLATE_STOP_END },
    { "\"stop_sequence\"", LLMOPT_XLATE_STOP_SEQUENCE },
    { "\"max_tokens\"", LLMOPT_XLATE_STOP_LENGTH },
    { "\"tool_use\"", LLMOPT_XLATE_STOP_TOOL },
    { "\"refusal\"", LLMOPT_XLATE_STOP_FILTER },
    { "\"pause_turn\"", LLMOPT_XLATE_STOP_PAUSE },
    { "\"model_context_window_exceeded\"", LLMOPT_XLATE_STOP_LENGTH },
    { "\"stop\"", LLMOPT_XLATE_STOP_END },
    { "\"length\"", LLMOPT_XLATE_STOP_LENGTH },
    { "\"tool_calls\"", LLMOPT_XLATE_STOP_TOOL },
    { "\"content_filter\"", LLMOPT_XLATE_STOP_FILTER },
    { "\"function_call\"", LLMOPT_XLATE_STOP_TOOL },
    { NULL, LLMOPT_XLATE_STOP_NONE }
};


void
llmopt_xlate_put(llmopt_xlate_out_t *out, const void *p, size_t n)
{
    if (out->len <= out->cap && n <= out->cap - out->len) {
        memcpy(out->data + out->len, p, n);
    }

    out->len += n;
}


void
llmopt_xlate_int(llmopt_xlate_out_t *out, int64_t v)
{
    char      digits[24];
    size_t    i;
    uint64_t  u;

    i = sizeof(digits);
    u = (v < 0) ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

    do {
        digits[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);

    if (v < 0) {
        digits[--i] = '-';
    }

    llmopt_xlate_put(out, digits + i, sizeof(digits) - i);
}


void
llmopt_xlate_raw(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d, int i)
{
    size_t  start, end;

    llmopt_json_value_span(&d->toks[i], &start, &end);
    llmopt_xlate_put(out, d->buf + start, end - start);
}


void
llmopt_xlate_quote(llmopt_xlate_out_t *out, const void *s, size_t n)
{
    size_t  need;

    need = llmopt_json_quote(NULL, s, n);

    if (out->len <= out->cap && need <= out->cap - out->len) {
        llmopt_json_quote(out->data + out->len, s, n);
    }

    out->len += need;
}


void
llmopt_xlate_unescape(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int i)
{
    size_t  need;

    need = llmopt_json_unescape(NULL, d->buf, &d->toks[i]);

    if (out->len <= out->cap && need <= out->cap - out->len) {
        llmopt_json_unescape(out->data + out->len, d->buf, &d->toks[i]);
    }

    out->len += need;
}


void
llmopt_xlate_sep(llmopt_xlate_out_t *out, int *first)
{
    if (*first) {
        *first = 0;
        return;
    }

    llmopt_xlate_lit(out, ",");
}


int
llmopt_xlate_member(const llmopt_xlate_doc_t *d, int obj, const char *key)
{
    int  i;

    if (obj < 0) {
        return -1;
    }

    i = llmopt_json_member(d->buf, d->toks, d->ntoks, (unsigned) obj, key,
                           strlen(key));

    if (i < 0 || llmopt_xlate_kind(d, i) == LLMOPT_JSON_NULL) {
        return -1;
    }

    return i;
}


int
llmopt_xlate_copy(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int obj, const char *key, const char *to)
{
    int  i;

    i = llmopt_xlate_member(d, obj, key);

    if (i >= 0) {
        llmopt_xlate_lit(out, ",\"");
        llmopt_xlate_put(out, to, strlen(to));
        llmopt_xlate_lit(out, "\":");
        llmopt_xlate_raw(out, d, i);
    }

    return i;
}


int
llmopt_xlate_is_data_url(const llmopt_xlate_doc_t *d, int i)
{
    return llmopt_xlate_kind(d, i) == LLMOPT_JSON_STRING
           && d->toks[i].end - d->toks[i].start >= 5
           && memcmp(d->buf + d->toks[i].start, "data:", 5) == 0;
}


llmopt_json_kind_e
llmopt_xlate_kind(const llmopt_xlate_doc_t *d, int i)
{
    if (i < 0 || (unsigned) i >= d->ntoks) {
        return LLMOPT_JSON_NONE;
    }

    return llmopt_json_kind(d->buf, &d->toks[i]);
}


int
llmopt_xlate_is(const llmopt_xlate_doc_t *d, int i, const char *s)
{
    if (llmopt_xlate_kind(d, i) != LLMOPT_JSON_STRING) {
        return 0;
    }

    return llmopt_json_str_eq(d->buf, &d->toks[i], s, strlen(s));
}


int
llmopt_xlate_next(const llmopt_xlate_doc_t *d, int i)
{
    return (int) llmopt_json_skip(d->toks, d->ntoks, (unsigned) i);
}


llmopt_xlate_stop_e
llmopt_xlate_stop_read(const llmopt_xlate_doc_t *d, int i)
{
    size_t                           start, end;
    const llmopt_xlate_stop_name_t  *s;

    if (llmopt_xlate_kind(d, i) != LLMOPT_JSON_STRING) {
        return LLMOPT_XLATE_STOP_NONE;
    }

    llmopt_json_value_span(&d->toks[i], &start, &end);

    for (s = llmopt_xlate_stops; s->name != NULL; s++) {
        if (strlen(s->name) == end - start
            && memcmp(s->name, d->buf + start, end - start) == 0)
        {
            return s->stop;
        }
    }

    /* a reason of the future: the answer ended normally */
    return LLMOPT_XLATE_STOP_END;
}


const char *
llmopt_xlate_stop_name(llmopt_dialect_e dl, llmopt_xlate_stop_e stop)
{
    switch (stop) {
    case LLMOPT_XLATE_STOP_NONE:
        return "null";
    case LLMOPT_XLATE_STOP_LENGTH:
        return dl == LLMOPT_DIALECT_OPENAI ? "\"length\"" : "\"max_tokens\"";
    case LLMOPT_XLATE_STOP_TOOL:
        return dl == LLMOPT_DIALECT_OPENAI ? "\"tool_calls\"" : "\"tool_use\"";
    case LLMOPT_XLATE_STOP_FILTER:
        return dl == LLMOPT_DIALECT_OPENAI ? "\"content_filter\""
                                           : "\"refusal\"";
    case LLMOPT_XLATE_STOP_SEQUENCE:
        return dl == LLMOPT_DIALECT_OPENAI ? "\"stop\"" : "\"stop_sequence\"";
    case LLMOPT_XLATE_STOP_PAUSE:
        return dl == LLMOPT_DIALECT_OPENAI ? "\"stop\"" : "\"pause_turn\"";
    default:
        return dl == LLMOPT_DIALECT_OPENAI ? "\"stop\"" : "\"end_turn\"";
    }
}


void
llmopt_xlate_usage_read(llmopt_dialect_e dl, const llmopt_xlate_doc_t *d,
    int obj, llmopt_xlate_usage_t *u)
{
    int      i, details;
    int64_t  v, input, read, write;

    if (llmopt_xlate_kind(d, obj) != LLMOPT_JSON_OBJECT) {
        return;
    }

    if (dl == LLMOPT_DIALECT_OPENAI) {
        i = llmopt_xlate_member(d, obj, "prompt_tokens");
        if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
            u->prompt = v;
        }

        i = llmopt_xlate_member(d, obj, "completion_tokens");
        if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
            u->output = v;
        }

        details = llmopt_xlate_member(d, obj, "prompt_tokens_details");
        i = llmopt_xlate_member(d, details, "cached_tokens");
        if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
            u->cache_read = v;
            u->has_cache = 1;
        }

        details = llmopt_xlate_member(d, obj, "completion_tokens_details");
        i = llmopt_xlate_member(d, details, "reasoning_tokens");
        if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
            u->reasoning = v;
        }

        return;
    }

    /* Anthropic's input_tokens leave out the cached ones */

    input = u->prompt - u->cache_read - u->cache_write;
    read = u->cache_read;
    write = u->cache_write;

    i = llmopt_xlate_member(d, obj, "input_tokens");
    if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
        input = v;
    }

    i = llmopt_xlate_member(d, obj, "cache_read_input_tokens");
    if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
        read = v;
        u->has_cache = 1;
    }

    i = llmopt_xlate_member(d, obj, "cache_creation_input_tokens");
    if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
        write = v;
        u->has_cache = 1;
    }

    i = llmopt_xlate_member(d, obj, "output_tokens");
    if (i >= 0 && llmopt_json_int(d->buf, &d->toks[i], &v) == LLMOPT_OK) {
        u->output = v;
    }

    u->cache_read = read;
    u->cache_write = write;
    u->prompt = input + read + write;
}


void
llmopt_xlate_usage_write(llmopt_dialect_e dl, llmopt_xlate_out_t *out,
    const llmopt_xlate_usage_t *u)
{
    if (dl == LLMOPT_DIALECT_OPENAI) {
        llmopt_xlate_lit(out, "{\"prompt_tokens\":");
        llmopt_xlate_int(out, u->prompt);
        llmopt_xlate_lit(out, ",\"completion_tokens\":");
        llmopt_xlate_int(out, u->output);
        llmopt_xlate_lit(out, ",\"total_tokens\":");
        llmopt_xlate_int(out, u->prompt + u->output);

        if (u->has_cache) {
            llmopt_xlate_lit(out, ",\"prompt_tokens_details\":"
                                  "{\"cached_tokens\":");
            llmopt_xlate_int(out, u->cache_read);
            llmopt_xlate_lit(out, "}");
        }

        llmopt_xlate_lit(out, "}");
        return;
    }

    llmopt_xlate_lit(out, "{\"input_tokens\":");
    llmopt_xlate_int(out, u->prompt - u->cache_read - u->cache_write);

    if (u->has_cache) {
        llmopt_xlate_lit(out, ",\"cache_creation_input_tokens\":");
        llmopt_xlate_int(out, u->cache_write);
        llmopt_xlate_lit(out, ",\"cache_read_input_tokens\":");
        llmopt_xlate_int(out, u->cache_read);
    }

    llmopt_xlate_lit(out, ",\"output_tokens\":");
    llmopt_xlate_int(out, u->output);
    llmopt_xlate_lit(out, "}");
}


static const char *
llmopt_xlate_error_type(llmopt_dialect_e dl, int status)
{
    int  oa;

    oa = (dl != LLMOPT_DIALECT_ANTHROPIC);     /* the Responses API too */

    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return oa ? "insufficient_quota" : "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return oa ? "invalid_request_error" : "request_too_large";
    case 429:
        return oa ? "rate_limit_exceeded" : "rate_limit_error";
    case 503:
    case 529:
        return oa ? "server_error" : "overloaded_error";
    default:
        if (status >= 500) {
            return oa ? "server_error" : "api_error";
        }

        return "invalid_request_error";
    }
}


void
llmopt_xlate_error_write(llmopt_dialect_e dl, llmopt_xlate_out_t *out,
    int status, const char *msg, size_t len, int msg_is_json)
{
    const char  *type;

    type = llmopt_xlate_error_type(dl, status);

    if (dl != LLMOPT_DIALECT_ANTHROPIC) {
        llmopt_xlate_lit(out, "{\"error\":{\"message\":");

    } else {
        llmopt_xlate_lit(out, "{\"type\":\"error\",\"error\":{\"type\":\"");
        llmopt_xlate_put(out, type, strlen(type));
        llmopt_xlate_lit(out, "\",\"message\":");
    }

    if (msg_is_json) {
        llmopt_xlate_put(out, msg, len);

    } else {
        llmopt_xlate_quote(out, msg, len);
    }

    if (dl != LLMOPT_DIALECT_ANTHROPIC) {
        llmopt_xlate_lit(out, ",\"type\":\"");
        llmopt_xlate_put(out, type, strlen(type));
        llmopt_xlate_lit(out, "\",\"param\":null,\"code\":null}}");
        return;
    }

    llmopt_xlate_lit(out, "}}");
}


int
llmopt_xlate_done(const llmopt_xlate_out_t *out)
{
    return out->len > out->cap ? LLMOPT_AGAIN : LLMOPT_OK;
}


void
llmopt_xlate_tool_call(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int block)
{
    size_t  start, end;

    llmopt_xlate_lit(out, "{\"id\":");
    llmopt_xlate_raw(out, d, llmopt_xlate_member(d, block, "id"));
    llmopt_xlate_lit(out, ",\"type\":\"function\",\"function\":{\"name\":");
    llmopt_xlate_raw(out, d, llmopt_xlate_member(d, block, "name"));
    llmopt_xlate_lit(out, ",\"arguments\":");
    llmopt_json_value_span(&d->toks[llmopt_xlate_member(d, block, "input")],
                           &start, &end);
    llmopt_xlate_quote(out, d->buf + start, end - start);
    llmopt_xlate_lit(out, "}}");
}
