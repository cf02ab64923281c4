/*
 * pcap-count: the floor for reading a capture with libpcap.
 *
 * Opens FILE with pcap_open_offline and runs pcap_loop with a callback that
 * only counts packets (and reads the first byte of each, so the compiler
 * cannot drop the access and the data really is touched). Whatever tcpeek
 * does per packet comes on top of this, so tcpeek's rate divided by this
 * one says how much of the reading cost is tcpeek's own.
 *
 * --in-place reads as tcpeek reads a classic pcap file (PcapRecordReader):
 * libpcap opens the file and checks its header, then the records are read
 * by pread into one 1 MiB buffer and counted where they lie, without
 * libpcap's per-packet fread and copy. The floor for tcpeek's own reader,
 * reported next to the plain one so that neither ratio hides where the
 * time goes. Little-endian pcap 2.4 files only, as tcpeek's reader.
 *
 * Build: cc -O2 -o Bench/out/pcap-count Bench/pcap-count.c -lpcap
 * Usage: pcap-count [--in-place] FILE   ->   packets=N seconds=S pps=P
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Counts the records after the 24-byte file header, in place. */
static int count_in_place(int fd, struct tally *t)
{
    enum { capacity = 1 << 20 };
    unsigned char *buffer = malloc(capacity);
    if (buffer == NULL)
        return -1;
    off_t offset = 24; /* of buffer[0] */
    size_t filled = 0, consumed = 0;
    for (;;) {
        size_t available = filled - consumed;
        uint32_t caplen = 0;
        if (available >= 16)
            memcpy(&caplen, buffer + consumed + 8, 4);
        if (available < 16 || available < 16 + (size_t)caplen) {
            memmove(buffer, buffer + consumed, available);
            offset += (off_t)consumed;
            consumed = 0;
            filled = available;
            ssize_t n = pread(fd, buffer + filled, capacity - filled, offset + (off_t)filled);
            if (n < 0) {
                free(buffer);
                return -1;
            }
            if (n == 0)
                break;
            filled += (size_t)n;
            continue;
        }
        t->packets++;
        if (caplen > 0)
            t->checksum += buffer[consumed + 16];
        consumed += 16 + (size_t)caplen;
    }
    free(buffer);
    return 0;
}

int main(int argc, char **argv)
{
    int in_place = argc == 3 && strcmp(argv[1], "--in-place") == 0;
    if (argc != 2 && !in_place) {
        fprintf(stderr, "usage: %s [--in-place] FILE\n", argv[0]);
        return 2;
    }
    const char *path = argv[argc - 1];
    char errbuf[PCAP_ERRBUF_SIZE];
    double start = now(); /* opening is part of reading a file */
    pcap_t *p = pcap_open_offline(path, errbuf);
    if (p == NULL) {
        fprintf(stderr, "pcap-count: %s\n", errbuf);
        return 1;
    }
    struct tally t = {0, 0};
    if (in_place) {
        if (count_in_place(fileno(pcap_file(p)), &t) != 0) {
            perror(path);
            pcap_close(p);
            return 1;
        }
    } else if (pcap_loop(p, -1, count, (u_char *)&t) == PCAP_ERROR) {
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
