/*
 * Copyright (C) llmopt authors
 *
 * llmopt_cascade_answer_text(): the answer's text in OpenAI and
 * Anthropic answer objects, and the answers that have none; an OpenAI
 * answer's log-probabilities and their span.
 */


#include <string.h>

#include "tap.h"

#include "llmopt_cascade.h"


#define TEST_TOKS  256


static void test_text(llmopt_dialect_e dialect, const char *json,
    const char *want, const char *name);
static void test_logprobs(void);
static int test_parse(const char *json, llmopt_json_tok_t *toks,
    unsigned *count);


int
main(void)
{
    test_text(LLMOPT_DIALECT_OPENAI,
              "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
              "\"assistant\",\"content\":\"The answer is B.\"},"
              "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3}}",
              "The answer is B.", "OpenAI: choices[0].message.content");
    test_text(LLMOPT_DIALECT_OPENAI,
              "{\"choices\":[{\"message\":{\"content\":\"a \\\"q\\\" \\u00e9"
              "\"}},{\"message\":{\"content\":\"second\"}}]}",
              "a \"q\" \xc3\xa9", "OpenAI: escapes decoded, the first choice");
    test_text(LLMOPT_DIALECT_OPENAI,
              "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":"
              "[]}}]}", NULL, "OpenAI: a tool call alone has no text");
    test_text(LLMOPT_DIALECT_OPENAI, "{\"choices\":[]}", NULL,
              "OpenAI: no choice");
    test_text(LLMOPT_DIALECT_OPENAI,
              "{\"error\":{\"message\":\"overloaded\"}}", NULL,
              "OpenAI: an error object");
    test_text(LLMOPT_DIALECT_ANTHROPIC,
              "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":"
              "\"tool_use\",\"id\":\"t\",\"input\":{\"text\":\"no\"}},"
              "{\"type\":\"text\",\"text\":\"Paris.\"}],\"stop_reason\":"
              "\"end_turn\"}",
              "Paris.", "Anthropic: the first text block, past a tool use");
    test_text(LLMOPT_DIALECT_ANTHROPIC,
              "{\"content\":[{\"type\":\"tool_use\",\"input\":{}}]}", NULL,
              "Anthropic: no text block");
    test_text(LLMOPT_DIALECT_ANTHROPIC,
              "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}", NULL,
              "Anthropic: an OpenAI body is not read as one");

    test_logprobs();

    return tap_done();
}


static void
test_logprobs(void)
{
    size_t              start, end;
    double              mean, min;
    unsigned            count, n;
    const char         *json;
    llmopt_json_tok_t   toks[TEST_TOKS];

    json = "{\"choices\":[{\"message\":{\"content\":\"a b c\"},"
           "\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-0.5,"
           "\"top_logprobs\":[{\"token\":\"x\",\"logprob\":-9}]},"
           "{\"token\":\"b\",\"logprob\":-1.5e0},{\"token\":\"c\","
           "\"logprob\":0}],\"refusal\":null},\"finish_reason\":\"stop\"}]}";

    if (!ok(test_parse(json, toks, &count), "logprobs: parses")) {
        return;
    }

    n = llmopt_cascade_answer_logprobs((const unsigned char *) json, toks,
                                       count, &mean, &min);
    is_int(n, 3, "logprobs: three tokens, the top ones not counted");
    is_num(mean, -2.0 / 3, 1e-12, "logprobs: their mean");
    is_num(min, -1.5, 1e-12, "logprobs: their minimum");

    ok(llmopt_cascade_answer_logprobs_span((const unsigned char *) json,
                                           toks, count, &start, &end)
       == LLMOPT_OK
       && json[start] == '{' && json[end - 1] == '}'
       && strncmp(json + end, ",\"finish_reason\"", 16) == 0,
       "logprobs: the value's span, to be replaced by null");

    json = "{\"choices\":[{\"message\":{\"content\":\"a\"},"
           "\"logprobs\":null}]}";
    ok(test_parse(json, toks, &count), "no logprobs: parses");
    is_int(llmopt_cascade_answer_logprobs((const unsigned char *) json, toks,
                                          count, &mean, &min),
           0, "no logprobs: none counted");
    ok(mean == 0 && min == 0, "no logprobs: mean and minimum 0");
    is_int(llmopt_cascade_answer_logprobs_span((const unsigned char *) json,
                                               toks, count, &start, &end),
           LLMOPT_DECLINED, "no logprobs: a null is left as it is");
}


static int
test_parse(const char *json, llmopt_json_tok_t *toks, unsigned *count)
{
    llmopt_err_t  err;

    memset(&err, 0, sizeof(err));

    return llmopt_json_parse((const unsigned char *) json, strlen(json),
                             toks, TEST_TOKS, 0, count, &err)
           == LLMOPT_OK;
}


static void
test_text(llmopt_dialect_e dialect, const char *json, const char *want,
    const char *name)
{
    int                 t;
    size_t              n;
    unsigned            count;
    llmopt_err_t        err;
    llmopt_json_tok_t   toks[TEST_TOKS];
    unsigned char       out[256];

    memset(&err, 0, sizeof(err));

    if (llmopt_json_parse((const unsigned char *) json, strlen(json), toks,
                          TEST_TOKS, 0, &count, &err)
        != LLMOPT_OK)
    {
        ok(0, "%s: parses", name);
        return;
    }

    t = llmopt_cascade_answer_text(dialect, (const unsigned char *) json,
                                   toks, count);

    if (want == NULL) {
        is_int(t, -1, "%s", name);
        return;
    }

    n = t >= 0 ? llmopt_json_unescape(out, (const unsigned char *) json,
                                      &toks[t])
               : 0;
    out[n] = '\0';

    is_str((const char *) out, want, "%s", name);
}
