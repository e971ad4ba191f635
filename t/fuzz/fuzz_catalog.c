/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the YAML catalog loader: any text loads or fails with a message,
 * never crashes or leaks (every allocation is freed after each input).  A
 * catalog that loads must keep its promises: no control character (nor
 * space, quote, backslash or non-ASCII byte) in a name, model id, upstream
 * or params key, header names that are tokens, header values without
 * control characters but tab (also the ${VAR} ones: FUZZ_* below hold
 * some), and each arm's body rewrite valid JSON with exactly the members
 * it set; and an error message that goes to the log holds no control
 * character either, whatever it quotes.  A broken promise aborts.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_catalog.h"
#include "llmopt_json.h"
#include "llmopt_request.h"
#include "llmopt_rewrite.h"


#define FUZZ_TOKS  4096


static void *fuzz_alloc(void *ctx, size_t size);
static void fuzz_message(const char *msg);
static void fuzz_check(const llmopt_catalog_t *cat);
static void fuzz_name(const llmopt_str_t *s, size_t max);
static void fuzz_upstream(const llmopt_str_t *s);
static void fuzz_header(const llmopt_header_t *h);
static void fuzz_rewrite(const llmopt_model_t *model,
    const llmopt_arm_t *arm);


static void              **blocks;
static size_t              n_blocks, cap_blocks;
static llmopt_json_tok_t   fuzz_toks[FUZZ_TOKS];
static unsigned char       fuzz_out[64 * 1024];


static const char  fuzz_body[] =
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
    "\"temperature\":1}";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 rc;
    llmopt_err_t        err;
    llmopt_catalog_t    cat;
    llmopt_alloc_t      alloc = { fuzz_alloc, NULL };

    memset(&err, 0, sizeof(err));
    setenv("FUZZ_KEY", "secret", 1);
    setenv("FUZZ_TAB", "a\tb", 1);
    setenv("FUZZ_NL", "sk-1\r\nX-Injected: 1", 1);
    setenv("FUZZ_ESC", "\033[2J", 1);
    setenv("FUZZ_DEL", "a\177", 1);
    setenv("FUZZ_UTF8", "caf\xc3\xa9 \xff", 1);

    rc = llmopt_catalog_load_string(&cat, "fuzz.yaml", (const char *) data,
                                    size, &alloc, &err);

    if (rc != LLMOPT_OK) {
        if (err.msg[0] == '\0') {
            abort();                    /* a failure must say why */
        }

        fuzz_message(err.msg);
    }

    if (rc == LLMOPT_OK) {
        fuzz_check(&cat);
    }

    while (n_blocks) {
        free(blocks[--n_blocks]);
    }

    return 0;
}


static void
fuzz_check(const llmopt_catalog_t *cat)
{
    unsigned                 i, j;
    const llmopt_arm_t      *arm;
    const llmopt_model_t    *m;
    const llmopt_policy_t   *p;

    for (i = 0; i < cat->n_models; i++) {
        m = &cat->models[i];

        fuzz_name(&m->name, LLMOPT_CATALOG_NAME_MAX);
        fuzz_name(&m->model, LLMOPT_CATALOG_ID_MAX);
        fuzz_upstream(&m->upstream);

        for (j = 0; j < m->n_headers; j++) {
            fuzz_header(&m->headers[j]);
        }
    }

    for (i = 0; i < cat->n_policies; i++) {
        p = &cat->policies[i];

        fuzz_name(&p->name, LLMOPT_CATALOG_NAME_MAX);

        for (j = 0; j < p->n_arms; j++) {
            arm = &p->arms[j];

            fuzz_name(&arm->name, LLMOPT_CATALOG_NAME_MAX);
            fuzz_rewrite(&cat->models[arm->model], arm);
        }
    }
}


/* printable ASCII without spaces, quotes or backslashes, NUL-terminated */

static void
fuzz_name(const llmopt_str_t *s, size_t max)
{
    size_t                 i;
    const unsigned char   *p;

    p = (const unsigned char *) s->data;

    if (s->len == 0 || s->len > max || p[s->len] != '\0') {
        abort();
    }

    for (i = 0; i < s->len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '"' || p[i] == '\\') {
            abort();
        }
    }
}


static void
fuzz_upstream(const llmopt_str_t *s)
{
    size_t       i;
    const char  *p;

    p = s->data;

    if (s->len == 0 || s->len > LLMOPT_CATALOG_ID_MAX || p[s->len] != '\0') {
        abort();
    }

    for (i = 0; i < s->len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '.'
              || p[i] == '_' || p[i] == ':'))
        {
            abort();
        }
    }
}


static void
fuzz_header(const llmopt_header_t *h)
{
    size_t                 i;
    const unsigned char   *p;

    p = (const unsigned char *) h->name.data;

    if (h->name.len == 0) {
        abort();
    }

    /* an RFC 9110 token */

    for (i = 0; i < h->name.len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f
            || memchr("\"(),/:;<=>?@[\\]{}", p[i], 17) != NULL)
        {
            abort();
        }
    }

    p = (const unsigned char *) h->value.data;

    if (p[h->value.len] != '\0') {
        abort();
    }

    for (i = 0; i < h->value.len; i++) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
            abort();
        }
    }
}


/*
 * The arm's rewrite of a body as the glue does it ("model", then the
 * params): valid JSON whose root has the body's members and the appended
 * ones, no more, and the arm's model id as "model".
 */

static void
fuzz_rewrite(const llmopt_model_t *model, const llmopt_arm_t *arm)
{
    int                j;
    size_t             size;
    unsigned           i, n, ntoks, appended;
    llmopt_kv_t        set[LLMOPT_REQUEST_MAX_SET];
    llmopt_err_t       err;
    llmopt_request_t   req;

    fuzz_name(&model->model, LLMOPT_CATALOG_ID_MAX);

    if (arm->n_params + 1 > LLMOPT_REQUEST_MAX_SET) {
        abort();
    }

    set[0].key.data = "model";
    set[0].key.len = 5;
    set[0].json = model->model_json;
    n = 1;
    appended = 0;

    for (i = 0; i < arm->n_params; i++) {
        fuzz_name(&arm->params[i].key, LLMOPT_CATALOG_NAME_MAX);

        if (strcmp(arm->params[i].key.data, "model") == 0) {
            abort();
        }

        set[n++] = arm->params[i];
        appended += strcmp(arm->params[i].key.data, "messages") != 0
                    && strcmp(arm->params[i].key.data, "temperature") != 0;
    }

    memset(&req, 0, sizeof(req));
    memset(&err, 0, sizeof(err));

    if (llmopt_json_parse((const unsigned char *) fuzz_body,
                          sizeof(fuzz_body) - 1, fuzz_toks, FUZZ_TOKS, 0,
                          &req.ntoks, &err)
        != LLMOPT_OK)
    {
        abort();
    }

    req.body = (const unsigned char *) fuzz_body;
    req.len = sizeof(fuzz_body) - 1;
    req.toks = fuzz_toks;

    size = llmopt_request_rewrite_size(&req, set, n);

    if (size > sizeof(fuzz_out)) {
        return;                     /* params this big are not the point */
    }

    if (llmopt_request_rewrite(&req, set, n, fuzz_out) != size) {
        abort();
    }

    if (llmopt_json_parse(fuzz_out, size, fuzz_toks, FUZZ_TOKS, 0, &ntoks,
                          &err)
        == LLMOPT_ERROR)
    {
        abort();                    /* AGAIN: too many tokens, fine */
    }

    if (ntoks > FUZZ_TOKS) {
        return;
    }

    if ((unsigned) fuzz_toks[0].size != 3 + appended) {
        abort();
    }

    j = llmopt_json_member(fuzz_out, fuzz_toks, ntoks, 0, "model", 5);

    if (j < 0 || fuzz_toks[j].type != JSMN_STRING
        || !llmopt_json_str_eq(fuzz_out, &fuzz_toks[j], model->model.data,
                               model->model.len))
    {
        abort();
    }
}


static void
fuzz_message(const char *msg)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) msg; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            abort();
        }
    }
}


static void *
fuzz_alloc(void *ctx, size_t size)
{
    void  *p, **b;

    if (n_blocks == cap_blocks) {
        cap_blocks = cap_blocks ? 2 * cap_blocks : 256;
        b = realloc(blocks, cap_blocks * sizeof(void *));
        if (b == NULL) {
            return NULL;
        }
        blocks = b;
    }

    p = calloc(1, size ? size : 1);
    if (p != NULL) {
        blocks[n_blocks++] = p;
    }

    return p;
}
