/*
 * Copyright (C) llmopt authors
 *
 * Feature names, dimensions, values and their JSON form.
 */

#include <string.h>

#include "llmopt_features.h"
#include "llmopt_hash.h"
#include "tap.h"


#define TEST_TOKS  512


static void test_spec(void);
static void test_build(void);
static void test_words(void);
static void test_json(void);
static void test_hash(void);
static void test_names(void);
static int test_request(llmopt_request_t *req, const char *json);
static void test_all_spec(llmopt_feature_spec_t *spec);


static llmopt_json_tok_t  test_toks[TEST_TOKS];


int
main(void)
{
    test_spec();
    test_build();
    test_words();
    test_json();
    test_hash();
    test_names();

    return tap_done();
}


static int
test_request(llmopt_request_t *req, const char *json)
{
    llmopt_err_t  err;

    return llmopt_request_parse(req, LLMOPT_DIALECT_OPENAI,
                                (const unsigned char *) json, strlen(json),
                                test_toks, TEST_TOKS, 32, &err);
}


static void
test_all_spec(llmopt_feature_spec_t *spec)
{
    int  i;

    memset(spec, 0, sizeof(llmopt_feature_spec_t));

    for (i = 0; i < LLMOPT_FEAT_LAST; i++) {
        spec->ids[spec->n++] = (llmopt_feature_e) i;
    }
}


static void
test_spec(void)
{
    llmopt_err_t           err;
    llmopt_feature_spec_t  spec;

    is_int(llmopt_feature_lookup("input_tokens", 12),
           LLMOPT_FEAT_INPUT_TOKENS, "lookup input_tokens");
    is_int(llmopt_feature_lookup("words", 5), LLMOPT_FEAT_WORDS,
           "lookup words");
    is_int(llmopt_feature_lookup("word", 4), -1, "lookup of a prefix fails");
    is_int(llmopt_feature_lookup("nope", 4), -1, "unknown name");
    is_str(llmopt_feature_name(LLMOPT_FEAT_SYSTEM_LEN), "system_len",
           "name of system_len");
    is_str(llmopt_feature_name(LLMOPT_FEAT_TENANT), "tenant", "tenant name");

    test_all_spec(&spec);
    is_int(llmopt_feature_spec_finish(&spec, &err), LLMOPT_OK, "all features");
    is_int(spec.tenant_buckets, 4, "tenant buckets default 4");
    is_int(spec.word_buckets, 8, "word buckets default 8");
    is_int(spec.d, 9 + 2 + 4 + 8, "d of all features with defaults");

    test_all_spec(&spec);
    spec.tenant_buckets = 2;
    spec.word_buckets = 5;
    is_int(llmopt_feature_spec_finish(&spec, &err), LLMOPT_OK, "buckets set");
    is_int(spec.d, 9 + 2 + 2 + 5, "d with 2 tenant and 5 word buckets");

    test_all_spec(&spec);
    spec.word_buckets = 60;
    is_int(llmopt_feature_spec_finish(&spec, &err), LLMOPT_ERROR,
           "d over 64 fails");
    is_str(err.msg, "the features have 75 dimensions, at most 64 are "
           "supported", "d over 64 message");

    memset(&spec, 0, sizeof(spec));
    spec.ids[spec.n++] = LLMOPT_FEAT_BIAS;
    spec.ids[spec.n++] = LLMOPT_FEAT_HOUR;
    spec.ids[spec.n++] = LLMOPT_FEAT_BIAS;
    is_int(llmopt_feature_spec_finish(&spec, &err), LLMOPT_ERROR,
           "a repeated feature fails");
    is_str(err.msg, "feature \"bias\" is listed twice", "repeat message");

    memset(&spec, 0, sizeof(spec));
    spec.ids[spec.n++] = LLMOPT_FEAT_BIAS;
    spec.ids[spec.n++] = LLMOPT_FEAT_HOUR;
    is_int(llmopt_feature_spec_finish(&spec, &err), LLMOPT_OK, "bias+hour");
    is_int(spec.d, 3, "bias + hour = 3 dims");
}


static void
test_build(void)
{
    double                 x[LLMOPT_FEATURE_MAX_DIM];
    unsigned               i, ones;
    llmopt_err_t           err;
    llmopt_request_t       req;
    llmopt_feature_ctx_t   ctx;
    llmopt_feature_spec_t  spec;

    test_all_spec(&spec);
    (void) llmopt_feature_spec_finish(&spec, &err);

    /* 400 bytes of text = 100 tokens */

    is_int(test_request(&req, "{\"messages\":[{\"role\":\"system\","
           "\"content\":\"" "0123456789012345678901234567890123456789"
           "0123456789012345678901234567890123456789" "\"},{\"role\":\"user\","
           "\"content\":\"```x```\"}],\"max_tokens\":1023,\"stream\":true,"
           "\"tools\":[{\"type\":\"function\"}],"
           "\"response_format\":{\"type\":\"json_object\"}}"),
           LLMOPT_OK, "feature request parses");

    llmopt_feature_hour(&ctx, 6);
    ctx.tenant = "acme";
    ctx.tenant_len = 4;

    llmopt_features_build(&spec, &req, &ctx, x);

    is_num(x[0], 1, 0, "bias");
    is_num(x[1], log1p((double) (req.text_bytes / 4)) / log1p(131072.0),
           1e-12, "input_tokens: log1p(bytes / 4) / log1p(128k)");
    is_num(x[2], log1p(2.0) / log1p(64.0), 1e-12, "messages");
    is_num(x[3], log1p(20.0) / log1p(32768.0), 1e-12, "system_len");
    is_num(x[4], 1, 0, "has_code");
    is_num(x[5], 1, 0, "has_tools");
    is_num(x[6], 1, 0, "json_format");
    is_num(x[7], log1p(1023.0) / log1p(32768.0), 1e-12, "max_tokens");
    is_num(x[8], 1, 0, "stream");
    is_num(x[9], 1, 1e-12, "hour 6: sin = 1");
    is_num(x[10], 0, 1e-12, "hour 6: cos = 0");

    ones = 0;

    for (i = 11; i < 15; i++) {
        ok(x[i] == 0 || x[i] == 1, "tenant dim %u is 0 or 1", i - 11);
        ones += (x[i] == 1);
    }

    is_int(ones, 1, "tenant is one-hot");
    is_num(x[11 + llmopt_hash64("acme", 4, 0x6c6c6d6f70742d74ULL) % 4], 1, 0,
           "tenant bucket is hash mod buckets");

    for (i = 0; i < spec.d; i++) {
        if (x[i] < -1 || x[i] > 1) {
            break;
        }
    }

    is_int(i, spec.d, "every value in [-1, 1]");

    ctx.tenant = NULL;
    ctx.tenant_len = 0;
    llmopt_feature_hour(&ctx, 18);

    llmopt_features_build(&spec, &req, &ctx, x);
    is_num(x[9], -1, 1e-12, "hour 18: sin = -1");
    is_num(x[11] + x[12] + x[13] + x[14], 0, 0, "no tenant: all zeros");

    /* a request with nothing: zeros where nothing was said */

    is_int(test_request(&req, "{\"messages\":[{\"role\":\"assistant\","
                        "\"content\":null}]}"), LLMOPT_OK, "empty request");
    llmopt_features_build(&spec, &req, &ctx, x);
    is_num(x[1], 0, 0, "no text: input_tokens 0");
    is_num(x[7], 0, 0, "no max_tokens: 0");

    for (i = 15; i < 23; i++) {
        if (x[i] != 0) {
            break;
        }
    }

    is_int(i, 23, "no prompt: words all zero");

    /* huge values clamp to 1 */

    req.text_bytes = (size_t) 1 << 40;
    req.max_tokens = (int64_t) 1 << 40;
    req.n_messages = 100000;
    llmopt_features_build(&spec, &req, &ctx, x);
    is_num(x[1], 1, 0, "input_tokens clamps");
    is_num(x[2], 1, 0, "messages clamps");
    is_num(x[7], 1, 0, "max_tokens clamps");
}


static void
test_words(void)
{
    double                 a[LLMOPT_FEATURE_MAX_DIM];
    double                 b[LLMOPT_FEATURE_MAX_DIM];
    double                 c[LLMOPT_FEATURE_MAX_DIM];
    double                 norm, ab, ac;
    unsigned               i;
    llmopt_err_t           err;
    llmopt_request_t       req;
    llmopt_feature_ctx_t   ctx;
    llmopt_feature_spec_t  spec;

    memset(&spec, 0, sizeof(spec));
    spec.ids[spec.n++] = LLMOPT_FEAT_WORDS;
    spec.word_buckets = 16;
    (void) llmopt_feature_spec_finish(&spec, &err);

    memset(&ctx, 0, sizeof(ctx));

    (void) test_request(&req, "{\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Write a python function to remove duplicates from a list.\"}]}");
    llmopt_features_build(&spec, &req, &ctx, a);

    (void) test_request(&req, "{\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Write a Python function to reverse words in a string.\"}]}");
    llmopt_features_build(&spec, &req, &ctx, b);

    (void) test_request(&req, "{\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Sarah gave Mary the book because _ was done. A) Sarah B) Mary "
        "Print only a single choice.\"}]}");
    llmopt_features_build(&spec, &req, &ctx, c);

    norm = ab = ac = 0;

    for (i = 0; i < 16; i++) {
        norm += a[i] * a[i];
        ab += a[i] * b[i];
        ac += a[i] * c[i];
        ok(a[i] >= 0, "word bucket %u non-negative", i);
    }

    is_num(norm, 1, 1e-12, "words are L2-normalised");
    ok(ab > ac, "two coding prompts are closer (%.3f) than coding and "
       "fill-in-the-blank (%.3f)", ab, ac);
}


static void
test_json(void)
{
    char                   buf[512], small[16];
    size_t                 n;
    double                 x[LLMOPT_FEATURE_MAX_DIM];
    llmopt_err_t           err;
    llmopt_feature_spec_t  spec;

    memset(&spec, 0, sizeof(spec));
    spec.ids[spec.n++] = LLMOPT_FEAT_BIAS;
    spec.ids[spec.n++] = LLMOPT_FEAT_HOUR;
    spec.ids[spec.n++] = LLMOPT_FEAT_STREAM;
    spec.ids[spec.n++] = LLMOPT_FEAT_TENANT;
    spec.tenant_buckets = 2;
    (void) llmopt_feature_spec_finish(&spec, &err);

    x[0] = 1;
    x[1] = 0.5;
    x[2] = -0.25;
    x[3] = 0;
    x[4] = 0;
    x[5] = 1;

    n = llmopt_features_json(&spec, x, buf, sizeof(buf));
    is_str(buf, "{\"bias\":1,\"hour\":[0.5,-0.25],\"stream\":0,"
           "\"tenant\":[0,1]}", "features JSON");
    is_int(n, strlen(buf), "returned length");
    is_int(llmopt_features_json(&spec, x, NULL, 0), n, "size query");

    is_int(llmopt_features_json(&spec, x, small, sizeof(small)), n,
           "truncated: still the full length");
    is_str(small, "{\"bias\":1,\"hour", "truncated and NUL-terminated");
}


static void
test_hash(void)
{
    uint64_t  h1, h2;

    h1 = llmopt_hash64("hello world", 11, 0);
    h2 = llmopt_hash64("hello world", 11, 0);
    is_int(h1 == h2, 1, "hash is deterministic");
    ok(llmopt_hash64("hello world", 11, 1) != h1, "seed changes the hash");
    ok(llmopt_hash64("hello worle", 11, 0) != h1, "a byte changes the hash");
    ok(llmopt_hash64("", 0, 0) != llmopt_hash64("\0", 1, 0),
       "length enters the hash");
    ok(llmopt_hash64("abcdefgh12345678", 16, 0)
       != llmopt_hash64("12345678abcdefgh", 16, 0), "word order matters");
}


static void
test_names(void)
{
    int                    map[LLMOPT_FEATURE_MAX_DIM];
    char                   buf[256];
    size_t                 n;
    unsigned               missing;
    llmopt_err_t           err;
    llmopt_feature_spec_t  a, b;

    memset(&a, 0, sizeof(a));
    a.ids[0] = LLMOPT_FEAT_BIAS;
    a.ids[1] = LLMOPT_FEAT_HOUR;
    a.ids[2] = LLMOPT_FEAT_TENANT;
    a.ids[3] = LLMOPT_FEAT_HAS_CODE;
    a.n = 4;
    a.tenant_buckets = 3;
    is_int(llmopt_feature_spec_finish(&a, &err), LLMOPT_OK, "names: spec");

    n = llmopt_features_names(&a, buf, sizeof(buf));
    is_str(buf, "bias,hour,tenant:3,has_code", "names: written");
    is_int(n, strlen(buf), "names: length");

    is_int(llmopt_features_parse(&b, buf, n, &err), LLMOPT_OK,
           "names: read back");
    is_int(b.n, 4, "names: four features");
    is_int(b.d, a.d, "names: the same dimension");
    is_int(b.tenant_buckets, 3, "names: the tenant's buckets");

    /* b = has_code, tenant:3, bias: a's dimensions, reordered */

    is_int(llmopt_features_parse(&b, "has_code,tenant:3,bias", 22, &err),
           LLMOPT_OK, "names: a subset");
    missing = llmopt_features_map(&a, &b, map);
    is_int(missing, 0, "map: nothing missing");
    is_int(map[0], 6, "map: has_code is a's 7th");
    is_int(map[1], 3, "map: tenant's first bucket");
    is_int(map[3], 5, "map: tenant's last bucket");
    is_int(map[4], 0, "map: bias");

    is_int(llmopt_features_parse(&b, "tenant:4,stream", 15, &err),
           LLMOPT_OK, "names: other buckets");
    missing = llmopt_features_map(&a, &b, map);
    is_int(missing, 5, "map: 4 buckets of another count, stream absent");
    is_int(map[0], -1, "map: -1 for each");

    is_int(llmopt_features_parse(&b, "bias,colour", 11, &err), LLMOPT_ERROR,
           "parse: an unknown feature");
    is_str(err.msg, "unknown feature \"colour\"", "... named");
    is_int(llmopt_features_parse(&b, "bias:2", 6, &err), LLMOPT_ERROR,
           "parse: buckets of a feature that has none");
    is_int(llmopt_features_parse(&b, "words:x", 7, &err), LLMOPT_ERROR,
           "parse: buckets not a number");
    is_int(llmopt_features_parse(&b, "bias,bias", 9, &err), LLMOPT_ERROR,
           "parse: a feature twice");
    is_int(llmopt_features_parse(&b, "", 0, &err), LLMOPT_OK,
           "parse: no feature");
    is_int(b.d, 0, "... d 0");
}
