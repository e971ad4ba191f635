/*
 * Copyright (C) llmopt authors
 *
 * A JSON answer as the event stream of its dialect (llmopt_sse_replay.h),
 * written with the translators' writer (llmopt_translate_write.h).
 */


#include <string.h>

#include "llmopt_sse_replay.h"
#include "llmopt_translate_write.h"


/* What every OpenAI chunk of one answer repeats. */

typedef struct {
    const llmopt_xlate_doc_t  *doc;
    int                        root;
    unsigned                   include_usage;
} llmopt_sse_openai_t;


static int llmopt_sse_openai(const llmopt_xlate_doc_t *d,
    unsigned include_usage, llmopt_xlate_out_t *out);
static void llmopt_sse_openai_open(const llmopt_sse_openai_t *o,
    llmopt_xlate_out_t *out);
static void llmopt_sse_openai_close(const llmopt_sse_openai_t *o,
    llmopt_xlate_out_t *out);
static void llmopt_sse_openai_delta(const llmopt_sse_openai_t *o,
    const char *index, size_t index_len, llmopt_xlate_out_t *out);
static int llmopt_sse_anthropic(const llmopt_xlate_doc_t *d,
    llmopt_xlate_out_t *out);
static void llmopt_sse_anthropic_block(const llmopt_xlate_doc_t *d,
    int block, int64_t index, llmopt_xlate_out_t *out);
static void llmopt_sse_event(llmopt_xlate_out_t *out, const char *name);


int
llmopt_sse_replay(llmopt_dialect_e dl, const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned include_usage,
    llmopt_xlate_out_t *out)
{
    int                 rc;
    llmopt_xlate_doc_t  d;

    if (ntoks == 0 || llmopt_json_kind(buf, &toks[0]) != LLMOPT_JSON_OBJECT)
    {
        return LLMOPT_DECLINED;
    }

    d.buf = buf;
    d.toks = toks;
    d.ntoks = ntoks;

    rc = dl == LLMOPT_DIALECT_OPENAI ? llmopt_sse_openai(&d, include_usage, out)
                                     : llmopt_sse_anthropic(&d, out);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    return out->len > out->cap ? LLMOPT_AGAIN : LLMOPT_OK;
}


static int
llmopt_sse_openai(const llmopt_xlate_doc_t *d, unsigned include_usage,
    llmopt_xlate_out_t *out)
{
    int                  choices, c, msg, v, calls, call, fn, usage, k, n;
    int                  i, kc;
    char                 index[24];
    size_t               index_len;
    llmopt_sse_openai_t  o;
    llmopt_xlate_out_t   num;

    choices = llmopt_xlate_member(d, 0, "choices");

    if (llmopt_xlate_member(d, 0, "error") >= 0 || choices < 0
        || llmopt_xlate_kind(d, choices) != LLMOPT_JSON_ARRAY)
    {
        return LLMOPT_DECLINED;
    }

    o.doc = d;
    o.root = 0;
    o.include_usage = include_usage;

    n = d->toks[choices].size;
    c = choices + 1;

    for (k = 0; k < n; k++, c = llmopt_xlate_next(d, c)) {

        if (llmopt_xlate_kind(d, c) != LLMOPT_JSON_OBJECT) {
            continue;
        }

        /* the choice's index as written, else its place */

        i = llmopt_xlate_member(d, c, "index");

        if (i >= 0 && llmopt_xlate_kind(d, i) == LLMOPT_JSON_NUMBER) {
            index_len = (size_t) (d->toks[i].end - d->toks[i].start);
            index_len = index_len < sizeof(index) ? index_len : 0;
            memcpy(index, d->buf + d->toks[i].start, index_len);

        } else {
            index_len = 0;
        }

        if (index_len == 0) {
            num.data = (unsigned char *) index;
            num.len = 0;
            num.cap = sizeof(index);
            llmopt_xlate_int(&num, k);
            index_len = num.len;
        }

        msg = llmopt_xlate_member(d, c, "message");

        /* the role first, with empty content, as the providers do */

        llmopt_sse_openai_delta(&o, index, index_len, out);
        llmopt_xlate_lit(out, "\"role\":");

        v = llmopt_xlate_member(d, msg, "role");
        if (v >= 0) {
            llmopt_xlate_raw(out, d, v);
        } else {
            llmopt_xlate_lit(out, "\"assistant\"");
        }

        llmopt_xlate_lit(out, ",\"content\":\"\"},\"logprobs\":null,"
                              "\"finish_reason\":null}]");
        llmopt_sse_openai_close(&o, out);

        v = llmopt_xlate_member(d, msg, "reasoning_content");

        if (v >= 0 && llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
            /* a reasoning model's (DeepSeek's), before the content */
            llmopt_sse_openai_delta(&o, index, index_len, out);
            llmopt_xlate_lit(out, "\"reasoning_content\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "},\"logprobs\":null,"
                                  "\"finish_reason\":null}]");
            llmopt_sse_openai_close(&o, out);
        }

        v = llmopt_xlate_member(d, msg, "content");

        if (v >= 0 && llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING
            && d->toks[v].end > d->toks[v].start)
        {
            llmopt_sse_openai_delta(&o, index, index_len, out);
            llmopt_xlate_lit(out, "\"content\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "},\"logprobs\":null,"
                                  "\"finish_reason\":null}]");
            llmopt_sse_openai_close(&o, out);
        }

        v = llmopt_xlate_member(d, msg, "refusal");

        if (v >= 0) {
            llmopt_sse_openai_delta(&o, index, index_len, out);
            llmopt_xlate_lit(out, "\"refusal\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "},\"logprobs\":null,"
                                  "\"finish_reason\":null}]");
            llmopt_sse_openai_close(&o, out);
        }

        calls = llmopt_xlate_member(d, msg, "tool_calls");

        if (calls >= 0 && llmopt_xlate_kind(d, calls) == LLMOPT_JSON_ARRAY) {
            call = calls + 1;

            for (kc = 0; kc < d->toks[calls].size;
                 kc++, call = llmopt_xlate_next(d, call))
            {
                llmopt_sse_openai_delta(&o, index, index_len, out);
                llmopt_xlate_lit(out, "\"tool_calls\":[{\"index\":");
                llmopt_xlate_int(out, kc);
                (void) llmopt_xlate_copy(out, d, call, "id", "id");
                (void) llmopt_xlate_copy(out, d, call, "type", "type");

                fn = llmopt_xlate_member(d, call, "function");

                if (fn >= 0) {
                    llmopt_xlate_lit(out, ",\"function\":{\"name\":");

                    v = llmopt_xlate_member(d, fn, "name");
                    if (v >= 0) {
                        llmopt_xlate_raw(out, d, v);
                    } else {
                        llmopt_xlate_lit(out, "\"\"");
                    }

                    llmopt_xlate_lit(out, ",\"arguments\":");

                    v = llmopt_xlate_member(d, fn, "arguments");
                    if (v >= 0) {
                        llmopt_xlate_raw(out, d, v);
                    } else {
                        llmopt_xlate_lit(out, "\"\"");
                    }

                    llmopt_xlate_lit(out, "}");
                }

                llmopt_xlate_lit(out, "}]},\"logprobs\":null,"
                                      "\"finish_reason\":null}]");
                llmopt_sse_openai_close(&o, out);
            }
        }

        llmopt_sse_openai_delta(&o, index, index_len, out);
        llmopt_xlate_lit(out, "},\"logprobs\":null,\"finish_reason\":");

        v = llmopt_xlate_member(d, c, "finish_reason");
        if (v >= 0) {
            llmopt_xlate_raw(out, d, v);
        } else {
            llmopt_xlate_lit(out, "\"stop\"");
        }

        llmopt_xlate_lit(out, "}]");
        llmopt_sse_openai_close(&o, out);
    }

    usage = llmopt_xlate_member(d, 0, "usage");

    if (include_usage) {
        llmopt_sse_openai_open(&o, out);
        llmopt_xlate_lit(out, ",\"choices\":[],\"usage\":");

        if (usage >= 0) {
            llmopt_xlate_raw(out, d, usage);
        } else {
            llmopt_xlate_lit(out, "null");
        }

        llmopt_xlate_lit(out, "}\n\n");
    }

    llmopt_xlate_lit(out, "data: [DONE]\n\n");

    return LLMOPT_OK;
}


/* data: {"id":...,"object":"chat.completion.chunk",... up to choices */

static void
llmopt_sse_openai_open(const llmopt_sse_openai_t *o, llmopt_xlate_out_t *out)
{
    int                        v;
    const llmopt_xlate_doc_t  *d;

    d = o->doc;

    llmopt_xlate_lit(out, "data: {\"id\":");

    v = llmopt_xlate_member(d, o->root, "id");
    if (v >= 0) {
        llmopt_xlate_raw(out, d, v);
    } else {
        llmopt_xlate_lit(out, "\"\"");
    }

    llmopt_xlate_lit(out, ",\"object\":\"chat.completion.chunk\"");
    (void) llmopt_xlate_copy(out, d, o->root, "created", "created");
    (void) llmopt_xlate_copy(out, d, o->root, "model", "model");
    (void) llmopt_xlate_copy(out, d, o->root, "service_tier",
                             "service_tier");
    (void) llmopt_xlate_copy(out, d, o->root, "system_fingerprint",
                             "system_fingerprint");
}


/* a chunk with one choice's delta, up to the delta's first member */

static void
llmopt_sse_openai_delta(const llmopt_sse_openai_t *o, const char *index,
    size_t index_len, llmopt_xlate_out_t *out)
{
    llmopt_sse_openai_open(o, out);
    llmopt_xlate_lit(out, ",\"choices\":[{\"index\":");
    llmopt_xlate_put(out, index, index_len);
    llmopt_xlate_lit(out, ",\"delta\":{");
}


static void
llmopt_sse_openai_close(const llmopt_sse_openai_t *o, llmopt_xlate_out_t *out)
{
    if (o->include_usage) {
        llmopt_xlate_lit(out, ",\"usage\":null");
    }

    llmopt_xlate_lit(out, "}\n\n");
}


static int
llmopt_sse_anthropic(const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out)
{
    int      content, block, usage, v, k, first;
    size_t   klen;
    int64_t  index;

    content = llmopt_xlate_member(d, 0, "content");

    if (llmopt_xlate_is(d, llmopt_xlate_member(d, 0, "type"), "error")
        || content < 0 || llmopt_xlate_kind(d, content) != LLMOPT_JSON_ARRAY)
    {
        return LLMOPT_DECLINED;
    }

    usage = llmopt_xlate_member(d, 0, "usage");

    llmopt_sse_event(out, "message_start");
    llmopt_xlate_lit(out, "{\"type\":\"message_start\",\"message\":{");
    llmopt_xlate_lit(out, "\"id\":");

    v = llmopt_xlate_member(d, 0, "id");
    if (v >= 0) {
        llmopt_xlate_raw(out, d, v);
    } else {
        llmopt_xlate_lit(out, "\"\"");
    }

    llmopt_xlate_lit(out, ",\"type\":\"message\",\"role\":\"assistant\"");
    (void) llmopt_xlate_copy(out, d, 0, "model", "model");
    llmopt_xlate_lit(out, ",\"content\":[],\"stop_reason\":null,"
                          "\"stop_sequence\":null,\"usage\":{");

    /* the usage as the answer has it, but no output yet */

    first = 1;

    if (usage >= 0 && llmopt_xlate_kind(d, usage) == LLMOPT_JSON_OBJECT) {
        for (k = 0, v = usage + 1; k < d->toks[usage].size;
             k++, v = llmopt_xlate_next(d, v + 1))
        {
            klen = (size_t) (d->toks[v].end - d->toks[v].start);

            if (klen == 13
                && memcmp(d->buf + d->toks[v].start, "output_tokens", 13)
                   == 0)
            {
                continue;
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, ":");
            llmopt_xlate_raw(out, d, v + 1);
        }
    }

    llmopt_xlate_sep(out, &first);
    llmopt_xlate_lit(out, "\"output_tokens\":0}}}\n\n");

    index = 0;

    for (k = 0, block = content + 1; k < d->toks[content].size;
         k++, block = llmopt_xlate_next(d, block))
    {
        if (llmopt_xlate_kind(d, block) != LLMOPT_JSON_OBJECT) {
            continue;
        }

        llmopt_sse_anthropic_block(d, block, index++, out);
    }

    llmopt_sse_event(out, "message_delta");
    llmopt_xlate_lit(out, "{\"type\":\"message_delta\",\"delta\":"
                          "{\"stop_reason\":");

    v = llmopt_xlate_member(d, 0, "stop_reason");
    if (v >= 0) {
        llmopt_xlate_raw(out, d, v);
    } else {
        llmopt_xlate_lit(out, "\"end_turn\"");
    }

    llmopt_xlate_lit(out, ",\"stop_sequence\":");

    v = llmopt_xlate_member(d, 0, "stop_sequence");
    if (v >= 0) {
        llmopt_xlate_raw(out, d, v);
    } else {
        llmopt_xlate_lit(out, "null");
    }

    llmopt_xlate_lit(out, "},\"usage\":{\"output_tokens\":");

    v = llmopt_xlate_member(d, usage, "output_tokens");
    if (v >= 0) {
        llmopt_xlate_raw(out, d, v);
    } else {
        llmopt_xlate_lit(out, "0");
    }

    llmopt_xlate_lit(out, "}}\n\n");

    llmopt_sse_event(out, "message_stop");
    llmopt_xlate_lit(out, "{\"type\":\"message_stop\"}\n\n");

    return LLMOPT_OK;
}


/* One content block: its start, its one delta, its stop. */

static void
llmopt_sse_anthropic_block(const llmopt_xlate_doc_t *d, int block,
    int64_t index, llmopt_xlate_out_t *out)
{
    int     type, v, sig;
    size_t  start, end;

    type = llmopt_xlate_member(d, block, "type");

    llmopt_sse_event(out, "content_block_start");
    llmopt_xlate_lit(out, "{\"type\":\"content_block_start\",\"index\":");
    llmopt_xlate_int(out, index);
    llmopt_xlate_lit(out, ",\"content_block\":");

    if (llmopt_xlate_is(d, type, "text")) {
        llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":\"\"}}\n\n");

        v = llmopt_xlate_member(d, block, "text");

        if (v >= 0) {
            llmopt_sse_event(out, "content_block_delta");
            llmopt_xlate_lit(out, "{\"type\":\"content_block_delta\","
                                  "\"index\":");
            llmopt_xlate_int(out, index);
            llmopt_xlate_lit(out, ",\"delta\":{\"type\":\"text_delta\","
                                  "\"text\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "}}\n\n");
        }

    } else if (llmopt_xlate_is(d, type, "tool_use")
               || llmopt_xlate_is(d, type, "server_tool_use"))
    {
        llmopt_xlate_lit(out, "{\"type\":");
        llmopt_xlate_raw(out, d, type);
        (void) llmopt_xlate_copy(out, d, block, "id", "id");
        (void) llmopt_xlate_copy(out, d, block, "name", "name");
        llmopt_xlate_lit(out, ",\"input\":{}}}\n\n");

        v = llmopt_xlate_member(d, block, "input");

        if (v >= 0) {
            /* the input as JSON text, in one piece */
            llmopt_sse_event(out, "content_block_delta");
            llmopt_xlate_lit(out, "{\"type\":\"content_block_delta\","
                                  "\"index\":");
            llmopt_xlate_int(out, index);
            llmopt_xlate_lit(out, ",\"delta\":{\"type\":\"input_json_delta\","
                                  "\"partial_json\":");
            llmopt_json_value_span(&d->toks[v], &start, &end);
            llmopt_xlate_quote(out, d->buf + start, end - start);
            llmopt_xlate_lit(out, "}}\n\n");
        }

    } else if (llmopt_xlate_is(d, type, "thinking")) {
        llmopt_xlate_lit(out, "{\"type\":\"thinking\",\"thinking\":\"\"}}"
                              "\n\n");

        v = llmopt_xlate_member(d, block, "thinking");
        sig = llmopt_xlate_member(d, block, "signature");

        if (v >= 0) {
            llmopt_sse_event(out, "content_block_delta");
            llmopt_xlate_lit(out, "{\"type\":\"content_block_delta\","
                                  "\"index\":");
            llmopt_xlate_int(out, index);
            llmopt_xlate_lit(out, ",\"delta\":{\"type\":\"thinking_delta\","
                                  "\"thinking\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "}}\n\n");
        }

        if (sig >= 0) {
            llmopt_sse_event(out, "content_block_delta");
            llmopt_xlate_lit(out, "{\"type\":\"content_block_delta\","
                                  "\"index\":");
            llmopt_xlate_int(out, index);
            llmopt_xlate_lit(out, ",\"delta\":{\"type\":\"signature_delta\","
                                  "\"signature\":");
            llmopt_xlate_raw(out, d, sig);
            llmopt_xlate_lit(out, "}}\n\n");
        }

    } else {
        /* redacted thinking, tool results...: whole at the start */
        llmopt_xlate_raw(out, d, block);
        llmopt_xlate_lit(out, "}\n\n");
    }

    llmopt_sse_event(out, "content_block_stop");
    llmopt_xlate_lit(out, "{\"type\":\"content_block_stop\",\"index\":");
    llmopt_xlate_int(out, index);
    llmopt_xlate_lit(out, "}\n\n");
}


static void
llmopt_sse_event(llmopt_xlate_out_t *out, const char *name)
{
    llmopt_xlate_lit(out, "event: ");
    llmopt_xlate_put(out, name, strlen(name));
    llmopt_xlate_lit(out, "\ndata: ");
}
