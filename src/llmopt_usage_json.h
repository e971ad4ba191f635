/*
 * Copyright (C) llmopt authors
 *
 * The usage reader's JSON scanner (llmopt_usage_json.c), for the event
 * stream of llmopt_usage.c: the scanner's states, a document scanned in
 * pieces, its findings committed.  Inside the usage reader only.
 */

#ifndef _LLMOPT_USAGE_JSON_H_INCLUDED_
#define _LLMOPT_USAGE_JSON_H_INCLUDED_


#include "llmopt_usage_types.h"


/* JSON scanner states */
#define LLMOPT_USAGE_J_VALUE          0   /* a value must come */
#define LLMOPT_USAGE_J_VALUE_OR_END   1   /* after '[' */
#define LLMOPT_USAGE_J_KEY            2   /* after ',' in an object */
#define LLMOPT_USAGE_J_KEY_OR_END     3   /* after '{' */
#define LLMOPT_USAGE_J_COLON          4   /* after a key */
#define LLMOPT_USAGE_J_NEXT           5   /* after a value in a container */
#define LLMOPT_USAGE_J_DONE           6   /* the root is closed */
#define LLMOPT_USAGE_J_ERROR          7   /* malformed: the rest is ignored */
#define LLMOPT_USAGE_J_STRING         8
#define LLMOPT_USAGE_J_ESCAPE         9   /* after a backslash */
#define LLMOPT_USAGE_J_UNICODE        10  /* in the hex digits of \u */
#define LLMOPT_USAGE_J_NUMBER         11
#define LLMOPT_USAGE_J_LITERAL        12  /* true, false, null, [DONE] */


/*
 * Scans p[0 .. len - 1] of the current JSON document; pos is the stream
 * offset of p[0].  Bytes after an error or after the root are ignored
 * (the latter count as an error unless white space).
 */
void llmopt_usage_json(llmopt_usage_t *u, const unsigned char *p, size_t len,
    uint64_t pos);

/* A new document: the scanner's state and findings cleared. */
void llmopt_usage_reset(llmopt_usage_scan_t *s);

/* A whole document's findings into the answer's totals. */
void llmopt_usage_commit(llmopt_usage_t *u);

/* The document is malformed: the rest is ignored, one error counted. */
void llmopt_usage_fail(llmopt_usage_t *u);


#endif /* _LLMOPT_USAGE_JSON_H_INCLUDED_ */
