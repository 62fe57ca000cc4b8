/* When to try a model request again: which outcomes are worth a retry, the
 * Retry-After header (seconds or an HTTP date) and exponential backoff with
 * jitter.  Pure functions: time and randomness are passed in. */
#ifndef ART_RETRY_H
#define ART_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* 429 and 5xx are worth another attempt; other statuses are answers. */
bool art_retry_status(int status);

/* The wait a Retry-After value asks for, in ms: "120" (delta-seconds) or an
 * HTTP date such as "Wed, 21 Oct 2015 07:28:00 GMT" (a date in the past: 0).
 * -1 when `value` is NULL, empty or neither. */
int64_t art_retry_after_ms(const char *value, int64_t now_s);

/* The wait before attempt `retry` + 1 (retry >= 1): base * 2^(retry-1),
 * capped at max_ms, then "equal jitter": a uniform pick from the upper half,
 * [d/2, d], by `random` (any 32-bit value). */
int64_t art_backoff_ms(int retry, int base_ms, int max_ms, uint32_t random);

/* The wait to use: what the server asked for (capped at max_ms) when it did,
 * else the backoff. */
int64_t art_retry_wait_ms(int64_t retry_after_ms, int retry, int base_ms, int max_ms,
                          uint32_t random);

#endif
