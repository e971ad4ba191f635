/*
 * Copyright (C) llmopt authors
 *
 * Rewriting root members: every byte that is not a rewritten value stays.
 * Runs over the test prompts of t/data/prompts (RouterBench's layout, see
 * t/data/README.md), read at test time (the tests run from the repository
 * root).
 */

#include <stdlib.h>
#include <string.h>

#include "llmopt_rewrite.h"
#include "tap.h"


#define TEST_DATA       "t/data/prompts"
#define TEST_PER_FILE   80
#define TEST_TOKS       8192
#define TEST_BODY       (256 * 1024)


typedef struct {
    char    *data;
    size_t   len;
} test_buf_t;


static void test_small(void);
static void test_case(const char *body, const llmopt_kv_t *set, unsigned n,
    const char *want, const char *name);
static unsigned test_prompts(const char *file, unsigned first);
static void test_prompt(const char *prompt, size_t len, unsigned k);
static char *test_read(const char *path, size_t *len);
static size_t test_csv_field(const char *p, const char *end, char *out,
    size_t *out_len, int *last);
static void test_put(test_buf_t *b, const char *s, size_t len);
static void test_puts(test_buf_t *b, const char *s);
static void test_both(test_buf_t *body, test_buf_t *want, const char *s);
static void test_escape(test_buf_t *b, const char *s, size_t len);


static llmopt_json_tok_t  test_toks[TEST_TOKS];
static char               test_body[TEST_BODY];
static char               test_want[TEST_BODY];
static unsigned char      test_out[TEST_BODY];


static const llmopt_kv_t  test_set[3] = {
    { { 5, "model" }, { 13, "\"gpt-4o-mini\"" } },
    { { 11, "temperature" }, { 3, "0.2" } },
    { { 10, "max_tokens" }, { 3, "512" } }
};


int
main(void)
{
    unsigned  n;

    test_small();

    n = test_prompts(TEST_DATA "/mbpp_test.csv", 0);
    n += test_prompts(TEST_DATA "/arc_challenge_test.csv", n);
    n += test_prompts(TEST_DATA "/winograde_test.csv", n);

    ok(n >= 200, "%u test prompts rewritten", n);

    return tap_done();
}


static void
test_small(void)
{
    llmopt_kv_t  set[4];

    set[0] = test_set[0];
    set[1] = test_set[1];

    test_case("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
              set, 0, "{\"messages\":[{\"role\":\"user\",\"content\":"
              "\"hi\"}]}", "n = 0 copies");

    test_case("{\"model\" : \"a\" ,\"messages\":[{\"role\":\"user\","
              "\"content\":\"hi\"}], \"temperature\":1 }\n",
              set, 2, "{\"model\" : \"gpt-4o-mini\" ,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"hi\"}], \"temperature\":0.2 }\n",
              "replace in place, spaces kept");

    test_case("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]  }",
              set, 2, "{\"messages\":[{\"role\":\"user\",\"content\":"
              "\"hi\"}]  ,\"model\":\"gpt-4o-mini\",\"temperature\":0.2}",
              "append before the closing brace");

    test_case("{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":"
              "\"x\"}],\"model\":\"bb\"}",
              set, 1, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":"
              "\"user\",\"content\":\"x\"}],\"model\":\"gpt-4o-mini\"}",
              "every duplicate replaced");

    set[3].key.data = "metadata";
    set[3].key.len = 8;
    set[3].json.data = "1";
    set[3].json.len = 1;

    test_case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
              "\"metadata\":[1,{\"a\":[]}] , \"z\":0}",
              set + 3, 1, "{\"messages\":[{\"role\":\"user\",\"content\":"
              "\"x\"}],\"metadata\":1 , \"z\":0}",
              "a container value is replaced whole");

    test_case("{ \t}", set, 1, "{ \t\"model\":\"gpt-4o-mini\"}",
              "empty root: no comma");

    test_case("{\"metadata\":{\"model\":\"keep\",\"temperature\":9},"
              "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
              set, 1, "{\"metadata\":{\"model\":\"keep\",\"temperature\":9},"
              "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
              "\"model\":\"gpt-4o-mini\"}", "nested keys untouched");

    test_case("{\"m\\u006fdel\":\"a\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"x\"}]}", set, 1,
              "{\"m\\u006fdel\":\"gpt-4o-mini\",\"messages\":[{\"role\":"
              "\"user\",\"content\":\"x\"}]}", "escaped key replaced");

    set[2] = test_set[0];
    set[2].json.data = "\"other\"";
    set[2].json.len = 7;

    test_case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
              set, 3, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
              "\"model\":\"gpt-4o-mini\",\"temperature\":0.2}",
              "a repeated set key is used once, the first");

    set[0].key.data = "stream_options";
    set[0].key.len = 14;
    set[0].json.data = "{\"include_usage\":true}";
    set[0].json.len = 22;

    test_case("{\"stream_options\":null,\"messages\":[{\"role\":\"user\","
              "\"content\":\"x\"}]}", set, 1,
              "{\"stream_options\":{\"include_usage\":true},\"messages\":"
              "[{\"role\":\"user\",\"content\":\"x\"}]}",
              "an object value replaces null");

    /* keys are written escaped: a catalog key cannot add members */

    set[0].key.data = "x\":0,\"model";
    set[0].key.len = 11;
    set[0].json.data = "1";
    set[0].json.len = 1;
    set[1].key.data = "a\\b\r\n\001\177";
    set[1].key.len = 7;
    set[1].json.data = "2";
    set[1].json.len = 1;

    test_case("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"x\"}]}", set, 2,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"x\"}],\"x\\\":0,\\\"model\":1,"
              "\"a\\\\b\\r\\n\\u0001\\u007f\":2}",
              "a key with a quote, a backslash, controls: escaped");

    test_case("{\"x\\\":0,\\\"model\":5,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"x\"}]}", set, 1,
              "{\"x\\\":0,\\\"model\":1,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"x\"}]}",
              "the body's escaped key of that name is replaced");
}


static void
test_case(const char *body, const llmopt_kv_t *set, unsigned n,
    const char *want, const char *name)
{
    int               rc;
    size_t            size, written;
    llmopt_err_t      err;
    llmopt_request_t  req;

    rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                              (const unsigned char *) body, strlen(body),
                              test_toks, TEST_TOKS, 32, &err);

    if (rc == LLMOPT_ERROR && strstr(body, "\"messages\"") == NULL) {

        /* rewriting needs the tokens only: a bare object will do */

        rc = llmopt_json_parse((const unsigned char *) body, strlen(body),
                               test_toks, TEST_TOKS, 32, &req.ntoks, &err);
        req.body = (const unsigned char *) body;
        req.len = strlen(body);
        req.toks = test_toks;
    }

    is_int(rc, LLMOPT_OK, "%s: parses", name);

    if (rc != LLMOPT_OK) {
        printf("# %s\n", err.msg);
        return;
    }

    size = llmopt_request_rewrite_size(&req, set, n);
    memset(test_out, 0xee, size + 16);
    written = llmopt_request_rewrite(&req, set, n, test_out);

    is_int(size, strlen(want), "%s: size", name);
    is_int(written, size, "%s: written = size", name);
    ok(test_out[written] == 0xee, "%s: nothing written past the end", name);
    test_out[written] = '\0';
    is_str((char *) test_out, want, "%s: output", name);
}


static unsigned
test_prompts(const char *file, unsigned first)
{
    int       last;
    char     *csv, *field;
    size_t    len, used, field_len;
    unsigned  n, col;
    const char  *p, *end;

    csv = test_read(file, &len);

    ok(csv != NULL, "read %s", file);

    if (csv == NULL) {
        return 0;
    }

    field = malloc(len + 1);
    if (field == NULL) {
        free(csv);
        return 0;
    }

    p = csv;
    end = csv + len;
    n = 0;
    col = 0;

    /* the header row */

    do {
        used = test_csv_field(p, end, field, &field_len, &last);
        p += used;
    } while (!last && p < end);

    while (p < end && n < TEST_PER_FILE) {
        used = test_csv_field(p, end, field, &field_len, &last);
        p += used;

        if (col == 2 && field_len != 0) {
            test_prompt(field, field_len, first + n);
            n++;
        }

        col = last ? 0 : col + 1;
    }

    free(field);
    free(csv);

    return n;
}


/*
 * Builds an OpenAI body around the prompt, varied by k (member order,
 * whitespace, members present, duplicates), and the expected rewrite of
 * it, side by side; then checks the rewrite against it.
 */

static void
test_prompt(const char *prompt, size_t len, unsigned k)
{
    int               rc, have[3];
    char              num[32];
    size_t            size, written;
    unsigned          i, m, order, nmembers;
    test_buf_t        body, want;
    llmopt_err_t      err;
    llmopt_span_t     span;
    llmopt_request_t  req;

    static const char  *ws[] = { "", " ", "\n  ", "\t", "\r\n" };
    static const char  *temps[] = { "0.7", "1", "0", "1e-1", "null" };
    static const char  *maxes[] = { "256", "null", "4096" };

    body.data = test_body;
    body.len = 0;
    want.data = test_want;
    want.len = 0;

    have[0] = (k % 7 != 0);
    have[1] = (k % 3 != 0);
    have[2] = (k % 4 != 0);

    nmembers = 9;
    order = k % nmembers;

    test_both(&body, &want, (k & 1) ? "  {" : "{");
    test_both(&body, &want, ws[k % 5]);

    for (i = 0; i < nmembers; i++) {
        m = (i + order) % nmembers;

        if (i != 0) {
            test_both(&body, &want, ws[(k / 5 + i) % 5]);
            test_both(&body, &want, ",");
            test_both(&body, &want, ws[(k + i) % 5]);
        }

        switch (m) {

        case 0:
            test_both(&body, &want, "\"messages\":");
            test_both(&body, &want, ws[(k + 1) % 5]);
            test_both(&body, &want, "[{\"role\":\"system\",\"content\":"
                      "\"You are a helpful assistant.\"},");
            test_both(&body, &want, ws[(k + 2) % 5]);
            test_both(&body, &want, "{\"role\":\"user\",\"content\":\"");
            test_escape(&body, prompt, len);
            test_escape(&want, prompt, len);
            test_both(&body, &want, "\"}]");
            break;

        case 1:
            test_both(&body, &want, "\"user\":\"u-");
            (void) snprintf(num, sizeof(num), "%u\"", k);
            test_both(&body, &want, num);
            break;

        case 2:
            if (have[0]) {
                test_both(&body, &want, "\"model\":");
                test_both(&body, &want, ws[(k + 3) % 5]);
                test_puts(&body, (k & 2) ? "\"gpt-4o\"" : "\"gpt-3.5-turbo\"");
                test_puts(&want, test_set[0].json.data);

            } else {
                test_both(&body, &want, "\"n\":1");
            }
            break;

        case 3:
            if (have[1]) {
                test_both(&body, &want, "\"temperature\" :");
                test_puts(&body, temps[k % 5]);
                test_puts(&want, test_set[1].json.data);

            } else {
                test_both(&body, &want, "\"seed\":-3");
            }
            break;

        case 4:
            if (have[2]) {
                test_both(&body, &want, "\"max_tokens\":");
                test_puts(&body, maxes[k % 3]);
                test_puts(&want, test_set[2].json.data);

            } else {
                test_both(&body, &want, "\"stop\":[\"\\n\\n\",\"END\"]");
            }
            break;

        case 5:
            test_both(&body, &want, (k & 4) ? "\"stream\":false"
                                            : "\"stream\":true");
            break;

        case 6:
            test_both(&body, &want, "\"metadata\":{\"model\":\"inner\","
                      "\"temperature\":9,\"max_tokens\":[1,{}]}");
            break;

        case 7:
            if (k % 6 == 0) {
                test_both(&body, &want, "\"tools\":[{\"type\":\"function\","
                          "\"function\":{\"name\":\"f\",\"parameters\":"
                          "{\"type\":\"object\",\"properties\":{}}}}]");

            } else {
                test_both(&body, &want, "\"top_p\":0.9");
            }
            break;

        default:
            if (have[0] && k % 11 == 0) {
                test_both(&body, &want, "\"model\":");
                test_puts(&body, "\"duplicate\"");
                test_puts(&want, test_set[0].json.data);

            } else {
                test_both(&body, &want, "\"logprobs\":false");
            }
            break;
        }
    }

    test_both(&body, &want, ws[(k / 3) % 5]);

    for (i = 0; i < 3; i++) {
        if (!have[i]) {
            test_puts(&want, ",\"");
            test_puts(&want, test_set[i].key.data);
            test_puts(&want, "\":");
            test_puts(&want, test_set[i].json.data);
        }
    }

    test_both(&body, &want, (k % 5 == 2) ? "}\n" : "}");

    rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                              (const unsigned char *) body.data, body.len,
                              test_toks, TEST_TOKS, 32, &err);
    if (!ok(rc == LLMOPT_OK, "prompt %u: body parses", k)) {
        printf("# %s\n", err.msg);
        return;
    }

    size = llmopt_request_rewrite_size(&req, test_set, 3);
    written = llmopt_request_rewrite(&req, test_set, 3, test_out);

    is_int(written, size, "prompt %u: written = size", k);
    ok(written == want.len && memcmp(test_out, want.data, want.len) == 0,
       "prompt %u: output is the input with only the 3 values changed", k);

    rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI, test_out, written,
                              test_toks, TEST_TOKS, 32, &err);

    ok(rc == LLMOPT_OK
       && req.model.end - req.model.start == 13
       && memcmp(test_out + req.model.start, "\"gpt-4o-mini\"", 13) == 0
       && req.max_tokens == 512
       && req.n_messages == 2
       && llmopt_request_member(&req, "temperature", 11, &span) == LLMOPT_OK
       && span.end - span.start == 3
       && memcmp(test_out + span.start, "0.2", 3) == 0,
       "prompt %u: output reparses with the new values", k);
}


static char *
test_read(const char *path, size_t *len)
{
    long   size;
    char  *data;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    data = malloc((size_t) size + 1);

    if (data == NULL || fread(data, 1, (size_t) size, f) != (size_t) size) {
        free(data);
        fclose(f);
        return NULL;
    }

    fclose(f);

    data[size] = '\0';
    *len = (size_t) size;

    return data;
}


/*
 * One CSV field at p: quoted ("" is a quote, newlines allowed) or bare.
 * Returns the bytes consumed including the separator; *last is 1 when the
 * field ended its record.
 */

static size_t
test_csv_field(const char *p, const char *end, char *out, size_t *out_len,
    int *last)
{
    const char  *start;
    size_t       n;

    start = p;
    n = 0;
    *last = 0;

    if (p < end && *p == '"') {
        p++;

        while (p < end) {
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    out[n++] = '"';
                    p += 2;
                    continue;
                }

                p++;
                break;
            }

            out[n++] = *p++;
        }

    } else {
        while (p < end && *p != ',' && *p != '\n' && *p != '\r') {
            out[n++] = *p++;
        }
    }

    if (p < end && *p == '\r') {
        p++;
    }

    if (p >= end || *p == '\n') {
        *last = 1;
    }

    if (p < end) {
        p++;
    }

    *out_len = n;

    return (size_t) (p - start);
}


static void
test_put(test_buf_t *b, const char *s, size_t len)
{
    if (b->len + len < TEST_BODY) {
        memcpy(b->data + b->len, s, len);
        b->len += len;
    }
}


static void
test_puts(test_buf_t *b, const char *s)
{
    test_put(b, s, strlen(s));
}


static void
test_both(test_buf_t *body, test_buf_t *want, const char *s)
{
    test_puts(body, s);
    test_puts(want, s);
}


static void
test_escape(test_buf_t *b, const char *s, size_t len)
{
    char           hex[8];
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':
            test_puts(b, "\\\"");
            break;
        case '\\':
            test_puts(b, "\\\\");
            break;
        case '\n':
            test_puts(b, "\\n");
            break;
        case '\t':
            test_puts(b, "\\t");
            break;
        default:
            if (c < 0x20) {
                (void) snprintf(hex, sizeof(hex), "\\u%04x", c);
                test_puts(b, hex);

            } else {
                test_put(b, (const char *) &c, 1);
            }
        }
    }
}
