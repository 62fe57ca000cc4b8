/* Retry timing for model requests (model/retry.h). */
#include "agentrt/common.h"
#include "model/retry.h"
#include "testutil.h"

static void statuses_worth_a_retry(void **state) {
  (void)state;
  assert_true(art_retry_status(429));
  assert_true(art_retry_status(500));
  assert_true(art_retry_status(503));
  assert_false(art_retry_status(400));
  assert_false(art_retry_status(401));
  assert_false(art_retry_status(404));
  assert_false(art_retry_status(200));
}

static void retry_after_seconds_and_dates(void **state) {
  (void)state;
  const int64_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
  assert_int_equal(art_retry_after_ms("120", now), 120000);
  assert_int_equal(art_retry_after_ms(" 0", now), 0);
  assert_int_equal(art_retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", now), 30000);
  assert_int_equal(art_retry_after_ms("Wednesday, 21-Oct-15 07:29:00 GMT", now), 60000);
  assert_int_equal(art_retry_after_ms("Wed Oct 21 07:29:30 2015", now), 90000); /* asctime */
  assert_int_equal(art_retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT trailing", now), -1);
  assert_int_equal(art_retry_after_ms("Wed, 21 Oct 2015 07:00:00 GMT", now), 0); /* past */
  assert_int_equal(art_retry_after_ms("99999999999999", now), 999999000);
  assert_int_equal(art_retry_after_ms("", now), -1);
  assert_int_equal(art_retry_after_ms(NULL, now), -1);
  assert_int_equal(art_retry_after_ms("soon", now), -1);
  assert_int_equal(art_retry_after_ms("-5", now), -1);
}

static void backoff_doubles_with_jitter_and_a_cap(void **state) {
  (void)state;
  /* The pick is from the upper half of base * 2^(retry-1). */
  assert_int_equal(art_backoff_ms(1, 100, 10000, 0), 50);
  assert_int_equal(art_backoff_ms(1, 100, 10000, 50), 100);
  assert_int_equal(art_backoff_ms(3, 100, 10000, 0), 200);
  assert_int_equal(art_backoff_ms(3, 100, 10000, 200), 400);
  assert_int_equal(art_backoff_ms(40, 100, 1000, 0), 500);
  assert_int_equal(art_backoff_ms(40, 100, 1000, UINT32_MAX), 500 + (int64_t)(UINT32_MAX % 501));
  for (uint32_t r = 0; r < 1000; r += 7) {
    int64_t d = art_backoff_ms(2, 100, 10000, r);
    assert_true(d >= 100 && d <= 200);
  }
}

static void the_server_decides_the_wait_within_the_cap(void **state) {
  (void)state;
  assert_int_equal(art_retry_wait_ms(1000, 1, 10, 5000, 0), 1000);
  assert_int_equal(art_retry_wait_ms(9000, 1, 10, 5000, 0), 5000);
  assert_int_equal(art_retry_wait_ms(0, 1, 10, 5000, 0), 0);
  assert_int_equal(art_retry_wait_ms(-1, 1, 10, 5000, 0), 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(statuses_worth_a_retry),
      cmocka_unit_test(retry_after_seconds_and_dates),
      cmocka_unit_test(backoff_doubles_with_jitter_and_a_cap),
      cmocka_unit_test(the_server_decides_the_wait_within_the_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
