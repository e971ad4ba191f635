/*
 * Copyright (C) llmopt authors
 *
 * The catalog loader: a file or a string to a checked llmopt_catalog_t.
 * It reads the file, has llmopt_catalog_yaml.c build the node tree and
 * checks the two top-level sections (llmopt_catalog_models.c,
 * llmopt_catalog_policies.c).  Runs at configuration time only.
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_models.h"
#include "llmopt_catalog_policies.h"
#include "llmopt_catalog_values.h"
#include "llmopt_catalog_yaml.h"
#include "llmopt_hash.h"


#define LLMOPT_CATALOG_FILE_MAX       (16 * 1024 * 1024)


/* Keys of each kind of mapping; the enums below index them. */

static const char *const  llmopt_catalog_top_keys[] = {
    "models", "policies", NULL
};

enum {
    LLMOPT_TOP_MODELS = 0,
    LLMOPT_TOP_POLICIES,
    LLMOPT_TOP_LAST
};


int
llmopt_catalog_load_file(llmopt_catalog_t *cat, const char *path,
    const llmopt_alloc_t *alloc, llmopt_err_t *err)
{
    FILE    *file;
    long     size;
    char    *text;
    size_t   n;

    memset(cat, 0, sizeof(llmopt_catalog_t));

    err->line = 0;
    err->column = 0;

    file = fopen(path, "rb");
    if (file == NULL) {
        llmopt_err_set(err, 0, 0, "cannot open: %s", strerror(errno));
        return LLMOPT_ERROR;
    }

    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0
        || fseek(file, 0, SEEK_SET) != 0)
    {
        llmopt_err_set(err, 0, 0, "cannot read: %s", strerror(errno));
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    if (size > LLMOPT_CATALOG_FILE_MAX) {
        llmopt_err_set(err, 0, 0, "the file is larger than %d bytes",
                       LLMOPT_CATALOG_FILE_MAX);
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    text = alloc->alloc(alloc->ctx, (size_t) size + 1);
    if (text == NULL) {
        llmopt_err_set(err, 0, 0, "out of memory");
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    n = fread(text, 1, (size_t) size, file);

    if (n != (size_t) size || ferror(file)) {
        llmopt_err_set(err, 0, 0, "cannot read: %s",
                       ferror(file) ? strerror(errno) : "short read");
        (void) fclose(file);
        return LLMOPT_ERROR;
    }

    (void) fclose(file);

    text[n] = '\0';

    return llmopt_catalog_load_string(cat, path, text, n, alloc, err);
}


int
llmopt_catalog_load_string(llmopt_catalog_t *cat, const char *name,
    const char *text, size_t len, const llmopt_alloc_t *alloc,
    llmopt_err_t *err)
{
    llmopt_catalog_node_t  *root;

    memset(cat, 0, sizeof(llmopt_catalog_t));

    root = llmopt_catalog_yaml_parse(text, len, alloc, err);
    if (root == NULL) {
        return LLMOPT_ERROR;
    }

    return llmopt_catalog_build(cat, name, text, len, root, alloc, err);
}


int
llmopt_catalog_build(llmopt_catalog_t *cat, const char *name,
    const char *text, size_t len, const llmopt_catalog_node_t *root,
    const llmopt_alloc_t *alloc, llmopt_err_t *err)
{
    llmopt_catalog_ctx_t    ctx;
    llmopt_catalog_field_t  f[LLMOPT_TOP_LAST];

    memset(cat, 0, sizeof(llmopt_catalog_t));

    ctx.cat = cat;
    ctx.alloc = alloc;
    ctx.err = err;

    if (root->type != LLMOPT_CATALOG_MAP) {
        return llmopt_catalog_fail(&ctx, root, "the catalog must be a "
                                   "mapping with \"models\" and "
                                   "\"policies\"");
    }

    if (llmopt_catalog_fields(&ctx, root, llmopt_catalog_top_keys, f,
                              "the catalog")
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_TOP_MODELS].value == NULL) {
        return llmopt_catalog_fail(&ctx, root, "missing required key "
                                   "\"models\" in the catalog");
    }

    if (llmopt_catalog_models(&ctx, &f[LLMOPT_TOP_MODELS]) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (f[LLMOPT_TOP_POLICIES].value == NULL) {
        return llmopt_catalog_fail(&ctx, root, "missing required key "
                                   "\"policies\" in the catalog");
    }

    if (llmopt_catalog_policies(&ctx, &f[LLMOPT_TOP_POLICIES]) != LLMOPT_OK) {
        return LLMOPT_ERROR;
    }

    if (llmopt_catalog_strdup(&ctx, root, name, strlen(name), &cat->file)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    cat->version = llmopt_hash64(text, len, 0);

    return LLMOPT_OK;
}
