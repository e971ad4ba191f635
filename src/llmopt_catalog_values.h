/*
 * Copyright (C) llmopt authors
 *
 * The checks and conversions of catalog values that every section uses
 * (llmopt_catalog_values.c), and the context they share.  Internal to the
 * catalog loader: callers use llmopt_catalog.h.
 */


#ifndef _LLMOPT_CATALOG_VALUES_H_INCLUDED_
#define _LLMOPT_CATALOG_VALUES_H_INCLUDED_


#include "llmopt_catalog.h"


#define LLMOPT_CATALOG_WAIT_MAX       3600000       /* ms, one hour */
#define LLMOPT_CATALOG_WHERE_LEN      160           /* "in ..." of messages */


typedef llmopt_catalog_node_t  llmopt_node_t;


/* What every check writes into: the catalog, its allocator, the error. */

typedef struct {
    llmopt_catalog_t      *cat;
    const llmopt_alloc_t  *alloc;
    llmopt_err_t          *err;
} llmopt_catalog_ctx_t;


/* A key of a mapping with a fixed set of keys, and its value. */

typedef struct {
    const llmopt_node_t   *key;
    const llmopt_node_t   *value;
} llmopt_catalog_field_t;


/* Output of the two-pass writers: data NULL only counts. */

typedef struct {
    char                  *data;
    size_t                 len;
} llmopt_catalog_buf_t;


/*
 * All return LLMOPT_OK or LLMOPT_ERROR with ctx->err set at the node
 * (llmopt_catalog_fail()), but for the predicates and counters noted.
 */

int llmopt_catalog_fail(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void *llmopt_catalog_alloc(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, size_t size);
int llmopt_catalog_strdup(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *data, size_t len,
    llmopt_str_t *out);
int llmopt_catalog_fields(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *map, const char *const *names,
    llmopt_catalog_field_t *fields, const char *where);
int llmopt_catalog_unique(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *map, const char *what, const char *where,
    unsigned nocase);
int llmopt_catalog_named_map(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *item);
int llmopt_catalog_is_null(const llmopt_node_t *node);
int llmopt_catalog_name(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *what, size_t max);
int llmopt_catalog_upstream(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *where);
size_t llmopt_catalog_control(const char *s, size_t len);
int llmopt_catalog_string(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, llmopt_str_t *out);
int llmopt_catalog_parse_number(const llmopt_str_t *s, double *value,
    unsigned *integral);
int llmopt_catalog_number(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, double lo,
    unsigned lo_open, double hi, unsigned hi_open, const char *expect,
    double *out);
/* true or false into *out; an absent field (f->value NULL) leaves it */
int llmopt_catalog_bool(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, unsigned *out);
int llmopt_catalog_uint(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f, const char *where, uint64_t lo,
    uint64_t hi, const char *expect, uint64_t *out);
int llmopt_catalog_expand(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, const char *header, const char *where,
    llmopt_catalog_buf_t *buf);
int llmopt_catalog_json(llmopt_catalog_ctx_t *ctx,
    const llmopt_node_t *node, llmopt_catalog_buf_t *buf, unsigned depth);


#endif /* _LLMOPT_CATALOG_VALUES_H_INCLUDED_ */
