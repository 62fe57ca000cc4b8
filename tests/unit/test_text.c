/* Text (core/text.h): UTF-8 checks and repair, and shortening text without
 * cutting a character in two. */
#include <string.h>

#include "core/text.h"
#include "testutil.h"

#define EURO "\xe2\x82\xac" /* three bytes */
#define CLEF "\xf0\x9d\x84\x9e" /* four bytes */

static void a_cut_never_ends_inside_a_character(void **state) {
  (void)state;
  const char *s = "a" EURO "b" CLEF "\xc3\xa9";
  size_t expect[] = {0, 1, 1, 1, 4, 5, 5, 5, 5, 9, 9, 11};
  for (size_t n = 0; n < sizeof expect / sizeof *expect; n++)
    if (art_utf8_cut(s, n) != expect[n])
      fail_msg("cut at %zu: %zu, expected %zu", n, art_utf8_cut(s, n), expect[n]);
  /* bytes that are not UTF-8 are left to the repair */
  assert_int_equal(art_utf8_cut("\x80\x80\x80\x80", 4), 4);
  assert_int_equal(art_utf8_cut("a\xff", 2), 2);
}

static void a_precision_prints_whole_characters(void **state) {
  (void)state;
  assert_int_equal(art_utf8_prefix("ab", 40), 2);
  assert_int_equal(art_utf8_prefix(EURO EURO, 4), 3);
  assert_int_equal(art_utf8_prefix(EURO EURO, 6), 6);
}

static void formatted_text_that_does_not_fit_ends_at_a_whole_character(void **state) {
  (void)state;
  char buf[8];
  assert_int_equal(art_format(buf, sizeof buf, "%s", "ab" EURO EURO), 8);
  assert_string_equal(buf, "ab" EURO);
  assert_int_equal(art_format(buf, sizeof buf, "%d" EURO, 12345), 8);
  assert_string_equal(buf, "12345");
  assert_int_equal(art_format(buf, sizeof buf, "%s", "abc"), 3);
  assert_string_equal(buf, "abc");
}

static void a_marked_cut_ends_in_dots_after_a_whole_character(void **state) {
  (void)state;
  char buf[] = "ab" EURO EURO "cd";
  art_text_mark_cut(buf, 8);
  assert_string_equal(buf, "ab...");
  char ascii[] = "abcdefgh";
  art_text_mark_cut(ascii, 8);
  assert_string_equal(ascii, "abcd...");
}

static void repair_replaces_each_bad_byte_in_place(void **state) {
  (void)state;
  char s[] = "caf\xc3\xa9 \xff\xfe!";
  assert_false(art_utf8_valid(s, strlen(s)));
  art_utf8_repair(s, strlen(s), s);
  assert_string_equal(s, "caf\xc3\xa9 ?" "?!");
  assert_true(art_utf8_valid(s, strlen(s)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_cut_never_ends_inside_a_character),
      cmocka_unit_test(a_precision_prints_whole_characters),
      cmocka_unit_test(formatted_text_that_does_not_fit_ends_at_a_whole_character),
      cmocka_unit_test(a_marked_cut_ends_in_dots_after_a_whole_character),
      cmocka_unit_test(repair_replaces_each_bad_byte_in_place),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
