/*
 * Copyright (C) llmopt authors
 *
 * Non-streamed answers from the upstream's dialect into the client's:
 * chat.completion <-> message (content, tool calls, thinking, stop
 * reasons, usage), and error bodies with their status.
 */


#include <string.h>

#include "llmopt_translate_write.h"


static int llmopt_xlate_resp_oa_to_an(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err);
static int llmopt_xlate_resp_an_to_oa(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err);
static void llmopt_xlate_string(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int i);
static int llmopt_xlate_resp_bad(llmopt_err_t *err, const char *what);
static void llmopt_xlate_join(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int content, const char *type,
    const char *field);
static int llmopt_xlate_is_json_tool(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, int name);


int
llmopt_translate_response(const llmopt_xlate_t *x, const unsigned char *buf,
    size_t len, const llmopt_json_tok_t *toks, unsigned ntoks,
    llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    int                 rc;
    llmopt_xlate_doc_t  d;

    if (ntoks == 0 || toks[0].type != JSMN_OBJECT) {
        return llmopt_xlate_resp_bad(err, "is not a JSON object");
    }

    d.buf = buf;
    d.toks = toks;
    d.ntoks = ntoks;

    if (x->client == LLMOPT_DIALECT_RESPONSES) {
        rc = llmopt_xlate_rs_response(x, &d, out, err);

    } else if (x->upstream == LLMOPT_DIALECT_OPENAI) {
        rc = llmopt_xlate_resp_oa_to_an(x, &d, out, err);

    } else {
        rc = llmopt_xlate_resp_an_to_oa(x, &d, out, err);
    }

    if (rc != LLMOPT_OK) {
        return rc;
    }

    return llmopt_xlate_done(out);
}


static int
llmopt_xlate_resp_bad(llmopt_err_t *err, const char *what)
{
    llmopt_err_set(err, 502, 0, "the upstream's answer %s", what);
    err->type = "api_error";

    return LLMOPT_ERROR;
}


/* string token i, or "" when it is not a string */

static void
llmopt_xlate_string(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int i)
{
    if (llmopt_xlate_kind(d, i) == LLMOPT_JSON_STRING) {
        llmopt_xlate_raw(out, d, i);
        return;
    }

    llmopt_xlate_lit(out, "\"\"");
}


/* 1 if the string token name is the forced tool of JSON output */

static int
llmopt_xlate_is_json_tool(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, int name)
{
    return x->json_tool && llmopt_xlate_kind(d, name) == LLMOPT_JSON_STRING
           && llmopt_json_str_eq(d->buf, &d->toks[name], x->json_tool_name,
                                 x->json_tool_len);
}


/*
 * chat.completion -> message: reasoning_content is a thinking block, the
 * content a text block, a refusal a text block too, each tool call a
 * tool_use block with its arguments decoded.
 */

static int
llmopt_xlate_resp_oa_to_an(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    int                   i, k, n, choices, choice, msg, v, calls, fn;
    int                   first;
    size_t                at;
    unsigned              count;
    llmopt_err_t          e;
    llmopt_xlate_stop_e   stop;
    llmopt_xlate_usage_t  u;

    choices = llmopt_xlate_member(d, 0, "choices");
    if (llmopt_xlate_kind(d, choices) != LLMOPT_JSON_ARRAY
        || d->toks[choices].size == 0)
    {
        return llmopt_xlate_resp_bad(err, "has no choices");
    }

    choice = choices + 1;
    msg = llmopt_xlate_member(d, choice, "message");
    if (llmopt_xlate_kind(d, msg) != LLMOPT_JSON_OBJECT) {
        return llmopt_xlate_resp_bad(err, "has no message");
    }

    llmopt_xlate_lit(out, "{\"id\":");
    llmopt_xlate_string(out, d, llmopt_xlate_member(d, 0, "id"));

    llmopt_xlate_lit(out, ",\"type\":\"message\",\"role\":\"assistant\","
                          "\"model\":");
    llmopt_xlate_string(out, d, llmopt_xlate_member(d, 0, "model"));

    llmopt_xlate_lit(out, ",\"content\":[");
    first = 1;

    v = llmopt_xlate_member(d, msg, "reasoning_content");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "{\"type\":\"thinking\",\"thinking\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, ",\"signature\":\"\"}");
    }

    /* the content, then a refusal, each a text block */

    for (k = 0; k < 2; k++) {
        v = llmopt_xlate_member(d, msg, k == 0 ? "content" : "refusal");

        if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
            && d->toks[v].end > d->toks[v].start)
        {
            llmopt_xlate_sep(out, &first);
            llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "}");
        }
    }

    calls = llmopt_xlate_member(d, msg, "tool_calls");
    n = (llmopt_xlate_kind(d, calls) == LLMOPT_JSON_ARRAY)
        ? d->toks[calls].size : 0;

    for (k = 0, i = calls + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        fn = llmopt_xlate_member(d, i, "function");
        v = llmopt_xlate_member(d, fn, "name");

        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
            return llmopt_xlate_resp_bad(err, "has a tool call without name");
        }

        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "{\"type\":\"tool_use\",\"id\":");
        llmopt_xlate_string(out, d, llmopt_xlate_member(d, i, "id"));

        llmopt_xlate_lit(out, ",\"name\":");
        llmopt_xlate_raw(out, d, llmopt_xlate_member(d, fn, "name"));
        llmopt_xlate_lit(out, ",\"input\":");

        v = llmopt_xlate_member(d, fn, "arguments");
        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING
            || d->toks[v].start == d->toks[v].end)
        {
            llmopt_xlate_lit(out, "{}");

        } else {
            at = out->len;
            llmopt_xlate_unescape(out, d, v);

            if (out->len <= out->cap
                && llmopt_json_parse(out->data + at, out->len - at, NULL, 0,
                                     0, &count, &e) == LLMOPT_ERROR)
            {
                return llmopt_xlate_resp_bad(err, "has tool arguments that "
                                             "are not a JSON object");
            }
        }

        llmopt_xlate_lit(out, "}");
    }

    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, choice,
                                                         "finish_reason"));
    if (llmopt_xlate_kind(d, llmopt_xlate_member(d, msg, "refusal"))
        == LLMOPT_JSON_STRING)
    {
        stop = LLMOPT_XLATE_STOP_FILTER;
    }

    llmopt_xlate_lit(out, "],\"stop_reason\":");
    llmopt_xlate_put(out, llmopt_xlate_stop_name(LLMOPT_DIALECT_ANTHROPIC,
                                                 stop),
                     strlen(llmopt_xlate_stop_name(LLMOPT_DIALECT_ANTHROPIC,
                                                   stop)));
    llmopt_xlate_lit(out, ",\"stop_sequence\":null,\"usage\":");

    memset(&u, 0, sizeof(u));
    llmopt_xlate_usage_read(LLMOPT_DIALECT_OPENAI, d,
                            llmopt_xlate_member(d, 0, "usage"), &u);
    llmopt_xlate_usage_write(LLMOPT_DIALECT_ANTHROPIC, out, &u);
    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/* the field of every block of the type, joined into one JSON string */

static void
llmopt_xlate_join(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int content, const char *type, const char *field)
{
    int  i, k, n, v;

    llmopt_xlate_lit(out, "\"");
    n = d->toks[content].size;

    for (k = 0, i = content + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        v = llmopt_xlate_member(d, i, field);

        if (llmopt_xlate_is(d, llmopt_xlate_member(d, i, "type"), type)
            && llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING)
        {
            llmopt_xlate_put(out, d->buf + d->toks[v].start,
                             (size_t) (d->toks[v].end - d->toks[v].start));
        }
    }

    llmopt_xlate_lit(out, "\"");
}


/*
 * message -> chat.completion: text blocks joined into the content, thinking
 * blocks into reasoning_content, tool_use blocks as tool_calls (the input
 * quoted as arguments), or, for the forced tool of JSON output, its input
 * as the content.
 */

static int
llmopt_xlate_resp_an_to_oa(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    int                   i, k, n, content, type, v, first, ntext, nthink;
    int                   ntool, json;
    size_t                start, end;
    const char           *name;
    llmopt_xlate_stop_e   stop;
    llmopt_xlate_usage_t  u;

    content = llmopt_xlate_member(d, 0, "content");
    if (llmopt_xlate_kind(d, content) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_resp_bad(err, "has no content");
    }

    n = d->toks[content].size;
    ntext = 0;
    nthink = 0;
    ntool = 0;
    json = -1;

    for (k = 0, i = content + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        type = llmopt_xlate_member(d, i, "type");

        if (llmopt_xlate_is(d, type, "text")) {
            ntext++;

        } else if (llmopt_xlate_is(d, type, "thinking")) {
            nthink++;

        } else if (llmopt_xlate_is(d, type, "tool_use")) {
            if (llmopt_xlate_is_json_tool(x, d,
                                          llmopt_xlate_member(d, i, "name")))
            {
                json = llmopt_xlate_member(d, i, "input");

            } else {
                ntool++;
            }
        }
    }

    llmopt_xlate_lit(out, "{\"id\":");
    llmopt_xlate_string(out, d, llmopt_xlate_member(d, 0, "id"));

    llmopt_xlate_lit(out, ",\"object\":\"chat.completion\",\"created\":");
    llmopt_xlate_int(out, x->created);
    llmopt_xlate_lit(out, ",\"model\":");
    llmopt_xlate_string(out, d, llmopt_xlate_member(d, 0, "model"));

    llmopt_xlate_lit(out, ",\"choices\":[{\"index\":0,\"message\":"
                          "{\"role\":\"assistant\",\"content\":");

    if (json >= 0) {
        llmopt_json_value_span(&d->toks[json], &start, &end);
        llmopt_xlate_quote(out, d->buf + start, end - start);

    } else if (ntext == 0) {
        llmopt_xlate_lit(out, "null");

    } else {
        llmopt_xlate_join(out, d, content, "text", "text");
    }

    if (nthink > 0) {
        llmopt_xlate_lit(out, ",\"reasoning_content\":");
        llmopt_xlate_join(out, d, content, "thinking", "thinking");
    }

    if (ntool > 0) {
        llmopt_xlate_lit(out, ",\"tool_calls\":[");
        first = 1;

        for (k = 0, i = content + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
            if (!llmopt_xlate_is(d, llmopt_xlate_member(d, i, "type"),
                                 "tool_use")
                || llmopt_xlate_is_json_tool(x, d,
                                             llmopt_xlate_member(d, i, "name")))
            {
                continue;
            }

            v = llmopt_xlate_member(d, i, "input");
            if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_OBJECT
                || llmopt_xlate_kind(d, llmopt_xlate_member(d, i, "id"))
                   != LLMOPT_JSON_STRING
                || llmopt_xlate_kind(d, llmopt_xlate_member(d, i, "name"))
                   != LLMOPT_JSON_STRING)
            {
                return llmopt_xlate_resp_bad(err, "has a malformed tool_use");
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_tool_call(out, d, i);
        }

        llmopt_xlate_lit(out, "]");
    }

    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, 0,
                                                         "stop_reason"));
    if (json >= 0 && stop == LLMOPT_XLATE_STOP_TOOL) {
        stop = LLMOPT_XLATE_STOP_END;
    }

    name = llmopt_xlate_stop_name(LLMOPT_DIALECT_OPENAI, stop);

    llmopt_xlate_lit(out, "},\"logprobs\":null,\"finish_reason\":");
    llmopt_xlate_put(out, name, strlen(name));
    llmopt_xlate_lit(out, "}],\"usage\":");

    memset(&u, 0, sizeof(u));
    llmopt_xlate_usage_read(LLMOPT_DIALECT_ANTHROPIC, d,
                            llmopt_xlate_member(d, 0, "usage"), &u);
    llmopt_xlate_usage_write(LLMOPT_DIALECT_OPENAI, out, &u);
    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


int
llmopt_translate_error(const llmopt_xlate_t *x, int status,
    const unsigned char *buf, size_t len, const llmopt_json_tok_t *toks,
    unsigned ntoks, llmopt_xlate_out_t *out, int *client_status)
{
    int                 e, msg;
    size_t              start, end;
    llmopt_xlate_doc_t  d;
    static const char   unknown[] = "the upstream answered with an error";

    *client_status = status;

    if (x->client != LLMOPT_DIALECT_ANTHROPIC && status == 529) {
        *client_status = 503;
    }

    msg = -1;

    if (toks != NULL && ntoks > 0 && toks[0].type == JSMN_OBJECT) {
        d.buf = buf;
        d.toks = toks;
        d.ntoks = ntoks;

        /* both dialects: {"error":{"message":...}} */
        e = llmopt_xlate_member(&d, 0, "error");
        msg = llmopt_xlate_member(&d, e, "message");

        if (llmopt_xlate_kind(&d, msg) != LLMOPT_JSON_STRING) {
            msg = -1;
        }
    }

    if (msg < 0) {
        llmopt_xlate_error_write(x->client, out, *client_status, unknown,
                                 sizeof(unknown) - 1, 0);

    } else {
        llmopt_json_value_span(&toks[msg], &start, &end);
        llmopt_xlate_error_write(x->client, out, *client_status,
                                 (const char *) buf + start, end - start, 1);
    }

    return llmopt_xlate_done(out);
}


int
llmopt_translate_error_body(llmopt_dialect_e d, int status, const char *msg,
    size_t len, llmopt_xlate_out_t *out)
{
    llmopt_xlate_error_write(d, out, status, msg, len, 0);

    return llmopt_xlate_done(out);
}
