/*
 * Copyright (C) llmopt authors
 *
 * Definitions shared by every part of the core.  Nothing here knows nginx.
 */

#ifndef _LLMOPT_CORE_H_INCLUDED_
#define _LLMOPT_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLMOPT_OK          0
#define LLMOPT_ERROR      -1
#define LLMOPT_AGAIN      -2     /* caller must supply more memory, retry */
#define LLMOPT_DECLINED   -5


#define LLMOPT_ERR_MSG_LEN  256


/*
 * Details of a failure, owned by the caller.  "status" is the HTTP status a
 * request error maps to (400, 413, 415...), 0 for non-request errors;
 * "offset" is a byte offset into the input, "line" and "column" are 1-based
 * positions in a text file, each 0 when unknown.
 */

typedef struct {
    int           status;
    size_t        offset;
    unsigned      line;
    unsigned      column;
    const char   *type;                       /* "invalid_request_error" */
    char          msg[LLMOPT_ERR_MSG_LEN];
} llmopt_err_t;


typedef struct {
    size_t        len;
    const char   *data;
} llmopt_str_t;


/* A key and a raw JSON value, e.g. {"temperature", "0.2"}. */

typedef struct {
    llmopt_str_t  key;
    llmopt_str_t  json;
} llmopt_kv_t;


/*
 * Configuration-time allocator supplied by the caller; the core never calls
 * malloc() itself.  Returns NULL on failure; memory is never freed
 * individually, it lives as long as the allocator's owner (an nginx pool).
 */

typedef struct {
    void         *(*alloc)(void *ctx, size_t size);
    void          *ctx;
} llmopt_alloc_t;


void llmopt_err_set(llmopt_err_t *err, int status, size_t offset,
    const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;


#endif /* _LLMOPT_CORE_H_INCLUDED_ */
