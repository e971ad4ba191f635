/*
 * Copyright (C) llmopt authors
 *
 * A policy's "cascade" in the catalog: the three kinds of tier, the
 * extractor and logprobs, the tunables and their defaults, and every
 * validation error with its position.
 */


#include <string.h>

#include "tap.h"
#include "test_alloc.h"

#include "llmopt_catalog.h"
#include "llmopt_cascade.h"


#define MODELS                                                               \
    "models:\n"                                                              \
    "  m: {upstream: u, price: {input: 1, output: 2}}\n"                     \
    "  n: {upstream: u, price: {input: 1, output: 2}}\n"                     \
    "  o: {upstream: u, price: {input: 1, output: 2}}\n"                     \
    "  s: {upstream: u, price: {input: 10, output: 20}}\n"

/* the policy is on line 6, its cascade's mapping at column 62 */
#define POLICY                                                               \
    MODELS "policies: {p: {algorithm: ucb1, arms: [m, n, o, s], cascade: {"


static int test_load(const char *text);
static void test_error(const char *text, unsigned line, unsigned column,
    const char *msg, const char *name);
static void test_good(void);
static void test_errors(void);


static llmopt_catalog_t   cat;
static llmopt_err_t       err;


int
main(void)
{
    test_good();
    test_errors();

    test_free_all();

    return tap_done();
}


static void
test_good(void)
{
    const llmopt_tier_t    *t;
    const llmopt_policy_t  *p;
    llmopt_cascade_conf_t   def;

    llmopt_cascade_conf_default(&def);

    is_int(test_load(MODELS "policies: {p: {algorithm: ucb1, "
                     "arms: [m, s]}}\n"),
           LLMOPT_OK, "a policy without a cascade");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->cascade.n_tiers == 0 && p->cascade.tiers == NULL,
       "has no tiers");
    ok(p != NULL && llmopt_policy_tier(p, 0) == -1, "its arms in no tier");

    is_int(test_load(POLICY "tiers: [m, s]}}}\n"), LLMOPT_OK,
           "two tiers of one arm each, by name");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->cascade.n_tiers == 2, "two tiers");
    t = p != NULL ? p->cascade.tiers : NULL;
    ok(t != NULL && t[0].kind == LLMOPT_TIER_ARM && t[0].n_arms == 1
       && t[0].arms[0] == 0 && t[1].kind == LLMOPT_TIER_ARM
       && t[1].n_arms == 1 && t[1].arms[0] == 3,
       "m, then s");
    ok(t != NULL && t[0].regex.len == 0 && !t[0].logprobs,
       "normalised text, no logprobs by default");
    ok(p != NULL && p->cascade.conf.max_tiers == 2
       && p->cascade.conf.time_budget_ms == 0
       && p->cascade.conf.rate == def.rate && p->cascade.conf.l2 == def.l2
       && p->cascade.conf.forced_share == def.forced_share
       && p->cascade.conf.forced_floor == def.forced_floor
       && p->cascade.conf.forced_half == def.forced_half,
       "the core's defaults, max_tiers at most the tiers");
    ok(p != NULL && llmopt_policy_tier(p, 0) == 0
       && llmopt_policy_tier(p, 3) == 1 && llmopt_policy_tier(p, 1) == -1,
       "llmopt_policy_tier");

    is_int(test_load(POLICY "tiers: [{pair: [m, n], answer: {regex: "
                     "'answer is \\(?([A-J])'}}, {arms: [o]}, {arm: s, "
                     "logprobs: true}], max_tiers: 2, time_budget_ms: 3000, "
                     "learning_rate: 0.25, l2: 0.001, forced_share: 0.2, "
                     "forced_floor: 0.05, forced_half_life: 500}}}\n"),
           LLMOPT_OK, "a pair, a set, an arm with logprobs, every tunable");
    p = llmopt_catalog_policy(&cat, "p", 1);
    t = p != NULL ? p->cascade.tiers : NULL;
    ok(p != NULL && p->cascade.n_tiers == 3, "three tiers");
    ok(t != NULL && t[0].kind == LLMOPT_TIER_PAIR && t[0].n_arms == 2
       && t[0].arms[0] == 0 && t[0].arms[1] == 1
       && strcmp(t[0].regex.data, "answer is \\(?([A-J])") == 0,
       "the pair and its regex");
    ok(t != NULL && t[1].kind == LLMOPT_TIER_ARMS && t[1].n_arms == 1
       && t[1].arms[0] == 2 && t[1].regex.len == 0,
       "the set");
    ok(t != NULL && t[2].kind == LLMOPT_TIER_ARM && t[2].logprobs
       && t[2].arms[0] == 3,
       "the arm with logprobs");
    ok(p != NULL && p->cascade.conf.max_tiers == 2
       && p->cascade.conf.time_budget_ms == 3000
       && p->cascade.conf.rate == 0.25 && p->cascade.conf.l2 == 0.001
       && p->cascade.conf.forced_share == 0.2
       && p->cascade.conf.forced_floor == 0.05
       && p->cascade.conf.forced_half == 500,
       "the tunables read");
    ok(p != NULL && p->cascade.tiers[0].line == 6, "a tier's line");

    is_int(test_load(POLICY "tiers: [{arms: [m, n, o]}, s], "
                     "forced_share: 0, forced_floor: 0}}}\n"),
           LLMOPT_OK, "a set of three, no forced escalations");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->cascade.tiers[0].n_arms == 3
       && p->cascade.conf.forced_share == 0, "read");
    ok(p != NULL && llmopt_policy_tier(p, 2) == 0, "o in the first tier");

    is_int(test_load(POLICY "tiers: [m, n, o, s], max_tiers: 4, "
                     "learning_rate: 10}}}\n"),
           LLMOPT_OK, "four tiers, all tried");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->cascade.conf.max_tiers == 4
       && p->cascade.conf.rate == 10, "max_tiers 4");

    is_int(test_load(POLICY "tiers: [m, s], answer: {}}}}\n"),
           LLMOPT_ERROR, "answer is a tier's key, not the cascade's");
}


static void
test_errors(void)
{
    test_error(POLICY "tiers: [m]}}}\n", 6, 70,
               "\"tiers\" in cascade of policy \"p\" must be a list of 2 to "
               "8 tiers", "one tier");
    test_error(POLICY "tiers: m}}}\n", 6, 70, "must be a list of 2 to 8",
               "tiers not a list");
    test_error(POLICY "max_tiers: 2}}}\n", 6, 62,
               "missing required key \"tiers\" in cascade of policy \"p\"",
               "no tiers");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m, s], "
               "cascade: [m, s]}}\n", 6, 56,
               "\"cascade\" in policy \"p\" must be a mapping",
               "cascade not a mapping");
    test_error(POLICY "tiers: [m, s], x: 1}}}\n", 6, 78,
               "unknown key \"x\" in cascade of policy \"p\"", "unknown key");
    test_error(POLICY "tiers: [m, x]}}}\n", 6, 74,
               "\"x\" in tier 2 of cascade of policy \"p\" names no arm of "
               "the policy", "no such arm");
    test_error(POLICY "tiers: [m, m]}}}\n", 6, 74,
               "arm \"m\" of tier 2 of cascade of policy \"p\" is in tier 1 "
               "already", "an arm in two tiers");
    test_error(POLICY "tiers: [{arms: [m, m]}, s]}}}\n", 6, 82,
               "arm \"m\" twice in tier 1", "an arm twice in a set");
    test_error(POLICY "tiers: [{pair: [m]}, s]}}}\n", 6, 78,
               "\"pair\" in tier 1 of cascade of policy \"p\" must be a list "
               "of two arms", "a pair of one");
    test_error(POLICY "tiers: [{pair: [m, n, o]}, s]}}}\n", 6, 78,
               "must be a list of two arms", "a pair of three");
    test_error(POLICY "tiers: [{arms: []}, s]}}}\n", 6, 78,
               "must be a list of one or more arms", "an empty set");
    test_error(POLICY "tiers: [{arm: m, pair: [n, o]}, s]}}}\n", 6, 71,
               "tier 1 of cascade of policy \"p\" needs exactly one of "
               "\"arm\", \"arms\" and \"pair\"", "arm and pair");
    test_error(POLICY "tiers: [{logprobs: true}, s]}}}\n", 6, 71,
               "needs exactly one of", "no arm");
    test_error(POLICY "tiers: [[m], s]}}}\n", 6, 71,
               "tier 1 of cascade of policy \"p\" must be an arm's name or "
               "a mapping", "a tier that is a list");
    test_error(POLICY "tiers: [{arm: m, y: 1}, s]}}}\n", 6, 80,
               "unknown key \"y\" in tier 1", "unknown tier key");
    test_error(POLICY "tiers: [{arm: m, logprobs: yes}, s]}}}\n", 6, 90,
               "\"logprobs\" in tier 1 of cascade of policy \"p\" must be "
               "true or false", "logprobs yes");
    test_error(POLICY "tiers: [{arm: m, answer: {regex: '(a'}}, s]}}}\n", 6, 96, "\"regex\" in tier 1 of cascade of policy \"p\": invalid "
               "answer regex \"(a\"", "a bad regex");
    test_error(POLICY "tiers: [{arm: m, answer: {group: 1}}, s]}}}\n", 6, 89,
               "unknown key \"group\" in tier 1", "unknown answer key");
    test_error(POLICY "tiers: [{arm: m, answer: x}, s]}}}\n", 6, 88,
               "\"answer\" in tier 1 of cascade of policy \"p\" must be a "
               "mapping", "answer not a mapping");
    test_error(POLICY "tiers: [m, s], max_tiers: 3}}}\n", 6, 89,
               "\"max_tiers\" in cascade of policy \"p\" must be an integer "
               "from 1 to the number of tiers", "max_tiers over the tiers");
    test_error(POLICY "tiers: [m, s], max_tiers: 0}}}\n", 6, 89,
               "must be an integer from 1", "max_tiers 0");
    test_error(POLICY "tiers: [m, s], time_budget_ms: -1}}}\n", 6, 94,
               "\"time_budget_ms\" in cascade of policy \"p\" must be an "
               "integer of ms from 0 to 3600000", "a negative time budget");
    test_error(POLICY "tiers: [m, s], learning_rate: 0}}}\n", 6, 93,
               "must be a number in (0, 10]", "learning_rate 0");
    test_error(POLICY "tiers: [m, s], l2: 2}}}\n", 6, 82,
               "\"l2\" in cascade of policy \"p\" must be a number in "
               "[0, 1]", "l2 2");
    test_error(POLICY "tiers: [m, s], forced_share: 1.5}}}\n", 6, 92,
               "must be a number in [0, 1]", "forced_share 1.5");
    test_error(POLICY "tiers: [m, s], forced_half_life: 0}}}\n", 6, 96,
               "must be a number of decisions in (0, 1e12]",
               "forced_half_life 0");
    test_error(POLICY "tiers: [m, s], forced_share: 0.01, "
               "forced_floor: 0.1}}}\n", 6, 112,
               "forced_floor 0.1 in cascade of policy \"p\" is above "
               "forced_share 0.01", "floor above share");
    test_error("models:\n"
               "  a: {upstream: u, api: anthropic, price: {input: 1, "
               "output: 2}}\n"
               "  b: {upstream: u, api: anthropic, price: {input: 1, "
               "output: 2}}\n"
               "policies: {p: {algorithm: ucb1, arms: [a, b], cascade: "
               "{tiers: [{arm: a, logprobs: true}, b]}}}\n", 4, 84,
               "\"logprobs\" in tier 1 of cascade of policy \"p\": arm \"a\" "
               "is not of the OpenAI dialect", "logprobs of an Anthropic arm");
}


static int
test_load(const char *text)
{
    memset(&err, 0, sizeof(err));

    return llmopt_catalog_load_string(&cat, "test.yaml", text, strlen(text),
                                      &test_allocator, &err);
}


static void
test_error(const char *text, unsigned line, unsigned column, const char *msg,
    const char *name)
{
    int  rc;

    rc = test_load(text);

    if (!ok(rc == LLMOPT_ERROR && err.line == line && err.column == column
            && strstr(err.msg, msg) != NULL, "error: %s", name))
    {
        printf("#   got: %d %u:%u: %s\n#   expected: %u:%u: ...%s...\n",
               rc, err.line, err.column, err.msg, line, column, msg);
    }
}
