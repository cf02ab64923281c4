#ifndef TCPEEK_CPCAP_SHIM_H
#define TCPEEK_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <pcap/sll.h>
#endif
