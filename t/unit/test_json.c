/*
 * Copyright (C) llmopt authors
 *
 * The strict JSON tokenizer: errors with offsets, the token count protocol,
 * nesting, escapes, and token-for-token equality with jsmn; the quoter and
 * the number grammar.
 */

#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "llmopt_json.h"
#include "tap.h"


#define TEST_TOKS  4096


typedef struct {
    const char  *json;
    size_t       offset;
    const char  *msg;
} test_bad_t;


static int test_parse(const char *json, unsigned max_depth, unsigned *count,
    llmopt_err_t *err);
static int test_same_as_jsmn(const char *json);
static void test_valid(void);
static void test_invalid(void);
static void test_again(void);
static void test_depth(void);
static void test_strings(void);
static void test_helpers(void);
static void test_run(void);
static void test_escapes(void);
static void test_quote(void);
static void test_number_len(void);
static int test_escape_case(size_t pad, const char *esc, size_t gap,
    const char *esc2, int want, size_t want_offset);


static llmopt_json_tok_t  test_toks[TEST_TOKS];
static jsmntok_t          test_jsmn[TEST_TOKS];


int
main(void)
{
    test_valid();
    test_invalid();
    test_again();
    test_depth();
    test_strings();
    test_helpers();
    test_run();
    test_escapes();
    test_quote();
    test_number_len();

    return tap_done();
}


static int
test_parse(const char *json, unsigned max_depth, unsigned *count,
    llmopt_err_t *err)
{
    memset(err, 0, sizeof(llmopt_err_t));

    return llmopt_json_parse((const unsigned char *) json, strlen(json),
                             test_toks, TEST_TOKS, max_depth, count, err);
}


/* 1 when our tokens are jsmn's, field for field */

static int
test_same_as_jsmn(const char *json)
{
    int           r;
    unsigned      i, count;
    jsmn_parser   parser;
    llmopt_err_t  err;

    if (test_parse(json, 0, &count, &err) != LLMOPT_OK) {
        printf("# ours failed: %s\n", err.msg);
        return 0;
    }

    jsmn_init(&parser);
    r = jsmn_parse(&parser, json, strlen(json), test_jsmn, TEST_TOKS);

    if (r < 0 || (unsigned) r != count) {
        printf("# jsmn %d tokens, ours %u\n", r, count);
        return 0;
    }

    for (i = 0; i < count; i++) {
        if (test_toks[i].type != test_jsmn[i].type
            || test_toks[i].start != test_jsmn[i].start
            || test_toks[i].end != test_jsmn[i].end
            || test_toks[i].size != test_jsmn[i].size
            || test_toks[i].parent != test_jsmn[i].parent)
        {
            printf("# token %u differs: type %d/%d start %d/%d end %d/%d "
                   "size %d/%d parent %d/%d\n", i, test_toks[i].type,
                   test_jsmn[i].type, test_toks[i].start, test_jsmn[i].start,
                   test_toks[i].end, test_jsmn[i].end, test_toks[i].size,
                   test_jsmn[i].size, test_toks[i].parent,
                   test_jsmn[i].parent);
            return 0;
        }
    }

    return 1;
}


static void
test_valid(void)
{
    unsigned      i, count;
    llmopt_err_t  err;

    static const char  *docs[] = {
        "{}",
        " \t\r\n{ } \n",
        "{\"a\":1}",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\u00e9\\ud83d\\ude00\"}",
        "{\"a\":{\"b\":{\"c\":[[],{},[true,false,null]]}},\"d\":-0.5e+10}",
        "{\"k\" : [ 1 , \"two\" , { \"three\" : 3 } ] , \"e\" : \"\" }",
        "{\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"n\":0,\"m\":-0,\"f\":1E-2}",
        "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"a\":1,\"a\":2,\"a\":{\"a\":[\"a\"]}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"hi\"}]}],\"model\":\"gpt-4o\",\"stream\":true}"
    };

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        ok(test_same_as_jsmn(docs[i]), "tokens equal jsmn's: %s", docs[i]);
    }

    is_int(test_parse(docs[3], 0, &count, &err), LLMOPT_OK, "nested doc");
    is_int(count, 10, "nested doc has 10 tokens");
    is_int(test_toks[0].size, 2, "root has 2 members");
    is_int(test_toks[2].type, JSMN_ARRAY, "value of a is an array");
    is_int(test_toks[2].parent, 1, "value's parent is its key");
    is_int(test_toks[1].size, 1, "a key has size 1");

    is_int(test_parse(docs[1], 0, &count, &err), LLMOPT_OK, "empty object");
    is_int(count, 1, "empty object is one token");
    is_int(test_toks[0].start, 4, "object starts at its brace");
    is_int(test_toks[0].end, 7, "object ends after its brace");
}


static void
test_invalid(void)
{
    unsigned      i, count;
    llmopt_err_t  err;

    static const test_bad_t  bad[] = {
        { "", 0, "Invalid JSON at byte 0: empty body" },
        { "  ", 2, "Invalid JSON at byte 2: empty body" },
        { "[1]", 0,
          "Invalid JSON at byte 0: the request body must be a JSON object" },
        { "\"s\"", 0,
          "Invalid JSON at byte 0: the request body must be a JSON object" },
        { "x", 0, "Invalid JSON at byte 0: expected '{', got 'x'" },
        { "{\"a\":1,}", 6, "Invalid JSON at byte 6: trailing comma" },
        { "{\"a\":[1,]}", 7, "Invalid JSON at byte 7: trailing comma" },
        { "{\"a\"}", 4,
          "Invalid JSON at byte 4: expected ':' after an object key, "
          "got '}'" },
        { "{\"a\" 1}", 5,
          "Invalid JSON at byte 5: expected ':' after an object key, "
          "got '1'" },
        { "{\"a\":01}", 5, "Invalid JSON at byte 5: invalid number" },
        { "{\"a\":1.}", 5, "Invalid JSON at byte 5: invalid number" },
        { "{\"a\":-}", 5, "Invalid JSON at byte 5: invalid number" },
        { "{\"a\":1e}", 5, "Invalid JSON at byte 5: invalid number" },
        { "{\"a\":.5}", 5,
          "Invalid JSON at byte 5: expected a value, got '.'" },
        { "{\"a\":tru}", 5,
          "Invalid JSON at byte 5: invalid literal (expected true, false "
          "or null)" },
        { "{\"a\":nullx}", 5,
          "Invalid JSON at byte 5: invalid literal (expected true, false "
          "or null)" },
        { "{\"a\":\"\\x\"}", 6,
          "Invalid JSON at byte 6: invalid escape in string" },
        { "{\"a\":\"\\u12g4\"}", 6,
          "Invalid JSON at byte 6: invalid \\u escape in string" },
        { "{\"a\":\"\\ud800\"}", 6,
          "Invalid JSON at byte 6: unpaired UTF-16 surrogate in \\u escape" },
        { "{\"a\":\"\\udc00\"}", 6,
          "Invalid JSON at byte 6: unpaired UTF-16 surrogate in \\u escape" },
        { "{\"a\":\"x\ty\"}", 7,
          "Invalid JSON at byte 7: control character in string "
          "(must be escaped)" },
        { "{\"a\":\"\xff\"}", 6, "Invalid JSON at byte 6: invalid UTF-8" },
        { "{\"a\":\"\xc3\"}", 6, "Invalid JSON at byte 6: invalid UTF-8" },
        { "{\"a\":\"\xed\xa0\x80\"}", 6,
          "Invalid JSON at byte 6: invalid UTF-8" },
        { "{\"a\":1} x", 8,
          "Invalid JSON at byte 8: unexpected data after the root object" },
        { "{\"a\":1}{}", 7,
          "Invalid JSON at byte 7: unexpected data after the root object" },
        { "{\"a\":1", 6, "Invalid JSON at byte 6: unexpected end of input" },
        { "{\"a\":\"abc", 9, "Invalid JSON at byte 9: unterminated string" },
        { "{\"a\":[1 2]}", 8,
          "Invalid JSON at byte 8: expected ',' or ']', got '2'" },
        { "{\"a\":1 \"b\":2}", 7,
          "Invalid JSON at byte 7: expected ',' or '}', got '\"'" },
        { "{,}", 1, "Invalid JSON at byte 1: expected a string key, got ','" },
        { "{1:2}", 1,
          "Invalid JSON at byte 1: expected a string key, got '1'" },
        { "{\"a\":1,,\"b\":2}", 7,
          "Invalid JSON at byte 7: expected a string key, got ','" },
        { "{\"a\":[,1]}", 6,
          "Invalid JSON at byte 6: expected a value, got ','" },
        { "{\"a\":}", 5, "Invalid JSON at byte 5: expected a value, got '}'" },
        { "{\"a\":[}", 6, "Invalid JSON at byte 6: expected a value, got '}'" }
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(test_parse(bad[i].json, 0, &count, &err), LLMOPT_ERROR,
               "rejected: %s", bad[i].json);
        is_int(err.offset, bad[i].offset, "offset of error in %s",
               bad[i].json);
        is_str(err.msg, bad[i].msg, "message for %s", bad[i].json);
    }

    is_int(err.status, 400, "status 400");
    is_str(err.type, "invalid_request_error", "error type");

    /* a NUL byte is never whitespace */

    memset(&err, 0, sizeof(err));
    is_int(llmopt_json_parse((const unsigned char *) "{}\0", 3, test_toks,
                             TEST_TOKS, 0, &count, &err),
           LLMOPT_ERROR, "NUL after the root is an error");
    is_str(err.msg, "Invalid JSON at byte 2: unexpected data after the root "
           "object", "NUL reported");
}


static void
test_again(void)
{
    int           rc;
    unsigned      count;
    llmopt_err_t  err;
    const char   *json;

    json = "{\"a\":[1,2,3],\"b\":{\"c\":\"d\"}}";

    memset(&err, 0, sizeof(err));
    rc = llmopt_json_parse((const unsigned char *) json, strlen(json),
                           test_toks, 3, 0, &count, &err);
    is_int(rc, LLMOPT_AGAIN, "too few tokens: AGAIN");
    is_int(count, 10, "exact count reported");

    rc = llmopt_json_parse((const unsigned char *) json, strlen(json),
                           NULL, 0, 0, &count, &err);
    is_int(rc, LLMOPT_AGAIN, "NULL tokens: AGAIN");
    is_int(count, 10, "NULL tokens: exact count");

    rc = llmopt_json_parse((const unsigned char *) json, strlen(json),
                           test_toks, 10, 0, &count, &err);
    is_int(rc, LLMOPT_OK, "exactly enough tokens: OK");
    is_int(count, 10, "all used");
    is_int(test_toks[9].type, JSMN_STRING, "last token written");

    /* an invalid body is an error even when tokens are short */

    json = "{\"a\":[1,2,3],\"b\":{\"c\":\"d\",}}";
    rc = llmopt_json_parse((const unsigned char *) json, strlen(json),
                           test_toks, 2, 0, &count, &err);
    is_int(rc, LLMOPT_ERROR, "invalid and short: ERROR, not AGAIN");
}


static void
test_depth(void)
{
    int           rc;
    char          json[4200];
    unsigned      i, count;
    llmopt_err_t  err;

    rc = test_parse("{\"a\":[[[1]]]}", 4, &count, &err);
    is_int(rc, LLMOPT_OK, "depth 4 with max 4");

    rc = test_parse("{\"a\":[[[[1]]]]}", 4, &count, &err);
    is_int(rc, LLMOPT_ERROR, "depth 5 with max 4");
    is_str(err.msg, "Invalid JSON at byte 8: nesting deeper than 4 levels",
           "depth message");
    is_int(err.offset, 8, "depth offset is the bracket");

    rc = test_parse("{\"a\":{\"b\":{}}}", 2, &count, &err);
    is_int(rc, LLMOPT_ERROR, "objects count as levels");

    /* max_depth 0 means the hard limit */

    json[0] = '{';
    json[1] = '"';
    json[2] = 'a';
    json[3] = '"';
    json[4] = ':';

    for (i = 0; i < 1100; i++) {
        json[5 + i] = '[';
        json[5 + 1100 + i] = ']';
    }

    json[5 + 2200] = '}';
    json[5 + 2201] = '\0';

    rc = test_parse(json, 0, &count, &err);
    is_int(rc, LLMOPT_ERROR, "1101 levels exceed the hard limit");

    json[5 + LLMOPT_JSON_MAX_DEPTH - 1] = '1';

    for (i = LLMOPT_JSON_MAX_DEPTH; i < 1100; i++) {
        json[5 + i] = ' ';
        json[5 + 1100 + 1100 - 1 - (i - LLMOPT_JSON_MAX_DEPTH)] = ' ';
    }

    json[5 + 1100] = ' ';
    rc = test_parse(json, 0, &count, &err);
    is_int(rc, LLMOPT_OK, "exactly the hard limit of levels");
}


static void
test_strings(void)
{
    unsigned      count;
    llmopt_err_t  err;
    const char   *json;

    json = "{\"m\\u006fdel\":\"caf\\u00e9\",\"e\":\"\\ud83d\\ude00!\","
           "\"q\":\"a\\\"b\\n\",\"p\":\"plain\"}";

    is_int(test_parse(json, 0, &count, &err), LLMOPT_OK, "escapes parse");
    ok(llmopt_json_str_eq((const unsigned char *) json, &test_toks[1],
                          "model", 5), "escaped key equals model");
    ok(!llmopt_json_str_eq((const unsigned char *) json, &test_toks[1],
                           "mode", 4), "escaped key is not mode");
    ok(llmopt_json_str_eq((const unsigned char *) json, &test_toks[2],
                          "caf\xc3\xa9", 5), "\\u00e9 is 2-byte UTF-8");
    ok(llmopt_json_str_eq((const unsigned char *) json, &test_toks[4],
                          "\xf0\x9f\x98\x80!", 5), "surrogate pair decodes");
    ok(llmopt_json_str_eq((const unsigned char *) json, &test_toks[6],
                          "a\"b\n", 4), "simple escapes decode");
    ok(llmopt_json_str_eq((const unsigned char *) json, &test_toks[8],
                          "plain", 5), "plain string");
    ok(!llmopt_json_str_eq((const unsigned char *) json, &test_toks[8],
                           "plainer", 7), "longer is not equal");
}


static void
test_helpers(void)
{
    int64_t               v;
    size_t                start, end;
    unsigned              count, next;
    llmopt_err_t          err;
    const char           *json;
    const unsigned char  *b;

    json = "{\"a\":{\"x\":[1,2]},\"b\":-42,\"c\":1.5,\"d\":null,\"e\":true,"
           "\"b\":7,\"s\":\"str\",\"big\":1234567890123456789}";
    b = (const unsigned char *) json;

    is_int(test_parse(json, 0, &count, &err), LLMOPT_OK, "helpers doc");

    next = llmopt_json_skip(test_toks, count, 2);
    is_int(next, 7, "skip jumps over an object");
    is_int(llmopt_json_skip(test_toks, count, 8), 9, "skip over a scalar");

    is_int(llmopt_json_member(b, test_toks, count, 0, "b", 1), 16,
           "member: the last of repeated keys");
    is_int(llmopt_json_member(b, test_toks, count, 0, "x", 1), -1,
           "member: nested keys are not root members");
    is_int(llmopt_json_member(b, test_toks, count, 2, "x", 1), 4,
           "member of a nested object");

    is_int(llmopt_json_kind(b, &test_toks[2]), LLMOPT_JSON_OBJECT, "object");
    is_int(llmopt_json_kind(b, &test_toks[4]), LLMOPT_JSON_ARRAY, "array");
    is_int(llmopt_json_kind(b, &test_toks[8]), LLMOPT_JSON_NUMBER, "number");
    is_int(llmopt_json_kind(b, &test_toks[12]), LLMOPT_JSON_NULL, "null");
    is_int(llmopt_json_kind(b, &test_toks[14]), LLMOPT_JSON_BOOLEAN, "bool");
    is_int(llmopt_json_kind(b, &test_toks[18]), LLMOPT_JSON_STRING, "string");
    is_str(llmopt_json_kind_name(LLMOPT_JSON_ARRAY), "an array", "kind name");

    ok(llmopt_json_int(b, &test_toks[8], &v) == LLMOPT_OK && v == -42,
       "int -42");
    is_int(llmopt_json_int(b, &test_toks[10], &v), LLMOPT_DECLINED,
           "1.5 is not an int");
    is_int(llmopt_json_int(b, &test_toks[18], &v), LLMOPT_DECLINED,
           "a string is not an int");
    is_int(llmopt_json_int(b, &test_toks[20], &v), LLMOPT_DECLINED,
           "19 digits decline");

    llmopt_json_value_span(&test_toks[18], &start, &end);
    is_int(end - start, 5, "string span includes quotes");
    ok(memcmp(json + start, "\"str\"", 5) == 0, "string span text");
}


/*
 * llmopt_json_run against the plain definition: every byte value at every
 * offset of a 40-byte run (so the wide steps, the narrow ones and the byte
 * loop each meet it), in both modes, and runs cut short by n.
 */

static void
test_run(void)
{
    size_t          at, n, got, want, bad;
    unsigned        v, ascii;
    unsigned char   buf[40];

    bad = 0;

    for (ascii = 0; ascii < 2; ascii++) {
        for (v = 0; v < 256; v++) {
            for (at = 0; at < sizeof(buf); at++) {
                memset(buf, 'a', sizeof(buf));
                buf[at] = (unsigned char) v;

                want = (v == '"' || v == '\\' || v < 0x20
                        || (ascii && v >= 0x80))
                       ? at : sizeof(buf);

                got = llmopt_json_run(buf, sizeof(buf), (int) ascii);

                if (got != want) {
                    bad++;
                }

                for (n = 0; n <= at; n++) {
                    if (llmopt_json_run(buf, n, (int) ascii)
                        != (want < n ? want : n))
                    {
                        bad++;
                    }
                }
            }
        }
    }

    is_int(bad, 0, "llmopt_json_run: every byte at every offset, both "
                   "modes, every length");

    /* a flagged byte after a high one: ASCII mode stops at the first */

    memcpy(buf, "abc\xc3\xa9" "defghijklmnopqrstuvwxyz\"0123", 33);
    is_int(llmopt_json_run(buf, 33, 1), 3, "ascii run stops at UTF-8");
    is_int(llmopt_json_run(buf, 33, 0), 28, "byte run passes UTF-8");
}


/*
 * Escapes at every offset of the 16-byte steps of the string scan, alone
 * and two at a time with 0 to 2 bytes between them: the one-character
 * escapes the step skips in place, and those it leaves to the byte loop
 * (\u, invalid ones, a backslash at the end), against what each must
 * give: the string's end, or the error and its offset.
 */

static void
test_escapes(void)
{
    char          buf[64];
    size_t        pad, gap, i, j, bad;
    unsigned      count;
    llmopt_err_t  err;
    const char  *simple[] = { "\\n", "\\\"", "\\\\", "\\/", "\\b",
                              "\\f", "\\r", "\\t" };
    const char  *other[] = { "\\u0041", "\\ud83d\\ude00", "\xc3\xa9",
                             "\xe2\x82\xac" };
    const char  *wrong[] = { "\\x", "\\u12g4", "\\ud83d", "\\ude00",
                             "\x01", "\xff", "\xc3(" };

    bad = 0;

    for (pad = 0; pad < 36; pad++) {
        for (gap = 0; gap < 3; gap++) {
            for (i = 0; i < 8; i++) {
                for (j = 0; j < 8; j++) {
                    bad += !test_escape_case(pad, simple[i], gap,
                                             simple[j], LLMOPT_OK, 0);
                }

                for (j = 0; j < 4; j++) {
                    bad += !test_escape_case(pad, simple[i], gap,
                                             other[j], LLMOPT_OK, 0);
                    bad += !test_escape_case(pad, other[j], gap,
                                             simple[i], LLMOPT_OK, 0);
                }

                for (j = 0; j < 7; j++) {
                    bad += !test_escape_case(pad, simple[i], gap,
                                             wrong[j], LLMOPT_ERROR,
                                             6 + pad + strlen(simple[i])
                                             + gap);
                }
            }
        }
    }

    is_int(bad, 0, "escapes at every offset of a step: ends and errors as "
                   "expected");

    /* a backslash as the last byte, at every offset */

    bad = 0;

    for (pad = 0; pad < 36; pad++) {
        memcpy(buf, "{\"k\":\"", 6);
        memset(buf + 6, 'a', pad);
        buf[6 + pad] = '\\';

        memset(&err, 0, sizeof(llmopt_err_t));

        if (llmopt_json_parse((const unsigned char *) buf, pad + 7, test_toks,
                              TEST_TOKS, 0, &count, &err)
            != LLMOPT_ERROR || err.offset != pad + 7)
        {
            bad++;
        }
    }

    is_int(bad, 0, "a backslash that ends the input: unterminated string");
}


/*
 * llmopt_json_quote(): every ASCII byte, quoted, is a JSON string that
 * decodes to the byte again; the count equals what is written.
 */

static void
test_quote(void)
{
    int            rc;
    char           in[128];
    size_t         n, size, i, bad;
    unsigned       count;
    llmopt_err_t   err;
    unsigned char  out[3 * 128 * 6];

    for (i = 0; i < 128; i++) {
        in[i] = (char) i;
    }

    memcpy(out, "{\"", 2);
    size = llmopt_json_quote(NULL, in, 128);
    n = llmopt_json_quote(out + 1, in, 128);
    is_int(n, size, "quote: the count is what is written");
    memcpy(out + 1 + n, ":1}", 3);

    rc = llmopt_json_parse(out, n + 4, test_toks, TEST_TOKS, 0, &count,
                           &err);
    ok(rc == LLMOPT_OK && llmopt_json_str_eq(out, &test_toks[1], in, 128),
       "quote: all 128 ASCII bytes as a key: valid JSON, decodes back");

    bad = 0;

    for (i = 0; i < 128; i++) {
        n = llmopt_json_quote(out, &in[i], 1);

        if (out[0] != '"' || out[n - 1] != '"'
            || (n == 3) != (i >= 0x20 && i < 0x7f && i != '"' && i != '\\'))
        {
            bad++;
        }
    }

    is_int(bad, 0, "quote: only '\"', '\\\\' and controls are escaped");

    n = llmopt_json_quote(out, "\"\\\n\r\t\001\177", 7);
    out[n] = '\0';
    is_str((char *) out, "\"\\\"\\\\\\n\\r\\t\\u0001\\u007f\"",
           "quote: the short escapes where JSON has them");
}


/*
 * {"k":"<pad a's><esc><gap b's><esc2><8 c's>"}: want LLMOPT_OK with
 * the string token ending before the closing quote, or LLMOPT_ERROR at
 * want_offset.
 */

static int
test_escape_case(size_t pad, const char *esc, size_t gap, const char *esc2,
    int want, size_t want_offset)
{
    int           rc;
    char          buf[128];
    size_t        len;
    unsigned      count;
    llmopt_err_t  err;

    len = 0;
    memcpy(buf, "{\"k\":\"", 6);
    len += 6;
    memset(buf + len, 'a', pad);
    len += pad;
    memcpy(buf + len, esc, strlen(esc));
    len += strlen(esc);
    memset(buf + len, 'b', gap);
    len += gap;
    memcpy(buf + len, esc2, strlen(esc2));
    len += strlen(esc2);
    memset(buf + len, 'c', 8);
    len += 8;
    memcpy(buf + len, "\"}", 2);
    len += 2;

    memset(&err, 0, sizeof(llmopt_err_t));

    rc = llmopt_json_parse((const unsigned char *) buf, len, test_toks,
                           TEST_TOKS, 0, &count, &err);

    if (rc != want) {
        printf("# \"%.*s\": %d, want %d (%s)\n", (int) len, buf, rc, want,
               err.msg);
        return 0;
    }

    if (want == LLMOPT_OK) {
        if (count != 3 || test_toks[2].start != 6
            || (size_t) test_toks[2].end != len - 2)
        {
            printf("# \"%.*s\": string %d..%d\n", (int) len, buf,
                   test_toks[2].start, test_toks[2].end);
            return 0;
        }

        return 1;
    }

    if (err.offset != want_offset) {
        printf("# \"%.*s\": error at %zu, want %zu (%s)\n", (int) len, buf,
               err.offset, want_offset, err.msg);
        return 0;
    }

    return 1;
}


/* The number grammar: the longest JSON number a string starts with. */

static void
test_number_len(void)
{
    size_t  i;

    static const struct {
        const char  *s;
        size_t       len;
    } cases[] = {
        { "0", 1 }, { "-0", 2 }, { "7", 1 }, { "123", 3 }, { "-45", 3 },
        { "0.5", 3 }, { "1.25e3", 6 }, { "1E+2", 4 }, { "2e-07", 5 },
        { "01", 1 }, { "1x", 1 }, { "3,", 1 }, { "1.5.2", 3 },
        { "", 0 }, { "-", 0 }, { "+1", 0 }, { ".5", 0 }, { "1.", 0 },
        { "1.e3", 0 }, { "1e", 0 }, { "1e+", 0 }, { "-a", 0 }, { "e3", 0 },
        { "Infinity", 0 }, { "NaN", 0 }, { "0x1f", 1 }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(llmopt_json_number_len((const unsigned char *) cases[i].s,
                                      strlen(cases[i].s)),
               cases[i].len, "number_len(\"%s\")", cases[i].s);
    }

    /* the length bounds the read: "12" seen as "1" */

    is_int(llmopt_json_number_len((const unsigned char *) "12", 1), 1,
           "number_len: reads no byte past len");
    is_int(llmopt_json_number_len((const unsigned char *) "1.5", 2), 0,
           "number_len: a fraction cut by len is no number");
}
