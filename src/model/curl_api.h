/* The part of libcurl the openai model uses, loaded when an HTTP handle is
 * made (not when a program using agentrt starts: with what it links, TLS,
 * Kerberos, LDAP, ..., libcurl takes several milliseconds to load, which
 * every `agentrt` process would pay, model or not).  The library is never
 * unloaded, so the function pointers stay valid once loaded. */
#ifndef ART_CURL_API_H
#define ART_CURL_API_H

#include <curl/curl.h>

#include "agentrt/common.h"

typedef struct art_curl_api {
  void *lib;
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_perform)(CURL *);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  void (*easy_cleanup)(CURL *);
  const char *(*easy_strerror)(CURLcode);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
  CURLMcode (*multi_add_handle)(CURLM *, CURL *);
  CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
  CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
  CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
  CURLMsg *(*multi_info_read)(CURLM *, int *);
  CURLMcode (*multi_cleanup)(CURLM *);
} art_curl_api;

/* Fill `api`; ART_EIO (err says why) when libcurl is missing.  Release with
 * art_curl_api_unload. */
int art_curl_api_load(art_curl_api *api, art_error *err);
void art_curl_api_unload(art_curl_api *api);

#endif
