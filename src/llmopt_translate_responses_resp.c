/*
 * Copyright (C) llmopt authors
 *
 * A non-streamed chat.completion or Anthropic message as a Responses API
 * response object: reasoning, message and function_call output items,
 * status and incomplete_details from the stop reason, usage in the
 * Responses shape (docs/TRANSLATION.md, "The Responses API").
 */


#include <string.h>

#include "llmopt_translate_write.h"


static void llmopt_xlate_rs_head(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_tail(llmopt_xlate_out_t *out,
    llmopt_xlate_stop_e stop, const llmopt_xlate_usage_t *u);
static void llmopt_xlate_rs_item_id(llmopt_xlate_out_t *out,
    const char *prefix, const llmopt_xlate_doc_t *d, unsigned n);
static void llmopt_xlate_rs_reasoning_item(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int text, unsigned n);
static void llmopt_xlate_rs_message_open(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, unsigned n);
static int llmopt_xlate_rs_from_oa(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err);
static int llmopt_xlate_rs_from_an(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err);
static int llmopt_xlate_rs_bad(llmopt_err_t *err, const char *what);


int
llmopt_xlate_rs_response(const llmopt_xlate_t *x, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    if (x->upstream == LLMOPT_DIALECT_OPENAI) {
        return llmopt_xlate_rs_from_oa(x, d, out, err);
    }

    return llmopt_xlate_rs_from_an(x, d, out, err);
}


static int
llmopt_xlate_rs_bad(llmopt_err_t *err, const char *what)
{
    llmopt_err_set(err, 502, 0, "the upstream's answer %s", what);
    err->type = "api_error";

    return LLMOPT_ERROR;
}


void
llmopt_xlate_rs_usage(llmopt_xlate_out_t *out, const llmopt_xlate_usage_t *u)
{
    llmopt_xlate_lit(out, "{\"input_tokens\":");
    llmopt_xlate_int(out, u->prompt);
    llmopt_xlate_lit(out, ",\"input_tokens_details\":{\"cached_tokens\":");
    llmopt_xlate_int(out, u->cache_read);
    llmopt_xlate_lit(out, "},\"output_tokens\":");
    llmopt_xlate_int(out, u->output);
    llmopt_xlate_lit(out, ",\"output_tokens_details\":"
                          "{\"reasoning_tokens\":");
    llmopt_xlate_int(out, u->reasoning);
    llmopt_xlate_lit(out, "},\"total_tokens\":");
    llmopt_xlate_int(out, u->prompt + u->output);
    llmopt_xlate_lit(out, "}");
}


/* the response object up to its output array, opened */

static void
llmopt_xlate_rs_head(const llmopt_xlate_t *x, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out)
{
    int  v;

    llmopt_xlate_lit(out, "{\"id\":");

    v = llmopt_xlate_member(d, 0, "id");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
        llmopt_xlate_raw(out, d, v);

    } else {
        llmopt_xlate_lit(out, "\"resp\"");
    }

    llmopt_xlate_lit(out, ",\"object\":\"response\",\"created_at\":");
    llmopt_xlate_int(out, x->created);
    llmopt_xlate_lit(out, ",\"model\":");

    v = llmopt_xlate_member(d, 0, "model");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
        llmopt_xlate_raw(out, d, v);

    } else {
        llmopt_xlate_lit(out, "\"\"");
    }

    llmopt_xlate_lit(out, ",\"output\":[");
}


/*
 * The output array closed, status and incomplete_details from the stop
 * reason, the usage: also the end of response.completed in a stream.
 */

static void
llmopt_xlate_rs_tail(llmopt_xlate_out_t *out, llmopt_xlate_stop_e stop,
    const llmopt_xlate_usage_t *u)
{
    llmopt_xlate_lit(out, "],");

    if (stop == LLMOPT_XLATE_STOP_LENGTH) {
        llmopt_xlate_lit(out, "\"status\":\"incomplete\","
                              "\"incomplete_details\":"
                              "{\"reason\":\"max_output_tokens\"}");

    } else if (stop == LLMOPT_XLATE_STOP_FILTER) {
        llmopt_xlate_lit(out, "\"status\":\"incomplete\","
                              "\"incomplete_details\":"
                              "{\"reason\":\"content_filter\"}");

    } else {
        llmopt_xlate_lit(out, "\"status\":\"completed\","
                              "\"incomplete_details\":null");
    }

    llmopt_xlate_lit(out, ",\"error\":null,\"usage\":");
    llmopt_xlate_rs_usage(out, u);
    llmopt_xlate_lit(out, "}");
}


/* "<prefix><the answer's id>_<n>": an output item's id */

static void
llmopt_xlate_rs_item_id(llmopt_xlate_out_t *out, const char *prefix,
    const llmopt_xlate_doc_t *d, unsigned n)
{
    int  v;

    llmopt_xlate_lit(out, "\"");
    llmopt_xlate_put(out, prefix, strlen(prefix));

    v = llmopt_xlate_member(d, 0, "id");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
        llmopt_xlate_put(out, d->buf + d->toks[v].start,
                         (size_t) (d->toks[v].end - d->toks[v].start));
    }

    llmopt_xlate_lit(out, "_");
    llmopt_xlate_int(out, n);
    llmopt_xlate_lit(out, "\"");
}


static void
llmopt_xlate_rs_reasoning_item(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int text, unsigned n)
{
    llmopt_xlate_lit(out, "{\"type\":\"reasoning\",\"id\":");
    llmopt_xlate_rs_item_id(out, "rs_", d, n);
    llmopt_xlate_lit(out, ",\"summary\":[],\"content\":[{\"type\":"
                          "\"reasoning_text\",\"text\":");
    llmopt_xlate_raw(out, d, text);
    llmopt_xlate_lit(out, "}]}");
}


/* a message item opened up to its content array */

static void
llmopt_xlate_rs_message_open(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, unsigned n)
{
    llmopt_xlate_lit(out, "{\"type\":\"message\",\"id\":");
    llmopt_xlate_rs_item_id(out, "msg_", d, n);
    llmopt_xlate_lit(out, ",\"status\":\"completed\",\"role\":\"assistant\","
                          "\"content\":[");
}


/*
 * chat.completion: reasoning_content a reasoning item, the content and a
 * refusal one message item, each tool call a function_call item.
 */

static int
llmopt_xlate_rs_from_oa(const llmopt_xlate_t *x, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    int                   i, k, n, choices, choice, msg, v, refusal, calls;
    int                   fn, first;
    unsigned              items;
    llmopt_xlate_stop_e   stop;
    llmopt_xlate_usage_t  u;

    choices = llmopt_xlate_member(d, 0, "choices");
    if (llmopt_xlate_kind(d, choices) != LLMOPT_JSON_ARRAY
        || d->toks[choices].size == 0)
    {
        return llmopt_xlate_rs_bad(err, "has no choices");
    }

    choice = choices + 1;
    msg = llmopt_xlate_member(d, choice, "message");
    if (llmopt_xlate_kind(d, msg) != LLMOPT_JSON_OBJECT) {
        return llmopt_xlate_rs_bad(err, "has no message");
    }

    llmopt_xlate_rs_head(x, d, out);
    first = 1;
    items = 0;

    v = llmopt_xlate_member(d, msg, "reasoning_content");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_rs_reasoning_item(out, d, v, items++);
    }

    v = llmopt_xlate_member(d, msg, "content");
    refusal = llmopt_xlate_member(d, msg, "refusal");

    if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING
        || d->toks[v].end == d->toks[v].start)
    {
        v = -1;
    }

    if (llmopt_xlate_kind(d, refusal) != LLMOPT_JSON_STRING) {
        refusal = -1;
    }

    if (v >= 0 || refusal >= 0) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_rs_message_open(out, d, items++);

        if (v >= 0) {
            llmopt_xlate_lit(out, "{\"type\":\"output_text\",\"text\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, ",\"annotations\":[]}");
        }

        if (refusal >= 0) {
            if (v >= 0) {
                llmopt_xlate_lit(out, ",");
            }

            llmopt_xlate_lit(out, "{\"type\":\"refusal\",\"refusal\":");
            llmopt_xlate_raw(out, d, refusal);
            llmopt_xlate_lit(out, "}");
        }

        llmopt_xlate_lit(out, "]}");
    }

    calls = llmopt_xlate_member(d, msg, "tool_calls");
    n = (llmopt_xlate_kind(d, calls) == LLMOPT_JSON_ARRAY)
        ? d->toks[calls].size : 0;

    for (k = 0, i = calls + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        fn = llmopt_xlate_member(d, i, "function");

        if (llmopt_xlate_kind(d, llmopt_xlate_member(d, fn, "name"))
            != LLMOPT_JSON_STRING
            || llmopt_xlate_kind(d, llmopt_xlate_member(d, i, "id"))
               != LLMOPT_JSON_STRING)
        {
            return llmopt_xlate_rs_bad(err, "has a tool call without id or "
                                       "name");
        }

        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "{\"type\":\"function_call\",\"id\":\"fc_");
        v = llmopt_xlate_member(d, i, "id");
        llmopt_xlate_put(out, d->buf + d->toks[v].start,
                         (size_t) (d->toks[v].end - d->toks[v].start));
        llmopt_xlate_lit(out, "\",\"call_id\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, ",\"name\":");
        llmopt_xlate_raw(out, d, llmopt_xlate_member(d, fn, "name"));
        llmopt_xlate_lit(out, ",\"arguments\":");

        v = llmopt_xlate_member(d, fn, "arguments");
        if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
            llmopt_xlate_raw(out, d, v);

        } else {
            llmopt_xlate_lit(out, "\"{}\"");
        }

        llmopt_xlate_lit(out, ",\"status\":\"completed\"}");
        items++;
    }

    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, choice,
                                                         "finish_reason"));

    memset(&u, 0, sizeof(u));
    llmopt_xlate_usage_read(LLMOPT_DIALECT_OPENAI, d,
                            llmopt_xlate_member(d, 0, "usage"), &u);
    llmopt_xlate_rs_tail(out, stop, &u);

    return LLMOPT_OK;
}


/*
 * Anthropic message: each thinking block a reasoning item, each text
 * block a message item, each tool_use a function_call item with its input
 * as the arguments string; the forced tool of JSON output a message item
 * with its input as the text.
 */

static int
llmopt_xlate_rs_from_an(const llmopt_xlate_t *x, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out, llmopt_err_t *err)
{
    int                   i, k, n, content, type, v, name, first, json;
    size_t                start, end;
    unsigned              items;
    llmopt_xlate_stop_e   stop;
    llmopt_xlate_usage_t  u;

    content = llmopt_xlate_member(d, 0, "content");
    if (llmopt_xlate_kind(d, content) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_rs_bad(err, "has no content");
    }

    llmopt_xlate_rs_head(x, d, out);
    n = d->toks[content].size;
    first = 1;
    items = 0;
    json = 0;

    for (k = 0, i = content + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        type = llmopt_xlate_member(d, i, "type");

        if (llmopt_xlate_is(d, type, "thinking")) {
            v = llmopt_xlate_member(d, i, "thinking");
            if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_rs_bad(err, "has a malformed thinking "
                                           "block");
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_rs_reasoning_item(out, d, v, items++);
            continue;
        }

        if (llmopt_xlate_is(d, type, "text")) {
            v = llmopt_xlate_member(d, i, "text");
            if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_rs_bad(err, "has a malformed text block");
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_rs_message_open(out, d, items++);
            llmopt_xlate_lit(out, "{\"type\":\"output_text\",\"text\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, ",\"annotations\":[]}]}");
            continue;
        }

        if (!llmopt_xlate_is(d, type, "tool_use")) {
            continue;               /* redacted_thinking, server tools */
        }

        name = llmopt_xlate_member(d, i, "name");
        v = llmopt_xlate_member(d, i, "input");

        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_OBJECT
            || llmopt_xlate_kind(d, name) != LLMOPT_JSON_STRING
            || llmopt_xlate_kind(d, llmopt_xlate_member(d, i, "id"))
               != LLMOPT_JSON_STRING)
        {
            return llmopt_xlate_rs_bad(err, "has a malformed tool_use");
        }

        llmopt_json_value_span(&d->toks[v], &start, &end);
        llmopt_xlate_sep(out, &first);

        if (x->json_tool
            && llmopt_json_str_eq(d->buf, &d->toks[name], x->json_tool_name,
                                  x->json_tool_len))
        {
            llmopt_xlate_rs_message_open(out, d, items++);
            llmopt_xlate_lit(out, "{\"type\":\"output_text\",\"text\":");
            llmopt_xlate_quote(out, d->buf + start, end - start);
            llmopt_xlate_lit(out, ",\"annotations\":[]}]}");
            json = 1;
            continue;
        }

        v = llmopt_xlate_member(d, i, "id");
        llmopt_xlate_lit(out, "{\"type\":\"function_call\",\"id\":\"fc_");
        llmopt_xlate_put(out, d->buf + d->toks[v].start,
                         (size_t) (d->toks[v].end - d->toks[v].start));
        llmopt_xlate_lit(out, "\",\"call_id\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, ",\"name\":");
        llmopt_xlate_raw(out, d, name);
        llmopt_xlate_lit(out, ",\"arguments\":");
        llmopt_xlate_quote(out, d->buf + start, end - start);
        llmopt_xlate_lit(out, ",\"status\":\"completed\"}");
        items++;
    }

    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, 0,
                                                         "stop_reason"));
    if (json && stop == LLMOPT_XLATE_STOP_TOOL) {
        stop = LLMOPT_XLATE_STOP_END;
    }

    memset(&u, 0, sizeof(u));
    llmopt_xlate_usage_read(LLMOPT_DIALECT_ANTHROPIC, d,
                            llmopt_xlate_member(d, 0, "usage"), &u);
    llmopt_xlate_rs_tail(out, stop, &u);

    return LLMOPT_OK;
}
