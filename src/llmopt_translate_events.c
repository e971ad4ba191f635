/*
 * Copyright (C) llmopt authors
 *
 * One complete upstream event into the client's events (the parser is
 * llmopt_translate_stream.c): message_start / content_block_* /
 * message_delta / message_stop <-> chat.completion.chunk, [DONE].
 */


#include <string.h>

#include "llmopt_translate_write.h"


static void llmopt_xlate_an_block_start(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
static void llmopt_xlate_an_block_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
static void llmopt_xlate_chunk_open(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_chunk_head(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_chunk_close(llmopt_xlate_out_t *out,
    const char *finish);
static void llmopt_xlate_chunk_end(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_oa_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, int delta, llmopt_xlate_out_t *out);
static int llmopt_xlate_oa_tool_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, int call, llmopt_xlate_out_t *out);
static void llmopt_xlate_event_open(llmopt_xlate_out_t *out,
    const char *name, size_t len);
#define llmopt_xlate_event(out, s)                                           \
    llmopt_xlate_event_open(out, s, sizeof(s) - 1)
static void llmopt_xlate_block_open(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, llmopt_xlate_block_e kind);
static void llmopt_xlate_block_close(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_delta_open(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);


/* the upstream's error event, its message kept (both dialects) */

void
llmopt_xlate_fail_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int     v;
    size_t  start, end;

    v = llmopt_xlate_member(d, llmopt_xlate_member(d, 0, "error"), "message");

    if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
        llmopt_xlate_fail_lit(st, out, "the upstream sent an error");
        return;
    }

    llmopt_json_value_span(&d->toks[v], &start, &end);
    llmopt_xlate_fail(st, out, (const char *) d->buf + start, end - start, 1);
}


/* a string token's raw bytes into dst (LLMOPT_XLATE_ID_MAX) */

int
llmopt_xlate_keep(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    int tok, char *dst, size_t *len)
{
    size_t  n;

    if (llmopt_xlate_kind(d, tok) != LLMOPT_JSON_STRING) {
        return LLMOPT_OK;
    }

    n = (size_t) (d->toks[tok].end - d->toks[tok].start);

    if (n > LLMOPT_XLATE_ID_MAX) {
        return LLMOPT_ERROR;
    }

    memcpy(dst, d->buf + d->toks[tok].start, n);
    *len = n;

    return LLMOPT_OK;
}


/* --- Anthropic upstream, any client -------------------------------------- */


int
llmopt_xlate_an_message_start(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int  msg;

    msg = llmopt_xlate_member(d, 0, "message");

    if (st->s.started
        || llmopt_xlate_keep(st, d, llmopt_xlate_member(d, msg, "id"),
                             st->s.id, &st->s.id_len) != LLMOPT_OK
        || llmopt_xlate_keep(st, d, llmopt_xlate_member(d, msg, "model"),
                             st->s.model, &st->s.model_len) != LLMOPT_OK)
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a bad "
                              "message_start");
        return LLMOPT_ERROR;
    }

    llmopt_xlate_usage_read(LLMOPT_DIALECT_ANTHROPIC, d,
                            llmopt_xlate_member(d, msg, "usage"),
                            &st->s.usage);

    return LLMOPT_OK;
}


llmopt_xlate_stop_e
llmopt_xlate_an_message_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d)
{
    int                   v;
    llmopt_xlate_stop_e   stop;

    v = llmopt_xlate_member(d, 0, "delta");
    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, v,
                                                         "stop_reason"));
    if (stop != LLMOPT_XLATE_STOP_NONE) {
        if (st->s.json_seen && stop == LLMOPT_XLATE_STOP_TOOL) {
            stop = LLMOPT_XLATE_STOP_END;
        }

        st->s.finish = stop;
        st->s.finished = 1;
    }

    llmopt_xlate_usage_read(LLMOPT_DIALECT_ANTHROPIC, d,
                            llmopt_xlate_member(d, 0, "usage"),
                            &st->s.usage);

    return stop;
}


llmopt_xlate_block_e
llmopt_xlate_an_block_read(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, int *v, int *name)
{
    int  cb, type;

    cb = llmopt_xlate_member(d, 0, "content_block");
    type = llmopt_xlate_member(d, cb, "type");

    if (llmopt_xlate_is(d, type, "text")) {
        *v = llmopt_xlate_member(d, cb, "text");
        return LLMOPT_XLATE_BLOCK_TEXT;
    }

    if (llmopt_xlate_is(d, type, "thinking")) {
        return LLMOPT_XLATE_BLOCK_THINKING;
    }

    if (llmopt_xlate_is(d, type, "redacted_thinking")) {
        return LLMOPT_XLATE_BLOCK_SKIP;
    }

    if (!llmopt_xlate_is(d, type, "tool_use")) {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a content block of "
                              "an unknown type");
        return LLMOPT_XLATE_BLOCK_NONE;
    }

    *name = llmopt_xlate_member(d, cb, "name");
    *v = llmopt_xlate_member(d, cb, "id");

    if (llmopt_xlate_kind(d, *name) != LLMOPT_JSON_STRING
        || llmopt_xlate_kind(d, *v) != LLMOPT_JSON_STRING)
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a tool_use block "
                              "without id or name");
        return LLMOPT_XLATE_BLOCK_NONE;
    }

    if (st->x.json_tool
        && llmopt_json_str_eq(d->buf, &d->toks[*name], st->x.json_tool_name,
                              st->x.json_tool_len))
    {
        st->s.json_seen = 1;
        return LLMOPT_XLATE_BLOCK_JSON;
    }

    return LLMOPT_XLATE_BLOCK_TOOL;
}


int
llmopt_xlate_an_delta(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out)
{
    int                    delta, type, v;
    llmopt_xlate_block_e   want;

    delta = llmopt_xlate_member(d, 0, "delta");
    type = llmopt_xlate_member(d, delta, "type");

    if (llmopt_xlate_is(d, type, "text_delta")) {
        v = llmopt_xlate_member(d, delta, "text");
        want = LLMOPT_XLATE_BLOCK_TEXT;

    } else if (llmopt_xlate_is(d, type, "thinking_delta")) {
        v = llmopt_xlate_member(d, delta, "thinking");
        want = LLMOPT_XLATE_BLOCK_THINKING;

    } else if (llmopt_xlate_is(d, type, "input_json_delta")) {
        v = llmopt_xlate_member(d, delta, "partial_json");
        want = (st->s.block == LLMOPT_XLATE_BLOCK_JSON)
               ? LLMOPT_XLATE_BLOCK_JSON : LLMOPT_XLATE_BLOCK_TOOL;

    } else if (llmopt_xlate_is(d, type, "signature_delta")
               || llmopt_xlate_is(d, type, "citations_delta"))
    {
        /* no counterpart in either OpenAI API */
        return -1;

    } else {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a delta of an "
                              "unknown type");
        return -1;
    }

    if (st->s.block == LLMOPT_XLATE_BLOCK_SKIP) {
        return -1;
    }

    if (st->s.block != want || llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING)
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a delta that does "
                              "not match its content block");
        return -1;
    }

    if (d->toks[v].end == d->toks[v].start) {
        return -1;
    }

    return v;
}


/* --- Anthropic upstream, OpenAI client ------------------------------------ */


void
llmopt_xlate_an_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int                   type;
    const char           *name;
    llmopt_xlate_stop_e   stop;

    type = llmopt_xlate_member(d, 0, "type");

    if (llmopt_xlate_is(d, type, "ping")) {
        return;
    }

    if (llmopt_xlate_is(d, type, "error")) {
        llmopt_xlate_fail_upstream(st, d, out);
        return;
    }

    if (llmopt_xlate_is(d, type, "message_start")) {
        if (llmopt_xlate_an_message_start(st, d, out) != LLMOPT_OK) {
            return;
        }

        st->s.started = 1;

        llmopt_xlate_chunk_open(st, out);
        llmopt_xlate_lit(out, "{\"role\":\"assistant\",\"content\":\"\"}");
        llmopt_xlate_chunk_close(out, "null");
        return;
    }

    if (!st->s.started) {
        llmopt_xlate_fail_lit(st, out, "the upstream's stream does not start "
                              "with message_start");
        return;
    }

    if (llmopt_xlate_is(d, type, "content_block_start")) {
        llmopt_xlate_an_block_start(st, d, out);
        return;
    }

    if (llmopt_xlate_is(d, type, "content_block_delta")) {
        llmopt_xlate_an_block_delta(st, d, out);
        return;
    }

    if (llmopt_xlate_is(d, type, "content_block_stop")) {
        st->s.block = LLMOPT_XLATE_BLOCK_NONE;
        return;
    }

    if (llmopt_xlate_is(d, type, "message_delta")) {
        stop = llmopt_xlate_an_message_delta(st, d);

        if (stop != LLMOPT_XLATE_STOP_NONE) {
            name = llmopt_xlate_stop_name(LLMOPT_DIALECT_OPENAI, stop);
            llmopt_xlate_chunk_open(st, out);
            llmopt_xlate_lit(out, "{}");
            llmopt_xlate_chunk_close(out, name);
        }

        return;
    }

    if (llmopt_xlate_is(d, type, "message_stop")) {
        llmopt_xlate_chunk_end(st, out);
        return;
    }

    llmopt_xlate_fail_lit(st, out, "the upstream sent an event of an unknown "
                          "type");
}


static void
llmopt_xlate_an_block_start(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int                    v, name;
    llmopt_xlate_block_e   block;

    block = llmopt_xlate_an_block_read(st, d, out, &v, &name);

    if (block == LLMOPT_XLATE_BLOCK_NONE) {
        return;
    }

    if (block != LLMOPT_XLATE_BLOCK_TOOL) {
        st->s.block = block;

        if (block == LLMOPT_XLATE_BLOCK_TEXT
            && llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
            && d->toks[v].end > d->toks[v].start)
        {
            llmopt_xlate_chunk_open(st, out);
            llmopt_xlate_lit(out, "{\"content\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "}");
            llmopt_xlate_chunk_close(out, "null");
        }

        return;
    }

    st->s.block = LLMOPT_XLATE_BLOCK_TOOL;
    st->s.tool++;

    llmopt_xlate_chunk_open(st, out);
    llmopt_xlate_lit(out, "{\"tool_calls\":[{\"index\":");
    llmopt_xlate_int(out, st->s.tool);
    llmopt_xlate_lit(out, ",\"id\":");
    llmopt_xlate_raw(out, d, v);
    llmopt_xlate_lit(out, ",\"type\":\"function\",\"function\":{\"name\":");
    llmopt_xlate_raw(out, d, name);
    llmopt_xlate_lit(out, ",\"arguments\":\"\"}}]}");
    llmopt_xlate_chunk_close(out, "null");
}


static void
llmopt_xlate_an_block_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int  v;

    v = llmopt_xlate_an_delta(st, d, out);
    if (v < 0) {
        return;
    }

    llmopt_xlate_chunk_open(st, out);

    switch (st->s.block) {
    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_lit(out, "{\"reasoning_content\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}");
        break;

    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_lit(out, "{\"tool_calls\":[{\"index\":");
        llmopt_xlate_int(out, st->s.tool);
        llmopt_xlate_lit(out, ",\"function\":{\"arguments\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}}]}");
        break;

    default:
        /* text, and the JSON output's partial JSON as text */
        llmopt_xlate_lit(out, "{\"content\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}");
    }

    llmopt_xlate_chunk_close(out, "null");
}


/* data: {"id":...,"choices":[{"index":0,"delta":  ...the delta... */

static void
llmopt_xlate_chunk_open(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    llmopt_xlate_chunk_head(st, out);
    llmopt_xlate_lit(out, "[{\"index\":0,\"delta\":");
}


/* data: {"id":...,"model":...,"choices": */

static void
llmopt_xlate_chunk_head(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    llmopt_xlate_lit(out, "data: {\"id\":\"");
    llmopt_xlate_put(out, st->s.id, st->s.id_len);
    llmopt_xlate_lit(out, "\",\"object\":\"chat.completion.chunk\","
                          "\"created\":");
    llmopt_xlate_int(out, st->x.created);
    llmopt_xlate_lit(out, ",\"model\":\"");
    llmopt_xlate_put(out, st->s.model, st->s.model_len);
    llmopt_xlate_lit(out, "\",\"choices\":");
}


static void
llmopt_xlate_chunk_close(llmopt_xlate_out_t *out, const char *finish)
{
    llmopt_xlate_lit(out, ",\"logprobs\":null,\"finish_reason\":");
    llmopt_xlate_put(out, finish, strlen(finish));
    llmopt_xlate_lit(out, "}]}\n\n");
}


/* message_stop: the usage chunk if the client asked for it, [DONE] */

static void
llmopt_xlate_chunk_end(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    if (st->x.include_usage) {
        llmopt_xlate_chunk_head(st, out);
        llmopt_xlate_lit(out, "[],\"usage\":");
        llmopt_xlate_usage_write(LLMOPT_DIALECT_OPENAI, out, &st->s.usage);
        llmopt_xlate_lit(out, "}\n\n");
    }

    llmopt_xlate_lit(out, "data: [DONE]\n\n");
    st->s.stopped = 1;
}


/* --- OpenAI upstream, any client ----------------------------------------- */


int
llmopt_xlate_oa_chunk(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out)
{
    int  choices;

    if (llmopt_xlate_member(d, 0, "error") >= 0) {
        llmopt_xlate_fail_upstream(st, d, out);
        return -1;
    }

    if (!st->s.started
        && (llmopt_xlate_keep(st, d, llmopt_xlate_member(d, 0, "id"),
                              st->s.id, &st->s.id_len) != LLMOPT_OK
            || llmopt_xlate_keep(st, d, llmopt_xlate_member(d, 0, "model"),
                                 st->s.model, &st->s.model_len) != LLMOPT_OK))
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a chunk with a "
                              "bad id or model");
        return -1;
    }

    llmopt_xlate_usage_read(LLMOPT_DIALECT_OPENAI, d,
                            llmopt_xlate_member(d, 0, "usage"),
                            &st->s.usage);

    choices = llmopt_xlate_member(d, 0, "choices");
    if (llmopt_xlate_kind(d, choices) != LLMOPT_JSON_ARRAY
        || d->toks[choices].size == 0)
    {
        return -1;
    }

    return choices + 1;
}


/* --- OpenAI upstream, Anthropic client ------------------------------------ */


void
llmopt_xlate_oa_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int                   v, first, choice;
    llmopt_xlate_stop_e   stop;

    first = !st->s.started;
    choice = llmopt_xlate_oa_chunk(st, d, out);

    if (st->s.failed) {
        return;
    }

    if (first) {
        st->s.started = 1;

        llmopt_xlate_event(out, "message_start");
        llmopt_xlate_lit(out, "{\"type\":\"message_start\",\"message\":"
                              "{\"id\":\"");
        llmopt_xlate_put(out, st->s.id, st->s.id_len);
        llmopt_xlate_lit(out, "\",\"type\":\"message\",\"role\":\"assistant\","
                              "\"model\":\"");
        llmopt_xlate_put(out, st->s.model, st->s.model_len);
        llmopt_xlate_lit(out, "\",\"content\":[],\"stop_reason\":null,"
                              "\"stop_sequence\":null,\"usage\":"
                              "{\"input_tokens\":0,\"output_tokens\":0}}}"
                              "\n\n");
    }

    if (choice < 0) {
        return;
    }

    v = llmopt_xlate_member(d, choice, "delta");
    if (v >= 0) {
        llmopt_xlate_oa_delta(st, d, v, out);

        if (st->s.failed) {
            return;
        }
    }

    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, choice,
                                                         "finish_reason"));
    if (stop != LLMOPT_XLATE_STOP_NONE) {
        st->s.finish = stop;
        st->s.finished = 1;
        llmopt_xlate_block_close(st, out);
    }
}


static void
llmopt_xlate_oa_delta(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    int delta, llmopt_xlate_out_t *out)
{
    int  v, k, n, i;

    v = llmopt_xlate_member(d, delta, "reasoning_content");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
        && d->toks[v].end > d->toks[v].start)
    {
        llmopt_xlate_block_open(st, out, LLMOPT_XLATE_BLOCK_THINKING);
        llmopt_xlate_delta_open(st, out);
        llmopt_xlate_lit(out, "{\"type\":\"thinking_delta\",\"thinking\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}}\n\n");
    }

    for (k = 0; k < 2; k++) {
        v = llmopt_xlate_member(d, delta, k == 0 ? "content" : "refusal");

        if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
            && d->toks[v].end > d->toks[v].start)
        {
            llmopt_xlate_block_open(st, out, LLMOPT_XLATE_BLOCK_TEXT);
            llmopt_xlate_delta_open(st, out);
            llmopt_xlate_lit(out, "{\"type\":\"text_delta\",\"text\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "}}\n\n");
        }
    }

    v = llmopt_xlate_member(d, delta, "tool_calls");
    if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_ARRAY) {
        return;
    }

    n = d->toks[v].size;

    for (k = 0, i = v + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        if (llmopt_xlate_oa_tool_delta(st, d, i, out) != LLMOPT_OK) {
            return;
        }
    }
}


int
llmopt_xlate_oa_call(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    int call, llmopt_xlate_out_t *out, int *fn, int *id, int *name)
{
    int      v;
    int64_t  index;

    v = llmopt_xlate_member(d, call, "index");
    *fn = llmopt_xlate_member(d, call, "function");

    if (v < 0 || llmopt_json_int(d->buf, &d->toks[v], &index) != LLMOPT_OK
        || index < st->s.tool || index > 1 << 20)
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a tool call delta "
                              "out of order");
        return LLMOPT_ERROR;
    }

    if (index == st->s.tool && st->s.block == LLMOPT_XLATE_BLOCK_TOOL) {
        return LLMOPT_DECLINED;
    }

    *id = llmopt_xlate_member(d, call, "id");
    *name = llmopt_xlate_member(d, *fn, "name");

    if (index == st->s.tool
        || llmopt_xlate_kind(d, *id) != LLMOPT_JSON_STRING
        || llmopt_xlate_kind(d, *name) != LLMOPT_JSON_STRING)
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a tool call "
                              "without id or name");
        return LLMOPT_ERROR;
    }

    st->s.tool = (int) index;

    return LLMOPT_OK;
}


/* one entry of a delta's tool_calls: a new call opens a tool_use block */

static int
llmopt_xlate_oa_tool_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, int call, llmopt_xlate_out_t *out)
{
    int  v, rc, fn, id, name;

    rc = llmopt_xlate_oa_call(st, d, call, out, &fn, &id, &name);

    if (rc == LLMOPT_ERROR) {
        return LLMOPT_ERROR;
    }

    if (rc == LLMOPT_OK) {

        llmopt_xlate_block_open(st, out, LLMOPT_XLATE_BLOCK_TOOL);

        llmopt_xlate_lit(out, "{\"type\":\"tool_use\",\"id\":");
        llmopt_xlate_raw(out, d, id);
        llmopt_xlate_lit(out, ",\"name\":");
        llmopt_xlate_raw(out, d, name);
        llmopt_xlate_lit(out, ",\"input\":{}}}\n\n");
    }

    v = llmopt_xlate_member(d, fn, "arguments");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
        && d->toks[v].end > d->toks[v].start)
    {
        llmopt_xlate_delta_open(st, out);
        llmopt_xlate_lit(out, "{\"type\":\"input_json_delta\","
                              "\"partial_json\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}}\n\n");
    }

    return LLMOPT_OK;
}


static void
llmopt_xlate_event_open(llmopt_xlate_out_t *out, const char *name,
    size_t len)
{
    llmopt_xlate_lit(out, "event: ");
    llmopt_xlate_put(out, name, len);
    llmopt_xlate_lit(out, "\ndata: ");
}


/*
 * Makes kind the open block: closes another one and starts this one; the
 * tool_use block's start is left open for the caller to complete.
 */

static void
llmopt_xlate_block_open(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    llmopt_xlate_block_e kind)
{
    if (st->s.block == kind && kind != LLMOPT_XLATE_BLOCK_TOOL) {
        return;
    }

    llmopt_xlate_block_close(st, out);

    st->s.block = kind;
    st->s.n_blocks++;

    llmopt_xlate_event(out, "content_block_start");
    llmopt_xlate_lit(out, "{\"type\":\"content_block_start\",\"index\":");
    llmopt_xlate_int(out, st->s.n_blocks - 1);
    llmopt_xlate_lit(out, ",\"content_block\":");

    if (kind == LLMOPT_XLATE_BLOCK_TEXT) {
        llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":\"\"}}\n\n");

    } else if (kind == LLMOPT_XLATE_BLOCK_THINKING) {
        llmopt_xlate_lit(out, "{\"type\":\"thinking\",\"thinking\":\"\","
                              "\"signature\":\"\"}}\n\n");
    }
}


static void
llmopt_xlate_block_close(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    if (st->s.block == LLMOPT_XLATE_BLOCK_NONE) {
        return;
    }

    llmopt_xlate_event(out, "content_block_stop");
    llmopt_xlate_lit(out, "{\"type\":\"content_block_stop\",\"index\":");
    llmopt_xlate_int(out, st->s.n_blocks - 1);
    llmopt_xlate_lit(out, "}\n\n");

    st->s.block = LLMOPT_XLATE_BLOCK_NONE;
}


static void
llmopt_xlate_delta_open(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    llmopt_xlate_event(out, "content_block_delta");
    llmopt_xlate_lit(out, "{\"type\":\"content_block_delta\",\"index\":");
    llmopt_xlate_int(out, st->s.n_blocks - 1);
    llmopt_xlate_lit(out, ",\"delta\":");
}


/* [DONE]: the open block closed, message_delta with usage, message_stop */

void
llmopt_xlate_message_end(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    const char  *name;

    llmopt_xlate_block_close(st, out);

    name = llmopt_xlate_stop_name(LLMOPT_DIALECT_ANTHROPIC,
                                  st->s.finished ? st->s.finish
                                                 : LLMOPT_XLATE_STOP_END);

    llmopt_xlate_event(out, "message_delta");
    llmopt_xlate_lit(out, "{\"type\":\"message_delta\",\"delta\":"
                          "{\"stop_reason\":");
    llmopt_xlate_put(out, name, strlen(name));
    llmopt_xlate_lit(out, ",\"stop_sequence\":null},\"usage\":");
    llmopt_xlate_usage_write(LLMOPT_DIALECT_ANTHROPIC, out, &st->s.usage);
    llmopt_xlate_lit(out, "}\n\n");

    llmopt_xlate_event(out, "message_stop");
    llmopt_xlate_lit(out, "{\"type\":\"message_stop\"}\n\n");

    st->s.stopped = 1;
}
