/* The arena (core/arena.h): chunks that double from the first block up to
 * the chunk size, big requests in chunks of their own, failures that leave
 * the arena usable; and a short run that lives in its first block. */
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"
#include "agentrt.h"
#include "core/arena.h"

/* An allocator that records the size of each allocation. */
typedef struct sizes {
  art_allocator a;
  size_t size[32];
  size_t n;
  size_t fail_at; /* 1-based; 0: never */
} sizes;

static void *sizes_alloc(void *ud, size_t size) {
  sizes *s = ud;
  if (s->n < 32) s->size[s->n] = size;
  if (++s->n == s->fail_at) return NULL;
  return malloc(size);
}
static void *sizes_resize(void *ud, void *p, size_t size) {
  (void)ud;
  return realloc(p, size);
}
static void sizes_release(void *ud, void *p) {
  (void)ud;
  free(p);
}
static void sizes_init(sizes *s) {
  *s = (sizes){.a = {sizes_alloc, sizes_resize, sizes_release, s}};
}

/* The chunk header before each chunk's data. */
static size_t header(const sizes *s, size_t i, size_t data) { return s->size[i] - data; }

static void chunks_double_from_the_first_block(void **state) {
  (void)state;
  sizes s;
  sizes_init(&s);
  _Alignas(16) char first[64];
  art_arena a;
  art_arena_init(&a, &s.a, first, sizeof first, 1024);
  for (int i = 0; i < 64; i++) assert_non_null(art_arena_alloc(&a, 48));
  assert_true(s.n >= 5);
  size_t h = header(&s, 0, 128);
  static const size_t want[] = {128, 256, 512, 1024, 1024};
  for (size_t i = 0; i < 5; i++) assert_int_equal(s.size[i], want[i] + h);
  art_arena_dispose(&a);
}

static void without_a_first_block_chunks_are_full_size(void **state) {
  (void)state;
  sizes s;
  sizes_init(&s);
  art_arena a;
  art_arena_init(&a, &s.a, NULL, 0, 1024);
  assert_non_null(art_arena_alloc(&a, 16));
  assert_int_equal(s.n, 1);
  assert_true(s.size[0] > 1024 && s.size[0] < 1024 + 64);
  art_arena_dispose(&a);
}

/* A request over a quarter of the chunk size gets a chunk of exactly its
 * size, and the chunk being filled goes on being filled; one larger than the
 * next chunk but not that big gets a chunk that holds it. */
static void big_requests_get_what_they_need(void **state) {
  (void)state;
  sizes s;
  sizes_init(&s);
  _Alignas(16) char first[64];
  art_arena a;
  art_arena_init(&a, &s.a, first, sizeof first, 4096);
  char *p = art_arena_alloc(&a, 48);
  assert_ptr_equal(p, first);
  char *big = art_arena_alloc(&a, 2000);
  assert_non_null(big);
  memset(big, 1, 2000);
  assert_int_equal(s.n, 1);
  size_t h = s.size[0] - 2000;
  char *mid = art_arena_alloc(&a, 600); /* more than the 128-byte next chunk */
  assert_non_null(mid);
  memset(mid, 2, 600);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.size[1], 600 + h);
  art_arena_dispose(&a);
}

static void a_failed_chunk_leaves_the_arena_usable(void **state) {
  (void)state;
  sizes s;
  sizes_init(&s);
  s.fail_at = 1;
  art_arena a;
  art_arena_init(&a, &s.a, NULL, 0, 1024);
  assert_null(art_arena_alloc(&a, 16));
  assert_non_null(art_arena_alloc(&a, 16));
  art_arena_dispose(&a);
}

/* A three-step run (two tool calls, then an answer) lives in the block it
 * is made with: the allocator is asked once, for the run. */
static void a_short_run_allocates_once(void **state) {
  (void)state;
  art_spec *spec =
      tu_spec("{\"goal\":\"answer after two lookups\",\"max_steps\":5,\"tools\":[\"lookup_policy\"],"
              "\"model\":{\"type\":\"scripted\",\"decisions\":["
              "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"refund\"},"
              "\"repeat\":2},{\"type\":\"answer\",\"text\":\"done\"}]}}");
  sizes s;
  sizes_init(&s);
  art_run_options opts = {.alloc = &s.a, .run_id = "r-000001"};
  art_run *run;
  art_model *model;
  art_error err = {0};
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, &opts), 0);
  assert_int_equal(art_run_until_stop(run, model), 0);
  assert_int_equal(art_run_stop_reason(run), ART_STOP_SUCCESS);
  assert_int_equal(art_run_steps(run), 3);
  assert_int_equal(s.n, 1);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chunks_double_from_the_first_block),
      cmocka_unit_test(without_a_first_block_chunks_are_full_size),
      cmocka_unit_test(big_requests_get_what_they_need),
      cmocka_unit_test(a_failed_chunk_leaves_the_arena_usable),
      cmocka_unit_test(a_short_run_allocates_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
