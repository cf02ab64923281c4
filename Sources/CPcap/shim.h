#ifndef TCPEEK_CPCAP_SHIM_H
#define TCPEEK_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <stdio.h>
#include <stdio_ext.h>

/* A capture file is read by one thread only, so stdio's per-call locking
 * (libpcap calls fread twice a packet) is pure overhead. */
static inline void tcpeek_pcap_unlocked_file(pcap_t *p)
{
    FILE *file = pcap_file(p);
    if (file != NULL)
        __fsetlocking(file, FSETLOCKING_BYCALLER);
}
#endif
