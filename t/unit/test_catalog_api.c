/*
 * Copyright (C) llmopt authors
 *
 * The catalog's keys for translation: a model's api (stated, from its
 * upstream's name, or the client's), max_tokens and drop_unsupported, a
 * policy's drop_unsupported, the client dialect of a policy that mixes
 * arms of both apis, and their errors.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"

#include "llmopt_catalog.h"


static int test_load(const char *text);
static void test_error(const char *text, unsigned line, unsigned column,
    const char *msg, const char *name);
static void test_api(void);
static void test_policy_dialect(void);
static void test_errors(void);


static llmopt_catalog_t   cat;
static llmopt_err_t       err;


int
main(void)
{
    test_api();
    test_policy_dialect();
    test_errors();

    test_free_all();

    return tap_done();
}


static int
test_load(const char *text)
{
    memset(&cat, 0, sizeof(cat));
    memset(&err, 0, sizeof(err));

    return llmopt_catalog_load_string(&cat, "t.yaml", text, strlen(text),
                                      &test_allocator, &err);
}


static void
test_error(const char *text, unsigned line, unsigned column, const char *msg,
    const char *name)
{
    int  rc;

    rc = test_load(text);

    is_int(rc, LLMOPT_ERROR, "%s: refused", name);
    is_int(err.line, line, "%s: line", name);
    is_int(err.column, column, "%s: column", name);
    ok(strstr(err.msg, msg) != NULL, "%s: says \"%s\" (%s)", name, msg,
       err.msg);
}


static void
test_api(void)
{
    int                    rc;
    const llmopt_model_t  *m;

    rc = test_load(
        "models:\n"
        "  plain: {upstream: u, price: {input: 1, output: 2}}\n"
        "  named: {upstream: up_Anthropic, price: {input: 1, output: 2}}\n"
        "  host: {upstream: api.anthropic.com:443,"
        " price: {input: 1, output: 2}}\n"
        "  said: {upstream: up_anthropic, api: openai,"
        " price: {input: 1, output: 2}}\n"
        "  claude: {upstream: v, api: anthropic, max_tokens: 1000,"
        " drop_unsupported: true, price: {input: 1, output: 2}}\n"
        "  gpt: {upstream: v, api: openai, drop_unsupported: false,"
        " price: {input: 1, output: 2}}\n"
        "policies: {p: {algorithm: ucb1, arms: [plain]}}\n");

    is_int(rc, LLMOPT_OK, "models load: %s", err.msg);

    if (rc != LLMOPT_OK) {
        return;
    }

    m = llmopt_catalog_model(&cat, "plain", 5);
    ok(m->api_client, "no api, a plain upstream: the client's");
    is_int(llmopt_model_dialect(m, LLMOPT_DIALECT_OPENAI),
           LLMOPT_DIALECT_OPENAI, "  openai for an openai client");
    is_int(llmopt_model_dialect(m, LLMOPT_DIALECT_ANTHROPIC),
           LLMOPT_DIALECT_ANTHROPIC, "  anthropic for an anthropic client");
    is_int(m->max_tokens, LLMOPT_CATALOG_MAX_TOKENS, "  max_tokens default");
    ok(!m->drop_unsupported, "  drop_unsupported off by default");

    m = llmopt_catalog_model(&cat, "named", 5);
    ok(!m->api_client, "upstream up_Anthropic: an api of its own");
    is_int(llmopt_model_dialect(m, LLMOPT_DIALECT_OPENAI),
           LLMOPT_DIALECT_ANTHROPIC, "  anthropic, case-blind");

    m = llmopt_catalog_model(&cat, "host", 4);
    is_int(llmopt_model_dialect(m, LLMOPT_DIALECT_OPENAI),
           LLMOPT_DIALECT_ANTHROPIC, "host api.anthropic.com: anthropic");

    m = llmopt_catalog_model(&cat, "said", 4);
    is_int(llmopt_model_dialect(m, LLMOPT_DIALECT_ANTHROPIC),
           LLMOPT_DIALECT_OPENAI, "a stated api wins over the upstream's "
           "name");

    m = llmopt_catalog_model(&cat, "claude", 6);
    is_int(llmopt_model_dialect(m, LLMOPT_DIALECT_OPENAI),
           LLMOPT_DIALECT_ANTHROPIC, "api anthropic");
    is_int(m->max_tokens, 1000, "  max_tokens 1000");
    ok(m->drop_unsupported, "  drop_unsupported true");

    m = llmopt_catalog_model(&cat, "gpt", 3);
    ok(!m->drop_unsupported, "drop_unsupported false");
}


static void
test_policy_dialect(void)
{
    int  rc;

    rc = test_load(
        "models:\n"
        "  any: {upstream: u, price: {input: 1, output: 2}}\n"
        "  claude: {upstream: v, api: anthropic,"
        " price: {input: 1, output: 2}}\n"
        "  gpt: {upstream: v, api: openai, price: {input: 1, output: 2}}\n"
        "policies:\n"
        "  none: {algorithm: ucb1, arms: [any]}\n"
        "  one: {algorithm: ucb1, arms: [any, claude]}\n"
        "  mixed: {algorithm: linucb, arms: [gpt, claude],"
        " drop_unsupported: true}\n"
        "  mixed2: {algorithm: ucb1, arms: [claude, any, gpt]}\n");

    is_int(rc, LLMOPT_OK, "policies load: %s", err.msg);

    if (rc != LLMOPT_OK) {
        return;
    }

    is_int(cat.policies[0].dialect, LLMOPT_DIALECT_OPENAI,
           "no arm with an api: openai, as before");
    ok(!cat.policies[0].mixed, "  not mixed");
    ok(!cat.policies[0].drop_unsupported, "  drop_unsupported off");

    is_int(cat.policies[1].dialect, LLMOPT_DIALECT_ANTHROPIC,
           "the arm with an api tells the dialect");
    ok(!cat.policies[1].mixed, "  not mixed: the other follows the client");

    is_int(cat.policies[2].dialect, LLMOPT_DIALECT_OPENAI,
           "a mixed policy: the first arm's");
    ok(cat.policies[2].mixed, "  mixed");
    ok(cat.policies[2].drop_unsupported, "  drop_unsupported of the policy");

    is_int(cat.policies[3].dialect, LLMOPT_DIALECT_ANTHROPIC,
           "mixed, anthropic first");
    ok(cat.policies[3].mixed, "  mixed");
}


static void
test_errors(void)
{
    test_error("models:\n  m: {upstream: u, max_tokens: 0, price: {input: 1,"
               " output: 2}}\n", 2, 32, "\"max_tokens\" in model \"m\" must be"
               " an integer > 0", "max_tokens 0");
    test_error("models:\n  m: {upstream: u, max_tokens: 1.5, price: {input: "
               "1, output: 2}}\n", 2, 32, "must be an integer > 0",
               "max_tokens not an integer");
    test_error("models:\n  m: {upstream: u, max_tokens: 3000000000, price: "
               "{input: 1, output: 2}}\n", 2, 32, "must be an integer > 0",
               "max_tokens too large");
    test_error("models:\n  m: {upstream: u, drop_unsupported: yes, price: "
               "{input: 1, output: 2}}\n", 2, 38, "\"drop_unsupported\" in "
               "model \"m\" must be true or false", "drop_unsupported yes");
    test_error("models:\n  m: {upstream: u, drop_unsupported: \"true\", "
               "price: {input: 1, output: 2}}\n", 2, 38, "must be true or "
               "false", "drop_unsupported quoted");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}}\n"
               "policies: {p: {algorithm: ucb1, arms: [m], "
               "drop_unsupported: 1}}\n", 3, 62, "\"drop_unsupported\" in "
               "policy \"p\" must be true or false",
               "policy drop_unsupported 1");
    test_error("models:\n  m: {upstream: u, api: OpenAI, price: {input: 1, "
               "output: 2}}\n", 2, 25, "unknown api \"OpenAI\"",
               "api is case-sensitive");
}
