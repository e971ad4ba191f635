/*
 * Copyright (C) llmopt authors
 *
 * The catalog: a full good catalog field by field, the demo catalog, every
 * validation error with its position, and the bad example files of
 * t/catalog, whose first line states the error they must give.
 */


#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"

#include "llmopt_catalog.h"


#define TEST_CATALOG_DIR  "t/catalog"


static int test_load(const char *text);
static void test_sparse(void);
static void test_error(const char *text, unsigned line, unsigned column,
    const char *msg, const char *name);
static const llmopt_kv_t *test_param(const llmopt_arm_t *arm,
    const char *key);
static void test_good_full(const char *dir);
static void test_demo(void);
static void test_errors(void);
static void test_params(void);
static void test_env(void);
static void test_names(void);
static void test_yaml(void);
static void test_bad_files(const char *dir);


static llmopt_catalog_t   cat;
static llmopt_err_t       err;


#define MODELS                                                               \
    "models:\n"                                                              \
    "  m: {upstream: u, price: {input: 1, output: 2}}\n"                     \
    "  n: {upstream: u, price: {input: 1, output: 2}}\n"


int
main(void)
{
    const char  *dir;

    dir = getenv("LLMOPT_CATALOG_DIR");
    if (dir == NULL) {
        dir = TEST_CATALOG_DIR;
    }

    test_good_full(dir);
    test_demo();
    test_errors();
    test_params();
    test_sparse();
    test_env();
    test_names();
    test_yaml();
    test_bad_files(dir);

    test_free_all();

    return tap_done();
}


static void
test_good_full(const char *dir)
{
    int                      rc;
    char                     path[512];
    llmopt_bandit_conf_t     defaults;
    const llmopt_arm_t      *arm;
    const llmopt_kv_t       *kv;
    const llmopt_model_t    *m;
    const llmopt_policy_t   *p;

    (void) snprintf(path, sizeof(path), "%s/good-full.yaml", dir);

    memset(&err, 0, sizeof(err));
    rc = llmopt_catalog_load_file(&cat, path, &test_allocator, &err);

    if (!ok(rc == LLMOPT_OK, "good-full.yaml loads")) {
        printf("# %u:%u: %s\n", err.line, err.column, err.msg);
        return;
    }

    is_str(cat.file.data, path, "file name kept");
    ok(cat.version != 0, "version hash set");
    is_int(cat.n_models, 3, "3 models");
    is_int(cat.n_policies, 3, "3 policies");

    m = &cat.models[0];
    is_str(m->name.data, "gpt-4o", "model key");
    is_int(m->name.len, 6, "model key length");
    is_str(m->upstream.data, "openai", "upstream");
    is_str(m->model.data, "gpt-4o-2024-08-06", "provider model id");
    is_str(m->model_json.data, "\"gpt-4o-2024-08-06\"", "model as JSON");
    is_int(m->model_json.len, 19, "model JSON length");
    is_int(m->api, LLMOPT_DIALECT_OPENAI, "api openai");
    is_num(m->price_input, 2.5, 1e-12, "input price");
    is_num(m->price_output, 10, 1e-12, "output price");
    is_num(m->price_cached_input, 1.25, 1e-12, "cached input price");
    is_int(m->context_window, 128000, "context window");
    is_int(m->line, 3, "model line");
    is_int(m->column, 3, "model column");
    is_int(m->n_headers, 2, "2 headers");
    is_str(m->headers[0].name.data, "Authorization", "header name");
    is_str(m->headers[0].value.data, "Bearer sk-test", "header value");
    is_str(m->headers[1].value.data, "$5 $x $", "$$ and lone $ kept");

    m = &cat.models[1];
    is_str(m->model.data, "gpt-4o-mini", "model id defaults to the key");
    is_str(m->model_json.data, "\"gpt-4o-mini\"", "default model JSON");
    is_num(m->price_cached_input, 0.15, 1e-12,
           "cached input price defaults to input");
    is_int(m->context_window, 0, "no context window");
    is_int(m->n_headers, 0, "no headers");

    m = &cat.models[2];
    is_int(m->api, LLMOPT_DIALECT_ANTHROPIC, "api anthropic");
    is_num(m->price_output, 15, 1e-12, "integer price");

    p = llmopt_catalog_policy(&cat, "chat", 4);
    ok(p == &cat.policies[0], "policy lookup");
    ok(llmopt_catalog_policy(&cat, "cha", 3) == NULL, "policy lookup miss");
    ok(llmopt_catalog_model(&cat, "sonnet", 6) == &cat.models[2],
       "model lookup");

    if (p == NULL) {
        return;
    }

    is_int(p->line, 27, "policy line");
    is_int(p->column, 3, "policy column");
    is_int(p->dialect, LLMOPT_DIALECT_OPENAI, "policy dialect");
    is_int(p->bandit.algorithm, LLMOPT_ALG_LINUCB, "algorithm");
    is_num(p->bandit.alpha, 0.5, 0, "alpha");
    is_num(p->bandit.lambda, 2.0, 0, "lambda");
    is_num(p->bandit.epsilon, 0.2, 0, "epsilon");
    is_num(p->bandit.prior_alpha, 2, 0, "prior alpha");
    is_num(p->bandit.prior_beta, 3, 0, "prior beta");
    is_num(p->bandit.exploration_floor, 0.05, 0, "exploration floor");
    is_num(p->bandit.forgetting, 0.99, 0, "forgetting");
    is_int(p->bandit.seed, 42, "seed");
    is_int(p->bandit.n_arms, 4, "bandit n_arms");
    is_int(p->n_arms, 4, "4 arms");

    is_int(p->features.n, 7, "7 features");
    is_int(p->features.ids[0], llmopt_feature_lookup("bias", 4),
           "first feature");
    is_int(p->features.ids[6], llmopt_feature_lookup("words", 5),
           "last feature");
    is_int(p->features.tenant_buckets, 2, "tenant buckets");
    is_int(p->features.word_buckets, 16, "word buckets");
    ok(p->features.d > 0, "feature d set");
    is_int(p->bandit.d, p->features.d, "bandit d = features d");

    is_num(p->reward.quality, 0.5, 1e-12, "reward quality normalised");
    is_num(p->reward.cost, 1.0 / 3, 1e-12, "reward cost normalised");
    is_num(p->reward.latency, 1.0 / 6, 1e-12, "reward latency normalised");
    is_num(p->reward.cost_ref, 0.02, 0, "cost ref");
    is_num(p->reward.latency_ref, 1500, 0, "latency ref");
    is_int(p->feedback_wait_ms, 250, "feedback wait");
    is_int(p->reward.unscored, LLMOPT_UNSCORED_OBSERVED,
           "unscored: observed by default with a feedback wait");
    is_int(p->feedback_tenant_same, 1, "feedback tenant: same");
    is_int(p->fallback, 1, "fallback by arm name");
    is_int(p->baseline, -1, "no baseline: the costliest");

    arm = &p->arms[0];
    is_str(arm->name.data, "gpt-4o", "arm name defaults to the model");
    is_int(arm->model, 0, "arm model index");
    is_int(arm->n_params, 0, "no params");
    is_num(arm->weight, 1, 0, "weight defaults to 1");
    is_int(arm->line, 37, "arm line");
    is_int(arm->column, 9, "arm column");

    arm = &p->arms[1];
    is_str(arm->name.data, "mini-cold", "explicit arm name");
    is_int(arm->model, 1, "arm model index 1");
    is_num(arm->weight, 2, 0, "weight");
    is_num(p->bandit.weights[1], 2, 0, "weight copied to the bandit");
    is_int(arm->n_params, 9, "9 params");

    kv = test_param(arm, "temperature");
    is_str(kv != NULL ? kv->json.data : NULL, "0.2", "number param");
    kv = test_param(arm, "max_tokens");
    is_str(kv != NULL ? kv->json.data : NULL, "512", "integer param");
    kv = test_param(arm, "stop");
    is_str(kv != NULL ? kv->json.data : NULL, "[\"\\n\\n\",\"END \\\"x\\\"\"]",
           "sequence param, strings escaped");
    kv = test_param(arm, "response_format");
    is_str(kv != NULL ? kv->json.data : NULL, "{\"type\":\"json_object\"}",
           "mapping param");
    kv = test_param(arm, "logprobs");
    is_str(kv != NULL ? kv->json.data : NULL, "true", "boolean param");
    kv = test_param(arm, "user");
    is_str(kv != NULL ? kv->json.data : NULL, "null", "null param");
    kv = test_param(arm, "top_p");
    is_str(kv != NULL ? kv->json.data : NULL, "0.5", ".5 becomes 0.5");
    kv = test_param(arm, "seed");
    is_str(kv != NULL ? kv->json.data : NULL, "7", "+7 becomes 7");
    kv = test_param(arm, "suffix");
    is_str(kv != NULL ? kv->json.data : NULL, "\"yes\"",
           "yes is a string (YAML 1.2)");
    is_int(kv != NULL ? kv->json.len : 0, 5, "param JSON length");

    is_str(p->arms[2].name.data, "gpt-4o-mini",
           "first unnamed arm of a model takes its key");
    is_str(p->arms[3].name.data, "gpt-4o-mini#2",
           "second unnamed arm of a model gets #2");
    is_int(llmopt_policy_arm(p, "gpt-4o-mini#2", 13), 3, "arm lookup");
    is_int(llmopt_policy_arm(p, "nope", 4), -1, "arm lookup miss");

    p = &cat.policies[1];
    is_int(p->bandit.algorithm, LLMOPT_ALG_THOMPSON, "thompson");
    is_int(p->dialect, LLMOPT_DIALECT_ANTHROPIC, "anthropic policy");
    is_int(p->fallback, -1, "no fallback");
    is_int(p->feedback_wait_ms, 0, "feedback wait defaults to 0");
    is_int(p->reward.unscored, LLMOPT_UNSCORED_NONE,
           "unscored: none without a feedback wait");
    is_int(p->feedback_tenant_same, 0, "feedback tenant defaults to any");
    is_num(p->reward.quality, 0.6, 1e-12, "default reward quality");
    is_num(p->reward.cost_ref, 0.01, 1e-12, "default cost ref");
    is_num(p->reward.latency_ref, 2000, 1e-12, "default latency ref");
    is_int(p->features.n, 6, "default features");
    is_int(p->features.tenant_buckets, 4, "default tenant buckets");
    is_int(p->features.word_buckets, 8, "default word buckets");

    memset(&defaults, 0, sizeof(defaults));
    defaults.algorithm = LLMOPT_ALG_THOMPSON;
    llmopt_bandit_conf_defaults(&defaults);

    is_num(p->bandit.prior_alpha, defaults.prior_alpha, 0,
           "prior alpha from the defaults");
    is_num(p->bandit.forgetting, defaults.forgetting, 0,
           "forgetting from the defaults");

    p = &cat.policies[2];
    is_int(p->bandit.algorithm, LLMOPT_ALG_STATIC, "static");
    is_num(p->bandit.weights[0], 0, 0, "static weight 0");
    is_num(p->bandit.weights[1], 3, 0, "static weight 3");
    is_int(p->fallback, 0, "fallback by a model used once");

    m = &cat.models[0];
    is_num(llmopt_model_cost(m, 1000000, 0, 0), 2.5, 1e-9, "input cost");
    is_num(llmopt_model_cost(m, 2000, 1000, 500), 0.0025 + 0.00125 + 0.005,
           1e-12, "cost with cached and output tokens");
    is_num(llmopt_model_cost(m, 10, 20, 0), 10 * 1.25e-6, 1e-15,
           "cached tokens capped by input tokens");
}


static void
test_demo(void)
{
    int                     rc;
    const llmopt_policy_t  *p;

    memset(&err, 0, sizeof(err));
    rc = llmopt_catalog_load_file(&cat, "conf/catalog.yaml", &test_allocator,
                                  &err);

    if (!ok(rc == LLMOPT_OK, "conf/catalog.yaml loads")) {
        printf("# %u:%u: %s\n", err.line, err.column, err.msg);
        return;
    }

    ok(llmopt_catalog_model(&cat, "claude-3-5-haiku", 16) != NULL,
       "demo has claude-3-5-haiku");

    p = llmopt_catalog_policy(&cat, "chat", 4);
    ok(p != NULL && p->n_arms == 3 && p->arms[2].n_params == 2,
       "demo chat: 3 arms, mini-cold with 2 params");
    ok(p != NULL && p->fallback == 1, "demo chat falls back to gpt-4o-mini");

    p = llmopt_catalog_policy(&cat, "messages", 8);
    ok(p != NULL && p->dialect == LLMOPT_DIALECT_ANTHROPIC,
       "demo messages speaks anthropic");

    p = llmopt_catalog_policy(&cat, "canary", 6);
    ok(p != NULL && p->bandit.algorithm == LLMOPT_ALG_STATIC
       && p->bandit.weights[0] == 4, "demo canary is static 4:1");
}


static void
test_errors(void)
{
    int  rc;

    test_error("models: [a]\npolicies: {}\n", 1, 9,
               "\"models\" must be a mapping", "models not a mapping");
    test_error("- 1\n", 1, 1, "must be a mapping", "catalog not a mapping");
    test_error("policies: {p: {}}\n", 1, 1,
               "missing required key \"models\"", "missing models");
    test_error(MODELS, 1, 1, "missing required key \"policies\"",
               "missing policies");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m]}}\n"
               "extra: 1\n", 5, 1, "unknown key \"extra\" in the catalog",
               "unknown top-level key");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}, "
               "x: 1}\npolicies: {}\n", 2, 50,
               "unknown key \"x\" in model \"m\"", "unknown model key");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2, "
               "x: 1}}\npolicies: {}\n", 2, 49,
               "unknown key \"x\" in price of model \"m\"",
               "unknown price key");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], x: 1}}\n",
               4, 44, "unknown key \"x\" in policy \"p\"",
               "unknown policy key");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "x: 1}]}}\n", 4, 51, "unknown key \"x\" in arm 1 of policy",
               "unknown arm key");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], reward: "
               "{x: 1}}}\n", 4, 53, "unknown key \"x\" in reward of policy",
               "unknown reward key");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], prior: "
               "{x: 1}}}\n", 4, 52, "unknown key \"x\" in prior of policy",
               "unknown prior key");
    test_error("models:\n  m: {price: {input: 1, output: 2}}\n", 2, 3,
               "missing required key \"upstream\" in model \"m\"",
               "missing upstream");
    test_error("models:\n  m: {upstream: u, price: {output: 2}}\n", 2, 20,
               "missing required key \"input\" in price", "missing input");
    test_error("models:\n  m: {upstream: u, price: {input: 2}}\n", 2, 20,
               "missing required key \"output\" in price", "missing output");
    test_error(MODELS "policies: {p: {algorithm: ucb1}}\n", 4, 12,
               "missing required key \"arms\"", "missing arms");
    test_error(MODELS "policies: {p: {arms: [m]}}\n", 4, 12,
               "missing required key \"algorithm\"", "missing algorithm");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [x]}}\n", 4, 40,
               "unknown model \"x\" in arm 1", "unknown model in arm");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{name: a}]}}\n",
               4, 40, "missing required key \"model\" in arm 1",
               "arm without model");
    test_error(MODELS "policies: {p: {algorithm: ucb2, arms: [m]}}\n", 4, 27,
               "unknown algorithm \"ucb2\"", "unknown algorithm");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "features: [bias, colour]}}\n", 4, 61,
               "unknown feature \"colour\"", "unknown feature");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "features: [bias, bias]}}\n", 4, 61,
               "feature \"bias\" is listed twice", "repeated feature");
    test_error(MODELS "policies: {p: {algorithm: linucb, arms: [m], "
               "features: [words], word_buckets: 65}}\n", 4, 79,
               "\"word_buckets\" in policy \"p\" must be an integer from 1",
               "word buckets out of range");
    test_error(MODELS "policies: {p: {algorithm: linucb, arms: [m], "
               "features: [tenant, words], tenant_buckets: 64}}\n", 4, 46,
               "features of policy \"p\": ", "d too large");
    test_error("models:\n  m: {upstream: u, price: {input: -1, output: 2}}\n"
               "policies: {}\n", 2, 35, "\"input\" in price of model \"m\" "
               "must be a number >= 0", "negative price");
    test_error("models:\n  m: {upstream: u, price: {input: .inf, output: 2}}"
               "\n", 2, 35, "must be a number >= 0", "infinite price");
    test_error("models:\n  m: {upstream: u, price: {input: \"1\", output: 2}}"
               "\n", 2, 35, "must be a number >= 0", "quoted price");
    test_error("models:\n  m: {upstream: u, price: cheap}\n", 2, 27,
               "\"price\" in model \"m\" must be a mapping", "price: cheap");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}, "
               "context_window: -5}\n", 2, 66, "\"context_window\" in model "
               "\"m\" must be an integer > 0", "context_window: -5");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}, "
               "context_window: 1.5}\n", 2, 66, "must be an integer > 0",
               "context_window: 1.5");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: m}}\n", 4, 39,
               "\"arms\" in policy \"p\" must be a sequence",
               "arms not a list");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: []}}\n", 4, 33,
               "\"arms\" in policy \"p\" is empty", "empty arms");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: 3}]}}\n", 4, 59, "\"params\" in arm 1 of policy \"p\" "
               "must be a mapping", "params not a map");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [[m]]}}\n",
               4, 40, "arm 1 of policy \"p\" must be a mapping",
               "arm not a map");
    test_error("models: {}\npolicies: {}\n", 1, 1, "\"models\" is empty",
               "empty models");
    test_error("models:\npolicies: {}\n", 1, 1, "\"models\" is empty",
               "null models");
    test_error(MODELS "policies: {}\n", 4, 1, "\"policies\" is empty",
               "empty policies");
    test_error(MODELS "  m: {upstream: v, price: {input: 1, output: 2}}\n",
               4, 3, "duplicate model \"m\" (first at line 2)",
               "duplicate model");
    test_error(MODELS "policies:\n  p: {algorithm: ucb1, arms: [m]}\n"
               "  p: {algorithm: ucb1, arms: [m]}\n", 6, 3,
               "duplicate policy \"p\" (first at line 5)",
               "duplicate policy");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "name: a}, {model: n, name: a}]}}\n", 4, 61,
               "duplicate arm name \"a\" in policy \"p\" (arm 1",
               "duplicate arm name");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: n, "
               "name: m}, m]}}\n", 4, 61, "duplicate arm name \"m\"",
               "explicit name clashes with a default name");
    test_error("models:\n  m: {upstream: u, upstream: v}\n", 2, 20,
               "duplicate key \"upstream\" in model \"m\" (first at line 2)",
               "duplicate key");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "fallback: z}}\n", 4, 54, "fallback \"z\" names no arm",
               "fallback naming no arm");
    rc = test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [m, n], "
                   "baseline: n}}\n");
    ok(rc == LLMOPT_OK && cat.policies[0].baseline == 1,
       "baseline names an arm");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "baseline: z}}\n", 4, 54, "baseline \"z\" names no arm",
               "baseline naming no arm");
    rc = test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [m, "
                   "{model: m, name: b}], fallback: m}}\n");
    ok(rc == LLMOPT_OK && cat.policies[0].fallback == 0,
       "fallback names the arm before the model");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "name: a}, {model: m, name: b}], fallback: m}}\n", 4, 93,
               "names a model that 2 arms use", "fallback on a shared model");
    test_error(MODELS "policies: {p: {algorithm: static, arms: [{model: m, "
               "weight: 0}]}}\n", 4, 41, "all have weight 0",
               "static weights all zero");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m, n], "
               "exploration_decay: 1.5}}\n", 4, 66,
               "\"exploration_decay\" in policy \"p\" must be a number from "
               "0 to 1", "exploration decay above 1");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m, n], "
               "exploration_floor: 0.6}}\n", 4, 66,
               "\"exploration_floor\" in policy \"p\" must be a number from "
               "0 to 1 / arms", "exploration floor above 1 / arms");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "forgetting: 0}}\n", 4, 56, "must be a number in (0, 1]",
               "forgetting 0");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "reward: {quality: 0}}}\n", 4, 52,
               "the weights of reward of policy \"p\" are all 0",
               "reward weights all zero");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "reward: {cost_ref: 0}}}\n", 4, 63, "must be a number > 0",
               "cost_ref 0");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "feedback_wait: 3600001}}\n", 4, 59, "\"feedback_wait\"",
               "feedback_wait too long");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "feedback_tenant: mine}}\n", 4, 61,
               "\"feedback_tenant\" in policy \"p\" must be any or same",
               "feedback_tenant neither any nor same");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "seed: -1}}\n", 4, 50, "must be an integer >= 0",
               "negative seed");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "unscored: skip}}\n", 4, 54, "\"unscored\" in policy \"p\" "
               "needs a \"feedback_wait\" above 0",
               "unscored without a feedback wait");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "feedback_wait: 10, unscored: 1}}\n", 4, 73,
               "must be observed, skip or proxy", "unscored unknown");

    {
        static const char  text[] = MODELS
            "policies:\n"
            "  s: {algorithm: ucb1, arms: [m], feedback_wait: 10,"
            " unscored: skip}\n"
            "  p: {algorithm: ucb1, arms: [m], feedback_wait: 10,"
            " unscored: proxy}\n"
            "  o: {algorithm: ucb1, arms: [m], feedback_wait: 10,"
            " unscored: observed}\n";

        memset(&err, 0, sizeof(err));
        rc = llmopt_catalog_load_string(&cat, "u.yaml", text,
                                        sizeof(text) - 1, &test_allocator,
                                        &err);
        is_int(rc, LLMOPT_OK, "unscored modes load: %s", err.msg);

        if (rc == LLMOPT_OK) {
            is_int(cat.policies[0].reward.unscored, LLMOPT_UNSCORED_SKIP,
                   "unscored: skip");
            is_int(cat.policies[1].reward.unscored, LLMOPT_UNSCORED_PROXY,
                   "unscored: proxy");
            is_int(cat.policies[2].reward.unscored, LLMOPT_UNSCORED_OBSERVED,
                   "unscored: observed");
        }
    }
    test_error("models:\n  m: {upstream: u, api: grpc, price: {input: 1, "
               "output: 2}}\n", 2, 25, "unknown api \"grpc\"",
               "unknown api");
    {
        static const char  text[] =
            "models:\n  r: {upstream: u, api: responses, price: {input: 1,"
            " output: 2}}\npolicies: {p: {algorithm: ucb1, arms: [r]}}\n";

        memset(&err, 0, sizeof(err));
        rc = llmopt_catalog_load_string(&cat, "r.yaml", text,
                                        sizeof(text) - 1, &test_allocator,
                                        &err);
        is_int(rc, LLMOPT_OK, "api responses loads: %s", err.msg);

        if (rc == LLMOPT_OK) {
            is_int(cat.models[0].api, LLMOPT_DIALECT_RESPONSES,
                   "api responses");
            is_int(cat.policies[0].dialect, LLMOPT_DIALECT_RESPONSES,
                   "a policy of Responses models speaks it");
        }
    }
    test_error("models:\n  m: {upstream: \"\", price: {input: 1, output: 2}}\n",
               2, 17, "\"upstream\" in model \"m\" must be a non-empty string",
               "empty upstream");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}, "
               "headers: [a]}\n", 2, 59, "\"headers\" in model \"m\" must be "
               "a mapping", "headers not a map");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}, "
               "headers: {a: 1, A: 2}}\n", 2, 66, "duplicate header \"A\"",
               "header names are case-blind");
    test_error("models:\n  m: {upstream: u, price: {input: 1, output: 2}, "
               "headers: {\"a b\": 1}}\n", 2, 60, "invalid header name",
               "header name with a space");
}


static void
test_params(void)
{
    int                  rc;
    char                 text[4096];
    const llmopt_kv_t   *kv;
    const llmopt_arm_t  *arm;

    (void) snprintf(text, sizeof(text), "%s",
                    MODELS "policies:\n  p:\n    algorithm: ucb1\n"
                    "    arms:\n      - model: m\n        params:\n"
                    "          a: 0x1F\n"
                    "          b: 1e3\n"
                    "          c: 'it''s \"q\"\\'\n"
                    "          d: \"tab\\there\\u0001\"\n"
                    "          e: [1, [true, ~], {x: {}}]\n"
                    "          f: |\n            line\n"
                    "          g: 0.1\n"
                    "          h: 1.\n"
                    "          i: -0\n"
                    "          j: []\n");

    rc = test_load(text);
    is_int(rc, LLMOPT_OK, "params catalog loads");

    if (rc != LLMOPT_OK) {
        printf("# %u:%u: %s\n", err.line, err.column, err.msg);
        return;
    }

    arm = &cat.policies[0].arms[0];

    kv = test_param(arm, "a");
    is_str(kv != NULL ? kv->json.data : NULL, "31", "hex becomes decimal");
    kv = test_param(arm, "b");
    is_str(kv != NULL ? kv->json.data : NULL, "1e3", "JSON exponent kept");
    kv = test_param(arm, "c");
    is_str(kv != NULL ? kv->json.data : NULL, "\"it's \\\"q\\\"\\\\\"",
           "quotes and backslash escaped");
    kv = test_param(arm, "d");
    is_str(kv != NULL ? kv->json.data : NULL, "\"tab\\there\\u0001\"",
           "control characters escaped");
    kv = test_param(arm, "e");
    is_str(kv != NULL ? kv->json.data : NULL, "[1,[true,null],{\"x\":{}}]",
           "nested collections");
    kv = test_param(arm, "f");
    is_str(kv != NULL ? kv->json.data : NULL, "\"line\\n\"",
           "block scalar is a string");
    kv = test_param(arm, "g");
    is_str(kv != NULL ? kv->json.data : NULL, "0.1", "0.1 verbatim");
    kv = test_param(arm, "h");
    is_str(kv != NULL ? kv->json.data : NULL, "1", "1. becomes 1");
    kv = test_param(arm, "i");
    is_str(kv != NULL ? kv->json.data : NULL, "-0", "-0 verbatim");
    kv = test_param(arm, "j");
    is_str(kv != NULL ? kv->json.data : NULL, "[]", "empty sequence");

    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {t: .nan}}]}}\n", 4, 63, "cannot be a JSON value",
               "NaN param");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {model: x}}]}}\n", 4, 60, "\"model\" cannot be set",
               "model in params");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {t: 1, t: 2}}]}}\n", 4, 66, "duplicate key \"t\"",
               "duplicate param");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {t: {a: 1, a: 2}}}]}}\n", 4, 70,
               "duplicate key \"a\" in params", "duplicate nested key");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, "
               "i: 1, j: 1, k: 1, l: 1, m: 1, n: 1, o: 1, p: 1}}]}}\n",
               4, 59, "more than 15", "too many params");
}


static void
test_env(void)
{
    int  rc;

    (void) setenv("LLMOPT_TEST_KEY", "sk-secret", 1);
    (void) setenv("LLMOPT_TEST_BAD", "a\r\nX-Evil: 1", 1);
    (void) unsetenv("LLMOPT_TEST_UNSET");

    rc = test_load("models:\n  m:\n    upstream: u\n"
                   "    price: {input: 1, output: 2}\n"
                   "    headers: {Authorization: \"Bearer ${LLMOPT_TEST_KEY}\","
                   " X-Two: \"${LLMOPT_TEST_KEY}/${LLMOPT_TEST_KEY}\"}\n"
                   "policies: {p: {algorithm: ucb1, arms: [m]}}\n");

    if (ok(rc == LLMOPT_OK, "catalog with ${VAR} loads")) {
        is_str(cat.models[0].headers[0].value.data, "Bearer sk-secret",
               "${VAR} expanded");
        is_str(cat.models[0].headers[1].value.data, "sk-secret/sk-secret",
               "two ${VAR} expanded");
    }

    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"${LLMOPT_TEST_UNSET}\"}\n", 5, 22,
               "environment variable \"LLMOPT_TEST_UNSET\" is not set",
               "unset ${VAR}");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"${LLMOPT_TEST_BAD}\"}\n", 5, 22,
               "environment variable \"LLMOPT_TEST_BAD\" in the value of "
               "header \"X-Key\" in model \"m\" contains a control "
               "character", "header injection through ${VAR}");
    ok(strstr(err.msg, "Evil") == NULL, "a header value is never quoted");

    (void) setenv("LLMOPT_TEST_BAD", "sk-\033[2J", 1);
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"a ${LLMOPT_TEST_BAD}\"}\n", 5, 22,
               "environment variable \"LLMOPT_TEST_BAD\"",
               "an escape character through ${VAR}");
    (void) setenv("LLMOPT_TEST_BAD", "a\177b", 1);
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"${LLMOPT_TEST_BAD}\"}\n", 5, 22,
               "environment variable \"LLMOPT_TEST_BAD\"",
               "DEL through ${VAR}");
    (void) setenv("LLMOPT_TEST_BAD", "a\tb \xc3\xa9", 1);
    rc = test_load("models:\n  m:\n    upstream: u\n"
                   "    price: {input: 1, output: 2}\n"
                   "    headers: {X-Key: \"${LLMOPT_TEST_BAD}\\tc\"}\n"
                   "policies: {p: {algorithm: ucb1, arms: [m]}}\n");
    ok(rc == LLMOPT_OK && strcmp(cat.models[0].headers[0].value.data,
                                 "a\tb \xc3\xa9\tc") == 0,
       "tab and UTF-8 allowed in a value and its ${VAR}");
    (void) unsetenv("LLMOPT_TEST_BAD");

    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"a\\r\\nX-Evil: 1\"}\n", 5, 22,
               "the value of header \"X-Key\" in model \"m\" contains a "
               "control character", "a line break written in the value");
    ok(strstr(err.msg, "Evil") == NULL, "... not quoted either");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"a\\0b\"}\n", 5, 22,
               "contains a control character", "a NUL written in the value");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"\\x7f\"}\n", 5, 22,
               "contains a control character", "DEL written in the value");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {\"X-A\\r\\nB\": c}\n", 5, 15,
               "invalid header name \"X-A\"... in model \"m\"",
               "a line break in a header name");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {\"X-\xc3\xa9\": c}\n", 5, 15,
               "invalid header name", "UTF-8 in a header name");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"${LLMOPT TEST}\"}\n", 5, 22,
               "bad ${VAR} reference", "bad ${VAR} syntax");
    test_error("models:\n  m:\n    upstream: u\n"
               "    price: {input: 1, output: 2}\n"
               "    headers: {X-Key: \"${UNCLOSED\"}\n", 5, 22,
               "bad ${VAR} reference", "unclosed ${VAR");
}


static void
test_names(void)
{
    int  rc;

    test_error("models:\n  \"a b\": {upstream: u}\n", 2, 3,
               "invalid model name", "model name with a space");
    test_error("models:\n  "
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               ": {upstream: u}\n", 2, 3, "invalid model name",
               "model name of 64 bytes");
    test_error(MODELS "policies: {\"p\\\"\": {algorithm: ucb1, arms: [m]}}\n",
               4, 12, "invalid policy name", "policy name with a quote");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "name: \"\"}]}}\n", 4, 57, "invalid arm name", "empty arm name");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "name: \"a\\nb\"}]}}\n", 4, 57, "invalid arm name \"a\"...",
               "arm name with a line break, quoted up to it");
    test_error("models:\n  \"m\\r\\n\": {upstream: u}\n", 2, 3,
               "invalid model name", "model name with a line break");
    test_error("models:\n  \"m\\0\": {upstream: u}\n", 2, 3,
               "invalid model name", "model name with a NUL");
    test_error(MODELS "policies: {\"p\\x01\": {algorithm: ucb1, "
               "arms: [m]}}\n", 4, 12, "invalid policy name",
               "policy name with a control character");

    test_error("models: {m: {upstream: u, price: {input: 1, output: 2}}}\n"
               "\"a\\r\\nb\": 1\n", 2, 1, "unknown key \"a??b\"",
               "an unknown key with CR/LF is quoted without them");

    /* model ids: $llmopt_model, a response header's value */

    test_error("models:\n  m: {upstream: u, model: \"gpt\\r\\nX-Evil: 1\", "
               "price: {input: 1, output: 2}}\n", 2, 27,
               "invalid model id \"gpt\"...", "model id with CR/LF");
    test_error("models:\n  m: {upstream: u, model: \"g\\tpt\", "
               "price: {input: 1, output: 2}}\n", 2, 27,
               "invalid model id", "model id with a tab");
    test_error("models:\n  m: {upstream: u, model: 'a\"b', "
               "price: {input: 1, output: 2}}\n", 2, 27,
               "invalid model id", "model id with a quote");
    test_error("models:\n  m: {upstream: u, model: \"a\\\\b\", "
               "price: {input: 1, output: 2}}\n", 2, 27,
               "invalid model id", "model id with a backslash");
    test_error("models:\n  m: {upstream: u, model: \"gpt-\xc3\xa9\", "
               "price: {input: 1, output: 2}}\n", 2, 27,
               "invalid model id", "model id with UTF-8");
    test_error("models:\n  m: {upstream: u, model: "
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               ", price: {input: 1, output: 2}}\n", 2, 27,
               "invalid model id", "model id of 256 bytes");
    ok(strlen(err.msg) < 200, "a long id is quoted in part");

    rc = test_load("models:\n  m: {upstream: up-1.openai_x:8080, model: "
                   "accounts/fw/models/llama-v3p1:70b@2024-07-01+x~y, "
                   "price: {input: 1, output: 2}}\n"
                   "policies: {p: {algorithm: ucb1, arms: [m]}}\n");
    ok(rc == LLMOPT_OK
       && strcmp(cat.models[0].model.data,
                 "accounts/fw/models/llama-v3p1:70b@2024-07-01+x~y") == 0,
       "model ids with / : @ + ~ and upstream names with - . _ : load");

    /* upstream names: the host of proxy_pass http://$llmopt_upstream */

    test_error("models:\n  m: {upstream: \"u\\r\\nX: 1\", "
               "price: {input: 1, output: 2}}\n", 2, 17,
               "invalid upstream name \"u\"... in model \"m\"",
               "upstream with CR/LF");
    test_error("models:\n  m: {upstream: evil.example/x?, "
               "price: {input: 1, output: 2}}\n", 2, 17,
               "invalid upstream name", "upstream with a path");
    test_error("models:\n  m: {upstream: \"me@evil\", "
               "price: {input: 1, output: 2}}\n", 2, 17,
               "invalid upstream name", "upstream with a user");
    test_error("models:\n  m: {upstream: \"u\\0\", "
               "price: {input: 1, output: 2}}\n", 2, 17,
               "invalid upstream name", "upstream with a NUL");

    /* params keys are written into the body */

    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {'x\":0,\"model': 1}}]}}\n", 4, 60,
               "invalid params key \"x\"...", "params key with a quote");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {\"a\\nb\": 1}}]}}\n", 4, 60,
               "invalid params key", "params key with a line break");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {\"a\\\\b\": 1}}]}}\n", 4, 60,
               "invalid params key", "params key with a backslash");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [{model: m, "
               "params: {\"top p\": 1}}]}}\n", 4, 60,
               "invalid params key", "params key with a space");
}


static void
test_yaml(void)
{
    int       rc;
    uint64_t  v1;

    test_error("models: {m: [}\n", 1, 14, "YAML syntax error",
               "YAML syntax error");
    test_error("models:\n  m: {upstream: u\n  n: 1\n", 3, 4,
               "YAML syntax error", "unclosed flow mapping");
    test_error("", 1, 1, "empty", "empty file");
    test_error("# just a comment\n", 1, 1, "empty", "only a comment");
    test_error("models: {}\n---\nmodels: {}\n", 2, 1, "one YAML document",
               "two documents");
    test_error("? [a]\n: 1\n", 1, 3, "a mapping key must be a scalar",
               "sequence as a key");
    test_error("a: &x [*x]\n", 1, 4, "nesting is too deep",
               "alias cycle stopped");
    test_error("a: &a [1,1,1,1,1,1,1,1,1,1]\n"
               "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
               "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
               "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
               "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
               "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n", 1, 16,
               "too many YAML nodes", "alias bomb stopped");

    /* aliases are fine within the limits */

    rc = test_load("models:\n  m: {upstream: u, price: &p {input: 1, "
                   "output: 2}}\n  n: {upstream: u, price: *p}\n"
                   "policies: {p: {algorithm: ucb1, arms: [m, n]}}\n");
    is_int(rc, LLMOPT_OK, "aliases load");
    is_num(rc == LLMOPT_OK ? cat.models[1].price_output : 0, 2, 0,
           "alias value");

    rc = test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [m]}}\n");
    v1 = cat.version;
    rc |= test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [m]}}\n");
    ok(rc == LLMOPT_OK && v1 == cat.version, "same text, same version");
    rc = test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [n]}}\n");
    ok(rc == LLMOPT_OK && v1 != cat.version, "other text, other version");

    memset(&err, 0, sizeof(err));
    rc = llmopt_catalog_load_file(&cat, "/nonexistent/catalog.yaml",
                                  &test_allocator, &err);
    ok(rc == LLMOPT_ERROR && strstr(err.msg, "cannot open") != NULL
       && err.line == 0, "missing file");
}


/* Each t/catalog/bad-*.yaml starts "# expect: LINE:COLUMN: TEXT". */

static void
test_bad_files(const char *dir)
{
    int             rc, n;
    char            path[512], first[512], got[600], *nl, *colon;
    size_t          pos;
    FILE           *f;
    DIR            *d;
    struct dirent  *de;

    d = opendir(dir);

    if (d == NULL) {
        ok(0, "open %s (set LLMOPT_CATALOG_DIR)", dir);
        return;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "bad-", 4) != 0
            || strstr(de->d_name, ".yaml") == NULL)
        {
            continue;
        }

        (void) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);

        first[0] = '\0';
        f = fopen(path, "r");

        if (f != NULL) {
            if (fgets(first, sizeof(first), f) == NULL) {
                first[0] = '\0';
            }

            (void) fclose(f);
        }

        nl = strchr(first, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        if (!ok(strncmp(first, "# expect: ", 10) == 0,
                "%s states what it expects", de->d_name))
        {
            continue;
        }

        memset(&err, 0, sizeof(err));
        rc = llmopt_catalog_load_file(&cat, path, &test_allocator, &err);

        (void) snprintf(got, sizeof(got), "%u:%u: %s", err.line, err.column,
                        err.msg);

        /* "L:C: " must match, the rest may be part of the message */

        colon = strchr(first + 10, ':');
        colon = (colon != NULL) ? strchr(colon + 1, ':') : NULL;
        pos = (colon != NULL) ? (size_t) (colon - first - 10) : 0;

        if (!ok(rc == LLMOPT_ERROR && pos > 0
                && strncmp(got, first + 10, pos + 2) == 0
                && strstr(got + pos + 2, first + 10 + pos + 2) != NULL,
                "%s fails as stated", de->d_name))
        {
            printf("#   got: %s\n#   expected: %s\n", got, first + 10);
        }

        n++;
    }

    (void) closedir(d);

    ok(n >= 30, "%d bad example catalogs", n);
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


/* algorithm sparse: its mapping, defaults and errors */

static void
test_sparse(void)
{
    const llmopt_policy_t  *p;

    is_int(test_load(MODELS "policies: {p: {algorithm: sparse, arms: [m, n], "
                     "features: [bias, input_tokens]}}\n"),
           LLMOPT_OK, "sparse loads with its defaults");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->sparse_on, "sparse_on");
    ok(p != NULL && p->sparse.bits == 18 && p->sparse.ngrams == 2
       && p->sparse.learning_rate == 0.5 && p->sparse.exploration == 20
       && p->sparse.n_arms == 2 && p->sparse.d == 2,
       "defaults: bits 18, ngrams 2, rate 0.5, exploration 20; arms, d");
    ok(p != NULL && p->bandit.algorithm == LLMOPT_ALG_EPSILON_GREEDY,
       "the arms' counts in an epsilon_greedy block");

    is_int(test_load(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
                     "sparse: {bits: 12, ngrams: 1, learning_rate: 0.1, "
                     "exploration: 50}}}\n"),
           LLMOPT_OK, "sparse with its keys");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->sparse.bits == 12 && p->sparse.ngrams == 1
       && p->sparse.learning_rate == 0.1 && p->sparse.exploration == 50,
       "keys read");

    is_int(test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [m]}}\n"),
           LLMOPT_OK, "ucb1");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && !p->sparse_on && p->sparse.bits == 0, "not sparse");

    is_int(test_load(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
                     "sparse: {bits: 12}}}\n"),
           LLMOPT_OK, "a sparse mapping with another algorithm is ignored");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && !p->sparse_on && p->sparse.bits == 0, "and unused");
    test_error(MODELS "policies: {p: {algorithm: ucb1, arms: [m], "
               "sparse: {bits: 30}}}\n", 4, 59, "must be an integer from 10 "
               "to 24", "but checked");
    test_error(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
               "sparse: {bits: 30}}}\n", 4, 61,
               "\"bits\" in sparse of policy \"p\" must be an integer "
               "from 10 to 24", "bits out of range");
    test_error(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
               "sparse: {ngrams: 3}}}\n", 4, 63, "must be 1 or 2",
               "ngrams 3");
    test_error(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
               "sparse: {learning_rate: 0}}}\n", 4, 70,
               "must be a number in (0, 10]", "learning_rate 0");
    test_error(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
               "sparse: {exploration: -1}}}\n", 4, 68,
               "must be a number in (0, 1000000]", "exploration -1");
    test_error(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
               "sparse: {x: 1}}}\n", 4, 55,
               "unknown key \"x\" in sparse of policy \"p\"",
               "unknown sparse key");
    test_error(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
               "sparse: 3}}\n", 4, 54,
               "\"sparse\" in policy \"p\" must be a mapping",
               "sparse not a mapping");
    is_int(test_load(MODELS "policies: {p: {algorithm: sparse, arms: [m], "
                     "alpha: 2}}\n"),
           LLMOPT_OK, "hyperparameters of other algorithms are ignored");

    is_int(test_load(MODELS "policies: {p: {algorithm: thompson, arms: [m], "
                     "prior_mean: 0.9}}\n"),
           LLMOPT_OK, "prior_mean with thompson loads");
    p = llmopt_catalog_policy(&cat, "p", 1);
    ok(p != NULL && p->bandit.prior_mean == 0, "and is unused");
    test_error(MODELS "policies: {p: {algorithm: thompson, arms: [m], "
               "prior_mean: 2}}\n", 4, 60, "a number from 0 to 1",
               "but checked");
}


static int
test_load(const char *text)
{
    memset(&err, 0, sizeof(err));

    return llmopt_catalog_load_string(&cat, "test.yaml", text, strlen(text),
                                      &test_allocator, &err);
}


static const llmopt_kv_t *
test_param(const llmopt_arm_t *arm, const char *key)
{
    unsigned  i;

    for (i = 0; i < arm->n_params; i++) {
        if (strcmp(arm->params[i].key.data, key) == 0) {
            return &arm->params[i];
        }
    }

    return NULL;
}


