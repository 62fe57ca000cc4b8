#include "model/retry.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

bool art_retry_status(int status) { return status == 429 || (status >= 500 && status <= 599); }

static bool all_digits(const char *s) {
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

/* An HTTP-date (RFC 9110 5.6.7): IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms; (time_t)-1 when it is none of them.  Always GMT. */
static time_t http_date(const char *text) {
  static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                      "%a %b %e %H:%M:%S %Y"};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    struct tm tm = {0};
    const char *end = strptime(text, forms[i], &tm);
    if (end && !*end) return timegm(&tm);
  }
  return (time_t)-1;
}

int64_t art_retry_after_ms(const char *value, int64_t now_s) {
  if (!value) return -1;
  while (*value == ' ' || *value == '\t') value++;
  if (!*value) return -1;
  if (all_digits(value)) {
    /* More than a day is as good as "much later": capped by the caller anyway. */
    long long s = strlen(value) > 6 ? 999999 : atoll(value);
    return (int64_t)s * 1000;
  }
  time_t at = http_date(value);
  if (at == (time_t)-1) return -1;
  return at <= now_s ? 0 : ((int64_t)at - now_s) * 1000;
}

int64_t art_backoff_ms(int retry, int base_ms, int max_ms, uint32_t random) {
  int64_t d = base_ms;
  for (int i = 1; i < retry && d < max_ms; i++) d *= 2;
  if (d > max_ms) d = max_ms;
  int64_t half = d / 2;
  return half + (int64_t)(random % (uint64_t)(d - half + 1));
}

int64_t art_retry_wait_ms(int64_t retry_after_ms, int retry, int base_ms, int max_ms,
                          uint32_t random) {
  if (retry_after_ms >= 0) return retry_after_ms < max_ms ? retry_after_ms : max_ms;
  return art_backoff_ms(retry, base_ms, max_ms, random);
}
