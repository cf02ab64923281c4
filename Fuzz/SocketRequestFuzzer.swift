// libFuzzer target: the socket's request-line parser (SPEC §4:
// `GET`, `REFRESH`, `WINDOW 5m`, `QUERY {json}`, ...), the text any local
// client may send to a root-owned process.
//
// Built by Fuzz/run.sh as one module with Sources/TCPeekServer/SocketRequest.swift,
// Sources/TCPeekStore/TimeExpression.swift, Sources/TCPeekCore/DurationText.swift,
// the `TimeBucketing` enum extracted from Sources/TCPeekStore/HistoryQuery.swift
// and TCPeekWire's QueryRequest (with what it uses); empty stub modules answer
// its imports of TCPeekCore, TCPeekStore and TCPeekWire (GRDB and NIO
// stay out of the fuzzer). The input is one request line, as the line
// reader hands it over (at most SocketRequest.maximumLineLength bytes).
//
// Besides crashes and sanitizer reports, the target checks that an error
// says something and quotes at most an excerpt of the input, and that a
// WINDOW duration is positive and finite.

import Foundation

private func fuzzCheck(_ condition: Bool, _ message: StaticString) {
    if !condition { fatalError("fuzz invariant violated: \(message)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func socketRequestFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size <= SocketRequest.maximumLineLength else { return 0 }
    let line = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let request = try SocketRequest.parse(line)
        switch request {
        case .window(let seconds):
            fuzzCheck(seconds > 0 && seconds.isFinite, "WINDOW with a duration that is not positive and finite")
        case .query(let query):
            fuzzCheck(query.filters.map { !$0.isEmpty } ?? true, "QUERY with an empty filter list")
            _ = DurationText.seconds(query.since)
        case .get, .refresh, .filters, .status, .help:
            break
        }
    } catch {
        fuzzCheck(!error.description.isEmpty, "an empty error")
        // Errors quote at most 64 characters of the input, plus the text around them.
        fuzzCheck(error.description.count <= 400, "an error quoting too much of the request")
    }
    return 0
}
