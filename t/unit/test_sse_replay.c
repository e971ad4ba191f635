/*
 * Copyright (C) llmopt authors
 *
 * A JSON answer replayed as its dialect's event stream: every answer of
 * the translation corpus (t/data/translate/resp-*) in both dialects, read
 * back event by event -- each data line valid JSON of the dialect's
 * shape, the text, refusals, tool calls and their inputs, thinking and
 * the stop reason the answer's own, the usage chunk exactly when asked --
 * and the usage scanner reading the stream's tokens as the answer's.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_sse_replay.h"
#include "llmopt_usage.h"


#define TEST_DIR   "t/data/translate/"
#define TEST_TOKS  4096
#define TEST_OUT   (256 * 1024)
#define TEST_TEXT  (64 * 1024)


/* the answer as the test reads it, and the stream read back */

typedef struct {
    char               text[TEST_TEXT];      /* content / text blocks */
    size_t             text_len;
    char               tools[TEST_TEXT];     /* name(args)... */
    size_t             tools_len;
    char               thinking[TEST_TEXT];
    size_t             thinking_len;
    char               stop[64];
    int                usage_chunk;          /* OpenAI: seen */
    int                usage_null;           /* chunks with usage:null */
    int                chunks;
    int                bad;                  /* shape errors */
} test_read_t;


static void test_file(const char *name, llmopt_dialect_e dl);
static void test_small(void);
static char *test_slurp(const char *path, size_t *len);
static void test_append(char *to, size_t *len, const unsigned char *buf,
    const llmopt_json_tok_t *tok);
static void test_put(char *to, size_t *len, const char *s);
static void test_json_answer(llmopt_dialect_e dl, const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned n, test_read_t *rd);
static void test_stream(llmopt_dialect_e dl, unsigned char *sse, size_t len,
    test_read_t *rd, int *order_ok);


static llmopt_json_tok_t  toks[TEST_TOKS];
static llmopt_json_tok_t  etoks[TEST_TOKS];


int
main(void)
{
    static const char  *names[] = {
        "resp-text", "resp-json", "resp-length", "resp-reasoning",
        "resp-refusal", "resp-stop-sequence", "resp-thinking",
        "resp-tools", "resp-tools-oa", NULL
    };

    char         path[256];
    const char **n;

    for (n = names; *n != NULL; n++) {
        snprintf(path, sizeof(path), "%s.openai.json", *n);
        test_file(path, LLMOPT_DIALECT_OPENAI);
        snprintf(path, sizeof(path), "%s.anthropic.json", *n);
        test_file(path, LLMOPT_DIALECT_ANTHROPIC);
    }

    test_small();

    return tap_done();
}


static void
test_file(const char *name, llmopt_dialect_e dl)
{
    int                 rc, order_ok;
    char                path[256], *buf;
    size_t              len;
    unsigned            n, inc;
    llmopt_err_t        err;
    test_read_t        *want, *got;
    llmopt_xlate_out_t  out;
    llmopt_usage_t      uj, us;
    llmopt_usage_out_t  res;

    snprintf(path, sizeof(path), "%s%s", TEST_DIR, name);
    len = 0;
    buf = test_slurp(path, &len);

    if (!ok(buf != NULL, "%s: read", name)) {
        return;
    }

    rc = llmopt_json_parse((unsigned char *) buf, len, toks, TEST_TOKS, 0, &n,
                           &err);
    if (!ok(rc == LLMOPT_OK, "%s: parsed", name)) {
        free(buf);
        return;
    }

    want = calloc(1, sizeof(test_read_t));
    got = calloc(1, sizeof(test_read_t));
    out.data = malloc(TEST_OUT);

    test_json_answer(dl, (unsigned char *) buf, toks, n, want);

    for (inc = 0; inc <= (dl == LLMOPT_DIALECT_OPENAI); inc++) {
        memset(got, 0, sizeof(test_read_t));
        out.len = 0;
        out.cap = TEST_OUT;

        rc = llmopt_sse_replay(dl, (unsigned char *) buf, toks, n, inc, &out);
        is_int(rc, LLMOPT_OK, "%s%s: replayed", name,
               inc ? " with include_usage" : "");

        if (rc != LLMOPT_OK) {
            continue;
        }

        /* what llmopt's own scanner reads of the stream and of the JSON */

        llmopt_usage_init(&uj, dl, 0, 0);
        llmopt_usage_feed(&uj, (unsigned char *) buf, len, &res);
        llmopt_usage_finish(&uj, &res);

        llmopt_usage_init(&us, dl, 1, 0);
        llmopt_usage_feed(&us, out.data, out.len, &res);
        llmopt_usage_finish(&us, &res);

        /* read back (the reader cuts the stream into strings) */

        order_ok = 0;
        test_stream(dl, out.data, out.len, got, &order_ok);

        is_int(got->bad, 0, "%s%s: every event of the dialect's shape", name,
               inc ? " (usage)" : "");
        ok(order_ok, "%s: events in order", name);
        ok(got->text_len == want->text_len
           && memcmp(got->text, want->text, want->text_len) == 0,
           "%s: the text (%zu bytes)", name, want->text_len);
        ok(got->tools_len == want->tools_len
           && memcmp(got->tools, want->tools, want->tools_len) == 0,
           "%s: the tool calls (%zu bytes)", name, want->tools_len);
        ok(got->thinking_len == want->thinking_len
           && memcmp(got->thinking, want->thinking, want->thinking_len) == 0,
           "%s: the thinking", name);
        is_str(got->stop, want->stop, "%s: the stop reason", name);

        if (dl == LLMOPT_DIALECT_OPENAI) {
            is_int(got->usage_chunk, inc, "%s: a usage chunk iff asked",
                   name);
            is_int(got->usage_null, inc ? got->chunks - 1 : 0,
                   "%s: usage:null in every other chunk iff asked", name);
        }

        if (dl == LLMOPT_DIALECT_ANTHROPIC || inc) {
            ok(us.seen_usage && llmopt_usage_final(&us),
               "%s: the stream's usage is final", name);
            is_int(us.input_tokens, uj.input_tokens, "%s: input tokens",
                   name);
            is_int(us.output_tokens, uj.output_tokens, "%s: output tokens",
                   name);
            is_int(us.cached_tokens, uj.cached_tokens, "%s: cached tokens",
                   name);
        }

        is_int(us.finish, uj.finish, "%s: the scanner's finish reason", name);
        is_int(us.errors, 0, "%s: the scanner found no error", name);
    }

    /* too small a buffer: LLMOPT_AGAIN and the room needed */

    out.len = 0;
    out.cap = 16;
    rc = llmopt_sse_replay(dl, (unsigned char *) buf, toks, n, 1, &out);
    is_int(rc, LLMOPT_AGAIN, "%s: a small buffer is too small", name);
    len = out.len;
    out.len = 0;
    out.cap = len;
    is_int(llmopt_sse_replay(dl, (unsigned char *) buf, toks, n, 1, &out),
           LLMOPT_OK, "%s: the room it asked for is enough", name);
    is_int(out.len, len, "%s: and all of it", name);

    free(out.data);
    free(want);
    free(got);
    free(buf);
}


/* What the answer says, as the stream should say it. */

static void
test_json_answer(llmopt_dialect_e dl, const unsigned char *buf,
    const llmopt_json_tok_t *t, unsigned n, test_read_t *rd)
{
    int  c, m, v, calls, call, fn, k, blocks, b, type, sr;

    if (dl == LLMOPT_DIALECT_OPENAI) {
        c = llmopt_json_member(buf, t, n, 0, "choices", 7) + 1;
        m = llmopt_json_member(buf, t, n, c, "message", 7);
        v = llmopt_json_member(buf, t, n, m, "content", 7);

        if (v >= 0 && llmopt_json_kind(buf, &t[v]) == LLMOPT_JSON_STRING) {
            test_append(rd->text, &rd->text_len, buf, &t[v]);
        }

        v = llmopt_json_member(buf, t, n, m, "reasoning_content", 17);

        if (v >= 0 && llmopt_json_kind(buf, &t[v]) == LLMOPT_JSON_STRING) {
            test_append(rd->thinking, &rd->thinking_len, buf, &t[v]);
        }

        v = llmopt_json_member(buf, t, n, m, "refusal", 7);

        if (v >= 0 && llmopt_json_kind(buf, &t[v]) == LLMOPT_JSON_STRING) {
            test_put(rd->text, &rd->text_len, "[refusal]");
            test_append(rd->text, &rd->text_len, buf, &t[v]);
        }

        calls = llmopt_json_member(buf, t, n, m, "tool_calls", 10);

        if (calls >= 0 && llmopt_json_kind(buf, &t[calls]) == LLMOPT_JSON_ARRAY)
        {
            for (k = 0, call = calls + 1; k < t[calls].size;
                 k++, call = llmopt_json_skip(t, n, call))
            {
                fn = llmopt_json_member(buf, t, n, call, "function", 8);
                test_append(rd->tools, &rd->tools_len, buf,
                            &t[llmopt_json_member(buf, t, n, fn, "name", 4)]);
                test_put(rd->tools, &rd->tools_len, "(");
                test_append(rd->tools, &rd->tools_len, buf,
                            &t[llmopt_json_member(buf, t, n, fn, "arguments",
                                                  9)]);
                test_put(rd->tools, &rd->tools_len, ")");
            }
        }

        sr = llmopt_json_member(buf, t, n, c, "finish_reason", 13);

    } else {
        blocks = llmopt_json_member(buf, t, n, 0, "content", 7);

        for (k = 0, b = blocks + 1; k < t[blocks].size;
             k++, b = llmopt_json_skip(t, n, b))
        {
            type = llmopt_json_member(buf, t, n, b, "type", 4);

            if (llmopt_json_str_eq(buf, &t[type], "text", 4)) {
                test_append(rd->text, &rd->text_len, buf,
                            &t[llmopt_json_member(buf, t, n, b, "text", 4)]);

            } else if (llmopt_json_str_eq(buf, &t[type], "tool_use", 8)) {
                test_append(rd->tools, &rd->tools_len, buf,
                            &t[llmopt_json_member(buf, t, n, b, "name", 4)]);
                test_put(rd->tools, &rd->tools_len, "(");
                v = llmopt_json_member(buf, t, n, b, "input", 5);
                memcpy(rd->tools + rd->tools_len, buf + t[v].start,
                       t[v].end - t[v].start);
                rd->tools_len += t[v].end - t[v].start;
                test_put(rd->tools, &rd->tools_len, ")");

            } else if (llmopt_json_str_eq(buf, &t[type], "thinking", 8)) {
                test_append(rd->thinking, &rd->thinking_len, buf,
                            &t[llmopt_json_member(buf, t, n, b, "thinking",
                                                  8)]);
                v = llmopt_json_member(buf, t, n, b, "signature", 9);

                if (v >= 0) {
                    test_put(rd->thinking, &rd->thinking_len, "|");
                    test_append(rd->thinking, &rd->thinking_len, buf, &t[v]);
                }
            }
        }

        sr = llmopt_json_member(buf, t, n, 0, "stop_reason", 11);
    }

    if (sr >= 0 && t[sr].end - t[sr].start < (int) sizeof(rd->stop)) {
        memcpy(rd->stop, buf + t[sr].start, t[sr].end - t[sr].start);
        rd->stop[t[sr].end - t[sr].start] = '\0';
    }
}


/* The stream read back, event by event. */

static void
test_stream(llmopt_dialect_e dl, unsigned char *sse, size_t len,
    test_read_t *rd, int *order_ok)
{
    int             rc, first, v, d, ch, k, tc, fn, cb, type, done, index;
    int             open_block, last_start, saw_delta, saw_stop;
    char            event[64], tool[256];
    size_t          tool_len;
    unsigned        n;
    unsigned char  *p, *end, *block, *data;
    llmopt_err_t    err;

    p = sse;
    end = sse + len;
    first = 1;
    done = 0;
    open_block = -1;
    last_start = -1;
    saw_delta = 0;
    saw_stop = 0;
    tool_len = 0;
    *order_ok = 1;

    while (p < end) {
        block = p;

        while (p + 1 < end && !(p[0] == '\n' && p[1] == '\n')) {
            p++;
        }

        if (p + 1 >= end) {
            rd->bad++;                      /* no blank line at the end */
            return;
        }

        *p = '\0';
        p += 2;

        event[0] = '\0';
        data = NULL;

        if (strncmp((char *) block, "event: ", 7) == 0) {
            unsigned char  *nl = (unsigned char *) strchr((char *) block,
                                                          '\n');

            if (nl == NULL || nl - block - 7 >= (int) sizeof(event)) {
                rd->bad++;
                continue;
            }

            memcpy(event, block + 7, nl - block - 7);
            event[nl - block - 7] = '\0';
            block = nl + 1;
        }

        if (strncmp((char *) block, "data: ", 6) != 0) {
            rd->bad++;
            continue;
        }

        data = block + 6;

        if (done) {
            *order_ok = 0;                  /* something after [DONE] */
        }

        if (strcmp((char *) data, "[DONE]") == 0) {
            done = 1;
            continue;
        }

        rc = llmopt_json_parse(data, strlen((char *) data), etoks, TEST_TOKS,
                               0, &n, &err);
        if (rc != LLMOPT_OK) {
            rd->bad++;
            continue;
        }

        if (dl == LLMOPT_DIALECT_OPENAI) {
            rd->chunks++;

            if (event[0] != '\0'
                || !llmopt_json_str_eq(data, &etoks[llmopt_json_member(data,
                                           etoks, n, 0, "object", 6)],
                                       "chat.completion.chunk", 21))
            {
                rd->bad++;
            }

            v = llmopt_json_member(data, etoks, n, 0, "usage", 5);

            if (v >= 0 && llmopt_json_kind(data, &etoks[v]) == LLMOPT_JSON_NULL)
            {
                rd->usage_null++;
            }

            ch = llmopt_json_member(data, etoks, n, 0, "choices", 7);

            if (ch < 0) {
                rd->bad++;
                continue;
            }

            if (etoks[ch].size == 0) {
                if (v >= 0
                    && llmopt_json_kind(data, &etoks[v]) == LLMOPT_JSON_OBJECT)
                {
                    rd->usage_chunk++;
                }

                continue;
            }

            d = llmopt_json_member(data, etoks, n, ch + 1, "delta", 5);

            if (d < 0) {
                rd->bad++;
                continue;
            }

            if (first && llmopt_json_member(data, etoks, n, d, "role", 4) < 0)
            {
                *order_ok = 0;
            }

            first = 0;

            v = llmopt_json_member(data, etoks, n, d, "content", 7);
            if (v >= 0 && llmopt_json_kind(data, &etoks[v])
                          == LLMOPT_JSON_STRING)
            {
                test_append(rd->text, &rd->text_len, data, &etoks[v]);
            }

            v = llmopt_json_member(data, etoks, n, d, "refusal", 7);
            if (v >= 0 && llmopt_json_kind(data, &etoks[v])
                          == LLMOPT_JSON_STRING)
            {
                test_put(rd->text, &rd->text_len, "[refusal]");
                test_append(rd->text, &rd->text_len, data, &etoks[v]);
            }

            v = llmopt_json_member(data, etoks, n, d, "reasoning_content",
                                   17);
            if (v >= 0) {
                test_append(rd->thinking, &rd->thinking_len, data, &etoks[v]);
            }

            tc = llmopt_json_member(data, etoks, n, d, "tool_calls", 10);

            if (tc >= 0) {
                for (k = 0, v = tc + 1; k < etoks[tc].size;
                     k++, v = llmopt_json_skip(etoks, n, v))
                {
                    fn = llmopt_json_member(data, etoks, n, v, "function", 8);

                    if (fn < 0
                        || llmopt_json_member(data, etoks, n, v, "index", 5)
                           < 0)
                    {
                        rd->bad++;
                        continue;
                    }

                    test_append(rd->tools, &rd->tools_len, data,
                                &etoks[llmopt_json_member(data, etoks, n, fn,
                                                          "name", 4)]);
                    test_put(rd->tools, &rd->tools_len, "(");
                    test_append(rd->tools, &rd->tools_len, data,
                                &etoks[llmopt_json_member(data, etoks, n, fn,
                                                          "arguments", 9)]);
                    test_put(rd->tools, &rd->tools_len, ")");
                }
            }

            v = llmopt_json_member(data, etoks, n, ch + 1, "finish_reason",
                                   13);

            if (v >= 0 && llmopt_json_kind(data, &etoks[v])
                          == LLMOPT_JSON_STRING)
            {
                memcpy(rd->stop, data + etoks[v].start,
                       etoks[v].end - etoks[v].start);
                rd->stop[etoks[v].end - etoks[v].start] = '\0';
            }

            continue;
        }

        /* Anthropic: the event's name is its data's type */

        type = llmopt_json_member(data, etoks, n, 0, "type", 4);

        if (type < 0 || !llmopt_json_str_eq(data, &etoks[type], event,
                                            strlen(event)))
        {
            rd->bad++;
            continue;
        }

        if (first != (strcmp(event, "message_start") == 0)) {
            *order_ok = 0;
        }

        first = 0;

        if (saw_stop && strcmp(event, "message_stop") != 0) {
            *order_ok = 0;
        }

        v = llmopt_json_member(data, etoks, n, 0, "index", 5);
        index = v >= 0 ? atoi((char *) data + etoks[v].start) : -1;

        if (strcmp(event, "content_block_start") == 0) {
            if (open_block >= 0 || index != last_start + 1) {
                *order_ok = 0;
            }

            open_block = index;
            last_start = index;

            cb = llmopt_json_member(data, etoks, n, 0, "content_block", 13);
            v = llmopt_json_member(data, etoks, n, cb, "type", 4);
            tool_len = 0;

            if (llmopt_json_str_eq(data, &etoks[v], "tool_use", 8)) {
                test_append(tool, &tool_len, data,
                            &etoks[llmopt_json_member(data, etoks, n, cb,
                                                      "name", 4)]);
                test_put(tool, &tool_len, "(");
            }

        } else if (strcmp(event, "content_block_delta") == 0) {
            if (index != open_block) {
                *order_ok = 0;
            }

            d = llmopt_json_member(data, etoks, n, 0, "delta", 5);
            v = llmopt_json_member(data, etoks, n, d, "type", 4);

            if (llmopt_json_str_eq(data, &etoks[v], "text_delta", 10)) {
                test_append(rd->text, &rd->text_len, data,
                            &etoks[llmopt_json_member(data, etoks, n, d,
                                                      "text", 4)]);

            } else if (llmopt_json_str_eq(data, &etoks[v], "input_json_delta",
                                          16))
            {
                test_append(tool, &tool_len, data,
                            &etoks[llmopt_json_member(data, etoks, n, d,
                                                      "partial_json", 12)]);

            } else if (llmopt_json_str_eq(data, &etoks[v], "thinking_delta",
                                          14))
            {
                test_append(rd->thinking, &rd->thinking_len, data,
                            &etoks[llmopt_json_member(data, etoks, n, d,
                                                      "thinking", 8)]);

            } else if (llmopt_json_str_eq(data, &etoks[v], "signature_delta",
                                          15))
            {
                test_put(rd->thinking, &rd->thinking_len, "|");
                test_append(rd->thinking, &rd->thinking_len, data,
                            &etoks[llmopt_json_member(data, etoks, n, d,
                                                      "signature", 9)]);

            } else {
                rd->bad++;
            }

        } else if (strcmp(event, "content_block_stop") == 0) {
            if (index != open_block) {
                *order_ok = 0;
            }

            if (tool_len > 0) {
                test_put(tool, &tool_len, ")");
                memcpy(rd->tools + rd->tools_len, tool, tool_len);
                rd->tools_len += tool_len;
                tool_len = 0;
            }

            open_block = -1;

        } else if (strcmp(event, "message_delta") == 0) {
            if (open_block >= 0) {
                *order_ok = 0;
            }

            d = llmopt_json_member(data, etoks, n, 0, "delta", 5);
            v = llmopt_json_member(data, etoks, n, d, "stop_reason", 11);

            if (v >= 0) {
                memcpy(rd->stop, data + etoks[v].start,
                       etoks[v].end - etoks[v].start);
                rd->stop[etoks[v].end - etoks[v].start] = '\0';
            }

            saw_delta = 1;

        } else if (strcmp(event, "message_stop") == 0) {
            if (!saw_delta) {
                *order_ok = 0;
            }

            saw_stop = 1;

        } else if (strcmp(event, "message_start") != 0) {
            rd->bad++;
        }
    }

    if (dl == LLMOPT_DIALECT_OPENAI ? !done : !saw_stop) {
        *order_ok = 0;
    }
}


/* Error objects and what is no answer are declined; an empty content. */

static void
test_small(void)
{
    unsigned            n;
    llmopt_err_t        err;
    llmopt_xlate_out_t  out;
    unsigned char       room[4096];

    static const char  *declined[][2] = {
        { "o", "{\"error\":{\"message\":\"x\",\"type\":\"server_error\"}}" },
        { "o", "{\"id\":\"x\",\"object\":\"chat.completion\"}" },
        { "a", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
               "\"message\":\"x\"}}" },
        { "a", "{\"id\":\"x\",\"type\":\"message\"}" },
        { NULL, NULL }
    };

    unsigned  i;

    for (i = 0; declined[i][0] != NULL; i++) {
        llmopt_json_parse((const unsigned char *) declined[i][1],
                          strlen(declined[i][1]), toks, TEST_TOKS, 0, &n,
                          &err);
        out.data = room;
        out.len = 0;
        out.cap = sizeof(room);
        is_int(llmopt_sse_replay(declined[i][0][0] == 'o'
                                 ? LLMOPT_DIALECT_OPENAI
                                 : LLMOPT_DIALECT_ANTHROPIC,
                                 (const unsigned char *) declined[i][1], toks,
                                 n, 0, &out),
               LLMOPT_DECLINED, "declined: %s", declined[i][1]);
    }

    {
        static const char  *empty =
            "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,"
            "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":"
            "{\"role\":\"assistant\",\"content\":\"\"},"
            "\"finish_reason\":\"length\"}]}";
        static const char  *want =
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
            "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
            "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
            "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
            "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
            "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}"
            "\n\ndata: [DONE]\n\n";

        llmopt_json_parse((const unsigned char *) empty, strlen(empty), toks,
                          TEST_TOKS, 0, &n, &err);
        out.data = room;
        out.len = 0;
        out.cap = sizeof(room) - 1;
        is_int(llmopt_sse_replay(LLMOPT_DIALECT_OPENAI,
                                 (const unsigned char *) empty, toks, n, 0,
                                 &out),
               LLMOPT_OK, "an empty answer");
        room[out.len] = '\0';
        is_str((char *) room, want, "an empty answer: role, finish, [DONE]");
    }
}


static char *
test_slurp(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;
    long   size;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(size + 1);
    *len = fread(buf, 1, size, f);
    buf[*len] = '\0';
    fclose(f);

    return buf;
}


/* a string token, decoded, appended */

static void
test_append(char *to, size_t *len, const unsigned char *buf,
    const llmopt_json_tok_t *tok)
{
    *len += llmopt_json_unescape((unsigned char *) to + *len, buf, tok);
}


static void
test_put(char *to, size_t *len, const char *s)
{
    memcpy(to + *len, s, strlen(s));
    *len += strlen(s);
}
