/* libFuzzer target: an agent spec from outside.  Bytes -> JSON -> art_spec_parse;
 * a spec that loads is also run with its scripted model, unless it lists a
 * command tool (the fuzzer must not exec arbitrary programs) or allows many
 * steps (a scripted decision may repeat 2^32 times: slow, but not a bug). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentrt.h"

#define MAX_FUZZ_STEPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool only_builtin_tools(const json_t *root) {
  const json_t *tools = json_object_get(root, "tools"), *tool;
  size_t i;
  json_array_foreach(tools, i, tool) {
    if (!json_is_string(tool)) return false;
  }
  return true;
}

static void run_spec(const art_spec *spec) {
  art_model *model = NULL;
  art_run *run = NULL;
  art_error err = {0};
  if (art_model_new(&model, spec, &err) == 0 && art_run_new(&run, spec, NULL) == 0) {
    (void)art_run_until_stop(run, model);
    json_decref(art_run_result_json(run));
  }
  art_run_free(run);
  art_model_free(model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) return 0;
  const art_spec_options opts = {.outbox = "/dev/null"};
  art_spec *spec = NULL;
  art_error err = {0};
  if (art_spec_parse(&spec, root, "fuzz.json", NULL, &opts, &err) == 0) {
    if (only_builtin_tools(root) && art_spec_max_steps(spec) <= MAX_FUZZ_STEPS) run_spec(spec);
    art_spec_free(spec);
  }
  json_decref(root);
  return 0;
}
