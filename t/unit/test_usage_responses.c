/*
 * Copyright (C) llmopt authors
 *
 * Usage capture from the OpenAI Responses API: a response object (JSON)
 * and the response.* event stream, whose usage is in response.completed
 * (or response.incomplete); fed whole, byte by byte and in random chunks,
 * every way the same counts; cached tokens, finish reasons, the first
 * content delta, errors; and the translator's Responses streams
 * (t/data/translate) counted as their upstream's streams are.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "llmopt_usage.h"
#include "tap.h"


typedef struct {
    int64_t            input_tokens;
    int64_t            output_tokens;
    int64_t            cached_tokens;
    int64_t            first_content_offset;
    llmopt_finish_e    finish;
    unsigned           errors;
    unsigned           seen_usage;
    unsigned           complete;
    unsigned           upstream_error;
    int                final;
} test_result_t;


static void test_run(const char *body, int sse, size_t chunk, unsigned seed,
    test_result_t *r);
static void test_run_dialect(llmopt_dialect_e dialect, const char *body,
    int sse, size_t chunk, unsigned seed, test_result_t *r);
static char *test_read(const char *name);
static void test_translated(const char *upstream, llmopt_dialect_e dialect,
    const char *translated);
static int test_same(const test_result_t *a, const test_result_t *b);
static void test_case(const char *name, const char *body, int sse,
    test_result_t *r);


/* a response object as the API answers a non-streamed request */

static const char  test_json[] =
    "{\"id\":\"resp_67ccd2bed1ec8190b14f964abc054267\",\"object\":\"response\","
    "\"created_at\":1741476542,\"status\":\"completed\",\"error\":null,"
    "\"incomplete_details\":null,\"instructions\":null,"
    "\"max_output_tokens\":null,\"model\":\"gpt-4.1-2025-04-14\","
    "\"output\":[{\"type\":\"message\",\"id\":\"msg_67ccd2bf17f0\","
    "\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"output_text\",\"text\":\"In a peaceful grove, \\\"usage\\\": "
    "{\\\"input_tokens\\\": 9}\",\"annotations\":[]}]}],"
    "\"parallel_tool_calls\":true,\"previous_response_id\":null,"
    "\"reasoning\":{\"effort\":null,\"summary\":null},\"store\":true,"
    "\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},"
    "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,"
    "\"truncation\":\"disabled\",\"usage\":{\"input_tokens\":2336,"
    "\"input_tokens_details\":{\"cached_tokens\":2048},"
    "\"output_tokens\":109,\"output_tokens_details\":"
    "{\"reasoning_tokens\":64},\"total_tokens\":2445},\"user\":null,"
    "\"metadata\":{}}";

static const char  test_json_incomplete[] =
    "{\"id\":\"resp_2\",\"object\":\"response\",\"created_at\":1741476542,"
    "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},"
    "\"status\":\"incomplete\",\"model\":\"o4-mini\",\"output\":[],"
    "\"usage\":{\"input_tokens\":20,\"output_tokens\":16,"
    "\"output_tokens_details\":{\"reasoning_tokens\":16},"
    "\"total_tokens\":36}}";

static const char  test_json_error[] =
    "{\"error\":{\"message\":\"Rate limit reached\",\"type\":"
    "\"rate_limit_exceeded\",\"param\":null,\"code\":null}}";


/* a stream: usage only in response.completed */

#define TEST_HEAD                                                            \
    "event: response.created\n"                                              \
    "data: {\"type\":\"response.created\",\"sequence_number\":0,"            \
    "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","               \
    "\"created_at\":1741290958,\"status\":\"in_progress\",\"error\":null,"   \
    "\"incomplete_details\":null,\"model\":\"gpt-4.1\",\"output\":[],"       \
    "\"usage\":null}}\n\n"                                                   \
    "event: response.in_progress\n"                                          \
    "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,"        \
    "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","               \
    "\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n"          \
    "event: response.output_item.added\n"                                    \
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":2,"  \
    "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\","    \
    "\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n" \
    "event: response.content_part.added\n"                                   \
    "data: {\"type\":\"response.content_part.added\",\"sequence_number\":3," \
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"          \
    "\"part\":{\"type\":\"output_text\",\"text\":\"\","                      \
    "\"annotations\":[]}}\n\n"

#define TEST_DELTA                                                           \
    "event: response.output_text.delta\n"                                    \
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,"  \
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"          \
    "\"delta\":\"Hi\"}\n\n"

static const char  test_sse[] =
    TEST_HEAD TEST_DELTA
    "event: response.output_text.done\n"
    "data: {\"type\":\"response.output_text.done\",\"sequence_number\":5,"
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
    "\"text\":\"Hi\"}\n\n"
    "event: response.output_item.done\n"
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":6,"
    "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"output_text\",\"text\":\"Hi\",\"annotations\":[]}]}}\n\n"
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"sequence_number\":7,"
    "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
    "\"status\":\"completed\",\"error\":null,\"incomplete_details\":null,"
    "\"output\":[{\"id\":\"msg_1\",\"type\":\"message\",\"status\":"
    "\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"output_text\",\"text\":\"Hi\",\"annotations\":[]}]}],"
    "\"usage\":{\"input_tokens\":1200,\"input_tokens_details\":"
    "{\"cached_tokens\":1024},\"output_tokens\":2,\"output_tokens_details\":"
    "{\"reasoning_tokens\":0},\"total_tokens\":1202}}}\n\n";

static const char  test_sse_incomplete[] =
    TEST_HEAD TEST_DELTA
    "event: response.incomplete\n"
    "data: {\"type\":\"response.incomplete\",\"sequence_number\":5,"
    "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
    "\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
    "\"max_output_tokens\"},\"output\":[],\"usage\":{\"input_tokens\":12,"
    "\"output_tokens\":1,\"total_tokens\":13}}}\n\n";

static const char  test_sse_error[] =
    TEST_HEAD TEST_DELTA
    "event: error\n"
    "data: {\"type\":\"error\",\"sequence_number\":5,\"code\":"
    "\"server_error\",\"message\":\"The server had an error\","
    "\"param\":null}\n\n";


int
main(void)
{
    test_result_t  r;
    const char    *p;

    test_case("JSON response object", test_json, 0, &r);
    ok(r.input_tokens == 2336 && r.output_tokens == 109
       && r.cached_tokens == 2048,
       "JSON: input 2336, output 109, cached 2048 (got %lld %lld %lld)",
       (long long) r.input_tokens, (long long) r.output_tokens,
       (long long) r.cached_tokens);
    ok(r.finish == LLMOPT_FINISH_STOP && r.complete && r.final
       && r.errors == 0 && !r.upstream_error,
       "JSON: status completed is a stop, final, no error");
    ok(r.first_content_offset == -1, "JSON: no content offset");

    test_case("JSON incomplete", test_json_incomplete, 0, &r);
    ok(r.input_tokens == 20 && r.output_tokens == 16
       && r.cached_tokens == 0 && r.finish == LLMOPT_FINISH_LENGTH,
       "JSON incomplete: 20 in, 16 out, max_output_tokens is a length "
       "stop (finish %d)", (int) r.finish);

    test_case("JSON error", test_json_error, 0, &r);
    ok(r.upstream_error && !r.seen_usage,
       "JSON error body: an upstream error, no usage");

    test_case("stream", test_sse, 1, &r);
    ok(r.input_tokens == 1200 && r.output_tokens == 2
       && r.cached_tokens == 1024,
       "stream: response.completed's usage, 1200 in (1024 cached), 2 out");
    ok(r.finish == LLMOPT_FINISH_STOP && r.complete && r.final
       && r.errors == 0,
       "stream: completed, final, no error");

    p = strstr(test_sse, "\"delta\":\"Hi\"");
    ok(p != NULL && r.first_content_offset == p - test_sse + 9,
       "stream: the first content is the first delta's text (%lld)",
       (long long) r.first_content_offset);

    test_case("stream incomplete", test_sse_incomplete, 1, &r);
    ok(r.input_tokens == 12 && r.output_tokens == 1
       && r.finish == LLMOPT_FINISH_LENGTH && r.complete,
       "stream: response.incomplete ends it, a length stop, 12 in, 1 out");

    test_case("stream error", test_sse_error, 1, &r);
    ok(r.upstream_error && !r.seen_usage && !r.complete,
       "stream: an error event is an upstream error, no usage");

    /* before response.completed nothing is final: the counts come there */

    test_run(test_sse, 1, 0, 0, &r);
    ok(r.final, "a whole stream is final");

    test_translated("sse-text.openai.sse", LLMOPT_DIALECT_OPENAI,
                    "sse-text.openai-to-responses.sse");
    test_translated("sse-tools.openai.sse", LLMOPT_DIALECT_OPENAI,
                    "sse-tools.openai-to-responses.sse");
    test_translated("sse-text.anthropic.sse", LLMOPT_DIALECT_ANTHROPIC,
                    "sse-text.anthropic-to-responses.sse");
    test_translated("sse-tools.anthropic.sse", LLMOPT_DIALECT_ANTHROPIC,
                    "sse-tools.anthropic-to-responses.sse");
    test_translated("sse-thinking.anthropic.sse", LLMOPT_DIALECT_ANTHROPIC,
                    "sse-thinking.anthropic-to-responses.sse");

    return tap_done();
}


/*
 * An upstream's golden stream and its translation for a Responses client
 * give the same tokens: what the client is shown is what is charged.
 */

static void
test_translated(const char *upstream, llmopt_dialect_e dialect,
    const char *translated)
{
    char           path[256], *a, *b;
    test_result_t  ra, rb;

    snprintf(path, sizeof(path), "t/data/translate/%s", upstream);
    a = test_read(path);
    snprintf(path, sizeof(path), "t/data/translate/%s", translated);
    b = test_read(path);

    if (!ok(a != NULL && b != NULL, "read %s and %s", upstream, translated)) {
        free(a);
        free(b);
        return;
    }

    test_run_dialect(dialect, a, 1, 0, 0, &ra);
    test_run_dialect(LLMOPT_DIALECT_RESPONSES, b, 1, 7, 1, &rb);

    ok(ra.seen_usage && rb.seen_usage && rb.complete && rb.final
       && ra.input_tokens == rb.input_tokens
       && ra.output_tokens == rb.output_tokens
       && ra.cached_tokens == rb.cached_tokens && rb.errors == 0,
       "%s: %lld in, %lld out, %lld cached, as its upstream's %s",
       translated, (long long) rb.input_tokens,
       (long long) rb.output_tokens, (long long) rb.cached_tokens,
       upstream);

    free(a);
    free(b);
}


static char *
test_read(const char *name)
{
    FILE   *f;
    long    n;
    char   *buf;

    f = fopen(name, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    buf[n] = '\0';
    fclose(f);

    return buf;
}


/* the body whole, then byte by byte, then in random chunks: the same */

static void
test_case(const char *name, const char *body, int sse, test_result_t *r)
{
    unsigned       seed;
    test_result_t  other;
    int            same;

    test_run(body, sse, 0, 0, r);

    same = 1;
    test_run(body, sse, 1, 0, &other);
    same = same && test_same(r, &other);

    for (seed = 1; seed <= 6; seed++) {
        test_run(body, sse, 97, seed, &other);
        same = same && test_same(r, &other);
    }

    ok(same, "%s: every chunking gives the same counts", name);
}


static void
test_run(const char *body, int sse, size_t chunk, unsigned seed,
    test_result_t *r)
{
    test_run_dialect(LLMOPT_DIALECT_RESPONSES, body, sse, chunk, seed, r);
}


static void
test_run_dialect(llmopt_dialect_e dialect, const char *body, int sse,
    size_t chunk, unsigned seed, test_result_t *r)
{
    size_t               len, pos, n;
    unsigned             state;
    llmopt_usage_t       u;
    llmopt_usage_out_t   out;

    len = strlen(body);
    state = seed * 2654435761u + 1;

    llmopt_usage_init(&u, dialect, sse, 0);

    for (pos = 0; pos < len; pos += n) {
        n = len - pos;

        if (chunk == 1) {
            n = 1;

        } else if (chunk > 1) {
            state = state * 1103515245u + 12345u;
            n = 1 + (state >> 16) % chunk;
            n = n > len - pos ? len - pos : n;
        }

        llmopt_usage_feed(&u, (const unsigned char *) body + pos, n, &out);
    }

    llmopt_usage_finish(&u, NULL);

    r->input_tokens = u.input_tokens;
    r->output_tokens = u.output_tokens;
    r->cached_tokens = u.cached_tokens;
    r->first_content_offset = u.first_content_offset;
    r->finish = u.finish;
    r->errors = u.errors;
    r->seen_usage = u.seen_usage;
    r->complete = u.complete;
    r->upstream_error = u.upstream_error;
    r->final = llmopt_usage_final(&u);
}


static int
test_same(const test_result_t *a, const test_result_t *b)
{
    return a->input_tokens == b->input_tokens
           && a->output_tokens == b->output_tokens
           && a->cached_tokens == b->cached_tokens
           && a->first_content_offset == b->first_content_offset
           && a->finish == b->finish && a->errors == b->errors
           && a->seen_usage == b->seen_usage
           && a->complete == b->complete
           && a->upstream_error == b->upstream_error
           && a->final == b->final;
}
