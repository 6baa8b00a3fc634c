/* The fuzz targets' reader of their input bytes: past the end, every value
 * is 0, so any input is a complete sequence of calls. */
#ifndef NF_FUZZ_INPUT_H
#define NF_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct input {
	const uint8_t *p;
	size_t n;
} input;

static inline uint8_t u8(input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint64_t u64(input *in, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | u8(in);
	return v;
}

/* An int from `table` (values a caller might plausibly or maliciously pass)
 * most of the time, else any 32-bit value. */
static inline int pick_int(input *in, const int *table, size_t n)
{
	uint8_t k = u8(in);
	if (k < 200)
		return table[k % n];
	return (int)(uint32_t)u64(in, 4);
}

#endif
