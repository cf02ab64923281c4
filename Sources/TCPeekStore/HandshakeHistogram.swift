import TCPeekWire

/// A histogram of handshake times in the buckets of `Schema.handshakeBucket`:
/// a count per bucket, indexed by bucket (a minute's worth of rows adds up
/// without hashing; 60 s is bucket ~900).
struct HandshakeHistogram: Sendable, Equatable {
    private(set) var counts: [Int64] = []

    mutating func add(bucket: Int, count: Int64) {
        guard bucket >= 0 else { return }
        if bucket >= counts.count { counts.append(contentsOf: repeatElement(0, count: bucket + 1 - counts.count)) }
        counts[bucket] += count
    }

    mutating func add(_ other: HandshakeHistogram) {
        for (bucket, count) in other.counts.enumerated() where count != 0 { add(bucket: bucket, count: count) }
    }

    /// The `fraction` quantile in milliseconds (nearest rank on buckets).
    func quantile(_ fraction: Double) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int64((fraction * Double(total)).rounded(.up)))
        var seen: Int64 = 0
        for (bucket, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return Schema.handshakeBucketMiddle(bucket) / 1000 }
        }
        return nil
    }

    static func == (a: Self, b: Self) -> Bool {
        let length = max(a.counts.count, b.counts.count)
        return (0..<length).allSatisfy { (a.counts.indices.contains($0) ? a.counts[$0] : 0) == (b.counts.indices.contains($0) ? b.counts[$0] : 0) }
    }
}

/// The histogram as `rollups_hour.handshake_buckets` holds it (Schema/0005):
/// TCPeekWire's `HandshakeBuckets`, `{"212":3,"213":10}`.
extension HandshakeHistogram {
    var bucketsJSON: String {
        WireJSON.text(HandshakeBuckets(counts: counts))
    }

    /// Adds the counts of a `handshake_buckets` text: what tcpeek writes, SQLite's
    /// `json_group_object` makes and whitespace around either. False, with
    /// the histogram unchanged, for anything else.
    ///
    /// A hand parser rather than `HandshakeBuckets`' decoder: a month by
    /// hour reads hundreds of thousands of buckets, and this stays a
    /// fraction of the cost of reading the rows.
    mutating func add(bucketsJSON text: UnsafeBufferPointer<UInt8>) -> Bool {
        var parsed: [(bucket: Int, count: Int64)] = []
        var index = 0
        func skipSpace() {
            while index < text.count, text[index] == 0x20 || text[index] == 0x0A || text[index] == 0x0D || text[index] == 0x09 {
                index += 1
            }
        }
        func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < text.count, text[index] == byte else { return false }
            index += 1
            return true
        }
        func number() -> Int64? {
            skipSpace()
            var value: Int64 = 0
            let start = index
            while index < text.count, text[index] >= 0x30, text[index] <= 0x39 {
                let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = shifted.addingReportingOverflow(Int64(text[index] - 0x30))
                guard !o1, !o2 else { return nil }
                value = sum
                index += 1
            }
            return index > start ? value : nil
        }
        guard expect(0x7B) else { return false }  // {
        if !expect(0x7D) {  // } (an empty object)
            repeat {
                guard expect(0x22), let bucket = number(), bucket <= 100_000, expect(0x22), expect(0x3A),  // "n":
                      let count = number() else { return false }
                parsed.append((Int(bucket), count))
            } while expect(0x2C)  // ,
            guard expect(0x7D) else { return false }
        }
        skipSpace()
        guard index == text.count else { return false }
        for (bucket, count) in parsed { add(bucket: bucket, count: count) }
        return true
    }

    mutating func add(bucketsJSON text: String) -> Bool {
        var text = text
        return text.withUTF8 { add(bucketsJSON: $0) }
    }
}
