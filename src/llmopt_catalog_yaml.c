/*
 * Copyright (C) llmopt authors
 *
 * The YAML side of the catalog loader, the only part of the core that knows
 * libyaml: it loads one document, copies it into a plain node tree with
 * 1-based positions and leaves every check to llmopt_catalog_build()
 * (llmopt_catalog_load.c calls both).
 * libyaml allocates for itself; that memory is released before returning.
 */


#include <string.h>

#include <yaml.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_yaml.h"


typedef struct {
    yaml_document_t        *doc;
    const llmopt_alloc_t   *alloc;
    llmopt_err_t           *err;
    unsigned                nodes;            /* copied so far */
} llmopt_catalog_yaml_t;


static llmopt_catalog_node_t *llmopt_catalog_yaml_copy(
    llmopt_catalog_yaml_t *ctx, yaml_node_t *node, unsigned depth);
static int llmopt_catalog_yaml_fail(llmopt_err_t *err, yaml_mark_t mark,
    const char *msg);
static int llmopt_catalog_yaml_syntax(yaml_parser_t *parser,
    llmopt_err_t *err);


llmopt_catalog_node_t *
llmopt_catalog_yaml_parse(const char *text, size_t len,
    const llmopt_alloc_t *alloc, llmopt_err_t *err)
{
    yaml_node_t            *top;
    yaml_parser_t           parser;
    yaml_document_t         doc, next;
    llmopt_catalog_node_t  *root;
    llmopt_catalog_yaml_t   ctx;

    if (!yaml_parser_initialize(&parser)) {
        (void) llmopt_catalog_yaml_fail(err, parser.problem_mark,
                                        "out of memory");
        return NULL;
    }

    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);

    if (!yaml_parser_load(&parser, &doc)) {
        (void) llmopt_catalog_yaml_syntax(&parser, err);
        yaml_parser_delete(&parser);
        return NULL;
    }

    top = yaml_document_get_root_node(&doc);

    if (top == NULL) {
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        err->line = 1;
        err->column = 1;
        llmopt_err_set(err, 0, 0, "the catalog is empty");
        return NULL;
    }

    /* a second document would be silently ignored: refuse it */

    if (!yaml_parser_load(&parser, &next)) {
        (void) llmopt_catalog_yaml_syntax(&parser, err);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return NULL;
    }

    if (yaml_document_get_root_node(&next) != NULL) {
        (void) llmopt_catalog_yaml_fail(err, next.start_mark,
                                        "the catalog must be one YAML "
                                        "document, found a second one");
        yaml_document_delete(&next);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return NULL;
    }

    yaml_document_delete(&next);

    ctx.doc = &doc;
    ctx.alloc = alloc;
    ctx.err = err;
    ctx.nodes = 0;

    root = llmopt_catalog_yaml_copy(&ctx, top, 0);

    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);

    return root;
}


/*
 * Copies a libyaml node and what it holds.  Aliases are copied as often as
 * they are used; the depth and node limits stop cycles and alias bombs.
 */

static llmopt_catalog_node_t *
llmopt_catalog_yaml_copy(llmopt_catalog_yaml_t *ctx, yaml_node_t *node,
    unsigned depth)
{
    size_t                  n, i;
    char                   *data;
    yaml_node_t            *child;
    yaml_node_pair_t       *pair;
    yaml_node_item_t       *item;
    llmopt_catalog_node_t  *cn;

    if (depth > LLMOPT_CATALOG_MAX_DEPTH) {
        (void) llmopt_catalog_yaml_fail(ctx->err, node->start_mark,
                                        "YAML nesting is too deep");
        return NULL;
    }

    if (++ctx->nodes > LLMOPT_CATALOG_MAX_NODES) {
        (void) llmopt_catalog_yaml_fail(ctx->err, node->start_mark,
                                        "too many YAML nodes "
                                        "(aliases included)");
        return NULL;
    }

    cn = ctx->alloc->alloc(ctx->alloc->ctx, sizeof(llmopt_catalog_node_t));
    if (cn == NULL) {
        goto nomem;
    }

    memset(cn, 0, sizeof(llmopt_catalog_node_t));

    cn->line = (unsigned) node->start_mark.line + 1;
    cn->column = (unsigned) node->start_mark.column + 1;

    switch (node->type) {

    case YAML_SCALAR_NODE:
        n = node->data.scalar.length;

        data = ctx->alloc->alloc(ctx->alloc->ctx, n + 1);
        if (data == NULL) {
            goto nomem;
        }

        memcpy(data, node->data.scalar.value, n);
        data[n] = '\0';

        cn->type = LLMOPT_CATALOG_SCALAR;
        cn->plain = (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
        cn->scalar.data = data;
        cn->scalar.len = n;
        return cn;

    case YAML_MAPPING_NODE:
        n = node->data.mapping.pairs.top - node->data.mapping.pairs.start;

        cn->type = LLMOPT_CATALOG_MAP;
        cn->n = (unsigned) n;

        if (n == 0) {
            return cn;
        }

        cn->items = ctx->alloc->alloc(ctx->alloc->ctx,
                                      2 * n * sizeof(llmopt_catalog_node_t *));
        if (cn->items == NULL) {
            goto nomem;
        }

        for (i = 0; i < n; i++) {
            pair = &node->data.mapping.pairs.start[i];

            child = yaml_document_get_node(ctx->doc, pair->key);

            if (child->type != YAML_SCALAR_NODE) {
                (void) llmopt_catalog_yaml_fail(ctx->err, child->start_mark,
                                                "a mapping key must be a "
                                                "scalar");
                return NULL;
            }

            cn->items[2 * i] = llmopt_catalog_yaml_copy(ctx, child,
                                                        depth + 1);
            if (cn->items[2 * i] == NULL) {
                return NULL;
            }

            child = yaml_document_get_node(ctx->doc, pair->value);

            cn->items[2 * i + 1] = llmopt_catalog_yaml_copy(ctx, child,
                                                            depth + 1);
            if (cn->items[2 * i + 1] == NULL) {
                return NULL;
            }
        }

        return cn;

    default: /* YAML_SEQUENCE_NODE */
        n = node->data.sequence.items.top - node->data.sequence.items.start;

        cn->type = LLMOPT_CATALOG_SEQ;
        cn->n = (unsigned) n;

        if (n == 0) {
            return cn;
        }

        cn->items = ctx->alloc->alloc(ctx->alloc->ctx,
                                      n * sizeof(llmopt_catalog_node_t *));
        if (cn->items == NULL) {
            goto nomem;
        }

        for (i = 0; i < n; i++) {
            item = &node->data.sequence.items.start[i];
            child = yaml_document_get_node(ctx->doc, *item);

            cn->items[i] = llmopt_catalog_yaml_copy(ctx, child, depth + 1);
            if (cn->items[i] == NULL) {
                return NULL;
            }
        }

        return cn;
    }

nomem:

    (void) llmopt_catalog_yaml_fail(ctx->err, node->start_mark,
                                    "out of memory");
    return NULL;
}


static int
llmopt_catalog_yaml_syntax(yaml_parser_t *parser, llmopt_err_t *err)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        return llmopt_catalog_yaml_fail(err, parser->problem_mark,
                                        "out of memory");
    }

    if (parser->error == YAML_READER_ERROR) {

        /* bad encoding: libyaml gives a byte offset only */

        err->line = 0;
        err->column = 0;
        llmopt_err_set(err, 0, parser->problem_offset,
                       "YAML syntax error: %s at byte %lu",
                       parser->problem != NULL ? parser->problem : "unknown",
                       (unsigned long) parser->problem_offset);
        return LLMOPT_ERROR;
    }

    err->line = (unsigned) parser->problem_mark.line + 1;
    err->column = (unsigned) parser->problem_mark.column + 1;

    if (parser->context != NULL) {
        llmopt_err_set(err, 0, parser->problem_mark.index,
                       "YAML syntax error: %s (%s at line %lu)",
                       parser->problem != NULL ? parser->problem : "unknown",
                       parser->context,
                       (unsigned long) parser->context_mark.line + 1);

    } else {
        llmopt_err_set(err, 0, parser->problem_mark.index,
                       "YAML syntax error: %s",
                       parser->problem != NULL ? parser->problem : "unknown");
    }

    return LLMOPT_ERROR;
}


static int
llmopt_catalog_yaml_fail(llmopt_err_t *err, yaml_mark_t mark, const char *msg)
{
    err->line = (unsigned) mark.line + 1;
    err->column = (unsigned) mark.column + 1;
    llmopt_err_set(err, 0, mark.index, "%s", msg);

    return LLMOPT_ERROR;
}
