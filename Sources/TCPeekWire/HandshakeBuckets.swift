/// A handshake-time histogram as `rollups_hour.handshake_buckets` holds it
/// (Schema/0005): bucket number, as text (JSON's only key type), to count,
/// the non-zero buckets in ascending order: `{"212":3,"213":10}`.
///
/// The store reads the column back with a hand parser of its own
/// (`HandshakeHistogram.add(bucketsJSON:)`), a fraction of this decoder's
/// cost over a month of hours; this type is the shape it must accept.
public struct HandshakeBuckets: Codable, Sendable, Equatable {
    /// Counts indexed by bucket number.
    public var counts: [Int64]

    public init(counts: [Int64]) { self.counts = counts }

    public func encode(to encoder: any Encoder) throws {
        var object = encoder.container(keyedBy: WireKey.self)
        for (bucket, count) in counts.enumerated() where count != 0 {
            try object.encode(count, forKey: WireKey(String(bucket)))
        }
    }

    /// The most buckets a histogram holds (60 s is bucket ~900).
    static let bucketLimit = 100_000

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: WireKey.self)
        counts = []
        for key in object.allKeys {
            guard let bucket = Int(key.stringValue), (0...Self.bucketLimit).contains(bucket) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: object,
                                                       debugDescription: "a bucket is a number from 0 to \(Self.bucketLimit)")
            }
            if bucket >= counts.count { counts += repeatElement(0, count: bucket + 1 - counts.count) }
            counts[bucket] += try object.decode(Int64.self, forKey: key)
        }
    }

    /// Equal when the same buckets hold the same non-zero counts.
    public static func == (a: Self, b: Self) -> Bool {
        let length = max(a.counts.count, b.counts.count)
        return (0..<length).allSatisfy { (a.counts.indices.contains($0) ? a.counts[$0] : 0) == (b.counts.indices.contains($0) ? b.counts[$0] : 0) }
    }
}
