/*
 * Copyright (C) llmopt authors
 *
 * Parsing and validating OpenAI and Anthropic request bodies.
 */

#include <string.h>

#include "llmopt_request.h"
#include "llmopt_request_scan.h"
#include "tap.h"


#define TEST_TOKS  1024


typedef struct {
    llmopt_dialect_e   dialect;
    const char        *json;
    size_t             offset;
    const char        *msg;
} test_bad_t;


static int test_parse(llmopt_request_t *req, llmopt_dialect_e dialect,
    const char *json, llmopt_err_t *err);
static int test_span_is(const llmopt_request_t *req, llmopt_span_t span,
    const char *want);
static void test_openai(void);
static void test_anthropic(void);
static void test_invalid(void);
static void test_again(void);
static void test_duplicates(void);
static void test_code(void);


static llmopt_json_tok_t  test_toks[TEST_TOKS];
static uint16_t           test_words[LLMOPT_REQUEST_WORD_BUCKETS];


int
main(void)
{
    test_openai();
    test_anthropic();
    test_invalid();
    test_again();
    test_duplicates();
    test_code();

    return tap_done();
}


static int
test_parse(llmopt_request_t *req, llmopt_dialect_e dialect, const char *json,
    llmopt_err_t *err)
{
    memset(err, 0, sizeof(llmopt_err_t));

    return llmopt_request_parse(req, dialect, (const unsigned char *) json,
                                strlen(json), test_toks, TEST_TOKS, 32, err);
}


static int
test_span_is(const llmopt_request_t *req, llmopt_span_t span,
    const char *want)
{
    size_t  len;

    len = strlen(want);

    return span.end - span.start == len
           && memcmp(req->body + span.start, want, len) == 0;
}


static void
test_openai(void)
{
    llmopt_err_t      err;
    llmopt_span_t     span;
    llmopt_request_t  req;
    const char       *json;

    json = "{\"model\": \"gpt-4o\",\n"
           " \"messages\": [\n"
           "  {\"role\": \"system\", \"content\": \"Be brief.\"},\n"
           "  {\"role\": \"developer\", \"content\": [{\"type\": \"text\","
           " \"text\": \"No emoji.\"}]},\n"
           "  {\"role\": \"user\", \"content\": \"What is 2+2?\"},\n"
           "  {\"role\": \"assistant\", \"content\": null, "
           "\"tool_calls\": []},\n"
           "  {\"role\": \"user\", \"content\": [{\"type\": \"image_url\","
           " \"image_url\": {\"url\": \"x\"}}, {\"type\": \"text\","
           " \"text\": \"Describe it\"}]}\n"
           " ],\n"
           " \"max_tokens\": 100, \"max_completion_tokens\": 300,\n"
           " \"temperature\": 0.5, \"top_p\": null, \"stream\": true,\n"
           " \"stream_options\": {\"include_usage\": true},\n"
           " \"tools\": [{\"type\": \"function\"}],\n"
           " \"response_format\": {\"type\": \"json_schema\"}}";

    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "openai body parses");
    ok(test_span_is(&req, req.model, "\"gpt-4o\""), "model span");
    is_int(req.n_messages, 5, "5 messages");
    is_int(req.system_bytes, 9 + 9, "system + developer bytes");
    is_int(req.text_bytes, 9 + 9 + 12 + 11 + strlen("[{\"type\": "
           "\"function\"}]"), "text bytes: contents and tools JSON");
    is_int(req.max_tokens, 300, "max_completion_tokens wins");
    is_int(req.stream, 1, "stream");
    is_int(req.has_tools, 1, "has_tools");
    is_int(req.json_format, 1, "json_schema format");
    is_int(req.has_stream_options, 1, "stream_options");
    is_int(req.include_usage, 1, "include_usage");
    is_int(req.has_code, 0, "no code");
    ok(test_span_is(&req, req.prompt, "Describe it"),
       "prompt: the text of the last user message");
    ok(test_span_is(&req, req.system, "Be brief."),
       "system: the first longest system or developer text");
    is_int(llmopt_request_words(req.body, req.prompt.start,
                                req.prompt.end, test_words), 2,
           "two words in the prompt");
    ok(req.ntoks > 50 && req.toks == test_toks, "tokens kept");

    is_int(llmopt_request_member(&req, "temperature", 11, &span), LLMOPT_OK,
           "member temperature");
    ok(test_span_is(&req, span, "0.5"), "temperature span");
    is_int(llmopt_request_member(&req, "seed", 4, &span), LLMOPT_DECLINED,
           "absent member declines");
    is_int(span.start == span.end, 1, "absent member: empty span");
    is_int(llmopt_request_member(&req, "include_usage", 13, &span),
           LLMOPT_DECLINED, "nested keys are not root members");

    /* minimal body, defaults */

    json = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "minimal body");
    is_int(req.model.start == req.model.end, 1, "no model: empty span");
    is_int(req.max_tokens, -1, "no max_tokens: -1");
    is_int(req.stream | req.has_tools | req.json_format
           | req.has_stream_options | req.include_usage, 0, "flags off");
    is_int(req.text_bytes, 2, "text bytes of hi");
    is_int(req.system_bytes, 0, "no system");

    /* null means absent */

    json = "{\"model\":null,\"stream\":null,\"max_tokens\":null,"
           "\"tools\":[],\"response_format\":{\"type\":\"text\"},"
           "\"stream_options\":{\"include_usage\":false},"
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "nulls are accepted");
    is_int(req.model.start == req.model.end, 1, "null model: empty span");
    is_int(req.max_tokens, -1, "null max_tokens: -1");
    is_int(req.has_tools, 0, "empty tools: has_tools 0");
    is_int(req.json_format, 0, "text format is not json");
    is_int(req.has_stream_options, 1, "stream_options present");
    is_int(req.include_usage, 0, "include_usage false");
}


static void
test_anthropic(void)
{
    llmopt_err_t      err;
    llmopt_request_t  req;
    const char       *json;

    json = "{\"model\":\"claude-3-5-sonnet\",\"max_tokens\":1024,"
           "\"system\":[{\"type\":\"text\",\"text\":\"You are terse.\"}],"
           "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
           "\"text\":\"Hello there\"}]},{\"role\":\"assistant\",\"content\":"
           "\"Hi\"},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
           "\"tool_use_id\":\"t1\",\"content\":\"42\"}]}],\"stream\":false}";

    is_int(test_parse(&req, LLMOPT_DIALECT_ANTHROPIC, json, &err), LLMOPT_OK,
           "anthropic body parses");
    is_int(req.dialect, LLMOPT_DIALECT_ANTHROPIC, "dialect kept");
    ok(test_span_is(&req, req.model, "\"claude-3-5-sonnet\""), "model");
    is_int(req.n_messages, 3, "3 messages");
    is_int(req.system_bytes, 14, "top-level system blocks");
    is_int(req.text_bytes, 14 + 11 + 2 + 2, "text bytes");
    is_int(req.max_tokens, 1024, "max_tokens");
    is_int(req.stream, 0, "stream false");
    ok(test_span_is(&req, req.prompt, "Hello there"),
       "prompt: a tool result has no text, the earlier user text stays");
    ok(test_span_is(&req, req.system, "You are terse."),
       "system: the top-level system's text");

    json = "{\"system\":\"Sys prompt\",\"messages\":[{\"role\":\"system\","
           "\"content\":\"not special here\"},{\"role\":\"user\",\"content\":"
           "\"q\"}],\"response_format\":7,\"stream_options\":1}";

    is_int(test_parse(&req, LLMOPT_DIALECT_ANTHROPIC, json, &err), LLMOPT_OK,
           "anthropic ignores OpenAI-only members");
    is_int(req.system_bytes, 10, "only the top-level system counts");
    ok(test_span_is(&req, req.system, "Sys prompt"),
       "system span: not the message of role system");
    is_int(req.text_bytes, 10 + 16 + 1, "text bytes");

    json = "{\"system\":42,\"messages\":[{\"role\":\"user\","
           "\"content\":\"q\"}]}";
    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "openai ignores system");
}


static void
test_invalid(void)
{
    unsigned          i;
    llmopt_err_t      err;
    llmopt_request_t  req;

#define M "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

    static const test_bad_t  bad[] = {
        { LLMOPT_DIALECT_OPENAI, "{\"messages\":[}", 13,
          "Invalid JSON at byte 13: expected a value, got '}'" },
        { LLMOPT_DIALECT_OPENAI, "[]", 0,
          "Invalid JSON at byte 0: the request body must be a JSON object" },
        { LLMOPT_DIALECT_OPENAI, "{}", 0,
          "'messages' is a required property" },
        { LLMOPT_DIALECT_OPENAI, "{\"model\":\"m\"}", 0,
          "'messages' is a required property" },
        { LLMOPT_DIALECT_OPENAI, "{\"messages\":\"hi\"}", 12,
          "Invalid type for 'messages': expected an array, but got a string "
          "instead." },
        { LLMOPT_DIALECT_OPENAI, "{\"messages\":null}", 12,
          "Invalid type for 'messages': expected an array, but got null "
          "instead." },
        { LLMOPT_DIALECT_OPENAI, "{\"messages\": [ ]}", 13,
          "Invalid 'messages': empty array. Expected an array with minimum "
          "length 1, but got an empty array instead." },
        { LLMOPT_DIALECT_OPENAI,
          "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},\"x\"]}", 43,
          "Invalid type for 'messages[1]': expected an object, but got a "
          "string instead." },
        { LLMOPT_DIALECT_OPENAI, "{\"messages\":[{\"content\":\"a\"}]}", 13,
          "'messages[0].role' is a required property" },
        { LLMOPT_DIALECT_ANTHROPIC, "{\"messages\":[{\"role\":1}]}", 21,
          "Invalid type for 'messages[0].role': expected a string, but got a "
          "number instead." },
        { LLMOPT_DIALECT_OPENAI,
          "{\"messages\":[{\"role\":\"user\",\"content\":{}}]}", 38,
          "Invalid type for 'messages[0].content': expected one of a string, "
          "an array or null, but got an object instead." },
        { LLMOPT_DIALECT_ANTHROPIC,
          "{\"messages\":[{\"role\":\"user\",\"content\":[\"t\"]}]}", 39,
          "Invalid type for 'messages[0].content[0]': expected an object, "
          "but got a string instead." },
        { LLMOPT_DIALECT_OPENAI, "{\"model\":4," M "}", 9,
          "Invalid type for 'model': expected a string, but got a number "
          "instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"stream\":\"yes\"}", 54,
          "Invalid type for 'stream': expected a boolean, but got a string "
          "instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"max_tokens\":\"10\"}", 58,
          "Invalid type for 'max_tokens': expected an integer, but got a "
          "string instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"max_tokens\":10.5}", 58,
          "Invalid type for 'max_tokens': expected an integer, but got a "
          "decimal instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"max_tokens\":-5}", 58,
          "Invalid 'max_tokens': integer below minimum value. Expected a "
          "value >= 0, but got -5 instead." },
        { LLMOPT_DIALECT_OPENAI,
          "{" M ",\"max_tokens\":12345678901234567890}", 58,
          "Invalid 'max_tokens': integer above maximum value." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"max_completion_tokens\":true}",
          69,
          "Invalid type for 'max_completion_tokens': expected an integer, "
          "but got a boolean instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"temperature\":\"0.2\"}", 59,
          "Invalid type for 'temperature': expected a number, but got a "
          "string instead." },
        { LLMOPT_DIALECT_ANTHROPIC, "{" M ",\"top_p\":[]}", 53,
          "Invalid type for 'top_p': expected a number, but got an array "
          "instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"tools\":{}}", 53,
          "Invalid type for 'tools': expected an array, but got an object "
          "instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"response_format\":\"json\"}", 63,
          "Invalid type for 'response_format': expected an object, but got a "
          "string instead." },
        { LLMOPT_DIALECT_OPENAI, "{" M ",\"stream_options\":true}", 62,
          "Invalid type for 'stream_options': expected an object, but got a "
          "boolean instead." },
        { LLMOPT_DIALECT_ANTHROPIC, "{" M ",\"system\":{}}", 54,
          "Invalid type for 'system': expected a string or an array, but got "
          "an object instead." },
        { LLMOPT_DIALECT_ANTHROPIC, "{" M ",\"system\":[1]}", 55,
          "Invalid type for 'system[0]': expected an object, but got a "
          "number instead." }
    };

#undef M

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(test_parse(&req, bad[i].dialect, bad[i].json, &err),
               LLMOPT_ERROR, "rejected: %s", bad[i].json);
        is_str(err.msg, bad[i].msg, "message for %s", bad[i].json);
        is_int(err.offset, bad[i].offset, "offset for %s", bad[i].json);
        is_int(err.status, 400, "status 400 for %s", bad[i].json);
        is_str(err.type, "invalid_request_error", "type for %s",
               bad[i].json);
    }

    ok(llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                            (const unsigned char *) "{}", 2, test_toks,
                            TEST_TOKS, 32, NULL)
       == LLMOPT_ERROR, "err may be NULL");
}


static void
test_again(void)
{
    int                rc;
    unsigned           ntoks;
    llmopt_err_t       err;
    llmopt_request_t   req;
    const char        *json;

    json = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
           "\"content\":\"hi\"}],\"n\":[1,2,3]}";

    memset(&err, 0, sizeof(err));
    rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                              (const unsigned char *) json, strlen(json),
                              test_toks, 4, 32, &err);
    is_int(rc, LLMOPT_AGAIN, "short token array: AGAIN");
    is_int(req.tokens_needed, 15, "tokens_needed exact");

    ntoks = req.tokens_needed;
    rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                              (const unsigned char *) json, strlen(json),
                              test_toks, ntoks, 32, &err);
    is_int(rc, LLMOPT_OK, "again with tokens_needed: OK");
    is_int(req.ntoks, 15, "all tokens used");
    is_int(req.tokens_needed, 0, "tokens_needed 0 on success");

    rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                              (const unsigned char *) json, strlen(json),
                              test_toks, ntoks, 2, &err);
    is_int(rc, LLMOPT_ERROR, "depth 3 over max_depth 2");
    is_str(err.msg, "Invalid JSON at byte 25: nesting deeper than 2 levels",
           "depth error message");
}


static void
test_duplicates(void)
{
    llmopt_err_t      err;
    llmopt_span_t     span;
    llmopt_request_t  req;
    const char       *json;

    json = "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":"
           "\"x\"}],\"model\":\"b\",\"stream\":true,\"stream\":false,"
           "\"messages\":[{\"role\":\"user\",\"content\":\"yy\"},"
           "{\"role\":\"user\",\"content\":\"zzz\"}]}";

    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "duplicate keys parse");
    ok(test_span_is(&req, req.model, "\"b\""), "the last model wins");
    is_int(req.stream, 0, "the last stream wins");
    is_int(req.n_messages, 2, "the last messages win");
    is_int(req.text_bytes, 5, "text of the last messages only");
    ok(test_span_is(&req, req.prompt, "zzz"), "prompt from the last array");
    is_int(llmopt_request_member(&req, "model", 5, &span), LLMOPT_OK,
           "member model");
    ok(test_span_is(&req, span, "\"b\""), "member: the last occurrence");

    json = "{\"m\\u006fdel\":\"esc\",\"str\\u0065am\":true,"
           "\"messages\":[{\"r\\u006fle\":\"user\",\"content\":\"q\"}]}";
    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "escaped keys parse");
    ok(test_span_is(&req, req.model, "\"esc\""), "escaped model key seen");
    is_int(req.stream, 1, "escaped stream key seen");
}


static void
test_code(void)
{
    unsigned          i;
    char              json[512];
    llmopt_err_t      err;
    llmopt_request_t  req;

    static const struct {
        const char  *text;
        int          code;
    } prompts[] = {
        { "Fix this:\\n```python\\nx = 1\\n```", 1 },
        { "#include <stdio.h>\\nint main(void)", 1 },
        { "def add(a, b):\\n    return a + b", 1 },
        { "Write a function to find the perimeter of a pentagon.", 1 },
        { "Explain SELECT * FROM users", 1 },
        { "import numpy as np", 1 },
        { "What is the capital of France?", 0 },
        { "The undefined select of defaults", 0 },
        { "A) Ian\\nB) Dennis\\nAnswer:", 0 }
    };

    for (i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
        (void) snprintf(json, sizeof(json), "{\"messages\":[{\"role\":"
                        "\"user\",\"content\":\"%s\"}]}", prompts[i].text);

        is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err),
               LLMOPT_OK, "parse code prompt %u", i);
        is_int(req.has_code, prompts[i].code, "has_code of '%s'",
               prompts[i].text);
    }

    (void) snprintf(json, sizeof(json), "{\"messages\":[{\"role\":\"user\","
                    "\"content\":\"Hello HELLO hello\\nworld\"}]}");
    is_int(test_parse(&req, LLMOPT_DIALECT_OPENAI, json, &err), LLMOPT_OK,
           "words prompt");
    is_int(llmopt_request_words(req.body, req.prompt.start,
                                req.prompt.end, test_words), 4,
           "escapes separate words");

    for (i = 0; i < LLMOPT_REQUEST_WORD_BUCKETS; i++) {
        if (test_words[i] == 3) {
            break;
        }
    }

    ok(i < LLMOPT_REQUEST_WORD_BUCKETS, "case folds: hello counted 3 times");
}
