/*
 * pcap-count: the floor for reading a capture with libpcap.
 *
 * Opens FILE with pcap_open_offline and runs pcap_loop with a callback that
 * only counts packets (and reads the first byte of each, so the compiler
 * cannot drop the access and the data really is touched). Whatever tcpeek
 * does per packet comes on top of this, so tcpeek's rate divided by this
 * one says how much of the reading cost is tcpeek's own.
 *
 * --tuned opens the file as tcpeek does: a 1 MiB stdio buffer instead of one
 * file-system block, and stdio's per-call locking off (libpcap calls fread
 * twice a packet): the same floor for a reader tuned like tcpeek's,
 * reported next to the plain one so that neither ratio hides where the time
 * goes.
 *
 * Build: cc -O2 -o Bench/out/pcap-count Bench/pcap-count.c -lpcap
 * Usage: pcap-count [--tuned] FILE   ->   packets=N seconds=S pps=P
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <time.h>

struct tally {
    uint64_t packets;
    uint64_t checksum; /* sum of first bytes: printed, so it must be computed */
};

static void count(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct tally *t = (struct tally *)user;
    t->packets++;
    if (h->caplen > 0)
        t->checksum += bytes[0];
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int tuned = argc == 3 && strcmp(argv[1], "--tuned") == 0;
    if (argc != 2 && !tuned) {
        fprintf(stderr, "usage: %s [--tuned] FILE\n", argv[0]);
        return 2;
    }
    const char *path = argv[argc - 1];
    char errbuf[PCAP_ERRBUF_SIZE];
    double start = now(); /* opening is part of reading a file */
    static char buffer[1 << 20];
    pcap_t *p;
    if (tuned) {
        FILE *file = fopen(path, "rb");
        if (file == NULL) {
            perror(path);
            return 1;
        }
        setvbuf(file, buffer, _IOFBF, sizeof buffer);
        __fsetlocking(file, FSETLOCKING_BYCALLER);
        p = pcap_fopen_offline(file, errbuf);
    } else {
        p = pcap_open_offline(path, errbuf);
    }
    if (p == NULL) {
        fprintf(stderr, "pcap-count: %s\n", errbuf);
        return 1;
    }
    struct tally t = {0, 0};
    if (pcap_loop(p, -1, count, (u_char *)&t) == PCAP_ERROR) {
        fprintf(stderr, "pcap-count: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    double seconds = now() - start;
    printf("packets=%llu seconds=%.6f pps=%.0f\n", (unsigned long long)t.packets, seconds,
           seconds > 0 ? (double)t.packets / seconds : 0.0);
    fprintf(stderr, "pcap-count: first-byte sum %llu\n", (unsigned long long)t.checksum);
    return 0;
}
