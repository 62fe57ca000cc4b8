/* GET /, /console.js, /console.css: the operator console (src/serve/console/, built
 * into the binary).  The page needs no token to load: it asks for one and
 * calls the API with it.  Its Content-Security-Policy lets it run its own
 * script and style sheet only, talk to this service only, and be framed by
 * nobody, so a run's text that slipped past the page's escaping could still
 * not run or send anything anywhere. */
#include "serve/service.h"

#include <string.h>

static const char policy[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                             "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                             "form-action 'none'; frame-ancestors 'none'";

void serve_console(serve_call *c, http_request *req) {
  (void)c;
  for (const serve_asset *a = serve_console_assets; a->path; a++) {
    if (strcmp(a->path, http_path(req)) != 0) continue;
    http_add_header(req, "Content-Security-Policy", policy);
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Cache-Control", "no-cache");
    return http_reply(req, 200, a->content_type, a->body, a->len);
  }
  serve_error(req, 404, "not_found", "no such path: %s", http_path(req));
}
