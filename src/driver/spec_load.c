/* Agent specs with the library's own tools: the core's loader
 * (art_spec_parse_with) given the built-in demo tools and the command tools of
 * src/tool, from JSON (art_spec_parse) or from a file (art_spec_load). */
#include "agentrt/spec.h"

#include <string.h>

#include "core/alloc.h"
#include "driver/json_file.h"
#include "tool/demo.h"

static const art_spec_tools library_tools = {ART_SPEC_TOOLS_VERSION, art_demo_tool_register,
                                             art_demo_tool_names, art_registry_add_command};

int art_spec_parse(art_spec **out, const json_t *json, const char *name, const char *base_dir,
                   const art_spec_options *opts, art_error *err) {
  return art_spec_parse_with(out, json, name, base_dir, opts, &library_tools, err);
}

/* The directory part of `path`, allocated with `alloc`. */
static char *dir_of(const art_allocator *alloc, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return art_strdup(alloc, ".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *dir = art_alloc(alloc, n + 1);
  if (dir) memcpy(dir, path, n), dir[n] = '\0';
  return dir;
}

int art_spec_load(art_spec **out, const char *path, const art_spec_options *opts, art_error *err) {
  json_t *json;
  int loaded = art_json_load_file(path, &json, err);
  if (loaded < 0) return loaded;
  const art_allocator *alloc = art_allocator_or_default(opts ? opts->alloc : NULL);
  char *dir = dir_of(alloc, path);
  int rc = dir ? art_spec_parse(out, json, path, dir, opts, err)
               : art_error_set(err, ART_ENOMEM, "out of memory");
  art_release(alloc, dir);
  json_decref(json);
  return rc;
}

