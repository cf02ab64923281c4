/// The durations people type, `90s`, `15m`, `1h`, `2d`, `1w`: `tcpeek
/// query --since`, the socket's `WINDOW` and `QUERY`, `tcpeekstat -w`.
/// The one place for their syntax; `TimeExpression` adds points in time.
public enum DurationText {
    /// Seconds per unit.
    private static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]

    /// The longest duration accepted: 100 years of 366 days. Longer is a
    /// typo, and would overflow the integer microseconds it becomes.
    public static let maximumSeconds: Double = 100 * 366 * 86400

    /// `text` in seconds, or nil when it is not a duration (spaces around
    /// it are allowed).
    public static func seconds(_ text: some StringProtocol) -> Double? {
        let trimmed = text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()
        guard let unit = trimmed.last, let factor = units[unit],
              let amount = Double(String(trimmed.dropLast())), amount >= 0, amount.isFinite,
              amount * factor <= maximumSeconds else { return nil }
        return amount * factor
    }
}
