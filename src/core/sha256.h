/* SHA-256 (FIPS 180-4), for action ids and idempotency keys: an approval binds
 * to the hash of the exact action, so the hash must resist forgery. */
#ifndef ART_SHA256_H
#define ART_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct art_sha256 {
  uint32_t state[8];
  uint64_t length;
  uint8_t block[64];
  size_t used;
} art_sha256;

void art_sha256_init(art_sha256 *h);
void art_sha256_update(art_sha256 *h, const void *data, size_t size);
void art_sha256_final(art_sha256 *h, uint8_t digest[32]);
/* Lower-case hex of the first `bytes` bytes of digest into out (2*bytes+1). */
void art_hex(const uint8_t *digest, size_t bytes, char *out);

#endif
