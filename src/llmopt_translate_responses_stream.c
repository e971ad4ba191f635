/*
 * Copyright (C) llmopt authors
 *
 * One complete upstream event (chat.completion.chunk or Anthropic
 * message_start / content_block_* / message_delta / message_stop) into the
 * Responses API's response.* events, each "event: <type>" with a data
 * object carrying its type and sequence_number.  The SSE parser and the
 * bound are llmopt_translate_stream.c's; the state is the fixed
 * llmopt_xlate_sstate_t and the output items kept in the buffer the caller
 * lends (llmopt_xlate_stream_keep()), which the .done events and
 * response.completed repeat.
 */


#include <string.h>

#include "llmopt_translate_write.h"


static void llmopt_xlate_rs_event(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, const char *type, size_t len);
#define llmopt_xlate_rs_ev(st, out, s)                                       \
    llmopt_xlate_rs_event(st, out, s, sizeof(s) - 1)
static void llmopt_xlate_rs_response_obj(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, const char *status);
static void llmopt_xlate_rs_start(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_item_ref(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_id(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_item(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, const char *status);
static void llmopt_xlate_rs_kept(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, size_t from);
static void llmopt_xlate_rs_keep_commit(llmopt_xlate_stream_t *st,
    const llmopt_xlate_out_t *k);
static void llmopt_xlate_rs_open(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, llmopt_xlate_block_e kind);
static void llmopt_xlate_rs_close(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_delta(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d, int v);
static void llmopt_xlate_rs_oa(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
static int llmopt_xlate_rs_oa_call(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, int call, llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_an(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_an_start(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
static void llmopt_xlate_rs_an_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);


void
llmopt_xlate_stream_keep(llmopt_xlate_stream_t *st, unsigned char *keep,
    size_t cap)
{
    st->keep = keep;
    st->keep_cap = cap;
}


void
llmopt_xlate_rs_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    if (st->x.upstream == LLMOPT_DIALECT_OPENAI) {
        llmopt_xlate_rs_oa(st, d, out);

    } else {
        llmopt_xlate_rs_an(st, d, out);
    }
}


/* "event: <type>\ndata: {"type":"<type>","sequence_number":N": open */

static void
llmopt_xlate_rs_event(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const char *type, size_t len)
{
    llmopt_xlate_lit(out, "event: ");
    llmopt_xlate_put(out, type, len);
    llmopt_xlate_lit(out, "\ndata: {\"type\":\"");
    llmopt_xlate_put(out, type, len);
    llmopt_xlate_lit(out, "\",\"sequence_number\":");
    llmopt_xlate_int(out, st->s.seq++);
}


/* the response object of created, in_progress and the end events */

static void
llmopt_xlate_rs_response_obj(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out, const char *status)
{
    llmopt_xlate_lit(out, ",\"response\":{\"id\":\"");
    llmopt_xlate_put(out, st->s.id, st->s.id_len);
    llmopt_xlate_lit(out, "\",\"object\":\"response\",\"created_at\":");
    llmopt_xlate_int(out, st->x.created);
    llmopt_xlate_lit(out, ",\"model\":\"");
    llmopt_xlate_put(out, st->s.model, st->s.model_len);
    llmopt_xlate_lit(out, "\",\"status\":\"");
    llmopt_xlate_put(out, status, strlen(status));

    if (strcmp(status, "in_progress") == 0) {
        llmopt_xlate_lit(out, "\",\"output\":[],\"error\":null,"
                              "\"incomplete_details\":null,"
                              "\"usage\":null}}\n\n");
        return;
    }

    llmopt_xlate_lit(out, "\",\"output\":[");
    llmopt_xlate_rs_kept(st, out, 0);
    llmopt_xlate_lit(out, "],\"error\":null");

    if (st->s.finish == LLMOPT_XLATE_STOP_LENGTH) {
        llmopt_xlate_lit(out, ",\"incomplete_details\":"
                              "{\"reason\":\"max_output_tokens\"}");

    } else if (st->s.finish == LLMOPT_XLATE_STOP_FILTER) {
        llmopt_xlate_lit(out, ",\"incomplete_details\":"
                              "{\"reason\":\"content_filter\"}");

    } else {
        llmopt_xlate_lit(out, ",\"incomplete_details\":null");
    }

    llmopt_xlate_lit(out, ",\"usage\":");
    llmopt_xlate_rs_usage(out, &st->s.usage);
    llmopt_xlate_lit(out, "}}\n\n");
}


static void
llmopt_xlate_rs_start(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    st->s.started = 1;

    llmopt_xlate_rs_ev(st, out, "response.created");
    llmopt_xlate_rs_response_obj(st, out, "in_progress");
    llmopt_xlate_rs_ev(st, out, "response.in_progress");
    llmopt_xlate_rs_response_obj(st, out, "in_progress");
}


/* the open item's id: msg_/rs_<response id>_<index>, fc_<call id> */

static void
llmopt_xlate_rs_id(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    switch (st->s.block) {

    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_lit(out, "\"fc_");
        llmopt_xlate_put(out, st->s.call, st->s.call_len);
        llmopt_xlate_lit(out, "\"");
        return;

    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_lit(out, "\"rs_");
        break;

    default:
        llmopt_xlate_lit(out, "\"msg_");
        break;
    }

    llmopt_xlate_put(out, st->s.id, st->s.id_len);
    llmopt_xlate_lit(out, "_");
    llmopt_xlate_int(out, st->s.n_items - 1);
    llmopt_xlate_lit(out, "\"");
}


/* ,"item_id":...,"output_index":N */

static void
llmopt_xlate_rs_item_ref(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    llmopt_xlate_lit(out, ",\"item_id\":");
    llmopt_xlate_rs_id(st, out);
    llmopt_xlate_lit(out, ",\"output_index\":");
    llmopt_xlate_int(out, st->s.n_items - 1);
}


/* ,"output_index":N,"item":{...} of the open item, its text left out */

static void
llmopt_xlate_rs_item(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const char *status)
{
    llmopt_xlate_lit(out, ",\"output_index\":");
    llmopt_xlate_int(out, st->s.n_items - 1);

    switch (st->s.block) {

    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_lit(out, ",\"item\":{\"type\":\"function_call\",\"id\":");
        llmopt_xlate_rs_id(st, out);
        llmopt_xlate_lit(out, ",\"call_id\":\"");
        llmopt_xlate_put(out, st->s.call, st->s.call_len);
        llmopt_xlate_lit(out, "\",\"name\":\"");
        llmopt_xlate_put(out, st->s.name, st->s.name_len);
        llmopt_xlate_lit(out, "\",\"arguments\":\"\",\"status\":\"");
        llmopt_xlate_put(out, status, strlen(status));
        llmopt_xlate_lit(out, "\"}}\n\n");
        return;

    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_lit(out, ",\"item\":{\"type\":\"reasoning\",\"id\":");
        llmopt_xlate_rs_id(st, out);
        llmopt_xlate_lit(out, ",\"summary\":[],\"content\":[{\"type\":"
                              "\"reasoning_text\",\"text\":\"\"}]}}\n\n");
        return;

    default:
        llmopt_xlate_lit(out, ",\"item\":{\"type\":\"message\",\"id\":");
        llmopt_xlate_rs_id(st, out);
        llmopt_xlate_lit(out, ",\"status\":\"");
        llmopt_xlate_put(out, status, strlen(status));
        llmopt_xlate_lit(out, "\",\"role\":\"assistant\",\"content\":");

        if (strcmp(status, "in_progress") == 0) {
            llmopt_xlate_lit(out, "[]}}\n\n");

        } else {
            llmopt_xlate_lit(out, "[{\"type\":\"output_text\",\"text\":\"\","
                                  "\"annotations\":[]}]}}\n\n");
        }

        return;
    }
}


/*
 * Makes kind the open output item: the one open is done first, then
 * output_item.added (and content_part.added for a message).  A function
 * call's call id and name are in st->s.call and st->s.name already.
 */

static void
llmopt_xlate_rs_open(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    llmopt_xlate_block_e kind)
{
    llmopt_xlate_out_t  k;

    if (st->s.block == kind && kind != LLMOPT_XLATE_BLOCK_TOOL) {
        return;
    }

    llmopt_xlate_rs_close(st, out);

    st->s.block = kind;
    st->s.n_items++;

    llmopt_xlate_rs_ev(st, out, "response.output_item.added");
    llmopt_xlate_rs_item(st, out, "in_progress");

    /* the item as response.completed will list it, up to its text */

    k.data = st->keep;
    k.len = st->s.keep_len;
    k.cap = st->keep_cap;

    if (k.len > 0) {
        llmopt_xlate_lit(&k, ",");
    }

    st->s.item_at = k.len;

    switch (kind) {

    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_lit(&k, "{\"type\":\"function_call\",\"id\":");
        llmopt_xlate_rs_id(st, &k);
        llmopt_xlate_lit(&k, ",\"call_id\":\"");
        llmopt_xlate_put(&k, st->s.call, st->s.call_len);
        llmopt_xlate_lit(&k, "\",\"name\":\"");
        llmopt_xlate_put(&k, st->s.name, st->s.name_len);
        llmopt_xlate_lit(&k, "\",\"arguments\":\"");
        break;

    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_lit(&k, "{\"type\":\"reasoning\",\"id\":");
        llmopt_xlate_rs_id(st, &k);
        llmopt_xlate_lit(&k, ",\"summary\":[],\"content\":[{\"type\":"
                             "\"reasoning_text\",\"text\":\"");
        break;

    default:
        llmopt_xlate_lit(&k, "{\"type\":\"message\",\"id\":");
        llmopt_xlate_rs_id(st, &k);
        llmopt_xlate_lit(&k, ",\"status\":\"completed\",\"role\":"
                             "\"assistant\",\"content\":[{\"type\":"
                             "\"output_text\",\"text\":\"");
        break;
    }

    st->s.text_at = k.len;
    llmopt_xlate_rs_keep_commit(st, &k);

    if (kind == LLMOPT_XLATE_BLOCK_TEXT || kind == LLMOPT_XLATE_BLOCK_JSON) {
        llmopt_xlate_rs_ev(st, out, "response.content_part.added");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"content_index\":0,\"part\":{\"type\":"
                              "\"output_text\",\"text\":\"\","
                              "\"annotations\":[]}}\n\n");
    }
}


/* the kept bytes from from on (the open item's text, an item, all) */

static void
llmopt_xlate_rs_kept(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    size_t from)
{
    if (!st->s.keep_lost && st->keep != NULL) {
        llmopt_xlate_put(out, st->keep + from, st->s.keep_len - from);
    }
}


/* what was written to the keep k stays, or the keep is lost for good */

static void
llmopt_xlate_rs_keep_commit(llmopt_xlate_stream_t *st,
    const llmopt_xlate_out_t *k)
{
    if (st->keep == NULL || k->len > k->cap) {
        st->s.keep_lost = 1;
        return;
    }

    if (!st->s.keep_lost) {
        st->s.keep_len = k->len;
    }
}


/* the open item's .done events with its kept text, output_item.done last */

static void
llmopt_xlate_rs_close(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    llmopt_xlate_out_t  k;

    switch (st->s.block) {

    case LLMOPT_XLATE_BLOCK_TEXT:
    case LLMOPT_XLATE_BLOCK_JSON:
        llmopt_xlate_rs_ev(st, out, "response.output_text.done");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"content_index\":0,\"text\":\"");
        llmopt_xlate_rs_kept(st, out, st->s.text_at);
        llmopt_xlate_lit(out, "\",\"logprobs\":[]}\n\n");
        llmopt_xlate_rs_ev(st, out, "response.content_part.done");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"content_index\":0,\"part\":{\"type\":"
                              "\"output_text\",\"text\":\"");
        llmopt_xlate_rs_kept(st, out, st->s.text_at);
        llmopt_xlate_lit(out, "\",\"annotations\":[]}}\n\n");
        break;

    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_rs_ev(st, out, "response.reasoning_text.done");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"content_index\":0,\"text\":\"");
        llmopt_xlate_rs_kept(st, out, st->s.text_at);
        llmopt_xlate_lit(out, "\"}\n\n");
        break;

    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_rs_ev(st, out, "response.function_call_arguments.done");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"name\":\"");
        llmopt_xlate_put(out, st->s.name, st->s.name_len);
        llmopt_xlate_lit(out, "\",\"arguments\":\"");
        llmopt_xlate_rs_kept(st, out, st->s.text_at);
        llmopt_xlate_lit(out, "\"}\n\n");
        break;

    default:
        st->s.block = LLMOPT_XLATE_BLOCK_NONE;
        return;
    }

    k.data = st->keep;
    k.len = st->s.keep_len;
    k.cap = st->keep_cap;

    switch (st->s.block) {
    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_lit(&k, "\",\"status\":\"completed\"}");
        break;
    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_lit(&k, "\"}]}");
        break;
    default:
        llmopt_xlate_lit(&k, "\",\"annotations\":[]}]}");
        break;
    }

    llmopt_xlate_rs_keep_commit(st, &k);

    llmopt_xlate_rs_ev(st, out, "response.output_item.done");

    if (st->s.keep_lost) {
        llmopt_xlate_rs_item(st, out, "completed");

    } else {
        llmopt_xlate_lit(out, ",\"output_index\":");
        llmopt_xlate_int(out, st->s.n_items - 1);
        llmopt_xlate_lit(out, ",\"item\":");
        llmopt_xlate_rs_kept(st, out, st->s.item_at);
        llmopt_xlate_lit(out, "}\n\n");
    }

    st->s.block = LLMOPT_XLATE_BLOCK_NONE;
}


/* the delta string token v of the open item (not empty) */

static void
llmopt_xlate_rs_delta(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int v)
{
    llmopt_xlate_out_t  k;

    /* the string's raw bytes: JSON string content, whole escapes only */

    k.data = st->keep;
    k.len = st->s.keep_len;
    k.cap = st->keep_cap;
    llmopt_xlate_put(&k, d->buf + d->toks[v].start,
                     (size_t) (d->toks[v].end - d->toks[v].start));
    llmopt_xlate_rs_keep_commit(st, &k);

    switch (st->s.block) {

    case LLMOPT_XLATE_BLOCK_THINKING:
        llmopt_xlate_rs_ev(st, out, "response.reasoning_text.delta");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"content_index\":0,\"delta\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}\n\n");
        return;

    case LLMOPT_XLATE_BLOCK_TOOL:
        llmopt_xlate_rs_ev(st, out, "response.function_call_arguments.delta");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"delta\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}\n\n");
        return;

    default:
        llmopt_xlate_rs_ev(st, out, "response.output_text.delta");
        llmopt_xlate_rs_item_ref(st, out);
        llmopt_xlate_lit(out, ",\"content_index\":0,\"delta\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, ",\"logprobs\":[]}\n\n");
        return;
    }
}


void
llmopt_xlate_rs_end(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out)
{
    llmopt_xlate_rs_close(st, out);

    if (st->s.finish == LLMOPT_XLATE_STOP_LENGTH
        || st->s.finish == LLMOPT_XLATE_STOP_FILTER)
    {
        llmopt_xlate_rs_ev(st, out, "response.incomplete");
        llmopt_xlate_rs_response_obj(st, out, "incomplete");

    } else {
        llmopt_xlate_rs_ev(st, out, "response.completed");
        llmopt_xlate_rs_response_obj(st, out, "completed");
    }

    st->s.stopped = 1;
}


void
llmopt_xlate_rs_fail(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const char *msg, size_t len, int msg_is_json)
{
    llmopt_xlate_rs_ev(st, out, "error");
    llmopt_xlate_lit(out, ",\"code\":\"server_error\",\"message\":");

    if (msg_is_json) {
        llmopt_xlate_put(out, msg, len);

    } else {
        llmopt_xlate_quote(out, msg, len);
    }

    llmopt_xlate_lit(out, ",\"param\":null}\n\n");

    st->s.failed = 1;
}


/* --- chat-completions upstream ------------------------------------------- */


static void
llmopt_xlate_rs_oa(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out)
{
    int                   v, k, n, i, first, choice, delta;
    llmopt_xlate_stop_e   stop;

    first = !st->s.started;
    choice = llmopt_xlate_oa_chunk(st, d, out);

    if (st->s.failed) {
        return;
    }

    if (first) {
        llmopt_xlate_rs_start(st, out);
    }

    if (choice < 0) {
        return;
    }

    delta = llmopt_xlate_member(d, choice, "delta");

    v = llmopt_xlate_member(d, delta, "reasoning_content");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
        && d->toks[v].end > d->toks[v].start)
    {
        llmopt_xlate_rs_open(st, out, LLMOPT_XLATE_BLOCK_THINKING);
        llmopt_xlate_rs_delta(st, out, d, v);
    }

    for (k = 0; k < 2; k++) {
        v = llmopt_xlate_member(d, delta, k == 0 ? "content" : "refusal");

        if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
            && d->toks[v].end > d->toks[v].start)
        {
            llmopt_xlate_rs_open(st, out, LLMOPT_XLATE_BLOCK_TEXT);
            llmopt_xlate_rs_delta(st, out, d, v);
        }
    }

    v = llmopt_xlate_member(d, delta, "tool_calls");
    n = (llmopt_xlate_kind(d, v) == LLMOPT_JSON_ARRAY) ? d->toks[v].size : 0;

    for (k = 0, i = v + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        if (llmopt_xlate_rs_oa_call(st, d, i, out) != LLMOPT_OK) {
            return;
        }
    }

    stop = llmopt_xlate_stop_read(d, llmopt_xlate_member(d, choice,
                                                         "finish_reason"));
    if (stop != LLMOPT_XLATE_STOP_NONE) {
        st->s.finish = stop;
        st->s.finished = 1;
        llmopt_xlate_rs_close(st, out);
    }
}


/* one entry of a delta's tool_calls: a new index opens a function_call */

static int
llmopt_xlate_rs_oa_call(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, int call, llmopt_xlate_out_t *out)
{
    int  v, rc, fn, id, name;

    rc = llmopt_xlate_oa_call(st, d, call, out, &fn, &id, &name);

    if (rc == LLMOPT_ERROR) {
        return LLMOPT_ERROR;
    }

    if (rc == LLMOPT_OK) {

        /* the open item is done with its own call id and name */

        llmopt_xlate_rs_close(st, out);

        if (llmopt_xlate_keep(st, d, id, st->s.call, &st->s.call_len)
            != LLMOPT_OK
            || llmopt_xlate_keep(st, d, name, st->s.name, &st->s.name_len)
               != LLMOPT_OK)
        {
            llmopt_xlate_fail_lit(st, out, "the upstream sent a tool call "
                                  "with a bad id or name");
            return LLMOPT_ERROR;
        }

        llmopt_xlate_rs_open(st, out, LLMOPT_XLATE_BLOCK_TOOL);
    }

    v = llmopt_xlate_member(d, fn, "arguments");
    if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
        && d->toks[v].end > d->toks[v].start)
    {
        llmopt_xlate_rs_delta(st, out, d, v);
    }

    return LLMOPT_OK;
}


/* --- Anthropic upstream --------------------------------------------------- */


static void
llmopt_xlate_rs_an(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out)
{
    int  type;

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

        llmopt_xlate_rs_start(st, out);
        return;
    }

    if (!st->s.started) {
        llmopt_xlate_fail_lit(st, out, "the upstream's stream does not start "
                              "with message_start");
        return;
    }

    if (llmopt_xlate_is(d, type, "content_block_start")) {
        llmopt_xlate_rs_an_start(st, d, out);
        return;
    }

    if (llmopt_xlate_is(d, type, "content_block_delta")) {
        llmopt_xlate_rs_an_delta(st, d, out);
        return;
    }

    if (llmopt_xlate_is(d, type, "content_block_stop")) {
        llmopt_xlate_rs_close(st, out);
        return;
    }

    if (llmopt_xlate_is(d, type, "message_delta")) {
        (void) llmopt_xlate_an_message_delta(st, d);
        return;
    }

    if (llmopt_xlate_is(d, type, "message_stop")) {
        llmopt_xlate_rs_end(st, out);
        return;
    }

    llmopt_xlate_fail_lit(st, out, "the upstream sent an event of an unknown "
                          "type");
}


static void
llmopt_xlate_rs_an_start(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int                    v, name;
    llmopt_xlate_block_e   block;

    block = llmopt_xlate_an_block_read(st, d, out, &v, &name);

    if (block == LLMOPT_XLATE_BLOCK_NONE) {
        return;
    }

    llmopt_xlate_rs_close(st, out);

    if (block == LLMOPT_XLATE_BLOCK_SKIP) {
        st->s.block = LLMOPT_XLATE_BLOCK_SKIP;
        return;
    }

    if (block != LLMOPT_XLATE_BLOCK_TOOL) {
        llmopt_xlate_rs_open(st, out, block);

        if (block == LLMOPT_XLATE_BLOCK_TEXT
            && llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
            && d->toks[v].end > d->toks[v].start)
        {
            llmopt_xlate_rs_delta(st, out, d, v);
        }

        return;
    }

    if (llmopt_xlate_keep(st, d, v, st->s.call, &st->s.call_len) != LLMOPT_OK
        || llmopt_xlate_keep(st, d, name, st->s.name, &st->s.name_len)
           != LLMOPT_OK)
    {
        llmopt_xlate_fail_lit(st, out, "the upstream sent a tool_use block "
                              "with a bad id or name");
        return;
    }

    llmopt_xlate_rs_open(st, out, LLMOPT_XLATE_BLOCK_TOOL);
}


static void
llmopt_xlate_rs_an_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int  v;

    v = llmopt_xlate_an_delta(st, d, out);
    if (v >= 0) {
        llmopt_xlate_rs_delta(st, out, d, v);
    }
}
