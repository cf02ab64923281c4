#ifndef TCPEEK_CPCAP_SHIM_H
#define TCPEEK_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opens a capture file for reading by one thread, as
 * pcap_open_offline_with_tstamp_precision does (fopen, or stdin for "-"),
 * with two changes to the FILE: stdio's per-call locking off (libpcap calls
 * fread twice a packet, and only this thread reads) and, for a named file, a
 * 1 MiB buffer instead of one file-system block (a read(2) every 5,000
 * packets instead of every 20). The buffer is returned in *buffer (NULL for
 * stdin) and must be freed after pcap_close, which closes the FILE. */
static inline pcap_t *tcpeek_pcap_open_file(const char *path, u_int precision, char *errbuf, void **buffer)
{
    *buffer = NULL;
    if (strcmp(path, "-") == 0) {
        pcap_t *p = pcap_open_offline_with_tstamp_precision(path, precision, errbuf);
        if (p != NULL && pcap_file(p) != NULL)
            __fsetlocking(pcap_file(p), FSETLOCKING_BYCALLER);
        return p;
    }
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
        return NULL;
    }
    enum { size = 1 << 20 };
    void *memory = malloc(size);
    if (memory != NULL && setvbuf(file, memory, _IOFBF, size) != 0) {
        free(memory);
        memory = NULL;
    }
    __fsetlocking(file, FSETLOCKING_BYCALLER);
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(file, precision, errbuf);
    if (p == NULL) {
        fclose(file);
        free(memory);
        return NULL;
    }
    *buffer = memory;
    return p;
}
#endif
