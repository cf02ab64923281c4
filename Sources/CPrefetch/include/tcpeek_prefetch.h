#ifndef TCPEEK_PREFETCH_H
#define TCPEEK_PREFETCH_H

/* Swift has no prefetch intrinsic. The packet path uses this to start
 * loading a hash-table line for a packet a few packets ahead of the one it
 * tracks, so the cache miss overlaps work instead of stalling it. A hint
 * only: it never faults and changes no result. */
static inline __attribute__((always_inline)) void tcpeek_prefetch(const void *address)
{
    __builtin_prefetch(address, 0, 3);
}

#endif
