/*
 * Copyright (C) llmopt authors
 *
 * The usage reader's JSON scanner (llmopt_usage_json.c), for the event
 * stream of llmopt_usage.c: the scanner's states, what a value means from
 * where it is (llmopt_usage_keys.c), a document scanned in pieces, its
 * findings committed.  Inside the usage reader only.
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
 * What a value means, from where it is: the roles of containers and the
 * fields of scalars.  The four token fields come first, in the order of
 * llmopt_usage_scan_t.fields.
 */
#define LLMOPT_USAGE_M_INPUT          0
#define LLMOPT_USAGE_M_OUTPUT         1
#define LLMOPT_USAGE_M_CACHED         2
#define LLMOPT_USAGE_M_CACHE_WRITE    3
#define LLMOPT_USAGE_M_NONE           4
#define LLMOPT_USAGE_M_ROOT           5
#define LLMOPT_USAGE_M_USAGE          6   /* usage, message.usage */
#define LLMOPT_USAGE_M_DETAILS        7   /* usage.prompt_tokens_details */
#define LLMOPT_USAGE_M_CHOICES        8   /* choices */
#define LLMOPT_USAGE_M_CHOICE         9   /* choices[0] */
#define LLMOPT_USAGE_M_CHOICE_OTHER   10  /* choices[1...] */
#define LLMOPT_USAGE_M_DELTA          11  /* choices[i].delta */
#define LLMOPT_USAGE_M_TOOL_CALLS     12  /* choices[i].delta.tool_calls */
#define LLMOPT_USAGE_M_MESSAGE        13  /* Anthropic message */
#define LLMOPT_USAGE_M_ADELTA         14  /* Anthropic delta */
#define LLMOPT_USAGE_M_ERROR          15  /* error */
#define LLMOPT_USAGE_M_INDEX          16  /* choices[0].index */
#define LLMOPT_USAGE_M_FINISH         17  /* choices[0].finish_reason */
#define LLMOPT_USAGE_M_STOP_REASON    18  /* Anthropic stop_reason */
#define LLMOPT_USAGE_M_CONTENT        19  /* a delta's text */
#define LLMOPT_USAGE_M_TYPE           20  /* Anthropic, Responses type */
#define LLMOPT_USAGE_M_RESPONSE       21  /* an event's response object */
#define LLMOPT_USAGE_M_INCOMPLETE     22  /* incomplete_details */
#define LLMOPT_USAGE_M_N              23

#define LLMOPT_USAGE_OPENAI           1
#define LLMOPT_USAGE_ANTHROPIC        2
#define LLMOPT_USAGE_BOTH             3   /* the two chat dialects */
#define LLMOPT_USAGE_RESPONSES        4   /* OpenAI's Responses API */
#define LLMOPT_USAGE_ALL              7


/*
 * The meaning of the key just captured inside a container of the role, for
 * the answer's dialect (llmopt_usage_keys.c); LLMOPT_USAGE_M_NONE when it
 * means nothing.
 */
unsigned llmopt_usage_key(llmopt_usage_t *u, unsigned role);

/* 1 if the captured string is str[0 .. len - 1] */
int llmopt_usage_captured(llmopt_usage_scan_t *s, const char *str,
    size_t len);

/* the finish reason the captured string names */
llmopt_finish_e llmopt_usage_reason(llmopt_usage_scan_t *s);


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
