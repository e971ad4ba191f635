/*
 * Copyright (C) llmopt authors
 *
 * Prompt variants: the catalog's checks of their text, and each edit of
 * the rewriter in both dialects, byte-exact around the edit (string and
 * parts contents, present and absent system prompts, streams and not).
 */

#include <stdio.h>
#include <string.h>

#include "llmopt_catalog.h"
#include "llmopt_rewrite.h"
#include "tap.h"
#include "test_alloc.h"


#define TEST_TOKS  1024


static const llmopt_policy_t *test_load(const char *yaml);
static void test_catalog_errors(void);
static void test_edit(llmopt_dialect_e dialect, const llmopt_policy_t *p,
    const char *variant, const char *body, const char *want,
    const char *name);
static void test_openai(void);
static void test_anthropic(void);


static llmopt_json_tok_t  test_toks[TEST_TOKS];
static unsigned char      test_out[65536];
static llmopt_catalog_t   test_cat;


#define TEST_MODELS                                                          \
    "models:\n"                                                              \
    "  o: {upstream: u, model: gpt, price: {input: 1, output: 2}}\n"         \
    "  a: {upstream: v, model: claude, api: anthropic,\n"                    \
    "      price: {input: 1, output: 2}}\n"

#define TEST_VARIANTS                                                        \
    "    variants:\n"                                                        \
    "      control: ~\n"                                                     \
    "      pre: {system: \"Be brief \\\"now\\\".\"}\n"                       \
    "      rep: {system: \"Only this.\", system_mode: replace}\n"            \
    "      app: {append: \"Answer in one line.\\n\"}\n"                      \
    "      shots:\n"                                                         \
    "        examples: [{user: \"2+2?\", assistant: \"4\"},\n"               \
    "                   {user: \"caf\xc3\xa9?\", assistant: \"yes\"}]\n"     \
    "      all: {system: S, append: A, examples: [{user: U, assistant: V}]}\n"


int
main(void)
{
    test_catalog_errors();
    test_openai();
    test_anthropic();

    test_free_all();

    return tap_done();
}


static const llmopt_policy_t *
test_load(const char *yaml)
{
    llmopt_err_t  err;

    memset(&test_cat, 0, sizeof(test_cat));

    if (llmopt_catalog_load_string(&test_cat, "t", yaml, strlen(yaml),
                                   &test_allocator, &err)
        != LLMOPT_OK)
    {
        printf("# %u:%u %s\n", err.line, err.column, err.msg);
        return NULL;
    }

    return &test_cat.policies[0];
}


static void
test_catalog_errors(void)
{
    size_t                  i;
    llmopt_err_t            err;
    llmopt_catalog_t        cat;
    const llmopt_policy_t  *p;
    char                    yaml[16384];

    static const struct {
        const char  *policy;
        const char  *msg;
    } bad[] = {
        { "{algorithm: thompson, arms: [a], variants: {c: ~, "
          "j: {response_format: {type: json_object}}}}",
          "cannot be expressed in the anthropic api" },
        { "{algorithm: thompson, arms: [o], variants: []}",
          "must be a mapping of variant names" },
        { "{algorithm: thompson, arms: [o], variants: {c: ~, x: {sys: a}}}",
          "unknown key \"sys\"" },
        { "{algorithm: thompson, arms: [o], variants: {c: ~, "
          "x: {system: a, system_mode: after}}}",
          "must be prepend or replace" },
        { "{algorithm: thompson, arms: [o], variants: {c: ~, "
          "x: {system_mode: replace}}}",
          "needs a \"system\"" },
        { "{algorithm: thompson, arms: [o], variants: {c: ~, "
          "x: {examples: [{user: a}]}}}",
          "needs \"assistant\"" },
        { "{algorithm: thompson, arms: [o], variants: {c: ~, x: {append: \"\"}}}",
          "must be a non-empty string" },
        { "{algorithm: thompson, arms: [{model: o, params: {system: 1}}], "
          "variants: {c: ~}}",
          "cannot have variants" },
        { "{algorithm: thompson, arms: [o], variants: {c: ~, \"a b\": ~}}",
          "invalid variant name" },
        { "{algorithm: thompson, arms: [o], variants: {a: ~, b: ~, c: ~, "
          "d: ~, e: ~, f: ~, g: ~, h: ~, i: ~}}",
          "more than 8" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void) snprintf(yaml, sizeof(yaml), TEST_MODELS "policies:\n  p: %s\n",
                        bad[i].policy);
        memset(&cat, 0, sizeof(cat));

        ok(llmopt_catalog_load_string(&cat, "t", yaml, strlen(yaml),
                                      &test_allocator, &err)
           == LLMOPT_ERROR && strstr(err.msg, bad[i].msg) != NULL,
           "refused: %s", bad[i].msg);

        if (strstr(err.msg, bad[i].msg) == NULL) {
            printf("# got: %s\n", err.msg);
        }
    }

    /* too long: 8193 bytes */

    i = (size_t) snprintf(yaml, sizeof(yaml), TEST_MODELS "policies:\n  p: "
                          "{algorithm: thompson, arms: [o], variants: {c: ~, "
                          "x: {system: \"");
    memset(yaml + i, 'a', LLMOPT_VARIANT_TEXT_MAX + 1);
    (void) snprintf(yaml + i + LLMOPT_VARIANT_TEXT_MAX + 1,
                    sizeof(yaml) - i - LLMOPT_VARIANT_TEXT_MAX - 1,
                    "\"}}}\n");
    memset(&cat, 0, sizeof(cat));
    ok(llmopt_catalog_load_string(&cat, "t", yaml, strlen(yaml),
                                  &test_allocator, &err)
       == LLMOPT_ERROR && strstr(err.msg, "more than 8192") != NULL,
       "a text over 8192 bytes is refused");

    /* 8192 bytes is fine */

    yaml[i + LLMOPT_VARIANT_TEXT_MAX] = '"';
    (void) snprintf(yaml + i + LLMOPT_VARIANT_TEXT_MAX + 1,
                    sizeof(yaml) - i - LLMOPT_VARIANT_TEXT_MAX - 1,
                    "}}}\n");
    p = test_load(yaml);
    ok(p != NULL && p->n_variants == 2
       && p->variants[1].system_str.len == LLMOPT_VARIANT_TEXT_MAX + 2,
       "a text of 8192 bytes loads");

    /* the control is the first; response_format limits the dialects */

    p = test_load(TEST_MODELS "policies:\n  p:\n    algorithm: thompson\n"
                  "    arms: [o]\n" TEST_VARIANTS
                  "      json: {response_format: {type: json_object}}\n");
    ok(p != NULL && p->n_variants == 7, "seven variants load");

    if (p != NULL) {
        ok(p->variants[0].control && !p->variants[1].control,
           "the first is the control");
        is_str(p->variants[1].system_str.data, "\"Be brief \\\"now\\\".\"",
               "text JSON-escaped once, at load");
        is_str(p->variants[3].append_str.data,
               "\"Answer in one line.\\n\"", "control bytes escaped");
        is_int(p->variants[6].dialects, 1u << LLMOPT_DIALECT_OPENAI,
               "response_format: OpenAI only");
        is_int(p->variants[1].dialects, LLMOPT_VARIANT_DIALECTS,
               "text edits: both dialects");
        is_str(p->variants[4].examples.data,
               "{\"role\":\"user\",\"content\":\"2+2?\"},"
               "{\"role\":\"assistant\",\"content\":\"4\"},"
               "{\"role\":\"user\",\"content\":\"caf\xc3\xa9?\"},"
               "{\"role\":\"assistant\",\"content\":\"yes\"}",
               "examples as messages");
    }
}


static void
test_edit(llmopt_dialect_e dialect, const llmopt_policy_t *p,
    const char *variant, const char *body, const char *want,
    const char *name)
{
    int                      rc;
    size_t                   size, written;
    unsigned                 v, count;
    llmopt_err_t             err;
    llmopt_request_t         req;
    static const llmopt_kv_t set[2] = {
        { { 5, "model" }, { 5, "\"gpt\"" } },
        { { 11, "temperature" }, { 3, "0.5" } }
    };

    for (v = 0; v < p->n_variants; v++) {
        if (strcmp(p->variants[v].name.data, variant) == 0) {
            break;
        }
    }

    if (v == p->n_variants) {
        ok(0, "%s: variant %s", name, variant);
        return;
    }

    rc = llmopt_request_parse(&req, dialect, (const unsigned char *) body,
                              strlen(body), test_toks, TEST_TOKS, 32, &err);
    if (rc != LLMOPT_OK) {
        ok(0, "%s: parses (%s)", name, err.msg);
        return;
    }

    size = llmopt_request_rewrite_variant_size(&req, set, 2,
                                               &p->variants[v]);
    memset(test_out, 0xee, size + 16);
    written = llmopt_request_rewrite_variant(&req, set, 2, &p->variants[v],
                                             test_out);

    is_int(written, size, "%s: written = size", name);
    ok(test_out[written] == 0xee, "%s: nothing past the end", name);
    test_out[written] = '\0';
    is_str((char *) test_out, want, "%s", name);

    /* and what it wrote is a valid request again */

    ok(llmopt_json_parse(test_out, written, NULL, 0, 32, &count, &err)
       != LLMOPT_ERROR, "%s: valid JSON", name);
}


static void
test_openai(void)
{
    const llmopt_policy_t  *p;

    p = test_load(TEST_MODELS "policies:\n  p:\n    algorithm: thompson\n"
                  "    arms: [o]\n" TEST_VARIANTS
                  "      json: {response_format: {type: json_object}}\n");
    if (p == NULL) {
        ok(0, "openai catalog");
        return;
    }

    /* the control changes only model and params */

    test_edit(LLMOPT_DIALECT_OPENAI, p, "control",
              "{ \"model\" : \"x\", \"messages\": [{\"role\":\"user\","
              "\"content\":\"hi\"}] }",
              "{ \"model\" : \"gpt\", \"messages\": [{\"role\":\"user\","
              "\"content\":\"hi\"}] ,\"temperature\":0.5}",
              "openai control");

    /* system: prepended to a string, to parts; a message added */

    test_edit(LLMOPT_DIALECT_OPENAI, p, "pre",
              "{\"messages\": [ {\"role\": \"system\", \"content\": "
              "\"Be kind.\"}, {\"role\":\"user\",\"content\":\"hi\"}],"
              "\"stream\":true,\"model\":\"x\"}",
              "{\"messages\": [ {\"role\": \"system\", \"content\": "
              "\"Be brief \\\"now\\\".\\n\\nBe kind.\"}, {\"role\":\"user\","
              "\"content\":\"hi\"}],\"stream\":true,\"model\":\"gpt\","
              "\"temperature\":0.5}",
              "openai system prepended to a string, streaming");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "pre",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"developer\","
              "\"content\":[ {\"type\":\"text\",\"text\":\"K\"} ]},"
              "{\"role\":\"user\",\"content\":\"hi\"}]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"developer\","
              "\"content\":[{\"type\":\"text\",\"text\":\"Be brief "
              "\\\"now\\\".\"}, {\"type\":\"text\",\"text\":\"K\"} ]},"
              "{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.5}",
              "openai system prepended to parts (developer)");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "pre",
              "{\"model\":\"x\",\"messages\":[ {\"role\":\"user\","
              "\"content\":\"hi\"} ]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"Be brief \\\"now\\\".\"}, {\"role\":\"user\","
              "\"content\":\"hi\"} ],\"temperature\":0.5}",
              "openai system message added");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "rep",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"Old.\"},{\"role\":\"user\",\"content\":\"hi\"}],"
              "\"temperature\":1}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"Only this.\"},{\"role\":\"user\","
              "\"content\":\"hi\"}],\"temperature\":0.5}",
              "openai system replaced (string)");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "rep",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"system\","
              "\"content\":[{\"type\":\"text\",\"text\":\"Old\"}]},"
              "{\"role\":\"user\",\"content\":\"hi\"}]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"Only this.\"},{\"role\":\"user\","
              "\"content\":\"hi\"}],\"temperature\":0.5}",
              "openai system replaced (parts)");

    /* append: to the last user turn, string and parts */

    test_edit(LLMOPT_DIALECT_OPENAI, p, "app",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"first\"},{\"role\":\"assistant\",\"content\":"
              "\"ok\"},{\"role\":\"user\",\"content\":\"caf\\u00e9\"}]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"first\"},{\"role\":\"assistant\",\"content\":"
              "\"ok\"},{\"role\":\"user\",\"content\":\"caf\\u00e9\\n\\n"
              "Answer in one line.\\n\"}],\"temperature\":0.5}",
              "openai append to the last user string");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "app",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
              "\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}} ]}]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\","
              "\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}} ,"
              "{\"type\":\"text\",\"text\":\"Answer in one line.\\n\"}]}],"
              "\"temperature\":0.5}",
              "openai append to user parts");

    /* examples: after the leading system messages, or first */

    test_edit(LLMOPT_DIALECT_OPENAI, p, "shots",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"S\"},{\"role\":\"user\",\"content\":\"q\"}]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"S\"},{\"role\":\"user\",\"content\":\"2+2?\"},"
              "{\"role\":\"assistant\",\"content\":\"4\"},{\"role\":\"user\","
              "\"content\":\"caf\xc3\xa9?\"},{\"role\":\"assistant\","
              "\"content\":\"yes\"},{\"role\":\"user\",\"content\":\"q\"}],"
              "\"temperature\":0.5}",
              "openai examples after the system message");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "all",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"q\"}],\"stream\":true}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U\"},"
              "{\"role\":\"assistant\",\"content\":\"V\"},{\"role\":\"user\","
              "\"content\":\"q\\n\\nA\"}],\"stream\":true,"
              "\"temperature\":0.5}",
              "openai system, examples and append together");

    /* structured output */

    test_edit(LLMOPT_DIALECT_OPENAI, p, "json",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"q\"}],\"response_format\":{\"type\":\"text\"}}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"q\"}],\"response_format\":{\"type\":"
              "\"json_object\"},\"temperature\":0.5}",
              "openai response_format replaced");

    test_edit(LLMOPT_DIALECT_OPENAI, p, "json",
              "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"q\"}]}",
              "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"q\"}],\"temperature\":0.5,\"response_format\":"
              "{\"type\":\"json_object\"}}",
              "openai response_format added");
}


static void
test_anthropic(void)
{
    const llmopt_policy_t  *p;

    p = test_load(TEST_MODELS "policies:\n  p:\n    algorithm: thompson\n"
                  "    arms: [a]\n" TEST_VARIANTS);
    if (p == NULL) {
        ok(0, "anthropic catalog");
        return;
    }

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "pre",
              "{\"model\":\"x\",\"max_tokens\":10,\"system\":\"Be kind.\","
              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
              "{\"model\":\"gpt\",\"max_tokens\":10,\"system\":\"Be brief "
              "\\\"now\\\".\\n\\nBe kind.\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"hi\"}],\"temperature\":0.5}",
              "anthropic system prepended to a string");

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "pre",
              "{\"model\":\"x\",\"max_tokens\":10,\"system\":[{\"type\":"
              "\"text\",\"text\":\"K\",\"cache_control\":{\"type\":"
              "\"ephemeral\"}}],\"messages\":[{\"role\":\"user\",\"content\":"
              "\"hi\"}],\"stream\":true}",
              "{\"model\":\"gpt\",\"max_tokens\":10,\"system\":[{\"type\":"
              "\"text\",\"text\":\"Be brief \\\"now\\\".\"},{\"type\":"
              "\"text\",\"text\":\"K\",\"cache_control\":{\"type\":"
              "\"ephemeral\"}}],\"messages\":[{\"role\":\"user\",\"content\":"
              "\"hi\"}],\"stream\":true,\"temperature\":0.5}",
              "anthropic system prepended to blocks, streaming");

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "pre",
              "{\"model\":\"x\",\"max_tokens\":10,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"hi\"}]}",
              "{\"model\":\"gpt\",\"max_tokens\":10,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"hi\"}],\"temperature\":0.5,\"system\":"
              "\"Be brief \\\"now\\\".\"}",
              "anthropic system added");

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "rep",
              "{\"model\":\"x\",\"max_tokens\":10,\"system\":[{\"type\":"
              "\"text\",\"text\":\"K\"}],\"messages\":[{\"role\":\"user\","
              "\"content\":\"hi\"}]}",
              "{\"model\":\"gpt\",\"max_tokens\":10,\"system\":\"Only this.\","
              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
              "\"temperature\":0.5}",
              "anthropic system replaced");

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "app",
              "{\"model\":\"x\",\"max_tokens\":10,\"messages\":[{\"role\":"
              "\"user\",\"content\":[{\"type\":\"tool_result\","
              "\"tool_use_id\":\"t\",\"content\":\"r\"}]}]}",
              "{\"model\":\"gpt\",\"max_tokens\":10,\"messages\":[{\"role\":"
              "\"user\",\"content\":[{\"type\":\"tool_result\","
              "\"tool_use_id\":\"t\",\"content\":\"r\"},{\"type\":\"text\","
              "\"text\":\"Answer in one line.\\n\"}]}],\"temperature\":0.5}",
              "anthropic append after blocks");

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "app",
              "{\"model\":\"x\",\"max_tokens\":10,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"q\"}]}",
              "{\"model\":\"gpt\",\"max_tokens\":10,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"q\\n\\nAnswer in one line.\\n\"}],"
              "\"temperature\":0.5}",
              "anthropic append to a string");

    test_edit(LLMOPT_DIALECT_ANTHROPIC, p, "all",
              "{\"system\":\"T\",\"model\":\"x\",\"max_tokens\":10,"
              "\"messages\":[ {\"role\":\"user\",\"content\":\"q\"}]}",
              "{\"system\":\"S\\n\\nT\",\"model\":\"gpt\",\"max_tokens\":10,"
              "\"messages\":[{\"role\":\"user\",\"content\":\"U\"},"
              "{\"role\":\"assistant\",\"content\":\"V\"}, {\"role\":"
              "\"user\",\"content\":\"q\\n\\nA\"}],\"temperature\":0.5}",
              "anthropic system, examples and append together");
}
