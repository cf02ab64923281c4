/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully determined by
/// its seed, so the same `--seed` always yields byte-identical captures and the
/// same expected counts, whatever the platform.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound. Lemire's multiply-shift; the tiny bias for bounds
    /// that are not powers of two is irrelevant for traffic synthesis and it
    /// keeps the number of draws per call fixed (one), which keeps streams
    /// stable when parameters change.
    mutating func below(_ bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform in the closed range, for small integer parameters.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(below(UInt64(range.count)))
    }
}
