/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the files of the api module that parse JSON
 * (api_json.c, api_json_search.c): the one way a bad answer is logged,
 * how a document is loaded, and integers that may arrive as reals.
 */
#ifndef IDRFS_API_JSON_INT_H
#define IDRFS_API_JSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/** Log "bad answer from WHAT: field FIELD WHY"; returns -EBADMSG. */
int api_json_bad(const char *what, const char *field, const char *why);

/**
 * Parse a body (jansson flags added to JSON_REJECT_DUPLICATES and
 * JSON_ALLOW_NUL: copy strings out with api_json_strdup()).
 * @param[out] out the document, written only on success
 * @return 0 or -EBADMSG (logged with the parse error's position)
 */
int api_json_load(const char *body, size_t len, const char *what, size_t flags,
		  json_t **out);

/**
 * api_json_load() that gives up once http_now_ms() reaches @p until (0:
 * never), checked every API_JSON_SLICE bytes read: a body of hundreds of
 * thousands of items costs seconds of parsing, and an operation's
 * deadline must hold for it too.
 * @return as api_json_load(), or -ETIMEDOUT (logged)
 */
int api_json_load_until(const char *body, size_t len, const char *what,
			size_t flags, uint64_t until, json_t **out);

/**
 * Copy a JSON string (@p v must be one) out of its document. A NUL byte,
 * which JSON may carry (\u0000) and a C string may not, becomes '_', with
 * a log line naming @p what and @p field: the string is kept whole, never
 * cut at the NUL.
 * @return a heap string, or NULL if out of memory
 */
char *api_json_strdup(const json_t *v, const char *what, const char *field);

/** An integer, also when sent as an integral real (7.0). */
bool api_json_as_int(const json_t *v, int64_t *out);

/**
 * Parse one item of a list into @p slot.
 * @return 0 (kept), 1 (skipped), or -errno (nothing left in @p slot)
 */
typedef int (*api_json_item_fn)(const json_t *item, const char *what,
				void *slot);

/**
 * A list under @p key of the document's top object, each item parsed by
 * @p item into the next slot of @p size bytes (one spare slot at the
 * end). On failure @p free_fn frees the slots kept so far.
 * @param[out] out,n written only on success
 * @return 0, -EBADMSG (logged), -ENOMEM, or @p item's error
 */
int api_json_list(const char *body, size_t len, const char *what, size_t flags,
		  const char *key, size_t size, api_json_item_fn item,
		  void (*free_fn)(void *v, size_t n), void **out, size_t *n);

#endif
