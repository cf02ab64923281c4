// The capture module: libpcap sources, BPF, pcap stats, local addresses.
