#include "model/curl_api.h"

#include <dlfcn.h>
#include <stddef.h>

#define CURL_LIBRARY "libcurl.so.4"

/* Each name, and where its address goes in the table. */
#define API_ENTRY(field)                                                                           \
  { "curl_" #field, offsetof(art_curl_api, field) }
static const struct {
  const char *name;
  size_t offset;
} entries[] = {
    API_ENTRY(easy_init),           API_ENTRY(easy_setopt),      API_ENTRY(easy_perform),
    API_ENTRY(easy_getinfo),        API_ENTRY(easy_cleanup),     API_ENTRY(easy_strerror),
    API_ENTRY(slist_append),        API_ENTRY(slist_free_all),   API_ENTRY(multi_init),
    API_ENTRY(multi_setopt),        API_ENTRY(multi_add_handle), API_ENTRY(multi_remove_handle),
    API_ENTRY(multi_socket_action), API_ENTRY(multi_assign),     API_ENTRY(multi_info_read),
    API_ENTRY(multi_cleanup),
};

int art_curl_api_load(art_curl_api *api, art_error *err) {
  /* RTLD_NODELETE: libcurl's global state (TLS set-up) lives as long as the process. */
  if (!(api->lib = dlopen(CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)))
    return art_error_set(err, ART_EIO, "cannot load %s (install libcurl4): %s", CURL_LIBRARY,
                         dlerror());
  for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
    void *fn = dlsym(api->lib, entries[i].name);
    if (!fn) return art_error_set(err, ART_EIO, "%s has no %s", CURL_LIBRARY, entries[i].name);
    *(void **)((char *)api + entries[i].offset) = fn;
  }
  return 0;
}

void art_curl_api_unload(art_curl_api *api) {
  if (api->lib) dlclose(api->lib);
  api->lib = NULL;
}
