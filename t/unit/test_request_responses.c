/*
 * Copyright (C) llmopt authors
 *
 * The request parse of the Responses API dialect (llmopt_request.c,
 * llmopt_request_responses.c): model, stream, max_output_tokens and
 * text.format; "input" as a string or items for the prompt, the message
 * count and the text bytes; "instructions" and system or developer items
 * for the system prompt; the errors; and the same figures as the chat
 * request the translator makes of it (t/data/translate).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_request.h"
#include "tap.h"


#define TEST_TOKS  4096


static llmopt_json_tok_t  test_toks[TEST_TOKS];


static int test_parse(llmopt_request_t *req, llmopt_dialect_e dialect,
    const char *json, llmopt_err_t *err);
static int test_span(const llmopt_request_t *req, llmopt_span_t span,
    const char *want);
static char *test_read(const char *name);


static int
test_parse(llmopt_request_t *req, llmopt_dialect_e dialect, const char *json,
    llmopt_err_t *err)
{
    return llmopt_request_parse(req, dialect, (const unsigned char *) json,
                                strlen(json), test_toks, TEST_TOKS, 64, err);
}


static int
test_span(const llmopt_request_t *req, llmopt_span_t span, const char *want)
{
    return span.end - span.start == strlen(want)
           && memcmp(req->body + span.start, want, strlen(want)) == 0;
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


int
main(void)
{
    int                rc;
    char              *rs, *oa;
    llmopt_err_t       err;
    llmopt_request_t   req, chat;
    llmopt_request_t   copy;
    static const char  plain[] =
        "{\"model\":\"gpt-4.1\",\"instructions\":\"Be brief.\","
        "\"input\":\"Write ```python\\nprint(1)```\",\"stream\":true,"
        "\"max_output_tokens\":300}";
    static const char  items[] =
        "{\"model\":\"gpt-4.1\",\"input\":["
        "{\"role\":\"developer\",\"content\":\"Answer in French.\"},"
        "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":"
        "\"input_text\",\"text\":\"first question\"},{\"type\":"
        "\"input_image\",\"image_url\":\"https://e.com/a.png\"}]},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\","
        "\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c1\","
        "\"output\":\"42\"},"
        "{\"role\":\"user\",\"content\":\"the last question\"}],"
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],"
        "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\","
        "\"schema\":{}}},\"max_tokens\":7}";

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES, plain, &err);
    ok(rc == LLMOPT_OK, "a string input parses");
    ok(test_span(&req, req.model, "\"gpt-4.1\""), "the model");
    ok(req.stream && req.max_tokens == 300 && req.n_messages == 1,
       "stream, max_output_tokens as max_tokens, one message");
    ok(test_span(&req, req.prompt, "Write ```python\\nprint(1)```"),
       "the input string is the prompt");
    ok(test_span(&req, req.system, "Be brief."),
       "the instructions are the system prompt");
    ok(req.system_bytes == 9 && req.text_bytes == 9 + 28,
       "system bytes 9, text bytes the instructions and the input (%zu %zu)",
       req.system_bytes, req.text_bytes);
    ok(req.has_code, "a fence in the input is code");

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES, items, &err);
    ok(rc == LLMOPT_OK, "an item input parses");
    ok(req.n_messages == 5, "five items (%u)", req.n_messages);
    ok(test_span(&req, req.prompt, "the last question"),
       "the last user message is the prompt");
    ok(test_span(&req, req.system, "Answer in French."),
       "the developer message is the system prompt");
    ok(req.system_bytes == 17 && req.text_bytes == 17 + 14 + 2 + 17 + 32,
       "text bytes: the messages' text, the function output and the "
       "tools' JSON (%zu)", req.text_bytes);
    ok(req.has_tools && req.json_format && !req.stream,
       "tools, JSON output, no stream");
    ok(req.max_tokens == -1, "max_tokens is not a Responses field");

    /* the same body as a chat request has no messages */

    rc = test_parse(&req, LLMOPT_DIALECT_OPENAI, items, &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "'messages'") != NULL,
       "as a chat request it has no messages");

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES, "{\"model\":\"m\"}",
                    &err);
    ok(rc == LLMOPT_ERROR && err.status == 400
       && strcmp(err.msg, "'input' is a required property") == 0,
       "no input: %s", err.msg);

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES,
                    "{\"input\":[]}", &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "'input': empty array"),
       "an empty input: %s", err.msg);

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES, "{\"input\":3}", &err);
    ok(rc == LLMOPT_ERROR
       && strstr(err.msg, "'input': expected a string or an array"),
       "a number input: %s", err.msg);

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES,
                    "{\"input\":[\"x\"]}", &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "'input[0]'"),
       "an item that is not an object: %s", err.msg);

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES,
                    "{\"input\":\"x\",\"instructions\":[1]}", &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "'instructions'"),
       "instructions not a string: %s", err.msg);

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES,
                    "{\"input\":\"x\",\"max_output_tokens\":-1}", &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "'max_output_tokens'"),
       "a negative max_output_tokens: %s", err.msg);

    rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES,
                    "{\"input\":\"x\",\"text\":7}", &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "'text'"),
       "text not an object: %s", err.msg);

    /*
     * The features see the same request in both dialects: the Responses
     * golden and the chat request the translator makes of it.
     */

    rs = test_read("t/data/translate/rq-tools.responses.json");
    oa = test_read("t/data/translate/rq-tools.responses-to-openai.json");
    ok(rs != NULL && oa != NULL, "read the rq-tools goldens");

    if (rs != NULL && oa != NULL) {
        rc = test_parse(&req, LLMOPT_DIALECT_RESPONSES, rs, &err);
        copy = req;
        rc |= test_parse(&chat, LLMOPT_DIALECT_OPENAI, oa, &err);

        ok(rc == LLMOPT_OK
           && copy.prompt.end - copy.prompt.start
              == chat.prompt.end - chat.prompt.start
           && memcmp(rs + copy.prompt.start, oa + chat.prompt.start,
                     copy.prompt.end - copy.prompt.start) == 0
           && copy.system_bytes == chat.system_bytes
           && copy.max_tokens == chat.max_tokens
           && copy.has_tools == chat.has_tools
           && copy.has_code == chat.has_code,
           "the Responses request and its chat translation: the same "
           "prompt, system bytes, max tokens and tools");
    }

    free(rs);
    free(oa);

    return tap_done();
}
