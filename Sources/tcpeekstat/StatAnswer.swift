import Foundation

/// tcpeek's answers, read back from JSON: enough of them to print a table
/// and feed gmetric, and to tell a tcpeek from some other peer.
enum StatAnswer {
    /// One filter of a `GET` or `REFRESH` answer.
    struct Totals {
        var name: String
        /// `total`, `dupsyn`, `dupsynack`.
        var success: [String: UInt64]
        /// `total`, `timeout`, `reject` (and in `GET`: `unreach`, `abort`).
        var failure: [String: UInt64]
    }

    struct Counts {
        var filters: [Totals] = []
        /// recv, drop, ifdrop (`GET` only).
        var pcap: [String: UInt64]?
    }

    /// One element of a `WINDOW` or `QUERY` answer.
    struct Aggregate {
        var filter: String
        var from: String
        var to: String
        var success: [String: UInt64]
        var failure: [String: UInt64]
        var handshake: [String: Double?]
    }

    /// The `STATUS` answer (`SocketStatus` in tcpeek).
    struct Status {
        var sourceKind: String
        var source: String
        var started: String
        var firstPacket: String?
        var lastPacket: String?
        var packets: UInt64
        /// `open`, `evicted`, `malformed_packets`; `not_recorded` when tcpeek records history.
        var attempts: [String: UInt64]
        /// recv, drop, ifdrop (live captures).
        var pcap: [String: UInt64]?
        var version: String
        var libpcap: String
    }

    /// The JSON value, or the server's `{"error":...}` as an error.
    static func decode(_ text: String, path: String) throws(ClientError) -> Any {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            let start = text.prefix(80).replacingOccurrences(of: "\n", with: "\\n")
            throw ClientError(text.isEmpty
                ? "the peer at '\(path)' closed the connection without an answer: is it tcpeek's socket?"
                : "the peer at '\(path)' does not answer like tcpeek ('\(start)'): is it tcpeek's socket?")
        }
        if let object = value as? [String: Any], let message = object["error"] as? String {
            throw ClientError("tcpeek: \(message)")
        }
        return value
    }

    private static func unlike(_ path: String) -> ClientError {
        ClientError("the peer at '\(path)' does not answer like tcpeek (unexpected JSON): is it tcpeek's socket, and as new as this tcpeekstat?")
    }

    /// The `GET` or `REFRESH` shape:
    /// `[{"RX":{"success":{...},"failure":{...}}},...,{"pcap":{"stats":{...}}}]`.
    static func counts(_ value: Any, path: String) throws(ClientError) -> Counts {
        guard let elements = value as? [Any] else { throw unlike(path) }
        var counts = Counts()
        for element in elements {
            guard let object = element as? [String: Any], object.count == 1, let (name, body) = object.first,
                  let sections = body as? [String: Any] else { throw unlike(path) }
            if name == "pcap", sections.keys.contains("stats") {
                guard let stats = sections["stats"] as? [String: Any] else { throw unlike(path) }
                counts.pcap = try numbers(stats, path: path)
                continue
            }
            guard let success = sections["success"] as? [String: Any], let failure = sections["failure"] as? [String: Any] else {
                throw unlike(path)
            }
            counts.filters.append(Totals(name: name, success: try numbers(success, path: path), failure: try numbers(failure, path: path)))
        }
        return counts
    }

    /// The `WINDOW` or `QUERY` shape (`tcpeek query --format json`).
    static func aggregates(_ value: Any, path: String) throws(ClientError) -> [Aggregate] {
        guard let elements = value as? [Any] else { throw unlike(path) }
        var rows: [Aggregate] = []
        for element in elements {
            guard let object = element as? [String: Any], let filter = object["filter"] as? String,
                  let from = object["from"] as? String, let to = object["to"] as? String,
                  let success = object["success"] as? [String: Any], let failure = object["failure"] as? [String: Any],
                  let handshake = object["handshake_ms"] as? [String: Any] else { throw unlike(path) }
            var times: [String: Double?] = [:]
            for (key, value) in handshake { times[key] = (value as? NSNumber)?.doubleValue }
            rows.append(Aggregate(filter: filter, from: from, to: to, success: try numbers(success, path: path),
                                  failure: try numbers(failure, path: path), handshake: times))
        }
        return rows
    }

    /// The `STATUS` shape: `{"source":{"kind":...,"name":...},"started":...,
    /// "attempts":{"open":N,"evicted":N,...},"pcap":{...}|null,...}`.
    static func status(_ value: Any, path: String) throws(ClientError) -> Status {
        guard let object = value as? [String: Any], let source = object["source"] as? [String: Any],
              let kind = source["kind"] as? String, let name = source["name"] as? String,
              let started = object["started"] as? String, let packets = object["packets"] as? NSNumber,
              let attempts = object["attempts"] as? [String: Any],
              let version = object["version"] as? String, let libpcap = object["libpcap"] as? String else { throw unlike(path) }
        // `not_recorded` is null without a database: left out of the figures.
        let recorded = attempts.filter { !($0.value is NSNull) }
        let figures = try numbers(recorded, path: path)
        guard ["open", "evicted", "malformed_packets"].allSatisfy({ figures[$0] != nil }) else { throw unlike(path) }
        var pcap: [String: UInt64]?
        switch object["pcap"] {
        case nil, is NSNull: break
        case let stats as [String: Any]: pcap = try numbers(stats, path: path)
        default: throw unlike(path)
        }
        return Status(sourceKind: kind, source: name, started: started, firstPacket: object["first_packet"] as? String,
                      lastPacket: object["last_packet"] as? String, packets: packets.uint64Value, attempts: figures,
                      pcap: pcap, version: version, libpcap: libpcap)
    }

    private static func numbers(_ object: [String: Any], path: String) throws(ClientError) -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for (key, value) in object {
            guard let number = value as? NSNumber else { throw unlike(path) }
            result[key] = number.uint64Value
        }
        return result
    }
}
