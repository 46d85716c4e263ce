/* sha256.h -- SHA-256 (FIPS 180-4), incremental, for content-addressed file names. */
#ifndef SB_SHA256_H
#define SB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64

struct sha256 {
	uint32_t state[8]; /* H0..H7 */
	uint64_t total;    /* message bytes so far */
	uint8_t block[64]; /* partial block */
	size_t fill;       /* bytes in block */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Finish and write the 32-byte digest. h must be re-initialized before reuse. */
void sha256_final(struct sha256 *h, uint8_t digest[SHA256_DIGEST_LEN]);

/* Digest as 64 lower-case hex characters plus NUL. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1]);

#endif
