// What tcpeekstat reads is what the server writes: each answer of a server
// in process decodes into the TCPeekWire type tcpeekstat decodes it with,
// holding the figures of the capture.
import Foundation
import TCPeekCore
import TCPeekServer
import TCPeekWire
import Testing

@Suite("socket answers as wire types")
struct SocketWireTests {
    @Test("GET, REFRESH, STATUS, WINDOW, FILTERS, HELP and errors read back as their types")
    func answersDecode() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX", #"a/"b"#], exclusions: ["scan:ANY@198.51.100.9:*"])
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let t = Timestamp(seconds: 1_700_000_000)
        capture.record([
            socketSession(.success, at: t, mask: 0b11, dupSYN: 1),
            socketSession(.unreach, at: t, mask: 0b01),
            socketSession(.abort, at: t, mask: 0b10),
        ])
        capture.change { $0.capture = CaptureStatistics(received: 10, dropped: 1, interfaceDropped: 2) }

        let get = try WireJSON.decode(CountsAnswer.self, from: try await socketAskAsync(server.path, "GET"))
        #expect(get == CountsAnswer(filters: capture.filters, counters: capture.current.counters,
                                    capture: CaptureStatistics(received: 10, dropped: 1, interfaceDropped: 2)))
        #expect(get.filters.map(\.name) == ["RX", #"a/"b"#])
        #expect(get.filters[0].failure == FailureCounts(total: 1, timeout: 0, reject: 0, unreach: 1, abort: 0))

        let refresh = try WireJSON.decode(CountsAnswer.self, from: try await socketAskAsync(server.path, "REFRESH"))
        #expect(refresh.pcap == nil)
        #expect(refresh.filters[1].failure == FailureCounts(total: 1, timeout: 0, reject: 1))

        let status = try WireJSON.decode(StatusAnswer.self, from: try await socketAskAsync(server.path, "STATUS"))
        #expect(status.source == StatusAnswer.Source(kind: "interface", name: "test"))
        #expect(status.pcap == PcapStats(recv: 10, drop: 1, ifdrop: 2))
        #expect(status.attempts.notRecorded == nil && status.version == "0.1.0")

        let window = try WireJSON.decode([AggregateAnswer].self, from: try await socketAskAsync(server.path, "WINDOW 5m"))
        #expect(window.map(\.filter) == ["RX", #"a/"b"#])
        #expect(window.allSatisfy { $0.success.total == 0 && $0.handshakeMilliseconds.p50 == nil })

        let filters = try WireJSON.decode(FiltersAnswer.self, from: try await socketAskAsync(server.path, "FILTERS"))
        #expect(filters == FiltersAnswer(filters: capture.filters, exclusions: capture.exclusions))
        #expect(filters.exclusions.map(\.name) == ["scan"])

        let help = try WireJSON.decode(HelpAnswer.self, from: try await socketAskAsync(server.path, "HELP"))
        #expect(help.requests.map(\.request) == SocketRequest.descriptions.map(\.request))

        let refusal = try WireJSON.decode(ErrorAnswer.self, from: try await socketAskAsync(server.path, #"QUERY {"by":"week"}"#))
        #expect(refusal.error == "QUERY: 'by' must be minute, hour, day or total, not 'week'")
    }
}
