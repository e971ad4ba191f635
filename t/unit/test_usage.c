/*
 * Copyright (C) llmopt authors
 *
 * Usage capture: token usage, finish reasons and the first content delta
 * from OpenAI and Anthropic responses, JSON and event streams, fed whole,
 * byte by byte and in random chunks; removal of the OpenAI usage chunk.
 */

#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "llmopt_usage.h"
#include "tap.h"


#define TEST_SEEDS  6


typedef struct {
    int64_t            input_tokens;
    int64_t            output_tokens;
    int64_t            cached_tokens;
    int64_t            cache_write_tokens;
    int64_t            first_content_offset;
    llmopt_finish_e    finish;
    unsigned           errors;
    unsigned           dropped;
    unsigned           seen_usage;
    unsigned           complete;
    unsigned           upstream_error;
    int                rc;
    size_t             max_hold;
    unsigned           contract_broken;   /* out-of-contract out values */
    unsigned           calls;
    size_t             out_len;
    unsigned char     *out;               /* what the client would get */
} test_result_t;


typedef struct {
    llmopt_dialect_e   dialect;
    int                sse;
    int                strip;
} test_mode_t;


static void test_run(const test_mode_t *mode, const char *body, size_t len,
    size_t min_chunk, size_t max_chunk, unsigned seed, test_result_t *r);
static void test_apply(test_result_t *r, unsigned char *hold, size_t *held,
    const unsigned char *p, const llmopt_usage_out_t *out);
static unsigned test_rand(unsigned *state);
static int test_same(const test_result_t *a, const test_result_t *b);
static int test_all_chunkings(const test_mode_t *mode, const char *body,
    test_result_t *r);
static char *test_concat(const char **parts, int skip);
static void test_openai_json(void);
static void test_anthropic_json(void);
static void test_openai_sse(void);
static void test_openai_strip(void);
static void test_anthropic_sse(void);
static void test_malformed(void);
static void test_huge(void);
static void test_hold_limit(void);
static void test_edges(void);
static void test_estimate(void);


static const test_mode_t  test_openai_body = {
    LLMOPT_DIALECT_OPENAI, 0, 0
};
static const test_mode_t  test_anthropic_body = {
    LLMOPT_DIALECT_ANTHROPIC, 0, 0
};
static const test_mode_t  test_openai_stream = {
    LLMOPT_DIALECT_OPENAI, 1, 0
};
static const test_mode_t  test_openai_strip_stream = {
    LLMOPT_DIALECT_OPENAI, 1, 1
};
static const test_mode_t  test_anthropic_stream = {
    LLMOPT_DIALECT_ANTHROPIC, 1, 1
};


/* An OpenAI stream asked with stream_options.include_usage. */

static const char  *test_openai_parts[] = {
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\","
    "\"object\":\"chat.completion.chunk\",\"created\":1741570283,"
    "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\","
    "\"system_fingerprint\":\"fp_f9f4fb6dbf\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",

    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\","
    "\"object\":\"chat.completion.chunk\",\"created\":1741570283,"
    "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\","
    "\"system_fingerprint\":\"fp_f9f4fb6dbf\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n",

    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\","
    "\"object\":\"chat.completion.chunk\",\"created\":1741570283,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\" \\\"usage\\\":{\\\"prompt_tokens\\\":5},"
    "\\\"choices\\\":[]\"},\"logprobs\":null,\"finish_reason\":null}],"
    "\"usage\":null}\n\n",

    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\","
    "\"object\":\"chat.completion.chunk\",\"created\":1741570283,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
    "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n",

    /* the usage chunk, index 4 */
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\","
    "\"object\":\"chat.completion.chunk\",\"created\":1741570283,"
    "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\","
    "\"system_fingerprint\":\"fp_f9f4fb6dbf\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":1117,\"completion_tokens\":46,"
    "\"total_tokens\":1163,\"prompt_tokens_details\":{\"cached_tokens\":1024,"
    "\"audio_tokens\":0},\"completion_tokens_details\":{"
    "\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,"
    "\"rejected_prediction_tokens\":0}}}\n\n",

    "data: [DONE]\n\n",
    NULL
};

#define TEST_OPENAI_USAGE_PART  4


static const char  *test_anthropic_parts[] = {
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":"
    "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\","
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{"
    "\"input_tokens\":472,\"cache_creation_input_tokens\":100,"
    "\"cache_read_input_tokens\":2048,\"output_tokens\":2}}}\n\n",

    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",

    "event: ping\ndata: {\"type\": \"ping\"}\n\n",

    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",

    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"\\\"usage\\\":{\\\"output_tokens\\\""
    ":7}\"}}\n\n",

    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",

    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"max_tokens\",\"stop_sequence\":null},\"usage\":{"
    "\"output_tokens\":15}}\n\n",

    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    NULL
};


int
main(void)
{
    test_openai_json();
    test_anthropic_json();
    test_openai_sse();
    test_openai_strip();
    test_anthropic_sse();
    test_malformed();
    test_huge();
    test_hold_limit();
    test_edges();
    test_estimate();

    return tap_done();
}


/*
 * Feeds body in chunks of min_chunk .. max_chunk bytes (seeded), acting as
 * the nginx glue would: a hold buffer of LLMOPT_USAGE_HOLD_MAX bytes, pass
 * bytes appended to the client's output, drop bytes discarded.
 */

static void
test_run(const test_mode_t *mode, const char *body, size_t len,
    size_t min_chunk, size_t max_chunk, unsigned seed, test_result_t *r)
{
    size_t               n, done, held;
    llmopt_usage_t       u;
    llmopt_usage_out_t   out;
    static unsigned char hold[LLMOPT_USAGE_HOLD_MAX];

    memset(r, 0, sizeof(test_result_t));
    r->out = malloc(len + 1);
    held = 0;

    llmopt_usage_init(&u, mode->dialect, mode->sse, mode->strip);

    for (done = 0; done < len; /* void */) {
        n = min_chunk;
        if (max_chunk > min_chunk) {
            n += test_rand(&seed) % (max_chunk - min_chunk + 1);
        }

        if (n > len - done) {
            n = len - done;
        }

        while (n > 0) {
            (void) llmopt_usage_feed(&u, (const unsigned char *) body + done,
                                     n, &out);
            r->calls++;

            if (out.consumed > n || (out.consumed < n && out.drop == 0)) {
                r->contract_broken++;
                out.consumed = n;
            }

            test_apply(r, hold, &held, (const unsigned char *) body + done,
                       &out);
            done += out.consumed;
            n -= out.consumed;
        }
    }

    r->rc = llmopt_usage_finish(&u, &out);
    test_apply(r, hold, &held, NULL, &out);

    if (held != 0) {
        r->contract_broken++;
    }

    r->input_tokens = u.input_tokens;
    r->output_tokens = u.output_tokens;
    r->cached_tokens = u.cached_tokens;
    r->cache_write_tokens = u.cache_write_tokens;
    r->first_content_offset = u.first_content_offset;
    r->finish = u.finish;
    r->errors = u.errors;
    r->dropped = u.dropped;
    r->seen_usage = u.seen_usage;
    r->complete = u.complete;
    r->upstream_error = u.upstream_error;
}


static void
test_apply(test_result_t *r, unsigned char *hold, size_t *held,
    const unsigned char *p, const llmopt_usage_out_t *out)
{
    size_t          total, i;
    unsigned char  *pending;

    total = *held + out->consumed;

    if (out->pass + out->drop + out->hold != total
        || out->hold > LLMOPT_USAGE_HOLD_MAX)
    {
        r->contract_broken++;
        return;
    }

    /* the bytes held before go wholly to the first non-empty class */
    if (*held > 0
        && ((out->pass > 0 && out->pass < *held)
            || (out->pass == 0 && out->drop > 0 && out->drop < *held)))
    {
        r->contract_broken++;
    }

    pending = malloc(total + 1);
    memcpy(pending, hold, *held);
    if (out->consumed > 0) {
        memcpy(pending + *held, p, out->consumed);
    }

    for (i = 0; i < out->pass; i++) {
        r->out[r->out_len++] = pending[i];
    }

    memcpy(hold, pending + out->pass + out->drop, out->hold);
    *held = out->hold;

    if (out->hold > r->max_hold) {
        r->max_hold = out->hold;
    }

    free(pending);
}


static unsigned
test_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xffffff;
}


static int
test_same(const test_result_t *a, const test_result_t *b)
{
    return a->input_tokens == b->input_tokens
           && a->output_tokens == b->output_tokens
           && a->cached_tokens == b->cached_tokens
           && a->cache_write_tokens == b->cache_write_tokens
           && a->first_content_offset == b->first_content_offset
           && a->finish == b->finish
           && a->errors == b->errors
           && a->dropped == b->dropped
           && a->seen_usage == b->seen_usage
           && a->complete == b->complete
           && a->upstream_error == b->upstream_error
           && a->rc == b->rc
           && a->contract_broken == 0 && b->contract_broken == 0
           && a->out_len == b->out_len
           && memcmp(a->out, b->out, a->out_len) == 0;
}


/*
 * Runs body whole, byte by byte and in seeded random chunkings; r gets
 * the whole run.  Returns 1 if every run gave the same results and output.
 */

static int
test_all_chunkings(const test_mode_t *mode, const char *body,
    test_result_t *r)
{
    int            same;
    size_t         len;
    unsigned       seed;
    test_result_t  other;

    len = strlen(body);

    test_run(mode, body, len, len, len, 0, r);
    same = (r->contract_broken == 0);

    test_run(mode, body, len, 1, 1, 0, &other);
    same = same && test_same(r, &other);
    free(other.out);

    for (seed = 1; seed <= TEST_SEEDS; seed++) {
        test_run(mode, body, len, 1, 2 + seed * seed * 7, seed, &other);
        same = same && test_same(r, &other);
        free(other.out);
    }

    test_run(mode, body, len, 100, 5000, 99, &other);
    same = same && test_same(r, &other);
    free(other.out);

    return same;
}


/* Joins parts, leaving out part skip (-1: none); the caller frees. */

static char *
test_concat(const char **parts, int skip)
{
    int     i;
    char   *s;
    size_t  len;

    len = 1;
    for (i = 0; parts[i] != NULL; i++) {
        len += strlen(parts[i]);
    }

    s = malloc(len);
    s[0] = '\0';

    for (i = 0; parts[i] != NULL; i++) {
        if (i != skip) {
            strcat(s, parts[i]);
        }
    }

    return s;
}


static void
test_openai_json(void)
{
    test_result_t  r;
    const char    *body;

    body =
        "{\n"
        "  \"id\": \"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\n"
        "  \"object\": \"chat.completion\",\n"
        "  \"created\": 1741569952,\n"
        "  \"model\": \"gpt-4o-2024-08-06\",\n"
        "  \"choices\": [\n"
        "    {\n"
        "      \"index\": 0,\n"
        "      \"message\": {\n"
        "        \"role\": \"assistant\",\n"
        "        \"content\": \"Sure: \\\"usage\\\":{\\\"prompt_tokens\\\":5,"
        "\\\"completion_tokens\\\":6} and {\\\"finish_reason\\\":"
        "\\\"length\\\"} \\u00e9\\\\\",\n"
        "        \"refusal\": null,\n"
        "        \"annotations\": []\n"
        "      },\n"
        "      \"logprobs\": null,\n"
        "      \"finish_reason\": \"stop\"\n"
        "    }\n"
        "  ],\n"
        "  \"usage\": {\n"
        "    \"prompt_tokens\": 19,\n"
        "    \"completion_tokens\": 10,\n"
        "    \"total_tokens\": 29,\n"
        "    \"prompt_tokens_details\": {\n"
        "      \"cached_tokens\": 0,\n"
        "      \"audio_tokens\": 0\n"
        "    },\n"
        "    \"completion_tokens_details\": {\n"
        "      \"reasoning_tokens\": 0,\n"
        "      \"audio_tokens\": 0,\n"
        "      \"accepted_prediction_tokens\": 0,\n"
        "      \"rejected_prediction_tokens\": 0\n"
        "    }\n"
        "  },\n"
        "  \"service_tier\": \"default\"\n"
        "}\n";

    ok(test_all_chunkings(&test_openai_body, body, &r),
       "openai json: same results in every chunking");
    is_int(r.rc, LLMOPT_OK, "openai json: usage seen");
    is_int(r.input_tokens, 19, "openai json: prompt tokens");
    is_int(r.output_tokens, 10, "openai json: completion tokens");
    is_int(r.cached_tokens, 0, "openai json: cached tokens");
    is_int(r.finish, LLMOPT_FINISH_STOP, "openai json: finish stop");
    is_int(r.errors, 0, "openai json: no errors");
    ok(r.complete, "openai json: complete");
    is_int(r.first_content_offset, -1, "openai json: no first delta");
    ok(r.out_len == strlen(body) && memcmp(r.out, body, r.out_len) == 0,
       "openai json: passed through");
    free(r.out);

    /* two choices, tool calls first; usage before choices; cached */
    body =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
        "\"usage\":{\"prompt_tokens\":82,\"completion_tokens\":17,"
        "\"total_tokens\":99,\"prompt_tokens_details\":"
        "{\"cached_tokens\":64}},"
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":null,\"tool_calls\":[{\"id\":\"call_abc\",\"type\":"
        "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"usage\\\":{\\\"prompt_tokens\\\":1}}\"}}]},"
        "\"finish_reason\":\"tool_calls\"},"
        "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"x\"},"
        "\"finish_reason\":\"length\"}]}";

    ok(test_all_chunkings(&test_openai_body, body, &r),
       "openai json tools: same results in every chunking");
    is_int(r.input_tokens, 82, "openai json tools: prompt tokens");
    is_int(r.output_tokens, 17, "openai json tools: completion tokens");
    is_int(r.cached_tokens, 64, "openai json tools: cached tokens");
    is_int(r.finish, LLMOPT_FINISH_TOOL, "openai json tools: choices[0]");
    free(r.out);

    /* an error body */
    body = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":"
           "\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";

    ok(test_all_chunkings(&test_openai_body, body, &r),
       "openai error: same results in every chunking");
    is_int(r.rc, LLMOPT_DECLINED, "openai error: no usage");
    ok(r.upstream_error, "openai error: upstream error noted");
    is_int(r.finish, LLMOPT_FINISH_NONE, "openai error: no finish");
    free(r.out);
}


static void
test_anthropic_json(void)
{
    test_result_t  r;
    const char    *body;

    body =
        "{\"id\":\"msg_01EcyWo6m4hyW8KHs2y2pei5\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Checking: "
        "\\\"usage\\\":{\\\"input_tokens\\\":5}, \\\"stop_reason\\\":"
        "\\\"end_turn\\\"\"},{\"type\":\"tool_use\",\"id\":"
        "\"toolu_01A09q90qw90lq917835lq9\",\"name\":\"get_weather\","
        "\"input\":{\"location\":\"San Francisco, CA\",\"usage\":"
        "{\"input_tokens\":5,\"output_tokens\":6},\"stop_reason\":\"x\","
        "\"deep\":[[[[[[[[{\"a\":[1,2.5e3,-4,true,false,null]}]]]]]]]]}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":2095,\"cache_creation_input_tokens\":"
        "200,\"cache_read_input_tokens\":1800,\"output_tokens\":503,"
        "\"service_tier\":\"standard\"}}";

    ok(test_all_chunkings(&test_anthropic_body, body, &r),
       "anthropic json: same results in every chunking");
    is_int(r.rc, LLMOPT_OK, "anthropic json: usage seen");
    is_int(r.input_tokens, 2095 + 200 + 1800,
           "anthropic json: input tokens include cache reads and writes");
    is_int(r.output_tokens, 503, "anthropic json: output tokens");
    is_int(r.cached_tokens, 1800, "anthropic json: cache read tokens");
    is_int(r.cache_write_tokens, 200, "anthropic json: cache write tokens");
    is_int(r.finish, LLMOPT_FINISH_TOOL, "anthropic json: tool_use");
    is_int(r.errors, 0, "anthropic json: no errors");
    free(r.out);

    body = "{\"type\":\"message\",\"content\":[],\"stop_reason\":"
           "\"end_turn\",\"usage\":{\"input_tokens\":10,"
           "\"output_tokens\":1}}";
    ok(test_all_chunkings(&test_anthropic_body, body, &r),
       "anthropic json short: same results in every chunking");
    is_int(r.input_tokens, 10, "anthropic json short: input");
    is_int(r.finish, LLMOPT_FINISH_STOP, "anthropic json short: end_turn");
    free(r.out);

    /* an OpenAI body read as Anthropic finds nothing */
    body = "{\"choices\":[{\"finish_reason\":\"stop\"}],\"usage\":"
           "{\"prompt_tokens\":3,\"completion_tokens\":4}}";
    test_run(&test_anthropic_body, body, strlen(body), 3, 3, 0, &r);
    is_int(r.rc, LLMOPT_DECLINED, "dialects: openai names ignored");
    is_int(r.finish, LLMOPT_FINISH_NONE, "dialects: no anthropic finish");
    free(r.out);
}


static void
test_openai_sse(void)
{
    char           *body;
    const char     *hello;
    test_result_t   r;

    body = test_concat(test_openai_parts, -1);

    ok(test_all_chunkings(&test_openai_stream, body, &r),
       "openai sse: same results in every chunking");
    is_int(r.rc, LLMOPT_OK, "openai sse: usage seen");
    is_int(r.input_tokens, 1117, "openai sse: prompt tokens");
    is_int(r.output_tokens, 46, "openai sse: completion tokens");
    is_int(r.cached_tokens, 1024, "openai sse: cached tokens");
    is_int(r.finish, LLMOPT_FINISH_STOP, "openai sse: finish");
    ok(r.complete, "openai sse: [DONE] seen");
    is_int(r.errors, 0, "openai sse: no errors");
    is_int(r.dropped, 0, "openai sse: client asked for usage, kept");
    is_int(r.max_hold, 0, "openai sse: nothing held without strip");
    ok(r.out_len == strlen(body) && memcmp(r.out, body, r.out_len) == 0,
       "openai sse: untouched without strip");

    hello = strstr(body, "Hello");
    is_int(r.first_content_offset, hello - body,
           "openai sse: first content at the first non-empty delta");
    free(r.out);
    free(body);
}


static void
test_openai_strip(void)
{
    int             i;
    char           *body, *want, *p;
    test_result_t   r;
    const char     *crlf_parts[8];
    char            crlf[8][2048];

    body = test_concat(test_openai_parts, -1);
    want = test_concat(test_openai_parts, TEST_OPENAI_USAGE_PART);

    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "strip: same output and results in every chunking");
    is_int(r.dropped, 1, "strip: one usage chunk dropped");
    ok(r.out_len == strlen(want) && memcmp(r.out, want, r.out_len) == 0,
       "strip: output is the stream without the usage chunk");
    is_int(r.input_tokens, 1117, "strip: usage still counted");
    is_int(r.cached_tokens, 1024, "strip: cached still counted");
    free(r.out);

    test_run(&test_openai_strip_stream, body, strlen(body), 1, 1, 0, &r);
    is_int(r.max_hold, strlen(test_openai_parts[TEST_OPENAI_USAGE_PART]) - 1,
           "strip: byte by byte, the usage event is held until its end");
    free(r.out);

    /* content chunks are released early: byte by byte, max hold */
    test_run(&test_openai_strip_stream, test_openai_parts[1],
             strlen(test_openai_parts[1]), 1, 1, 0, &r);
    p = strstr(test_openai_parts[1], "\"choices\":[{");
    ok(r.max_hold <= (size_t) (p - test_openai_parts[1]) + 11,
       "strip: a content chunk is held only until choices[0] (%zu)",
       r.max_hold);
    free(r.out);

    free(body);
    free(want);

    /* the same with CRLF line ends */
    for (i = 0; test_openai_parts[i] != NULL; i++) {
        size_t  n, k;

        for (n = 0, k = 0; test_openai_parts[i][k] != '\0'; k++) {
            if (test_openai_parts[i][k] == '\n') {
                crlf[i][n++] = '\r';
            }
            crlf[i][n++] = test_openai_parts[i][k];
        }

        crlf[i][n] = '\0';
        crlf_parts[i] = crlf[i];
    }

    crlf_parts[i] = NULL;

    body = test_concat(crlf_parts, -1);
    want = test_concat(crlf_parts, TEST_OPENAI_USAGE_PART);

    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "strip crlf: same output in every chunking");
    ok(r.out_len == strlen(want) && memcmp(r.out, want, r.out_len) == 0,
       "strip crlf: output without the usage chunk");
    is_int(r.output_tokens, 46, "strip crlf: usage counted");
    free(r.out);
    free(body);
    free(want);

    /* CR-only line ends, stream ending right after the usage chunk */
    body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},"
           "\"finish_reason\":\"length\"}],\"usage\":null}\r\r"
           "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
           "\"completion_tokens\":1}}\r\r";
    want = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},"
           "\"finish_reason\":\"length\"}],\"usage\":null}\r\r";

    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "strip cr: same output in every chunking");
    ok(r.out_len == strlen(want) && memcmp(r.out, want, r.out_len) == 0,
       "strip cr: usage chunk at the very end dropped by finish");
    is_int(r.finish, LLMOPT_FINISH_LENGTH, "strip cr: finish length");
    free(r.out);

    /* two usage chunks back to back (one feed call cannot hold both) */
    body = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
           "\"completion_tokens\":2}}\n\n"
           "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
           "\"completion_tokens\":6}}\n\n"
           ": keep-alive\n\n"
           "data: [DONE]\n\n";
    want = ": keep-alive\n\ndata: [DONE]\n\n";

    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "strip twice: same output in every chunking");
    ok(r.out_len == strlen(want) && memcmp(r.out, want, r.out_len) == 0,
       "strip twice: both dropped, comment and [DONE] kept");
    is_int(r.dropped, 2, "strip twice: counted");
    is_int(r.input_tokens, 5, "strip twice: the last usage wins");
    free(r.out);

    /* not usage chunks: Azure filter results, usage null, broken JSON */
    body = "data: {\"choices\":[],\"prompt_filter_results\":[{"
           "\"prompt_index\":0}]}\n\n"
           "data: {\"choices\":[],\"usage\":null}\n\n"
           "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5}\n\n"
           "event: usage\ndata: {\"choices\":[],\"usage\":{}}\n\n"
           "data: {\"usage\":{\"prompt_tokens\":5}}\n\n"
           "data: [DONE]\n\n";

    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "strip lookalikes: same output in every chunking");
    ok(r.out_len == strlen(body) && memcmp(r.out, body, r.out_len) == 0,
       "strip lookalikes: nothing dropped");
    is_int(r.errors, 1, "strip lookalikes: the broken event counted");
    is_int(r.input_tokens, 5, "strip lookalikes: usage without choices");
    free(r.out);

    /* strip asked for Anthropic: ignored */
    body = test_concat(test_anthropic_parts, -1);
    test_run(&test_anthropic_stream, body, strlen(body), 1, 1, 0, &r);
    ok(r.out_len == strlen(body) && memcmp(r.out, body, r.out_len) == 0
       && r.max_hold == 0, "strip: never for anthropic");
    free(r.out);
    free(body);
}


static void
test_anthropic_sse(void)
{
    char           *body;
    test_result_t   r;
    test_mode_t     mode;

    body = test_concat(test_anthropic_parts, -1);
    mode = test_anthropic_stream;
    mode.strip = 0;

    ok(test_all_chunkings(&mode, body, &r),
       "anthropic sse: same results in every chunking");
    is_int(r.rc, LLMOPT_OK, "anthropic sse: usage seen");
    is_int(r.input_tokens, 472 + 100 + 2048, "anthropic sse: input tokens");
    is_int(r.cached_tokens, 2048, "anthropic sse: cache reads");
    is_int(r.cache_write_tokens, 100, "anthropic sse: cache writes");
    is_int(r.output_tokens, 15, "anthropic sse: message_delta output wins");
    is_int(r.finish, LLMOPT_FINISH_LENGTH, "anthropic sse: max_tokens");
    ok(r.complete, "anthropic sse: message_stop seen");
    is_int(r.errors, 0, "anthropic sse: no errors");
    is_int(r.first_content_offset, strstr(body, "Hi\"") - body,
           "anthropic sse: first content at the first text delta");
    ok(r.out_len == strlen(body) && memcmp(r.out, body, r.out_len) == 0,
       "anthropic sse: passed through");
    free(r.out);

    /* cut before message_delta: message_start values stand */
    body[strstr(body, "event: message_delta") - body] = '\0';
    ok(test_all_chunkings(&mode, body, &r),
       "anthropic cut: same results in every chunking");
    is_int(r.output_tokens, 2, "anthropic cut: output from message_start");
    is_int(r.finish, LLMOPT_FINISH_NONE, "anthropic cut: no finish");
    ok(!r.complete, "anthropic cut: not complete");
    free(r.out);
    free(body);

    body = "event: message_start\ndata: {\"type\":\"message_start\","
           "\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}"
           "\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
           "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    ok(test_all_chunkings(&mode, body, &r),
       "anthropic error event: same results in every chunking");
    ok(r.upstream_error, "anthropic error event: noted");
    is_int(r.input_tokens, 9, "anthropic error event: input kept");
    free(r.out);
}


static void
test_malformed(void)
{
    char           *body;
    const char     *bad;
    test_result_t   r;

    bad = "{\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10},"
          "\"choices\":[{\"finish_reason\":\"stop\"";
    ok(test_all_chunkings(&test_openai_body, bad, &r),
       "truncated json: same results in every chunking");
    is_int(r.rc, LLMOPT_DECLINED, "truncated json: no usage");
    is_int(r.errors, 1, "truncated json: one error");
    is_int(r.finish, LLMOPT_FINISH_NONE, "truncated json: no finish");
    free(r.out);

    bad = "{\"usage\":{\"prompt_tokens\":19,,\"completion_tokens\":10}}";
    ok(test_all_chunkings(&test_openai_body, bad, &r),
       "bad json: same results in every chunking");
    is_int(r.rc, LLMOPT_DECLINED, "bad json: no usage");
    is_int(r.errors, 1, "bad json: one error");
    free(r.out);

    bad = "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}]";
    test_run(&test_openai_body, bad, strlen(bad), 1, 1, 0, &r);
    is_int(r.rc, LLMOPT_DECLINED, "mismatched brackets: no usage");
    free(r.out);

    bad = "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}} x";
    test_run(&test_openai_body, bad, strlen(bad), 1, 1, 0, &r);
    ok(r.rc == LLMOPT_OK && r.errors == 1,
       "data after the root: usage kept, error counted");
    free(r.out);

    bad = "<html><body>502 Bad Gateway</body></html>\n";
    test_run(&test_openai_body, bad, strlen(bad), 1, 1, 0, &r);
    ok(r.rc == LLMOPT_DECLINED && r.errors == 1, "html body: one error");
    free(r.out);

    bad = "{\"usage\":{\"prompt_tokens\":1,\"bad\":\"a\x01\"}}";
    test_run(&test_openai_body, bad, strlen(bad), 1, 1, 0, &r);
    ok(r.rc == LLMOPT_DECLINED && r.errors == 1, "control char: error");
    free(r.out);

    bad = "{\"usage\":{\"prompt_tokens\":1,\"bad\":\"\\x\"}}";
    test_run(&test_openai_body, bad, strlen(bad), 1, 1, 0, &r);
    ok(r.rc == LLMOPT_DECLINED && r.errors == 1, "bad escape: error");
    free(r.out);

    /* a broken event among good ones, and a truncated final one */
    body = test_concat(test_openai_parts, -1);
    bad = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"]}\n\n"
          "data: not json\n\n";
    {
        char  *mixed;

        mixed = malloc(strlen(bad) + strlen(body) + 64);
        strcpy(mixed, bad);
        strcat(mixed, body);
        strcat(mixed, "data: {\"choices\":[],\"usage\":{\"prompt_to");

        ok(test_all_chunkings(&test_openai_strip_stream, mixed, &r),
           "broken events: same results in every chunking");
        is_int(r.errors, 3, "broken events: three errors");
        is_int(r.input_tokens, 1117, "broken events: good usage kept");
        ok(r.out_len == strlen(mixed) - strlen(
               test_openai_parts[TEST_OPENAI_USAGE_PART]),
           "broken events: only the good usage chunk dropped");
        free(r.out);
        free(mixed);
    }
    free(body);

    /* random garbage and damaged streams: no crash, same in any chunking */
    {
        char           *stream;
        size_t          len;
        unsigned        seed, i, k, broken, differ;
        test_result_t   whole;
        unsigned char   junk[512];

        broken = 0;
        differ = 0;
        stream = test_concat(test_openai_parts, -1);
        len = strlen(stream);

        for (seed = 1; seed <= 200; seed++) {
            unsigned  st = seed;

            for (i = 0; i < sizeof(junk); i++) {
                k = test_rand(&st);
                junk[i] = (unsigned char) ("{}[]\":,0123 \n\rdata:usage"
                                           "choices\\u" [k % 33]);
                if (k % 97 == 0) {
                    junk[i] = (unsigned char) k;
                }
            }

            test_run(&test_openai_strip_stream, (const char *) junk,
                     sizeof(junk), sizeof(junk), sizeof(junk), 0, &whole);
            test_run(&test_openai_strip_stream, (const char *) junk,
                     sizeof(junk), 1, 40, seed, &r);
            differ += !test_same(&whole, &r);
            broken += whole.contract_broken + r.contract_broken;
            free(whole.out);
            free(r.out);

            test_run(&test_anthropic_body, (const char *) junk,
                     sizeof(junk), 1, 40, seed, &r);
            broken += r.contract_broken;
            free(r.out);

            /* a few bytes of a real stream changed */
            for (i = 0; i < 3; i++) {
                k = test_rand(&st);
                stream[k % len] = "x{}\"\n\r:,[]"[(k >> 12) % 11];
            }

            test_run(&test_openai_strip_stream, stream, len, len, len, 0,
                     &whole);
            test_run(&test_openai_strip_stream, stream, len, 1, 64, seed, &r);
            differ += !test_same(&whole, &r);
            broken += whole.contract_broken + r.contract_broken;
            free(whole.out);
            free(r.out);
        }

        free(stream);

        is_int(broken, 0, "garbage: contract kept");
        is_int(differ, 0, "garbage: same results in any chunking");
    }
}


static void
test_huge(void)
{
    const char     *body;
    test_result_t   r;

    body = "{\"usage\":{\"prompt_tokens\":999999999999999999,"
           "\"completion_tokens\":1000000000000000000,"
           "\"prompt_tokens_details\":{\"cached_tokens\":12.0}},"
           "\"choices\":[{\"index\":0,\"finish_reason\":\"xxxxxxxxxxxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}";

    ok(test_all_chunkings(&test_openai_body, body, &r),
       "huge: same results in every chunking");
    is_int(r.input_tokens, 999999999999999999LL, "huge: 18 digits read");
    is_int(r.output_tokens, 0, "huge: 19 digits ignored");
    is_int(r.cached_tokens, 0, "huge: a fraction ignored");
    is_int(r.errors, 2, "huge: both counted as errors");
    is_int(r.finish, LLMOPT_FINISH_OTHER, "huge: long reason is other");
    free(r.out);

    body = "{\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":0}}";
    test_run(&test_openai_body, body, strlen(body), 1, 1, 0, &r);
    ok(r.input_tokens == 0 && r.errors == 1 && r.rc == LLMOPT_OK,
       "negative count ignored");
    free(r.out);
}


static void
test_hold_limit(void)
{
    char           *body, *p;
    size_t          pad;
    test_result_t   r;

    pad = LLMOPT_USAGE_HOLD_MAX + 100;
    body = malloc(pad + 256);

    p = body;
    p += sprintf(p, "data: {\"id\":\"");
    memset(p, 'a', pad);
    p += pad;
    sprintf(p, "\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
            "\"completion_tokens\":8}}\n\ndata: [DONE]\n\n");

    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "hold limit: same results in every chunking");
    ok(r.out_len == strlen(body) && memcmp(r.out, body, r.out_len) == 0,
       "hold limit: an oversized usage chunk passes through");
    ok(r.max_hold <= LLMOPT_USAGE_HOLD_MAX, "hold limit: hold bounded");
    is_int(r.input_tokens, 7, "hold limit: usage still counted");
    free(r.out);
    free(body);
}


static void
test_edges(void)
{
    const char          *body;
    test_result_t        r;
    llmopt_usage_t       u;
    llmopt_usage_out_t   out;

    /* multi-line data, no space after the colon, comments, ids */
    body = ": hello\n\nid: 1\nevent: x\ndata:{\"choices\":[{\"index\":0,\n"
           "data: \"delta\":{\"tool_calls\":[{\"index\":0}]},"
           "\"finish_reason\":\"tool_calls\"}]}\nretry: 10\n\n"
           "data: {\"choices\":[{\"index\":1,\"finish_reason\":\"length\"}]}"
           "\n\n";
    ok(test_all_chunkings(&test_openai_stream, body, &r),
       "multi-line data: same results in every chunking");
    is_int(r.finish, LLMOPT_FINISH_TOOL, "multi-line data: choice 0 only");
    is_int(r.first_content_offset, strstr(body, "[{\"index\":0}") - body + 1,
           "multi-line data: tool call delta is first content");
    is_int(r.errors, 0, "multi-line data: no errors");
    free(r.out);

    /* an unterminated last event counts but is never dropped */
    body = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,"
           "\"completion_tokens\":2}}\n";
    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "unterminated: same results in every chunking");
    ok(r.out_len == strlen(body) && r.input_tokens == 4 && r.dropped == 0,
       "unterminated: counted, passed through");
    free(r.out);

    /* only an event that starts with its data line can be the usage chunk */
    body = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4}}\n"
           "id: 9\n\n"
           "id: 10\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":6}}"
           "\n\n";
    ok(test_all_chunkings(&test_openai_strip_stream, body, &r),
       "field lines: same results in every chunking");
    ok(r.out_len == strlen(strstr(body, "id: 10"))
       && memcmp(r.out, body + strlen(body) - r.out_len, r.out_len) == 0
       && r.dropped == 1 && r.input_tokens == 6,
       "field lines: a later id line is dropped with its event");
    free(r.out);

    /* empty bodies */
    test_run(&test_openai_strip_stream, "", 0, 1, 1, 0, &r);
    ok(r.rc == LLMOPT_DECLINED && r.errors == 0 && r.out_len == 0,
       "empty stream: nothing");
    free(r.out);

    /* feed after finish passes through */
    llmopt_usage_init(&u, LLMOPT_DIALECT_OPENAI, 1, 1);
    (void) llmopt_usage_finish(&u, &out);
    (void) llmopt_usage_feed(&u, (const unsigned char *) "data: {", 7, &out);
    ok(out.pass == 7 && out.hold == 0 && out.consumed == 7,
       "feed after finish: passed through");

    /* a zero-length feed */
    llmopt_usage_init(&u, LLMOPT_DIALECT_OPENAI, 1, 1);
    (void) llmopt_usage_feed(&u, (const unsigned char *) "data: {", 7, &out);
    is_int(out.hold, 7, "zero feed: candidate held");
    (void) llmopt_usage_feed(&u, NULL, 0, &out);
    ok(out.hold == 7 && out.pass == 0 && out.consumed == 0,
       "zero feed: hold unchanged");
    (void) llmopt_usage_finish(&u, &out);
    ok(out.pass == 7 && out.drop == 0, "finish: a held fragment released");
    is_int(u.errors, 1, "finish: the fragment is an error");

    is_str(llmopt_finish_name(LLMOPT_FINISH_STOP), "stop", "name: stop");
    is_str(llmopt_finish_name(LLMOPT_FINISH_LENGTH), "length", "name: length");
    is_str(llmopt_finish_name(LLMOPT_FINISH_TOOL), "tool", "name: tool");
    is_str(llmopt_finish_name(LLMOPT_FINISH_OTHER), "other", "name: other");
    is_str(llmopt_finish_name(LLMOPT_FINISH_NONE), "none", "name: none");

    ok(sizeof(llmopt_usage_t) <= 512, "state is small (%zu bytes)",
       sizeof(llmopt_usage_t));
}


/*
 * Streams cut short (the client left, the upstream broke off): the content
 * seen so far, whether the usage is final, and the estimate charged
 * instead, the same in every chunking.
 */

static void
test_estimate(void)
{
    char                     *body;
    size_t                    i, len, n2;
    unsigned                  k, seed;
    uint64_t                  bytes;
    llmopt_usage_t            u, v;
    llmopt_usage_out_t        out;
    llmopt_usage_estimate_t   est;
    const char               *parts[5];
    static const char         second[] =
        " \\\"usage\\\":{\\\"prompt_tokens\\\":5},\\\"choices\\\":[]";

    /* the OpenAI stream up to its finish_reason chunk, no usage chunk */

    for (i = 0; i < 4; i++) {
        parts[i] = test_openai_parts[i];
    }
    parts[4] = NULL;

    body = test_concat(parts, -1);
    len = strlen(body);
    n2 = strlen(second);

    llmopt_usage_init(&u, LLMOPT_DIALECT_OPENAI, 1, 0);
    (void) llmopt_usage_feed(&u, (const unsigned char *) body, len, &out);

    is_int(u.content_parts, 2, "estimate: two deltas had content");
    is_int(u.content_bytes, 5 + n2,
           "estimate: their bytes, as they are in the stream");
    ok(!llmopt_usage_final(&u), "estimate: no usage, not final");

    llmopt_usage_estimate(&u, 40, &est);
    is_int(est.input_tokens, 40, "estimate: input from the request");
    is_int(est.output_tokens, (5 + n2 + 2) / 3,
           "estimate: output, a token per 3 bytes of content");

    /* the same counts in every chunking, byte by byte too */

    for (k = 0; k < 8; k++) {
        seed = k;
        llmopt_usage_init(&v, LLMOPT_DIALECT_OPENAI, 1, 0);
        for (i = 0; i < len; i += n2) {
            n2 = k == 0 ? 1 : 1 + test_rand(&seed) % 97;
            n2 = i + n2 > len ? len - i : n2;
            (void) llmopt_usage_feed(&v, (const unsigned char *) body + i, n2,
                                     &out);
        }
        if (v.content_bytes != u.content_bytes
            || v.content_parts != u.content_parts)
        {
            break;
        }
    }
    ok(k == 8, "estimate: the same counts in every chunking");
    free(body);

    /* one token a delta at least: many one-byte deltas */

    llmopt_usage_init(&u, LLMOPT_DIALECT_OPENAI, 1, 0);
    for (i = 0; i < 10; i++) {
        body = "data: {\"choices\":[{\"index\":0,\"delta\":"
               "{\"content\":\"a\"}}]}\n\n";
        (void) llmopt_usage_feed(&u, (const unsigned char *) body,
                                 strlen(body), &out);
    }
    llmopt_usage_estimate(&u, 1, &est);
    is_int(est.output_tokens, 10, "estimate: at least a token a delta");

    /* with the usage chunk and [DONE]: final */

    body = test_concat(test_openai_parts, -1);
    llmopt_usage_init(&u, LLMOPT_DIALECT_OPENAI, 1, 0);
    (void) llmopt_usage_feed(&u, (const unsigned char *) body, strlen(body),
                             &out);
    ok(llmopt_usage_final(&u), "estimate: openai usage chunk, final");
    free(body);

    /* Anthropic: message_start's usage is not final before the end */

    for (i = 0; i < 4; i++) {
        parts[i] = test_anthropic_parts[i];
    }
    parts[4] = NULL;

    body = test_concat(parts, -1);
    llmopt_usage_init(&u, LLMOPT_DIALECT_ANTHROPIC, 1, 0);
    (void) llmopt_usage_feed(&u, (const unsigned char *) body, strlen(body),
                             &out);
    ok(u.seen_usage, "anthropic cut: message_start's usage seen");
    ok(!llmopt_usage_final(&u), "anthropic cut: ... but not final");
    llmopt_usage_estimate(&u, 40, &est);
    is_int(est.input_tokens, 472 + 100 + 2048,
           "anthropic cut: input as message_start said");
    is_int(est.output_tokens, 2,
           "anthropic cut: output, at least message_start's 2");
    is_int(u.content_parts, 1, "anthropic cut: one text delta");
    free(body);

    body = test_concat(test_anthropic_parts, -1);
    llmopt_usage_init(&u, LLMOPT_DIALECT_ANTHROPIC, 1, 0);
    (void) llmopt_usage_feed(&u, (const unsigned char *) body, strlen(body),
                             &out);
    ok(llmopt_usage_final(&u), "anthropic whole: final at message_stop");
    free(body);

    /* nothing came back: the prompt alone; a JSON answer cut short */

    llmopt_usage_estimate(NULL, 77, &est);
    ok(est.input_tokens == 77 && est.output_tokens == 0,
       "estimate: no answer, the prompt's estimate alone");

    body = "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"abcdef";
    llmopt_usage_init(&u, LLMOPT_DIALECT_OPENAI, 0, 0);
    (void) llmopt_usage_feed(&u, (const unsigned char *) body, strlen(body),
                             &out);
    llmopt_usage_estimate(&u, 5, &est);
    bytes = strlen(body);
    is_int(est.output_tokens, (bytes + 2) / 3,
           "estimate: a JSON answer cut short, a token per 3 of its bytes");
}
