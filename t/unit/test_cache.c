/*
 * Copyright (C) llmopt authors
 *
 * The exact cache's core: SHA-256 against FIPS 180-4's examples, the
 * canonical text (key order, whitespace, escapes do not matter; excluded
 * members are left out; what would be ambiguous gets no key), the key's
 * scope (tenant, upstream, dialect), the catalog's "cache" rule and its
 * load errors, and the decision.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_cache.h"
#include "llmopt_catalog.h"
#include "llmopt_sha256.h"


#define TEST_TOKS  256

#define MODELS                                                               \
    "models:\n"                                                              \
    "  m: {upstream: u, price: {input: 1, output: 2}}\n"


static void test_sha256(void);
static void test_canonical(void);
static void test_keys(void);
static void test_control(void);
static void test_decide(void);
static void test_catalog(void);
static void test_unstream(void);
static int test_canon(const llmopt_cache_conf_t *conf, const char *body,
    char *out, size_t size);
static int test_key(const llmopt_cache_conf_t *conf,
    const llmopt_cache_scope_t *scope, const char *body, char *key);
static void test_load_error(const char *cache, const char *want);


int
main(void)
{
    test_sha256();
    test_canonical();
    test_keys();
    test_control();
    test_decide();
    test_catalog();
    test_unstream();

    test_free_all();

    return tap_done();
}


static void
test_hex(const unsigned char *d, char *out)
{
    unsigned  i;

    for (i = 0; i < LLMOPT_SHA256_LEN; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}


static void
test_sha256(void)
{
    size_t           i;
    char             hex[65];
    unsigned char    d[LLMOPT_SHA256_LEN];
    llmopt_sha256_t  s;

    static const char  *two =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    llmopt_sha256_init(&s);
    llmopt_sha256_final(&s, d);
    test_hex(d, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                "7852b855", "SHA-256 of nothing");

    llmopt_sha256_init(&s);
    llmopt_sha256_update(&s, "abc", 3);
    llmopt_sha256_final(&s, d);
    test_hex(d, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
                "f20015ad", "SHA-256 of abc");

    /* two blocks, fed a byte at a time */
    llmopt_sha256_init(&s);

    for (i = 0; i < strlen(two); i++) {
        llmopt_sha256_update(&s, two + i, 1);
    }

    llmopt_sha256_final(&s, d);
    test_hex(d, hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd4"
                "19db06c1", "SHA-256 of the 448-bit message, bytewise");

    /* a million 'a', in pieces that straddle blocks */
    {
        char  chunk[1000];

        memset(chunk, 'a', sizeof(chunk));
        llmopt_sha256_init(&s);

        for (i = 0; i < 1000; i++) {
            llmopt_sha256_update(&s, chunk, sizeof(chunk));
        }

        llmopt_sha256_final(&s, d);
        test_hex(d, hex);
        is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39cc"
                    "c7112cd0", "SHA-256 of a million a");
    }
}


static int
test_canon(const llmopt_cache_conf_t *conf, const char *body, char *out,
    size_t size)
{
    int                rc;
    size_t             len;
    unsigned           n;
    unsigned           scratch[TEST_TOKS];
    llmopt_err_t       err;
    llmopt_json_tok_t  toks[TEST_TOKS];

    rc = llmopt_json_parse((const unsigned char *) body, strlen(body), toks,
                           TEST_TOKS, 0, &n, &err);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    rc = llmopt_cache_canonical(conf, (const unsigned char *) body, toks, n,
                                scratch, NULL, &len);
    if (rc != LLMOPT_OK || len >= size) {
        return rc == LLMOPT_OK ? LLMOPT_ERROR : rc;
    }

    rc = llmopt_cache_canonical(conf, (const unsigned char *) body, toks, n,
                                scratch, (unsigned char *) out, &len);
    out[len] = '\0';

    return rc;
}


static void
test_canonical(void)
{
    char                 out[1024];
    llmopt_cache_conf_t  conf;

    llmopt_cache_conf_defaults(&conf);

    is_int(test_canon(&conf, " { \"model\" : \"m\", \"messages\": [ {\"role\""
                      ":\"user\", \"content\":\"hi\"} ] , \"temperature\":0 }",
                      out, sizeof(out)), LLMOPT_OK, "canonical");
    is_str(out, "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],"
                "\"model\":\"m\",\"temperature\":0}",
           "keys sorted at every level, no whitespace");

    is_int(test_canon(&conf, "{\"b\":1,\"stream\":true,\"user\":\"u1\","
                      "\"stream_options\":{\"include_usage\":true},"
                      "\"metadata\":{\"x\":1},\"a\":[1,{\"user\":2}]}",
                      out, sizeof(out)), LLMOPT_OK, "excluded members");
    is_str(out, "{\"a\":[1,{\"user\":2}],\"b\":1}",
           "stream, stream_options, user and metadata left out at the root "
           "only");

    is_int(test_canon(&conf, "{\"s\":\"a\\u0041\\/\\n\\\"\\\\\\ud83d\\ude00"
                      "\\u00e9\"}", out, sizeof(out)), LLMOPT_OK, "escapes");
    is_str(out, "{\"s\":\"aA/\\u000a\\\"\\\\\xf0\x9f\x98\x80\xc3\xa9\"}",
           "escapes decoded, written one way");

    is_int(test_canon(&conf, "{\"s\":\"\xc3\xa9\\u000A\"}", out, sizeof(out)),
           LLMOPT_OK, "raw UTF-8");
    is_str(out, "{\"s\":\"\xc3\xa9\\u000a\"}", "raw UTF-8 as is");

    is_int(test_canon(&conf, "{\"a\":1,\"a\":2}", out, sizeof(out)),
           LLMOPT_DECLINED, "a repeated key: no key");
    is_int(test_canon(&conf, "{\"x\":{\"k\":1,\"k\":1}}", out, sizeof(out)),
           LLMOPT_DECLINED, "a repeated key deeper: no key");
    is_int(test_canon(&conf, "{\"\\u0061\":1}", out, sizeof(out)),
           LLMOPT_DECLINED, "an escaped key: no key");

    is_int(test_canon(&conf, "{\"ab\":1,\"a\":2,\"b\":{},\"c\":[]}", out,
                      sizeof(out)), LLMOPT_OK, "prefix keys");
    is_str(out, "{\"a\":2,\"ab\":1,\"b\":{},\"c\":[]}",
           "shorter key first; empty containers");

    conf.exclude[0].data = "temperature";
    conf.exclude[0].len = 11;
    conf.n_exclude = 1;

    is_int(test_canon(&conf, "{\"user\":\"u\",\"temperature\":1,\"m\":1}",
                      out, sizeof(out)), LLMOPT_OK, "own exclude list");
    is_str(out, "{\"m\":1,\"user\":\"u\"}", "exclude replaces user, metadata");
}


static int
test_key(const llmopt_cache_conf_t *conf, const llmopt_cache_scope_t *scope,
    const char *body, char *key)
{
    int                rc;
    unsigned           n;
    unsigned           scratch[TEST_TOKS];
    llmopt_err_t       err;
    llmopt_json_tok_t  toks[TEST_TOKS];

    rc = llmopt_json_parse((const unsigned char *) body, strlen(body), toks,
                           TEST_TOKS, 0, &n, &err);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    return llmopt_cache_key(conf, scope, (const unsigned char *) body, toks,
                            n, scratch, key);
}


static void
test_keys(void)
{
    char                  k1[65], k2[65];
    llmopt_cache_conf_t   conf;
    llmopt_cache_scope_t  scope, other;

    static const char  *a = "{\"model\":\"m\",\"messages\":[{\"role\":"
                            "\"user\",\"content\":\"hi\"}]}";
    static const char  *b = "{ \"messages\" : [ { \"content\" : \"hi\", "
                            "\"role\" : \"user\" } ], \"user\": \"x\", "
                            "\"model\" : \"m\" }";
    static const char  *c = "{\"model\":\"n\",\"messages\":[{\"role\":"
                            "\"user\",\"content\":\"hi\"}]}";

    llmopt_cache_conf_defaults(&conf);
    conf.when = LLMOPT_CACHE_ALWAYS;

    memset(&scope, 0, sizeof(scope));
    scope.dialect = LLMOPT_DIALECT_OPENAI;
    scope.upstream.data = "up";
    scope.upstream.len = 2;
    scope.tenant.data = "t1";
    scope.tenant.len = 2;

    is_int(test_key(&conf, &scope, a, k1), LLMOPT_OK, "key");
    is_int(strlen(k1), 64, "64 hex digits");
    ok(strspn(k1, "0123456789abcdef") == 64, "lower-case hex");

    is_int(test_key(&conf, &scope, b, k2), LLMOPT_OK, "key again");
    is_str(k2, k1, "order, whitespace and user do not change it");

    is_int(test_key(&conf, &scope, c, k2), LLMOPT_OK, "another model");
    ok(strcmp(k1, k2) != 0, "another model, another key");

    other = scope;
    other.tenant.data = "t2";
    is_int(test_key(&conf, &other, a, k2), LLMOPT_OK, "another tenant");
    ok(strcmp(k1, k2) != 0, "another tenant, another key");

    conf.shared = 1;
    is_int(test_key(&conf, &scope, a, k1), LLMOPT_OK, "shared");
    is_int(test_key(&conf, &other, a, k2), LLMOPT_OK, "shared, other tenant");
    is_str(k2, k1, "shared: tenants have the same key");
    conf.shared = 0;

    test_key(&conf, &scope, a, k1);

    other = scope;
    other.upstream.data = "uq";
    test_key(&conf, &other, a, k2);
    ok(strcmp(k1, k2) != 0, "another upstream, another key");

    other = scope;
    other.dialect = LLMOPT_DIALECT_ANTHROPIC;
    test_key(&conf, &other, a, k2);
    ok(strcmp(k1, k2) != 0, "another dialect, another key");

    /* field boundaries: "t1"+"x" is not "t"+"1x" */
    other = scope;
    other.upstream.data = "upt";
    other.upstream.len = 3;
    other.tenant.data = "1";
    other.tenant.len = 1;
    test_key(&conf, &other, a, k2);
    ok(strcmp(k1, k2) != 0, "the scope's fields are delimited by length");

    is_int(test_key(&conf, &scope, "{\"model\":\"m\",\"max_tokens\":5}", k1),
           LLMOPT_OK, "params");
    is_int(test_key(&conf, &scope, "{\"model\":\"m\",\"max_tokens\":6}", k2),
           LLMOPT_OK, "other params");
    ok(strcmp(k1, k2) != 0, "params are in the key");

    is_int(test_key(&conf, &scope, "{\"model\":\"m\",\"model\":\"n\"}", k1),
           LLMOPT_DECLINED, "a repeated key has no key");
}


static void
test_control(void)
{
    is_int(llmopt_cache_control("no-cache", 8), LLMOPT_CACHE_CLIENT_NO_CACHE,
           "no-cache");
    is_int(llmopt_cache_control(" No-Store ", 10),
           LLMOPT_CACHE_CLIENT_NO_CACHE | LLMOPT_CACHE_CLIENT_NO_STORE,
           "no-store, any case, spaces");
    is_int(llmopt_cache_control("private, max-age=0", 18),
           LLMOPT_CACHE_CLIENT_NO_CACHE, "max-age=0 in a list");
    is_int(llmopt_cache_control("max-age=60", 10), 0, "max-age=60");
    is_int(llmopt_cache_control("no-cachex, xno-store", 20), 0,
           "whole directives only");
    is_int(llmopt_cache_control("", 0), 0, "empty");
}


static void
test_decide(void)
{
    llmopt_cache_conf_t      conf;
    llmopt_cache_request_t   req;
    llmopt_cache_decision_t  d;

    llmopt_cache_conf_defaults(&conf);
    memset(&req, 0, sizeof(req));
    req.temperature = 0;

    llmopt_cache_decide(&conf, &req, &d);
    ok(!d.keyed && !d.lookup && !d.store, "no rule: nothing");
    is_str(d.why, "rule", "why: rule");

    conf.when = LLMOPT_CACHE_ALWAYS;
    llmopt_cache_decide(&conf, &req, &d);
    ok(d.keyed && d.lookup && d.store, "always");
    ok(llmopt_cache_storable(&d, 200), "a 200 is stored");
    ok(!llmopt_cache_storable(&d, 500), "a 500 is not");
    ok(!llmopt_cache_storable(&d, 429), "a 429 is not");

    req.client = llmopt_cache_control("no-cache", 8);
    llmopt_cache_decide(&conf, &req, &d);
    ok(d.keyed && !d.lookup && d.store, "no-cache: fresh answer, stored");

    req.client = llmopt_cache_control("no-store", 8);
    llmopt_cache_decide(&conf, &req, &d);
    ok(d.keyed && !d.lookup && !d.store, "no-store: neither");
    ok(!llmopt_cache_storable(&d, 200), "no-store: a 200 is not stored");
    req.client = 0;

    req.stream = 1;
    llmopt_cache_decide(&conf, &req, &d);
    ok(!d.keyed && !d.lookup && !d.store, "a stream is not cached");
    is_str(d.why, "stream", "why: stream");
    req.stream = 0;

    req.shadow = 1;
    llmopt_cache_decide(&conf, &req, &d);
    ok(!d.keyed, "shadow mode is not cached");
    req.shadow = 0;

    conf.when = LLMOPT_CACHE_TEMPERATURE;
    conf.temperature_max = 0.3;

    req.temperature = 0.3;
    llmopt_cache_decide(&conf, &req, &d);
    ok(d.keyed && d.lookup && d.store, "temperature 0.3 <= 0.3");

    req.temperature = 0.31;
    llmopt_cache_decide(&conf, &req, &d);
    ok(!d.keyed, "temperature 0.31 > 0.3");
    is_str(d.why, "temperature", "why: temperature");

    req.temperature = -1;
    llmopt_cache_decide(&conf, &req, &d);
    ok(!d.keyed, "no temperature is the provider's 1");

    conf.temperature_max = 1;
    llmopt_cache_decide(&conf, &req, &d);
    ok(d.keyed, "no temperature, temperature_le: 1");

    {
        unsigned           n;
        llmopt_err_t       err;
        llmopt_json_tok_t  toks[16];

        static const char  *body = "{\"temperature\":0.25,\"x\":1}";
        static const char  *none = "{\"temperature\":null}";

        llmopt_json_parse((const unsigned char *) body, strlen(body), toks,
                          16, 0, &n, &err);
        is_num(llmopt_cache_temperature((const unsigned char *) body, toks,
                                        n), 0.25, 1e-12, "temperature read");

        llmopt_json_parse((const unsigned char *) none, strlen(none), toks,
                          16, 0, &n, &err);
        is_num(llmopt_cache_temperature((const unsigned char *) none, toks,
                                        n), -1, 0, "null temperature: none");
    }
}


static llmopt_catalog_t  cat;


static int
test_load_cache(const char *cache, llmopt_err_t *err)
{
    char  text[2048];

    snprintf(text, sizeof(text), MODELS "policies:\n"
             "  p: {algorithm: static, arms: [m]%s%s}\n",
             cache != NULL ? ", cache: " : "", cache != NULL ? cache : "");

    memset(err, 0, sizeof(llmopt_err_t));

    return llmopt_catalog_load_string(&cat, "u.yaml", text, strlen(text),
                                      &test_allocator, err);
}


static void
test_load_error(const char *cache, const char *want)
{
    int           rc;
    llmopt_err_t  err;

    rc = test_load_cache(cache, &err);
    is_int(rc, LLMOPT_ERROR, "refused: %s", cache);

    if (strstr(err.msg, want) == NULL) {
        ok(0, "the error names it: %s", want);
        printf("#   got: %s\n", err.msg);

    } else {
        ok(1, "the error names it: %s", want);
    }
}


static void
test_catalog(void)
{
    int                         rc;
    llmopt_err_t                err;
    const llmopt_cache_conf_t  *c;

    rc = test_load_cache(NULL, &err);
    is_int(rc, LLMOPT_OK, "no rule: %s", err.msg);
    is_int(cat.policies[0].cache.when, LLMOPT_CACHE_NEVER, "no rule: never");

    rc = test_load_cache("{}", &err);
    is_int(rc, LLMOPT_OK, "empty rule: %s", err.msg);
    c = &cat.policies[0].cache;
    is_int(c->when, LLMOPT_CACHE_ALWAYS, "an empty rule: always");
    is_int(c->n_exclude, 2, "default exclude list");
    is_int(c->ttl_ms, 0, "no ttl");
    is_int(c->shared, 0, "not shared");

    rc = test_load_cache("{when: temperature_le, temperature_le: 0.3, "
                         "ttl: 10m, shared: true, exclude: [user, seed]}",
                         &err);
    is_int(rc, LLMOPT_OK, "full rule: %s", err.msg);
    c = &cat.policies[0].cache;
    is_int(c->when, LLMOPT_CACHE_TEMPERATURE, "when: temperature_le");
    is_num(c->temperature_max, 0.3, 1e-12, "temperature_le: 0.3");
    is_int(c->ttl_ms, 600000, "ttl: 10m");
    is_int(c->shared, 1, "shared: true");
    is_int(c->n_exclude, 2, "exclude: two");
    is_str(c->exclude[1].data, "seed", "exclude: seed");

    rc = test_load_cache("{when: {temperature_le: 0}, ttl: 1500}", &err);
    is_int(rc, LLMOPT_OK, "when as a mapping: %s", err.msg);
    c = &cat.policies[0].cache;
    is_int(c->when, LLMOPT_CACHE_TEMPERATURE, "when: {temperature_le: 0}");
    is_num(c->temperature_max, 0, 0, "temperature_le: 0");
    is_int(c->ttl_ms, 1500, "ttl in ms");

    rc = test_load_cache("{temperature_le: 0.5, ttl: 2h}", &err);
    is_int(rc, LLMOPT_OK, "temperature_le alone: %s", err.msg);
    is_int(cat.policies[0].cache.when, LLMOPT_CACHE_TEMPERATURE,
           "temperature_le implies the when");
    is_int(cat.policies[0].cache.ttl_ms, 7200000, "ttl: 2h");

    rc = test_load_cache("{when: never}", &err);
    is_int(rc, LLMOPT_OK, "never: %s", err.msg);
    is_int(cat.policies[0].cache.when, LLMOPT_CACHE_NEVER, "when: never");

    rc = test_load_cache("{exclude: []}", &err);
    is_int(rc, LLMOPT_OK, "empty exclude: %s", err.msg);
    is_int(cat.policies[0].cache.n_exclude, 0, "exclude: [] keeps user");

    test_load_error("yes", "\"cache\" in policy \"p\" must be a mapping");
    test_load_error("{when: sometimes}", "\"when\" in cache of policy \"p\" "
                    "must be always, never or temperature_le");
    test_load_error("{when: temperature_le}", "needs \"temperature_le: N\"");
    test_load_error("{when: always, temperature_le: 0.2}",
                    "goes with \"when: temperature_le\" only");
    test_load_error("{temperature_le: 3}", "a number from 0 to 2");
    test_load_error("{ttl: 10x}", "\"ttl\" in cache of policy \"p\" must be "
                    "a time from 1s to 366d");
    test_load_error("{ttl: 500}", "from 1s to 366d");
    test_load_error("{ttl: -1m}", "from 1s to 366d");
    test_load_error("{shared: maybe}", "\"shared\" in cache of policy \"p\" "
                    "must be true or false");
    test_load_error("{exclude: user}", "must be a list");
    test_load_error("{exclude: [model]}", "cannot leave \"model\" out");
    test_load_error("{exclude: [messages]}", "cannot leave \"messages\" out");
    test_load_error("{exclude: [user, user]}", "listed twice");
    test_load_error("{size: 1}", "size");
}


static void
test_unstream(void)
{
    size_t             len;
    unsigned           n;
    llmopt_err_t       err;
    unsigned char      out[512];
    llmopt_json_tok_t  toks[TEST_TOKS];

    static const char  *cases[][2] = {
        { "{\"model\":\"m\",\"stream\":true,\"messages\":[1, 2],"
          "\"stream_options\":{\"include_usage\":true}}",
          "{\"model\":\"m\",\"messages\":[1, 2]}" },
        { "{ \"stream\" : true }", "{}" },
        { "{\"stream\":true,\"a\":\"x\\\"y\",\"stream\":false}",
          "{\"a\":\"x\\\"y\"}" },
        { "{\"a\" : { \"stream\": true } , \"b\":null}",
          "{\"a\" : { \"stream\": true },\"b\":null}" },
        { NULL, NULL }
    };

    unsigned  i;

    for (i = 0; cases[i][0] != NULL; i++) {
        llmopt_json_parse((const unsigned char *) cases[i][0],
                          strlen(cases[i][0]), toks, TEST_TOKS, 0, &n, &err);
        len = llmopt_cache_unstream((const unsigned char *) cases[i][0],
                                    toks, n, out);
        out[len] = '\0';
        is_str((char *) out, cases[i][1], "unstream: %s", cases[i][0]);
        ok(len <= strlen(cases[i][0]), "unstream never grows");
    }

    llmopt_json_parse((const unsigned char *) cases[0][0],
                      strlen(cases[0][0]), toks, TEST_TOKS, 0, &n, &err);
    ok(llmopt_cache_streams((const unsigned char *) cases[0][0], toks, n),
       "stream: true streams");
    llmopt_json_parse((const unsigned char *) cases[0][1],
                      strlen(cases[0][1]), toks, TEST_TOKS, 0, &n, &err);
    ok(!llmopt_cache_streams((const unsigned char *) cases[0][1], toks, n),
       "no stream member: no stream");
}
