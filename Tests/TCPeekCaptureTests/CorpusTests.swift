// Real captures of ../shared/corpus run in process through PcapHandle +
// CaptureLoop + SessionQueue, as `tcpeek record -r FILE` runs them.
//
// Every expectation below was worked out from the packets themselves
// (tshark/tcpdump listings of SYN, SYN/ACK, ACK, RST and ICMP with raw
// sequence numbers), with Zeek's baselines in corpus/baselines as a second
// opinion where they exist. Where tcpeek disagrees, the expectation stays
// what the packets say; the note of the row says why.
import Foundation
import TCPeekCapture
import TCPeekCore
import TCPeekText
import TCPeekSystem
import Testing

/// One capture of the corpus and what the packets say about it (filter `ALL:ANY@*:*`).
struct CorpusCase: Sendable, CustomTestStringConvertible {
    var file: String
    var link: LinkType
    var expected: Totals
    var options = RunOptions.defaults
    var malformed: UInt64 = 0
    var note: String

    var testDescription: String {
        options.checksumMode == .none ? file : "\(file) -c \(options.checksumMode.rawValue)"
    }

    static let all: [CorpusCase] = [
        // MARK: Link types and file formats
        CorpusCase(file: "tcpdump__tcp-handshake-nano.pcap", link: .linuxSLL, expected: Totals(success: 1),
                   note: "Linux cooked v1, nanosecond pcap magic: SYN, SYN/ACK, ACK"),
        CorpusCase(file: "tcpdump__resp_3_malicious.pcap", link: .linuxSLL, expected: Totals(success: 17),
                   note: "Linux cooked v1: 17 short connections, each SYN, SYN/ACK, ACK"),
        CorpusCase(file: "suricata__decode-sll2-01_input.pcap", link: .linuxSLL2, expected: Totals(success: 1),
                   note: "Linux cooked v2"),
        CorpusCase(file: "zeek__tls-openjdk-25.0.2-zeek.org.pcap", link: .linuxSLL2, expected: Totals(success: 1),
                   note: "Linux cooked v2"),
        CorpusCase(file: "tcpdump__tcp_rst_diag_payload.pcap", link: .null, expected: Totals(),
                   note: "BSD NULL (AF 2); a lone RST with payload, no SYN: no attempt"),
        CorpusCase(file: "zeek__irc-353.pcap", link: .null, expected: Totals(success: 1, reject: 1),
                   note: "BSD NULL on macOS: IPv6 (AF 30) SYN to [::1]:6666 answered by RST+ACK, then IPv4 (AF 2) success"),
        CorpusCase(file: "zeek__redis-attr.pcap", link: .null, expected: Totals(success: 2, reject: 2),
                   note: "BSD NULL: two [::1] refusals (AF 30), two 127.0.0.1 successes (AF 2)"),
        CorpusCase(file: "suricata__http-urldecode-body_input.pcap", link: .null, expected: Totals(success: 1, reject: 1),
                   note: "BSD NULL: IPv6 refusal then IPv4 success"),
        CorpusCase(file: "zeek__tcp-payload-syn.pcap", link: .raw, expected: Totals(success: 1),
                   note: "DLT_RAW (101 on disk): SYN with 100 bytes; the SYN/ACK acknowledges ISN+101, then ACK"),
        CorpusCase(file: "zeek__rotation.pcap", link: .raw, expected: Totals(timeout: 20),
                   note: "DLT_RAW: 20 lone SYNs one hour apart"),
        CorpusCase(file: "suricata__tcp-fastopen-10-syn-data-ignore_input.pcap", link: .raw,
                   expected: Totals(success: 1, dupSYN: 10, dupSYNACK: 4, successWithDupSYN: 1, successWithDupSYNACK: 1),
                   note: "DLT_RAW, TFO SYN+517 bytes retransmitted 10 times without data; SYN/ACKs with server ISN "
                       + "3212050950 (frames 2, 4, 12, 15) and 97572840 (frames 14, 17); the ACK of frame 18 "
                       + "acknowledges 97572841. Same-ISN SYN/ACK repeats before the ACK: 4, 12, 15, 17 = 4 "
                       + "(frame 14 is a new server ISN, not a duplicate by SPEC §1)"),
        CorpusCase(file: "tcpdump__scps_invalid.pcap", link: .ipv4, expected: Totals(timeout: 2),
                   note: "LINKTYPE_IPV4 (228): 2 lone SYNs with a malformed TCP option"),
        CorpusCase(file: "zeek__tcp-timeout-with-pings.pcap", link: .ipv4, expected: Totals(success: 1),
                   note: "LINKTYPE_IPV4 (228): one handshake among ICMP echoes"),
        CorpusCase(file: "suricata__detect-ipopts_input.pcap", link: .ipv4, expected: Totals(timeout: 3, dupSYN: 5),
                   note: "LINKTYPE_IPV4, IPv4 options (IHL 6..8), ISN 0 from 9.10.11.12:20. Frame 2 carries LSRR "
                       + "1.2.3.4 5.6.7.8 and frame 7 SSRR 1.1.1.1 8.8.8.8: their final destinations (RFC 791) are "
                       + "5.6.7.8 and 8.8.8.8 (their TCP checksums are only right with those addresses); the other "
                       + "6 SYNs go to 13.14.15.16 (5 duplicates)"),
        CorpusCase(file: "tcpdump__pptp.pcap", link: .ethernet,
                   expected: Totals(success: 1, dupSYNACK: 1, successWithDupSYNACK: 1),
                   note: "big-endian pcap; SYN/ACK retransmitted once before the ACK"),
        CorpusCase(file: "ndpi__sites.pcapng", link: .ethernet, expected: Totals(success: 56, timeout: 4, dupSYN: 6),
                   note: "pcapng: 55 IPv4 + 5 IPv6 attempts; 3 SYN/ACKs never ACKed in the capture (ports 45936, "
                       + "44954, 52070) and 39036 (6 SYN retransmissions, SYN/ACK at +65 s, no ACK)"),
        CorpusCase(file: "ndpi__rtsp.pcap", link: .linuxSLL,
                   expected: Totals(success: 6, dupSYN: 22, dupSYNACK: 18, successWithDupSYN: 6,
                                    successWithDupSYNACK: 6),
                   note: ".pcap that is pcapng; SLL 'any' capture, each packet 4 times: 6 attempts with 3 duplicate "
                       + "SYNs each; 52478 (a Windows client) is refused by RST+ACK (4 copies) and re-sends the same "
                       + "ISN 0.5 s later, which succeeds: one connect(), one success with 3 + 4 duplicate SYNs"),
        CorpusCase(file: "ndpi__tcp_scan.pcapng", link: .ethernet, expected: Totals(success: 2, reject: 2),
                   note: ".pcapng that is classic pcap: 80 and 443 succeed (then client RST), 445 and 3389 refused; "
                       + "FIN / null / XMAS probes to 3390-3392 are no attempts"),
        // MARK: VLANs
        CorpusCase(file: "suricata__bug-3844_input.pcap", link: .ethernet, expected: Totals(success: 1, timeout: 1),
                   note: "one 802.1Q tag (6). Frame 2 is RST *without* the ACK flag (seq 2222, ack field 1112): "
                       + "it acknowledges nothing, a client in SYN-SENT drops it (RFC 9293 3.10.7.3), so it is not a "
                       + "plausible refusal; the client's new ISN 3333 closes ISN 1111 as timeout and succeeds"),
        CorpusCase(file: "zeek__vlan-collisions.pcap", link: .ethernet, expected: Totals(success: 3),
                   note: "the same 4-tuple untagged, VLAN 42 and QinQ 10/20: three attempts (Zeek VLAN-aware baseline)"),
        CorpusCase(file: "zeek__vlan-qinqinq.pcap", link: .ethernet, expected: Totals(success: 1),
                   note: "three stacked 802.1Q tags 30/20/10"),
        CorpusCase(file: "tcpdump__ldp-common-session.pcap", link: .ethernet, expected: Totals(success: 1),
                   note: "capture of one direction: SYN 110236 then the client's ACK+data seq 110237 27 us later "
                       + "(the client only sends that after a SYN/ACK); the 802.1Q frames are LDP hellos (UDP)"),
        // MARK: Behaviour
        CorpusCase(file: "ndpi__gnutella.pcap", link: .ethernet,
                   expected: Totals(success: 56, reject: 12, unreach: 4, timeout: 67, dupSYN: 152, dupSYNACK: 30,
                                    successWithDupSYN: 2),
                   malformed: 1,
                   note: "139 attempts; ICMP host unreachable (3/1) with an 8-byte TCP quote (ports + ISN) answers "
                       + "50231 and 50275 twice each, 3 s or more apart (the same-ISN SYN after the retry window is a "
                       + "new attempt); 14 refusals are retried with the same ISN within 3 s (Windows: 0.5 s after the "
                       + "RST+ACK), one attempt each with the retries as duplicate SYNs; frame 1 is a 4-byte frame "
                       + "(truncated Ethernet header)"),
        CorpusCase(file: "ndpi__synscan.pcap", link: .ethernet, expected: Totals(reject: 5, timeout: 1989, dupSYNACK: 9),
                   note: "SYN scan of 1994 ports: 5 RST+ACK; ports 22, 53, 80 answer SYN/ACK four times, never ACKed"),
        CorpusCase(file: "zeek__pop3-pop3.pcap", link: .ethernet,
                   expected: Totals(success: 5, reject: 2, dupSYN: 5, successWithDupSYN: 1),
                   note: "Zeek: 6 REJ + 5 SF. The REJ are 2 connect()s: Windows re-sends the same SYN twice, 0.5 s "
                       + "after each RST: one reject each with 2 duplicate SYNs"),
        CorpusCase(file: "zeek__nmap-vsn.pcap", link: .ethernet, expected: Totals(success: 3, reject: 6, timeout: 8),
                   note: "nmap version scan: 3 handshakes, 6 RST+ACK, 8 unanswered SYNs"),
        CorpusCase(file: "zeek__ssh-ssh.pcap", link: .ethernet,
                   expected: Totals(success: 22, dupSYN: 2, dupSYNACK: 2, successWithDupSYN: 1, successWithDupSYNACK: 1),
                   note: "Zeek: 22 connections with Sh...; 51489 has SYN and SYN/ACK three times each"),
        CorpusCase(file: "zeek__ssh-ssh.client-side-half-duplex.pcap", link: .ethernet,
                   expected: Totals(success: 20, dupSYN: 2, successWithDupSYN: 1),
                   note: "only client-to-server captured: each SYN is followed by the client's ACK seq ISN+1 and "
                       + "data, which a client only sends after a SYN/ACK. Zeek logs S0/SH because it never sees "
                       + "the responder; the packets show 20 completed handshakes"),
        CorpusCase(file: "zeek__smtp.pcap", link: .ethernet, expected: Totals(success: 3),
                   note: "ICMP 3/4 (fragmentation needed) quoting a data segment is no failure"),
        CorpusCase(file: "ndpi__instagram.pcap", link: .ethernet, expected: Totals(success: 11),
                   note: "5 ICMP port unreachables quote SYNs that are not in the capture: they match nothing"),
        CorpusCase(file: "arkime__ospf.pcap", link: .ethernet, expected: Totals(unreach: 17),
                   note: "IPv6: 17 SYNs, each answered by ICMPv6 1/0 (no route) quoting it"),
        CorpusCase(file: "suricata__kill_router6.pcap", link: .ethernet, expected: Totals(unreach: 2, dupSYN: 3),
                   note: "ICMPv6 1/0 answers every SYN (54112 once; 54114 four times: the macOS client re-sends "
                       + "the same ISN about 1 s after each no-route error, one connect() with 3 duplicate SYNs)"),
        CorpusCase(file: "suricata__base64-decode-5885_input.pcap", link: .ethernet,
                   expected: Totals(success: 13, timeout: 13, dupSYN: 23, successWithDupSYN: 1),
                   note: "Windows: SYN retransmissions at +3/+9 s, unanswered SYNs; the client RST of frame 193 "
                       + "(seq 1116180385, ISN 255601861) is implausible, the same-ISN SYN then succeeds (dup SYN 1)"),
        CorpusCase(file: "zeek__http-vnd.ms-cab-compressed-multi-conn.pcap", link: .ethernet,
                   expected: Totals(success: 5, dupSYN: 5, dupSYNACK: 5, successWithDupSYN: 5, successWithDupSYNACK: 5),
                   note: "every frame twice: 5 connections, each with one duplicate SYN and SYN/ACK"),
        CorpusCase(file: "zeek__tcp-missing-syn.pcap", link: .ethernet, expected: Totals(),
                   note: "no SYN in the capture (Zeek ^hADdFaf): no attempt"),
        CorpusCase(file: "zeek__tcp-syn.pcap", link: .ethernet, expected: Totals(timeout: 1), note: "one lone SYN"),
        CorpusCase(file: "zeek__tcp-syn-synack.pcap", link: .ethernet, expected: Totals(timeout: 1),
                   note: "SYN and SYN/ACK, no ACK"),
        CorpusCase(file: "zeek__tcp-syn-then-rst.pcap", link: .ethernet, expected: Totals(abort: 1),
                   note: "client SYN ISN 0 then client RST seq 0 (Zeek RSTOS0)"),
        CorpusCase(file: "zeek__tcp-rst-inject-rae.pcap", link: .ethernet, expected: Totals(success: 1),
                   note: "the injected RST+ACK acknowledges the ISN itself (1569339004, not ISN+1): implausible; "
                       + "the SYN/ACK follows at +1.27 s and the client ACKs it (SOURCES.md calls it a reject; the "
                       + "packets show a completed handshake)"),
        CorpusCase(file: "zeek__tcp-handshake-reorder.pcap", link: .ethernet, expected: Totals(success: 1),
                   note: "SYN/ACK stored before the SYN; the client's ACK completes it"),
        CorpusCase(file: "zeek__tcp-option-sack.pcap", link: .ethernet, expected: Totals(timeout: 1, dupSYN: 3),
                   note: "4 SYNs with ISN 0"),
        CorpusCase(file: "tcpdump__accecn_handshake.pcap", link: .ethernet, expected: Totals(success: 1),
                   note: "AccECN: SYN flags 0x1c2, SYN/ACK 0x092"),
        CorpusCase(file: "tcpdump__tfo-5c1fa7f9ae91.pcap", link: .ethernet, expected: Totals(success: 2, timeout: 1),
                   note: "13047 from two client addresses (NAT, both sides): 2 successes. 13048: TFO SYN with 4 bytes, "
                       + "no SYN/ACK, 10 s later FIN+ACK with ack 0: nothing acknowledges a SYN/ACK, so it timed out"),
        CorpusCase(file: "suricata__tcp-split-handshake-01-4whs_split-handshake-4whs.pcap", link: .ethernet,
                   expected: Totals(success: 1),
                   note: "split handshake: SYN, server SYN, client SYN/ACK, server ACK, data"),
        CorpusCase(file: "arkime__tcp_handshake_synthetic.pcap", link: .ethernet,
                   expected: Totals(success: 5, abort: 1, timeout: 9, dupSYN: 1, dupSYNACK: 2),
                   note: "successes: 40001, 40008, 40009 (ACK of server data), 40012 (SYN/ACK before SYN), 40014 "
                       + "(server ISN 0xffffffff, ACK 0). Not completed: 40002 ACK 999999 for server ISN 6000 (the "
                       + "server then repeats its SYN/ACK twice), 40004 ACK 123456789 for 8000 then client RST seq "
                       + "ISN+1 (abort), 40005 ACK 424243 for 9000, 40006 ACK with seq 555555 (ISN+1 is 6001), 40010 "
                       + "ACK 517000 for 17000, 40011 ACK below the ISN; 40003 and 40013 change ISN (2 attempts each). "
                       + "Arkime's own baseline marks 40002-40006, 40010, 40011 tcpSynAckValidated false and tags "
                       + "40002/40004/40005/40010 acked-unseen-segment"),
        CorpusCase(file: "arkime__wireshark-retrans.pcap", link: .ethernet,
                   expected: Totals(success: 1, dupSYN: 2, dupSYNACK: 1, successWithDupSYN: 1, successWithDupSYNACK: 1),
                   note: "SYN x3, SYN/ACK x2, ACK; then a late copy of the SYN (opens nothing) and SYN/ACKs"),
        CorpusCase(file: "suricata__bug-6269-01_input.pcap", link: .ethernet,
                   expected: Totals(success: 1, dupSYN: 1, successWithDupSYN: 1),
                   note: "IPv6: SYN retransmitted; the SYN/ACK repeated after the ACK does not count"),
        CorpusCase(file: "zeek__rdp-rdp-x509.pcap", link: .ethernet,
                   expected: Totals(success: 1, dupSYN: 1, dupSYNACK: 1, successWithDupSYN: 1, successWithDupSYNACK: 1),
                   note: "SYN/ACK repeated, SYN repeated, ACK 7.14 s after the first SYN"),
        CorpusCase(file: "zeek__echo-connections.pcap", link: .ethernet,
                   expected: Totals(success: 500, dupSYN: 241, successWithDupSYN: 158),
                   note: "82,582 frames: 500 loopback connections (Zeek: 500), 241 SYN retransmissions"),
        CorpusCase(file: "tcpdump__bgp-4byte-asn.pcap", link: .ethernet, expected: Totals(success: 4, reject: 2),
                   note: "BGP peering: 4 handshakes, 2 RST+ACK"),
        CorpusCase(file: "tcpdump__bgp-shutdown-msg-variations.pcap", link: .ethernet,
                   expected: Totals(timeout: 1, dupSYN: 2), note: "3 SYNs, same ISN, no answer"),
        CorpusCase(file: "tcpdump__of10_pf5240.pcap", link: .ethernet, expected: Totals(success: 1, reject: 2),
                   note: "OpenFlow switch: 1 success, 2 RST+ACK"),
        CorpusCase(file: "zeek__ipv6-http-atomic-frag.pcap", link: .ethernet, expected: Totals(success: 4),
                   note: "IPv6 with dest-opts, atomic fragment, hop-by-hop and routing headers; Zeek: 4 connections"),
        CorpusCase(file: "zeek__chksums-ip6-tcp-bad-chksum.pcap", link: .ethernet, expected: Totals(timeout: 1),
                   note: "-c 0: the SYN with a bad TCP checksum is taken"),
        CorpusCase(file: "zeek__chksums-ip6-tcp-bad-chksum.pcap", link: .ethernet, expected: Totals(),
                   options: RunOptions(checksumMode: .all), malformed: 1,
                   note: "-c 2: the SYN's TCP checksum is wrong (tshark: Bad), so it is skipped: no attempt"),
        CorpusCase(file: "suricata__detect-ipopts_input.pcap", link: .ipv4, expected: Totals(timeout: 3, dupSYN: 5),
                   options: RunOptions(checksumMode: .all),
                   note: "-c 2: every TCP checksum is correct (tcpdump -v: 'correct'; the source-routed ones are "
                       + "computed with the route's final destination), so nothing is skipped"),
    ]
}

@Suite("Corpus captures")
struct CorpusTests {
    @Test("totals per capture", arguments: CorpusCase.all)
    func totals(_ row: CorpusCase) async throws {
        let run = try await runCorpus(row.file, row.options)
        #expect(run.linkType == row.link, "link type")
        #expect(run.end == .endOfFile)
        #expect(run.snapshot.openAttempts == 0, "every attempt is closed at the end of a file")
        let fromSessions = Totals(sessions: run.sessions)
        #expect(fromSessions == row.expected, "\(row.note)")
        let all = try #require(run.counters("ALL"))
        #expect(Totals(all) == row.expected, "counters of ALL: \(row.note)")
        #expect(run.snapshot.decode.malformedTotal == row.malformed, "malformed packets")
    }

    // MARK: Per-session expectations

    @Test("arkime synthetic edge cases, attempt by attempt")
    func arkimeSynthetic() async throws {
        let run = try await runCorpus("arkime__tcp_handshake_synthetic.pcap")
        #expect(briefs(run.sessions) == [
            "192.0.2.10:40001 > 198.51.100.5:8080 success syn=0 sa=0",
            "192.0.2.10:40002 > 198.51.100.5:8080 timeout syn=0 sa=2",  // ACK 999999 acknowledges nothing sent
            "192.0.2.10:40003 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ISN 3000, then ...
            "192.0.2.10:40003 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ... ISN 7777777
            "192.0.2.10:40004 > 198.51.100.5:8080 abort syn=0 sa=0",  // bad ACK, then client RST seq ISN+1
            "192.0.2.10:40005 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ACK of the client's own SYN/ACK
            "192.0.2.10:40006 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ACK seq 555555, not ISN+1
            "192.0.2.10:40008 > 198.51.100.5:8080 success syn=0 sa=0",
            "192.0.2.10:40009 > 198.51.100.5:8080 success syn=0 sa=0",
            "192.0.2.10:40010 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ACK 500000 bytes ahead
            "192.0.2.10:40011 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ACK behind the server ISN
            "192.0.2.10:40012 > 198.51.100.5:8080 success syn=0 sa=0",
            "192.0.2.10:40013 > 198.51.100.5:8080 timeout syn=0 sa=0",  // ISN 30000
            "192.0.2.10:40013 > 198.51.100.5:8080 timeout syn=1 sa=0",  // ISN 30500 twice
            "192.0.2.10:40014 > 198.51.100.5:8080 success syn=0 sa=0",
        ])
        // The first 40003 attempt was last seen at its SYN/ACK (+1 ms); the
        // new ISN's SYN belongs to the next attempt.
        let first40003 = run.sessions.filter { $0.clientPort == 40003 }.min { $0.startedAt < $1.startedAt }
        #expect(first40003?.durationMilliseconds == 60_001)
        let s40002 = run.sessions.first { $0.clientPort == 40002 }
        #expect(s40002?.durationMilliseconds == 60_150, "last SYN/ACK at +150 ms, plus the timeout")
    }

    @Test("TCP Fast Open captures")
    func fastOpen() async throws {
        let nat = try await runCorpus("tcpdump__tfo-5c1fa7f9ae91.pcap")
        #expect(briefs(nat.sessions) == [
            "192.168.0.100:13047 > 3.3.3.3:13054 success syn=0 sa=0",
            "192.168.0.100:13048 > 3.3.3.3:13054 timeout syn=0 sa=0",
            "9.9.9.9:13047 > 3.3.3.3:13054 success syn=0 sa=0",
        ])
        let ignored = try await runCorpus("suricata__tcp-fastopen-10-syn-data-ignore_input.pcap")
        #expect(briefs(ignored.sessions) == ["192.168.0.45:51615 > 17.253.144.10:443 success syn=10 sa=4"])
        #expect(ignored.sessions.first?.durationMilliseconds == 2077, "ACK of frame 18 at +2.077 s")
    }

    @Test("split handshake: complete once both SYNs are acknowledged")
    func splitHandshake() async throws {
        let run = try await runCorpus("suricata__tcp-split-handshake-01-4whs_split-handshake-4whs.pcap")
        #expect(briefs(run.sessions) == ["1.1.1.1:12345 > 2.2.2.2:80 success syn=0 sa=0"])
        // Frame 1 client SYN (+0), frame 2 server SYN (+0.575 ms), frame 3 client
        // SYN/ACK (+1.109 ms: the server's SYN is acknowledged, the client's not
        // yet), frame 4 server ACK of the client's SYN (+1.640 ms): established.
        #expect(run.sessions.first?.duration.microseconds == 1640)
    }

    @Test("IPv4 source routes: the final destination is the server")
    func sourceRoutes() async throws {
        let run = try await runCorpus("suricata__detect-ipopts_input.pcap")
        #expect(briefs(run.sessions) == [
            "9.10.11.12:20 > 13.14.15.16:80 timeout syn=5 sa=0",
            "9.10.11.12:20 > 5.6.7.8:80 timeout syn=0 sa=0",
            "9.10.11.12:20 > 8.8.8.8:80 timeout syn=0 sa=0",
        ])
    }

    @Test("refusals, retries and retransmissions, attempt by attempt")
    func refusalsAndRetries() async throws {
        let pop3 = try await runCorpus("zeek__pop3-pop3.pcap")
        #expect(briefs(pop3.sessions) == [
            "192.168.0.4:26242 > 212.227.15.188:110 reject syn=2 sa=0",
            "192.168.0.4:26245 > 212.227.15.171:110 reject syn=2 sa=0",
            "192.168.0.4:26272 > 212.227.15.166:110 success syn=0 sa=0",
            "192.168.0.4:26284 > 212.227.15.166:110 success syn=1 sa=0",
            "192.168.0.4:26304 > 212.227.15.166:110 success syn=0 sa=0",
            "192.168.0.4:26308 > 212.227.15.166:110 success syn=0 sa=0",
            "192.168.0.4:26383 > 212.227.15.166:110 success syn=0 sa=0",
        ])
        #expect(pop3.sessions.first { $0.clientPort == 26284 }?.durationMilliseconds == 3045)
        // From the first SYN to the third RST+ACK.
        #expect(pop3.sessions.first { $0.clientPort == 26242 }?.durationMilliseconds == 1160)

        let rtsp = try await runCorpus("ndpi__rtsp.pcap")
        #expect(briefs(rtsp.sessions) == [
            "10.1.1.10:52472 > 10.2.2.2:8554 success syn=3 sa=3",
            "10.1.1.10:52474 > 10.2.2.2:8554 success syn=3 sa=3",
            "10.1.1.10:52476 > 10.2.2.2:8554 success syn=3 sa=3",
            "10.1.1.10:52478 > 10.2.2.2:8554 success syn=7 sa=3",
            "10.1.1.10:52480 > 10.2.2.2:8554 success syn=3 sa=3",
            "10.1.1.10:52482 > 10.2.2.2:8554 success syn=3 sa=3",
        ])

        let bug3844 = try await runCorpus("suricata__bug-3844_input.pcap")
        #expect(briefs(bug3844.sessions) == [
            "1.1.1.1:12345 > 2.2.2.2:8080 vlan=6 success syn=0 sa=0",
            "1.1.1.1:12345 > 2.2.2.2:8080 vlan=6 timeout syn=0 sa=0",
        ])

        let inject = try await runCorpus("zeek__tcp-rst-inject-rae.pcap")
        #expect(briefs(inject.sessions) == ["1.2.0.2:2527 > 1.2.0.3:6649 success syn=0 sa=0"])
        #expect(inject.snapshot.tracker.ignoredRST >= 1, "the injected RST decides nothing")

        let retrans = try await runCorpus("arkime__wireshark-retrans.pcap")
        #expect(briefs(retrans.sessions) == ["172.17.96.143:59221 > 172.17.96.77:4000 success syn=2 sa=1"])
        #expect(retrans.snapshot.tracker.lateDuplicateSYN == 1, "frame 10 repeats the SYN after the handshake")

        let rdp = try await runCorpus("zeek__rdp-rdp-x509.pcap")
        #expect(briefs(rdp.sessions) == ["192.168.1.1:54990 > 192.168.1.2:3389 success syn=1 sa=1"])
        #expect(rdp.sessions.first?.durationMilliseconds == 7142)

        let base64 = try await runCorpus("suricata__base64-decode-5885_input.pcap")
        #expect(base64.sessions.filter { $0.clientPort == 57558 }.map(\.brief)
                    == ["192.168.100.67:57558 > 142.251.39.35:443 success syn=1 sa=0"])
    }

    @Test("ICMP and ICMPv6 unreachables")
    func unreachables() async throws {
        let router6 = try await runCorpus("suricata__kill_router6.pcap")
        let client = "[2001:db8:1:0:306e:739d:dea6:99a4]", server = "[2001:16b8:4700:eb60:3a10:d5ff:fe4e:abe6]"
        #expect(briefs(router6.sessions) == [
            "\(client):54112 > \(server):443 unreach syn=0 sa=0",
            "\(client):54114 > \(server):443 unreach syn=3 sa=0",
        ])
        #expect(router6.sessions.allSatisfy { $0.icmpType == 1 && $0.icmpCode == 0 })
        #expect(router6.sessions.map(\.durationMilliseconds) == [0, 3043])

        let ospf = try await runCorpus("arkime__ospf.pcap")
        #expect(ospf.sessions.count == 17)
        #expect(ospf.sessions.allSatisfy { $0.outcome == .unreach && $0.icmpType == 1 && $0.icmpCode == 0 })

        let gnutella = try await runCorpus("ndpi__gnutella.pcap")
        let unreached = gnutella.sessions.filter { $0.outcome == .unreach }
        #expect(briefs(unreached) == [
            "10.0.2.15:50231 > 76.68.138.207:45079 unreach syn=0 sa=0",
            "10.0.2.15:50231 > 76.68.138.207:45079 unreach syn=1 sa=0",
            "10.0.2.15:50275 > 122.117.100.78:9010 unreach syn=0 sa=0",
            "10.0.2.15:50275 > 122.117.100.78:9010 unreach syn=1 sa=0",
        ])
        #expect(unreached.allSatisfy { $0.icmpType == 3 && $0.icmpCode == 1 })
        #expect(gnutella.snapshot.decode[.truncatedLinkHeader] == 1, "frame 1 has 4 bytes")

        let instagram = try await runCorpus("ndpi__instagram.pcap")
        #expect(instagram.sessions.allSatisfy { $0.outcome == .success })
        #expect(instagram.snapshot.tracker.ignoredUnreachable >= 5, "5 port unreachables quote absent SYNs")

        let smtp = try await runCorpus("zeek__smtp.pcap")
        #expect(smtp.sessions.allSatisfy { $0.outcome == .success })
    }

    @Test("evidence and causes on real captures (issue 15)")
    func evidenceAndCauses() async throws {
        // A real injected RST: TTL 46 against the server's 49, ack = ISN;
        // the client ignored it and completed.
        let injected = try await runCorpus("zeek__tcp-rst-inject-rae.pcap")
        let attacked = try #require(injected.sessions.first)
        #expect(injected.sessions.count == 1 && attacked.outcome == .success)
        #expect(attacked.cause == Causes(.injectedReset))
        #expect(attacked.evidence.ignoredResets == 1 && attacked.evidence.ignoredResetHopLimit == 46)
        #expect(attacked.evidence.synHopLimit == 62 && attacked.evidence.synAckHopLimit == 49)

        // A router without a route answers for the server: who, and from how far.
        let router6 = try await runCorpus("suricata__kill_router6.pcap")
        #expect(router6.sessions.allSatisfy { $0.cause == Causes(.noRoute) })
        #expect(router6.sessions.allSatisfy {
            $0.evidence.unreachableSender == IPAddress("2001:db8:1::3") && $0.evidence.unreachableHopLimit == 64
        })

        let gnutella = try await runCorpus("ndpi__gnutella.pcap")
        let unreached = gnutella.sessions.filter { $0.outcome == .unreach }
        #expect(!unreached.isEmpty && unreached.allSatisfy {
            $0.cause == Causes(.hostUnreachable) && $0.evidence.unreachableSender == IPAddress("10.0.2.2")
                && $0.evidence.unreachableHopLimit == 255
        })
        // Every failure has exactly one cause of its own outcome; every
        // success only flags.
        for session in gnutella.sessions + router6.sessions + injected.sessions {
            if session.outcome == .success {
                let flags = session.cause.map(\.isSuccessFlag)
                #expect(!flags.contains(false))
            } else {
                #expect(session.cause.map(\.outcome) == [session.outcome], "\(session)")
            }
        }
    }

    @Test("VLAN stacks are part of the flow key")
    func vlans() async throws {
        let collisions = try await runCorpus("zeek__vlan-collisions.pcap")
        #expect(briefs(collisions.sessions) == [
            "141.142.228.5:59856 > 192.150.187.43:80 success syn=0 sa=0",
            "141.142.228.5:59856 > 192.150.187.43:80 vlan=10.20 success syn=0 sa=0",
            "141.142.228.5:59856 > 192.150.187.43:80 vlan=42 success syn=0 sa=0",
        ])
        let stacked = try await runCorpus("zeek__vlan-qinqinq.pcap")
        #expect(briefs(stacked.sessions) == ["141.142.228.5:59856 > 192.150.187.43:80 vlan=30.20.10 success syn=0 sa=0"])
    }

    @Test("IPv6 over BSD NULL (AF 30) and IPv4 (AF 2)")
    func nullLoopback() async throws {
        let irc = try await runCorpus("zeek__irc-353.pcap")
        #expect(briefs(irc.sessions) == [
            "127.0.0.1:65389 > 127.0.0.1:6666 success syn=0 sa=0",
            "[::1]:65388 > [::1]:6666 reject syn=0 sa=0",
        ])
        let redis = try await runCorpus("zeek__redis-attr.pcap")
        #expect(briefs(redis.sessions) == [
            "127.0.0.1:62283 > 127.0.0.1:6379 success syn=0 sa=0",
            "127.0.0.1:62286 > 127.0.0.1:6379 success syn=0 sa=0",
            "[::1]:62282 > [::1]:6379 reject syn=0 sa=0",
            "[::1]:62285 > [::1]:6379 reject syn=0 sa=0",
        ])
    }

    @Test("timeouts last from the first SYN to the last segment plus --timeout")
    func timeoutDurations() async throws {
        let lone = try await runCorpus("zeek__tcp-syn.pcap")
        #expect(lone.sessions.map(\.durationMilliseconds) == [60_000])
        let retried = try await runCorpus("tcpdump__bgp-shutdown-msg-variations.pcap")
        #expect(briefs(retried.sessions) == ["127.0.0.1:20 > 127.0.0.1:179 timeout syn=2 sa=0"])
        #expect(retried.sessions.map(\.durationMilliseconds) == [60_002])
        let rotation = try await runCorpus("zeek__rotation.pcap")
        #expect(rotation.sessions.count == 20)
        #expect(rotation.sessions.allSatisfy { $0.outcome == .timeout && $0.durationMilliseconds == 60_000 })
        #expect(rotation.sessions.map(\.startedAt) == rotation.sessions.map(\.startedAt).sorted(),
                "one hour apart, each closes before the next opens")
        var short = RunOptions()
        short.timeoutSeconds = 5
        let shortRun = try await runCorpus("zeek__tcp-syn.pcap", short)
        #expect(shortRun.sessions.map(\.durationMilliseconds) == [5_000], "-t 5")
    }

    @Test("no SYN in the capture: no attempt")
    func noSYN() async throws {
        let diag = try await runCorpus("tcpdump__tcp_rst_diag_payload.pcap")
        #expect(diag.sessions.isEmpty)
        #expect(diag.snapshot.tracker.ignoredRST == 1)
        let missing = try await runCorpus("zeek__tcp-missing-syn.pcap")
        #expect(missing.sessions.isEmpty)
    }

    @Test("a bad TCP checksum is skipped only with -c 2")
    func checksums() async throws {
        let all = try await runCorpus("zeek__chksums-ip6-tcp-bad-chksum.pcap", RunOptions(checksumMode: .all))
        #expect(all.sessions.isEmpty)
        #expect(all.snapshot.decode[.badTCPChecksum] == 1)
        let header = try await runCorpus("zeek__chksums-ip6-tcp-bad-chksum.pcap", RunOptions(checksumMode: .ipHeader))
        #expect(Totals(sessions: header.sessions) == Totals(timeout: 1), "-c 1 checks IPv4 headers only")
    }

    // MARK: Zeek's baselines as a second opinion

    /// The TCP connections of a Zeek conn.log that began with a SYN, as
    /// `client:port > server:port outcome` (the mapping of baselines/README.md).
    private static func zeekAttempts(_ baseline: String) throws -> [String] {
        let text = try String(contentsOf: TestPaths.corpus.appendingPathComponent("baselines")
            .appendingPathComponent(baseline), encoding: .utf8)
        var fields: [String] = []
        var attempts: [String] = []
        for line in text.split(separator: "\n").map(String.init) {
            let columns = line.components(separatedBy: "\t")
            if line.hasPrefix("#fields") { fields = Array(columns.dropFirst()); continue }
            if line.hasPrefix("#") || fields.isEmpty { continue }
            func value(_ name: String) -> String { fields.firstIndex(of: name).map { columns[$0] } ?? "" }
            guard value("proto") == "tcp", value("history").hasPrefix("S") else { continue }
            let outcome: String
            switch value("conn_state") {
            case "REJ": outcome = "reject"
            case "S0", "SH": outcome = "timeout"
            case "RSTOS0": outcome = "abort"
            default: outcome = value("history").contains("h") ? "success" : "other"
            }
            attempts.append("\(value("id.orig_h")):\(value("id.orig_p")) > \(value("id.resp_h")):\(value("id.resp_p")) \(outcome)")
        }
        return attempts.sorted()
    }

    /// Repeated refusals of one 4-tuple as one attempt (sorted input).
    private static func mergingRetriedRefusals(_ attempts: [String]) -> [String] {
        var merged: [String] = []
        for attempt in attempts where !(attempt.hasSuffix(" reject") && merged.last == attempt) {
            merged.append(attempt)
        }
        return merged
    }

    private static func attempts(_ sessions: [Session]) -> [String] {
        sessions.map {
            "\(Report.hostText($0.client)):\($0.clientPort) > \(Report.hostText($0.server)):\($0.serverPort) \($0.outcome)"
        }.sorted()
    }

    @Test("Zeek's conn.log baselines agree, attempt by attempt")
    func zeekBaselines() async throws {
        let pop3 = try await runCorpus("zeek__pop3-pop3.pcap")
        // Zeek logs a REJ per refused SYN; the client's same-ISN retries are
        // one attempt here (SPEC §1), and each retried 4-tuple is one connect().
        let zeekPOP3 = try Self.zeekAttempts("zeek__pop3-pop3.pcap__pop3.basic.conn.log")
        #expect(zeekPOP3.filter { $0.hasSuffix(" reject") }.count == 6)
        #expect(Self.attempts(pop3.sessions) == Self.mergingRetriedRefusals(zeekPOP3))
        let ssh = try await runCorpus("zeek__ssh-ssh.pcap")
        let zeekSSH = try Self.zeekAttempts("zeek__ssh-ssh.pcap__ssh.basic.conn.log")
        #expect(zeekSSH.count == 22)
        #expect(Self.attempts(ssh.sessions) == zeekSSH)
        // Half-duplex: the same 20 attempts. Zeek calls them S0/SH because it
        // never sees the responder; the client's ACK and data show they
        // completed, so the outcomes are deliberately not compared.
        let half = try await runCorpus("zeek__ssh-ssh.client-side-half-duplex.pcap")
        let zeekHalf = try Self.zeekAttempts("zeek__ssh-ssh.client-side-half-duplex.pcap__ssh.half-duplex-client.conn.log")
        #expect(zeekHalf.count == 20)
        func tuples(_ list: [String]) -> [String] { list.map { String($0[..<$0.lastIndex(of: " ")!]) }.sorted() }
        #expect(tuples(Self.attempts(half.sessions)) == tuples(zeekHalf))
        let missing = try await runCorpus("zeek__tcp-missing-syn.pcap")
        #expect(Self.attempts(missing.sessions) == (try Self.zeekAttempts("zeek__tcp-missing-syn.pcap__core.tcp.missing-syn.conn.log")))
    }

    // MARK: Direction and filters

    @Test("--local-addr on the client: every attempt is TX")
    func outgoing() async throws {
        let run = try await runCorpus("zeek__pop3-pop3.pcap", RunOptions(localAddresses: ["192.168.0.4"]))
        #expect(run.filters.map(\.name) == ["RX", "TX"])
        let rxCounters = try #require(run.counters("RX"))
        #expect(Totals(rxCounters) == Totals())
        let txCounters = try #require(run.counters("TX"))
        #expect(Totals(txCounters) == Totals(success: 5, reject: 2, dupSYN: 5, successWithDupSYN: 1))
        #expect(run.sessions.allSatisfy { $0.direction == .tx })
    }

    @Test("--local-addr on the server: every attempt is RX")
    func incoming() async throws {
        let run = try await runCorpus("ndpi__tcp_scan.pcapng", RunOptions(localAddresses: ["192.168.1.2"]))
        let rxCounters = try #require(run.counters("RX"))
        #expect(Totals(rxCounters) == Totals(success: 2, reject: 2))
        let txCounters = try #require(run.counters("TX"))
        #expect(Totals(txCounters) == Totals())
        #expect(run.sessions.allSatisfy { $0.direction == .rx })
    }

    @Test("--local-addr naming neither end: no direction, counted in neither RX nor TX")
    func passingBy() async throws {
        let run = try await runCorpus("ndpi__tcp_scan.pcapng", RunOptions(localAddresses: ["198.51.100.0/24"]))
        #expect(run.sessions.isEmpty)
        #expect(run.snapshot.tracker.unfilteredSYN == 4)
    }

    @Test("named filters and an exclusion")
    func namedFilters() async throws {
        let options = RunOptions(
            expressions: ["pop:TX@212.227.15.0/24:110", "mail:ANY@*:25:465:587", ":TX@212.227.15.188:*"],
            localAddresses: ["192.168.0.4"])
        let run = try await runCorpus("zeek__pop3-pop3.pcap", options)
        #expect(run.filters.map(\.name) == ["RX", "TX", "pop", "mail"])
        let expected = Totals(success: 5, reject: 1, dupSYN: 3, successWithDupSYN: 1)
        let txCounters = try #require(run.counters("TX"))
        #expect(Totals(txCounters) == expected, "the refusal by .188 (3 SYNs) is excluded")
        let popCounters = try #require(run.counters("pop"))
        #expect(Totals(popCounters) == expected)
        let mailCounters = try #require(run.counters("mail"))
        #expect(Totals(mailCounters) == Totals())
        #expect(run.snapshot.tracker.unfilteredSYN == 3)
    }

    // MARK: Reading speed

    @Test("results do not depend on how fast the sessions are consumed")
    func slowConsumer() async throws {
        let normal = try await runCorpus("ndpi__synscan.pcap")
        var tiny = RunOptions()
        tiny.queueCapacity = 3
        let squeezed = try await runCorpus("ndpi__synscan.pcap", tiny)
        #expect(squeezed.sessions == normal.sessions)
        #expect(squeezed.snapshot.counters == normal.snapshot.counters)
    }

    // MARK: Files that cannot be read

    @Test("a pcapng with interfaces of different snapshot lengths is refused with a clear CaptureError")
    func refusedPcapng() async throws {
        let name = "zeek__ldap-gap-data-missing.pcapng"
        do {
            let run = try await runCorpus(name)
            Issue.record("expected libpcap to refuse \(name), got \(run.sessions.count) sessions")
        } catch {
            guard case .capture(let captureError) = error else {
                Issue.record("\(error)")
                return
            }
            switch captureError {
            case .cannotOpenFile(let path, let detail), .readError(let path, packets: 0, let detail):
                #expect(path.hasSuffix(name))
                #expect(detail.contains("snapshot length"), "libpcap's reason: \(detail)")
            default:
                Issue.record("unexpected error \(captureError)")
            }
            #expect(captureError.description.contains(name))
            #expect(captureError.description.contains("snapshot length"))
        }
    }

    @Test("a file that is not a capture gives .cannotOpenFile")
    func notACapture() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("tcpeek-not-a-capture-\(getpid()).txt").path
        try "GET / HTTP/1.1\r\nHost: example\r\n\r\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try PcapHandle.open(file: path)
            Issue.record("a text file opened as a capture")
        } catch {
            guard case .cannotOpenFile(let reported, let detail) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(reported == path)
            #expect(!detail.isEmpty)
            #expect(error.description.hasPrefix("cannot read capture file '\(path)': "))
            #expect(error.description.contains("pcap and pcapng"))
        }
    }

    @Test("a missing file gives .cannotOpenFile")
    func missingFile() throws {
        let path = "/nonexistent/tcpeek-\(getpid())/capture.pcap"
        do {
            _ = try PcapHandle.open(file: path)
            Issue.record("a missing file opened")
        } catch {
            guard case .cannotOpenFile(let reported, let detail) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(reported == path)
            #expect(detail.contains("No such file or directory"))
            #expect(error.description.contains(path))
        }
    }
}
